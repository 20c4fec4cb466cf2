"""One training layout, end to end: check it, choose what it leaves open, time it, size it, explain it.

:func:`estimate` is what ``llmcalc.train_iteration_time`` / ``train_mfu`` call and what the layout
search ranks. Given a model, a GPU, a :class:`~llmcalc.parallel.plan.Plan`, the sequence length and
the global batch, it

1. checks the layout against the model and the batch (heads, KV heads, layers, experts and the batch
   must divide; errors name the argument),
2. tries every micro-batch the plan leaves open (divisors of the per-replica batch) and every
   recomputation mode when ``recompute="auto"``, all in one vectorised call of
   :func:`llmcalc.parallel.step.iteration` and :func:`llmcalc.parallel.memory.breakdown`,
3. keeps the fastest that fits in the GPU's memory, or says why nothing fits.

The model FLOP utilisation uses Megatron-Core model FLOPs (:func:`llmcalc.parallel.flops.model_flops`)
over the GPU's dense 16-bit peak, whatever the training dtype (so fp8 runs are comparable with bf16
ones); the hardware-FLOPs utilisation and the dtype's own peak are in the explanation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from ..perf import comm
from ..perf.profile import resolve as resolve_profile
from ..units import parse_quantity
from . import flops as fl
from . import memory as mem
from . import stack as st
from . import step
from .plan import Plan, parse as parse_plan
from .stack import Stack, stack as get_stack

RECOMPUTE_MODES = ("none", "selective", "full")
_RECOMPUTE_CHOICES = frozenset(RECOMPUTE_MODES + ("auto",))
TRAIN_DTYPES = ("bf16", "fp16", "fp8", "fp4")
MAX_MICRO_BATCH = 64


# ------------------------------------------------------------------------------------------ inputs

_RECOMPUTE_ALIASES = {"true": "full", "false": "none", "yes": "full", "no": "none", "on": "full", "off": "none",
                      "sel": "selective", "attention": "selective", "": "auto"}


def parse_recompute(value) -> str:
    """``full`` | ``selective`` | ``none`` | ``auto``; True/False (and TRUE/FALSE text) mean full/none."""
    if value is None:
        return "auto"
    if type(value) is str and value in _RECOMPUTE_CHOICES:  # already a mode (the registry parsed it)
        return value
    if isinstance(value, (bool, np.bool_)):
        return "full" if value else "none"
    if isinstance(value, (int, float)) and value in (0, 1):
        return "full" if value else "none"
    text = str(value).strip().lower()
    text = _RECOMPUTE_ALIASES.get(text, text)
    if text not in _RECOMPUTE_CHOICES:
        raise ArgumentError("recompute", f"must be full, selective, none or auto (or TRUE/FALSE), got {str(value)[:40]!r}")
    return text


_DTYPE_ALIASES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float8": "fp8", "e4m3": "fp8",
                  "nvfp4": "fp4", "mxfp4": "fp4", "float4": "fp4"}


def parse_dtype(value, gpu) -> str:
    if type(value) is str and value == "bf16":   # the default, already in canonical form (no check below applies)
        return value
    text = "bf16" if value is None else str(value).strip().lower().replace("-", "").replace("_", "")
    text = _DTYPE_ALIASES.get(text, text)
    if text not in TRAIN_DTYPES:
        raise ArgumentError("dtype", f"training runs in bf16, fp16, fp8 or fp4, got {str(value)[:40]!r}")
    if text in ("fp8", "fp4") and not gpu.peak.get(text):
        raise ArgumentError("dtype", f"{gpu.name} has no {text} tensor cores (no published dense {text} peak)")
    if text == "fp16" and not (gpu.peak.get("fp16") or gpu.peak.get("bf16")):
        raise ArgumentError("dtype", f"{gpu.name} has no 16-bit tensor-core peak")
    return text


_CLUSTER_KEYS = {"domain": "scale_up_size", "scaleup_size": "scale_up_size", "nvl": "scale_up_size",
                 "scaleup": "scale_up_bandwidth", "nvlink": "scale_up_bandwidth", "intra": "scale_up_bandwidth",
                 "scaleout": "scale_out_bandwidth", "nic": "scale_out_bandwidth", "network": "scale_out_bandwidth",
                 "inter": "scale_out_bandwidth"}


def parse_cluster(text, gpu) -> comm.Cluster:
    """The GPU's catalog network with overrides from text such as
    ``"domain=72 scaleup=900GB/s scaleout=800Gb/s"``: the scale-up domain size (GPUs), and the
    per-GPU, per-direction bandwidth of the scale-up link and of the scale-out NIC (units required:
    ``GB/s`` = 10⁹ bytes/s, ``Gb/s`` = 10⁹ bits/s). A :class:`~llmcalc.perf.comm.Cluster` passes through."""
    if isinstance(text, comm.Cluster):
        return text
    if text is None or (isinstance(text, str) and not text.strip()):
        return comm.cluster_of(gpu)
    base = comm.cluster_of(gpu)
    if not isinstance(text, str):
        raise ArgumentError("cluster", "must be text such as \"domain=72 scaleup=900GB/s scaleout=800Gb/s\"")
    if len(text) > 200:
        raise ArgumentError("cluster", "is longer than 200 characters")
    changes = {}
    for token in re.split(r"[\s,;]+(?=[A-Za-z_-]+\s*[=:])", text.strip()):
        m = re.fullmatch(r"\s*([A-Za-z_-]+)\s*[=:]\s*(.+?)\s*", token)
        if not m:
            raise ArgumentError("cluster", f"cannot read {token.strip()[:40]!r}; write key=value pairs such as "
                                           "\"domain=72 scaleup=900GB/s scaleout=800Gb/s\"")
        key = m.group(1).lower().replace("-", "").replace("_", "")
        key = _CLUSTER_KEYS.get(key, key)
        if key not in ("scale_up_size", "scale_up_bandwidth", "scale_out_bandwidth"):
            raise ArgumentError("cluster", f"unknown key {m.group(1)!r}; use domain, scaleup and scaleout")
        raw = m.group(2)
        if key == "scale_up_size":
            v = parse_quantity(raw, "cluster", "")
            if v != int(v) or not 1 <= v <= 1_000_000:
                raise ArgumentError("cluster", f"domain must be a whole number of GPUs from 1 to 1,000,000, got {raw!r}")
            changes[key] = int(v)
        else:
            if not re.search(r"[A-Za-z]", raw):
                raise ArgumentError("cluster", f"{m.group(1)}={raw} needs a unit (GB/s for bytes, Gb/s for bits per second)")
            v = parse_quantity(raw, "cluster", "byte/second")
            if not v > 0:
                raise ArgumentError("cluster", f"{m.group(1)} must be > 0")
            changes[key] = v
    return comm.with_overrides(base, **changes)


def check_plan(model, plan: Plan, seq: int, global_batch: int) -> None:
    """Raise ArgumentError (naming ``plan``, ``seq`` or ``global_batch``) if the layout cannot run this model."""
    m = model
    if plan.tp > m.heads or m.heads % plan.tp:
        raise ArgumentError("plan", f"tp={plan.tp} must divide the {m.heads} attention heads "
                                    "(tensor parallelism splits the heads)")
    if m.kv_heads % plan.tp and plan.tp % m.kv_heads:
        raise ArgumentError("plan", f"tp={plan.tp} and the {m.kv_heads} KV heads must divide one another")
    if plan.pp * plan.vp > m.layers:
        raise ArgumentError("plan", f"pp={plan.pp}" + (f" × vp={plan.vp}" if plan.vp > 1 else "") +
                            f" pipeline stages for {m.layers} layers: each stage needs at least one layer")
    per = -(-m.layers // (plan.pp * plan.vp)) * plan.vp
    if plan.pp > 1 and m.layers - (plan.pp - 1) * per < 1:
        raise ArgumentError("plan", f"{m.layers} layers cannot be split over pp={plan.pp}"
                            + (f" × vp={plan.vp}" if plan.vp > 1 else "") + f" stages of at most {per} layers")
    if plan.cp > 1 and seq % (2 * plan.cp):
        raise ArgumentError("plan", f"cp={plan.cp} splits each sequence into 2·cp = {2 * plan.cp} balanced chunks; "
                                    f"seq={seq} is not a multiple of {2 * plan.cp}")
    if plan.ep > 1 and not m.experts:
        raise ArgumentError("plan", f"ep={plan.ep} needs a mixture-of-experts model; {m.name} is dense")
    if m.experts and m.experts % plan.ep:
        raise ArgumentError("plan", f"ep={plan.ep} must divide the {m.experts} experts")
    if global_batch % plan.dp:
        raise ArgumentError("global_batch", f"{global_batch} sequences cannot be split evenly over dp={plan.dp} replicas")
    if plan.mb is not None and (global_batch // plan.dp) % plan.mb:
        raise ArgumentError("plan", f"mb={plan.mb} must divide the {global_batch // plan.dp} sequences of each "
                                    f"data-parallel replica (global_batch / dp)")


def micro_batches(per_replica: int, limit: int = MAX_MICRO_BATCH) -> list[int]:
    """Divisors of the per-replica batch up to ``limit``: the micro-batch sizes a plan can use."""
    return [d for d in range(1, min(per_replica, limit) + 1) if per_replica % d == 0]


# ------------------------------------------------------------------------------------------ result

@dataclass
class TrainEstimate:
    """A timed, sized layout. ``seconds`` per optimizer step; ``terms`` its parts (they add up)."""

    model: object
    gpu: object
    plan: Plan
    recompute: str
    dtype: str
    seq: int
    global_batch: int
    seconds: float
    terms: dict
    memory: dict
    usable_bytes: float
    cluster: comm.Cluster
    profile: object
    stack: Stack

    @property
    def gpus(self) -> int:
        return self.plan.gpus

    @property
    def model_flops(self) -> float:
        return fl.model_flops(self.model, self.seq, self.global_batch)

    @property
    def hardware_flops(self) -> float:
        return fl.hardware_flops(self.model, self.seq, self.global_batch, self.recompute)

    @property
    def peak16(self) -> float:
        return self.gpu.peak_flops("bf16")

    @property
    def mfu(self) -> float:
        """Megatron-Core model FLOPs per second per GPU ÷ the dense 16-bit peak."""
        return self.model_flops / (self.seconds * self.gpus * self.peak16)

    @property
    def hfu(self) -> float:
        return self.hardware_flops / (self.seconds * self.gpus * self.peak16)

    @property
    def tokens_per_second(self) -> float:
        return self.seq * self.global_batch / self.seconds

    @property
    def memory_per_gpu(self) -> float:
        return self.memory["total"]

    def bottleneck(self) -> str:
        t = self.terms
        parts = {"compute": t["compute"], "tensor-parallel communication": t["tp_comm"],
                 "pipeline bubble": t["bubble"], "pipeline send/receive": t["pp_comm"],
                 "data-parallel communication": t["dp_comm"], "optimizer step": t["optimizer"]}
        top = max(parts, key=parts.get)
        others = {k: v for k, v in parts.items() if k != "compute"}
        second = max(others, key=others.get)
        share = 100.0 * others[second] / self.seconds
        return (f"{top} bound" if top != "compute" else "compute bound") + \
            (f"; largest overhead: {second} ({share:.0f}% of the step)" if share >= 1 else "")

    def lines(self) -> list[str]:
        t = self.terms
        p = self.plan
        mm = self.memory
        out = [f"layout: {p.text()} on {self.gpus:,} × {self.gpu.name}; recompute {self.recompute}; {self.dtype}; "
               f"{t['micro_batches']:.0f} micro-batches of {p.mb} × {self.seq:,} tokens per pipeline",
               f"network: {self.cluster.describe()}",
               f"framework behaviour: {self.stack.name} ({self.stack.source})",
               f"per-GPU profile: {self.profile.name}" + (" (derived from datasheet ratios, not measured)"
                                                          if self.profile.derived else "")]
        for key, label in (("compute", "compute (forward, backward, recompute)"),
                           ("tp_comm", "exposed tensor/context/expert-parallel communication"),
                           ("bubble", f"pipeline bubble ((p−1)/(v·m) = {(p.pp - 1) / (p.vp * t['micro_batches']):.1%})"),
                           ("pp_comm", "pipeline send/receive"), ("dp_comm", "exposed data-parallel communication"),
                           ("optimizer", "optimizer step"), ("embedding_sync", "embedding gradient sync")):
            if t[key] > 0 or key in ("compute",):
                out.append(f"{label}: {fmt(t[key], 's')} ({100 * t[key] / self.seconds:.1f}%)")
        out.append(f"iteration: {fmt(self.seconds, 's')} for {self.global_batch:,} × {self.seq:,} tokens = "
                   f"{fmt(self.tokens_per_second)} tokens/s ({fmt(self.tokens_per_second / self.gpus)} per GPU)")
        out.append(f"MFU {100 * self.mfu:.1f}% (Megatron-Core model FLOPs: 12·s·L·h²·[(1 + kv/a + s/h)·q/h + "
                   f"(ffn/h)·(3/2 if gated) + V/(2·L·h)] per sequence, no recomputation, full s² attention; "
                   f"{fmt(self.model_flops / self.seconds / self.gpus / 1e12)} TFLOP/s per GPU of "
                   f"{fmt(self.peak16 / 1e12)} dense bf16 peak)")
        hw = f"HFU {100 * self.hfu:.1f}% (hardware FLOPs: + the recomputed forward)"
        if self.dtype in ("fp8", "fp4"):
            lp = self.gpu.peak_flops(self.dtype)
            hw += f"; against the dense {self.dtype} peak ({fmt(lp / 1e12)} TFLOP/s) the model FLOPs are {100 * self.model_flops / (self.seconds * self.gpus * lp):.1f}%"
        out.append(hw)
        out.append(f"memory per GPU: {fmt(mm['total'] / 1e9, 'GB')} of {fmt(self.usable_bytes / 1e9, 'GB')} usable "
                   f"(weights {fmt(mm['weights'] / 1e9)}, gradients {fmt(mm['gradients'] / 1e9)}, optimizer "
                   f"{fmt(mm['optimizer'] / 1e9)}, activations {fmt(mm['activations'] / 1e9)} GB)")
        out.append(self.bottleneck())
        return out


# ------------------------------------------------------------------------------------------ core

def _evaluate(a, prof, gpu, cl, stack, dtype, seq, gbs, lay: dict):
    """Times and memory of a batch of layouts given as arrays (or scalars) in ``lay``."""
    res = step.iteration(a, prof, gpu, cl, seq=seq, global_batch=gbs, stack=stack, dtype=dtype, **lay)
    memb = mem.breakdown(a, seq=seq, global_batch=gbs, stack=stack, dtype=dtype, **lay)
    return res, memb


def estimate(model, gpu, plan, seq, global_batch, recompute="auto", dtype="bf16", cluster=None, profile=None,
             stack=st.AUTO) -> TrainEstimate:
    """Time, memory and MFU of one layout (the micro-batch and recomputation it leaves open are chosen).

    Raises ArgumentError naming ``plan`` when the layout does not divide the model or does not fit."""
    plan = parse_plan(plan)
    seq, gbs = int(seq), int(global_batch)
    rc = parse_recompute(recompute)
    dtype = parse_dtype(dtype, gpu)
    check_plan(model, plan, seq, gbs)
    cl = parse_cluster(cluster, gpu)
    prof = resolve_profile(gpu, profile)
    stk = get_stack(st.for_layout(stack, plan.tp, plan.pp, plan.cp, plan.shard_level) if isinstance(stack, str) else stack)
    a = step.arch(model)
    per_replica = gbs // plan.dp
    mbs = [plan.mb] if plan.mb is not None else micro_batches(per_replica)
    rcs = RECOMPUTE_MODES if rc == "auto" else (rc,)
    if len(mbs) == 1 and len(rcs) == 1:      # one candidate: plain numbers (microseconds, not arrays)
        grid_mb, grid_rc = float(mbs[0]), float(step.RECOMPUTE[rcs[0]])
    else:
        grid_mb, grid_rc = np.meshgrid(np.array(mbs, float), np.array([step.RECOMPUTE[r] for r in rcs], float))
        grid_mb, grid_rc = grid_mb.ravel(), grid_rc.ravel()
    lay = dict(tp=float(plan.tp), pp=float(plan.pp), cp=float(plan.cp), dp=float(plan.dp), ep=float(plan.ep),
               vp=float(plan.vp), mb=grid_mb, sp=plan.sequence_parallel, shard=plan.shard_level, recompute=grid_rc)
    res, memb = _evaluate(a, prof, gpu, cl, stk, dtype, seq, gbs, lay)
    cap = mem.usable(gpu)
    if not isinstance(grid_mb, np.ndarray):           # one candidate
        if memb["total"] > cap:
            parts = ", ".join(f"{k} {fmt(memb[k] / 1e9)}" for k in ("weights", "gradients", "optimizer", "activations"))
            raise ArgumentError("plan", f"{plan.text()} does not fit: needs {fmt(memb['total'] / 1e9)} GB per GPU "
                                        f"({parts} GB) with mb={int(grid_mb)}, recompute {rcs[0]}, of "
                                        f"{fmt(cap / 1e9)} GB usable on a {gpu.name}" + _fit_hint(plan))
        return TrainEstimate(model, gpu, plan.with_(mb=int(grid_mb)) if plan.mb is None else plan, rcs[0], dtype, seq,
                             gbs, float(res["total"]), {k: float(v) for k, v in res.items()},
                             {k: float(v) for k, v in memb.items()}, cap, cl, prof, stk)
    tot_mem = memb["total"]
    times = res["total"]
    fits = tot_mem <= cap
    total = np.where(fits, times, np.inf)
    i = int(np.argmin(total))
    if not np.isfinite(total[i]):
        j = int(np.argmin(tot_mem))
        what = (f"mb={int(grid_mb[j])}, recompute {RECOMPUTE_MODES[int(grid_rc[j])]}")
        parts = ", ".join(f"{k} {fmt(np.broadcast_to(memb[k], tot_mem.shape)[j] / 1e9)}"
                          for k in ("weights", "gradients", "optimizer", "activations"))
        raise ArgumentError("plan", f"{plan.text()} does not fit: needs {fmt(tot_mem[j] / 1e9)} GB per GPU ({parts} GB) "
                                    f"with {what}, of {fmt(cap / 1e9)} GB usable on a {gpu.name}" + _fit_hint(plan))
    chosen = plan if plan.mb is not None else plan.with_(mb=int(grid_mb[i]))

    def pick(v):
        return float(v[i]) if np.ndim(v) else float(v)

    terms = {k: pick(v) for k, v in res.items()}
    memory = {k: pick(v) for k, v in memb.items()}
    return TrainEstimate(model, gpu, chosen, RECOMPUTE_MODES[int(grid_rc[i])], dtype, seq, gbs, terms["total"], terms,
                         memory, cap, cl, prof, stk)


def _fit_hint(plan: Plan) -> str:
    tips = []
    if plan.shard_level < 1:
        tips.append("zero=1 shards the optimizer states")
    if plan.shard_level < 3:
        tips.append("zero=3 also shards the weights")
    tips.append("a larger tp or pp splits the model further")
    return "; " + ", ".join(tips)
