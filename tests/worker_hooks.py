"""Initializers for the server's worker processes, for the tests (kept free of heavy imports:
a fresh worker process imports this module as it starts)."""
from __future__ import annotations

import time


def slow_calls(seconds: float, function: str = "LLM_PARAMS", when=None) -> None:
    """``create_app(initializer=functools.partial(slow_calls, …))``: in each worker process,
    ``function`` sleeps ``seconds`` before computing, for every call or only when its first
    argument is ``when``; so a test can make a call run past the time limit."""
    from llmcalc.registry import by_sheet_name

    fn = by_sheet_name(function)
    original = fn.sheet_value

    def slow(*args, **kwargs):
        first = args[0] if args else next(iter(kwargs.values()), None)
        if when is None or first in (when, str(when)):
            time.sleep(seconds)
        return original(*args, **kwargs)
    fn.sheet_value = slow
