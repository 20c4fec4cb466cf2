"""One step of a production serving engine (TensorRT-LLM class), operator by operator.

A serving engine differs from the reference engine (:mod:`.engine`: PyTorch, measured on one H100)
in its kernels, not in the model: fused norms and activations, FP8 GEMMs and KV cache, a decode
attention kernel that either shares each KV head between its query heads (XQA) or reads it once
per query head (masked multi-head attention), grouped expert GEMMs, a custom all-reduce. What an
engine has is data (``llmcalc/data/profiles/engines.json``: discrete facts per engine version and
a few global physical parameters); what a GPU sustains is :class:`llmcalc.perf.profile.Hardware`.

A *step* processes ``tokens`` new tokens of a batch: prefill (chunks of prompts) and decode (one
token per running sequence), the unit of both static and in-flight batching:

* GEMMs of all layers with M = ``tokens`` rows (roofline of compute at the engine's GEMM efficiency
  and memory: weights read once, activations in and out), MoE expert GEMMs over the experts the
  tokens are routed to, the LM head for ``logits`` rows;
* prefill attention over ``prefill_pairs`` (query, key) pairs; decode attention over
  ``decode_context`` cached positions in total;
* fused memory-bound kernels (norms, RoPE and KV-cache writes, activations), the tensor-parallel
  all-reduces, and a fixed cost per kernel and per step.

Every input broadcasts over NumPy arrays. Assumptions: tensor parallelism splits heads, FFN
(each expert's FFN for MoE) and vocabulary over ``gpus``; KV heads are replicated when there are
fewer than GPUs; the LM head and the MoE router stay in 16 bits under FP8 quantisation.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import NamedTuple

import numpy as np

from ..errors import ArgumentError
from ..hardware import DTYPE_BYTES
from . import comm
from . import operators as op
from .engine import _as_float, shapes
from .profile import measured

_LEGACY_ARCHS = ("sm90", "sm100")  # run kernels compiled for sm80 through the legacy mma.sync path


@functools.lru_cache(maxsize=1)
@functools.lru_cache(maxsize=1)
def engines_data() -> dict:
    return json.loads(resources.files("llmcalc.data").joinpath("profiles", "engines.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Engine:
    """A serving engine: discrete kernel facts + global parameters (see engines.json)."""

    key: str
    name: str
    facts: dict
    params: dict
    fixed: dict
    sources: str = ""
    extra: dict = field(default_factory=dict)

    def with_params(self, **changes) -> "Engine":
        return Engine(self.key, self.name, self.facts, {**self.params, **changes}, self.fixed, self.sources)

    def xqa(self, group: float, head_dim: int) -> bool:
        """Whether the engine's grouped-query decode kernel covers this group size and head dimension."""
        groups = self.facts.get("xqa_group_sizes", [])
        ok_group = groups == "all" or int(round(group)) in groups
        return bool(ok_group and head_dim in self.facts.get("xqa_head_dims", []))


def engine(name: str | Engine | None = None) -> Engine:
    """The named serving engine of engines.json (default: its ``default``)."""
    if isinstance(name, Engine):
        return name
    return _engine(str(name or engines_data()["default"]).strip().lower(), name)


@functools.lru_cache(maxsize=16)
def _engine(key: str, name) -> Engine:
    d = engines_data()
    if key not in d["engines"]:
        raise ArgumentError("engine", f"unknown serving engine {name!r}; use one of {', '.join(d['engines'])}")
    e = d["engines"][key]
    facts = {k: v for k, v in e.items() if k not in ("name", "sources", "params")}
    return Engine(key, e["name"], facts, {**d["params"], **e.get("params", {})}, d["fixed"], e.get("sources", ""))


def engine_names() -> list[str]:
    return list(engines_data()["engines"])


# ------------------------------------------------------------------------------------------ GEMMs

