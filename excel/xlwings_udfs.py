"""Classic xlwings UDFs for Windows desktop Excel, generated from the llmcalc registry.

Uses only the BSD-licensed core of xlwings (``xw.func``/``xw.arg``, the COM UDF server); nothing
from ``xlwings.pro`` or ``xlwings.server``. Every registry function appears here under its
spreadsheet name (``LLM_TRAIN_DAYS``) with the registry's argument names, help and defaults, so
xlwings' "Import Functions" writes the same ``=LLM_TRAIN_DAYS(params, tokens, gpus, gpu, [mfu],
[recompute])`` Excel shows for the add-in. Setup (docs/spreadsheets.md):

    pip install "llmcalc-costs[xlwings]"   # on Windows, with Excel
    xlwings addin install
    # Excel: File > Options > Trust Center > Macro Settings > Trust access to the VBA project object model
    # xlwings ribbon: UDF Modules = llmcalc.excel.xlwings_udfs, then "Import Functions"

Ranges: arguments that accept ranges are read as 2-D (``ndim=2``) so a column of GPU counts gives a
column of days that spills on dynamic-array Excel. Errors: xlwings shows a Python exception's text
in the cell, e.g. ``argument 'gpus': must be > 0, got -1``.

xlwings runs UDFs on Windows only; elsewhere its decorators do nothing and this module is plain
Python. tests/test_xlwings.py runs it through xlwings' own Windows code path with only pywin32 and
the COM engine stood in: the real decorators, the VBA declarations "Import Functions" writes
(``Function LLM_TRAIN_DAYS(params, tokens, gpus, gpu, Optional mfu, Optional recompute)``) and the
real ``call_udf`` for every function, range and error.
"""
from __future__ import annotations

import inspect

import numpy as np

from llmcalc.registry import REGISTRY, Function

from .compute import single_cell
from .metadata import arg_description, function_description, is_matrix_arg

try:  # the BSD core only; never xlwings.pro / xlwings.server
    import xlwings as xw
except ImportError:  # pragma: no cover - exercised where xlwings is not installed
    xw = None


def _to_excel(value):
    if isinstance(value, np.ndarray):
        if value.ndim == 1:
            return [[v] for v in value.tolist()]  # a 1-D result spills down
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def call(fn: Function, args: tuple):
    """Compute ``fn`` for one cell, exactly as the registry does (errors name the argument)."""
    return _to_excel(fn.sheet_value(*(single_cell(a) for a in args)))


def _make_udf(fn: Function):
    def udf(*args):
        return call(fn, args)

    udf.__name__ = udf.__qualname__ = fn.sheet_name
    udf.__module__ = __name__
    udf.__doc__ = function_description(fn)
    # xlwings reads the argument names and defaults with inspect.signature.
    udf.__signature__ = inspect.Signature([
        inspect.Parameter(a.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=None if a.optional else inspect.Parameter.empty)
        for a in fn.args])
    if xw is not None:
        for a in fn.args:
            options = {"doc": arg_description(a)}
            if is_matrix_arg(a):
                options["ndim"] = 2
            udf = xw.arg(a.name, **options)(udf)
        udf = xw.func(category="llmcalc")(udf)
    return udf


UDFS = {fn.sheet_name: _make_udf(fn) for fn in REGISTRY.values()}
globals().update(UDFS)
__all__ = sorted(UDFS)
