"""%llmcost / %%llmcost through a real IPython InteractiveShell.

Each subcommand, -o, --to, help, rich display, and bad input (one line, no traceback). The values
are the source articles' numbers (../shared/seeds/):
  A1 = 001 万万没想到,ChatGPT参数只有200亿? (Chinchilla / Kaplan ratios)
  A2 = 002 为什么多数情况下GPT-3.5比LLaMA 2更便宜? (LLaMA-2-70B serving on 2 x A100-80GB, $4.42/h)
  A3 = 003 大模型训练相关参数估算 (GPT-3 175B training estimates)
"""
import ast
import re
import shlex

import numpy as np
import pytest

import llmcalc
from llmcalc.registry import REGISTRY

IPython = pytest.importorskip("IPython")

# Article 2's assumptions as options: P = 70e9, 2 GPUs at $2.21 per GPU-hour, 200 TFLOP/s, 1.3 TB/s.
A2 = "--gpus 2 --price $2.21/h --mfu '200 TFLOP/s' --bandwidth-utilization '1.3 TB/s' --dtype fp16"
A2_TIME = "--gpus 2 --mfu '200 TFLOP/s' --bandwidth-utilization '1.3 TB/s' --dtype fp16"


def run(ip, capsys, cell):
    capsys.readouterr()
    result = ip.run_cell(cell, store_history=False)
    out, err = capsys.readouterr()
    return result, out, err


def value(ip, capsys, line):
    """Run a line magic and return its result object (failing with the printed error if any)."""
    result, out, err = run(ip, capsys, line)
    assert result.error_in_exec is None, err
    return result.result


def mag(q, unit=None):
    if unit is not None:
        q = q.to(unit)
    return q.magnitude if hasattr(q, "magnitude") else q


def html_of(obj):
    """What a notebook front-end receives as text/html (a terminal shell turns HTML off)."""
    from IPython.core.formatters import DisplayFormatter
    return DisplayFormatter().format(obj)[0]["text/html"]


def one_line_error(ip, capsys, cell):
    """The cell fails with exactly one UsageError line and no traceback; returns that line."""
    result, out, err = run(ip, capsys, cell)
    assert result.error_in_exec is not None, f"no error for {cell!r}: {out}"
    assert type(result.error_in_exec).__name__ == "UsageError"
    text = (out + err).strip()
    assert "Traceback" not in text and "File \"" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("UsageError: ")
    return lines[0]


# ------------------------------------------------------------------ the articles, one subcommand each
ARTICLE_CASES = [
    # (line, unit, expected, rel, source)
    ("train_days 175e9 300e9 1024 A100", "day", 33.81, 1e-3, "A3 §3: 34 days"),
    ("train_days 175B '300B tokens' 1024 A100", "day", 33.81, 1e-3, "A3 §3 with unit strings"),
    ("train_gpus 175e9 300e9 30 A100", None, 1155, 0, "A3 §4: ≈1154 A100s, rounded up"),
    ("train_flops 174.6e9 300e9 no", "FLOP", 3.1428e23, 1e-5, "A3 §2: 3.1428e23 FLOPs"),
    ("params 96 12288", "parameter", 173.946e9, 1e-4, "A3 §1: 12·L·h² ≈ 174B"),
    ("params 96 12288 50257", "parameter", 174.58e9, 1e-4, "A3 §1: L(12h²+13h)+Vh"),
    ("train_memory_gb 175e9", "GB", 3500, 1e-9, "A3 §5: 3500 GB"),
    ("train_min_gpus 175e9 A100-80GB", None, 44, 0, "A3 §5: 44 GPUs of 80 GB"),
    ("infer_memory_gb 175e9 fp32", "GB", 840, 1e-9, "A3 §5: 840 GB"),
    ("infer_memory_gb 175e9 --dtype fp16", "GB", 420, 1e-9, "A3 §5 in 16 bits"),
    ("comm_seconds '500 GB' '200 Gb/s'", "s", 20, 1e-9, "A3: TP traffic over the 200 Gbps NIC"),
    ("comm_seconds '500 GB' '450 GB/s'", "s", 1.111, 1e-3, "A3: over 450 GB/s NVLink ≈ 1.1 s"),
    (f"cost_per_1k_tokens 70e9 A100-80GB prompt 1 512 {A2}", "USD/ktoken", 0.00043, 0.01, "A2 §4: $0.00042/1K"),
    (f"cost_per_1k_tokens 70e9 A100-80GB generated 1 512 {A2}", "USD/ktoken", 0.066, 0.01, "A2 §5: $0.066/1K"),
    (f"cost_per_1k_tokens 70e9 A100-80GB generated 8 512 {A2}", "USD/ktoken", 0.0083, 0.01, "A2 §5: $0.00825"),
    (f"cost_per_1k_tokens 70e9 A100-80GB generated 32 512 {A2}", "USD/ktoken", 0.0021, 0.02, "A2 §5: $0.00206"),
    (f"decode_tokens_per_s 70e9 A100-80GB 1 512 {A2_TIME}", "token/s", 18.6, 0.01, "A2 §5: 18.6 tokens/s"),
    (f"decode_step_time 70e9 A100-80GB 1 512 {A2_TIME}", "ms", 53.85, 1e-3, "A2 §5: 1 / 18.6 tokens/s"),
    (f"prefill_time 70e9 A100-80GB 1 512 {A2_TIME}", "s", 0.179, 0.01, "A2 §4: 512 tokens in ≈170 ms"),
    (f"prefill_ms 70e9 A100-80GB 1 1536 {A2_TIME}", "ms", 538, 0.01, "A2 §4: 1536 tokens in ≈530 ms"),
    ("kv_bytes_per_token llama-2-70b", "B", 327_680, 1e-9, "A2: 2·80·8·128·2 B (“320 KB”)"),
    ("kv_cache_gb llama-2-70b 4096", "GB", 1.342, 1e-3, "A2 §5: 4096 tokens → 1.3 GB"),
    ("weights_gb 70B", "GB", 140, 1e-9, "A2: 140 GB of 16-bit weights"),
    ("compute_bound_tokens A100 --flops '312 TFLOP/s' --bandwidth '2 TB/s'", "token", 156, 1e-9, "A2 §4: N > 156"),
    ("chinchilla_params 2.5T", "parameter", 125e9, 1e-9, "A1: 2.5T / 20 ≈ 120B"),
    ("chinchilla_params 2.5T 12.5", "parameter", 200e9, 1e-9, "A1: 2.5T / 12.5 ≈ 200B"),
    ("chinchilla_tokens 20B", "token", 400e9, 1e-9, "A1/Hoffmann: 20 tokens per parameter"),
    ("gpu A100 bf16_TFLOPS", "TFLOP/s", 312, 1e-9, "A2/A3: A100 312 TFLOP/s"),
    ("model llama-2-70b kv_bytes_per_token", "B", 327_680, 1e-9, "A2: KV bytes per token"),
    ("convert 200 Gb/s GB/s", "GB/s", 25, 1e-9, "A3: 200 Gbps = 25 GB/s"),
    ("train_gpu_hours 175e9 300e9 A100", "GPU_hour", 1024 * 24 * 33.8118, 1e-4, "A3 §3: 1024 GPUs × 33.81 days"),
    ("train_cost 175e9 300e9 A100 --price $2/GPU-h", "USD", 2 * 1024 * 24 * 33.8118, 1e-4, "A3 §3 at $2 per GPU-hour"),
]


