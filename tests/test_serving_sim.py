"""The in-flight batching simulator (llmcalc/serving): queueing laws, the KV-cache limit, and agreement
with the step-time model it is built on (llmcalc/perf/serving_engine.py)."""
import numpy as np
import pytest

from llmcalc import ArgumentError, catalog
from llmcalc.perf import serving_engine as se
from llmcalc.perf.profile import hardware
from llmcalc.serving import Limits, Replica, StepTimes, arrivals, metrics, simulate


@pytest.fixture(scope="module")
def h100_8b():
    return Replica("llama-3-8b", "H100", dtype="fp8")


def test_step_table_equals_the_engine_step():
    m, g = catalog.model("mistral-7b"), catalog.gpu("A100")
    hw, eng = hardware(g), se.engine("trtllm-0.9")          # masked MHA path (group of 4)
    t = StepTimes.build(m, g, hw, eng, gpus=1, dtype="fp16", kv_dtype="fp16", max_tokens=4096, max_rows=512)
    # a mixed step: 40 decode sequences with 50,000 cached positions in all + one 1,000-token chunk after 500 cached
    want = se.step(m, g, hw, eng, tokens=1040, logits=41, prefill_pairs=1000 * 1001 / 2 + 1000 * 500,
                   prefill_len=1000, decode_context=50_000 + 40, decode_seqs=40, dtype="fp16").seconds
    assert t.step(1040, 41, 50_000 + 40, 40, [(1000, 500)]) == pytest.approx(float(want), rel=1e-12)
    # k pure-decode steps in closed form = the sum of the steps
    steps = sum(t.step(40, 40, 50_000 + 40 * (j + 1), 40) for j in range(300))
    assert t.decode_run(40, 50_000 + 40, 300) == pytest.approx(steps, rel=1e-12)


def test_static_batch_is_reproduced():
    """All requests at t = 0, room for the whole batch: one prefill then output−1 decode steps, exactly the
    static-batch time of the engine model (the TensorRT-LLM gptSessionBenchmark convention)."""
    m, g = catalog.model("llama-2-7b"), catalog.gpu("H100")
    hw, eng = hardware(g), se.engine("trtllm-0.9")
    B, inp, out = 16, 256, 64
    t = StepTimes.build(m, g, hw, eng, gpus=1, dtype="fp8", kv_dtype="fp8", max_tokens=B * inp, max_rows=B * inp)
    run = simulate(t, Limits(B, B * inp, 10**6), inp, out, arrival=np.zeros(B))
    total, pre = se.static_batch(m, g, hw, eng, B, inp, out, dtype="fp8")
    assert run.finish.max() == pytest.approx(total, rel=1e-9)
    assert run.first.max() == pytest.approx(pre, rel=1e-9)


def test_low_rate_latencies_are_the_single_request_step_model(h100_8b):
    r = h100_8b
    res = metrics.summarize(r.run(1000, 50, arrival=np.arange(40) * 2.0))     # one request at a time
    assert res["max_running"] == 1
    pre = se.prefill(r.model, r.gpu, r.hw, r.engine, 1, 1000, dtype="fp8").seconds
    dec = se.decode(r.model, r.gpu, r.hw, r.engine, 1, 1000 + np.arange(1, 50), dtype="fp8").seconds
    assert res["ttft"]["p50"] == pytest.approx(float(pre), rel=1e-9)
    assert res["tpot"]["mean"] == pytest.approx(float(np.mean(dec)), rel=1e-9)
    assert res["e2e"]["p99"] == pytest.approx(float(pre + np.sum(dec)), rel=1e-9)


@pytest.mark.parametrize("concurrency", [1, 8, 96])
def test_littles_law_closed_loop(h100_8b, concurrency):
    """N clients in a closed loop: always N requests in the system, so throughput × latency = N."""
    res = h100_8b.closed_loop(concurrency, 800, 120, n_requests=30 * concurrency)
    assert res["request_rate"] * res["e2e"]["mean"] == pytest.approx(concurrency, rel=0.02)
    assert res["mean_in_system"] == pytest.approx(concurrency, rel=0.02)


