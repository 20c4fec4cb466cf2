"""Serving: prefill time, decode speed, batch limits, cost per 1K tokens.

Two ways to estimate, chosen by the arguments:

* ``mfu`` / ``bandwidth_utilization`` given (the articles' way): a roofline with those
  utilisations, 2·P FLOPs per token and one read of the weights (+ KV cache) per step.
* neither given: the calibrated performance model (:mod:`llmcalc.perf`) with the GPU's profile.
"""
import numpy as np

from .. import perf
from ..errors import ArgumentError
from ..explain import fmt
from ..formulas import inference as fi
from ..formulas import memory as fm
from ..hardware import DTYPE_BYTES
from ..registry import Arg, user_function
from ..kinds import Choice, FilePath, Fraction, ModelOrParams, Number, Rate, short
from ..results import Calc
from . import args as A
from .training import _price

ARTICLE2 = "Article 2 (为什么多数情况下GPT-3.5比LLaMA 2更便宜, Aman Sanger 2023): seeds/002"
PERF = "llmcalc performance model (llmcalc/perf), fitted on measured H100 runs (llmcalc/data/h100-calibration.json)"

model_or_params = Arg("model", ModelOrParams(), "model name (\"llama-2-70b\"), Model, config.json path, or a parameter count for the articles' roofline")
profile = Arg("profile", FilePath(400), "GPU profile file written by `llmcalc calibrate` (default: built-in profile)", None)
ROOFLINE_ASSUMPTIONS = ("Roofline with the given utilisations: the slower of compute (2·P FLOPs per token) and memory (weights, plus the KV cache when the architecture is known); attention FLOPs and communication between GPUs are ignored, as in article 2.",)


def _explicit(mfu, bandwidth_utilization):
    return mfu is not None or bandwidth_utilization is not None


def _rates(gpu, dtype, mfu, bw, profile):
    """Effective FLOP/s and bytes/s per GPU, from explicit utilisations or the GPU profile."""
    f_def, b_def = perf.efficiencies(gpu, dtype, profile)
    peak = gpu.peak_flops(dtype)
    f = Rate.resolve(mfu, peak, "mfu")
    b = Rate.resolve(bw, gpu.bandwidth, "bandwidth_utilization")
    f = f_def if f is None else f
    b = b_def if b is None else b
    return peak * f, gpu.bandwidth * b


def _sizes(model, dtype, kv_dtype):
    """(active parameters, weight bytes, KV bytes per token) for a Model or a bare count."""
    if isinstance(model, float):
        return model, model * DTYPE_BYTES[dtype], 0.0
    p = float(model.params(active=True))
    return p, float(model.params()) * DTYPE_BYTES[dtype], model.kv_values_per_token() * DTYPE_BYTES[kv_dtype or dtype]


def _perf_notes(est):
    p = est.profile
    if p is None:
        return []
    notes = ["Calibrated per-operator model of the reference engine (PyTorch, CUDA-graph replay, SDPA attention): "
             "see docs/performance.md."]
    if p.derived:
        notes.append(p.provenance)
    elif p.path and not p.path.startswith("llmcalc/data/"):
        notes.append(f"GPU profile measured by `llmcalc calibrate`: {p.path}" +
                     (f" (measured on {p.gpu})" if p.gpu else ""))
    return notes


def _need_arch(model):
    if isinstance(model, float):
        raise ArgumentError("model", "a bare parameter count needs mfu= or bandwidth_utilization= (the articles' roofline); "
                            "for the calibrated model give a model name or config.json")


