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
from ..kinds import Choice, Fraction, Number, Rate, short
from ..registry import Arg, Example, user_function, variant
from ..results import Calc
from . import args as A
from .training import catalog_price

ROOFLINE_ASSUMPTIONS = ("Roofline with the given utilisations: the slower of compute (2·P FLOPs per token) and memory "
                        "(weights, plus the KV cache when the architecture is known); attention FLOPs and communication "
                        "between GPUs are ignored, as in article 2.",)
# Article 2's assumptions for LLaMA-2-70B on 2 × A100-80GB: 70e9 parameters in fp16, 200 TFLOP/s, 1.3 TB/s, $2.21/h
ARTICLE2_ASSUMPTIONS = dict(gpus=2, price="$2.21/h", mfu="200 TFLOP/s", bandwidth_utilization="1.3 TB/s", dtype="fp16")


def _rates(gpu, s):
    """Effective FLOP/s and bytes/s per GPU, from explicit utilisations or the GPU profile."""
    peak = gpu.peak_flops(s.dtype)
    f = Rate.resolve(s.mfu, peak, "mfu")
    b = Rate.resolve(s.bandwidth_utilization, gpu.bandwidth, "bandwidth_utilization")
    if f is None or b is None:  # the profile gives the one not given
        f_def, b_def = perf.efficiencies(gpu, s.dtype, s.profile)
        f, b = (f_def if f is None else f), (b_def if b is None else b)
    return peak * f, gpu.bandwidth * b


def _sizes(model, s):
    """(active parameters, weight bytes, KV bytes per token) for a Model or a bare count."""
    if isinstance(model, float):
        return model, model * DTYPE_BYTES[s.dtype], 0.0
    p = float(model.params(active=True))
    return p, float(model.params()) * DTYPE_BYTES[s.dtype], model.kv_values_per_token() * DTYPE_BYTES[s.kv_dtype or s.dtype]


def _perf_notes(est):
    eng = est.info.get("engine")
    if eng is not None:
        return [f"Serving engine {eng.name}: its kernels from the engine's code and release notes, its global "
                "parameters fitted on the published TensorRT-LLM 0.9 tables (docs/serving.md); "
                f"{est.info['hardware'].provenance}."]
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


def _roofline(s) -> bool:
    return s.mfu is not None or s.bandwidth_utilization is not None


def _need_arch(model):
    if isinstance(model, float):
        raise ArgumentError("model", "a bare parameter count needs mfu= or bandwidth_utilization= (the articles' roofline); "
                            "for the calibrated model give a model name or config.json")


def _prefill(model, gpu, batch, tokens, s):
    """(seconds, explanation lines, assumptions) of one prefill pass."""
    if _roofline(s):
        p, w, _ = _sizes(model, s)
        fe, be = _rates(gpu, s)
        flops = fi.forward_flops(p, batch * tokens)
        t = fi.prefill_seconds(flops, w, s.gpus, fe, be)
        comp, mem = flops / (s.gpus * fe), w / (s.gpus * be)
        lines = lambda: [  # noqa: E731  (formatted only when someone asks for the explanation)
            f"compute: 2 × {fmt(p)} × {fmt(batch)} × {fmt(tokens)} = {fmt(flops, 'FLOP')} at {fmt(s.gpus)} × {fmt(fe, 'FLOP/s')} = {fmt(comp, 's')}",
            f"weights: {fmt(w / 1e9, 'GB')} at {fmt(s.gpus)} × {fmt(be / 1e12, 'TB/s')} = {fmt(mem, 's')}",
            f"{'compute-bound' if np.all(comp >= mem) else 'memory-bound'}: t = {fmt(t, 's')}"]
        return t, lines, list(ROOFLINE_ASSUMPTIONS)
    _need_arch(model)
    est = perf.prefill(model, gpu, batch, tokens, s)
    return est.seconds, lambda: est.lines, _perf_notes(est)


