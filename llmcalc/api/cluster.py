"""Cluster training: the iteration time and MFU of a parallel layout, and the best layout for a GPU count."""
from __future__ import annotations

import copy
import math

import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from ..parallel import estimate as est
from ..parallel import search as srch
from ..parallel import step as _step
from ..registry import Example, user_function, variant
from ..results import Calc
from . import args as A

CLUSTER_SOURCES = [
    "perf-model", ("narayanan2021", "§2–3: 1F1B and interleaved schedules, bubble (p−1)/(v·m), Eq. 3"),
    ("korthikanti2022", "§4–5: sequence parallelism, selective recomputation, activation memory"),
    ("rajbhandari2020", "ZeRO stages 1–3"), ("nccl-tests", "bus bandwidth of ring collectives"),
    ("megatron-core", "model FLOPs; distributed optimizer and communication overlap"),
]
CLUSTER_ASSUMPTIONS = (
    "Framework (argument framework): Megatron-Core/NeMo-style (FlashAttention, fused kernels, distributed optimizer, "
    "gradient reduction and tensor-parallel collectives overlapped with compute — Transformer Engine's TP overlap takes "
    "16 SMs from the GEMMs beside it —, no dropout), except that the default (auto) times a fully sharded data-parallel "
    "layout (zero=3/fsdp alone) as the plain-PyTorch job it is (FSDP, DeepSpeed ZeRO-3: unfused norms, activations and "
    "RoPE, as llmcalc's H100 runs); mixed-precision Adam with fp32 gradients. Each framework's facts: "
    "llmcalc/parallel/stack.py, and the explanation's 'framework behaviour' line.",
    "Compute from the GPU's calibrated profile (measured on H100, derived from datasheets elsewhere); collectives are "
    "α–β rings/trees over the scale-up domain and one NIC per GPU (llmcalc/data/networks.csv, or the cluster argument).",
    f"One global fitted parameter: compute overlapped with an NCCL collective runs {1 - _step.OVERLAP:.0%} of the "
    "shared span longer (the collective takes SMs and memory bandwidth), and the step waits for the longer of the two "
    "(docs/training-clusters.md); checked against 48 published cluster results (benchmarks/accuracy_training.py).",
    "MoE: balanced routing, experts not tensor-parallel, all-to-all not overlapped. Stragglers, failures and data loading are "
    "not modelled.",
)


def _single(arg):
    """The argument taking one value only (a layout search answers for one job at a time)."""
    kind = copy.copy(arg.kind)
    kind.vector = False
    return arg.but(kind=kind)


MAX_LAYOUT_CELLS = 10_000   # ranges of seq/global_batch are timed one layout at a time (~0.2 ms each)


def _estimates(model, gpu, plan, seq, global_batch, recompute, dtype, cluster, profile, framework, value):
    """``value(estimate)`` for one layout, or an array of them when seq/global_batch are ranges; returns
    (value or array, the first estimate for the explanation)."""
    def one(s, b):
        return est.estimate(model, gpu, plan, int(s), int(b), recompute=recompute, dtype=dtype, cluster=cluster,
                            profile=profile, stack=framework)
    if not isinstance(seq, np.ndarray) and not isinstance(global_batch, np.ndarray):
        r = one(seq, global_batch)
        return value(r), r
    shape = np.broadcast_shapes(np.shape(seq), np.shape(global_batch))
    if math.prod(shape) > MAX_LAYOUT_CELLS:
        raise ArgumentError("seq" if isinstance(seq, np.ndarray) else "global_batch",
                            f"ranges give {math.prod(shape):,} layouts to time; at most {MAX_LAYOUT_CELLS:,} per call")
    s, b = np.broadcast_to(seq, shape), np.broadcast_to(global_batch, shape)
    out, first = np.empty(shape), None
    for idx in np.ndindex(shape):
        r = one(s[idx], b[idx])
        first = first or r
        out[idx] = value(r)
    return out, first


def _lines(first, value):
    if isinstance(value, np.ndarray) and value.size > 1:
        return lambda: first.lines() + [f"(shown for the first of {value.size:,} cells)"]
    return first.lines