def _gemm(M, N, K, rate, bw, eta, p, wb, ab_in, ab_out=2.0, count=1.0):
    """``count`` GEMMs (M×K activations)·(K×N weights).

    Formula: t = count · max((t_c^p + t_w^p)^(1/p), t_a), t_c = 2·M·N·K / (F·η), t_w = N·K·b_w / BW,
    t_a = M·(K·b_in + N·b_out) / BW. Streaming the weights and computing on them overlap only partly when
    there are few rows (p → 1: they add, as when a kernel's tiles wait on their weight loads; p → ∞: hard
    roofline); activations are pipelined behind the compute. Source: roofline model (Williams et al.
    2009); η and p are global engine parameters (engines.json)."""
    tc = 2.0 * M * N * K / (rate * eta)
    tw = N * K * wb / bw
    ta = M * (K * ab_in + N * ab_out) / bw
    return count * op.maximum(op.smooth_max(tc, tw, p), ta)


@dataclass
class Step:
    """Terms (seconds) of one step, and the quantities its explanation needs."""

    terms: dict
    info: dict

    @property
    def seconds(self):
        t = 0.0
        for v in self.terms.values():
            t = t + v
        return t


def _all_reduce(nbytes, g, cluster, eng: Engine, latency):
    """One tensor-parallel all-reduce of ``nbytes`` over ``g`` GPUs of one scale-up domain.

    NCCL ring/tree: :func:`llmcalc.perf.comm.all_reduce`. With the engine's custom all-reduce on an
    NVLink/NVSwitch domain (TensorRT-LLM ``allReduceKernels``): one-shot, every GPU reads the g−1 peer
    buffers, t = (g−1)·S / B + α; two-shot, reduce-scatter then all-gather through peer memory,
    t = 2·(g−1)/g·S / B + 2α. B and α are the scale-up link's achieved bandwidth and step latency
    (comm.py, networks.csv). An engine whose facts give its strategy rule (``custom_all_reduce_rule``:
    per largest group size, the workspace in bytes above which it calls NCCL and the size below which
    it runs one-shot; NCCL for larger groups) follows that rule; otherwise it takes the fastest of the
    three."""
    nccl = comm.all_reduce(nbytes, g, cluster)
    if g <= 1:
        return nccl * 0.0
    if not eng.facts.get("custom_all_reduce") or comm.fabric_class(cluster.scale_up.name) != "nvlink" \
            or g > cluster.scale_up_size:
        return nccl
    B = cluster.scale_up.effective
    a = cluster.scale_up.latency
    one = (g - 1.0) * nbytes / B + a
    two = 2.0 * (g - 1.0) / g * nbytes / B + 2.0 * a
    rule = eng.facts.get("custom_all_reduce_rule")
    if not rule:
        return op.minimum(op.minimum(one, two), nccl)
    row = next((r for r in rule if g <= r["max_gpus"]), None)
    if row is None:                                  # more GPUs than the custom kernels serve
        return nccl
    S = _as_float(nbytes)
    return op.where(S > row["workspace_bytes"], nccl, op.where(S < row["one_shot_below_bytes"], one, two))


class Attention(NamedTuple):
    """Attention time coefficients of one engine, model and GPU (seconds per unit):

    * prefill: ``per_pair`` × (query, key) pairs × (T + t0)/T, T new tokens per sequence;
    * decode: max(``mem_per_position`` × Σ context, ``mmha_per_position`` × Σ context +
      ``mmha_per_sequence`` × sequences); the second term is zero for a grouped-query (XQA) kernel.

    (An immutable record built on every engine step: a named tuple is built several times faster than a frozen
    dataclass, which sets each field through ``object.__setattr__``.)
    """

    per_pair: float
    flops_per_pair: float
    mem_per_position: float
    kv_bytes_per_position: float
    mmha_per_position: float
    mmha_per_sequence: float
    kernel: str


