"""Per-operator time formulas: roofline with achievable ceilings and shape-dependent efficiency.

Every function here is pure NumPy and broadcasts over its array arguments (``M`` rows of a
GEMM, batch sizes, context lengths), so a sweep of a million inputs costs a few array passes.
The hardware enters only through a :class:`llmcalc.perf.profile.Profile` (achievable matmul
FLOP/s, achievable bandwidth, per-kernel overheads) and its fitted shape parameters.

Notation: ``F`` achievable dense matmul FLOP/s for the dtype (large square GEMM), ``BW``
achievable read bandwidth (bytes/s), ``S`` the number of streaming multiprocessors.
"""
from __future__ import annotations

import math

import numpy as np


# NumPy's element-wise functions for scalars or arrays. One scenario (one plan, one engine step) passes plain
# numbers and should stay in Python float arithmetic, several times cheaper than NumPy's scalar path; arrays
# go to NumPy. Floats are tested first (``type(x) is float`` costs less than an array check), and max and min
# are written out as the conditionals the builtins evaluate (the builtins parse their arguments as an iterable,
# which costs more than the comparison for two numbers).

def maximum(x, y):
    """np.maximum(x, y), or max(x, y) of plain numbers."""
    if type(x) is float and type(y) is float or not (isinstance(x, np.ndarray) or isinstance(y, np.ndarray)):
        return y if y > x else x
    return np.maximum(x, y)


def minimum(x, y):
    """np.minimum(x, y), or min(x, y) of plain numbers."""
    if type(x) is float and type(y) is float or not (isinstance(x, np.ndarray) or isinstance(y, np.ndarray)):
        return y if y < x else x
    return np.minimum(x, y)


def where(cond, x, y):
    """np.where(cond, x, y), or a plain conditional for a bool."""
    if type(cond) is bool or isinstance(cond, np.bool_):
        return x if cond else y
    return np.where(cond, x, y)


def ceil(x):
    """np.ceil(x), or the ceiling of a plain number as a float."""
    return np.ceil(x) if isinstance(x, np.ndarray) else float(math.ceil(x))


def smooth_max(a, b, p):
    """Soft roofline: ``(a^p + b^p)^(1/p)``.

    Formula: t = (t_compute^p + t_memory^p)^(1/p). p → ∞ is the hard roofline max(a, b); a
    finite p adds the partial overlap seen near the ridge point, where neither the tensor
    cores nor the memory system is saturated (both stall on the other). Source: the smooth
    roofline of Williams et al. 2009 (Roofline, CACM 52(4)) as used by analytic GPU simulators;
    p is fitted on the H100 calibration file (``roofline_p`` in the profile).
    """
    if type(a) is not float or type(b) is not float:     # arrays, or numbers of other types
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if p >= 64:
                return np.maximum(a, b)
            a = np.asarray(a, dtype=float)
            b = np.asarray(b, dtype=float)
            m = np.maximum(a, b)
            m = np.where(m > 0, m, 1.0)
            return m * ((a / m) ** p + (b / m) ** p) ** (1.0 / p)
        a, b = float(a), float(b)
    m = a if a >= b else b                                 # one scenario: plain float arithmetic
    if p >= 64 or m <= 0:
        return m
    return m * ((a / m) ** p + (b / m) ** p) ** (1.0 / p)


def epilogue_k0(prof, flops_rate=None, out_bytes=2.0):
    """Reduction length whose mainloop lasts as long as storing the output tile: k0 = c·F·η∞·b_out / (2·BW).

    A thread block computes an output tile with a mainloop over K (2·K FLOPs per output element at the
    achieved rate F·η∞), then its epilogue converts the accumulators and stores b_out bytes per element.
    In the non-persistent kernels of Volta, Ampere and Ada (CUTLASS 2.x style, one or two blocks per SM,
    launched in waves) the SM's tensor cores wait while the wave stores, and a whole wave stores at once,
    so the store runs at the memory bandwidth BW in series with the math: t = 2·M·N·K/(F·η∞) +
    M·N·b_out/BW = 2·M·N·(K + k0)/(F·η∞). c is the profile's ``gemm.epilogue``, the serial fraction of
    the store: 1 on those architectures, 0 on Hopper and Blackwell, whose persistent warp-specialised
    kernels issue the store asynchronously (TMA) and start the next tile's mainloop (derivation.json
    ``gemm_epilogue``). Short-K GEMMs pay most: a tensor-parallel output projection (K = h/tp), the unfused
    attention's QKᵀ (K = head dimension). Source: NVIDIA CUTLASS documentation (efficient_gemm.md:
    pipelined mainloop and epilogue; warp-specialised persistent ping-pong kernels overlap one tile's
    epilogue with another's mainloop); fitting c on the published A100/V100 training rows gives 1.05
    (benchmarks/accuracy_training.py --fit-all), i.e. the store is not hidden.
    """
    c = prof.gemm.get("epilogue", 0.0)
    if not c:
        return 0.0
    rate = flops_rate if flops_rate is not None else prof.matmul_flops.get("bf16", next(iter(prof.matmul_flops.values())))
    return c * rate * prof.gemm["efficiency"] * out_bytes / (2.0 * prof.bandwidth)


