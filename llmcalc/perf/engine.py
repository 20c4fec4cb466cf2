"""One pass of the reference engine, assembled operator by operator.

The reference engine is the one the H100 calibration file was measured with: a LLaMA-style
decoder in PyTorch (RMSNorm, fused QKV projection, RoPE, scaled_dot_product_attention, SwiGLU
MLP), bf16 weights, CUDA-graph replay for inference; fused AdamW with fp32 master weights and
bf16 autocast for training. Per layer it runs, for ``n`` tokens:

* four GEMMs: QKV (n×h)·(h×(a·d + 2·k·d)), output (n×a·d_v)·(a·d_v×h), gate+up
  (n×h)·(h×2f) and down (n×f)·(f×h) (non-gated MLPs: one up projection of f);
* attention: causal FlashAttention over the new tokens (prefill), or a read of the KV cache
  (decode);
* memory-bound kernels: norms, RoPE, the KV-cache write, the SiLU·mul, residual adds;
* a fixed number of kernel launches.

Plus per pass: the embedding gather, the LM head for the rows that need logits, and a fixed
per-step overhead. With ``gpus > 1`` the weights, heads and FFN are split (Megatron tensor
parallelism) and two all-reduces per layer are added (:mod:`llmcalc.perf.comm`).

Everything broadcasts over NumPy arrays of batch / tokens / context.
"""
from __future__ import annotations

import functools

import numpy as np

from ..hardware import DTYPE_BYTES
from . import comm
from . import operators as op


class Shapes:
    """Per-GPU matrix shapes of a model under tensor parallelism over ``g`` GPUs."""

    def __init__(self, model, g: int = 1):
        m = model
        self.model = m
        self.g = g
        self.L = m.layers
        self.h = m.hidden
        self.heads = m.heads / g
        self.kv_heads = max(m.kv_heads / g, 1.0)
        self.d = m.head_dim
        self.dv = m.v_head_dim or m.head_dim
        if m.attention == "mla":
            o = m.heads * self.dv * m.hidden
            self.qkv_n = (m.attention_params() - o) / m.hidden / g
        else:
            self.qkv_n = (m.heads * self.d + m.kv_heads * (self.d + self.dv)) / g
        self.o_k = m.heads * self.dv / g
        self.gated = m.gated
        self.up_mult = 2 if m.gated else 1
        self.ffn = m.ffn / g
        self.vocab = m.vocab / g
        self.dense_layers = m.layers - m.moe_layers
        self.moe_layers = m.moe_layers
        self.experts = m.experts
        self.topk = m.experts_per_token
        self.shared = m.shared_experts
        self.moe_ffn = (m.moe_ffn or m.ffn) / g
        self.kv_values_layer = m.kv_values_per_token() / m.layers / (g if m.attention != "mla" else 1)
        self.qkv_width = self.qkv_n  # elements per token leaving the QKV projection

    def ffn_active(self, moe: bool) -> float:
        """FFN width a token passes through in one layer (MoE: routed + shared experts)."""
        if moe:
            return (self.topk + self.shared) * self.moe_ffn
        return self.ffn


@functools.lru_cache(maxsize=512)
def shapes(model, g: int = 1) -> Shapes:
    """:class:`Shapes` of a model over ``g`` GPUs, built once per (model, g): models are immutable."""
    return Shapes(model, g)


def _as_float(x):
    return np.asarray(x, dtype=float) if isinstance(x, np.ndarray) else float(x)


class Totals:
    """Accumulates operator times into named terms, with the quantities the explanation needs.

    GEMMs are recorded (shape, count) so that their FLOPs and bytes are only summed when an
    explanation is asked for; a sweep over a million batch sizes pays for the times only."""

    def __init__(self):
        self.terms: dict = {}
        self.gemms: list = []
        self.info: dict = {"attn_flops": 0.0, "kv_bytes": 0.0, "elem_bytes": 0.0, "kernels": 0.0}

    def add(self, term: str, seconds):
        self.terms[term] = self.terms.get(term, 0.0) + seconds

    def gemm(self, term, M, N, K, prof, rate, bw, wb, ab, count=1.0):
        t = op.gemm(M, N, K, prof, rate, bw, wb, ab, count)
        self.add(term, t)
        self.gemms.append((M, N, K, count, wb, ab, prof, rate, bw))
        return t

    def gemm_info(self) -> dict:
        """Σ FLOPs, bytes, weight bytes, compute-side and memory-side seconds of the recorded GEMMs."""
        out = {"gemm_flops": 0.0, "gemm_bytes": 0.0, "weight_bytes": 0.0, "gemm_tc": 0.0, "gemm_tm": 0.0}
        for M, N, K, count, wb, ab, prof, rate, bw in self.gemms:
            flops = 2.0 * M * N * K * count
            nbytes = (N * K * wb + M * (K + N) * ab) * count
            out["gemm_flops"] = out["gemm_flops"] + flops
            out["gemm_bytes"] = out["gemm_bytes"] + nbytes
            out["weight_bytes"] = out["weight_bytes"] + N * K * wb * count
            out["gemm_tc"] = out["gemm_tc"] + flops / (rate * op.gemm_efficiency(M, N, K, prof, rate, ab))
            out["gemm_tm"] = out["gemm_tm"] + nbytes / bw
        return out