def attention_coefficients(model, hw, eng: Engine, *, gpus=1, dtype="fp8", kv_dtype=None) -> Attention:
    """Attention cost per pair / cached position / sequence, for :func:`step` and the simulator.

    Prefill (fused multi-head attention, 16-bit unless the engine has FP8 context attention on
    sm90+): FLOPs = 2·a·(d + d_v) per (query, key) pair and layer, at F·η_fmha·φ(d), φ(d) =
    (d/(d+d0))/(128/(128+d0)) (one exponential per score costs d0 = 64 FLOPs of tensor-core time:
    FlashAttention-3 paper §3); the diagonal tiles of t0 = 128 are half empty (Dao 2023).
    Decode: the KV cache of every sequence is read once per step (bytes / BW). An XQA kernel shares
    each KV head between its query heads and is bound by that read. Masked multi-head attention
    runs one thread block per (sequence, query head) that reads its KV head (the repeats of a group
    hit L2) and costs ``1 / mmha_elements_per_sm_clock`` SM-cycles per (query head × cached K or V
    element), plus a setup and reduction per block worth ``mmha_block_positions`` positions.
    Source: TensorRT-LLM decoderMaskedMultiheadAttention and XQA kernels; parameters global
    (engines.json)."""
    return _attention(shapes(model, gpus), model, hw, eng, dtype, kv_dtype)


def _attention(s, model, hw, eng: Engine, dtype, kv_dtype) -> Attention:
    """:func:`attention_coefficients` for the model's :class:`~llmcalc.perf.engine.Shapes` ``s`` (a step has them)."""
    P, F = eng.params, eng.fixed
    L = s.L
    rate = hw.flops("fp8") if (dtype in ("fp8", "fp4") and "fp8" in hw.matmul and eng.facts.get("fp8_context_attention")
                               and hw.arch in ("sm90", "sm100")) else hw.flops("bf16")
    d0 = F["d0"]
    phi = (s.d / (s.d + d0)) * ((128.0 + d0) / 128.0)
    flops_pair = 2.0 * s.heads * (s.d + s.dv) * L
    per_pair = flops_pair / (rate * F["fmha_efficiency"] * phi)
    kvb = DTYPE_BYTES[kv_dtype or dtype]
    kv_layer = s.kv_values_layer if model.attention == "mla" else s.kv_heads * (s.d + s.dv)
    kv_pos = kv_layer * kvb * L
    mem = kv_pos / hw.bandwidth
    if s.heads > s.kv_heads and eng.xqa(model.heads / model.kv_heads, s.d):
        return Attention(per_pair, flops_pair, mem, kv_pos, 0.0, 0.0, "XQA (grouped-query: each KV head read once)")
    el = s.heads * (s.d + s.dv) * L / (hw.sm_rate * P["mmha_elements_per_sm_clock"])
    return Attention(per_pair, flops_pair, mem, kv_pos, el, el * P["mmha_block_positions"],
                     "masked multi-head attention (one thread block per query head)")


