"""Performance model: predicted time of prefill, decode steps and training steps on a GPU.

Interface used by :mod:`llmcalc.api` (keep it stable):

* ``prefill(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate``
* ``decode_step(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate``
* ``train_step(model, gpu, micro_batch, seq, recompute=False, profile=None) -> Estimate``
* ``efficiencies(gpu, dtype="bf16", profile=None) -> (matmul_fraction, bandwidth_fraction)``
* ``peak_memory(model, gpu, kind, batch, tokens, …) -> Estimate`` (``seconds`` holds bytes)

``batch``/``tokens``/``context`` may be NumPy arrays (they broadcast).

The model is a per-operator roofline (:mod:`.operators`) of the reference engine
(:mod:`.engine`) with the achievable ceilings, shape parameters and overheads of a GPU
profile (:mod:`.profile`): fitted on the H100 calibration file for the H100, derived from
datasheets for other GPUs, or measured by ``llmcalc calibrate``. See ``docs/performance.md``.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from ..hardware import DTYPE_BYTES
from . import engine
from . import memory as _memory
from .profile import Profile, derived, load, measured, resolve, user_profile_path  # noqa: F401

__all__ = ["Estimate", "prefill", "decode_step", "train_step", "efficiencies", "peak_memory", "Profile",
           "resolve", "measured", "derived", "load", "user_profile_path"]


class Estimate:
    """A predicted time (or, for :func:`peak_memory`, bytes) with its breakdown.

    ``seconds``: float or ndarray; ``terms``: name → seconds (they add up to ``seconds``);
    ``bound``: which term dominates, in words; ``lines``: explanation lines (built on first use).
    """

    def __init__(self, seconds, terms=None, bound="", lines=None, *, explain=None, profile=None, info=None):
        self.seconds = seconds
        self.terms = terms or {}
        self._bound = bound
        self._lines = lines
        self._explain = explain
        self.profile = profile
        self.info = info or {}

    def _build(self):
        if self._explain is not None and self._lines is None:
            self._bound, self._lines = self._explain()
        return self

    @property
    def bound(self) -> str:
        return self._build()._bound

    @property
    def lines(self) -> list:
        return self._build()._lines or []

    def __repr__(self):
        return f"Estimate({fmt(self.seconds)}, bound={self.bound!r})"


# ---------------------------------------------------------------------------------------- checks

def _positive(name, value, integer=True):
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # scalar fast path
        v = float(value)
        if not (v > 0 and v != float("inf")):
            raise ArgumentError(name, f"must be > 0 and finite, got {fmt(v)}")
        if integer and v != int(v):
            raise ArgumentError(name, "must be a whole number")
        return v
    arr = np.asarray(value, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ArgumentError(name, "must be a finite number")
    if np.any(arr <= 0):
        raise ArgumentError(name, f"must be > 0, got {fmt(arr.min() if arr.ndim else float(arr))}")
    if integer and np.any(arr != np.round(arr)):
        raise ArgumentError(name, "must be a whole number")
    return value if isinstance(value, np.ndarray) else float(value)


def _dtype(gpu, dtype, name="dtype"):
    if dtype not in DTYPE_BYTES:
        raise ArgumentError(name, f"unknown numeric format {dtype!r}; use one of {', '.join(DTYPE_BYTES)}")
    gpu.peak_flops(dtype)  # raises ArgumentError("dtype") when the GPU has no such peak
    return dtype


def _gpus(model, gpus):
    g = _positive("gpus", gpus)
    bad = np.asarray(model.heads % np.asarray(g, dtype=np.int64)) != 0
    if np.any(bad):
        first = int(np.asarray(g).ravel()[np.argmax(bad.ravel())])
        raise ArgumentError("gpus", f"{model.heads} attention heads cannot be split evenly over {first} GPUs "
                                    "(tensor parallelism splits the heads)")
    return g if isinstance(g, np.ndarray) else int(g)


def _inference_setup(model, gpu, gpus, dtype, kv_dtype, profile):
    """Checks shared by prefill and decode; returns (GPU count(s), profile)."""
    _dtype(gpu, dtype)
    if kv_dtype is not None:
        _dtype(gpu, kv_dtype, "kv_dtype")
    return _gpus(model, gpus), resolve(gpu, profile)


def _per_gpus(fn, model, gpus):
    """Run ``fn(g)`` for each distinct GPU count of an array ``gpus`` and merge the results."""
    if not isinstance(gpus, np.ndarray):
        return fn(int(gpus))
    out = None
    for g in np.unique(gpus):
        _gpus(model, float(g))
        tot, s = fn(int(g))
        mask = (gpus == g).astype(float)
        if out is None:
            out = (tot, s)
            tot.terms = {k: v * mask for k, v in tot.terms.items()}
        else:
            for k, v in tot.terms.items():
                out[0].terms[k] = out[0].terms.get(k, 0.0) + v * mask
    return out


# ---------------------------------------------------------------------------------------- API

def efficiencies(gpu, dtype="bf16", profile=None):
    """(achievable matmul FLOP/s ÷ dense peak, achievable bandwidth ÷ datasheet bandwidth) of the profile.

    Used when only one of ``mfu`` / ``bandwidth_utilization`` is given: the other comes from
    the GPU's profile (H100 SXM: 739.4/989 = 0.748 and 2.927/3.35 = 0.874).
    """
    prof = resolve(gpu, profile)
    return prof.flops(dtype, gpu) / gpu.peak_flops(dtype), prof.bandwidth / gpu.bandwidth


def prefill(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate:
    """One prefill pass: ``batch`` prompts of ``tokens`` tokens, KV cache written, last-position logits.

    Formula: t = Σ_layers [GEMMs (soft roofline, shape efficiency) + causal FlashAttention +
    memory-bound kernels] + LM head (B rows) + embedding + kernels·τ_kernel + τ_step.
    Source: :mod:`llmcalc.perf.engine`; parameters from the GPU profile (H100: fitted on
    llmcalc/data/h100-calibration.json). Assumes the reference engine (PyTorch, CUDA graphs).
    """
    B, T = _positive("batch", batch), _positive("tokens", tokens)
    g, prof = _inference_setup(model, gpu, gpus, dtype, kv_dtype, profile)
    def run(B, T, g):
        return _per_gpus(lambda gg: engine.forward(model, gpu, prof, B, T, 0, mode="prefill", gpus=gg, dtype=dtype,
                                                   kv_dtype=kv_dtype), model, g)

    tot, s = run(B, T, g)
    t = engine.total(tot.terms)
    return Estimate(t, tot.terms, profile=prof, info=tot.info,
                    explain=lambda: _explain_sample("prefill", run, model, gpu, prof, tot, s, t, dtype, B, T, g))


def decode_step(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate:
    """One decode step: one new token for each of ``batch`` sequences attending ``context`` cached positions.

    Formula: t = Σ_layers [GEMMs with M = batch (weight reads) + KV-cache read (grouped-query
    attention: also a latency floor) + memory-bound kernels] + LM head (B rows) +
    kernels·τ_kernel + τ_step. Source and assumptions as :func:`prefill`.
    """
    B, C = _positive("batch", batch), _positive("context", context)
    g, prof = _inference_setup(model, gpu, gpus, dtype, kv_dtype, profile)
    def run(B, C, g):
        return _per_gpus(lambda gg: engine.forward(model, gpu, prof, B, 1, C, mode="decode", gpus=gg, dtype=dtype,
                                                   kv_dtype=kv_dtype), model, g)

    tot, s = run(B, C, g)
    t = engine.total(tot.terms)
    return Estimate(t, tot.terms, profile=prof, info=tot.info,
                    explain=lambda: _explain_sample("decode", run, model, gpu, prof, tot, s, t, dtype, B, C, g))


def train_step(model, gpu, micro_batch, seq, recompute=False, profile=None) -> Estimate:
    """One optimizer step of mixed-precision AdamW (fp32 master weights, bf16 compute) on one GPU.

    Formula: forward (all-position logits, full-vocabulary cross-entropy) + backward (2× the
    GEMM FLOPs, 2.5× the attention FLOPs) + with ``recompute`` one more forward of the layers +
    fused AdamW and the autocast casts as memory passes over the parameters. Source:
    :func:`llmcalc.perf.engine.train`. No parameter is fitted on training runs.
    """
    B = _positive("micro_batch", micro_batch)
    T = _positive("seq", seq)
    gpu.peak_flops("bf16")
    prof = resolve(gpu, profile)
    terms, info, s = engine.train(model, gpu, prof, B, T, recompute=bool(recompute))
    t = engine.total(terms)
    return Estimate(t, terms, profile=prof, info=info,
                    explain=lambda: _explain_train(model, gpu, prof, terms, info, s, t, B, T, recompute))


def peak_memory(model, gpu, kind, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, recompute=False,
                profile=None) -> Estimate:
    """Peak bytes of a prefill pass, a decode step (``tokens`` = context) or a training step.

    See :mod:`llmcalc.perf.memory` for the formulas. ``Estimate.seconds`` holds bytes here and
    ``terms`` the parts (weights, KV cache, activations, …).
    """
    if kind not in ("prefill", "decode", "train"):
        raise ArgumentError("kind", f"must be \"prefill\", \"decode\" or \"train\", got {kind!r}")
    B = _positive("batch", batch)
    S = _positive("tokens", tokens)
    prof = resolve(gpu, profile)
    if kind == "train":
        peak, parts = _memory.train_peak(model, prof, B, S, recompute=bool(recompute))
    else:
        _dtype(gpu, dtype)
        if kv_dtype is not None:
            _dtype(gpu, kv_dtype, "kv_dtype")
        g = _gpus(model, gpus)
        peak, parts = _memory.inference_peak(model, prof, kind, B, S, gpus=g, dtype=dtype, kv_dtype=kv_dtype)

    def explain():
        lines = [f"{k}: {fmt(v / 1e9, 'GB')}" for k, v in parts.items()]
        cap = gpu.memory_bytes
        fits = np.all(np.asarray(peak) <= cap)
        lines.append(f"peak = {fmt(peak / 1e9, 'GB')} of {fmt(cap / 1e9, 'GB')} on one {gpu.name}"
                     + ("" if fits else " — does not fit"))
        big = max(parts, key=lambda k: float(np.max(parts[k])))
        return f"dominated by {big}", lines

    return Estimate(peak, parts, profile=prof, explain=explain)


# ---------------------------------------------------------------------------------------- words

def _profile_line(prof: Profile, gpu, dtype) -> str:
    origin = ("derived from the H100 ratios, not measured" if prof.derived else
              f"from {prof.path or 'a profile file'}")
    return (f"profile {prof.name}: {fmt(prof.flops(dtype, gpu) / 1e12, 'TFLOP/s')} {dtype} matmul and "
            f"{fmt(prof.bandwidth / 1e12, 'TB/s')} achievable ({origin})")


SAMPLE = 4  # explanations of array results describe the first few inputs (fmt shows 4 anyway)


def _explain_sample(mode, run, model, gpu, prof, tot, s, t, dtype, B, S, g):
    """Explain an array result from its first SAMPLE inputs, so a million-point sweep stays cheap."""
    n = int(np.size(t))
    if n <= SAMPLE:
        return _explain_pass(mode, model, gpu, prof, tot, s, t, dtype, B, S)
    shape = np.shape(t)
    pick = [np.broadcast_to(np.asarray(x, dtype=float), shape).ravel()[:SAMPLE] for x in (B, S, g)]
    tot2, s2 = run(*pick)
    t2 = engine.total(tot2.terms)
    bound, lines = _explain_pass(mode, model, gpu, prof, tot2, s2, t2, dtype, pick[0], pick[1])
    return bound, lines + [f"(terms shown for the first {SAMPLE} of {n:,} inputs)"]


def _explain_pass(mode, model, gpu, prof, tot, s, t, dtype, B, S):
    i, terms = dict(tot.info), tot.terms
    i.update(tot.gemm_info())
    gemm_t = terms["matmuls"] + terms["LM head"]
    tc, tm = i["gemm_tc"], i["gemm_tm"]
    rate = prof.flops(dtype, gpu)
    wbytes = i["weight_bytes"]
    eff = np.asarray(i["gemm_flops"]) / np.maximum(np.asarray(tc), 1e-30) / rate
    mem_side = np.asarray(tm) >= np.asarray(tc)
    lines = [_profile_line(prof, gpu, dtype)]
    lines.append(f"matmuls: {fmt(i['gemm_flops'] / 1e12, 'TFLOP')} at {fmt(eff * rate / 1e12, 'TFLOP/s')} "
                 f"({fmt(100 * eff, '%')} of the ceiling, shape efficiency) = {fmt(tc * 1e3, 'ms')}; weights "
                 f"{fmt(wbytes / 1e9, 'GB')} read at {fmt(prof.bandwidth / 1e12, 'TB/s')} = "
                 f"{fmt(wbytes / prof.bandwidth * 1e3, 'ms')} → {fmt(gemm_t * 1e3, 'ms')}")
    if mode == "decode":
        lines.append(f"attention: KV cache {fmt(i['kv_bytes'] / 1e9, 'GB')} read"
                     + (" (grouped-query: one thread block per sequence and KV head, latency floor)"
                        if s.kv_heads < s.heads else "") + f" = {fmt(terms['attention'] * 1e3, 'ms')}")
    else:
        lines.append(f"attention: causal FlashAttention, {fmt(i['attn_flops'] / 1e12, 'TFLOP')} "
                     f"(head dim {s.d}) = {fmt(terms['attention'] * 1e3, 'ms')}")
    lines.append(f"norms, RoPE, activations, residuals: {fmt(i['elem_bytes'] / 1e9, 'GB')} moved = "
                 f"{fmt(terms['norms & activations'] * 1e3, 'ms')}")
    lines.append(f"LM head ({'last position of each prompt' if mode == 'prefill' else 'every sequence'}): "
                 f"{fmt(terms['LM head'] * 1e3, 'ms')}")
    o = prof.overheads
    lines.append(f"fixed overheads: {fmt(i['kernels'])} kernels × {fmt(o['kernel_s'] * 1e6, 'µs')} + "
                 f"{fmt(o['step_s'] * 1e6, 'µs')} per step = {fmt(terms['fixed overheads'] * 1e3, 'ms')}")
    if "communication" in terms:
        lines.append(f"tensor-parallel all-reduces: {fmt(terms['communication'] * 1e3, 'ms')} (not validated)")
    # which term dominates
    cands = {
        "weights": np.where(mem_side, gemm_t, 0.0),
        "matmul compute": np.where(mem_side, 0.0, gemm_t),
        "attention": terms["attention"],
        "elementwise": terms["norms & activations"],
        "overheads": terms["fixed overheads"],
    }
    first = {k: float(np.ravel(v)[0]) if isinstance(v, np.ndarray) else float(v) for k, v in cands.items()}
    top = max(first, key=first.get)
    t0 = float(np.ravel(t)[0]) if isinstance(t, np.ndarray) else float(t)
    share = f"{100 * first[top] / t0:.0f}% of the {'pass' if mode == 'prefill' else 'step'}"
    if top == "weights":
        bound = (f"memory-bound: {fmt(wbytes / 1e9, 'GB')} of weights at {fmt(prof.bandwidth / 1e12, 'TB/s')} "
                 f"achievable = {fmt(wbytes / prof.bandwidth * 1e3, 'ms')} ({share})")
    elif top == "matmul compute":
        e0 = float(np.ravel(eff)[0])
        bound = (f"compute-bound: {fmt(np.ravel(np.asarray(i['gemm_flops']))[0] / 1e12, 'TFLOP')} of matmuls at "
                 f"{fmt(e0 * rate / 1e12, 'TFLOP/s')} achievable ({share})")
    elif top == "attention":
        bound = (f"attention-bound: KV cache {fmt(np.ravel(np.asarray(i['kv_bytes']))[0] / 1e9, 'GB')} read per step ({share})"
                 if mode == "decode" else f"attention-bound: causal attention over {fmt(S)} tokens ({share})")
    elif top == "elementwise":
        bound = f"memory-bound: norms and activations ({share})"
    else:
        bound = f"overhead-bound: {fmt(i['kernels'])} kernel launches ({share})"
    if isinstance(t, np.ndarray) and t.size > 1:
        bound += f" (for the first of {t.size} inputs)"
    lines.append(bound)
    lines.append(f"{'prefill' if mode == 'prefill' else 'decode step'}: t = {fmt(t * 1e3, 'ms')}")
    return bound, lines


def _explain_train(model, gpu, prof, terms, info, s, t, B, T, recompute):
    lines = [_profile_line(prof, gpu, "bf16")]
    for k, v in terms.items():
        lines.append(f"{k}: {fmt(v * 1e3, 'ms')}")
    lines.append(f"matmul FLOPs (forward + backward{' + recompute' if recompute else ''}): "
                 f"{fmt(engine.gemm_flops(info) / 1e12, 'TFLOP')}")
    lines.append(f"per-parameter traffic (AdamW, casts): {fmt(info['params'] / 1e9, 'B')} parameters × {fmt(info['per_param_bytes'])} bytes "
                 f"at {fmt(prof.bandwidth / 1e12, 'TB/s')}")
    mm = sum(v for k, v in terms.items() if "matmul" in k or k in ("recompute", "forward LM head"))
    share = float(np.ravel(mm / t)[0])
    bound = (f"compute-bound: matmuls are {100 * share:.0f}% of the step" if share >= 0.5 else
             f"mixed: matmuls are {100 * share:.0f}% of the step, the rest memory-bound kernels and attention")
    lines.append(bound)
    lines.append(f"training step: t = {fmt(t * 1e3, 'ms')}")
    return bound, lines