def test_littles_law_poisson(h100_8b):
    """Open loop: the time-averaged number in the system (counted step by step) = arrival rate × mean latency."""
    res = h100_8b.poisson(12, 1500, 300, duration=600, seed=1)
    assert res["request_rate"] == pytest.approx(12, rel=0.05)
    assert res["mean_in_system"] == pytest.approx(res["request_rate"] * res["e2e"]["mean"], rel=0.03)


def test_never_more_than_the_kv_cache_holds():
    """Long prompts, everything queued: the cache is the limit; sequences are preempted, never overbooked."""
    prompt, out = 3000, 1000
    greedy = Replica("llama-3.1-70b", "A100", gpus=4, dtype="fp16", policy="greedy")     # vLLM-style admission
    run = greedy.run(prompt, out, arrival=np.zeros(400))
    assert run.max_blocks <= greedy.kv_blocks
    per_seq = -(-prompt // greedy.block_size)                  # blocks of a sequence that has just been admitted
    assert run.max_running <= greedy.kv_blocks // per_seq
    assert run.preemptions > 0                                 # the scheduler had to give blocks back
    # TensorRT-LLM's default admission reserves the whole sequence: never more than the cache holds, no preemption
    safe = Replica("llama-3.1-70b", "A100", gpus=4, dtype="fp16")
    run2 = safe.run(prompt, out, arrival=np.zeros(400))
    assert run2.preemptions == 0 and run2.max_blocks <= safe.kv_blocks
    assert run2.max_running <= safe.kv_blocks // -(-(prompt + out) // safe.block_size)
    assert metrics.summarize(run2)["throughput"] > metrics.summarize(run)["throughput"]   # no recomputation
    assert np.all(np.isfinite(run.finish)) and np.all(run.finish >= run.first) and np.all(run.first > run.arrival)


def test_more_load_more_latency_and_throughput_saturates(h100_8b):
    lo = h100_8b.poisson(2, 1500, 300, duration=300)
    hi = h100_8b.poisson(18, 1500, 300, duration=300)
    top = h100_8b.max_throughput(1500, 300)
    assert hi["tpot"]["p50"] > lo["tpot"]["p50"] and hi["ttft"]["p99"] > lo["ttft"]["p99"]
    assert lo["throughput"] < hi["throughput"] < top["throughput"]
    assert top["throughput"] == pytest.approx(7400, rel=0.25)     # output tok/s of one H100 (model value)


def test_arrivals_are_poisson_and_checked():
    t = arrivals.poisson(20, duration=1000, seed=0)
    gaps = np.diff(t)
    assert len(t) == pytest.approx(20_000, rel=0.03)
    assert gaps.mean() == pytest.approx(1 / 20, rel=0.03) and gaps.std() == pytest.approx(1 / 20, rel=0.05)
    with pytest.raises(ArgumentError, match="requests_per_s"):
        arrivals.poisson(0, duration=10)


def test_a_request_larger_than_the_cache_is_refused():
    r = Replica("llama-3.1-70b", "H100", gpus=2, dtype="fp8")
    with pytest.raises(ArgumentError, match="prompt"):
        r.run(r.kv_tokens, 10, arrival=[0.0])
    with pytest.raises(ArgumentError, match="gpus"):
        Replica("llama-3.1-405b", "H100", gpus=1, dtype="fp8")


def test_metrics_percentiles():
    class R:
        arrival = np.zeros(4)
        first = np.array([1.0, 2.0, 3.0, 4.0])
        finish = np.array([2.0, 4.0, 6.0, 8.0])
        prompt = np.full(4, 10)
        output = np.array([2, 3, 1, 5])
        steps = busy = in_system_time = max_blocks = max_running = preemptions = 0
    s = metrics.summarize(R())
    assert s["ttft"]["mean"] == 2.5 and s["ttft"]["p50"] == 2.5
    assert s["tpot"]["mean"] == pytest.approx((1.0 + 1.0 + 1.0) / 3)      # the 1-token request has no TPOT
    assert s["throughput"] == pytest.approx(11 / 8)