def step(model, gpu, hw, eng: Engine, *, tokens, logits, prefill_pairs=0.0, prefill_len=1.0, decode_context=0.0,
         decode_seqs=0.0, distinct=None, gpus: int = 1, dtype="fp8", kv_dtype=None, cluster=None) -> Step:
    """Terms of one engine step on each of ``gpus`` tensor-parallel GPUs (see the module docstring).

    ``tokens``: new tokens (rows of every GEMM); ``logits``: rows of the LM head; ``prefill_pairs``:
    Σ over prefill sequences of attended (query, key) pairs, T·(T+1)/2 + T·past for T new tokens after
    ``past`` cached ones; ``prefill_len``: new tokens per prefill sequence (the causal tile waste);
    ``decode_context``: Σ over decode sequences of their cached positions; ``decode_seqs``: their number;
    ``distinct``: tokens with
    distinct hidden states, which the MoE router sends to independent experts (default: ``tokens``; 1 for a
    benchmark of identical requests, where every token of every sequence has the same hidden state).
    """
    P, F = eng.params, eng.fixed
    s = shapes(model, gpus)
    g = gpus
    M = _as_float(tokens)
    wb = DTYPE_BYTES[dtype]
    ab_in = 1.0 if dtype in ("fp8", "int8") else 2.0       # FP8/INT8 GEMMs take quantised activations
    if dtype == "fp4" and "fp4" in hw.matmul:
        ab_in = 0.5                                        # NVFP4: activations quantised to FP4 as well
    # int4, and fp4 without FP4 tensor cores: weight-only formats, 16-bit activations
    rate = hw.flops(dtype)
    rate16 = hw.flops("bf16")
    bw = hw.bandwidth
    eta, p = P["gemm_efficiency"], P["roofline_p"]
    legacy = P["legacy_mma_fraction"] if hw.arch in _LEGACY_ARCHS else 1.0
    terms: dict = {}
    info: dict = {}

    # dense GEMMs of all layers: QKV, attention output, MLP up (gate+up) and down
    L = s.L
    t = _gemm(M, s.qkv_n, s.h, rate, bw, eta, p, wb, ab_in, count=L)
    t = t + _gemm(M, s.h, s.o_k, rate, bw, eta, p, wb, ab_in, count=L)
    if s.dense_layers:
        t = t + _gemm(M, s.up_mult * s.ffn, s.h, rate, bw, eta, p, wb, ab_in, count=s.dense_layers)
        t = t + _gemm(M, s.h, s.ffn, rate, bw, eta, p, wb, ab_in, count=s.dense_layers)
    terms["matmuls"] = t

    # MoE: router (16-bit), grouped expert GEMMs over the experts the tokens reach
    if s.moe_layers:
        E, k = s.experts, s.topk
        fp8_experts = dtype in ("fp8", "int8", "fp4") and eng.facts.get("fp8_moe", True)
        ewb = wb if (fp8_experts or dtype not in ("fp8", "int8", "fp4")) else 2.0
        e_in = ab_in if ewb == wb else 2.0
        erate = rate if ewb == wb else rate16
        erate = erate * P["moe_gemm_efficiency"]                       # grouped GEMM vs dense GEMM
        if eng.facts.get("moe_kernel_arch") == "sm80":
            erate = erate * legacy
        n_route = M if distinct is None else op.minimum(_as_float(distinct), M)
        touched = E * (1.0 - (1.0 - k / E) ** op.maximum(n_route, 1.0))  # distinct experts the tokens reach
        rows = M * k / touched                                           # rows per reached expert
        tile = F["moe_tile_rows"]
        padded = op.ceil(rows / tile) * tile                             # grouped GEMM tiles are not shared
        tm = _gemm(M, E, s.h, rate16, bw, eta, p, 2.0, 2.0, count=s.moe_layers)
        cnt = s.moe_layers * touched
        for N, K in ((s.up_mult * s.moe_ffn, s.h), (s.h, s.moe_ffn)):
            tc = 2.0 * padded * N * K / (erate * eta)
            tw = N * K * ewb / bw
            ta = rows * (K * e_in + N * 2.0) / bw
            tm = tm + cnt * op.maximum(op.smooth_max(tc, tw, p), ta)
        if s.shared:
            tm = tm + _gemm(M, s.up_mult * s.moe_ffn * s.shared, s.h, rate, bw, eta, p, wb, ab_in, count=s.moe_layers)
            tm = tm + _gemm(M, s.h, s.moe_ffn * s.shared, rate, bw, eta, p, wb, ab_in, count=s.moe_layers)
        terms["MoE experts"] = tm
        info["experts_touched"] = touched

    # LM head (16-bit, vocabulary split over the GPUs); skipped in a step that needs no logits
    R = _as_float(logits)
    terms["LM head"] = op.where(R > 0, _gemm(R, s.vocab, s.h, rate16, bw, eta, p, 2.0, 2.0), 0.0)

    # attention: prefill chunks, then decode over the cached positions
    a = _attention(s, model, hw, eng, dtype, kv_dtype)
    T = op.maximum(_as_float(prefill_len), 1.0)
    pairs = _as_float(prefill_pairs)
    att = a.per_pair * pairs * (T + F["t0"]) / T
    C = _as_float(decode_context)
    t_dec = op.maximum(a.mem_per_position * C, a.mmha_per_position * C + a.mmha_per_sequence * _as_float(decode_seqs))
    terms["attention"] = att + t_dec
    info["decode_kernel"] = a.kernel
    info["kv_bytes"] = C * a.kv_bytes_per_position
    info["prefill_attention_flops"] = pairs * a.flops_per_pair

    # fused memory-bound kernels: norms + residual, RoPE + KV-cache write, activation (+ FP8 quantisation)
    e = F["elementwise_bytes"]
    act = 1.0 if s.gated else 0.5
    per_tok = L * (e["per_hidden"] * s.h + e["per_qkv"] * s.qkv_width) + s.dense_layers * e["per_ffn"] * act * s.ffn
    if s.moe_layers:
        per_tok = per_tok + s.moe_layers * (e["per_moe_hidden"] * s.h + s.topk * (e["per_moe_route"] * s.h
                                                                              + e["per_ffn"] * act * s.moe_ffn))
    per_tok = per_tok + s.h * 4.0                                      # embedding gather
    terms["norms & activations"] = M * per_tok * P["elementwise_scale"] / bw

    # tensor-parallel all-reduces of the M×h activations (16-bit): two per layer, one with a parallel block
    if g > 1:
        cl = cluster or comm.cluster_of(gpu)
        per_layer = 1 if model.parallel_attention else 2
        terms["communication"] = per_layer * L * _all_reduce(M * s.h * 2.0, g, cl, eng, cl.scale_up.latency)
        info["allreduces"] = per_layer * L

    kernels = L * F["kernels_per_layer"] + s.moe_layers * F["moe_kernels_per_layer"]
    if isinstance(prefill_pairs, np.ndarray) and prefill_pairs.ndim:
        per_kernel = np.where(prefill_pairs == 0, kernel_seconds(eng, True), kernel_seconds(eng, False))
    else:
        per_kernel = kernel_seconds(eng, prefill_pairs == 0)
    terms["fixed overheads"] = kernels * per_kernel + P["step_s"] + 0.0 * M
    info["kernels"] = kernels
    return Step(terms, info)


