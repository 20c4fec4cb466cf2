"""Memory per GPU of a training layout: model states under each sharding, activations, buffers.

**Model states** (mixed precision with Adam; Rajbhandari et al. 2020 "ZeRO", Megatron-LM):
16-bit weights (2 bytes per parameter), the gradient buffer (``grad_reduce_bytes`` of the stack: 4
for fp32 accumulation, 2 for fp16), fp32 master weights and Adam's two moments (12 bytes). Each GPU
holds its tensor-parallel slice of the dense parameters of its pipeline stage and its expert-parallel
share of the experts; ZeRO-1 (distributed optimizer) divides the 12 bytes by the data-parallel group
(dp·cp), ZeRO-2 the gradients too, ZeRO-3/FSDP also the weights (plus two layers gathered at a
time: the one computing and the one prefetched). fp8/fp4 training keeps a low-precision copy of
each weight and its transpose (Transformer Engine): +2 bytes per parameter.

**Activations** per layer and micro-batch (Korthikanti et al. 2022, §4: 16-bit values, bytes per
token): the inputs of the two norms, of the QKV projection and of the MLP (8·h), the dropout masks
(2·h when dropout is on) — these are replicated over the tp ranks unless sequence parallelism
shards them — and, sharded over tp, Q, K and V (2·qkv columns), the attention output (2·a·d_v), the
MLP's up/gate outputs and activation (GeLU 4h: 16·h; SwiGLU: 6·ffn), and without FlashAttention
the scores, softmax and dropout of b·a·s² (5·a·s bytes per token; selective recomputation drops
them). For GPT-3 (MHA, 4h GeLU, dropout) this is Korthikanti's s·b·h·(10 + 24/t + 5·a·s/(h·t)), with
sequence parallelism s·b·h·(34/t + 5·a·s/(h·t)). Full recomputation keeps only each layer's input
(2·h per token, /tp with sequence parallelism) plus the full activations of the one layer being
recomputed. Context parallelism divides the tokens by cp.

**In flight**: with 1F1B the first stage holds min(p, m) micro-batches of its layers, with the
interleaved schedule × (1 + (p−1)/(p·v)) (Korthikanti et al. 2022 §4.2.3); the last stage holds
one micro-batch plus the logits in 16-bit and fp32 (n·V/tp·6 bytes).

**Usable memory**: the datasheet capacity less the CUDA context, NCCL buffers and allocator
fragmentation: :data:`USABLE_FRACTION` of it.
"""
from __future__ import annotations

import numpy as np

from .step import Arch, _any_array, _f, _layout, _max, _min, stage_split

# The CUDA context (~0.5 GB), NCCL communicator buffers (~1–2 GB for a few groups) and the caching
# allocator's fragmentation leave about 90% of HBM for tensors in large-model training (PyTorch's
# memory snapshots of Megatron runs typically peak at 90–95% of capacity without OOM).
USABLE_FRACTION = 0.90


def layer_activation_bytes(a: Arch, tokens, seq_chunk, tp, sp, flash: bool, dropout: bool, recompute_sel=False):
    """Bytes stored per layer for backward, for ``tokens`` tokens on one GPU whose sequences are
    ``seq_chunk`` long (see module docstring)."""
    tp = _f(tp)
    sp_div = np.where(sp, tp, 1.0) if isinstance(sp, np.ndarray) else (tp if sp else 1.0)
    replicated = 8.0 * a.h + (2.0 * a.h if dropout else 0.0)
    kv_per = _max(a.kv / tp, 1.0)
    qkv = a.qkv_cols / tp if a.mla else (a.a * a.d / tp + 2.0 * kv_per * a.d)
    mlp = (6.0 if a.up == 2 else 4.0) * a.ffn / tp
    if a.moe_layers:
        mlp_moe = (6.0 if a.up == 2 else 4.0) * a.moe_ffn * (a.k + a.shared) / tp + 2.0 * a.h * a.k / tp
        f = a.moe_layers / a.L
        mlp = (1 - f) * mlp + f * mlp_moe
    sharded = 2.0 * qkv + 2.0 * a.o_cols / tp + mlp
    per_token = replicated / sp_div + sharded
    if not flash and not recompute_sel:
        per_token = per_token + 5.0 * (a.a / tp) * seq_chunk
    return tokens * per_token


