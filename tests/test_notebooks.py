"""Every example notebook, executed top to bottom in a real Jupyter kernel (nbclient), gives the
source articles' numbers; the copies saved in examples/ carry the same outputs.

  A1 = ../shared/seeds/001 万万没想到,ChatGPT参数只有200亿?            -> examples/01-chatgpt-scaling.ipynb
  A2 = ../shared/seeds/002 为什么多数情况下GPT-3.5比LLaMA 2更便宜?      -> examples/02-llama2-vs-gpt35-cost.ipynb
  A3 = ../shared/seeds/003 大模型训练相关参数估算                       -> examples/03-training-estimates.ipynb
"""
import ast
import copy
import functools
import re
import sys
from pathlib import Path

import pytest

import llmcalc

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.slow

# cell id -> (expected, unit printed, relative tolerance, what the article says)
EXPECTED = {
    "01-chatgpt-scaling.ipynb": {
        "chinchilla-20": (125e9, "parameter", 1e-3, "A1: 2.5T tokens / 20 ≈ 120B"),
        "kaplan-12-5": (200e9, "parameter", 1e-3, "A1: 2.5T / 12.5 ≈ 190–200B"),
        "sizes": ([100e9, 125e9, 400e9], "parameter", 1e-3, "A1: LLaMA-2 2T, ChatGPT 2.5T, Mistral 8T tokens / 20"),
        "tokens-20b": (400e9, "token", 1e-3, "A1/Hoffmann: 20 tokens per parameter"),
        # A3's 33.81 days for 8·N·D with N·D = 175e9 × 300e9 on 1024 A100s, scaled to each N × 2.5T at 6·N·D
        "train-candidates-days": ([33.8118 * r * 0.75 for r in (20e9 * 2.5e12 / 5.25e22, 125e9 * 2.5e12 / 5.25e22,
                                                               200e9 * 2.5e12 / 5.25e22)], None, 5e-3,
                                  "A3's 34 days for 175B×300B, scaled by N·D and 6/8 FLOPs"),
    },
    "02-llama2-vs-gpt35-cost.ipynb": {
        "weights": (140, "GB", 1e-9, "A2: 140 GB of 16-bit weights"),
        "kv-per-token": (327_680, "B", 1e-9, "A2: “320 KB” per token (KiB)"),
        "kv-4096": (1.342, "GB", 1e-3, "A2: 1.3 GB for 4096 tokens"),
        "compute-bound": (156, "token", 1e-9, "A2: compute-bound beyond 156 tokens"),
        "prompt-cost": (0.00043, "USD/ktoken", 0.01, "A2: $0.00042 per 1K prompt tokens"),
        "prefill-latency": ([0.179, 0.538], "s", 0.01, "A2: 512 tokens in ≈170 ms, 1536 in ≈530 ms"),
        "decode-speed": ([18.6, 74.3], "token/s", 0.01, "A2: 18.6 tokens/s on 2 GPUs, ≈74.4 on 8"),
        "scenario-generated": ([0.066, 0.00825, 0.00206], None, 0.01, "A2: $0.066, $0.00825, $0.00206 per 1K"),
        "batch64-ttft": ([2.87, 20.1], "s", 0.01, "A2: ≈3 s and 20.1 s to the first token at batch 64"),
        "max-batch": ([49, 12], None, 0, "A2 §5: the KV cache limits the batch (exact count, 90% usable)"),
    },
    "03-training-estimates.ipynb": {
        "params": (173.9e9, "parameter", 1e-3, "A3: 12·L·h² ≈ 174B"),
        "params-exact": (174.6e9, "parameter", 1e-3, "A3: 174.6B"),
        "flops": (3.1428e23, "FLOP", 1e-3, "A3: 3.1428 × 10²³ FLOPs"),
        "days": (33.81, "day", 1e-3, "A3: ≈ 34 days"),
        "days-seconds": (2_921_340, "s", 1e-5, "A3: ≈ 2921340 s"),
        "gpus": (1155, None, 0, "A3: ≈ 1154 A100s, rounded up"),
        "gpus-at-full-peak": (389, None, 0, "A3: ≈ 384 (32 years × 12 months) at full peak"),
        "infer-fp32": (840, "GB", 1e-9, "A3: 840 GB"),
        "infer-fp16": (420, "GB", 1e-9, "A3: in 16 bits"),
        "train-memory": (3500, "GB", 1e-9, "A3: 3500 GB"),
        "min-gpus": (44, None, 0, "A3: at least 44 GPUs of 80 GB"),
        "comm-nic": (20, "s", 1e-9, "A3: 20 s over 200 Gbps"),
        "comm-nvlink": (1.111, "s", 1e-3, "A3: 1.1 s over 450 GB/s NVLink"),
        "scenario-days": ([135.25, 67.62, 33.81, 16.91, 8.45], None, 1e-3, "A3: 34 days on 1024 A100s, ∝ 1/N"),
        "mfu-days": ([50.72, 43.47, 38.04, 33.81, 30.43], None, 1e-3, "A3: 30%–50% utilisation; 45% → 34 days"),
    },
}
STDOUT = {("03-training-estimates.ipynb", "one-gpu-years"): (32, r"([\d.]+) years", 0.01, "A3: ≈ 32 years on one A100")}

