"""Shared test settings."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ip():
    """One real IPython InteractiveShell for the session, with ``%load_ext llmcalc`` done
    (IPython's test shell can only be started once per process)."""
    pytest.importorskip("IPython")
    from IPython.testing.globalipapp import get_ipython, start_ipython
    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "llmcalc")
    return shell