@pytest.mark.parametrize("line,unit,expected,rel,source", ARTICLE_CASES, ids=[c[0].split()[0] + ":" + c[4] for c in ARTICLE_CASES])
def test_subcommand_gives_the_articles_number(ip, capsys, line, unit, expected, rel, source):
    r = value(ip, capsys, "%llmcost " + line)
    got = mag(r, unit)
    if rel == 0:
        assert int(got) == expected and isinstance(r, int)
    else:
        assert float(got) == pytest.approx(expected, rel=rel), source


# Arguments for every other registered function; functions registered later (by other modules)
# get arguments generated from their argument kinds.
OTHER_ARGS = {
    "activation_memory_gb": "llama-2-7b 1 2048",
    "serving_memory_gb": "llama-2-70b 8 4096 --gpus 2",
    "max_batch": "llama-2-70b A100-80GB 1024 --gpus 2 --dtype fp16",
    "forward_flops": "llama-2-70b --context 4096",
    "chinchilla_loss": "70B 2T",
    "optimal_params": "1e24",
    "optimal_tokens": "1e24",
    "train_step_time": "llama-2-7b H100 4 4096",
    "peak_memory": "llama-2-7b H100 train 4 4096",
}


def _generated_args(fn):
    from llmcalc.kinds import Boolean, Choice, Fraction, GPURef, ModelRef, Number, ParamsRef, Text
    out = []
    for a in fn.args:
        if a.optional:
            break
        k = a.kind
        if isinstance(k, GPURef):
            out.append("H100")
        elif isinstance(k, (ModelRef, ParamsRef)):
            out.append("llama-2-7b")
        elif isinstance(k, Choice):
            out.append(k.options[0])
        elif isinstance(k, Boolean):
            out.append("yes")
        elif isinstance(k, Fraction):
            out.append("0.5")
        elif isinstance(k, Number):
            out.append("1024" if k.unit in ("token", "") else f"'1 {k.unit}'")
        elif isinstance(k, Text):
            out.append("x")
        else:
            out.append("1")
    return " ".join(out)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_function_is_a_subcommand_with_the_same_value(ip, capsys, name):
    """The magic gives exactly the Python function's value (or the same error) for each function."""
    fn = REGISTRY[name]
    cases = [c[0] for c in ARTICLE_CASES if c[0].split()[0] == name]
    args = cases[0].split(" ", 1)[1] if cases else OTHER_ARGS.get(name) or _generated_args(fn)
    tokens = iter(shlex.split(args))
    pos, kw = [], {}
    for tok in tokens:
        if tok.startswith("--"):
            kw[tok[2:].replace("-", "_")] = next(tokens)
        else:
            pos.append(tok)
    try:
        expected = fn(*pos, **kw)
    except llmcalc.LLMCalcError as exc:  # a generated argument the function rejects: same one line
        line = one_line_error(ip, capsys, f"%llmcost {name} {args}")
        assert str(exc) in line
        return
    got = value(ip, capsys, f"%llmcost {name} {args}")
    assert type(got) is type(expected)
    if isinstance(expected, str):
        assert got == expected
    elif hasattr(expected, "units"):
        assert got.units == expected.units
        np.testing.assert_allclose(got.magnitude, expected.magnitude, rtol=1e-12)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    if fn.result != "text":
        assert got.explain().function == name


