"""Throughput and latency distributions of a simulated run.

* TTFT (time to first token) = first token − arrival (queueing included);
* TPOT (time per output token) = (finish − first token) / (output − 1), requests with output > 1;
* E2E (end-to-end latency) = finish − arrival;
* throughput = output tokens / (last finish − first arrival); request rate likewise;
* steady throughput: requests finishing between the 20th and 80th percentile of finish times, per second,
  times their mean output (leaves out the ramp-up and the drain of a run; the saturation measure).

Each latency is summarised by its mean and its 50th, 90th and 99th percentiles (linear interpolation,
NumPy's default).
"""
from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 99)


def percentile(m: dict, metric: str, p: float) -> float:
    """The ``p``-th percentile (0–100) of ``metric`` ("ttft", "tpot", "e2e") of a summary, or its mean for p = None."""
    x = m["samples"][metric]
    if x.size == 0:
        return 0.0
    return float(np.mean(x)) if p is None else float(np.percentile(x, p))


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"mean": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    out = {"mean": float(np.mean(x))}
    for p, v in zip(PERCENTILES, np.percentile(x, PERCENTILES)):
        out[f"p{p}"] = float(v)
    return out


def summarize(run, warmup: float = 0.0) -> dict:
    """{throughput (output tokens/s), input_throughput, request_rate, span (s), ttft, tpot, e2e: {mean, p50, p90, p99},
    preemptions, max_running, max_blocks, steps, utilisation (busy / span)}.

    ``warmup``: the fraction of requests, first arrived first, left out of the latency statistics
    (a replica starting empty serves its first requests faster than in steady state)."""
    span = float(np.max(run.finish) - np.min(run.arrival))
    keep = np.arange(run.output.size) >= int(warmup * run.output.size)
    multi = (run.output > 1) & keep
    tpot = (run.finish[multi] - run.first[multi]) / (run.output[multi] - 1)
    ttft = (run.first - run.arrival)[keep]
    e2e = (run.finish - run.arrival)[keep]
    busy = run.busy if run.busy > 0 else 1.0
    order = np.argsort(run.finish)
    k1, k2 = int(0.2 * order.size), int(0.8 * order.size)
    f = run.finish[order]
    if k2 > k1 and f[k2] > f[k1]:
        steady_rate = (k2 - k1) / float(f[k2] - f[k1])
        steady_tput = steady_rate * float(np.mean(run.output[order[k1:k2]]))
    else:
        steady_rate, steady_tput = run.output.size / span, float(np.sum(run.output)) / span
    return {
        "throughput": float(np.sum(run.output)) / span,
        "input_throughput": float(np.sum(run.prompt)) / span,
        "request_rate": run.output.size / span,
        "span": span,
        "steady_request_rate": steady_rate,
        "steady_throughput": steady_tput,
        "ttft": _stats(ttft),
        "tpot": _stats(tpot),
        "e2e": _stats(e2e),
        "samples": {"ttft": ttft, "tpot": tpot, "e2e": e2e},
        "prefill_share": getattr(run, "prefill_busy", 0.0) / busy,
        "preemptions": int(run.preemptions),
        "max_running": int(run.max_running),
        "max_blocks": int(run.max_blocks),
        "steps": int(run.steps),
        "utilisation": run.busy / span,
        "mean_in_system": run.in_system_time / span,
    }