def _prefill(model, gpu, batch, tokens, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile):
    if _explicit(mfu, bandwidth_utilization):
        p, w, _ = _sizes(model, dtype, kv_dtype)
        fe, be = _rates(gpu, dtype, mfu, bandwidth_utilization, profile)
        flops = fi.forward_flops(p, batch * tokens)
        t = fi.prefill_seconds(flops, w, gpus, fe, be)
        comp, mem = flops / (gpus * fe), w / (gpus * be)
        bound = "compute-bound" if np.all(comp >= mem) else "memory-bound"
        lines = lambda: [  # noqa: E731  (formatted only when someone asks for the explanation)
            f"compute: 2 × {fmt(p)} × {fmt(batch)} × {fmt(tokens)} = {fmt(flops, 'FLOP')} at {fmt(gpus)} × {fmt(fe, 'FLOP/s')} = {fmt(comp, 's')}",
            f"weights: {fmt(w / 1e9, 'GB')} at {fmt(gpus)} × {fmt(be / 1e12, 'TB/s')} = {fmt(mem, 's')}",
            f"{bound}: t = {fmt(t, 's')}"]
        return t, lines, list(ROOFLINE_ASSUMPTIONS)
    _need_arch(model)
    est = perf.prefill(model, gpu, batch, tokens, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype, profile=profile)
    return est.seconds, lambda: est.lines, _perf_notes(est)


def _decode(model, gpu, batch, context, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile):
    if _explicit(mfu, bandwidth_utilization):
        p, w, kvt = _sizes(model, dtype, kv_dtype)
        fe, be = _rates(gpu, dtype, mfu, bandwidth_utilization, profile)
        kv = kvt * batch * context
        flops = fi.forward_flops(p, batch)
        t = fi.decode_step_seconds(w, kv, flops, gpus, fe, be)
        mem, comp = (w + kv) / (gpus * be), flops / (gpus * fe)
        bound = "memory-bound" if np.all(mem >= comp) else "compute-bound"
        lines = lambda: [  # noqa: E731
            f"memory: ({fmt(w / 1e9, 'GB')} weights + {fmt(kv / 1e9, 'GB')} KV) at {fmt(gpus)} × {fmt(be / 1e12, 'TB/s')} = {fmt(mem, 's')}",
            f"compute: 2 × {fmt(p)} × {fmt(batch)} = {fmt(flops, 'FLOP')} at {fmt(gpus)} × {fmt(fe, 'FLOP/s')} = {fmt(comp, 's')}",
            f"{bound}: step = {fmt(t, 's')}"]
        notes = list(ROOFLINE_ASSUMPTIONS) + (["Bare parameter count: KV cache not counted."] if isinstance(model, float) else [])
        return t, lines, notes
    _need_arch(model)
    est = perf.decode_step(model, gpu, batch, context, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype, profile=profile)
    return est.seconds, lambda: est.lines, _perf_notes(est)


PREFILL_ARGS = [model_or_params, A.gpu, Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "prompts processed together"),
                A.prompt_tokens, A.gpus_opt, A.dtype_compute, A.kv_dtype, A.mfu_opt, A.bw_opt, profile]
DECODE_ARGS = [model_or_params, A.gpu, A.batch, A.context, A.gpus_opt, A.dtype_compute, A.kv_dtype, A.mfu_opt, A.bw_opt, profile]
PREFILL_FORMULA = "t = max(2·P·B·N / (g·F_eff), weights / (g·BW_eff)) with explicit utilisations; else the calibrated per-operator model"
DECODE_FORMULA = "t = max((weights + KV(B, context)) / (g·BW_eff), 2·P·B / (g·F_eff)) with explicit utilisations; else the calibrated per-operator model"


@user_function("LLM_PREFILL_TIME", unit="s", category="inference", args=PREFILL_ARGS, formula=PREFILL_FORMULA,
               sources=(ARTICLE2 + " §4", PERF))