def test_subcommand_names_follow_the_spreadsheet_and_cli(ip, capsys):
    """LLM_TRAIN_DAYS, train-days and train_days are the same subcommand (A3's 33.81 days)."""
    for spelled in ("train_days", "train-days", "LLM_TRAIN_DAYS"):
        assert mag(value(ip, capsys, f"%llmcost {spelled} 175e9 300e9 1024 A100"), "day") == pytest.approx(33.81, rel=1e-3)


# ------------------------------------------------------------------ options, -o, return value
def test_keyword_options_mfu_recompute_and_to(ip, capsys):
    """A3: 1024 A100s at 40% MFU without recomputation: 6/8 × 0.45/0.4 × 33.81 days, in hours."""
    r = value(ip, capsys, "%llmcost train_days 175B 300B 1024 A100 --mfu 0.4 --recompute no --to hours")
    assert r.units == llmcalc.ureg().hour
    assert r.magnitude == pytest.approx(33.8118 * 24 * 6 / 8 * 0.45 / 0.4, rel=1e-4)
    # --name=value and name=value spellings, and an effective rate for mfu
    r2 = value(ip, capsys, "%llmcost train_days 175B 300B 1024 A100 --mfu='124.8 TFLOP/s' recompute=no")
    assert mag(r2, "hour") == pytest.approx(r.magnitude, rel=1e-9)
    assert r.explain().function == "train_days"  # the explanation survives --to


def test_dash_o_stores_the_result_object(ip, capsys):
    ip.user_ns.pop("days", None)
    r = value(ip, capsys, "%llmcost -o days train_days 175e9 300e9 1024 A100")
    days = ip.user_ns["days"]
    assert days is r
    assert days.to("day").magnitude == pytest.approx(33.81, rel=1e-3)  # A3
    assert "t = k·P·D" in days.explain().formula
    # -o after the arguments too, and a count result
    value(ip, capsys, "%llmcost train_gpus 175e9 300e9 30 A100 -o n")
    assert ip.user_ns["n"] == 1155 and ip.user_ns["n"].explain().function == "train_gpus"


def test_assignment_keeps_the_result(ip, capsys):
    result, out, err = run(ip, capsys, "x = %llmcost chinchilla_params 2.5T\ny = x.to('parameter').magnitude")
    assert result.error_in_exec is None, err
    assert ip.user_ns["y"] == pytest.approx(125e9)  # A1: 2.5T tokens / 20


def test_python_values_with_braces_and_dollars_kept(ip, capsys):
    """{expr} inserts a Python value; $2.21/h stays a price (IPython would read $2 as a variable)."""
    ip.user_ns["n_gpus"] = 1024
    r = value(ip, capsys, "%llmcost train_days 175e9 300e9 {n_gpus} A100")
    assert mag(r, "day") == pytest.approx(33.81, rel=1e-3)
    r = value(ip, capsys, f"%llmcost cost_per_1k_tokens 70e9 A100-80GB generated 1 512 {A2}")
    assert mag(r, "USD/ktoken") == pytest.approx(0.0661, rel=1e-3)  # A2 §5
    assert r.explain().to_dict()["inputs"]["price"] == "$2.21/h"  # the price parsed from "$2.21/h" (shown by llmcalc.display)


def test_a_list_sweeps(ip, capsys):
    """A3 on 256/512/1024 A100s; A2 on 2 and 8 GPUs (18.6 and 74.3 tokens/s)."""
    r = value(ip, capsys, "%llmcost train_days 175B 300B [256, 512, 1024] A100")
    np.testing.assert_allclose(r.to("day").magnitude, [4 * 33.8118, 2 * 33.8118, 33.8118], rtol=1e-4)
    r = value(ip, capsys, "%llmcost decode_tokens_per_s 70e9 A100-80GB 1 512 --gpus '[2, 8]' "
                          "--bandwidth-utilization '1.3 TB/s' --dtype fp16")
    np.testing.assert_allclose(r.magnitude, [18.57, 74.29], rtol=1e-3)
    r = value(ip, capsys, "%llmcost prefill_time 70e9 A100-80GB 64 [512, 3596] --gpus 8 --mfu '200 TFLOP/s' --dtype fp16")
    np.testing.assert_allclose(r.to("s").magnitude, [2.87, 20.1], rtol=0.01)  # A2 §7: ≈3 s and 20.1 s