def _decode(model, gpu, batch, context, s):
    """(seconds, explanation lines, assumptions) of one decode step."""
    if _roofline(s):
        p, w, kvt = _sizes(model, s)
        fe, be = _rates(gpu, s)
        kv = kvt * batch * context
        flops = fi.forward_flops(p, batch)
        t = fi.decode_step_seconds(w, kv, flops, s.gpus, fe, be)
        mem, comp = (w + kv) / (s.gpus * be), flops / (s.gpus * fe)
        lines = lambda: [  # noqa: E731  (formatted only when someone asks for the explanation)
            f"memory: ({fmt(w / 1e9, 'GB')} weights + {fmt(kv / 1e9, 'GB')} KV) at {fmt(s.gpus)} × {fmt(be / 1e12, 'TB/s')} = {fmt(mem, 's')}",
            f"compute: 2 × {fmt(p)} × {fmt(batch)} = {fmt(flops, 'FLOP')} at {fmt(s.gpus)} × {fmt(fe, 'FLOP/s')} = {fmt(comp, 's')}",
            f"{'memory-bound' if np.all(mem >= comp) else 'compute-bound'}: step = {fmt(t, 's')}"]
        notes = list(ROOFLINE_ASSUMPTIONS) + (["Bare parameter count: KV cache not counted."] if isinstance(model, float) else [])
        return t, lines, notes
    _need_arch(model)
    est = perf.decode_step(model, gpu, batch, context, s)
    return est.seconds, lambda: est.lines, _perf_notes(est)


PREFILL_FORMULA = "t = max(2·P·B·N / (g·F_eff), weights / (g·BW_eff)) with explicit utilisations; else the calibrated per-operator model"
DECODE_FORMULA = "t = max((weights + KV(B, context)) / (g·BW_eff), 2·P·B / (g·F_eff)) with explicit utilisations; else the calibrated per-operator model"


@user_function("LLM_PREFILL_TIME", unit="s", category="inference",
               args=[A.model_or_params, A.gpu, A.batch.but(help="prompts processed together"), A.prompt_tokens, A.SERVING],
               formula=PREFILL_FORMULA, sources=[("article2", "§4"), "perf-model"],
               examples=[Example((70e9, "A100-80GB", 1, 512), 0.179, dict(gpus=2, mfu="200 TFLOP/s", dtype="fp16"), rel=5e-3,
                                 note="article 2 §4: 512 tokens in ≈170 ms (its 2·P·N / 400 TFLOP/s)"),
                         Example((70e9, "A100-80GB", 64, 512), 2.867, dict(gpus=8, mfu="200 TFLOP/s"), rel=5e-3,
                                 note="article 2 §4: batch 64 of 512 tokens on 8 GPUs in ≈2.9 s"),
                         Example((70e9, "A100-80GB", 64, 3596), 20.14, dict(gpus=8, mfu="200 TFLOP/s"), rel=5e-3,
                                 note="article 2 §4: batch 64 of 3596 tokens on 8 GPUs in 20.1 s"),
                         Example(("llama-3-8b", "H100", 1, 2048), 0.0589, rel=0.02,
                                 note="calibrated model; measured 0.0575 s on an H100 (h100-calibration.json)")])
def prefill_time(model, gpu, batch, tokens, serving):
    """Time of one prefill pass (time to first token) over a batch of prompts."""
    t, lines, notes = _prefill(model, gpu, batch, tokens, serving)
    return Calc(t, lines, notes)


prefill_ms = variant(prefill_time, "LLM_PREFILL_MS", unit="ms", summary="Prefill time (time to first token) in milliseconds.",
                     examples=[Example((70e9, "A100-80GB", 1, 1536), 537.6, dict(gpus=2, mfu="200 TFLOP/s", dtype="fp16"),
                                       note="article 2 §4: 1536 tokens in ≈530 ms"),
                               Example(("llama-2-7b", "H100", 1, 2048), 30.8, dict(dtype="fp8", engine="trtllm-0.9"), rel=0.03,
                                       note="TensorRT-LLM 0.9 performance overview: LLaMA 7B, FP8, H100, 2,048 input tokens, "
                                            "30.8 ms to the first token (the serving engine's calibration table)")])