def prefill_time(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, mfu=None, bandwidth_utilization=None, profile=None):
    """Time of one prefill pass (time to first token) over a batch of prompts."""
    t, lines, notes = _prefill(model, gpu, batch, tokens, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
    return Calc(t, lines, notes)


@user_function("LLM_PREFILL_MS", unit="ms", category="inference", args=PREFILL_ARGS, formula=PREFILL_FORMULA,
               sources=(ARTICLE2 + " §4", PERF))
def prefill_ms(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, mfu=None, bandwidth_utilization=None, profile=None):
    """Prefill time (time to first token) in milliseconds."""
    t, lines, notes = _prefill(model, gpu, batch, tokens, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
    return Calc(t * 1e3, lines, notes)


@user_function("LLM_DECODE_STEP_TIME", unit="s", category="inference", args=DECODE_ARGS, formula=DECODE_FORMULA,
               sources=(ARTICLE2 + " §5", PERF))
def decode_step_time(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, mfu=None, bandwidth_utilization=None, profile=None):
    """Time of one decode step: one new token for each sequence of the batch (time per output token)."""
    t, lines, notes = _decode(model, gpu, batch, context, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
    return Calc(t, lines, notes)


@user_function("LLM_DECODE_TOKENS_PER_S", unit="token/s", category="inference", args=DECODE_ARGS,
               formula="throughput = B / t_step", sources=(ARTICLE2 + " §5 (18.6 tokens/s at batch 1 on 2 × A100)", PERF))
def decode_tokens_per_s(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, mfu=None, bandwidth_utilization=None, profile=None):
    """Generated tokens per second across the batch."""
    t, lines, notes = _decode(model, gpu, batch, context, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
    return Calc(batch / t, lambda: lines() + [f"{fmt(batch)} tokens / {fmt(t, 's')} = {fmt(batch / t, 'tokens/s')}"], notes)


kind = Arg("kind", Choice(("prompt", "generated"), lambda v, n: _kind(v, n)), "\"prompt\" (input tokens, prefill) or \"generated\" (output tokens, decode)")


def _kind(v, name):
    key = str(v).strip().lower()
    key = {"input": "prompt", "prefill": "prompt", "output": "generated", "completion": "generated",
           "generation": "generated", "decode": "generated"}.get(key, key)
    if key not in ("prompt", "generated"):
        raise ArgumentError(name, f"must be \"prompt\" or \"generated\", got {short(v)}")
    return key


@user_function(
    "LLM_COST_PER_1K_TOKENS", unit="USD/ktoken", category="inference",
    args=[model_or_params, A.gpu, kind, Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences served together"),
          Arg("tokens", Number("token", count=True, integer=True, maximum=1e9), "prompt length (prompt) or context length (generated)"),
          A.gpus_opt, A.price, A.dtype_compute, A.kv_dtype, A.mfu_opt, A.bw_opt, profile],
    formula="$/1K tokens = g × price per GPU-hour / 3600 / (tokens per second) × 1000",
    sources=(ARTICLE2 + " (prompt $0.00042/1K; generated $0.066/1K at batch 1, $0.0083 at 8, $0.0021 at 32)", PERF),
    assumptions=("GPUs are busy all the time (no idle capacity) and billed per GPU-hour.",),
)
def cost_per_1k_tokens(model, gpu, kind, batch, tokens, gpus=1, price=None, dtype="bf16", kv_dtype=None,
                       mfu=None, bandwidth_utilization=None, profile=None):
    """Cost of 1,000 prompt or generated tokens on rented GPUs."""
    p, note = _price(price, gpu)
    hourly = p * gpus
    if kind == "prompt":
        t, lines, notes = _prefill(model, gpu, batch, tokens, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
        tps = batch * tokens / t
    else:
        t, lines, notes = _decode(model, gpu, batch, tokens, gpus, dtype, kv_dtype, mfu, bandwidth_utilization, profile)
        tps = batch / t
    cost = fi.cost_per_1k_tokens(hourly, tps)
    return Calc(cost, lambda: lines() + [f"{fmt(tps, 'tokens/s')}; {fmt(gpus)} × ${fmt(p)}/h = ${fmt(hourly)}/h",
                                       f"${fmt(hourly)}/h / 3600 / {fmt(tps)} × 1000 = ${fmt(cost)} per 1K tokens"], notes + [note])


@user_function(
    "LLM_MAX_BATCH", unit="", result="count", category="inference",
    args=[A.model, A.gpu, A.context, A.gpus_opt, A.dtype_compute, A.kv_dtype,
          Arg("memory_utilization", Fraction(), "fraction of GPU memory the server may use (vLLM's default 0.9)", 0.9)],
    formula="B_max = ⌊(g·capacity·u − weights) / (KV bytes per token × context)⌋",
    sources=(ARTICLE2 + " §5", "vLLM gpu_memory_utilization default 0.9 (docs.vllm.ai, engine arguments)"),
    assumptions=("Capacity is the GPU's physical memory; activation workspace is inside the (1 − u) reserve.",),
)
def max_batch(model, gpu, context, gpus=1, dtype="bf16", kv_dtype=None, memory_utilization=0.9):
    """Largest batch of sequences whose KV cache fits beside the weights."""
    w = model.params() * DTYPE_BYTES[dtype]
    cap = gpus * gpu.memory_bytes * memory_utilization
    per_seq = model.kv_values_per_token() * DTYPE_BYTES[kv_dtype or dtype] * context
    n = fm.max_batch(cap - w, per_seq)
    return Calc(n, lambda: [f"free = {fmt(gpus)} × {fmt(gpu.memory_bytes / 1e9, 'GB')} × {fmt(memory_utilization)} − {fmt(w / 1e9, 'GB')} weights = {fmt((cap - w) / 1e9, 'GB')}",
                            f"per sequence: {fmt(per_seq / 1e9, 'GB')} of KV cache → {fmt(n)} sequences"])


@user_function(
    "LLM_COMPUTE_BOUND_TOKENS", unit="token", category="inference",
    args=[A.gpu, A.dtype_compute,
          Arg("flops", Number("FLOP/s"), "override the peak FLOP/s (\"312 TFLOP/s\")", None),
          Arg("bandwidth", Number("byte/second"), "override the memory bandwidth (\"2 TB/s\")", None)],
    formula="N* = F · bytes per parameter / (2 · BW)",
    sources=(ARTICLE2 + " §4 (312 TFLOP/s ÷ 2 TB/s → 156 tokens)",),
    assumptions=("Prefill reads the weights once and does 2·P FLOPs per token; the KV cache and attention are ignored.",),
)
def compute_bound_tokens(gpu, dtype="bf16", flops=None, bandwidth=None):
    """Prompt length above which prefill is compute-bound rather than memory-bound."""
    f = flops if flops is not None else gpu.peak_flops(dtype)
    b = bandwidth if bandwidth is not None else gpu.bandwidth
    n = fi.compute_bound_tokens(f, b, DTYPE_BYTES[dtype])
    return Calc(n, lambda: [f"{fmt(f, 'FLOP/s')} × {fmt(DTYPE_BYTES[dtype])} B / (2 × {fmt(b, 'B/s')}) = {fmt(n, 'tokens')}"])


@user_function(
    "LLM_FORWARD_FLOPS", unit="FLOP", category="inference",
    args=[A.model, Arg("context", Number("token", count=True, integer=True, minimum=0, strict=False, maximum=1e9), "positions attended (0: weights only)", 0)],
    formula="FLOPs per token = 2·P_active(non-embedding) + 4·L·a·d·context",
    sources=(ARTICLE2 + " §2 (2P plus the attention term)", "Kaplan et al. 2020, Table 1"),
    assumptions=("One token attending `context` positions; MoE counts the active experts only.",),
)
def forward_flops(model, context=0):
    """Forward-pass FLOPs for one token."""
    p = model.params(active=True) - model.embedding_params()
    att = fi.attention_flops(model.layers, model.heads, model.head_dim, 1, context)
    total = 2.0 * p + att
    return Calc(total, lambda: [f"2 × {fmt(p)} + 4 × {model.layers} × {model.heads} × {model.head_dim} × {fmt(context)} = {fmt(total, 'FLOP')}"])