def test_explain_option_displays_the_formula(ip, capsys):
    result, out, err = run(ip, capsys, "%llmcost --explain train_days 175e9 300e9 1024 A100")
    assert result.error_in_exec is None
    assert "Formula:" in out and "2,921,341 s" in out  # A3: ≈ 2921340 s
    assert result.result.to("day").magnitude == pytest.approx(33.81, rel=1e-3)


def test_rich_display_text_and_html(ip, capsys):
    r = value(ip, capsys, "%llmcost train_days 175e9 300e9 1024 A100")
    data, _ = ip.display_formatter.format(r)
    assert data["text/plain"] == "33.81 days"  # A3, as people read it (llmcalc.display)
    assert "33.81" in html_of(r) and "t = k·P·D" in html_of(r)
    n = value(ip, capsys, "%llmcost max_batch llama-2-70b A100-80GB [1024, 4096] --gpus 2 --dtype fp16")
    assert ip.display_formatter.format(n)[0]["text/plain"] == "[49, 12]"
    exp = r.explain()
    assert "Assumptions:" in str(exp) and "<table>" in exp._repr_html_()
    # in a notebook, "$2.21/h … $0.066" in an explanation must not be typeset as LaTeX by MathJax
    cost = value(ip, capsys, f"%llmcost cost_per_1k_tokens 70e9 A100-80GB generated 1 512 {A2}")
    for obj in (cost, exp, value(ip, capsys, "%llmcost train_gpus 175e9 300e9 30 A100")):
        out = html_of(obj)
        assert re.match(r"<(span|div) class='[^']*tex2jax_ignore mathjax_ignore'>", out), out[:80]


# ------------------------------------------------------------------ help
def test_help_lists_every_subcommand(ip, capsys):
    result, out, err = run(ip, capsys, "%llmcost?")
    assert result.error_in_exec is None
    assert "%llmcost [-o NAME]" in out  # magic_arguments usage line
    for name in REGISTRY:
        assert re.search(rf"^\s*{name}\s", out, re.M), name
    assert "--to UNIT" in out and "%%llmcost" in out


def test_help_for_one_subcommand(ip, capsys):
    for cell in ("%llmcost help train_days", "%llmcost train_days --help", "%llmcost train-days -h"):
        result, out, err = run(ip, capsys, cell)
        assert result.error_in_exec is None and result.result is None
        assert "%llmcost train_days params tokens gpus gpu [--mfu 0.45]" in out
        assert "=LLM_TRAIN_DAYS(params, tokens, gpus, gpu, [mfu], [recompute])" in out
    result, out, err = run(ip, capsys, "%llmcost")
    assert "subcommands" in out and "train_days" in out


# ------------------------------------------------------------------ bad input: one line, no traceback
@pytest.mark.parametrize("cell,needles", [
    ("%llmcost trian_days 175e9 300e9 1024 A100", ["unknown subcommand 'trian_days'", "train_days"]),
    ("%llmcost train_days 175e9 300e9 1024 A1000", ["argument 'gpu'", "unknown GPU 'A1000'", "A100"]),
    ("%llmcost train_days '175 GB' 300B 1024 A100", ["argument 'params'", "GB", "parameter"]),
    ("%llmcost comm_seconds '500 GB' '200 tokens'", ["argument 'bandwidth'", "tokens"]),
    ("%llmcost train_days 175e9 300e9 -1 A100", ["argument 'gpus'", "must be > 0, got -1"]),
    ("%llmcost train_days 175e9 300e9 1024", ["argument 'gpu'", "is required"]),
    ("%llmcost train_days 175e9 300e9 1024 A100 --mfu 45", ["argument 'mfu'", "0.45"]),
    ("%llmcost train_days 175e9 300e9 1024 A100 --mfu '400 TFLOP/s'", ["argument 'mfu'", "peak"]),
    ("%llmcost train_days 175e9 300e9 1024 A100 --speed 2", ["argument 'speed'", "not an argument of train_days"]),
    ("%llmcost train_days 175e9 300e9 1024 A100 --to GB", ["--to GB", "cannot convert"]),
    ("%llmcost train_gpus 175e9 300e9 30 A100 --to hours", ["--to hours", "count"]),
    ("%llmcost train_days 175e9 300e9 [1,024] A100", ["argument 'gpus'", "ambiguous"]),
    ("%llmcost train_days 175e9 300e9 1024 'A100", ["cannot read the line"]),
    ("%llmcost -o 1x train_days 175e9 300e9 1024 A100", ["-o '1x'", "variable name"]),
    ("%llmcost list nothing", ["list gpus|models"]),
])
def test_bad_input_is_one_clear_line(ip, capsys, cell, needles):
    line = one_line_error(ip, capsys, cell)
    for needle in needles:
        assert needle in line, line


# ------------------------------------------------------------------ the scenario cell
A2_CELL = """%%llmcost -o scn
# Article 2's assumptions: P = 70B, 2 x A100-80GB at $4.42/h for both, 200 TFLOP/s, 1.3 TB/s
model: 70B
gpu: 2 x A100-80GB
price: $4.42/h total
prompt: 512 tokens
generate: 512 tokens
batch: 1, 8, 32
mfu: 200 TFLOP/s
bandwidth: 1.3 TB/s
dtype: fp16
"""