@user_function("LLM_DECODE_STEP_TIME", unit="s", category="inference",
               args=[A.model_or_params, A.gpu, A.batch, A.context, A.SERVING], formula=DECODE_FORMULA,
               sources=[("article2", "§5"), "perf-model"],
               examples=[Example(("llama-3-8b", "H100", 1, 512), 7.65e-3, rel=0.02,
                                 note="calibrated model; measured 7.72 ms on an H100 (h100-calibration.json)")])
def decode_step_time(model, gpu, batch, context, serving):
    """Time of one decode step: one new token for each sequence of the batch (time per output token)."""
    t, lines, notes = _decode(model, gpu, batch, context, serving)
    return Calc(t, lines, notes)


def _tokens_per_s(t, values):
    b = values["batch"]
    return b / t, lambda: f"{fmt(b)} tokens / {fmt(t, 's')} = {fmt(b / t, 'tokens/s')}"


decode_tokens_per_s = variant(
    decode_step_time, "LLM_DECODE_TOKENS_PER_S", unit="token/s", summary="Generated tokens per second across the batch.",
    transform=_tokens_per_s, formula="throughput = B / t_step",
    sources=[("article2", "§5 (18.6 tokens/s at batch 1 on 2 × A100; 74.4 on 8)"), "perf-model"],
    examples=[Example((70e9, "A100-80GB", 1, 512), 18.57, dict(gpus=2, bandwidth_utilization="1.3 TB/s", dtype="fp16"),
                      note="article 2 §5: 18.6 tokens/s at batch 1 on 2 × A100"),
              Example((70e9, "A100-80GB", 1, 512), 74.3, dict(gpus=8, bandwidth_utilization="1.3 TB/s"),
                      note="article 2 §5: 8 GPUs, 74.4 tokens/s")])


def _kind(v, name):
    key = str(v).strip().lower()
    key = {"input": "prompt", "prefill": "prompt", "output": "generated", "completion": "generated",
           "generation": "generated", "decode": "generated"}.get(key, key)
    if key not in ("prompt", "generated"):
        raise ArgumentError(name, f"must be \"prompt\" or \"generated\", got {short(v)}")
    return key


kind = Arg("kind", Choice(("prompt", "generated"), _kind), "\"prompt\" (input tokens, prefill) or \"generated\" (output tokens, decode)")


@user_function(
    "LLM_COST_PER_1K_TOKENS", unit="USD/ktoken", category="inference",
    args=[A.model_or_params, A.gpu, kind, A.batch.but(help="sequences served together"),
          A.prompt_tokens.but(help="prompt length (prompt) or context length (generated)"), A.gpus_tp, A.price, A.SERVING],
    formula="$/1K tokens = g × price per GPU-hour / 3600 / (tokens per second) × 1000",
    sources=[("article2", "(prompt $0.00042/1K; generated $0.066/1K at batch 1, $0.0083 at 8, $0.0021 at 32)"), "perf-model"],
    assumptions=("GPUs are busy all the time (no idle capacity) and billed per GPU-hour.",),
    examples=[Example((70e9, "A100-80GB", "prompt", 1, 512), 0.0004297, ARTICLE2_ASSUMPTIONS, note="article 2: prompt $0.00042/1K"),
              Example((70e9, "A100-80GB", "generated", 1, 512), 0.0661, ARTICLE2_ASSUMPTIONS, note="article 2: $0.066/1K at batch 1"),
              Example((70e9, "A100-80GB", "generated", 8, 512), 0.00826, ARTICLE2_ASSUMPTIONS, rel=5e-3, note="article 2: $0.00825/1K at batch 8"),
              Example((70e9, "A100-80GB", "generated", 32, 512), 0.00206, ARTICLE2_ASSUMPTIONS, rel=5e-3, note="article 2: $0.00206/1K at batch 32")],
)
def cost_per_1k_tokens(model, gpu, kind, batch, tokens, price, serving):
    """Cost of 1,000 prompt or generated tokens on rented GPUs."""
    p, note = catalog_price(price, gpu)
    gpus = serving.gpus
    hourly = p * gpus
    if kind == "prompt":
        t, lines, notes = _prefill(model, gpu, batch, tokens, serving)
        tps = batch * tokens / t
    else:
        t, lines, notes = _decode(model, gpu, batch, tokens, serving)
        tps = batch / t
    cost = fi.cost_per_1k_tokens(hourly, tps)
    return Calc(cost, lambda: lines() + [f"{fmt(tps, 'tokens/s')}; {fmt(gpus)} × ${fmt(p)}/h = ${fmt(hourly)}/h",
                                       f"${fmt(hourly)}/h / 3600 / {fmt(tps)} × 1000 = ${fmt(cost)} per 1K tokens"], notes + [note])


