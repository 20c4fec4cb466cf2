"""Invariants that must hold for any valid input (hypothesis)."""
import math

from hypothesis import given, settings, strategies as st

import llmcalc

params = st.floats(1e6, 1e13)
tokens = st.floats(1e6, 1e14)
gpus = st.integers(1, 100_000)
mfu = st.floats(0.01, 1.0)
gpu_names = st.sampled_from(["A100", "H100", "H200", "B200", "L40S", "MI300X", "TPU-v5p"])
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(params, tokens, gpus, gpus, gpu_names, mfu)
def test_days_times_gpus_is_constant(p, d, n1, n2, g, u):
    a = llmcalc.train_days(p, d, n1, g, u).magnitude * n1
    b = llmcalc.train_days(p, d, n2, g, u).magnitude * n2
    assert math.isclose(a, b, rel_tol=1e-9)


@FAST
@given(params, tokens, gpus, gpu_names)
def test_days_monotonic(p, d, n, g):
    base = llmcalc.train_days(p, d, n, g).magnitude
    assert llmcalc.train_days(p, d, n + 1, g).magnitude < base
    assert llmcalc.train_days(p * 1.01, d, n, g).magnitude > base
    assert llmcalc.train_days(p, d * 1.01, n, g).magnitude > base


@FAST
@given(params, tokens, st.floats(0.5, 3650), gpu_names)
def test_gpus_for_deadline_meets_it(p, d, days, g):
    try:
        n = llmcalc.train_gpus(p, d, days, g)
    except llmcalc.ArgumentError as e:  # more than 10 million GPUs: refused, never a silent number
        assert e.argument == "days" and "too little time" in str(e)
        return
    assert llmcalc.train_days(p, d, n, g).magnitude <= days * (1 + 1e-9)
    if n > 1:
        assert llmcalc.train_days(p, d, n - 1, g).magnitude > days * (1 - 1e-9)


@FAST
@given(st.floats(1e-3, 1e15), st.sampled_from([("GiB", "GB"), ("TB/s", "Gb/s"), ("day", "s"), ("TFLOP/s", "FLOP/s"), ("KiB", "B")]))
def test_unit_round_trip(x, units):
    a, b = units
    there = llmcalc.convert(x, a, b).magnitude
    assert math.isclose(llmcalc.convert(there, b, a).magnitude, x, rel_tol=1e-12)


@FAST
@given(params, st.sampled_from(["fp32", "bf16", "fp8", "int4"]))
def test_memory_monotonic_in_params_and_precision(p, dtype):
    assert llmcalc.weights_gb(p * 2, dtype).magnitude > llmcalc.weights_gb(p, dtype).magnitude
    assert llmcalc.infer_memory_gb(p, dtype).magnitude == llmcalc.weights_gb(p, dtype).magnitude * 1.2 or \
        math.isclose(llmcalc.infer_memory_gb(p, dtype).magnitude, 1.2 * llmcalc.weights_gb(p, dtype).magnitude)


@FAST
@given(st.integers(1, 64), st.integers(1, 8192), st.sampled_from(["llama-2-70b", "llama-3-8b", "mixtral-8x7b", "gpt-3"]))
def test_kv_cache_linear_in_batch_and_tokens(b, n, m):
    one = llmcalc.kv_bytes_per_token(m).magnitude
    assert math.isclose(llmcalc.kv_cache_gb(m, n, b).magnitude * 1e9, one * n * b, rel_tol=1e-12)


@FAST
@given(st.integers(1, 256), st.integers(16, 8192), st.integers(1, 8))
def test_decode_throughput_grows_with_batch_and_gpus(b, ctx, g):
    kw = dict(bandwidth_utilization=0.7, mfu=0.5)
    base = llmcalc.decode_tokens_per_s("llama-2-70b", "A100", b, ctx, g, **kw).magnitude
    assert llmcalc.decode_tokens_per_s("llama-2-70b", "A100", b + 1, ctx, g, **kw).magnitude >= base * (1 - 1e-12)
    assert llmcalc.decode_tokens_per_s("llama-2-70b", "A100", b, ctx, g + 1, **kw).magnitude > base