def scenario(ip, capsys, cell):
    result, out, err = run(ip, capsys, cell)
    assert result.error_in_exec is None, err
    return result.result


def test_serving_scenario_reproduces_article_2(ip, capsys):
    s = scenario(ip, capsys, A2_CELL)
    assert ip.user_ns["scn"] is s
    assert s.column("batch") == [1, 8, 32]
    np.testing.assert_allclose(s.column("cost_generated"), [0.066, 0.00826, 0.00207], rtol=0.01)  # A2 §5
    np.testing.assert_allclose(s.column("cost_prompt"), [0.00043] * 3, rtol=0.01)                 # A2 §4
    assert s.column("ttft")[0] == pytest.approx(0.179, rel=0.01)                                   # A2 §4
    assert s.column("throughput")[0] == pytest.approx(18.6, rel=0.01)                              # A2 §5
    assert s.column("tpot")[0] == pytest.approx(1000 / 18.57, rel=0.01)
    assert s.column("memory_per_gpu")[0] == pytest.approx(70)  # 140 GB of weights over 2 GPUs
    text = ip.display_formatter.format(s)[0]["text/plain"]
    assert "$4.42/h for all GPUs together = $2.21 per GPU-hour" in text
    assert "$0.066" in text and "TTFT (s)" in text  # A2: $0.066 per 1K generated tokens at batch 1


def test_serving_scenario_html_table_and_plot(ip, capsys):
    s = scenario(ip, capsys, A2_CELL)
    html = html_of(s)
    assert "<table>" in html and "$/1K generated" in html and "data:image/png;base64," in html
    assert "tex2jax_ignore mathjax_ignore" in html  # "$0.066 … $0.0083" must not become LaTeX
    panels = s.plot_series()
    assert [p[0] for p in panels] == ["$ per 1K tokens", "latency"]
    label, xs, ys, _ = panels[0][2][0]
    assert label == "generated" and xs == [1, 8, 32]
    np.testing.assert_allclose(ys, [0.066, 0.00826, 0.00207], rtol=0.01)  # A2 §5, the plotted line
    line = s.figure.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), ys)


def test_price_conventions(ip, capsys):
    """Per GPU-hour ($2.21/GPU-h, $2.21/h) and a total ($4.42/h total) give A2's $0.066; a bare $4.42/h
    is per GPU-hour (twice the cost) and the table says so."""
    base = A2_CELL.replace("%%llmcost -o scn", "%%llmcost --no-plot").replace("batch: 1, 8, 32", "batch: 1")
    for price in ("$2.21/GPU-h", "$2.21/h", "$2.21 per GPU-hour", "$4.42/h total"):
        s = scenario(ip, capsys, base.replace("$4.42/h total", price))
        assert s.column("cost_generated")[0] == pytest.approx(0.0661, rel=1e-3), price
        assert "$2.21 per GPU-hour" in str(s)
        assert s.figure is None
    s = scenario(ip, capsys, base.replace("$4.42/h total", "$4.42/h"))
    assert s.column("cost_generated")[0] == pytest.approx(2 * 0.0661, rel=1e-3)
    assert "$4.42 per GPU-hour (a bare $/h is per GPU-hour" in str(s)


def test_calibrated_scenario_matches_the_registry(ip, capsys):
    """Without mfu/bandwidth: the calibrated model, catalog architecture; every cell equals the function."""
    s = scenario(ip, capsys, """%%llmcost
model: llama-2-70b
gpu: 2 x A100-80GB
price: $2.21/GPU-h
prompt: 512 tokens
generate: 512 tokens
batch: 1..64 x2
""")
    assert s.column("batch") == [1, 2, 4, 8, 16, 32, 64]
    for i, b in enumerate(s.column("batch")):
        want = llmcalc.cost_per_1k_tokens("llama-2-70b", "A100-80GB", "generated", b, 768, gpus=2, price=2.21)
        assert s.column("cost_generated")[i] == pytest.approx(want.magnitude, rel=1e-12)
        want = llmcalc.prefill_time("llama-2-70b", "A100-80GB", b, 512, gpus=2)
        assert s.column("ttft")[i] == pytest.approx(want.magnitude, rel=1e-12)
        want = llmcalc.serving_memory_gb("llama-2-70b", b, 1024, gpus=2)
        assert s.column("memory_per_gpu")[i] == pytest.approx(want.magnitude, rel=1e-12)
    # A2 §5: the KV cache bounds the batch on 2 x 80 GB; here at 1,024 tokens of context
    mb = int(llmcalc.max_batch("llama-2-70b", "A100-80GB", 1024, gpus=2))
    fits = s.column("fits")
    assert all(f.startswith("✓") for f, b in zip(fits, s.column("batch")) if b <= mb)
    assert fits[-1] == f"✗ (max {mb})"
    assert "calibrated performance model" in str(s)
    exp = s.explain(row=3)
    assert "batch = 8" in exp.title and "cost_per_1k_tokens" in str(exp) and "<h4>" in exp._repr_html_()


