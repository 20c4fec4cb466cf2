"""The explanation text of performance-model estimates: which operator dominates, in words and numbers.

Built only when someone asks for ``.explain()``; an array result is described from its first
few inputs so that a million-point sweep stays cheap.
"""
from __future__ import annotations

import numpy as np

from ..explain import fmt
from . import engine
from .profile import Profile


def profile_line(prof: Profile, gpu, dtype) -> str:
    origin = ("derived from the H100 ratios, not measured" if prof.derived else
              f"from {prof.path or 'a profile file'}")
    return (f"profile {prof.name}: {fmt(prof.flops(dtype, gpu) / 1e12, 'TFLOP/s')} {dtype} matmul and "
            f"{fmt(prof.bandwidth / 1e12, 'TB/s')} achievable ({origin})")


SAMPLE = 4  # explanations of array results describe the first few inputs (fmt shows 4 anyway)


def explain_sample(mode, run, model, gpu, prof, tot, s, t, dtype, B, S, g):
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
    lines = [profile_line(prof, gpu, dtype)]
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


def explain_train(model, gpu, prof, terms, info, s, t, B, T, recompute):
    lines = [profile_line(prof, gpu, "bf16")]
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


def explain_memory(gpu, parts: dict, peak):
    """Lines of a peak-memory estimate: each part, the peak and whether it fits on the GPU."""
    lines = [f"{k}: {fmt(v / 1e9, 'GB')}" for k, v in parts.items()]
    cap = gpu.memory_bytes
    fits = np.all(np.asarray(peak) <= cap)
    lines.append(f"peak = {fmt(peak / 1e9, 'GB')} of {fmt(cap / 1e9, 'GB')} on one {gpu.name}"
                 + ("" if fits else " — does not fit"))
    big = max(parts, key=lambda k: float(np.max(parts[k])))
    return f"dominated by {big}", lines


def explain_engine(mode, eng, hw, terms: dict, t):
    """Lines of a production serving engine's prefill pass or decode step: its terms and what dominates."""
    first = {k: float(np.ravel(v)[0]) if isinstance(v, np.ndarray) else float(v) for k, v in terms.items()}
    t0 = float(np.ravel(t)[0]) if isinstance(t, np.ndarray) else float(t)
    lines = [f"engine: {eng.name}", f"hardware: {hw.gpu}, {hw.provenance or 'datasheet × published achievable fractions'}"]
    lines += [f"{k}: {fmt(v * 1e3, 'ms')}" for k, v in first.items() if v]
    top = max(first, key=first.get)
    bound = f"{top} {100 * first[top] / t0:.0f}% of the {'pass' if mode == 'prefill' else 'step'}"
    if isinstance(t, np.ndarray) and t.size > 1:
        bound += f" (for the first of {t.size} inputs)"
    lines += [bound, f"{'prefill' if mode == 'prefill' else 'decode step'}: t = {fmt(t * 1e3, 'ms')}"]
    return bound, lines
