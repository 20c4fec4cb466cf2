"""The example budget workbook (examples/llm-budget.xlsx) recalculated by a formula engine — the
`formulas` package (EUPL, test-only) — with llmcalc's functions registered through the same bridge
the server uses (llmcalc.excel.compute), so the numbers a budget owner sees in Excel are checked
here against the source articles."""
from __future__ import annotations

import importlib.util
import math
import re

import formulas
import numpy as np
import pytest
import schedula
from formulas.functions import wrap_func
from openpyxl import Workbook, load_workbook

from llmcalc.excel import compute
from llmcalc.registry import REGISTRY, by_sheet_name

from excel_fixtures import ROOT

WORKBOOK = ROOT / "examples" / "llm-budget.xlsx"
ERRORS = {"#VALUE!": formulas.VALUE, "#NUM!": formulas.NUM, "#N/A": formulas.NA, "#NAME?": formulas.NAME}


def _cell(v):
    if isinstance(v, np.ndarray):
        if v.size == 1:
            return _cell(v.item())
        return [[_cell(x) for x in row] for row in v.tolist()]
    if v is schedula.EMPTY:                     # an empty cell: an omitted argument
        return None
    return v


def _spreadsheet_function(name):
    def f(*args):
        try:
            value = compute.run_call(name, [_cell(a) for a in args])
        except compute.CallFailure as failure:
            return np.asarray([[ERRORS[failure.code]]], object)
        return np.asarray(value, object) if isinstance(value, list) else value
    f.__name__ = name
    return f


@pytest.fixture
def engine(monkeypatch):
    """The formulas engine with every registry function registered under its name and under the
    `_xldudf_` prefix Excel writes for add-in functions when it saves a workbook."""
    table = formulas.get_functions()
    for fn in REGISTRY.values():
        wrapped = wrap_func(_spreadsheet_function(fn.sheet_name))
        monkeypatch.setitem(table, fn.sheet_name, wrapped)
        monkeypatch.setitem(table, "_XLDUDF_" + fn.sheet_name, wrapped)

    def calculate(path):
        solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
        out = {}
        for key, value in solution.items():
            sheet, cell = key.split("]", 1)[1].rsplit("!", 1)
            v = getattr(value, "value", value)
            out[(sheet.strip("'"), cell)] = v[0][0] if isinstance(v, np.ndarray) and v.size == 1 else v
        return out
    return calculate


def test_committed_workbook_is_what_the_script_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_budget_workbook", ROOT / "examples" / "make_budget_workbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = load_workbook(module.build(tmp_path / "fresh.xlsx"))
    committed = load_workbook(WORKBOOK)
    assert fresh.sheetnames == committed.sheetnames == ["Training budget", "Serving budget", "Training cluster",
                                                       "Self-hosting vs API"]
    for name in fresh.sheetnames:
        a = [[c.value for c in row] for row in fresh[name].iter_rows()]
        b = [[c.value for c in row] for row in committed[name].iter_rows()]
        assert a == b, f"{name}: run examples/make_budget_workbook.py and commit llm-budget.xlsx"


def test_every_formula_calls_a_registered_function_or_plain_arithmetic():
    wb = load_workbook(WORKBOOK)
    names = {fn.sheet_name for fn in REGISTRY.values()}
    used = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("="):
                    for call in re.findall(r"([A-Z_][A-Z0-9_.]*)\(", c.value):
                        assert call in names, f"{ws.title}!{c.coordinate}: {call}"
                        used.add(call)
    assert {"LLM_TRAIN_DAYS", "LLM_TRAIN_COST", "LLM_COST_PER_1K_TOKENS", "LLM_SERVING_MEMORY_GB"} <= used


def test_training_budget_recalculates_to_article_3(engine):
    v = engine(WORKBOOK)
    t = lambda cell: v[("TRAINING BUDGET", cell)]  # noqa: E731  (formulas upper-cases sheet names)
    assert t("B11") == pytest.approx(4.2e23)                       # 8 × 175e9 × 300e9 FLOP
    assert t("B12") == pytest.approx(33.81, abs=0.005)              # article 3: ≈34 days
    assert t("B13") == pytest.approx(830_959, rel=1e-5)            # GPU-hours = 33.81 d × 24 × 1024
    assert t("B13") == pytest.approx(t("B12") * 24 * 1024, rel=1e-9)
    assert t("B14") == pytest.approx(t("B13") * 2.21, rel=1e-9)    # cost = GPU-hours × $2.21
    assert t("B15") == pytest.approx(t("B14"), rel=1e-12)          # the sheet's own cross-check
    assert t("B16") == 1155                                        # article 3: ≈1154, whole GPUs
    assert t("B17") == pytest.approx(3500)                         # article 3: 3500 GB
    assert t("B18") == 44                                          # article 3: 44 GPUs of 80 GB
    days = [t(f"B{r}") for r in range(22, 27)]
    assert days[2] == pytest.approx(33.81, abs=0.005)
    for n, d in zip((256, 512, 1024, 2048, 4096), days):
        assert d == pytest.approx(33.8118 * 1024 / n, rel=1e-5)   # time ∝ 1 / GPUs
    assert t("C24") == pytest.approx(days[2] / 7)