def test_training_scenario_reproduces_article_3(ip, capsys):
    s = scenario(ip, capsys, """%%llmcost -o train
model: 175B
tokens: 300B
gpu: 256, 512, 1024 x A100
days: 30
price: $2/GPU-h
""")
    assert s.column("gpus") == [256, 512, 1024]
    np.testing.assert_allclose(s.column("days"), [135.25, 67.62, 33.81], rtol=1e-3)  # A3 §3: 34 days on 1024
    assert s.column("gpus_needed") == [1155] * 3                                      # A3 §4
    assert s.column("memory_total") == pytest.approx([3500] * 3)                      # A3 §5
    assert s.column("min_gpus") == [44] * 3                                           # A3 §5
    assert s.column("cost")[0] == pytest.approx(2 * 1024 * 24 * 33.8118, rel=1e-4)
    [(title, unit, lines)] = s.plot_series()  # only the training time varies with the GPU count
    assert title == "training time" and lines[0][1] == [256, 512, 1024]
    assert "Training scenario" in ip.display_formatter.format(s)[0]["text/plain"]


def test_training_scenario_plans_the_layout_per_gpu_count(ip, capsys):
    """plan: auto predicts each row's layout, step time and MFU; the training time follows from them."""
    s = scenario(ip, capsys, "%%llmcost --no-plot\nmodel: Llama-3.1-70B\ntokens: 15T\ngpu: H100\ngpus: 512, 2048\n"
                             "plan: auto\ndays: 90\n")
    r = llmcalc.train_plan("Llama-3.1-70B", "H100", 2048, 8192, 512)
    assert s.column("layout")[1] == str(r) and s.column("step_time")[1] == pytest.approx(r.seconds)
    assert s.column("days")[1] == pytest.approx(15e12 / (8192 * 512) * r.seconds / 86400, rel=1e-6)
    assert s.column("meets_deadline") == [False, True] and 0.3 < s.column("mfu_pred")[1] < 0.7
    # an explicit layout fixes the GPU count; mfu: and plan: together are refused
    s = scenario(ip, capsys, "%%llmcost --no-plot\nmodel: Llama-3.1-70B\ntokens: 15T\ngpu: H100\n"
                             "plan: tp=8 pp=4 dp=32\nseq: 8192\nglobal_batch: 512\n")
    t = llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=8 pp=4 dp=32", 8192, 512).magnitude
    assert s.column("step_time")[0] == pytest.approx(t)
    ip.run_cell("%%llmcost\nmodel: Llama-3.1-70B\ntokens: 15T\ngpu: 1024 x H100\nplan: auto\nmfu: 0.4\n")
    assert "not both" in capsys.readouterr().err
    # framework: is train_iteration_time's argument (Korthikanti et al. 2022 Table 5 layout, 2022 Megatron-LM)
    s = scenario(ip, capsys, "%%llmcost --no-plot\nmodel: GPT-3 175B\ntokens: 300B\ngpu: A100\n"
                             "plan: tp=8 pp=8 vp=3 dp=1 mb=1\nseq: 2048\nglobal_batch: 64\ndtype: fp16\n"
                             "framework: megatron-2022\n")
    t = llmcalc.train_iteration_time("GPT-3 175B", "A100", "tp=8 pp=8 vp=3 dp=1 mb=1", 2048, 64, dtype="fp16",
                                     framework="megatron-2022").magnitude
    assert s.column("step_time")[0] == pytest.approx(t) and t > 1.05 * llmcalc.train_iteration_time(
        "GPT-3 175B", "A100", "tp=8 pp=8 vp=3 dp=1 mb=1", 2048, 64, dtype="fp16").magnitude


def test_training_scenario_mfu_range(ip, capsys):
    """A3: 30%–50% utilisation on 1024 A100s (0.45 → 33.81 days)."""
    s = scenario(ip, capsys, "%%llmcost\nmodel: 175B\ntokens: 300B\ngpu: 1024 x A100\nmfu: 0.3..0.5 step 0.05\n")
    assert s.column("mfu") == pytest.approx([0.3, 0.35, 0.4, 0.45, 0.5])
    assert s.column("days")[3] == pytest.approx(33.81, rel=1e-3)
    assert s.x_key == "mfu" and s.figure is not None


