"""Every figure the three source articles compute, through the public API, the CLI and .explain().

Sources (../shared/seeds/):
  A1 = 001 万万没想到,ChatGPT参数只有200亿? (Chinchilla / Kaplan ratios)
  A2 = 002 为什么多数情况下GPT-3.5比LLaMA 2更便宜? (Aman Sanger, LLaMA-2-70B serving cost)
  A3 = 003 大模型训练相关参数估算 (GPT-3 training estimates)
"""
import json
import subprocess
import sys

import pytest

import llmcalc

# The article's assumptions for LLaMA-2-70B serving, passed explicitly (A2): P = 70e9 ("140 GB of
# 16-bit weights"), 2 x A100-80GB at $4.42/h for both, 200 TFLOP/s and 1.3 TB/s effective per GPU.
A2 = dict(gpus=2, price="$2.21/h", mfu="200 TFLOP/s", bandwidth_utilization="1.3 TB/s", dtype="fp16")
A2_TIME = {k: v for k, v in A2.items() if k != "price"}


def approx(x, rel=1e-3):
    return pytest.approx(x, rel=rel)


# ---------------------------------------------------------------- A3: training
def test_a3_params_12Lh2():
    assert llmcalc.params(96, 12288).to("parameter").magnitude == approx(173.946e9, 1e-5)  # "174B"


def test_a3_params_exact_with_vocab():
    assert llmcalc.params(96, 12288, 50257).magnitude == approx(174.58e9, 1e-4)


def test_a3_train_flops_without_recompute():
    r = llmcalc.train_flops(174.6e9, 300e9, False)
    assert r.to("FLOP").magnitude == approx(3.1428e23, 1e-5)


def test_a3_train_days_gpt3_1024_a100():
    r = llmcalc.train_days(175e9, 300e9, 1024, "A100")
    assert r.to("day").magnitude == approx(33.81, 1e-3)
    assert r.to("s").magnitude == pytest.approx(2_921_341, abs=1)


def test_a3_train_gpus_for_30_days():
    n = llmcalc.train_gpus(175e9, 300e9, 30, "A100")
    assert n == 1155 and isinstance(n, int)  # article prints the unrounded ≈1154 (1154.1)
    assert "1,154" in "\n".join(n.explain().steps)


def test_a3_training_memory_and_min_gpus():
    assert llmcalc.train_memory_gb(175e9).to("GB").magnitude == approx(3500)
    assert llmcalc.train_min_gpus(175e9, "A100-80GB") == 44


def test_a3_inference_memory_rule():
    assert llmcalc.infer_memory_gb(175e9, "fp32").to("GB").magnitude == approx(840)
    assert llmcalc.infer_memory_gb(175e9, "fp16").to("GB").magnitude == approx(420)


def test_a3_communication_times():
    assert llmcalc.comm_seconds("500 GB", "200 Gb/s").to("s").magnitude == approx(20)
    assert llmcalc.comm_seconds("500 GB", "450 GB/s").to("s").magnitude == pytest.approx(1.1, abs=0.02)


def test_a3_naive_single_gpu_years():
    # "不考虑单卡在集群中的性能折损,至少需要32年": 3.1428e23 FLOP at 312 TFLOP/s on one GPU.
    years = llmcalc.train_days(174.6e9, 300e9, 1, "A100", mfu=1.0, recompute=False).to("year").magnitude
    assert years == pytest.approx(32, abs=0.5)


# ---------------------------------------------------------------- A2: serving LLaMA-2-70B
def test_a2_kv_bytes_per_token_is_320_kib():
    assert llmcalc.kv_bytes_per_token("llama-2-70b").to("B").magnitude == 327_680
    assert llmcalc.convert(327_680, "B", "KiB").magnitude == 320


def test_a2_kv_cache_4096_tokens():
    assert llmcalc.kv_cache_gb("llama-2-70b", 4096).to("GB").magnitude == approx(1.342)


def test_a2_fp16_weights_140gb():
    w = llmcalc.weights_gb("llama-2-70b", "fp16").to("GB").magnitude
    assert w == pytest.approx(138, abs=0.1)  # 68.98e9 x 2 B; the article rounds to 140 (2 x 70B)


def test_a2_compute_bound_past_156_tokens():
    n = llmcalc.compute_bound_tokens("A100", flops="312 TFLOP/s", bandwidth="2 TB/s")
    assert n.to("token").magnitude == approx(156)


