"""Numbers for people (llmcalc/display.py) on the source articles' scenarios: what str(), repr(),
.explain(), the CLI and the task pane show; the exact value stays in .magnitude.

A2 = ../shared/seeds/002 (LLaMA-2-70B on 2 x A100-80GB at $2.21/GPU-h, 200 TFLOP/s, 1.3 TB/s)
A3 = ../shared/seeds/003 (GPT-3 175B, 300B tokens, 1024 A100s at 45%)
"""
import numpy as np
import pytest

import llmcalc
from llmcalc import display

A2 = dict(gpus=2, price="$2.21/h", mfu="200 TFLOP/s", bandwidth_utilization="1.3 TB/s", dtype="fp16")
A2_TIME = {k: v for k, v in A2.items() if k != "price"}


# ---------------------------------------------------------------- the articles' figures, for people
@pytest.mark.parametrize("call, shown, exact", [
    # A2 §4: "$0.00042 per 1K prompt tokens"; §5: $0.066, $0.00825, $0.00206 per 1K generated
    (lambda: llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "prompt", 1, 512, **A2), "$0.00043 per 1K tokens", 0.00042972),
    (lambda: llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "generated", 1, 512, **A2), "$0.066 per 1K tokens", 0.06611),
    (lambda: llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "generated", 8, 512, **A2), "$0.0083 per 1K tokens", 0.008264),
    (lambda: llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "generated", 32, 512, **A2), "$0.0021 per 1K tokens", 0.002066),
    # A2: 512 prompt tokens in ≈170 ms; 18.6 tokens/s; 140 GB of weights; 1.3 GB KV for 4096 tokens
    (lambda: llmcalc.prefill_time(70e9, "A100-80GB", 1, 512, **A2_TIME), "179.2 ms", 0.1792),
    (lambda: llmcalc.decode_tokens_per_s(70e9, "A100-80GB", 1, 512, **A2_TIME), "18.57 tokens/s", 18.57),
    (lambda: llmcalc.weights_gb(70e9, "fp16"), "140 GB", 140),
    (lambda: llmcalc.kv_cache_gb("llama-2-70b", 4096), "1.342 GB", 1.342),
    (lambda: llmcalc.kv_bytes_per_token("llama-2-70b"), "327.7 kB", 327_680),
    (lambda: llmcalc.compute_bound_tokens("A100", flops="312 TFLOP/s", bandwidth="2 TB/s"), "156 tokens", 156),
    # A3: 174B parameters, 3.1428e23 FLOPs, ≈34 days, 3500 GB, 20 s over 200 Gb/s
    (lambda: llmcalc.params(96, 12288), "173.9B parameters", 173.946e9),
    (lambda: llmcalc.train_flops(174.6e9, 300e9, False), "3.143 × 10²³ FLOP", 3.1428e23),
    (lambda: llmcalc.train_days(175e9, 300e9, 1024, "A100"), "33.81 days", 33.8118),
    (lambda: llmcalc.train_days(174.6e9, 300e9, 1, "A100", mfu=1.0, recompute=False), "31.92 years", 11_658),
    (lambda: llmcalc.train_memory_gb(175e9), "3,500 GB", 3500),
    (lambda: llmcalc.comm_seconds("500 GB", "200 Gb/s"), "20 s", 20),
    # A1: 2.5T tokens / 20 = 125B parameters; 20 tokens per parameter for 175B = 3.5T tokens
    (lambda: llmcalc.chinchilla_params("2.5T"), "125B parameters", 125e9),
    (lambda: llmcalc.chinchilla_tokens("175B"), "3.5T tokens", 3.5e12),
    # money: training cost in whole dollars, GPU-hours as a count, a price per hour in cents
    (lambda: llmcalc.train_cost(175e9, 300e9, "A100", "$2.21/h"), "$1,836,420", 1_836_420),
    (lambda: llmcalc.train_gpu_hours(175e9, 300e9, "A100"), "830,959 GPU-hours", 830_959),
    (lambda: llmcalc.gpu("A100", "price_per_hour"), "$2.70/h", 2.70),
])
def test_article_figures_read_like_money_counts_and_durations(call, shown, exact):
    r = call()
    assert str(r) == shown and f"{r}" == shown
    assert repr(r) == f"<Result {shown}>"
    assert r.explain().result == shown                       # the explanation's headline, the CLI, the task pane
    assert f"<b>{shown}</b>" in r._repr_html_().replace("&#x27;", "'")
    assert r.magnitude == pytest.approx(exact, rel=2e-3)     # the exact value is still there for code


def test_exact_value_is_untouched_by_display():
    r = llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "prompt", 1, 512, **A2)
    assert r.magnitude == pytest.approx(0.00042972222222222207, rel=1e-12)
    assert format(r, ".3e~C") == "4.297e-04 USD/ktoken"      # pint's own format with a spec
    assert str(r.to("USD/Mtoken")) == "$0.00043 per 1K tokens"  # the same money whatever the unit