@pytest.mark.parametrize("body,needles", [
    ("model: llama-2-70b\ngpu: 2 x A100-80GB\npromt: 512", ["line 3", "unknown field 'promt'", "'prompt'"]),
    ("model: llama-2-70b\ngpu: 2 x A1000\nprompt: 512", ["line 2", "field 'gpu'", "unknown GPU 'A1000'"]),
    ("model: llama-2-70b\ngpu: 2 x A100\nprompt: 512 GB", ["line 3", "field 'prompt'", "GB", "token"]),
    ("model: llama-2-70b\ngpu: 2 x A100\nprompt: 1,000", ["line 3", "field 'prompt'", "ambiguous"]),
    ("model: llama-2-70b\ngpu: 2 x A100\nprompt: 512\nmfu: 400 TFLOP/s", ["line 4", "field 'mfu'", "peak"]),
    ("model: 70B\ngpu: 2 x A100\nprompt: 512", ["field 'model'", "mfu"]),
    ("model: llama-2-70b\ngpu: A100\nprompt: 512\ntokens: 300B", ["field 'tokens'", "scenario: training"]),
    ("model: llama-2-70b\ngpu: A100", ["serving", "training"]),
    ("model: llama-2-70b\nprompt: 512", ["needs the field 'gpu:'"]),
    ("model: 175B\ntokens: 300B\ngpu: A100\ngpus: 2048..512 x2", ["field 'gpus'", "backwards"]),
    ("model: 175B\ntokens: 300B\ngpu: A100\nprice: $100/h total", ["field 'price'", "GPU count"]),
    ("model: 175B\ntokens: 300B\ngpu: TPU-v4", ["field 'price'", "no price"]),
    ("model llama", ["line 1", "key: value"]),
])
def test_bad_scenario_is_one_clear_line(ip, capsys, body, needles):
    line = one_line_error(ip, capsys, "%%llmcost\n" + body + "\n")
    for needle in needles:
        assert needle in line, line


def test_scenario_to_records_literal(ip, capsys):
    """to_records() is plain Python data (what the example notebooks print and the tests read back)."""
    s = scenario(ip, capsys, A2_CELL)
    rec = s.to_records()
    assert ast.literal_eval(repr([round(r["cost_generated"], 4) for r in rec])) == [0.0661, 0.0083, 0.0021]


def test_scenario_fields_take_python_values(ip, capsys):
    """{expr} works in the cell too (A3: 1024 A100s → 33.81 days)."""
    ip.user_ns["cluster"] = 1024
    s = scenario(ip, capsys, "%%llmcost --no-plot\nmodel: 175B\ntokens: 300B\ngpu: {cluster} x A100\nprice: $2/GPU-h\n")
    assert s.column("days") == pytest.approx([33.81], rel=1e-3)
    assert "$2.00 per GPU-hour" in str(s)


