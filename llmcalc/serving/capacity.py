"""How much traffic one replica serves within latency targets, and how many replicas a traffic needs.

* **Saturation**: the rate at which the fluid steady state (below) stops existing; above it queues
  grow without bound. A simulated rate counts as sustained only if its queue does not build up over
  the run (the median TTFT of the last quarter of the requests at most 1.5× that of the second).
* **Capacity within targets**: the highest Poisson arrival rate whose TTFT and TPOT percentiles stay
  within the targets, found by bisection on simulated runs that share their random numbers (the
  arrival gaps of rate λ are the same exponential draws divided by λ, so latency grows smoothly
  with λ). The first fifth of each run (the replica starting empty) is left out of the percentiles.
* **A fluid estimate** (:func:`fluid_step`) screens configurations before simulating them: in steady
  state at rate λ, a step of length t decodes n = λ·(O − 1)·t sequences and admits λ·t prompts, so t
  solves t = step(n + λ·P·t tokens, Σ context = n·(P + O/2)); no solution means saturation.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError
from . import metrics

WARMUP = 0.2


def _run(replica, prompt, output, **kw):
    return replica.run(prompt, output, **kw)


def saturation(replica, prompt: int, output: int) -> dict:
    """Metrics of an offline batch (every request queued at t = 0; :meth:`Replica.max_throughput`)."""
    key = ("sat", prompt, output)
    if key not in replica.cache:
        replica.cache[key] = replica.max_throughput(prompt, output)
    return replica.cache[key]


def stable(m: dict) -> bool:
    """The queue did not build up during the run: median TTFT of the last quarter of the requests ≤ 1.5× that
    of the second quarter (+ 1 ms)."""
    x = m["samples"]["ttft"]
    q = x.size // 4
    if q < 5:
        return True
    return float(np.median(x[3 * q:])) <= 1.5 * float(np.median(x[q:2 * q])) + 1e-3


def poisson_metrics(replica, rate: float, prompt: int, output: int, n_requests: int, seed: int = 0) -> dict:
    key = ("poisson", rate, prompt, output, n_requests, seed)
    if key not in replica.cache:
        gaps = np.random.default_rng(seed).exponential(1.0, n_requests)
        t = np.cumsum(gaps) / rate
        run = replica.run(prompt, output, arrival=t)
        replica.cache[key] = metrics.summarize(run, warmup=WARMUP)
    return replica.cache[key]


def alone(replica, prompt: int, output: int) -> tuple[float, float]:
    """(TTFT, mean TPOT) of a request alone on the replica, from the step table: the prompt in chunks of
    ``max_tokens``, then output − 1 decode steps of one sequence (what the simulator does for it)."""
    t = replica.times
    done, ttft, budget = 0, 0.0, replica.max_tokens
    while done < prompt:
        c = min(budget, prompt - done)
        ttft += t.base[c] + t.head[1 if done + c == prompt else 0] + t.prefill_attention(c, done) + t.eager
        done += c
    tpot = t.decode_run(1, prompt + 1, output - 1) / (output - 1) if output > 1 else 0.0
    return ttft, tpot


def _meets(m: dict, ttft_slo, tpot_slo, pct: float) -> bool:
    return stable(m) and ((ttft_slo is None or metrics.percentile(m, "ttft", pct) <= ttft_slo)
            and (tpot_slo is None or metrics.percentile(m, "tpot", pct) <= tpot_slo))


STABLE = 0.95   # capacity is searched below this fraction of the saturation rate (a queue at it never drains)


def capacity(replica, prompt: int, output: int, ttft_slo=None, tpot_slo=None, percentile: float = 90,
             n_requests: int | None = None) -> dict:
    """The highest request rate (requests/s) within the targets, with the metrics there.

    Returns {rate, metrics, saturation_rate, alone: (ttft, tpot), bound}. The search starts from the
    fluid estimate and bisects on simulated Poisson runs to within 4%. Raises ArgumentError
    naming the target that a request alone already misses."""
    pct = float(percentile)
    ttft1, tpot1 = alone(replica, prompt, output)
    if ttft_slo is not None and ttft1 > ttft_slo:
        raise ArgumentError("ttft_slo", f"cannot be met: one request alone waits {ttft1 * 1e3:.4g} ms for its first "
                                        f"token on {replica.describe()}, more than the {ttft_slo * 1e3:.4g} ms target")
    if tpot_slo is not None and tpot1 > tpot_slo:
        raise ArgumentError("tpot_slo", f"cannot be met: one request alone takes {tpot1 * 1e3:.4g} ms per output token "
                                        f"on {replica.describe()}, more than the {tpot_slo * 1e3:.4g} ms target")
    sat = fluid_capacity(replica, prompt, output)
    top = STABLE * sat
    n = n_requests or _n_requests(replica, prompt, output)
    ok = lambda m: _meets(m, ttft_slo, tpot_slo, pct)  # noqa: E731
    m_top = poisson_metrics(replica, top, prompt, output, n)
    result = dict(saturation_rate=sat, alone=(ttft1, tpot1))
    if ok(m_top):
        return dict(result, rate=top, metrics=m_top, bound="saturation")
    guess = min(fluid_capacity(replica, prompt, output, tpot_slo), top)
    lo, hi = 0.0, top
    m = poisson_metrics(replica, guess, prompt, output, n)
    best = None
    if ok(m):
        lo, best = guess, m
    else:
        hi = guess
        low = 0.6 * guess
        m = poisson_metrics(replica, low, prompt, output, n)
        if ok(m):
            lo, best = low, m
    while hi - lo > 0.04 * max(lo, 1e-9) and hi > 1e-6 * top:
        mid = 0.5 * (lo + hi)
        m = poisson_metrics(replica, mid, prompt, output, n)
        if ok(m):
            lo, best = mid, m
        else:
            hi = mid
    if best is None:                         # nothing above 1e-6 of saturation: one request at a time
        lo = hi
        best = poisson_metrics(replica, lo, prompt, output, n)
    which = [w for w, slo in (("ttft", ttft_slo), ("tpot", tpot_slo))
             if slo is not None and metrics.percentile(best, w, pct) > 0.8 * slo]
    return dict(result, rate=lo, metrics=best, bound=" and ".join(which) or "saturation")


def fluid_capacity(replica, prompt: int, output: int, tpot_slo=None) -> float:
    """The highest rate whose fluid step time stays under ``tpot_slo`` (or below saturation), by bisection."""
    lo, hi = 0.0, 1.0
    while fluid_step(replica, hi, prompt, output) is not None and hi < 1e7:
        lo, hi = hi, 2 * hi
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        t = fluid_step(replica, mid, prompt, output)
        if t is not None and (tpot_slo is None or t <= tpot_slo):
            lo = mid
        else:
            hi = mid
    return max(lo, 1e-9)


def _n_requests(replica, prompt, output) -> int:
    """Requests per simulated run: 4× the most the replica holds in flight (at least 300, at most 800), enough
    to reach the steady state and to fill the 90th percentile."""
    in_flight = min(replica.max_seqs, max(1, replica.kv_tokens // max(prompt + output, 1)))
    return int(min(max(300, 4 * in_flight), 800))


def fluid_step(replica, rate: float, prompt: int, output: int):
    """Mean step time (s) at a steady request ``rate``, or None when the rate saturates the replica."""
    t_tab = replica.times
    base, head = t_tab.base, t_tab.head
    max_tokens = len(base) - 1
    t = base[1]
    for _ in range(200):
        n = rate * max(output - 1, 0) * t
        pre = rate * prompt * t
        m = n + pre
        if m > max_tokens or n * (prompt + output) > replica.kv_tokens or n > replica.max_seqs:
            return None
        i = int(m)
        b = base[i] + (base[min(i + 1, max_tokens)] - base[i]) * (m - i)
        j = min(int(n + rate * t), len(head) - 1)
        new = (b + head[j] + t_tab.decode_attention(n * (prompt + 0.5 * output), n)
               + rate * t * t_tab.prefill_attention(prompt, 0))
        if abs(new - t) <= 1e-6 * t:
            return new
        if new > 50 * t and new > 1.0:
            return None
        t = new
    return t if math.isfinite(t) else None
