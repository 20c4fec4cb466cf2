"""The classic xlwings UDF module (excel/xlwings_udfs.py) through xlwings' own code path: its real
decorators record every function, its real ``generate_vba_wrapper`` writes the VBA declarations
Windows desktop Excel imports ("Import Functions"), and its real ``call_udf`` (what the COM server
runs for a cell) converts the arguments as VBA passes them and computes each function. Only pywin32
and the COM engine are stood in (tests/xlwings_linux.py). What this cannot show: Excel itself
importing the VBA module and calling the COM server — see the checklist in docs/spreadsheets.md.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmcalc.excel.metadata import function_description, is_matrix_arg
from llmcalc.registry import REGISTRY, by_sheet_name

from excel_fixtures import sample_args

pytest.importorskip("xlwings", reason="xlwings is not installed (scripts/test.sh installs llmcalc[xlwings])")

HARNESS = Path(__file__).with_name("xlwings_linux.py")
# MS-VBAL 3.3.5.2: identifiers VBA reserves; an argument with one of these names would not compile
VBA_RESERVED = set("""Abs AddressOf And Any Array As Attribute Boolean ByRef Byte ByVal Call Case CBool CByte
CCur CDate CDbl CDec CDecimal CInt CLng CLngLng CLngPtr Close Const CSng CStr Currency CVar CVErr Date Debug
Decimal Declare DefBool DefByte DefCur DefDate DefDbl DefDec DefInt DefLng DefLngLng DefLngPtr DefObj DefSng
DefStr DefVar Dim DoEvents Do Double Each Else ElseIf Empty End EndIf Enum Eqv Erase Error Event Exit False Fix
For Friend Function Get Global GoSub GoTo If Imp Implements In Input InputB Int Integer Is LBound Len LenB Let
Like LINEINPUT Lock Long LongLong LongPtr Loop LSet Me Mod New Next Not Nothing Null Object On Open Option
Optional Or ParamArray Preserve Print Private PSet Public Put RaiseEvent ReDim Rem Resume Return RSet Scale
Seek Select Set Sgn Shared Single Spc Static Stop String Sub Tab Then To True Type TypeOf UBound Unlock Until
Variant VB_Base VB_Control VB_Creatable VB_Customizable VB_Description VB_Exposed VB_Ext_KEY VB_GlobalNameSpace
VB_HelpID VB_Invoke_Func VB_Invoke_Property VB_Invoke_PropertyPut VB_Invoke_PropertyPutRef VB_MemberFlags
VB_Name VB_PredeclaredId VB_ProcData VB_TemplateDerived VB_UserMemId VB_VarDescription VB_VarHelpID
VB_VarMemberFlags VB_VarProcData VB_VarUserMemId Wend While With WithEvents Write Xor""".lower().split())


def _vba_args(fn, args) -> list:
    """A sample call as VBA hands it to the COM server: every declared argument, omitted ones missing."""
    given = list(args) + [None] * (len(fn.args) - len(args))
    return ["<missing>" if v is None else v for v in given]


def _expected(fn, args):
    """What the COM server hands back to VBA: always rows of values (a single cell is [[x]])."""
    v = fn.sheet_value(*args)
    if isinstance(v, np.ndarray):
        v = v.tolist()
        return [[x] for x in v] if v and not isinstance(v[0], list) else v
    return [[v.item() if isinstance(v, np.generic) else v]]


SAMPLE_CASES = [(fn, sample_args(fn)) for fn in REGISTRY.values()]
EXTRA_CASES = [
    # article 3: GPT-3 175B, 300B tokens on 1024 A100s at 45% → ≈ 34 days (33.81)
    ("LLM_TRAIN_DAYS", [175e9, 300e9, 1024.0, "A100", "<missing>", "<missing>"]),
    # a column of GPU counts (a range or {256;512;1024}) spills a column of days
    ("LLM_TRAIN_DAYS", [175e9, 300e9, [[256.0], [512.0], [1024.0]], "A100", "<missing>", "<missing>"]),
    # a row spills a row
    ("LLM_TRAIN_DAYS", [175e9, 300e9, [[512.0, 1024.0]], "A100", "<missing>", "<missing>"]),
    # optional arguments given, as VBA passes them (Double, Boolean); text with units
    ("LLM_TRAIN_DAYS", [175e9, "300B tokens", 1024.0, "A100", 0.5, True]),
    ("LLM_TRAIN_GPUS", [175e9, 300e9, 30.0, "A100", "<missing>", "<missing>"]),
    ("LLM_COST_PER_1K_TOKENS", [70e9, "A100-80GB", "prompt", 1.0, 512.0, 2.0, "$2.21/h", "fp16", "<missing>",
                                "200 TFLOP/s", "1.3 TB/s", "<missing>"]),
    # bad input: the exception text is what the cell shows (the VBA wrapper returns Err.Description)
    ("LLM_TRAIN_DAYS", [175e9, 300e9, -1.0, "A100", "<missing>", "<missing>"]),
    ("LLM_TRAIN_DAYS", [175e9, 300e9, 1024.0, "A10G", "<missing>", "<missing>"]),
]


@pytest.fixture(scope="module")
def xl():
    cases = [[fn.sheet_name, _vba_args(fn, args)] for fn, args in SAMPLE_CASES] + EXTRA_CASES
    out = subprocess.run([sys.executable, str(HARNESS)], input=json.dumps(cases), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout)
    data["samples"] = data["results"][:len(SAMPLE_CASES)]
    data["extra"] = data["results"][len(SAMPLE_CASES):]
    return data


def _declarations(vba: str) -> dict:
    found = re.findall(r"^(Function|Sub) (\w+)\((.*)\)$", vba, flags=re.M)
    out = {}
    for kind, name, params in found:
        assert kind == "Function", f"{name} would be a macro, not a worksheet function"
        assert name not in out, f"{name} declared twice"
        out[name] = [p.strip() for p in params.split(",")] if params else []
    return out


def test_every_registry_function_is_declared_with_its_arguments(xl):
    declared = _declarations(xl["vba"])
    assert sorted(declared) == sorted(fn.sheet_name for fn in REGISTRY.values())
    for fn in REGISTRY.values():
        expected = [("Optional " if a.optional else "") + a.name for a in fn.args]
        assert declared[fn.sheet_name] == expected, fn.sheet_name
        # optional arguments all come after the required ones (VBA refuses anything else)
        flags = [p.startswith("Optional ") for p in declared[fn.sheet_name]]
        assert flags == sorted(flags)


def test_declarations_compile_as_vba(xl):
    for line in xl["vba"].splitlines():
        assert len(line) <= 1023, line[:80]                    # VBA's logical line limit
    for name, params in _declarations(xl["vba"]).items():
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,254}", name)
        assert not re.fullmatch(r"[A-Za-z]{1,3}[0-9]{1,7}", name), f"{name} reads as a cell reference"
        for p in params:
            arg = p.removeprefix("Optional ")
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", arg) and arg.lower() not in VBA_RESERVED, (name, arg)
    # each wrapper calls this module's function of the same name and shows errors as text
    fn = "LLM_TRAIN_DAYS"
    assert (f'{fn} = XLPy.CallUDF("llmcalc.excel.xlwings_udfs", "{fn}", Array(params, tokens, gpus, gpu, mfu, '
            'recompute), ThisWorkbook, Application.Caller)') in xl["vba"]
    assert f"    {fn} = Err.Description" in xl["vba"]


def test_recorded_metadata_ranges_and_descriptions(xl):
    """What Import Functions hands to Application.MacroOptions (the function wizard), and how
    call_udf converts each argument (ndim=2: ranges and arrays as lists of rows)."""
    for fn in REGISTRY.values():
        m = xl["functions"][fn.sheet_name]
        assert m["category"] == "llmcalc" and not m["sub"]
        assert m["doc"] == function_description(fn) and len(m["doc"]) <= 255   # MacroOptions keeps 255
        for a, got in zip(fn.args, m["args"], strict=True):
            assert got["name"] == a.name and got["optional"] == a.optional
            assert got["options"] == ({"ndim": 2} if is_matrix_arg(a) else {}), (fn.sheet_name, a.name)
            assert 0 < len(got["doc"]) <= 255 and a.help[:40] in got["doc"]


@pytest.mark.parametrize("i", range(len(SAMPLE_CASES)), ids=[fn.sheet_name for fn, _ in SAMPLE_CASES])
def test_every_function_computes_through_call_udf(xl, i):
    fn, args = SAMPLE_CASES[i]
    got = xl["samples"][i]
    assert "error" not in got, got
    expected = _expected(fn, args)
    if isinstance(expected[0][0], str):
        assert got["value"] == expected
    else:
        assert np.asarray(got["value"], dtype=float) == pytest.approx(np.asarray(expected, dtype=float), rel=1e-12)


def test_article_values_arrays_optional_arguments_and_errors(xl):
    days, column, row, given, gpus, cost, negative, a10g = xl["extra"]
    assert days["value"][0][0] == pytest.approx(33.81, abs=0.005)                       # article 3
    assert [r[0] for r in column["value"]] == pytest.approx([135.247, 67.624, 33.812], rel=1e-4)
    assert len(row["value"]) == 1 and row["value"][0] == pytest.approx([67.624, 33.812], rel=1e-4)
    days_at_half = by_sheet_name("LLM_TRAIN_DAYS").sheet_value(175e9, 300e9, 1024, "A100", 0.5, True)
    assert given["value"] == [[pytest.approx(days_at_half, rel=1e-12)]]
    assert gpus["value"] == [[1155]] and isinstance(gpus["value"][0][0], int)          # article 3: ≈1154
    assert cost["value"][0][0] == pytest.approx(0.00042972, rel=1e-4)                   # article 2: $0.00042/1K
    assert negative["error"] == "argument 'gpus': must be > 0, got -1" and negative["type"] == "ArgumentError"
    assert a10g["error"].startswith("argument 'gpu': A10G has no published dense tensor-core peak")