def test_fresh_ipython_readme_first_example():
    """What a new user types in a fresh terminal IPython: %load_ext llmcalc, then A3's first number."""
    import subprocess
    import sys
    code = "%load_ext llmcalc\n%llmcost train_days 175e9 300e9 1024 A100"
    out = subprocess.run([sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c", code],
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("33.81 days")  # A3: ≈ 34 days
    bad = subprocess.run([sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c",
                          code.replace("A100", "A1000")], capture_output=True, text=True, timeout=120, cwd="/")
    lines = (bad.stdout + bad.stderr).strip().splitlines()
    assert lines == [l for l in lines if l.startswith("UsageError: ")] and len(lines) == 1, lines
    assert "unknown GPU 'A1000'" in lines[0]


# ------------------------------------------------------------------ the training sweep against a deadline
A3_SWEEP = """%%llmcost -o sweep
model: 175B
tokens: 300B
gpu: A100
gpus: 256..4096 x2
days: 30
price: $2/GPU-h
"""


def test_training_sweep_says_which_gpu_counts_meet_the_deadline(ip, capsys):
    """A3: 1,155 A100s finish 175B × 300B in 30 days, so 256–1024 miss it and 2048, 4096 make it;
    the GPU count the deadline needs (and the cost, which does not depend on the GPU count) is
    stated once, not on every row."""
    s = scenario(ip, capsys, A3_SWEEP)
    assert s.column("gpus") == [256, 512, 1024, 2048, 4096]
    assert s.column("meets_deadline") == [False, False, False, True, True]
    assert s.column("gpus_needed") == [1155] * 5  # A3 §4, still one value per row for code
    text = str(s)
    header = next(line for line in text.splitlines() if line.lstrip().startswith("GPUs  "))
    assert "meets the deadline?" in header and "GPUs for the deadline" not in header and "cost" not in header
    assert text.count("1,155") == 1 and "  GPUs for the deadline: 1,155" in text
    cost = 2 * 1024 * 24 * 33.8118  # A3 §3: 1024 GPUs × 33.81 days at $2 per GPU-hour
    shown = re.search(r"  cost: \$([\d,]+)\n", text).group(1)
    assert float(shown.replace(",", "")) == pytest.approx(cost, rel=1e-4)
    assert "✗ no" in text and "✓ yes" in text
    html = html_of(s)
    assert html.count("<tr style='color:#b00'>") == 3  # the three rows that miss the deadline
    assert "Same in every row:" in html and "<b>GPUs for the deadline</b>: 1,155" in html
    [(title, unit, lines)] = s.plot_series()
    assert title == "training time"
    ax = s.figure.axes[0]
    deadline = [l for l in ax.get_lines() if l.get_label() == "deadline (30 days)"]
    assert len(deadline) == 1 and list(deadline[0].get_ydata()) == [30, 30]
    assert "misses the deadline" in [l.get_label() for l in ax.get_lines()]
    exp = s.explain(row=2)
    assert [e.function for label, exps in exp.parts if label == "meets the deadline?" for e in exps] == \
        ["train_days", "train_gpus"]


def test_training_sweep_of_the_deadline_keeps_the_gpu_count_per_row(ip, capsys):
    """When the deadline is swept, the GPUs it needs vary and stay a column (A3: 1,155 for 30 days)."""
    s = scenario(ip, capsys, "%%llmcost --no-plot\nmodel: 175B\ntokens: 300B\ngpu: 1024 x A100\n"
                             "deadline: 15, 30, 60\n")
    assert s.column("deadline") == [15, 30, 60]
    assert s.column("gpus_needed") == [int(llmcalc.train_gpus(175e9, 300e9, d, "A100")) for d in (15, 30, 60)]
    assert s.column("gpus_needed")[1] == 1155  # A3 §4
    assert s.column("meets_deadline") == [False, False, True]  # 33.81 days on 1024 GPUs
    header = next(line for line in str(s).splitlines() if "deadline (days)" in line)
    assert "GPUs for the deadline" in header


def test_catalog_price_reads_like_money(ip, capsys):
    s = scenario(ip, capsys, "%%llmcost\nmodel: 175B\ntokens: 300B\ngpu: 1024 x A100\n")
    a100 = llmcalc.gpu("A100")
    assert f"{a100.name} ${a100.price_per_hour:,.2f} (priced {a100.price_date})" in str(s)


# ------------------------------------------------------------------ scenario kinds are declarations
def test_help_scenario_lists_the_declared_fields(ip, capsys):
    """Each field's unit and help come from the registry argument it stands for."""
    result, out, err = run(ip, capsys, "%llmcost help scenario")
    assert result.error_in_exec is None and result.result is None
    kv = next(a for a in REGISTRY["prefill_time"].args if a.name == "kv_dtype")
    days = next(a for a in REGISTRY["train_gpus"].args if a.name == "days")
    assert re.search(rf"^  kv_dtype: +\[{re.escape(kv.kind.describe())}\] {re.escape(kv.help)}", out, re.M)
    assert re.search(rf"^  deadline: +\[day\] {re.escape(days.help)} \(also days\)", out, re.M)
    assert re.search(r"^serving \(a cell with prompt:.*needs model:, gpu:, prompt:\)", out, re.M)


def test_a_new_scenario_kind_is_a_declaration():
    """docs/magics.md's example kind (Hoffmann et al.'s compute-optimal model and data for a FLOP
    budget), declared outside the package, runs like the built-in ones."""
    from pathlib import Path
    from llmcalc.magics import run_scenario
    from llmcalc.magics.fields import ScenarioError
    doc = (Path(__file__).resolve().parents[1] / "docs" / "magics.md").read_text(encoding="utf-8")
    example = next(b.split("```", 1)[0] for b in doc.split("```python\n")[1:] if "ScenarioKind(" in b)
    ns = {}
    exec(example, ns)  # noqa: S102 - our own documentation
    budget = ns["BUDGET"]
    kinds = ns["KINDS"] + (budget,)
    s = run_scenario("flop: 1e22, 1e23, 1e24\n", kinds=kinds)
    assert s.kind == "budget" and s.title == "Budget scenario"
    for got, flops in zip(s.column("params_opt"), [1e22, 1e23, 1e24]):
        assert got == pytest.approx(llmcalc.optimal_params(flops).magnitude, rel=1e-12)
    assert s.column("budget") == [1e22, 1e23, 1e24]
    assert s.explain(0).parts[0][1][0].function == "optimal_params"
    assert "compute-optimal size (parameters)" in str(s) and "  compute budget (FLOP): swept (see the table)" in str(s)
    [(title, unit, lines)] = s.plot_series()
    assert title == "compute-optimal size" and lines[0][1] == [1e22, 1e23, 1e24]
    with pytest.raises(ScenarioError, match=r"line 2: field 'budget': .*FLOP"):
        run_scenario("title: x\nbudget: 5 GB\n", kinds=kinds)
    with pytest.raises(ScenarioError, match="unknown field 'budget'"):
        run_scenario("budget: 1e24\n")  # only the kinds given are known


def test_magics_modules_import_in_one_direction():
    """No import cycle inside the magics package, and each module stays small."""
    import ast
    from pathlib import Path
    import llmcalc.magics
    root = Path(llmcalc.magics.__file__).parent
    graph = {}
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
        graph[path.stem] = deps - {"__init__"}
        assert len(path.read_text().splitlines()) <= 400, path.name
    done, visiting = set(), []

    def visit(name):
        assert name not in visiting, f"import cycle: {' -> '.join(visiting + [name])}"
        if name in done:
            return
        visiting.append(name)
        for dep in graph.get(name, ()):
            visit(dep)
        visiting.pop()
        done.add(name)

    for name in graph:
        visit(name)
    assert "magic" not in set().union(*(deps for n, deps in graph.items() if n != "__init__"))
