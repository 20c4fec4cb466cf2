"""Arrival times of requests.

Poisson arrivals at rate λ: the gaps are independent exponential variables of mean 1/λ (the usual
model of many independent users; vLLM's and TensorRT-LLM's benchmark clients draw them the same
way). Seeded, so a run is reproducible.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError


def poisson(rate: float, *, duration: float | None = None, n: int | None = None, seed: int = 0) -> np.ndarray:
    """Sorted arrival times (s) of a Poisson process at ``rate`` per second, over ``duration`` seconds or
    for ``n`` requests."""
    rate = float(rate)
    if not (rate > 0 and np.isfinite(rate)):
        raise ArgumentError("requests_per_s", f"must be > 0 and finite, got {rate:g}")
    rng = np.random.default_rng(seed)
    if n is None:
        if duration is None or not duration > 0:
            raise ArgumentError("duration", "give a duration in seconds or a number of requests")
        n = int(rate * duration + 6.0 * np.sqrt(rate * duration) + 10)
        t = np.cumsum(rng.exponential(1.0 / rate, n))
        return t[t <= duration]
    return np.cumsum(rng.exponential(1.0 / rate, int(n)))
