"""Clients beyond the Office add-in: the classic xlwings UDF module (its plain-Python behaviour;
xlwings runs UDFs on Windows only) and the Google Sheets Apps Script file, run in Node's vm with
stand-ins for UrlFetchApp and PropertiesService against the real server over HTTP."""
from __future__ import annotations

import ast
import inspect
import json

import pytest

from llmcalc.errors import ArgumentError
from llmcalc.excel import server, xlwings_udfs
from llmcalc.registry import REGISTRY, by_sheet_name

from excel_fixtures import ROOT, free_port, live_server, run_node

DAYS = by_sheet_name("LLM_TRAIN_DAYS").sheet_value


# ------------------------------------------------------------------ xlwings


def test_xlwings_module_has_every_registry_function_with_its_signature():
    assert xlwings_udfs.__all__ == sorted(fn.sheet_name for fn in REGISTRY.values())
    for fn in REGISTRY.values():
        udf = getattr(xlwings_udfs, fn.sheet_name)
        assert udf.__name__ == fn.sheet_name
        params = inspect.signature(udf).parameters          # what xlwings reads to write the VBA wrapper
        assert list(params) == [a.name for a in fn.args]
        assert [p.default is None for p in params.values()] == [a.optional for a in fn.args]
        assert udf.__doc__.startswith(fn.summary)


def test_xlwings_functions_compute_like_the_registry():
    x = xlwings_udfs
    assert x.LLM_TRAIN_DAYS(175e9, 300e9, 1024, "A100") == pytest.approx(33.81, abs=0.005)   # article 3
    assert x.LLM_TRAIN_DAYS(175e9, 300e9, 1024, "A100", None, None) == DAYS(175e9, 300e9, 1024, "A100")
    assert x.LLM_TRAIN_GPUS(175e9, 300e9, 30, "A100") == 1155                                  # article 3
    # xlwings reads range arguments as 2-D lists (ndim=2): a column in, a column out
    col = x.LLM_TRAIN_DAYS([[175e9]], [[300e9]], [[256], [512], [1024]], "A100")
    assert col == [[pytest.approx(DAYS(175e9, 300e9, n, "A100"))] for n in (256, 512, 1024)]
    assert x.LLM_TRAIN_DAYS(175e9, 300e9, [512, 1024], "A100") == [[pytest.approx(67.62, abs=0.01)],
                                                                   [pytest.approx(33.81, abs=0.005)]]
    assert x.LLM_GPU("A100") == by_sheet_name("LLM_GPU").sheet_value("A100")
    with pytest.raises(ArgumentError, match=r"argument 'gpus': must be > 0"):
        x.LLM_TRAIN_DAYS(175e9, 300e9, -1, "A100")
    with pytest.raises(ArgumentError, match=r"argument 'gpu': unknown GPU"):
        x.LLM_TRAIN_DAYS(175e9, 300e9, 1024, "A1000")


def test_no_xlwings_pro_code_anywhere():
    """Only the BSD core of xlwings: no import of, or attribute path into, xlwings.pro,
    xlwings.server or the xlwings-server package in any of our Python files."""
    forbidden = ("xlwings.pro", "xlwings.server", "xlwings_server")
    files = [p for p in (ROOT / "excel").rglob("*.py") if "node_modules" not in p.parts]
    files += [ROOT / "examples" / "make_budget_workbook.py"]
    assert ROOT / "excel" / "xlwings_udfs.py" in files
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Attribute) and node.attr in ("pro", "server"):
                names = [f"{ast.unparse(node.value)}.{node.attr}".replace("xw.", "xlwings.")]
            for name in names:
                assert not name.startswith(forbidden), f"{path}: {name}"


# ------------------------------------------------------------------ Google Sheets Apps Script


def run_script(source, calls, properties=None):
    job = {"source": source, "calls": [list(c) for c in calls], "properties": properties or {}}
    return json.loads(run_node("run_apps_script.js", input_text=json.dumps(job)))


@pytest.fixture(scope="module")
def sheet_server():
    with live_server(server.create_app()) as srv:
        yield srv


def test_apps_script_defines_every_function_with_autocomplete(sheet_server):
    import httpx
    source = httpx.get(f"{sheet_server.url}/clients/llmcalc.gs", trust_env=False).text
    assert f'var LLMCALC_URL = "{sheet_server.url}";' in source
    assert source.count("@customfunction") == len(REGISTRY)
    out = run_script(source, [])
    assert sorted(out["functions"]) == sorted(fn.sheet_name for fn in REGISTRY.values())


def test_apps_script_computes_through_the_server(sheet_server):
    import httpx
    source = httpx.get(f"{sheet_server.url}/clients/llmcalc.gs", trust_env=False).text
    out = run_script(source, [
        ("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A100"),                  # article 3: 33.81 days
        ("LLM_TRAIN_DAYS", 175e9, 300e9, [[256], [512], [1024]], "A100"),  # a range spills
        ("LLM_TRAIN_DAYS", 175e9, 300e9, -1, "A100"),
        ("LLM_TRAIN_COST", "175B", "300B", "A100", "$2.21/h", None, None),
        ("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A1000"),
    ])
    r = out["results"]
    assert r[0]["value"] == pytest.approx(33.81, abs=0.005)
    assert [row[0] for row in r[1]["value"]] == [pytest.approx(DAYS(175e9, 300e9, n, "A100")) for n in (256, 512, 1024)]
    assert r[2]["error"] == "#VALUE! argument 'gpus': must be > 0, got -1"
    assert r[3]["value"] == pytest.approx(by_sheet_name("LLM_TRAIN_COST").sheet_value(175e9, 300e9, "A100", 2.21))
    assert r[4]["error"].startswith("#VALUE! argument 'gpu': unknown GPU 'A1000'")
    assert all(f["url"] == f"{sheet_server.url}/api/v1/batch" and f["method"] == "post" for f in out["fetches"])


def test_apps_script_sends_the_token_and_reports_a_missing_one():
    from llmcalc.excel.clients import apps_script
    with live_server(server.create_app(token="sheet-token")) as srv:
        source = apps_script(srv.url)
        ok = run_script(source, [("LLM_TRAIN_GPUS", 175e9, 300e9, 30, "A100")], {"LLMCALC_TOKEN": "sheet-token"})
        missing = run_script(source, [("LLM_TRAIN_GPUS", 175e9, 300e9, 30, "A100")])
    assert ok["results"][0]["value"] == 1155                                 # article 3
    assert "Authorization" in ok["fetches"][0]["headers"]
    assert missing["results"][0]["error"].startswith("#N/A llmcalc server answered HTTP 401")


def test_apps_script_reports_an_unreachable_server():
    from llmcalc.excel.clients import apps_script
    url = f"http://127.0.0.1:{free_port()}"                                  # nothing listens here
    out = run_script(apps_script(url), [("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A100")])
    assert out["results"][0]["error"].startswith(f"#N/A llmcalc server unreachable at {url}")