@user_function(
    "LLM_TRAIN_ITERATION_TIME", unit="s", category="training",
    args=[A.model, A.gpu, A.plan, A.seq, A.global_batch, A.train_recompute, A.train_dtype, A.cluster, A.profile,
          A.framework],
    formula="t = m·max(stage) + (p−1)/v·mean(stage) + exposed data-parallel communication + optimizer; stage = layers × "
            "(forward + backward [+ recompute] from the per-operator GPU model + exposed TP/CP/EP collectives) + "
            "point-to-point; m = global_batch / (dp·mb)",
    sources=CLUSTER_SOURCES, assumptions=CLUSTER_ASSUMPTIONS,
    examples=[Example(("GPT-3 175B", "A100", "tp=8 pp=8 vp=3 dp=1 mb=1", 2048, 64, "selective", "fp16"), 12.18, rel=0.02,
                      note="Korthikanti et al. 2022 Table 5 measured 13.75 s for this layout with 2022 Megatron-LM "
                           "(no FlashAttention, dropout); the default modern framework is faster"),
              Example(("GPT-3 175B", "A100", "tp=8 pp=8 vp=3 dp=1 mb=1", 2048, 64, "selective", "fp16"), 13.64, rel=0.02,
                      kwargs={"framework": "megatron-2022"},
                      note="the same layout with the framework of the measurement: Korthikanti et al. 2022 Table 5 "
                           "measured 13.75 s (−0.8%; every published row: benchmarks/accuracy_training.py)"),
              Example(("Llama-3.1-70B", "H100", "tp=8 pp=4 dp=32 mb=1", 8192, 512, "selective"), 4.38, rel=0.02,
                      note="model prediction (no published measurement of this exact layout)")],
)
def train_iteration_time(model, gpu, plan, seq, global_batch, recompute, dtype, cluster, profile, framework):
    """Seconds per optimizer step of a parallel layout on a GPU cluster."""
    v, first = _estimates(model, gpu, plan, seq, global_batch, recompute, dtype, cluster, profile, framework,
                          lambda r: r.seconds)
    return Calc(v, _lines(first, v))


def _mfu(seconds, values):
    """Model FLOPs utilisation from a step time: Megatron-Core model FLOPs / (GPUs · t · dense bf16 peak)."""
    from ..parallel.flops import model_flops
    m, g, plan = values["model"], values["gpu"], values["plan"]
    flops = model_flops(m, values["seq"], values["global_batch"])
    peak = g.peak_flops("bf16")
    u = flops / (seconds * plan.gpus * peak)
    return u, lambda: (f"MFU = {fmt(flops)} model FLOPs per step (Megatron-Core: no recomputation, attention over the "
                       f"full s×s) / ({plan.gpus:,} GPUs × {fmt(seconds, 's')} × {fmt(peak, 'FLOP/s')} dense bf16) = "
                       f"{fmt(u)}; fp8/fp4 runs are counted against the bf16 peak too")


train_mfu = variant(
    train_iteration_time, "LLM_TRAIN_MFU", unit="", transform=_mfu,
    summary="Model FLOPs utilisation of a parallel layout (Megatron-Core model FLOPs over the dense bf16 peak).",
    formula="MFU = model FLOPs per step / (GPUs · t · dense bf16 peak); model FLOPs per sequence (Megatron-Core) = "
            "12·s·L·h²·[(1 + kv/a + s/h)·q/h + (ffn/h)·(3/2 if gated else 1) + V/(2·L·h)]",
    examples=[Example(("Llama-3.1-70B", "H100", "tp=8 pp=4 dp=32 mb=1", 8192, 512, "selective"), 0.456, rel=0.02,
                      note="model prediction; 6·P·T MFU is lower (it omits attention)")])


@user_function(
    "LLM_TRAIN_PLAN", unit="", result="text", category="training",
    args=[A.model, A.gpu, _single(A.gpus), _single(A.seq), _single(A.global_batch), A.train_dtype, A.cluster, A.profile,
          A.framework],
    formula="every layout tp·pp·cp·dp = GPUs (tp | heads, ≤ the scale-up domain; pp ≤ layers; dp | global_batch; vp, ep, "
            "micro-batch, recomputation, ZeRO 1–3), timed as LLM_TRAIN_ITERATION_TIME; the fastest that fits in memory",
    sources=CLUSTER_SOURCES, assumptions=CLUSTER_ASSUMPTIONS,
    examples=[Example(("Llama-3.1-70B", "H100", 1024, 8192, 512), "tp=4 pp=4 cp=2 dp=32 vp=5 mb=1 zero=1",
                      note="model prediction: the fastest layout of 1,024 H100s for Llama 3.1 70B at 8K context, "
                           "4M-token batches")],
)
def train_plan(model, gpu, gpus, seq, global_batch, dtype, cluster, profile, framework):
    """The fastest parallel layout (tp, pp, cp, dp, ep, vp, micro-batch, ZeRO) of a GPU count that fits in memory."""
    r = srch.search(model, gpu, int(gpus), seq, global_batch, dtype=dtype, cluster=cluster, profile=profile,
                    stack=framework)
    return Calc(r.best.plan.text(), r.lines, [f"Best of {r.evaluated:,} layouts ({r.fitting:,} fit); "
                                               f"recompute {r.best.recompute}; MFU {100 * r.best.mfu:.1f}%; "
                                               f"{fmt(r.best.seconds, 's')} per step."], detail=r)