def kernel_seconds(eng: Engine, decode_only: bool) -> float:
    """Fixed cost of one kernel in a step. An engine that replays a captured CUDA graph for pure decode
    steps (``cuda_graph_decode``) pays no launch per kernel there, only the GPU-side gap between kernels,
    which the H100 calibration measured for the reference engine under graph replay; steps with a
    prefill chunk (and engines without graphs) pay the launch cost fitted on TensorRT-LLM 0.9."""
    if decode_only and eng.facts.get("cuda_graph_decode"):
        return measured().overheads["kernel_s"]
    return eng.params["kernel_s"]


def prefill(model, gpu, hw, eng, batch, tokens, *, identical=False, **kw) -> Step:
    """A static-batch prefill: ``batch`` prompts of ``tokens`` tokens in one step, last-position logits.
    ``identical``: every prompt is one token repeated (a synthetic benchmark), so all hidden states are equal."""
    B, T = _as_float(batch), _as_float(tokens)
    return step(model, gpu, hw, eng, tokens=B * T, logits=B, prefill_pairs=B * T * (T + 1.0) / 2.0, prefill_len=T,
                distinct=1.0 if identical else None, **kw)


def decode(model, gpu, hw, eng, batch, context, *, identical=False, **kw) -> Step:
    """A decode step: one token for each of ``batch`` sequences with ``context`` cached positions each."""
    B, C = _as_float(batch), _as_float(context)
    return step(model, gpu, hw, eng, tokens=B, logits=B, decode_context=B * C, decode_seqs=B,
                distinct=1.0 if identical else None,
                **kw)


def static_batch(model, gpu, hw, eng, batch, prompt, output, **kw):
    """(total seconds, prefill seconds) of a static batch: one prefill of batch×prompt, then output−1 decode
    steps at contexts prompt+1 … prompt+output−1 (the TensorRT-LLM gptSessionBenchmark convention)."""
    t_pre = prefill(model, gpu, hw, eng, batch, prompt, **kw).seconds
    n = int(output) - 1
    if n <= 0:
        return float(t_pre), float(t_pre)
    ctx = prompt + np.arange(1, n + 1, dtype=float)
    t_dec = decode(model, gpu, hw, eng, np.full_like(ctx, float(batch)), ctx, **kw).seconds
    return float(t_pre + np.sum(t_dec)), float(t_pre)
