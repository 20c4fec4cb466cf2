"""Run llmcalc's classic xlwings UDF module through xlwings' own Windows code path, on Linux.

xlwings' UDF machinery (``xlwings.udfs``: the ``@xw.func``/``@xw.arg`` decorators that record each
function's arguments, ``generate_vba_wrapper`` that writes the VBA module "Import Functions" puts into
the workbook, and ``call_udf`` that the COM server runs for every cell) is plain Python, but it
imports pywin32 and the COM engine at the top. Here those Windows-only pieces are replaced by small
stand-ins, and everything else is xlwings' real code (BSD core only; never xlwings.pro):

* ``pythoncom``, ``pywintypes``, ``win32com.client``: names only (nothing COM is called);
* ``xlwings._xlwindows``: a Range wrapper for ``caller`` and an "excel" engine whose value cleaning
  does what the COM engine does to plain cell values (empty -> None, numbers through ``numbers=``);
* ``xlwings.com_server.loop``: unused by synchronous UDFs.

Run in a subprocess (it changes xlwings' globals): ``python tests/xlwings_linux.py < cases.json``
prints JSON with the generated VBA, each function's recorded metadata and the value (or the
error text) of each case, where a case is ``[sheet_name, [args as VBA passes them]]`` and the
string ``"<missing>"`` stands for an omitted optional argument.
"""
from __future__ import annotations

import io
import json
import sys
import types

MISSING = -2147352572  # what VBA passes for an omitted Optional argument (DISP_E_PARAMNOTFOUND)
MODULE = "llmcalc.excel.xlwings_udfs"


def _stand_ins():
    for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["pythoncom"].CoInitialize = lambda: None
    sys.modules["pywintypes"].com_error = type("com_error", (Exception,), {})
    sys.modules["win32com.client"].Dispatch = lambda *args: None
    sys.modules["win32com"].client = sys.modules["win32com.client"]

    import xlwings

    class ExcelEngine:  # the value handling of xlwings._xlwindows.Engine, for plain (non-date) values
        name, type = "excel", "desktop"

        @staticmethod
        def prepare_xl_data_element(x, date_format):
            import numpy as np
            if x is None or (isinstance(x, float) and x != x):
                return ""
            return float(x) if isinstance(x, np.number) else x

        @staticmethod
        def clean_value_data(data, datetime_builder, empty_as, number_builder, err_to_str):
            def clean(v):
                if v in ("", None):
                    return empty_as
                return number_builder(v) if number_builder is not None and isinstance(v, float) else v
            return [[clean(c) for c in row] for row in data]

    windows = types.ModuleType("xlwings._xlwindows")
    windows.Range = lambda xl=None: types.SimpleNamespace(xl=xl)
    windows.is_range_instance = lambda x: False  # cases pass values, as for constants and arrays
    windows.engine = ExcelEngine()
    sys.modules["xlwings._xlwindows"] = windows
    xlwings._xlwindows = windows
    xlwings.engines.add(xlwings.main.Engine(impl=windows.engine))
    com_server = types.ModuleType("xlwings.com_server")
    com_server.loop = None
    sys.modules["xlwings.com_server"] = com_server

    from xlwings import udfs
    # What `import xlwings` does on Windows: the decorators are xlwings.udfs' (they record __xlfunc__)
    xlwings.func, xlwings.arg, xlwings.ret, xlwings.sub = udfs.xlfunc, udfs.xlarg, udfs.xlret, udfs.xlsub
    return udfs


def run(cases: list) -> dict:
    udfs = _stand_ins()
    module = udfs.get_udf_module(MODULE, None)  # import as call_udf does
    vba = io.StringIO()
    udfs.generate_vba_wrapper(MODULE, module, vba, types.SimpleNamespace(Name="llm-budget.xlsm"))
    meta = {}
    for name in dir(module):
        x = getattr(getattr(module, name), "__xlfunc__", None)
        if x:
            meta[x["name"]] = {"category": x["category"], "doc": x["ret"]["doc"], "sub": x["sub"],
                               "args": [{"name": a["name"], "optional": "optional" in a, "doc": a["doc"],
                                         "options": {k: v for k, v in a["options"].items() if k == "ndim"}}
                                        for a in x["args"]]}
    results = []
    for sheet_name, args in cases:
        args = tuple(MISSING if a == "<missing>" else (tuple(map(tuple, a)) if isinstance(a, list) else a)
                     for a in args)
        try:
            results.append({"value": udfs.call_udf(MODULE, sheet_name, args, None, None)})
        except Exception as exc:  # noqa: BLE001 - Excel shows this text in the cell (Err.Description)
            results.append({"error": str(exc), "type": type(exc).__name__})
    return {"vba": vba.getvalue(), "functions": meta, "results": results}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin)), default=str))
