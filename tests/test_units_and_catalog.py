"""Units (SI vs IEC bytes, bits vs bytes, dense FLOP/s), catalogs (sources, aliases, near matches)
and the regressions other calculators ship."""
import json

import numpy as np
import pytest

import llmcalc
from llmcalc import catalog
from llmcalc.errors import ArgumentError, UnknownNameError
from llmcalc.units import parse_quantity


# ---------------------------------------------------------------- units
@pytest.mark.parametrize("text,unit,expected", [
    ("80 GiB", "byte", 80 * 2**30),
    ("80 GB", "byte", 80e9),
    ("200 Gb/s", "byte/second", 25e9),          # bits, not giga-gilbert
    ("200 Gbps", "byte/second", 25e9),
    ("2 TB/s", "byte/second", 2e12),
    ("450 GB/s", "byte/second", 450e9),
    ("312 TFLOPS", "FLOP/second", 312e12),
    ("312 TFLOP/s", "FLOP/second", 312e12),
    ("$2.21/h", "USD/hour", 2.21),
    ("$2.21/GPU-h", "USD/hour", 2.21),
    ("2.21 USD per hour", "USD/hour", 2.21),
    ("4 weeks", "day", 28),
    ("1 KB", "byte", 1000),
    ("1 KiB", "byte", 1024),
])
def test_unit_strings(text, unit, expected):
    assert parse_quantity(text, "x", unit) == pytest.approx(expected)


@pytest.mark.parametrize("text,expected", [("175B", 175e9), ("1.4T tokens", 1.4e12), ("300e9", 300e9),
                                           ("7b", 7e9), ("65 billion", 65e9), ("1,000,000", 1e6)])
def test_count_suffixes(text, expected):
    assert parse_quantity(text, "tokens", "token", allow_count_suffix=True) == pytest.approx(expected)


def test_percent_fraction():
    r = llmcalc.train_days(175e9, 300e9, 1024, "A100", mfu="45%")
    assert r.magnitude == pytest.approx(33.81, rel=1e-3)


@pytest.mark.parametrize("text,needle", [
    ("80 GiB", "cannot be converted"), ("10**10**10", "exponents"), ("", "is empty"),
    ("1e999", "finite"), ("x" * 200, "too long"), ("12 zorkmids", "not known"), ("__import__('os')", "characters"),
])
def test_bad_unit_strings_name_the_argument(text, needle):
    with pytest.raises(ArgumentError) as e:
        llmcalc.train_days(175e9, text, 1024, "A100")
    assert e.value.argument == "tokens" and needle in str(e.value)


def test_params_text_that_is_not_a_number_is_a_model_name():
    with pytest.raises(UnknownNameError, match="unknown model"):
        llmcalc.train_days("__import__('os')", 300e9, 1024, "A100")
    with pytest.raises(UnknownNameError) as e:       # the message says a number was welcome too
        llmcalc.train_days("abc", 300e9, 1024, "A100")
    assert str(e.value) == ("argument 'params': unknown model 'abc' "
                            '(or give a parameter count: 175e9, "175B", "7 billion")')
    assert llmcalc.train_days("7 billion", 300e9, 1024, "A100").magnitude == pytest.approx(33.81 * 7 / 175, rel=1e-3)
    with pytest.raises(ArgumentError, match="too long"):
        llmcalc.train_days("x" * 200, 300e9, 1024, "A100")


def test_bytes_are_not_parameters():
    with pytest.raises(ArgumentError, match="cannot be converted to parameter"):
        llmcalc.train_flops("80 GB", 300e9)


def test_bandwidth_gb_per_s_is_decimal():
    # 1 GB/s = 1e9 bytes/s, not 2^30: 500 GB over 500 GB/s is exactly one second.
    assert llmcalc.comm_seconds("500 GB", "500 GB/s").magnitude == pytest.approx(1.0)
    assert llmcalc.comm_seconds("500 GiB", "500 GB/s").magnitude == pytest.approx(2**30 / 1e9)


def test_convert_units():
    assert llmcalc.convert(80, "GiB", "GB").magnitude == pytest.approx(85.899, rel=1e-4)
    assert llmcalc.convert(200, "Gb/s", "GB/s").magnitude == pytest.approx(25)
    assert llmcalc.convert(1, "day", "h").magnitude == pytest.approx(24)
    with pytest.raises(ArgumentError, match="to_unit"):
        llmcalc.convert(1, "GB", "s")