def gemm_efficiency(M, N, K, prof, flops_rate=None, out_bytes=2.0):
    """Fraction of the achievable matmul rate ``F`` that a GEMM of shape (M×K)·(K×N) sustains.

    Formula: η = η∞ · M/(M + m0) · N/(N + m0) · K/(K + k0).

    η∞ is what large GEMMs of the engine reach relative to the 8192³ ceiling; the fill factors
    charge a fixed per-tile cost (a thread block's prologue and epilogue, a partly used tile) that
    matters when one dimension is small: m0 for the output dimensions (fitted → 0 on H100), k0 for the
    reduction (:func:`epilogue_k0`: the output store in series with the math on pre-Hopper GPUs).
    Source: the tiling model of CUTLASS/cuBLAS (NVIDIA "Matrix Multiplication Background"
    user's guide: tile and wave quantisation); η∞ and m0 fitted on the H100 calibration file.
    An explicit wave-quantisation factor over the 132 SMs (tiles of 128×256) was tried and
    made leave-one-model-out errors worse: cuBLAS picks its tile per shape, so the waves of a
    fixed tile are not the waves it runs.
    """
    g = prof.gemm
    m0, k0 = g["m0"], epilogue_k0(prof, flops_rate, out_bytes)
    return g["efficiency"] * (M / (M + m0)) * (N / (N + m0)) * (K / (K + k0))


def gemm(M, N, K, prof, flops_rate, bandwidth, weight_bytes=2.0, act_bytes=2.0, count=1.0):
    """Time of ``count`` GEMMs (M×K activations)·(K×N weights): roofline of compute and memory.

    Formula: t = count · smooth_max(2·M·N·K / (F·η(M,N,K)), (N·K·b_w + (M·K + M·N)·b_a) / BW), the output
    written at b_a bytes per element.
    The weights are read once per GEMM (they do not fit in the 50 MB L2 for any model here);
    activations are read and the output written once. Source: roofline model (Williams et al.
    2009); η from :func:`gemm_efficiency`. Assumes weights stored at ``weight_bytes`` per value
    and activations at ``act_bytes`` (bf16: 2); weight-only quantised formats compute at the
    16-bit rate.

    Written so that an array ``M`` costs a handful of array operations: with
    η = η∞·M/(M+m0)·N/(N+m0)·K/(K+k0) the compute time is 2·(M+m0)·(N+m0)·(K+k0)/(F·η∞), linear in
    (M + m0), and the memory time linear in M.
    """
    g = prof.gemm
    m0 = g["m0"]
    k0 = epilogue_k0(prof, flops_rate, act_bytes) if g.get("epilogue") else 0.0   # 0: Hopper, Blackwell
    a = 2.0 * (K + k0) * (N + m0) / (flops_rate * g["efficiency"])   # compute seconds per (M + m0)
    tc = a * (M + m0)
    tm = (N * K * weight_bytes + M * ((K + N) * act_bytes)) / bandwidth
    return count * smooth_max(tc, tm, prof.roofline_p)


