"""Step times of one serving replica, tabulated once so a simulation pays a few list look-ups per step.

A step of an in-flight batching engine processes ``M`` new tokens (decode tokens of the running
sequences plus prefill chunks) and costs (:func:`llmcalc.perf.serving_engine.step`):

    t = base[M] + head[R] + max(m·ΣC, a·ΣC + b·n_dec) + Σ_chunks p·pairs·(T + t0)/T

``base[M]``: GEMMs, MoE experts, fused memory-bound kernels, all-reduces and fixed overheads, all
functions of M only, tabulated for M = 0 … max_tokens, for a pure decode step; a step with a prefill
chunk adds ``eager`` (kernels launched one by one where decode steps replay a CUDA graph:
:func:`llmcalc.perf.serving_engine.kernel_seconds`); ``head[R]``: the LM head for R rows;
the attention coefficients come from :func:`llmcalc.perf.serving_engine.attention_coefficients`.
The table is exact: :meth:`StepTimes.step` equals the engine's step for the same batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..perf import serving_engine as se


@dataclass
class StepTimes:
    base: list            # seconds, index = tokens in the step
    head: list            # seconds, index = logit rows
    mem: float            # decode attention: seconds per cached position (KV read)
    mmha: float           # seconds per cached position (masked MHA compute; 0 for XQA)
    mmha_seq: float       # seconds per decode sequence (masked MHA per-block cost)
    pair: float           # prefill attention: seconds per (query, key) pair at T → ∞
    t0: float             # causal tile waste: pairs cost (T + t0)/T
    kernel: str
    eager: float = 0.0    # extra fixed seconds of a step with a prefill chunk (no CUDA-graph replay)

    @classmethod
    def build(cls, model, gpu, hw, eng, *, gpus, dtype, kv_dtype, max_tokens: int, max_rows: int, identical=False):
        M = np.arange(int(max_tokens) + 1, dtype=float)
        st = se.step(model, gpu, hw, eng, tokens=M, logits=0.0, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype,
                     distinct=1.0 if identical else None)
        base = [float(x) for x in np.broadcast_to(st.seconds, M.shape)]     # no attention, no logits
        R = np.arange(int(max_rows) + 1, dtype=float)
        h = se.step(model, gpu, hw, eng, tokens=0.0, logits=R, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype).terms["LM head"]
        head = [float(x) for x in np.broadcast_to(h, R.shape)]
        a = se.attention_coefficients(model, hw, eng, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype)
        eager = float(st.info["kernels"]) * (se.kernel_seconds(eng, False) - se.kernel_seconds(eng, True))
        return cls(base, head, a.mem_per_position, a.mmha_per_position, a.mmha_per_sequence, a.per_pair,
                   eng.fixed["t0"], a.kernel, eager)

    def decode_attention(self, sum_context: float, n_decode: int) -> float:
        m = self.mem * sum_context
        c = self.mmha * sum_context + self.mmha_seq * n_decode
        return m if m > c else c

    def decode_run(self, n: int, sum_context: float, k: int) -> float:
        """Seconds of ``k`` consecutive pure-decode steps of ``n`` sequences, the first attending to
        ``sum_context`` positions in all (each later step to ``n`` more): Σ_j base + head + attention(S + j·n),
        summed in closed form (attention is the larger of two lines in j, so the sum splits where they cross)."""
        c = self.base[n] + self.head[n]
        S, m, a, b = float(sum_context), self.mem, self.mmha, self.mmha_seq * n
        if a == 0.0 and b == 0.0:
            att = _line(m, 0.0, S, n, 0, k)
        elif m <= a:
            att = _line(a, b, S, n, 0, k)
        else:   # memory line (m·x) overtakes the compute line (a·x + b) at x* = b / (m − a)
            jx = (b / (m - a) - S) / n
            j = min(k, max(0, math.floor(jx) + 1))
            att = _line(a, b, S, n, 0, j) + _line(m, 0.0, S, n, j, k)
        return c * k + att

    def prefill_attention(self, chunk: int, past: int) -> float:
        """A prefill chunk of ``chunk`` new tokens after ``past`` cached ones."""
        pairs = chunk * (chunk + 1) * 0.5 + chunk * past
        return self.pair * pairs * (chunk + self.t0) / chunk

    def step(self, tokens: int, rows: int, sum_context: float, n_decode: int, chunks=()) -> float:
        """Seconds of one step; ``chunks`` = [(new tokens, cached tokens before them), …]."""
        t = self.base[tokens] + self.head[rows] + self.decode_attention(sum_context, n_decode)
        for c, past in chunks:
            t += self.prefill_attention(c, past)
        return t + (self.eager if chunks else 0.0)


def _line(slope, icept, S, n, j0, j1):
    """Σ_{j=j0}^{j1-1} slope·(S + j·n) + icept: steps j0 … j1−1 of a decode run on one line of
    :meth:`StepTimes.decode_run` (a module function: the simulator calls it on every decode run)."""
    cnt = j1 - j0
    if cnt <= 0:
        return 0.0
    return slope * (S * cnt + n * (j1 * (j1 - 1) - j0 * (j0 - 1)) * 0.5) + icept * cnt