def test_results_are_quantities_and_counts_are_ints():
    assert llmcalc.train_days(175e9, 300e9, 1024, "A100").units == llmcalc.ureg().day
    assert isinstance(llmcalc.train_gpus(175e9, 300e9, 30, "A100"), int)


# ---------------------------------------------------------------- catalogs
@pytest.mark.parametrize("alias,name", [("A100", "A100-SXM4-80GB"), ("a100-80gb", "A100-SXM4-80GB"),
                                        ("A100-40GB", "A100-SXM4-40GB"), ("h100", "H100-SXM5-80GB"),
                                        ("H200", "H200-SXM-141GB"), ("mi300x", "MI300X"), ("TPU v5e", "TPU-v5e"),
                                        ("L40S", "L40S"), ("L4", "L4"), ("B200", "B200"), ("tpu-v5p", "TPU-v5p"),
                                        ("H800", "H800-SXM5-80GB"), ("a800", "A800-SXM4-80GB"), ("H20", "H20"),
                                        ("b300", "B300"), ("GB300", "GB300 (per GPU)"), ("mi355x", "MI355X"),
                                        ("RTX 4090", "RTX-4090")])
def test_gpu_aliases(alias, name):
    assert llmcalc.gpu(alias).name == name


@pytest.mark.parametrize("alias,name", [("llama-2-70b", "Llama-2-70B"), ("LLAMA 2 70B", "Llama-2-70B"),
                                        ("gpt-3", "GPT-3 175B"), ("mixtral-8x7b", "Mixtral-8x7B-v0.1"),
                                        ("qwen2.5-72b", "Qwen2.5-72B"), ("gemma-2-9b", "Gemma-2-9B"),
                                        ("deepseek-v3", "DeepSeek-V3"), ("llama-3.1-405b", "Llama-3.1-405B"),
                                        ("llama-65b", "LLaMA-1 65B"), ("mistral-7b", "Mistral-7B-v0.1"),
                                        ("meta-llama/Llama-3.3-70B-Instruct", "Llama-3.3-70B"),
                                        ("llama-3.3-70b-instruct", "Llama-3.3-70B"), ("deepseek-r1", "DeepSeek-R1"),
                                        ("Falcon 180B", "Falcon-180B"), ("GPT-J 6B", "GPT-J-6B"),
                                        ("EleutherAI/gpt-j-6b", "GPT-J-6B"), ("Qwen/Qwen3-32B", "Qwen3-32B"),
                                        ("qwen2.5-32b-instruct", "Qwen2.5-32B"), ("Qwen3 30B A3B", "Qwen3-30B-A3B"),
                                        ("mistral-large-2407", "Mistral-Large-Instruct-2407"),
                                        ("nemotron-4-340b-instruct", "Nemotron-4-340B"), ("dbrx-instruct", "DBRX"),
                                        ("xai-org/grok-1", "Grok-1"), ("llama-4-scout", "Llama-4-Scout-17B-16E"),
                                        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", "Llama-4-Maverick-17B-128E")])
def test_model_aliases(alias, name):
    assert llmcalc.model(alias).name == name


def test_unknown_names_list_near_matches():
    with pytest.raises(UnknownNameError) as e:
        llmcalc.gpu("H10")
    assert "H100" in str(e.value) and e.value.argument == "gpu"
    with pytest.raises(UnknownNameError, match="Llama-2-70B"):
        llmcalc.train_days("llama-2-70", 1e12, 8, "H100")


def test_every_catalog_entry_has_a_source():
    for g in catalog.gpus():
        assert g.source.startswith("http"), g.name
        if g.price_per_hour is not None:
            assert g.price_date and "http" in g.price_source, g.name
    for m in catalog.models():
        assert "http" in m.source, m.name


def test_required_gpus_have_dense_peaks():
    # Dense tensor-core figures, not sparse and not fp32 CUDA-core (H100 SXM datasheet: 1,979* sparse).
    assert llmcalc.gpu("H100").peak_flops("bf16") == 989e12
    assert llmcalc.gpu("A100").peak_flops("bf16") == 312e12
    assert llmcalc.gpu("A100").peak_flops("fp32") == 19.5e12
    assert llmcalc.gpu("H100", "fp8_TFLOPS").magnitude == 1979
    for name in ["A100-40GB", "A100-80GB", "H100", "H100-PCIe", "H200", "B200", "L40S", "L4", "MI300X", "TPU-v5e", "TPU-v5p"]:
        g = llmcalc.gpu(name)
        assert g.peak_flops("bf16") > 0 and g.bandwidth > 0 and g.memory_bytes > 0


def test_memory_capacity_is_exact_bytes():
    assert llmcalc.gpu("A100-80GB").memory_bytes == 80 * 2**30
    assert llmcalc.gpu("H100").memory_bytes == 81559 * 2**20  # nvidia-smi
    assert llmcalc.gpu("A100", "memory_label_GB").magnitude == 80


@pytest.mark.parametrize("name", [m.name for m in catalog.models()])
def test_exact_params_match_reference(name):
    """models.csv carries an independent recount (../shared/reference/SOURCES.md §5), printed in
    billions to a few decimals: the exact count from the catalog's own fields agrees to within half
    of the last printed digit (GPT-3 13B: 12.936B with attention width 40 x 128 = 5,120, not 12.953B)."""
    row = catalog.model_rows()[name]
    text = row["params_reference_B"]
    half_digit = 0.5 * 10.0 ** -len(text.partition(".")[2]) * 1e9
    # Chinchilla's recount (64.95B) leaves out the linear biases the catalog assumes (GPT-style, as
    # the reference's ffn_type says): 80 layers x (4·d attention + ffn + d MLP) = 5.9M
    m = llmcalc.model(name)
    biases = m.layers * (4 * m.hidden + m.ffn + m.hidden) if name == "Chinchilla-70B" else 0
    assert m.params() - biases == pytest.approx(float(text) * 1e9, abs=half_digit * 1.0001)
    if row["params_active_reference_B"]:
        assert llmcalc.model(name).params(active=True) == pytest.approx(float(row["params_active_reference_B"]) * 1e9, rel=2e-4)


# ---------------------------------------------------------------- catalog data audit
def test_a10g_has_no_published_peak_and_the_gpu_is_blamed():
    # NVIDIA publishes no dense tensor peak for the AWS-only A10G: no 0.0, and the error names 'gpu'
    # (train_days has no 'dtype' argument to blame).
    assert llmcalc.gpu("A10G").peak == {}
    with pytest.raises(ArgumentError) as e:
        llmcalc.train_days(175e9, 300e9, 1024, "A10G")
    assert e.value.argument == "gpu" and "no published dense tensor-core peak" in str(e.value)
    with pytest.raises(ArgumentError) as e:            # a GPU with other peaks: the format is the problem
        llmcalc.prefill_time("llama-2-7b", "A100", 1, 512, dtype="fp8")
    assert e.value.argument == "dtype" and "bf16" in str(e.value)


def test_interconnect_text_keeps_its_parentheses():
    text = llmcalc.gpu("H100").interconnect
    assert text == "NVLink 4 (18 links) + NVSwitch, bidirectional aggregate (450 per direction)"
    for g in catalog.gpus():
        assert g.interconnect.count("(") == g.interconnect.count(")"), g.name


@pytest.mark.parametrize("name, field, value", [
    ("Gaudi2", "interconnect_GBps", 600),      # 24 x 100 GbE = 300 GB/s per direction (Intel, Hot Chips 2024)
    ("Gaudi3", "interconnect_GBps", 1200),     # 24 x 200 GbE = 600 GB/s per direction
    ("H100", "interconnect_GBps", 900),        # the column is both directions for every GPU
    ("B200", "fp32_TFLOPS", 75),               # HGX B200 table (80 is GB200's)
    ("B200", "bandwidth_TBps", 7.7),           # HGX B200 table; the DGX B200 datasheet says 8 (64 TB/s / 8)
    ("GB200", "tdp_W", 1200),                  # per GPU in GB200
    ("MI250X", "tdp_W", 500),                  # 560 W is the peak board power
    ("H100-PCIe", "memory_GiB", 81559 / 1024),  # nvidia-smi: 81,559 MiB, as the SXM part
    ("V100-16GB", "memory_GiB", 16),           # nvidia-smi: 16,384 MiB
    ("GH200", "memory_GiB", 97871 / 1024),     # nvidia-smi on Lambda's GH200: 97,871 MiB
    ("V100-16GB", "price_per_hour", 0.79),     # Lambda's "8x Tesla V100" are 16 GB parts
    ("H800", "interconnect_GBps", 400),        # DeepSeek (ISCA 2025): H800 SXM NVLink 900 -> 400 GB/s
    ("H800", "bf16_TFLOPS", 989),              # dense, as H100 SXM5
    ("A800", "interconnect_GBps", 400),        # the A100 with NVLink 600 -> 400 GB/s
    ("H20", "bf16_TFLOPS", 148),               # capped Hopper: dense BF16 148
    ("B300", "bf16_TFLOPS", 2250),             # HGX B300: FP16/BF16 36 PFLOPS sparse per 8 GPUs
    ("B300", "fp4_TFLOPS", 13500),             # HGX B300: FP4 "144 | 108 PFLOPS" sparse | dense per 8 GPUs
    ("GB300", "fp4_TFLOPS", 15000),            # GB300 NVL72: 1,080 PFLOPS without sparsity / 72
    ("MI355X", "memory_GiB", 288),             # ROCm: 288 GiB
    ("MI355X", "bf16_TFLOPS", 2516.6),         # 2400 MHz x 1024 matrix cores x 512 FMA x 2 (AMD prints 2.5 PF)
    ("RTX 4090", "bf16_TFLOPS", 165.2),        # Ada whitepaper: FP32 accumulate (FP16 accumulate is 330.3)
])
def test_audited_catalog_values(name, field, value):
    assert llmcalc.gpu(name, field).magnitude == pytest.approx(value, rel=1e-9)


def test_v100_32gb_does_not_carry_the_16gb_price():
    assert llmcalc.gpu("V100-32GB").price_per_hour is None


def test_moe_entries_count_what_their_cards_count():
    # Llama 4 Maverick: MoE every second layer, stored as 24 dense + 24 MoE layers (order-free counts)
    mav = llmcalc.model("llama-4-maverick")
    assert (mav.dense_layers, mav.moe_layers, mav.shared_experts) == (24, 24, 1)
    assert mav.params(active=True) == pytest.approx(17.2e9, rel=0.01)


def test_model_fields_as_their_configs_say():
    assert llmcalc.model("deepseek-v3").max_context == 163_840           # config max_position_embeddings
    assert llmcalc.model("chinchilla").norm == "rmsnorm"                   # Gopher's design: RMSNorm
    assert "163,840" in catalog.model_rows()["DeepSeek-V3"]["notes"]


_ISO_DATE = r"^(19|20)\d\d-[01]\d-[0-3]\d\b"


def test_every_price_row_names_a_catalog_gpu_and_carries_a_date():
    import re
    rows = catalog.prices()
    assert len(rows) >= 46
    for r in rows:
        g = llmcalc.gpu(r["gpu"])                                          # resolves (names and aliases)
        assert re.match(_ISO_DATE, r["page_date"]), (r["provider"], r["gpu"], r["page_date"])
        assert r["page_url"].startswith("http") and float(r["usd_per_gpu_hour"]) > 0, g.name
        if "Spot/Flex-start only" in r["notes"]:                          # not sold on demand
            assert not r["pricing_type"].startswith("on-demand"), r["instance_or_sku"]
    for g in catalog.gpus():
        if g.price_per_hour is not None:
            assert re.match(_ISO_DATE, g.price_date), g.name
            assert any(r["gpu"] and llmcalc.gpu(r["gpu"]).name == g.name and float(r["usd_per_gpu_hour"]) == pytest.approx(
                g.price_per_hour, rel=0.01) for r in rows), f"{g.name}: its typical price is one of the price rows"


def test_hf_config_json(tmp_path):
    cfg = {"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
           "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 32000, "tie_word_embeddings": False,
           "max_position_embeddings": 4096, "hidden_act": "silu", "_name_or_path": "meta-llama/Llama-2-70b-hf"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert llmcalc.model(str(path)).params() == llmcalc.model("llama-2-70b").params()
    assert llmcalc.kv_bytes_per_token(str(path)).magnitude == 327_680
    with pytest.raises(ArgumentError, match="does not exist"):
        llmcalc.model(str(tmp_path / "missing.json"))


def test_model_object_accepted_everywhere():
    m = llmcalc.Model(layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=128256)
    assert m.params() == llmcalc.model("llama-3-8b").params()
    assert llmcalc.weights_gb(m).magnitude == pytest.approx(m.params() * 2 / 1e9)


# ---------------------------------------------------------------- regressions other calculators ship
def test_kv_cache_counts_k_and_v_and_uses_kv_heads():
    # LLaMA-2-70B is GQA with 8 KV heads: 2 x 80 x 8 x 128 x 2 B, not 80 x 64 x 128 x 2 (MHA, K only).
    assert llmcalc.kv_bytes_per_token("llama-2-70b").magnitude == 2 * 80 * 8 * 128 * 2
    mqa = llmcalc.Model(layers=10, hidden=1024, heads=16, kv_heads=1)
    assert mqa.attention == "mqa" and llmcalc.kv_bytes_per_token(mqa).magnitude == 2 * 10 * 1 * 64 * 2
    mha = llmcalc.Model(layers=10, hidden=1024, heads=16)
    assert llmcalc.kv_bytes_per_token(mha).magnitude == 2 * 10 * 16 * 64 * 2


def test_kv_cache_mla_is_compressed():
    # DeepSeek-V3 MLA caches kv_lora_rank + rope = 576 values per layer (SOURCES.md §5).
    assert llmcalc.kv_bytes_per_token("deepseek-v3").magnitude == 61 * 576 * 2


def test_kv_cache_divided_across_tensor_parallel_gpus():
    one = llmcalc.kv_cache_gb("llama-2-70b", 4096, 8).magnitude
    assert llmcalc.kv_cache_gb("llama-2-70b", 4096, 8, "fp16", 2).magnitude == pytest.approx(one / 2)


def test_swiglu_uses_three_matrices_of_intermediate_size():
    gated = llmcalc.Model(layers=1, hidden=100, heads=1, ffn=300, vocab=0, ffn_type="swiglu")
    plain = llmcalc.Model(layers=1, hidden=100, heads=1, ffn=300, vocab=0, ffn_type="gelu")
    assert gated.mlp_params() == 3 * 100 * 300 and plain.mlp_params() == 2 * 100 * 300


def test_moe_total_vs_active():
    m = llmcalc.model("mixtral-8x7b")
    assert m.params() == pytest.approx(46.70e9, rel=1e-3) and m.params(active=True) == pytest.approx(12.88e9, rel=1e-3)


def test_tied_embeddings_not_counted_twice():
    tied = llmcalc.model("llama-3.2-1b")
    assert not llmcalc.model("llama-3-8b").tied_embeddings and tied.tied_embeddings
    assert tied.lm_head_params() == 0


def test_peaks_are_dense_not_sparse_and_not_fp32():
    days_bf16 = llmcalc.train_days(175e9, 300e9, 1024, "H100").magnitude
    assert days_bf16 == pytest.approx(33.81 * 312 / 989, rel=1e-3)


def test_vectorised_gpu_sweep_gives_column():
    days = llmcalc.train_days(175e9, 300e9, [[256], [512], [1024]], "A100")
    assert days.magnitude.shape == (3, 1)
    assert days.magnitude[:, 0] == pytest.approx([135.247, 67.624, 33.812], rel=1e-4)
    n = llmcalc.train_gpus(175e9, 300e9, np.array([30, 60]), "A100")
    assert n.tolist() == [1155, 578]


def test_serving_memory_is_weights_plus_kv_split_over_gpus():
    # LLaMA-2-70B on 2 GPUs, batch 8 x 4096 tokens: (137.95 GB + 8 x 1.342 GB) / 2 (article 2 §5).
    per_gpu = llmcalc.serving_memory_gb("llama-2-70b", 8, 4096, "fp16", None, 2).to("GB").magnitude
    assert per_gpu == pytest.approx((137.953 + 8 * 1.34218) / 2, rel=1e-4)


def test_non_finite_result_is_its_own_error():
    # Each input is valid, the result overflows: a distinct error (a spreadsheet shows #NUM!).
    from llmcalc.errors import NonFiniteResultError
    with pytest.raises(NonFiniteResultError):
        llmcalc.comm_seconds(1e30, 1e-300)  # 1e330 s