_NUM = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_POWER = re.compile(r"×\s*10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
# Unit texts as llmcalc.display writes them for people, in pint's words.
_UNIT_WORDS = {"parameters": "parameter", "tokens": "token", "tokens/s": "token/second", "days": "day",
               "hours": "hour", "years": "year"}


def _number(text: str) -> float:
    """One displayed number: ``1,155``, ``175B``, ``3.143 × 10²³``, ``$0.00043``."""
    text = text.strip().lstrip("$")
    power = _POWER.search(text)
    if power:
        return float(text[:power.start()]) * 10.0 ** int(power.group(1).translate(_SUPERSCRIPT))
    if text and text[-1] in _SUFFIX:
        return float(text[:-1].replace(",", "")) * _SUFFIX[text[-1]]
    return float(text.replace(",", ""))


def parse(text: str, unit: str | None):
    """A displayed result read back into ``unit``: ``"125B parameters"`` → 125e9, ``"[179.2, 537.6] ms"``
    in s → [0.1792, 0.5376], ``"$0.00043 per 1K tokens"`` in USD/ktoken → 0.00043; a plain Python list
    (a scenario column) as it is. Raises if the text's unit does not convert to ``unit``."""
    text = text.strip()
    if unit is None:
        return ast.literal_eval(text) if text.startswith("[") else _number(text)
    if text.startswith("$"):
        value, _, per = text.partition(" per ")
        shown = "USD" + {"": "", "1K tokens": "/ktoken"}[per]
        values, shown_unit = _number(value), shown
    elif text.startswith("["):
        inner, shown_unit = text[1:].split("]", 1)
        values = [_number(v) for v in inner.split(", ")]
    else:
        m = re.fullmatch(rf"({_NUM}[KMBT]?(?:\s*×\s*10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?)\s*(.*)", text)
        assert m, text
        values, shown_unit = _number(m.group(1)), m.group(2)
    shown_unit = _UNIT_WORDS.get(shown_unit.strip(), shown_unit.strip())
    factor = llmcalc.ureg().Quantity(1.0, shown_unit).to(unit).magnitude
    return [v * factor for v in values] if isinstance(values, list) else values * factor


def result_text(cell) -> str:
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(results) == 1, f"cell {cell.id}: {cell.outputs}"
    return results[0].data["text/plain"]


def check_cell(name, cell):
    expected, unit, rel, source = EXPECTED[name][cell.id]
    got = parse(result_text(cell), unit)
    if rel == 0:
        assert got == expected, f"{cell.id} ({source})"
    else:  # people see 4 significant digits (llmcalc.display): no closer than half the last one
        assert got == pytest.approx(expected, rel=max(rel, 5e-4)), f"{cell.id} ({source})"


def execute(nb):
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(EXAMPLES)}})
    client.execute()
    return nb


NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))


def test_the_three_article_notebooks_exist():
    assert set(EXPECTED) <= set(NOTEBOOKS)