def breakdown(a: Arch, *, tp, pp, cp, dp, ep, vp, mb, sp, shard, recompute, seq, global_batch, stack, dtype="bf16"):
    """Bytes per GPU of the most loaded pipeline stage, by part (dict of arrays or floats).

    Keys: ``weights``, ``gradients``, ``optimizer``, ``activations``, ``logits``, ``total``.
    """
    (tp, pp, cp, dp, ep, vp, mb), one = _layout(tp, pp, cp, dp, ep, vp, mb)
    arr = not one or _any_array(sp, shard, recompute)
    per, _ = stage_split(a.L, pp, vp)   # layers of the first stage (the one holding the embedding)
    frac_moe = a.moe_layers / a.L
    dense = per * (a.p_attn + (1 - frac_moe) * a.p_mlp + frac_moe * (a.shared * a.p_expert + a.p_router))
    dense = dense + a.p_embed + (np.where(pp == 1, a.p_head, 0.0) if arr else (a.p_head if pp == 1 else 0.0))
    experts = per * frac_moe * a.E * a.p_expert
    p_gpu = dense / tp + experts / ep
    g = dp * cp
    shard = np.asarray(shard) if arr else shard
    w_div = np.where(shard >= 3, g, 1.0) if arr else (g if shard >= 3 else 1.0)
    gr_div = np.where(shard >= 2, g, 1.0) if arr else (g if shard >= 2 else 1.0)
    o_div = np.where(shard >= 1, g, 1.0) if arr else (g if shard >= 1 else 1.0)
    low = dtype in ("fp8", "fp4")
    weights = p_gpu * (2.0 + (2.0 if low else 0.0)) / w_div
    layer_p = (a.p_attn + (1 - frac_moe) * a.p_mlp) / tp + frac_moe * a.E * a.p_expert / ep
    gathered = np.where(shard >= 3, 2.0 * layer_p * 2.0, 0.0) if arr else (2.0 * layer_p * 2.0 if shard >= 3 else 0.0)
    weights = weights + gathered
    grads = p_gpu * stack.grad_reduce_bytes / gr_div
    optimizer = p_gpu * 12.0 / o_div

    n = mb * float(seq) / cp
    m = float(global_batch) / (dp * mb)
    rc = recompute
    full_l = layer_activation_bytes(a, n, float(seq) / cp, tp, sp, stack.flash_attention, stack.dropout)
    # selective recomputation drops the s² attention scores, which fused (flash) attention never stores
    sel_l = full_l if stack.flash_attention else layer_activation_bytes(a, n, float(seq) / cp, tp, sp, False,
                                                                        stack.dropout, recompute_sel=True)
    sp_div = np.where(sp, tp, 1.0) if isinstance(sp, np.ndarray) else (tp if sp else 1.0)
    ckpt_l = 2.0 * a.h * n / sp_div
    if arr:
        per_layer = np.select([rc == 2, rc == 1], [ckpt_l, sel_l], full_l)
        working = np.where(rc == 2, full_l, 0.0)
    else:
        per_layer = ckpt_l if rc == 2 else sel_l if rc == 1 else full_l
        working = full_l if rc == 2 else 0.0
    inflight = _min(pp, m)
    interleave = np.where(vp > 1, 1.0 + (pp - 1.0) / (pp * vp), 1.0) if arr else (1.0 + (pp - 1.0) / (pp * vp) if vp > 1 else 1.0)
    acts_first = per * per_layer * inflight * interleave + working + n * a.h * 2.0
    logits = n * a.V / tp * 6.0
    acts_last = per * per_layer + working + logits
    acts = _max(acts_first, acts_last)
    total = weights + grads + optimizer + acts
    return {"weights": weights, "gradients": grads, "optimizer": optimizer, "activations": acts,
            "total": total}


def usable(gpu) -> float:
    """Bytes of HBM a training process can fill: :data:`USABLE_FRACTION` of the capacity."""
    return USABLE_FRACTION * gpu.memory_bytes