@user_function(
    "LLM_MAX_BATCH", unit="", result="count", category="inference",
    args=[A.model, A.gpu, A.context, A.gpus_tp, A.dtype_compute, A.kv_dtype,
          Arg("memory_utilization", Fraction(), "fraction of GPU memory the server may use (vLLM's default 0.9)", 0.9)],
    formula="B_max = ⌊(g·capacity·u − weights) / (KV bytes per token × context)⌋",
    sources=[("article2", "§5"), "vllm-engine-args"],
    assumptions=("Capacity is the GPU's physical memory; activation workspace is inside the (1 − u) reserve.",),
    examples=[Example(("llama-2-70b", "A100-80GB", 4096, 2), 12,
                      note="(2 × 85.9 GB × 0.9 − 138 GB) / 1.34 GB per sequence; article 2's ≈8 adds its own slack")],
)
def max_batch(model, gpu, context, gpus, dtype, kv_dtype, memory_utilization):
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
    sources=[("article2", "§4 (312 TFLOP/s ÷ 2 TB/s → 156 tokens)")],
    assumptions=("Prefill reads the weights once and does 2·P FLOPs per token; the KV cache and attention are ignored.",),
    examples=[Example(("A100",), 156, dict(flops="312 TFLOP/s", bandwidth="2 TB/s"), note="article 2 §4: compute-bound past 156 tokens")],
)
def compute_bound_tokens(gpu, dtype, flops, bandwidth):
    """Prompt length above which prefill is compute-bound rather than memory-bound."""
    f = flops if flops is not None else gpu.peak_flops(dtype)
    b = bandwidth if bandwidth is not None else gpu.bandwidth
    n = fi.compute_bound_tokens(f, b, DTYPE_BYTES[dtype])
    return Calc(n, lambda: [f"{fmt(f, 'FLOP/s')} × {fmt(DTYPE_BYTES[dtype])} B / (2 × {fmt(b, 'B/s')}) = {fmt(n, 'tokens')}"])


@user_function(
    "LLM_FORWARD_FLOPS", unit="FLOP", category="inference",
    args=[A.model, A.context.but(kind=Number("token", count=True, integer=True, minimum=0, strict=False, maximum=1e9),
                                 help="positions attended (0: weights only)", default=0)],
    formula="FLOPs per token = 2·P_active(non-embedding) + 4·L·a·d·context",
    sources=[("article2", "§2 (2P plus the attention term)"), ("kaplan2020", "Table 1")],
    assumptions=("One token attending `context` positions; MoE counts the active experts only.",),
    examples=[Example(("llama-2-70b", 4096), 1.4817e11,
                      note="2 × (68.98e9 − 32,000 × 8,192 input embedding) + 4 × 80 × 64 × 128 × 4096")],
)
def forward_flops(model, context):
    """Forward-pass FLOPs for one token."""
    p = model.params(active=True) - model.embedding_params()
    att = fi.attention_flops(model.layers, model.heads, model.head_dim, 1, context)
    total = 2.0 * p + att
    return Calc(total, lambda: [f"2 × {fmt(p)} + 4 × {model.layers} × {model.heads} × {model.head_dim} × {fmt(context)} = {fmt(total, 'FLOP')}"])
