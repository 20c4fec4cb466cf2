"""Shared test settings."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# The property and fuzz tests draw the same examples on every run, so a red build is a regression and
# not a new draw; `pytest --hypothesis-profile=explore` draws new ones (a failure prints the seed that
# replays it). Registered here, an initial conftest, before the hypothesis plugin reads its option.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


@pytest.fixture(scope="session")
def ip():
    """One real IPython InteractiveShell for the session, with ``%load_ext llmcalc`` done
    (IPython's test shell can only be started once per process)."""
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import get_ipython, start_ipython
    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "llmcalc")
    return shell