def test_serving_budget_recalculates_to_article_2(engine):
    v = engine(WORKBOOK)
    s = lambda cell: v[("SERVING BUDGET", cell)]  # noqa: E731
    assert s("B17") == 327680                                      # article 2: “320 KB” (KiB) per token
    assert s("B18") == pytest.approx(1.342, abs=0.001)             # article 2: ≈1.3 GB for 4096 tokens
    assert s("B20") == pytest.approx(0.00042, abs=0.00002)         # article 2: $0.00042 per 1K prompt
    assert s("B21") == pytest.approx(0.00825, abs=0.0001)          # article 2: batch 8
    assert s("B22") == pytest.approx(18.6, abs=0.05)               # article 2: 18.6 tokens/s
    assert s("B23") == pytest.approx(1e9 / 1000 * s("B20") + 2e8 / 1000 * s("B21"), rel=1e-12)
    assert [s(f"B{r}") for r in (27, 28, 29)] == [pytest.approx(0.066, abs=0.0005),   # article 2
                                                  pytest.approx(0.00825, abs=0.0001),
                                                  pytest.approx(0.00206, abs=0.00002)]
    memory = by_sheet_name("LLM_SERVING_MEMORY_GB").sheet_value("llama-2-70b", 8, 4096, "fp16", "fp16", 2)
    assert s("B19") == pytest.approx(memory, rel=1e-12)


def test_training_cluster_recalculates_to_the_cluster_model(engine):
    """The cluster sheet: for each GPU count, the best layout's text feeds the step-time and MFU cells,
    and the days from the step time agree with LLM_TRAIN_DAYS(…, "auto")."""
    v = engine(WORKBOOK)
    c = lambda cell: v[("TRAINING CLUSTER", cell)]  # noqa: E731
    model, gpu, seq, batch, tokens, price = "llama-3.1-70b", "H100", 8192, 512, 15e12, 3.99
    days = []
    for r, n in zip(range(11, 16), (256, 512, 1024, 2048, 4096)):
        plan = by_sheet_name("LLM_TRAIN_PLAN").sheet_value(model, gpu, n, seq, batch)
        assert c(f"B{r}") == plan and "dp=" in plan
        step = by_sheet_name("LLM_TRAIN_ITERATION_TIME").sheet_value(model, gpu, plan, seq, batch)
        assert c(f"C{r}") == pytest.approx(step, rel=1e-12)
        assert c(f"D{r}") == pytest.approx(by_sheet_name("LLM_TRAIN_MFU").sheet_value(model, gpu, plan, seq, batch), rel=1e-12)
        assert c(f"E{r}") == pytest.approx(tokens / (seq * batch) * step / 86400, rel=1e-12)
        assert c(f"F{r}") == pytest.approx(c(f"E{r}") * 24 * n * price, rel=1e-12)
        assert c(f"G{r}") == pytest.approx(c(f"E{r}"), rel=1e-6)   # the same model through mfu="auto"
        days.append(c(f"E{r}"))
    assert all(a > b for a, b in zip(days, days[1:]))              # more GPUs, fewer days
    assert 0.25 < c("D13") < 0.75                                   # a physical MFU for 1,024 H100s


def test_excel_saved_names_errors_and_arithmetic(engine, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws["A1"] = '=_xldudf_LLM_TRAIN_DAYS(175E+9,300E+9,1024,"A100")'   # as Excel saves add-in calls
    ws["A2"] = '=LLM_TRAIN_DAYS(175E+9,300E+9,-1,"A100")'             # negative count
    ws["A3"] = '=LLM_TRAIN_DAYS(175E+9,300E+9,1024,"A1000")'          # unknown GPU
    ws["A4"] = '=LLM_COMM_SECONDS(1E+30,1E-300)'                       # not a finite number
    ws["A5"] = "=A1*24"
    ws["A6"] = '=LLM_TRAIN_COST(175E+9,300E+9,"A100","$2.21/h")'       # text with units
    path = tmp_path / "t.xlsx"
    wb.save(path)
    v = engine(path)
    assert v[("SHEET", "A1")] == pytest.approx(33.81, abs=0.005)                     # article 3
    assert str(v[("SHEET", "A2")]) == "#VALUE!" and str(v[("SHEET", "A3")]) == "#VALUE!"
    assert str(v[("SHEET", "A4")]) == "#NUM!"
    assert v[("SHEET", "A5")] == pytest.approx(v[("SHEET", "A1")] * 24)
    assert v[("SHEET", "A6")] == pytest.approx(by_sheet_name("LLM_TRAIN_COST").sheet_value(175e9, 300e9, "A100", 2.21))


def test_self_hosting_vs_api_sheet_recalculates(engine):
    """The issue's budget question in a sheet: 20 requests/s of 1,500/300 tokens within 1 s / 40 ms on H100s in FP8,
    against GPT-4o; each cell equals the Python function it calls."""
    import llmcalc
    v = engine(WORKBOOK)
    f = lambda cell: v[("SELF-HOSTING VS API", cell)]  # noqa: E731
    kw = dict(ttft_slo="1 s", tpot_slo="40 ms", gpus=4, dtype="fp8")
    assert f("B17") == pytest.approx(llmcalc.serving_capacity("llama-3.1-70b", "H100", 1500, 300, **kw).magnitude)
    assert f("B18") == 12                                           # 3 replicas of 4 × H100
    assert f("B19") == pytest.approx(12 * 3.99 * 730)               # $/month
    assert f("B21") == pytest.approx(0.00675)                       # GPT-4o: 1,500 × $2.50/M + 300 × $10/M
    assert f("B22") == pytest.approx(0.00675 * 20 * 730 * 3600)
    assert f("B23") > 1                                             # the API costs more at this traffic
    assert f("B24") == pytest.approx(4 * 3.99 * 24 / 0.00675)       # requests/day
    # GPUs against traffic (1, 5, 20, 50 requests/s): whole replicas of 4 GPUs at the capacity in B17
    assert [f(f"B{r}") for r in range(28, 32)] == [4 * math.ceil(rate / f("B17")) for rate in (1, 5, 20, 50)]