@functools.cache
def executed(name):
    """The notebook ``name`` from examples/, executed fresh once per test session (the tests below
    share it): (name, saved, fresh, (kernel's python, the llmcalc.magics file it imported))."""
    saved = nbformat.read(EXAMPLES / name, as_version=4)
    fresh = copy.deepcopy(saved)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    # which Python runs the kernel, and which llmcalc it imports (removed before any comparison)
    probe = nbformat.v4.new_code_cell("import sys, llmcalc.magics; print(sys.executable); print(llmcalc.magics.__file__)",
                                      id="kernel-probe")
    fresh.cells.insert(0, probe)
    execute(fresh)
    probe_out = fresh.cells.pop(0).outputs[0].text.split()
    return name, saved, fresh, probe_out


ARTICLE_NOTEBOOKS = sorted(EXPECTED)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_kernel_is_this_python_with_this_checkout(name):
    name, saved, fresh, (executable, magics_file) = executed(name)
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(magics_file).resolve() == (ROOT / "magics" / "__init__.py").resolve()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_cell_runs_without_error(name):
    name, saved, fresh, _ = executed(name)
    assert fresh.metadata["kernelspec"]["name"] == "python3"
    for cell in fresh.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.id
            assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"
                        and "UsageError" in o.text], cell.id


@pytest.mark.parametrize("name", ARTICLE_NOTEBOOKS)
def test_notebook_reproduces_the_articles_numbers(name):
    name, saved, fresh, _ = executed(name)
    cells = {c.id: c for c in fresh.cells}
    assert set(EXPECTED[name]) <= set(cells)
    for cid in EXPECTED[name]:
        check_cell(name, cells[cid])
    for (nb_name, cid), (expected, pattern, rel, source) in STDOUT.items():
        if nb_name == name:
            text = "".join(o.text for o in cells[cid].outputs if o.output_type == "stream")
            assert float(re.search(pattern, text).group(1)) == pytest.approx(expected, rel=rel), source


@pytest.mark.parametrize("name", ARTICLE_NOTEBOOKS)
def test_scenario_cells_render_a_table_and_a_plot(name):
    name, saved, fresh, _ = executed(name)
    scenario_cells = [c for c in fresh.cells if c.cell_type == "code" and c.source.startswith("%%llmcost")]
    assert scenario_cells
    for cell in scenario_cells:
        data = [o for o in cell.outputs if o.output_type == "execute_result"][0].data
        html = data["text/html"]
        assert "<table>" in html and "</table>" in html
        assert "data:image/png;base64," in html, f"{cell.id}: a swept field draws a plot"
        assert "per GPU-hour" in data["text/plain"]


@pytest.mark.parametrize("name", ARTICLE_NOTEBOOKS)
def test_saved_notebook_has_the_same_outputs(name):
    """examples/*.ipynb are saved executed (python examples/make_notebooks.py) and are not stale."""
    name, saved, fresh, _ = executed(name)
    assert [c.id for c in saved.cells] == [c.id for c in fresh.cells]
    for s, f in zip(saved.cells, fresh.cells):
        assert s.source == f.source
        if s.cell_type != "code":
            continue
        assert s.execution_count is not None and (s.outputs or s.source.startswith("%load_ext")), s.id
        if s.id in EXPECTED[name]:
            assert result_text(s) == result_text(f), s.id


def test_notebooks_are_what_make_notebooks_writes():
    """The saved sources come from examples/make_notebooks.py (edit the script, then run it)."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import make_notebooks
    finally:
        sys.path.remove(str(EXAMPLES))
    assert sorted(make_notebooks.NOTEBOOKS) == sorted(EXPECTED)
    for name in make_notebooks.NOTEBOOKS:
        built = make_notebooks.build(name)
        saved = nbformat.read(EXAMPLES / name, as_version=4)
        assert [(c.id, c.source) for c in built.cells] == [(c.id, c.source) for c in saved.cells], name


def test_line_results_render_html_safe_from_mathjax():
    """In the kernel, a result displays as HTML whose "$…$" Jupyter's MathJax leaves alone (A2's prices)."""
    name, saved, fresh, _ = executed("02-llama2-vs-gpt35-cost.ipynb")
    cell = {c.id: c for c in fresh.cells}["prompt-cost"]
    html = [o for o in cell.outputs if o.output_type == "execute_result"][0].data["text/html"]
    assert re.match(r"<(span|div) class='[^']*tex2jax_ignore mathjax_ignore'>", html) and "$4.42/h" in html
