"""Throughput and latency distributions of a simulated run.

* TTFT (time to first token) = first token − arrival (queueing included);
* TPOT (time per output token) = (finish − first token) / (output − 1), requests with output > 1;
* E2E (end-to-end latency) = finish − arrival;
* throughput = output tokens / (last finish − first arrival); request rate likewise.

Each latency is summarised by its mean and its 50th, 90th and 99th percentiles (linear interpolation,
NumPy's default).
"""
from __future__ import annotations

import numpy as np

PERCENTILES = (50, 90, 99)


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"mean": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    out = {"mean": float(np.mean(x))}
    for p, v in zip(PERCENTILES, np.percentile(x, PERCENTILES)):
        out[f"p{p}"] = float(v)
    return out


def summarize(run) -> dict:
    """{throughput (output tokens/s), input_throughput, request_rate, span (s), ttft, tpot, e2e: {mean, p50, p90, p99},
    preemptions, max_running, max_blocks, steps, utilisation (busy / span)}."""
    span = float(np.max(run.finish) - np.min(run.arrival))
    multi = run.output > 1
    tpot = (run.finish[multi] - run.first[multi]) / (run.output[multi] - 1)
    return {
        "throughput": float(np.sum(run.output)) / span,
        "input_throughput": float(np.sum(run.prompt)) / span,
        "request_rate": run.output.size / span,
        "span": span,
        "ttft": _stats(run.first - run.arrival),
        "tpot": _stats(tpot),
        "e2e": _stats(run.finish - run.arrival),
        "preemptions": int(run.preemptions),
        "max_running": int(run.max_running),
        "max_blocks": int(run.max_blocks),
        "steps": int(run.steps),
        "utilisation": run.busy / span,
        "mean_in_system": run.in_system_time / span,
    }
