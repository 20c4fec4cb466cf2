"""``mfu="auto"`` for the articles' training functions: the MFU of the best layout on the cluster.

When ``LLM_TRAIN_DAYS`` / ``LLM_TRAIN_GPUS`` / ``LLM_TRAIN_GPU_HOURS`` / ``LLM_TRAIN_COST`` get a
model (not a bare parameter count) and ``mfu="auto"``, the run is timed instead of assumed: the
layout search (:func:`llmcalc.parallel.search.search`) finds the fastest layout of the GPU count,
and the training time is (tokens / tokens per step) × step time. The batch shape is an assumption
stated in the explanation: sequences of the model's context up to 8,192 tokens (GPT-3: 2,048;
Llama 2: 4,096; Llama 3: 8,192 — the pre-training lengths of these families), and a global batch of
max(4 Mi tokens, 1,024 tokens per GPU) (GPT-3 used 3.2M, Llama 2 4M, Llama 3 405B 16M on 16K GPUs).
"""
from __future__ import annotations

import math

from ..errors import ArgumentError
from .search import PlanSearch, search

DEFAULT_GPUS = 1024            # LLM_TRAIN_GPU_HOURS / LLM_TRAIN_COST without a GPU count: the articles' cluster
MAX_SEQ = 8192
BATCH_TOKENS = 4 * 2 ** 20
TOKENS_PER_GPU = 1024


def shape(model, gpus: int) -> tuple[int, int]:
    """(sequence length, global batch in sequences) assumed for a pre-training run of ``model`` on ``gpus``."""
    seq = int(min(model.max_context, MAX_SEQ))
    tokens = max(BATCH_TOKENS, TOKENS_PER_GPU * gpus)
    return seq, max(1, int(round(tokens / seq)))


def best(model, gpu, gpus: int) -> PlanSearch:
    seq, gbs = shape(model, gpus)
    return search(model, gpu, gpus, seq, gbs)


def seconds(model, tokens, r: PlanSearch) -> float:
    """Wall-clock seconds to train on ``tokens``: steps × step time."""
    return tokens / (r.best.seq * r.best.global_batch) * r.best.seconds


def nice(n: float) -> int:
    """The GPU count a cluster would be ordered in: n rounded up to a multiple of 8, and of 1/8 of its power of two above 64."""
    n = max(int(math.ceil(n - 1e-9)), 1)
    step = 8 if n <= 64 else 2 ** (int(math.log2(n)) - 3)
    return int(math.ceil(n / step) * step)


def gpus_for_deadline(model, gpu, tokens, deadline_s: float, guess: float) -> tuple[int, PlanSearch]:
    """The smallest "nice" GPU count whose best layout trains on ``tokens`` within ``deadline_s``.

    Fixed point of N ← N · t(N) / deadline (the MFU changes slowly with N), then a step up until the
    deadline holds. ``guess`` is the articles' estimate at 45% MFU."""
    n = nice(guess)
    tried = {}
    for _ in range(12):
        if n > 10_000_000:
            raise ArgumentError("days", "leaves too little time: more than 10,000,000 GPUs would be needed")
        try:
            r = tried[n] if n in tried else best(model, gpu, n)
        except ArgumentError:
            n = nice(n * 1.125 + 1)
            continue
        tried[n] = r
        t = seconds(model, tokens, r)
        if t <= deadline_s:
            smaller = nice(n * t / deadline_s)
            if smaller >= n or smaller in tried:
                return n, r
            n = smaller
        else:
            n = max(nice(n * t / deadline_s), nice(n + 1))
    ok = [(k, v) for k, v in tried.items() if seconds(model, tokens, v) <= deadline_s]
    if not ok:
        raise ArgumentError("days", "no GPU count found that meets the deadline")
    return min(ok, key=lambda kv: kv[0])