def _layer_gemms(tot, s: Shapes, n, prof, rate, bw, wb, ab, term="matmuls", scale=1.0, backward=False):
    """The GEMMs of all layers for n tokens (forward, or backward: data- and weight-gradient GEMMs)."""
    def g(M, N, K, count):
        if not backward:
            tot.gemm(term, M, N, K, prof, rate, bw, wb, ab, count * scale)
        else:  # dX = dY·Wᵀ: (M×N)·(N×K); dW = Xᵀ·dY: (K×M)·(M×N)
            tot.gemm(term, M, K, N, prof, rate, bw, wb, ab, count * scale)
            tot.gemm(term, K, N, M, prof, rate, bw, ab, ab, count * scale)

    L = s.L
    g(n, s.qkv_n, s.h, L)
    g(n, s.h, s.o_k, L)
    if s.dense_layers:
        g(n, s.up_mult * s.ffn, s.h, s.dense_layers)
        g(n, s.h, s.ffn, s.dense_layers)
    if s.moe_layers:
        E, k = s.experts, s.topk
        g(n, E, s.h, s.moe_layers)                           # router
        # distinct experts hit by n tokens routed uniformly, and the rows each one gets
        touched = E * (1.0 - (1.0 - k / E) ** np.maximum(n, 1.0))
        rows = n * k / touched
        g(rows, s.up_mult * s.moe_ffn, s.h, s.moe_layers * touched)
        g(rows, s.h, s.moe_ffn, s.moe_layers * touched)
        if s.shared:
            g(n, s.up_mult * s.moe_ffn * s.shared, s.h, s.moe_layers)
            g(n, s.h, s.moe_ffn * s.shared, s.moe_layers)


def _elementwise_bytes(s: Shapes, n, prof):
    """Bytes moved per pass by the memory-bound kernels of all layers (norms, RoPE, KV write,
    activation, residual adds): n · Σ_layers (c_h·h + c_qkv·qkv width + c_f·FFN width)."""
    e = prof.elementwise
    per_token = s.L * (e["per_hidden"] * s.h + e["per_qkv"] * s.qkv_width)
    act = 1.0 if s.gated else 0.5   # GELU/ReLU: read f, write f, vs SiLU(gate)·up: ~2× that
    per_token += s.dense_layers * e["per_ffn"] * act * s.ffn
    per_token += s.moe_layers * e["per_ffn"] * act * s.ffn_active(True)
    return n * per_token * e.get("scale", 1.0)


def _comm(tot, s: Shapes, n, gpu, ab, prof):
    """Two all-reduces of the n×h activations per layer (Megatron tensor parallelism; one for a parallel
    attention+MLP block), each timed by the shared collective model (:func:`llmcalc.perf.comm.all_reduce`:
    NCCL ring/tree over the GPU's scale-up domain, networks.csv). Source: Megatron-LM (Shoeybi et al. 2019)
    for the two all-reduces. Not validated for the reference engine (the calibration file has one GPU); the
    serving engine's all-reduces are checked against published multi-GPU tables (:mod:`.serving_engine`)."""
    if s.g <= 1:
        return
    per_layer = 1.0 if s.model.parallel_attention else 2.0
    tot.add("communication", per_layer * s.L * comm.all_reduce(n * s.h * ab, s.g, comm.cluster_of(gpu)))


def forward(model, gpu, prof, batch, tokens, context, *, mode, gpus=1, dtype="bf16", kv_dtype=None):
    """Terms of one forward pass.

    mode "prefill": ``tokens`` new tokens per sequence, causal attention among them, KV cache
    written, logits for the last position of each sequence.
    mode "decode": one new token per sequence attending ``context`` cached positions, logits
    for every sequence.
    mode "train": like prefill but logits for every position (the LM head sees B·T rows).
    """
    s = shapes(model, gpus)
    rate = prof.flops(dtype, gpu)
    bw = prof.bandwidth
    wb = DTYPE_BYTES[dtype]
    ab = 4.0 if dtype in ("fp32", "tf32") else 2.0
    kvb = DTYPE_BYTES[kv_dtype or dtype]
    B = _as_float(batch)
    tot = Totals()
    if mode == "decode":
        n = B
        T = 1.0
    else:
        T = _as_float(tokens)
        n = B * T
    _layer_gemms(tot, s, n, prof, rate, bw, wb, ab)

    # attention
    if mode == "decode":
        C = _as_float(context)
        kv_layer = B * C * s.kv_values_layer * kvb
        t_att = op.decode_attention(B, C, s.heads, s.kv_heads, s.d, kv_layer, prof, bw)
        tot.add("attention", s.L * t_att)
        tot.info["kv_bytes"] = s.L * kv_layer
        tot.info["attn_flops"] = s.L * 2.0 * B * s.heads * (s.d + s.dv) * C
    else:
        t_att, fl = op.flash_attention_causal(B, T, s.heads, s.d, s.dv, prof, rate)
        tot.add("attention", s.L * t_att)
        tot.info["attn_flops"] = s.L * fl
        tot.info["kv_bytes"] = s.L * n * s.kv_values_layer * kvb

    # memory-bound kernels of the layers
    eb = _elementwise_bytes(s, n, prof)
    tot.add("norms & activations", op.memory_pass(eb, bw))
    tot.info["elem_bytes"] = eb

    # embedding gather (read a row, write it) and the LM head
    tot.add("embedding", op.memory_pass(n * s.h * 2.0 * ab, bw))
    rows = n if mode == "train" else B
    tot.gemm("LM head", rows, s.vocab, s.h, prof, rate, bw, wb, ab)

    _comm(tot, s, n, gpu, ab, prof)

    o = prof.overheads
    kernels = s.L * o["kernels_per_layer"] + s.moe_layers * o.get("moe_kernels_per_layer", 0)
    tot.info["kernels"] = kernels
    tot.add("fixed overheads", kernels * o["kernel_s"] + o["step_s"])
    return tot, s