def test_sweeps_share_one_unit():
    days = llmcalc.train_days(175e9, 300e9, [256, 512, 1024], "A100")
    assert str(days) == "[135.2, 67.62, 33.81] days"
    costs = llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "generated", [1, 8, 32], 512, **A2)
    assert str(costs) == "[$0.066, $0.0083, $0.0021] per 1K tokens"
    many = llmcalc.train_days(175e9, 300e9, np.arange(1, 11) * 1024, "A100")
    assert str(many).endswith(", … (10 values)] days")


def test_explanation_inputs_are_formatted_for_people():
    e = llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "prompt", 1, 512, **A2).explain().to_dict()["inputs"]
    assert e["model"] == "70B parameters" and e["tokens"] == "512 tokens" and e["gpus"] == "2 GPUs"
    assert e["price"] == "$2.21/h" and e["mfu"] == "200 TFLOP/s" and e["bandwidth_utilization"] == "1.3 TB/s"
    assert e["gpu"] == "A100-SXM4-80GB (312 TFLOP/s dense 16-bit, 80 GiB, 2.039 TB/s)"
    t = llmcalc.train_days(175e9, 300e9, 1024, "A100").explain().to_dict()["inputs"]
    assert t["params"] == "175B parameters" and t["tokens"] == "300B tokens" and t["mfu"] == "45%"
    m = llmcalc.max_batch("llama-2-70b", "A100-80GB", 4096, 2).explain().to_dict()["inputs"]
    assert m["model"] == "Llama-2-70B (68.98B parameters, 80 layers, GQA)" and m["memory_utilization"] == "90%"


def test_counts_print_as_ints_and_explain_with_separators():
    n = llmcalc.train_gpus(175e9, 300e9, 30, "A100")
    assert repr(n) == "1155" and n.explain().result == "1,155"            # A3: ≈1154, rounded up
    assert "<b>1,155</b>" in n._repr_html_()


# ---------------------------------------------------------------- the rules
@pytest.mark.parametrize("usd, per, shown", [
    (1234567.4, None, "$1,234,567"), (2.7, "h", "$2.70/h"), (4.42, "h", "$4.42/h"), (0.5, None, "$0.50"),
    (0.066, "1K tokens", "$0.066 per 1K tokens"), (0.00042972, "1K tokens", "$0.00043 per 1K tokens"),
    (999.999, None, "$1,000"), (0, None, "$0"), (-3.456, None, "-$3.46"), (1e-7, None, "$1 × 10⁻⁷"),
])
def test_money(usd, per, shown):
    assert display.money(usd, per) == shown


@pytest.mark.parametrize("n, noun, shown", [
    (1155, "GPU", "1,155 GPUs"), (1, "GPU", "1 GPU"), (327_680, None, "327,680"), (175e9, None, "175B"),
    (1.2e12, None, "1.2T"), (7_168_000, "token", "7.168M tokens"), (999_999_999, None, "1B"),
    (174.58e9, "parameter", "174.6B parameters"), (3.2e15, None, "3.2 × 10¹⁵"), (12.5, None, "12.5"),
])
def test_counts(n, noun, shown):
    assert display.count(n, noun) == shown


@pytest.mark.parametrize("x, unit, shown", [
    (0.17, "s", "170 ms"), (33.811815, "day", "33.81 days"), (1, "day", "1 day"), (0.5, "day", "12 hours"),
    (2_921_341, "s", "33.81 days"), (90, "s", "90 s"), (1.5, "week", "1.5 weeks"), (2e-6, "s", "2 µs"),
    (140, "GB", "140 GB"), (80, "GiB", "80 GiB"), (20_000, "GiB", "19.53 TiB"), (0.5, "GB", "500 MB"),
    (80 * 2**30, "B", "85.9 GB"), (2.039e12, "B/s", "2.039 TB/s"), (200, "Gb/s", "200 Gb/s"),
    (3.12e14, "FLOP/s", "312 TFLOP/s"), (502e15, "FLOP/s", "502 PFLOP/s"), (1.482e11, "FLOP", "1.482 × 10¹¹ FLOP"),
    (18.6, "token/s", "18.6 tokens/s"), (28312, "token/s", "28,312 tokens/s"), (2, "GPU", "2 GPUs"),
    (1.937, "", "1.937"), (0.45, "", "0.45"), (float("inf"), "", "∞"),
])
def test_values_in_units(x, unit, shown):
    assert display.value(x, unit) == shown


def test_number_is_the_compact_calculation_form():
    # .explain() calculation lines and error messages keep this form (llmcalc.explain.fmt)
    assert display.number(2_921_341) == "2,921,341" and display.number(0.17921) == "0.1792"
    assert display.number(3.1428e23) == "3.143e+23" and display.number(True) == "yes"
    assert display.percent(0.45) == "45%" and display.data_size(80 * 2**30, binary=True) == "80 GiB"
    assert display.duration(0.17) == "170 ms" and display.sig(1234.5678) == "1,235"