def test_a2_prompt_cost():
    c = llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "prompt", 1, 512, **A2)
    assert c.to("USD/ktoken").magnitude == pytest.approx(0.00043, rel=0.02)  # article: $0.00042/1K


@pytest.mark.parametrize("batch,cost", [(1, 0.066), (8, 0.00825), (32, 0.00206)])
def test_a2_generation_cost_by_batch(batch, cost):
    c = llmcalc.cost_per_1k_tokens(70e9, "A100-80GB", "generated", batch, 512, **A2)
    assert c.to("USD/ktoken").magnitude == pytest.approx(cost, rel=0.01)


def test_a2_generation_speed_batch1():
    t = llmcalc.decode_tokens_per_s(70e9, "A100-80GB", 1, 512, **A2_TIME)
    assert t.to("token/s").magnitude == pytest.approx(18.6, abs=0.05)


def test_a2_generation_speed_8_gpus():
    t = llmcalc.decode_tokens_per_s(70e9, "A100-80GB", 1, 512, **{**A2_TIME, "gpus": 8})
    assert t.to("token/s").magnitude == pytest.approx(74.4, abs=0.2)


@pytest.mark.parametrize("tokens,lo,hi", [(512, 0.17, 0.18), (1536, 0.53, 0.54)])
def test_a2_prefill_latency(tokens, lo, hi):
    t = llmcalc.prefill_time(70e9, "A100-80GB", 1, tokens, **A2_TIME).to("s").magnitude
    assert lo <= t <= hi


@pytest.mark.parametrize("tokens,seconds", [(512, 2.9), (3596, 20.1)])
def test_a2_time_to_first_token_batch64_on_8_gpus(tokens, seconds):
    t = llmcalc.prefill_time(70e9, "A100-80GB", 64, tokens, **{**A2_TIME, "gpus": 8}).to("s").magnitude
    assert t == pytest.approx(seconds, rel=0.015)


def test_a2_prefill_ms_matches_prefill_time():
    ms = llmcalc.prefill_ms(70e9, "A100-80GB", 1, 512, **A2_TIME).to("ms").magnitude
    assert ms == pytest.approx(179.2, rel=1e-3)


# ---------------------------------------------------------------- A1: scaling ratios
def test_a1_chinchilla_params_for_2_5T_tokens():
    assert llmcalc.chinchilla_params("2.5T").to("parameter").magnitude == approx(125e9)  # "约在 120B 左右"


def test_a1_kaplan_ratio():
    assert llmcalc.chinchilla_params(2.5e12, 12.5).magnitude == approx(200e9)  # "190 到 200B 左右"


def test_a1_twenty_tokens_per_param():
    assert llmcalc.chinchilla_tokens("175B").to("token").magnitude == approx(3.5e12)


# ---------------------------------------------------------------- quantisation (A1, A2)
def test_quantised_weights_scale_with_bits():
    w16 = llmcalc.weights_gb(70e9, "fp16").magnitude
    assert llmcalc.weights_gb(70e9, "int4").magnitude == approx(w16 / 4)
    assert llmcalc.weights_gb(70e9, "int8").magnitude == approx(w16 / 2)


# ---------------------------------------------------------------- same numbers from the CLI and explain()
def _cli(*args):
    out = subprocess.run([sys.executable, "-m", "llmcalc.cli", *args], capture_output=True, text=True, timeout=60)
    return out


def test_cli_train_days_json():
    out = _cli("train-days", "175e9", "300e9", "1024", "A100", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["function"] == "LLM_TRAIN_DAYS" and data["value"] == approx(33.81)
    assert data["unit"] == "day"
    assert any("2,921,341 s" in s for s in data["explanation"]["steps"])


def test_cli_counts_and_units():
    assert _cli("train-gpus", "175B", "300B", "30", "A100").stdout.strip() == "1,155"
    assert _cli("comm-seconds", "500 GB", "200 Gb/s").stdout.strip() == "20 s"


def test_cli_bad_input_is_one_line():
    out = _cli("train-days", "175e9", "300e9", "0", "A100")
    assert out.returncode == 2
    assert out.stderr.strip() == "llmcalc: error: argument 'gpus': must be > 0, got 0"


def test_explain_names_formula_inputs_and_source():
    e = llmcalc.train_days(175e9, 300e9, 1024, "A100").explain()
    text = str(e)
    assert "k·P·D / (N · F_peak · MFU)" in text
    assert "3.120e+14 FLOP/s" in text and "0.45" in text
    assert "大模型训练相关参数估算" in text and "seeds/" not in text   # a readable citation, not a repository path
    assert "<table>" in e._repr_html_()