def attention_head_factor(head_dim, prof):
    """Attention throughput at head dimension d relative to d = 128: (d/(d+d0)) / (128/(128+d0)).

    Per attention score the kernel does 4·d matmul FLOPs (QKᵀ and P·V) and one exponential.
    On H100 an SM does 4096 dense bf16 FLOPs per clock on tensor cores but 16 exponentials per
    clock (MUFU), so one exp costs as much as 256 FLOPs: time ∝ 4d/4096 + 1/16, i.e. the
    useful fraction is d/(d + 64). Source: FlashAttention-3 paper (Shah et al. 2024, §3: exp
    throughput is 256× lower than matmul on H100); H100 datasheet. d0 = 64 is this ratio, not
    fitted. Check on the calibration file: d = 64 (llama-3.2-1b) runs its attention at 0.74×
    the FLOP/s of d = 128 (llama-3-8b), the formula gives 0.75.
    """
    d0 = prof.attention["d0"]
    return (head_dim / (head_dim + d0)) * ((128.0 + d0) / 128.0)


def flash_attention_causal(B, T, heads, head_dim, v_head_dim, prof, flops_rate, past=0.0):
    """Fused (Flash) causal self-attention over T new tokens per sequence, ``past`` cached.

    Formula: FLOPs = 2·B·a·(d + d_v)·T·(T+1)/2 (+ 2·B·a·(d+d_v)·T·past with a cache);
    t = FLOPs / (F · η_att · head_factor(d) · T/(T + t0)), η_att being the efficiency at d = 128.
    The causal mask halves the N² work (upper triangle skipped tile by tile); t0 is the
    sequence length at which per-tile setup (loading Q, writing O and the log-sum-exp) equals
    the useful work. Source: Dao 2023, FlashAttention-2 (arXiv 2307.08691) for the FLOP count
    and causal skipping; η_att and t0 fitted on the H100 calibration file.
    """
    a = prof.attention
    pairs = T * (T + 1.0) / 2.0 + T * past
    flops = 2.0 * B * heads * (head_dim + v_head_dim) * pairs
    eta = a["efficiency"] * attention_head_factor(head_dim, prof) * (T / (T + a["t0"]))
    return flops / (flops_rate * eta), flops


def decode_attention(B, C, heads, kv_heads, head_dim, kv_bytes_layer, prof, bandwidth):
    """One decode step of attention for one layer: B queries, each over C cached positions.

    Formula: t = smooth_max(KV bytes / BW, waves · C · τ_pos · (d + d0)/(128 + d0)) where the
    second term applies to grouped-query attention only: units = B·kv_heads,
    waves = max(1, units / S).

    * Memory: the whole KV cache of the batch is read once (``kv_bytes_layer``).
    * Latency: with grouped queries PyTorch's FlashAttention-2 path packs the g = heads/kv_heads
      query heads of a group into one thread block per (sequence, KV head) and does not split
      the sequence; each block walks the C positions one tile at a time, costing τ_pos per
      position whatever the batch (a tile's two matmuls, ∝ d, and its exponentials, worth d0 = 64
      of d on H100: see :func:`attention_head_factor`). With few blocks (batch 1: 8 blocks for 132 SMs) this, not
      bandwidth, sets the time. Multi-head attention (kv_heads = heads) reached bandwidth at
      batch 1 in the calibration runs and gets the memory term only.
    Source: H100 calibration file (llama-3-8b, llama-3.2-1b, qwen2.5-32b-like at batch 1 and
    context 4096 take 30-36 µs per layer more than their KV bytes allow; llama-2-7b/13b do not);
    FlashAttention-2 ``seqlenq_ngroups_swapped`` decode layout. τ_pos fitted.
    """
    tm = kv_bytes_layer / bandwidth
    if kv_heads >= heads:
        return tm
    units = B * kv_heads
    waves = units / prof.sm_count
    waves = np.maximum(1.0, waves) if isinstance(waves, np.ndarray) else max(1.0, waves)  # one scenario: float
    d0 = prof.attention["d0"]
    tl = waves * C * prof.attention["decode_position_s"] * (head_dim + d0) / (128.0 + d0)
    return smooth_max(tm, tl, prof.roofline_p)


def memory_pass(nbytes, bandwidth):
    """A memory-bound kernel (norm, activation, residual add, cache write, optimizer): bytes / BW.

    Source: roofline model; these kernels do O(1) FLOPs per byte, far below the H100 ridge point
    of ~250 FLOP/byte. Assumes each byte is moved once at the achievable bandwidth.
    """
    return nbytes / bandwidth
