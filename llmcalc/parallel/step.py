"""Iteration time of a training step on a cluster, from the calibrated single-GPU operator model.

One step processes ``global_batch`` sequences of ``seq`` tokens on tp·pp·cp·dp GPUs. Every time
below is *per GPU*; every function broadcasts over NumPy arrays of layouts (the layout search
evaluates thousands in one call) and takes plain numbers for one plan.

**A layer, one micro-batch** (``mb`` sequences, n = mb·seq/cp tokens on each GPU):

* GEMMs: QKV, attention output, MLP up (gate+up) and down, sharded over tp (Megatron column/row
  parallel linears); backward = a data-gradient and a weight-gradient GEMM per forward GEMM.
  Each is :func:`llmcalc.perf.operators.gemm` (roofline with the profile's achievable rate and
  GEMM efficiency) at the GEMM dtype (fp8/fp4 GEMMs: Transformer-Engine style, inputs cast with
  3 bytes moved per element; everything else 16-bit).
* attention: FlashAttention (causal tiles skipped; :func:`~llmcalc.perf.operators.flash_attention_causal`
  with its backward at ``attention_backward_flops / attention_backward_efficiency`` of the forward),
  or on the 2020–22 stacks two batched GEMMs over the full s×s scores around a fused scale-mask-softmax
  (read + write 2 bytes each) and dropout (read 2, write 2, mask 1) — memory-bound passes over
  mb·(a/tp)·s² elements. Context parallel splits the causal work evenly (load-balanced chunks).
* memory-bound kernels: norms, residual/dropout adds, activation, RoPE (bytes per token in
  :mod:`llmcalc.parallel.stack`); with sequence parallelism the per-hidden ones run on n/tp tokens.
* tensor-parallel collectives of the n·h activations (2 bytes): without sequence parallelism two
  all-reduces forward and two backward; with it two all-gathers and two reduce-scatters forward,
  and backward two all-gathers of output gradients, two reduce-scatters of input gradients and two
  all-gathers that re-gather the layer-norm outputs for the weight gradient (Korthikanti et al.
  2022 §4.2.2). A parallel attention+MLP block (``Model.parallel_attention``: GPT-J, Falcon) needs half
  of each: its two branches share one gathered input and one reduction of their summed outputs. Stacks that overlap the backward ones hide the input-gradient reduction behind the
  weight-gradient GEMM and the re-gather behind the data-gradient GEMM; what does not fit shows.
* context parallel (ring attention, Megatron-Core/TE): cp−1 exchanges of the K and V of a chunk
  forward (twice the bytes backward, K/V and their gradients), overlapped with the attention of the
  previous chunk; only the excess shows.
* mixture of experts: router GEMM, all-to-all dispatch and combine of the token rows (k per token,
  2 bytes per value) over the expert-parallel group, the E/ep local experts as GEMMs with
  n_tok·k·ep/E rows each (expert tensor parallelism 1, tokens sequence-sharded over tp).
* recomputation: ``full`` reruns the layer's forward (with its collectives) before its backward,
  ``selective`` reruns the attention core only (Korthikanti et al. 2022), ``none`` nothing.

**Pipeline** (1F1B, interleaved with ``vp`` virtual stages; Narayanan et al. 2021): with per
micro-batch stage times tₛ (forward + backward + recompute + exposed point-to-point), the step's
pipeline part is m·max(tₛ) + (p−1)/v·mean(tₛ): m micro-batches through the slowest stage plus
the fill and drain, i.e. a bubble of (p−1)/(v·m) for even stages. With fewer micro-batches than
stages (m < p) each micro-batch still crosses the p·v chunks one after another, so the step is
(p + (m−1)/v) stage times: the fill and drain term is max((p−1)/v, p − m + (m−1)/v). The last stage also runs the
LM head and the loss, the first the embedding; layers that do not divide evenly go to the middle
stages (the first and last get fewer, as Llama 3 and DeepSpeed's partitioner do). Point-to-point
activations are sent scattered over the tp ranks (Megatron's scatter/gather optimisation) and
re-gathered over the scale-up link; they are exposed unless the stack overlaps them (interleaved).

**Data parallel** (group dp·cp, ranks tp apart): gradients all-reduced (zero 0) or reduce-scattered
and the updated weights all-gathered (zero ≥ 1); ZeRO-2 reduce-scatters every micro-batch; ZeRO-3
and FSDP also all-gather each layer's weights for the forward and again for the backward of every
micro-batch, prefetched behind the previous layer's compute. Stacks that overlap hide the gradient
reduction behind the backward pass of the last micro-batch and the weight gather behind the first
forward; the rest is exposed. Then the optimizer (fused Adam and casts: the profile's bytes per
parameter over the locally held shard) and, for tied embeddings with pp > 1, the all-reduce of the
embedding gradient between the first and last stage.

(About 550 lines, a tenth of them this text: the layer, the pipeline and the data-parallel terms are one
formula, evaluated together for one plan or for arrays of thousands of layouts.)
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from ..perf import comm
from ..perf import operators as op
from .stack import Stack

RECOMPUTE = {"none": 0, "selective": 1, "full": 2}
ACT_BYTES = 2.0   # activations, gradients of activations and communicated tensors: bf16/fp16

# Global, fitted (benchmarks/accuracy_training.py --fit): how much of the overlapped span of a collective
# and the compute it runs behind costs the compute nothing. 1 would be perfect overlap; below 1 the
# collective's kernels take SMs and memory bandwidth from the compute kernels, which run longer by
# (1 − φ) of the span they share with it.
OVERLAP = 0.52


def hidden_behind(comm_s, window_s, overlap=None):
    """Exposed seconds of a collective of ``comm_s`` run concurrently with ``window_s`` of compute.

    Formula: exposed = max(C − W, (1 − φ)·min(C, W)), φ = :data:`OVERLAP`. Two streams run side by side
    and the step waits for the longer: the collective takes C (it is bound by the link, which the compute
    does not use), the compute takes W + (1 − φ)·min(C, W) (the collective's kernels take SMs and HBM
    bandwidth from it while both run). So a compute-bound span shows the contention, (1 − φ)·C, and a
    communication-bound span shows the collective's excess, C − W, the slowed compute finishing in its
    shadow unless it is slowed past it. Calculon (Isaev et al. SC'23, ``processor_usage``) slows the
    compute the same way but adds the slowdown to a communication-bound span as well (C + (1 − φ)·W);
    on the published rows that form needs a network faster than its line rate (the fit runs η network
    to 1.0), this one puts it at 0.88 of line rate, beside nccl-tests' 0.9 (docs/training-clusters.md).
    φ is fitted on the published rows."""
    phi = OVERLAP if overlap is None else overlap
    return _max(comm_s - window_s, (1.0 - phi) * _min(comm_s, window_s))


# np.maximum, np.minimum, np.where and np.ceil that keep one plan's plain numbers in float arithmetic
_max, _min, _where, _ceil = op.maximum, op.minimum, op.where, op.ceil


def _f(x):
    """float for scalars (fast Python arithmetic), float array otherwise."""
    return x if type(x) is float or isinstance(x, np.ndarray) else float(x)


def _layout(*xs):
    """:func:`_f` of each layout degree in ``xs`` (one call for all), and True when all are plain numbers (one plan:
    float arithmetic throughout) rather than arrays of layouts."""
    out = []
    one = True
    for x in xs:
        if type(x) is not float:
            if isinstance(x, np.ndarray):
                one = False
            else:
                x = float(x)
        out.append(x)
    return out, one


def _any_array(*xs) -> bool:
    """Whether any of ``xs`` is an array (many layouts at once) rather than a plain number (one plan)."""
    for x in xs:
        if type(x) is not float and isinstance(x, np.ndarray):
            return True
    return False


def gemm_rate(prof, gpu, dtype: str) -> float:
    """Achievable matmul FLOP/s of the GEMMs in training at ``dtype``.

    bf16/fp16: the profile's rate. fp8: the profile's fp8 rate (measured on H100, datasheet-scaled
    elsewhere). fp4: the fp8 rate × the datasheet fp4/fp8 ratio (NVFP4/MXFP4 GEMMs on Blackwell tensor
    cores; the profile's own "fp4" entry is weight-only fp4 dequantised into 16-bit tiles, which is
    not what low-precision training runs).
    """
    if dtype == "fp4":
        try:
            return prof.flops("fp8", gpu) * gpu.peak_flops("fp4") / gpu.peak_flops("fp8")
        except ArgumentError:
            raise ArgumentError("dtype", f"{gpu.name} has no fp4 tensor cores (no published dense fp4 peak)") from None
    return prof.flops(dtype, gpu)


_ARCHS: dict = {}


def arch(model) -> "Arch":
    """The :class:`Arch` of a model, built once per model object. Models are frozen, so the object identifies its
    sizes; looking it up by identity costs a dict access, where hashing a model hashes every field."""
    a = _ARCHS.get(id(model))
    if a is None or a.model is not model:   # (the Arch holds its model: the id is not reused while cached)
        if len(_ARCHS) >= 256:
            _ARCHS.clear()
        a = _ARCHS[id(model)] = Arch(model)
    return a


class Arch:
    """The per-layer sizes of a model that the step model needs (computed once per model)."""

    def __init__(self, model):
        m = model
        self.model = m
        self.L = m.layers
        self.h = float(m.hidden)
        self.a = float(m.heads)
        self.kv = float(m.kv_heads)
        self.d = float(m.head_dim)
        self.dv = float(m.v_head_dim or m.head_dim)
        o_params = m.heads * self.dv * m.hidden
        self.mla = m.attention == "mla"
        self.qkv_cols = (m.attention_params() - o_params) / m.hidden if self.mla else self.a * self.d + 2 * self.kv * self.d
        self.o_cols = self.a * self.dv
        self.up = 2.0 if m.gated else 1.0
        self.ffn = float(m.ffn)
        self.moe_layers = m.moe_layers
        self.dense_layers = m.layers - m.moe_layers
        self.E = float(m.experts)
        self.k = float(m.experts_per_token)
        self.shared = float(m.shared_experts)
        self.moe_ffn = float(m.moe_ffn or m.ffn)
        self.V = float(m.vocab)
        self.tied = bool(m.tied_embeddings)
        self.rope = m.position == "rope"
        self.parallel = bool(m.parallel_attention)
        # parameters: per layer (attention + norms), dense MLP, MoE block (experts, shared, router)
        self.p_attn = float(m.attention_params() + m.norms_per_layer * m.hidden * (2 if m.norm == "layernorm" else 1))
        self.p_mlp = float(m.mlp_params())
        self.p_expert = float(m.mlp_params(m.moe_ffn or m.ffn)) if m.experts else 0.0
        self.p_router = float(m.hidden * m.experts)
        self.p_embed = float(m.embedding_params())
        self.p_head = float(m.lm_head_params())
        self.params = float(m.params())


def _gemm(M, N, K, prof, rate, bw, b, count=1.0):
    return op.gemm(M, N, K, prof, rate, bw, b, b, count)


def _linears(shapes, prof, bw, one: bool):
    """Forward, data-gradient and weight-gradient seconds of a list of linear layers, in three vectorised
    :func:`llmcalc.perf.operators.gemm` calls. ``shapes``: (M, N, K, count, rate, bytes, cast) per linear,
    (M×K)·(K×N) forward; dX = (M×N)·(N×K); dW = (K×M)·(M×N); ``cast``: bytes moved per input element
    to cast it to an fp8/fp4 GEMM (0 for 16-bit). Returns (fwd, dgrad, wgrad) summed over the list;
    each entry may broadcast over layouts; ``one``: every entry is a plain number (one layout)."""
    if one:
        # one layout: plain float calls of the same operator formula (no array set-up cost)
        gemm = op.gemm
        f, dx, dw = [], [], []
        for M, N, K, cnt, rate, b, cast in shapes:
            c_in = cnt * cast / bw
            f.append(gemm(M, N, K, prof, rate, bw, b, b, cnt) + c_in * M * K)
            dx.append(gemm(M, K, N, prof, rate, bw, b, b, cnt) + c_in * M * N)
            dw.append(gemm(K, N, M, prof, rate, bw, b, b, cnt) + c_in * M * N)
        return sum(f), sum(dx), sum(dw), f, dx, dw
    else:
        cols = list(zip(*shapes))
        shape = np.broadcast_shapes(*(np.shape(x) for col in cols for x in col))
        M, N, K, cnt, rate, b, cast = (np.stack([np.broadcast_to(np.asarray(x, dtype=float), shape) for x in col])
                                       for col in cols)
    G = M.shape[0]
    # forward (M×K)·(K×N), data gradient (M×N)·(N×K), weight gradient (K×M)·(M×N): one vectorised call
    cat = np.concatenate
    t = op.gemm(cat([M, M, K]), cat([N, K, N]), cat([K, N, M]), prof, cat([rate] * 3), bw, cat([b] * 3), cat([b] * 3),
                cat([cnt] * 3))
    c_in = cnt * cast / bw
    f, dx, dw = t[:G] + c_in * M * K, t[G:2 * G] + c_in * M * N, t[2 * G:] + c_in * M * N
    return f.sum(axis=0), dx.sum(axis=0), dw.sum(axis=0), f, dx, dw


def layer_times(a: Arch, prof, gpu, cluster, tp, cp, mb, seq, sp, ep, stack: Stack, dtype="bf16", moe=False):
    """Per-GPU times of one transformer layer for one micro-batch, as a dict of seconds.

    Keys: ``fwd`` and ``bwd`` compute, ``attn_fwd`` (the attention core, rerun by selective
    recomputation), ``tp_fwd`` (exposed tensor-parallel communication of a forward pass),
    ``tp_bwd`` (exposed in the backward), ``cp_fwd``/``cp_bwd`` (exposed context-parallel exchanges),
    ``a2a`` (one MoE all-to-all), ``wgrad`` (weight-gradient GEMM time).
    """
    (tp, cp, mb, ep), one = _layout(tp, cp, mb, ep)       # one layout: the shapes below are plain numbers
    s = float(seq)
    n = mb * s / cp                                      # tokens of this GPU (all tp ranks see them)
    rate = gemm_rate(prof, gpu, dtype)
    low = dtype in ("fp8", "fp4")
    rate16 = prof.flops("bf16", gpu) if low else rate     # the 16-bit GEMMs (router) and attention
    bw = prof.bandwidth
    b = 1.0 if dtype == "fp8" else 0.5 if dtype == "fp4" else ACT_BYTES
    cast = 3.0 if low else 0.0
    h = a.h
    kv_per = _max(a.kv / tp, 1.0)
    qkv = a.qkv_cols / tp if a.mla else (a.a * a.d / tp + 2.0 * kv_per * a.d)
    heads = a.a / tp

    lin = [(n, qkv, h, 1.0, rate, b, cast), (n, h, a.o_cols / tp, 1.0, rate, b, cast)]
    col = [0]                                           # column-parallel linears (they hide TP backward comm)
    a2a = 0.0
    if not moe:
        lin += [(n, a.up * a.ffn / tp, h, 1.0, rate, b, cast), (n, h, a.ffn / tp, 1.0, rate, b, cast)]
        col.append(2)
        elem_ffn = n * (6.0 if a.up == 2 else 4.0) * a.ffn / tp
    else:
        tok = n / tp                                     # sequence-parallel shard routed by this GPU
        rows = tok * a.k                                 # expert rows this GPU computes (balanced routing)
        local = a.E / ep
        r = rows / local
        lin += [(tok, a.E, h, 1.0, rate16, ACT_BYTES, 0.0),                      # router, 16-bit
                (r, a.up * a.moe_ffn, h, local, rate, b, cast), (r, h, a.moe_ffn, local, rate, b, cast)]
        if a.shared:
            lin += [(tok, a.up * a.moe_ffn * a.shared, h, 1.0, rate, b, cast), (tok, h, a.moe_ffn * a.shared, 1.0, rate, b, cast)]
        elem_ffn = (rows + tok * a.shared) * (6.0 if a.up == 2 else 4.0) * a.moe_ffn + rows * 8.0 * h  # + permute/unpermute
        a2a = comm.all_to_all(rows * h * ACT_BYTES, ep, cluster, 1)
    fwd, dx, dw, f_all, dx_all, dw_all = _linears(lin, prof, bw, one)
    col_x = sum(map(dx_all.__getitem__, col))
    col_w = sum(map(dw_all.__getitem__, col))
    if not one and col_x.ndim == 0:
        col_x, col_w = float(col_x), float(col_w)
    bwd = dx + dw

    # attention core
    tr = prof.training
    if stack.flash_attention:
        # causal work split evenly over cp; tile efficiency of the cp chunk length
        T = s / cp
        pairs = s * (s + 1.0) / 2.0 / cp
        flops = 2.0 * mb * heads * (a.d + a.dv) * pairs
        at = prof.attention
        eta = at["efficiency"] * op.attention_head_factor(a.d, prof) * (T / (T + at["t0"]))
        attn_f = flops / (rate16 * eta)
        attn_b = attn_f * tr["attention_backward_flops"] / tr["attention_backward_efficiency"]
    else:
        cnt = mb * heads
        sc = cnt * s * s                                 # score elements (full square, masked)
        per = (4.0 + (5.0 if stack.dropout else 0.0))    # fused scale-mask-softmax (+ dropout)
        attn_f = (_gemm(s, s, a.d, prof, rate16, bw, ACT_BYTES, cnt) + _gemm(s, a.dv, s, prof, rate16, bw, ACT_BYTES, cnt)
                  + sc * per / bw)
        bper = (6.0 + (5.0 if stack.dropout else 0.0))   # softmax backward (y, dy → dx) + dropout backward
        attn_b = (_gemm(s, s, a.dv, prof, rate16, bw, ACT_BYTES, cnt) + _gemm(s, a.dv, s, prof, rate16, bw, ACT_BYTES, cnt)
                  + 2.0 * _gemm(s, a.d, s, prof, rate16, bw, ACT_BYTES, cnt) + sc * bper / bw)
    fwd = fwd + attn_f
    bwd = bwd + attn_b

    # memory-bound kernels
    sp_div = tp if sp is True else (np.where(sp, tp, 1.0) if isinstance(sp, np.ndarray) else 1.0)
    if stack.profile_elementwise:   # the calibration engine: the profile's byte template, unfused
        el = prof.elementwise
        ffn_w = (a.k + a.shared) * a.moe_ffn if moe else a.ffn
        e = n * (el["per_hidden"] * h / sp_div + el["per_qkv"] * qkv
                 + el["per_ffn"] * (1.0 if a.up == 2 else 0.5) * ffn_w / tp) * el.get("scale", 1.0)
    else:
        e = (n * stack.hidden() * h / sp_div + elem_ffn
             + n * (4.0 if a.rope else 0.0) * (heads + kv_per) * a.d
             + n * stack.context_bytes * a.o_cols / tp)
    t_elem = e / bw
    fwd = fwd + t_elem
    bwd = bwd + t_elem * tr["elementwise_backward"]
    o = prof.overheads
    k = o["kernels_per_layer"] + (o.get("moe_kernels_per_layer", 0) if moe else 0)
    fwd = fwd + k * o["kernel_s"]
    bwd = bwd + 2 * k * o["kernel_s"]

    # tensor parallel
    msg = n * h * ACT_BYTES
    spb = sp if isinstance(sp, np.ndarray) else bool(sp)
    ar = comm.all_reduce(msg, tp, cluster, 1) if spb is not True else 0.0
    ag = comm.all_gather(msg, tp, cluster, 1) if spb is not False else 0.0
    # blocks whose tensor-parallel outputs are reduced: attention and MLP, or one parallel attention+MLP
    # block (GPT-J, Falcon: both read the same normalised input and add their outputs together)
    nb = 1.0 if a.parallel else 2.0
    tp_fwd = np.where(spb, 2.0 * nb * ag, nb * ar) if isinstance(spb, np.ndarray) else (2.0 * nb * ag if spb else nb * ar)
    # backward: the all-gathers of output gradients (SP) are needed at once; the reduction of input
    # gradients (AR, or RS with SP) can run behind the column-parallel weight-gradient GEMMs and the
    # SP re-gather of the norm output behind their data-gradient GEMMs
    if isinstance(spb, np.ndarray):
        needed = np.where(spb, nb * ag, 0.0)
        reduce_ = np.where(spb, nb * ag, nb * ar)
        regather = np.where(spb, nb * ag, 0.0)
    elif spb:
        needed, reduce_, regather = nb * ag, nb * ag, nb * ag
    else:
        needed, reduce_, regather = 0.0, nb * ar, 0.0
    if stack.tp_backward_overlap:
        tp_bwd = needed + hidden_behind(reduce_, col_w) + hidden_behind(regather, col_x)
    else:
        tp_bwd = needed + reduce_ + regather
    if stack.tp_forward_overlap and spb is not False:
        # Transformer Engine userbuffers (sequence parallelism only): every collective pipelined with a GEMM
        f_ue, b_ue = userbuffers_tp(f_all, dx_all, dw_all, col, ag, nb, stack.tp_overlap_sms / prof.sm_count)
        if isinstance(spb, np.ndarray):
            tp_fwd, tp_bwd = np.where(spb, f_ue, tp_fwd), np.where(spb, b_ue, tp_bwd)
        else:
            tp_fwd, tp_bwd = f_ue, b_ue

    # context parallel: ring exchange of K and V chunks, hidden behind the attention of a chunk
    if isinstance(cp, np.ndarray) or cp > 1:
        kv_bytes = mb * (s / cp) * 2.0 * kv_per * a.d * ACT_BYTES
        across = cp * tp > cluster.scale_up_size
        hop = comm.send_recv(kv_bytes, cluster, across)
        ring = (cp - 1.0) * hop
        cp_fwd = np.where(cp > 1, hidden_behind(ring, attn_f * (cp - 1.0) / cp), 0.0)
        cp_bwd = np.where(cp > 1, hidden_behind(2.0 * ring, attn_b * (cp - 1.0) / cp), 0.0)
    else:
        cp_fwd = cp_bwd = 0.0
    return {"fwd": fwd, "bwd": bwd, "attn_fwd": attn_f, "tp_fwd": tp_fwd, "tp_bwd": tp_bwd,
            "cp_fwd": cp_fwd, "cp_bwd": cp_bwd, "a2a": a2a, "wgrad": dw}


def userbuffers_tp(f_all, dx_all, dw_all, col, ag, nb, margin):
    """Exposed seconds (forward, backward) of one layer's tensor-parallel collectives pipelined with the GEMMs
    by Transformer Engine userbuffers (``--tp-comm-overlap``, sequence parallelism), as TE sets them up by
    default (``initialize_ub`` in transformer_engine/pytorch/module/base.py):

    * all-gathers by ``ring_exchange`` over the copy engines (no SMs), each hidden behind the GEMM it feeds:
      the input all-gather behind the QKV and MLP-up forward GEMMs, the output-gradient all-gather behind
      the output-projection and MLP-down data-gradient GEMMs: exposed max(C − W, 0);
    * reduce-scatters by ``pipeline`` (forward, behind the output-projection and MLP-down GEMMs) and the
      ``bulk`` overlaps of the backward (the norm-output all-gather behind the QKV/MLP-up data-gradient GEMMs,
      the input-gradient reduce-scatter behind their weight-gradient GEMMs) on 16 SMs reserved for the
      communication kernel (``num_sm = 16``, ``set_sm_margin``): the GEMM runs on the other SMs, i.e. takes
      W/(1 − margin), margin = 16/SMs, and the collective shows only beyond that: exposed
      W·margin/(1 − margin) + max(C − W/(1 − margin), 0).

    ``f_all``/``dx_all``/``dw_all``: per-linear forward, data- and weight-gradient seconds; ``col``: indices
    of the column-parallel linears (QKV, MLP-up), the others being the row-parallel ones that follow them;
    ``ag``: seconds of one all-gather (a reduce-scatter costs the same); ``nb``: 2 reductions per layer, 1
    for a parallel attention+MLP block (one gathered input, one reduction of the summed outputs)."""
    stretch = 1.0 / (1.0 - margin)
    # the GEMMs each collective runs behind: column-parallel linear i and the row-parallel one after it (i + 1)
    f_col, f_row, dx_row, dx_col, dw_col = [], [], [], [], []
    for i in col:
        f_col.append(f_all[i])
        dx_col.append(dx_all[i])
        dw_col.append(dw_all[i])
        if i + 1 < len(f_all):
            f_row.append(f_all[i + 1])
            dx_row.append(dx_all[i + 1])
    if nb == 1.0:   # one collective behind all of them (parallel block): their windows add up
        f_col, f_row, dx_row, dx_col, dw_col = [sum(f_col)], [sum(f_row)], [sum(dx_row)], [sum(dx_col)], [sum(dw_col)]
    fwd = _ring(ag, f_col) + _on_sms(ag, f_row, stretch)
    bwd = _ring(ag, dx_row) + _on_sms(ag, dx_col, stretch) + _on_sms(ag, dw_col, stretch)
    return fwd, bwd


def _ring(c, windows):
    """Copy-engine ring exchanges of ``c`` seconds, each hidden up to the GEMM beside it: Σ max(C − W, 0)."""
    t = 0
    for w in windows:
        t = t + _max(c - w, 0.0)
    return t


def _on_sms(c, windows, stretch):
    """SM-based collectives of ``c`` seconds, each beside a GEMM that lost a margin of the SMs (``stretch`` =
    1/(1 − margin)): Σ W·(stretch − 1) + max(C − W·stretch, 0)."""
    t = 0
    for w in windows:
        t = t + (w * (stretch - 1.0) + _max(c - w * stretch, 0.0))
    return t


def head_times(a: Arch, prof, gpu, cluster, tp, cp, mb, seq, sp, dtype="bf16"):
    """LM head (a GEMM over V/tp columns, not recomputed), vocab-parallel cross-entropy and embedding.

    Returns (last-stage forward, last-stage backward, first-stage forward, first-stage backward) per
    micro-batch. The loss moves the profile's ``cross_entropy_bytes_per_logit`` per logit (fp32 softmax
    over the vocabulary shard, forward and backward); the embedding gathers rows forward and
    scatter-adds into a fp32 gradient backward. The LM head runs in 16-bit (Transformer Engine keeps
    the output layer out of fp8).
    """
    (tp, cp, mb), one = _layout(tp, cp, mb)
    n = mb * float(seq) / cp
    rate16 = prof.flops("bf16" if dtype in ("fp8", "fp4") else dtype, gpu)
    bw = prof.bandwidth
    f, dx, dw = _linears([(n, a.V / tp, a.h, 1.0, rate16, ACT_BYTES, 0.0)], prof, bw, one)[:3]
    ce = n * a.V / tp * prof.training["cross_entropy_bytes_per_logit"] / bw
    emb_f = n * a.h * 2.0 * ACT_BYTES / bw
    emb_b = n * a.h * (ACT_BYTES + 4.0) / bw
    return f + ce * 0.4, dx + dw + ce * 0.6, emb_f, emb_b


def stage_split(L, pp, vp):
    """(layers of the fullest stage, layers of the last stage) for L layers over pp·vp chunks.

    Even split when it divides; otherwise every stage but the last gets ⌈L/pp⌉ (the last gets the
    rest, so it can carry the LM head)."""
    pp, vp = _f(pp), _f(vp)
    per = _ceil(L / (pp * vp)) * vp
    last = L - (pp - 1.0) * per
    return per, last


def iteration(a: Arch, prof, gpu, cluster, *, tp, pp, cp, dp, ep, vp, mb, sp, shard, recompute, seq,
              global_batch, stack: Stack, dtype="bf16"):
    """Seconds of one optimizer step and its parts (dict of name → seconds, per GPU).

    See the module docstring for the formulas. ``shard`` is the ZeRO level 0–3, ``recompute``
    0 none / 1 selective / 2 full; all layout arguments broadcast.
    """
    (tp, pp, cp, dp, ep, vp, mb), one = _layout(tp, pp, cp, dp, ep, vp, mb)
    arr = not one or _any_array(sp, shard, recompute)
    m = float(global_batch) / (dp * mb)                  # micro-batches per pipeline
    lay = layer_times(a, prof, gpu, cluster, tp, cp, mb, seq, sp, ep, stack, dtype, moe=False) if a.dense_layers else None
    moe = layer_times(a, prof, gpu, cluster, tp, cp, mb, seq, sp, ep, stack, dtype, moe=True) if a.moe_layers else None
    frac_moe = a.moe_layers / a.L
    if lay is None:
        per_layer = moe
    elif moe is None:
        per_layer = lay
    else:   # the average layer of a model with dense and MoE layers
        per_layer = {k: (1 - frac_moe) * lay[k] + frac_moe * moe[k] for k in lay}

    rc = recompute
    full = (rc == 2)
    sel = (rc == 1)
    fwd_l = per_layer["fwd"] + per_layer["tp_fwd"] + per_layer["cp_fwd"] + 2.0 * per_layer["a2a"]
    bwd_l = per_layer["bwd"] + per_layer["tp_bwd"] + per_layer["cp_bwd"] + 2.0 * per_layer["a2a"]
    rec_l = _where(full, fwd_l, _where(sel, per_layer["attn_fwd"], 0.0))
    hf, hb, ef, eb = head_times(a, prof, gpu, cluster, tp, cp, mb, seq, sp, dtype)
    if stack.grad_accumulation_bytes:
        # weight gradients added into the accumulation buffer by a separate pass after a micro-batch's backward
        # (bytes per parameter: read the new gradient and the buffer, write the buffer); autograd stores the
        # first micro-batch's gradient and adds the m − 1 others: spread evenly over the m micro-batches
        acc = stack.grad_accumulation_bytes / prof.bandwidth
        if not stack.grad_accumulation_first:
            acc = acc * (m - 1.0) / m
        p_dense = (a.p_attn + a.p_mlp) / tp
        p_moe = (a.p_attn + a.shared * a.p_expert + a.p_router) / tp + a.E * a.p_expert / ep
        bwd_l = bwd_l + acc * ((1 - frac_moe) * p_dense + frac_moe * p_moe)
        hb = hb + acc * a.V * a.h / tp
        eb = eb + acc * _where(pp == 1, 0.0 if a.tied else a.p_embed, a.p_embed) / tp
    t_layer = fwd_l + bwd_l + rec_l

    per, last = stage_split(a.L, pp, vp)
    t_first = per * t_layer + ef + eb
    t_last = last * t_layer + hf + hb
    single = (pp == 1)
    t_mid = per * t_layer
    stage_max = _max(_max(t_first, t_last), t_mid)
    stage_sum = t_first + t_last + (pp - 2.0) * t_mid
    stage_max = _where(single, a.L * t_layer + hf + hb + ef + eb, stage_max)
    stage_mean = _where(single, stage_max, stage_sum / _max(pp, 1.0))

    # pipeline point-to-point (activations forward, their gradients backward), per micro-batch and chunk
    n = mb * float(seq) / cp
    msg = n * a.h * ACT_BYTES
    stride = tp * cp * dp
    across = pp * stride > cluster.scale_up_size
    hop = comm.send_recv(msg / tp, cluster, across) + comm.all_gather(msg, tp, cluster, 1)
    p2p = 2.0 * vp * hop
    if stack.p2p_overlap:
        p2p = _where(vp > 1, 0.0, p2p)
    p2p = _where(pp > 1, p2p, 0.0)

    compute = m * stage_max                              # includes exposed TP/CP/EP communication
    # fill and drain: (p−1)/v stage times when m ≥ p; with fewer micro-batches than stages a micro-batch
    # still crosses all p·v chunks in sequence: (p + (m−1)/v) stage times in all
    fill = _max((pp - 1.0) / vp, pp - m + (m - 1.0) / vp)
    bubble = fill * stage_mean
    p2p_total = (m + fill) * p2p
    pipeline = compute + bubble + p2p_total

    # data parallel: parameters this GPU holds (first stage: the slowest to finish its backward)
    dense_stage = per * (a.p_attn + (1 - frac_moe) * a.p_mlp + frac_moe * (a.shared * a.p_expert + a.p_router)) \
        + a.p_embed + _where(single, a.p_head, 0.0)
    expert_stage = per * frac_moe * a.E * a.p_expert
    dense_gpu = dense_stage / tp
    expert_gpu = expert_stage / ep
    g = dp * cp                                          # dense gradient group (ranks tp apart)
    ge = tp * dp * cp / ep                               # expert data-parallel group
    gb = stack.grad_reduce_bytes
    shard = shard if not arr else np.asarray(shard)

    rail = _max(tp, float(cluster.scale_up_size)) if stack.dp_own_nic else tp   # stride ≥ domain: one NIC per GPU
    moe_params = a.E > 0

    def red(nbytes_d, nbytes_e, fn):
        t = fn(nbytes_d, g, cluster, rail)
        return t + fn(nbytes_e, ge, cluster, ep) if moe_params else t

    layers_first = per
    bwd_window = layers_first * (bwd_l + rec_l) + eb   # backward of the last micro-batch on the first stage
    fwd_window = layers_first * fwd_l + ef

    def exposed(c, window, overlapped):
        return hidden_behind(c, window) if overlapped else c

    need = {0, 1, 2, 3} if arr else {int(shard)}
    grad_d, grad_e = dense_gpu * gb, expert_gpu * gb
    t_ar = red(grad_d, grad_e, comm.all_reduce) if (0 in need or (3 in need and stack.grad_allreduce_zero3)) else 0.0
    t_rs = red(grad_d, grad_e, comm.reduce_scatter) if need - {0} else 0.0
    t_ag = red(dense_gpu * ACT_BYTES, expert_gpu * ACT_BYTES, comm.all_gather) if need - {0} else 0.0
    z = {}
    if 0 in need:
        z[0] = exposed(t_ar, bwd_window, stack.dp_overlap)
    if 1 in need:
        z[1] = exposed(t_rs, bwd_window, stack.dp_overlap) + exposed(t_ag, fwd_window, stack.param_gather_overlap)
    if 2 in need:   # ZeRO-2: reduce-scatter every micro-batch
        z[2] = m * exposed(t_rs, bwd_window, stack.dp_overlap) + exposed(t_ag, fwd_window, stack.param_gather_overlap)
    if 3 in need:
        # ZeRO-3 / FSDP: gather the weights for the forward and again for the backward, reduce the
        # gradients, every micro-batch, layer by layer behind the compute of the neighbouring layer
        red3 = t_ar if stack.grad_allreduce_zero3 else t_rs
        z[3] = m * (exposed(t_ag, fwd_window, stack.dp_overlap) + exposed(t_ag + red3, bwd_window, stack.dp_overlap))
    if arr:
        dp_comm = np.select([shard == 0, shard == 1, shard == 2], [z[0], z[1], z[2]], z[3])
    else:
        dp_comm = z[int(shard)]
    dp_comm = _where(g > 1, dp_comm, 0.0)

    # optimizer: fused Adam + casts over the shard of parameters this GPU updates
    tr = prof.training
    per_param = tr["optimizer_bytes_per_param"] + tr["cast_bytes_per_param"] + tr["grad_cast_bytes_per_param"]
    owned_d = dense_gpu / _where(shard >= 1, g, 1.0)
    owned_e = expert_gpu / _where(shard >= 1, ge, 1.0)
    optimizer = (owned_d + owned_e) * per_param / prof.bandwidth + prof.overheads["step_s"]

    # tied embeddings: first and last stage all-reduce the embedding gradient
    emb = 0.0
    if a.tied:
        t_emb = comm.all_reduce(a.V * a.h / tp * gb, 2, cluster, stride)
        emb = _where(pp > 1, t_emb, 0.0)

    total = pipeline + dp_comm + optimizer + emb
    tp_exposed = m * per * (per_layer["tp_fwd"] * _where(full, 2.0, 1.0) + per_layer["tp_bwd"])
    return {
        "total": total,
        "compute": compute - tp_exposed,
        "tp_comm": tp_exposed,
        "bubble": bubble,
        "pp_comm": p2p_total,
        "dp_comm": dp_comm,
        "optimizer": optimizer,
        "embedding_sync": emb,
        "micro_batches": m,
        "stage_time": stage_max,
    }