def gemm_flops(info: dict):
    """Σ GEMM FLOPs of the passes recorded in ``info["gemm_totals"]`` (forward, backward, recompute)."""
    return sum(t.gemm_info()["gemm_flops"] for t in info["gemm_totals"])


def total(terms: dict):
    t = 0.0
    for v in terms.values():
        t = t + v
    return t


def train(model, gpu, prof, micro_batch, seq, *, recompute=False, dtype="bf16"):
    """Terms of one optimizer step of mixed-precision AdamW on one GPU.

    forward (logits for all B·T positions, full-vocabulary cross-entropy) + backward
    (data- and weight-gradient GEMMs: 2× the forward FLOPs; attention backward 2.5× the forward
    FLOPs; memory-bound kernels ``elementwise_backward`` × their forward bytes) + with
    ``recompute`` one more forward of the layers + the optimizer: fused AdamW reads fp32
    weight, gradient, m, v and writes weight, m, v (28 bytes/parameter), autocast casts the fp32
    weights to bf16 once per forward (6 bytes/parameter) and the bf16 weight gradients back
    to fp32 (6 bytes/parameter). Sources: Narayanan et al. 2021 (backward = 2× forward
    GEMMs); Dao 2023 FlashAttention-2 (backward 5 matmuls vs 2: 2.5×, at ~85% of the forward
    efficiency: 63% vs 73% of A100 peak); PyTorch fused AdamW and autocast semantics.
    """
    fwd, s = forward(model, gpu, prof, micro_batch, seq, 0, mode="train", dtype=dtype)
    tr = prof.training
    rate = prof.flops(dtype, gpu)
    bw = prof.bandwidth
    ab = 2.0
    B, T = _as_float(micro_batch), _as_float(seq)
    n = B * T
    terms = {f"forward {k}": v for k, v in fwd.terms.items() if k != "fixed overheads"}
    info = dict(fwd.info)
    info["gemm_totals"] = [fwd]  # GEMM FLOPs are summed only for an explanation (gemm_flops())

    bwd = Totals()
    _layer_gemms(bwd, s, n, prof, rate, bw, ab, ab, term="backward matmuls", backward=True)
    bwd.gemm("backward matmuls", n, s.h, s.vocab, prof, rate, bw, ab, ab)      # dX of the LM head
    bwd.gemm("backward matmuls", s.h, s.vocab, n, prof, rate, bw, ab, ab)      # dW of the LM head
    t_att, fl = op.flash_attention_causal(B, T, s.heads, s.d, s.dv, prof, rate)
    terms["backward attention"] = s.L * t_att * tr["attention_backward_flops"] / tr["attention_backward_efficiency"]
    terms["backward matmuls"] = bwd.terms["backward matmuls"]
    terms["backward norms & activations"] = tr["elementwise_backward"] * fwd.terms["norms & activations"]
    info["gemm_totals"].append(bwd)
    info["attn_flops"] = info["attn_flops"] * (1.0 + tr["attention_backward_flops"])

    V = model.vocab
    terms["cross-entropy"] = op.memory_pass(n * V * tr["cross_entropy_bytes_per_logit"], bw)
    P = float(model.params())
    per_param = tr["optimizer_bytes_per_param"] + tr["cast_bytes_per_param"] * (2 if recompute else 1) \
        + tr["grad_cast_bytes_per_param"]
    terms["optimizer & casts"] = op.memory_pass(P * per_param, bw)
    terms["embedding backward"] = op.memory_pass(V * s.h * 4.0 + n * s.h * (ab + 4.0), bw)
    if recompute:
        rec = Totals()
        _layer_gemms(rec, s, n, prof, rate, bw, ab, ab, term="recompute")
        terms["recompute"] = (rec.terms["recompute"] + fwd.terms["attention"]
                              + fwd.terms["norms & activations"])
        info["gemm_totals"].append(rec)
    o = prof.overheads
    passes = 4 if recompute else 3
    terms["fixed overheads"] = passes * info["kernels"] * o["kernel_s"] + o["step_s"]
    info["params"] = P
    info["per_param_bytes"] = per_param
    return terms, info, s
