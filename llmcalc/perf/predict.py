"""Predicted time of prefill passes, decode steps and training steps, and peak memory, on a GPU.

The functions here assemble :mod:`.engine` passes with the GPU's profile (:mod:`.profile`) and
return an :class:`Estimate` whose explanation (:mod:`.describe`) is built on demand. Arguments
arrive validated by the registry's kinds (positive whole batch sizes and token counts, known
dtypes); the checks here are the ones that need the model and the GPU together (tensor
parallelism must split the heads; the GPU must have a peak for the dtype).

``settings`` is the serving record of :data:`llmcalc.api.args.SERVING` (attributes ``gpus``,
``dtype``, ``kv_dtype``, ``profile``, ``engine``); ``llmcalc.api.args.SERVING.defaults(gpus=2)`` builds
one. ``engine`` "reference" (the default) is the calibrated reference engine; another name is a
production serving engine (:mod:`.serving_engine`, e.g. TensorRT-LLM).
``batch``/``tokens``/``context`` may be NumPy arrays (they broadcast).
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from . import describe, engine, serving_engine
from . import memory as _memory
from .profile import hardware, resolve


class Estimate:
    """A prediction with its breakdown: ``value`` in ``unit`` ("s" for times, "B" for memory),
    ``terms`` (name → part, adding up to ``value``), ``bound`` (what dominates, in words) and
    ``lines`` (the explanation), the last two built on first use."""

    def __init__(self, value, terms=None, *, unit="s", explain=None, profile=None, info=None):
        self.value = value
        self.unit = unit
        self.terms = terms or {}
        self._explain = explain
        self._words = None
        self.profile = profile
        self.info = info or {}

    @property
    def seconds(self):
        if self.unit != "s":
            raise AttributeError(f"this estimate is in {self.unit}, not seconds: use .value")
        return self.value

    def _build(self):
        if self._words is None:
            self._words = self._explain() if self._explain is not None else ("", [])
        return self._words

    @property
    def bound(self) -> str:
        return self._build()[0]

    @property
    def lines(self) -> list:
        return self._build()[1] or []

    def __repr__(self):
        return f"Estimate({fmt(self.value, self.unit)}, bound={self.bound!r})"


# ---------------------------------------------------------------------------------------- checks

def _check_dtype(gpu, dtype, name="dtype"):
    gpu.peak_flops(dtype)  # raises ArgumentError(dtype) when the GPU has no such peak


def _check_gpus(model, gpus):
    """Tensor parallelism splits the attention heads: every GPU count must divide them."""
    if not isinstance(gpus, np.ndarray):  # one GPU count: plain integer arithmetic
        g = int(gpus)
        if model.heads % g:
            raise ArgumentError("gpus", f"{model.heads} attention heads cannot be split evenly over {g} GPUs "
                                        "(tensor parallelism splits the heads)")
        return g
    g = np.asarray(gpus, dtype=np.int64)
    bad = (model.heads % g) != 0
    if np.any(bad):
        first = int(g.ravel()[np.argmax(np.ravel(bad))])
        raise ArgumentError("gpus", f"{model.heads} attention heads cannot be split evenly over {first} GPUs "
                                    "(tensor parallelism splits the heads)")
    return gpus if isinstance(gpus, np.ndarray) else int(gpus)


def _inference_setup(model, gpu, settings):
    """Checks shared by prefill and decode; returns (GPU count(s), profile)."""
    _check_dtype(gpu, settings.dtype)
    if settings.kv_dtype is not None:
        _check_dtype(gpu, settings.kv_dtype, "kv_dtype")
    return _check_gpus(model, settings.gpus), resolve(gpu, settings.profile)


def _per_gpus(fn, gpus):
    """Run ``fn(g)`` for each distinct GPU count of an array ``gpus`` and merge the results."""
    if not isinstance(gpus, np.ndarray):
        return fn(int(gpus))
    out = None
    for g in np.unique(gpus):
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


def _engine_pass(mode, model, gpu, batch, tokens, settings, g) -> Estimate:
    """One prefill or decode step of a production serving engine (:mod:`.serving_engine`)."""
    hw = hardware(gpu, settings.profile)
    eng = serving_engine.engine(settings.engine)
    step = serving_engine.prefill if mode == "prefill" else serving_engine.decode

    def one(gg, B, N):
        return step(model, gpu, hw, eng, B, N, gpus=gg, dtype=settings.dtype, kv_dtype=settings.kv_dtype).terms

    if isinstance(g, np.ndarray):  # one engine step per distinct GPU count, merged
        shape = np.broadcast_shapes(np.shape(g), np.shape(batch), np.shape(tokens))
        G, B, N = (np.broadcast_to(np.asarray(x, dtype=float), shape) for x in (g, batch, tokens))
        terms: dict = {}
        for gg in np.unique(G):
            mask = G == gg
            for k, v in one(int(gg), B[mask], N[mask]).items():
                terms.setdefault(k, np.zeros(shape))[mask] = v
    else:
        terms = one(g, batch, tokens)
    t = engine.total(terms)
    return Estimate(t, terms, info={"engine": eng, "hardware": hw},
                    explain=lambda: describe.explain_engine(mode, eng, hw, terms, t))


def _pass(mode, model, gpu, batch, tokens, settings) -> Estimate:
    if settings.engine not in (None, "reference"):
        _check_dtype(gpu, settings.dtype)
        return _engine_pass(mode, model, gpu, batch, tokens, settings, _check_gpus(model, settings.gpus))
    g, prof = _inference_setup(model, gpu, settings)
    dtype, kv_dtype = settings.dtype, settings.kv_dtype
    prefill = mode == "prefill"

    def run(B, N, g):
        return _per_gpus(lambda gg: engine.forward(model, gpu, prof, B, N if prefill else 1, 0 if prefill else N,
                                                   mode=mode, gpus=gg, dtype=dtype, kv_dtype=kv_dtype), g)

    tot, s = run(batch, tokens, g)
    t = engine.total(tot.terms)
    return Estimate(t, tot.terms, profile=prof, info=tot.info,
                    explain=lambda: describe.explain_sample(mode, run, model, gpu, prof, tot, s, t, dtype, batch, tokens, g))


def prefill(model, gpu, batch, tokens, settings) -> Estimate:
    """One prefill pass: ``batch`` prompts of ``tokens`` tokens, KV cache written, last-position logits.

    Formula: t = Σ_layers [GEMMs (soft roofline, shape efficiency) + causal FlashAttention +
    memory-bound kernels] + LM head (B rows) + embedding + kernels·τ_kernel + τ_step.
    Source: :mod:`llmcalc.perf.engine`; parameters from the GPU profile (H100: fitted on
    llmcalc/data/h100-calibration.json). Assumes the reference engine (PyTorch, CUDA graphs).
    """
    return _pass("prefill", model, gpu, batch, tokens, settings)


def decode_step(model, gpu, batch, context, settings) -> Estimate:
    """One decode step: one new token for each of ``batch`` sequences attending ``context`` cached positions.

    Formula: t = Σ_layers [GEMMs with M = batch (weight reads) + KV-cache read (grouped-query
    attention: also a latency floor) + memory-bound kernels] + LM head (B rows) +
    kernels·τ_kernel + τ_step. Source and assumptions as :func:`prefill`.
    """
    return _pass("decode", model, gpu, batch, context, settings)


def train_step(model, gpu, micro_batch, seq, recompute=False, profile=None) -> Estimate:
    """One optimizer step of mixed-precision AdamW (fp32 master weights, bf16 compute) on one GPU.

    Formula: forward (all-position logits, full-vocabulary cross-entropy) + backward (2× the
    GEMM FLOPs, 2.5× the attention FLOPs) + with ``recompute`` one more forward of the layers +
    fused AdamW and the autocast casts as memory passes over the parameters. Source:
    :func:`llmcalc.perf.engine.train`. No parameter is fitted on training runs.
    """
    _check_dtype(gpu, "bf16")
    prof = resolve(gpu, profile)
    terms, info, s = engine.train(model, gpu, prof, micro_batch, seq, recompute=bool(recompute))
    t = engine.total(terms)
    return Estimate(t, terms, profile=prof, info=info,
                    explain=lambda: describe.explain_train(model, gpu, prof, terms, info, s, t, micro_batch, seq, recompute))


def peak_memory(model, gpu, kind, batch, tokens, settings, recompute=False) -> Estimate:
    """Peak bytes of a prefill pass, a decode step (``tokens`` = context) or a training step (``kind``).

    See :mod:`llmcalc.perf.memory` for the formulas; ``terms`` holds the parts (weights, KV cache,
    activations, …). Training memory is one GPU in bf16: ``settings.gpus``/``dtype`` do not apply.
    """
    if kind == "train":
        prof = resolve(gpu, settings.profile)
        peak, parts = _memory.train_peak(model, prof, batch, tokens, recompute=bool(recompute))
    else:
        g, prof = _inference_setup(model, gpu, settings)
        peak, parts = _memory.inference_peak(model, prof, kind, batch, tokens, gpus=g, dtype=settings.dtype,
                                             kv_dtype=settings.kv_dtype)
    return Estimate(peak, parts, unit="B", profile=prof, explain=lambda: describe.explain_memory(gpu, parts, peak))
