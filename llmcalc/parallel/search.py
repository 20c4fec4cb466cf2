"""Every valid layout of a training job on a GPU count, timed and sized in one vectorised pass.

Candidates (GPUs = tp·pp·cp·dp):

* ``tp``: divisors of the attention heads, compatible with the KV heads, at most the scale-up domain
  (tensor parallelism across the scale-out network is never competitive);
* ``cp``: 1, 2, 4, … 64 with the sequence divisible by 2·cp (load-balanced causal chunks);
* ``pp``: divisors of gpus/(tp·cp) up to the layer count, every stage holding ≥ 1 layer;
* ``dp``: the rest, dividing the global batch;
* ``vp``: 1, and interleaved stages v ≤ 8 with the layers divisible by pp·v;
* ``ep`` (mixture of experts): divisors of the expert count that divide dp·cp;
* ``mb``: divisors of the per-replica batch up to 16; ``recompute``: none, selective, full;
  ``zero``: 1 (distributed optimizer; never slower than 0 in this model and smaller), 2 and 3;
  sequence parallelism on whenever tp > 1.

All candidates go through :func:`llmcalc.parallel.step.iteration` and
:func:`llmcalc.parallel.memory.breakdown` as NumPy arrays; those that fit are ranked by step time.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from ..perf.profile import resolve as resolve_profile
from . import memory as mem
from . import step
from .estimate import RECOMPUTE_MODES, TrainEstimate, estimate, parse_cluster, parse_dtype
from .plan import Plan
from .stack import AUTO, plain_pytorch, stack as get_stack

MAX_SEARCH_MB = 16
MAX_VP = 8
ZERO_LEVELS = (1, 2, 3)


def _divisors(n: int, limit: int | None = None) -> list[int]:
    out = []
    i = 1
    while i * i <= n:
        if n % i == 0:
            out.append(i)
            if i != n // i:
                out.append(n // i)
        i += 1
    out.sort()
    return [d for d in out if limit is None or d <= limit]


def candidates(model, gpus: int, seq: int, global_batch: int, domain: int) -> dict:
    """Arrays (one entry per candidate) of tp, pp, cp, dp, ep, vp, mb, recompute and shard."""
    m = model
    L = m.layers
    rows = []
    tps = [t for t in _divisors(m.heads, min(domain, gpus)) if gpus % t == 0 and (m.kv_heads % t == 0 or t % m.kv_heads == 0)]
    for tp in tps:
        for cp in (1, 2, 4, 8, 16, 32, 64):
            if (gpus // tp) % cp or (cp > 1 and seq % (2 * cp)):
                continue
            for pp in _divisors(gpus // (tp * cp), L):
                per = -(-L // pp)
                if pp > 1 and L - (pp - 1) * per < 1:
                    continue
                dp = gpus // (tp * cp * pp)
                if global_batch % dp:
                    continue
                vps = [1] + ([v for v in range(2, MAX_VP + 1) if L % (pp * v) == 0] if pp > 1 else [])
                eps = [1]
                if m.experts:
                    eps = [e for e in _divisors(m.experts) if (dp * cp) % e == 0]
                per_replica = global_batch // dp
                mbs = _divisors(per_replica, MAX_SEARCH_MB)
                for vp, ep, mb in itertools.product(vps, eps, mbs):
                    rows.append((tp, pp, cp, dp, ep, vp, mb))
    if not rows:
        return {}
    base = np.array(rows, dtype=float)
    n = len(base)
    k = len(RECOMPUTE_MODES) * len(ZERO_LEVELS)
    rep = np.repeat(base, k, axis=0)
    rc = np.tile(np.repeat(np.arange(len(RECOMPUTE_MODES), dtype=float), len(ZERO_LEVELS)), n)
    z = np.tile(np.array(ZERO_LEVELS, dtype=float), n * len(RECOMPUTE_MODES))
    names = ("tp", "pp", "cp", "dp", "ep", "vp", "mb")
    out = {name: rep[:, i] for i, name in enumerate(names)}
    out["recompute"] = rc
    out["shard"] = z
    out["sp"] = out["tp"] > 1
    return out


@dataclass
class PlanSearch:
    """The ranked layouts of a job: ``best`` (a :class:`TrainEstimate`) and ``table`` (dict rows)."""

    best: TrainEstimate
    table: list
    evaluated: int
    fitting: int

    # the best layout's figures, so that a search result reads like the estimate it found
    @property
    def plan(self):
        return self.best.plan

    @property
    def recompute(self) -> str:
        return self.best.recompute

    @property
    def seconds(self) -> float:
        return self.best.seconds

    @property
    def mfu(self) -> float:
        return self.best.mfu

    @property
    def memory_per_gpu(self) -> float:
        return self.best.memory_per_gpu

    @property
    def breakdown(self) -> dict:
        """Seconds per step: compute, tp_comm, bubble, pp_comm, dp_comm, optimizer, embedding_sync."""
        return {k: self.best.terms[k] for k in ("compute", "tp_comm", "bubble", "pp_comm", "dp_comm", "optimizer",
                                                  "embedding_sync")}

    def lines(self) -> list[str]:
        out = [f"searched {self.evaluated:,} layouts (tp, pp, cp, dp, ep, vp, micro-batch, recomputation, ZeRO); "
               f"{self.fitting:,} fit in memory"]
        out += self.best.lines()
        out.append("next best layouts:")
        for r in self.table[1:6]:
            out.append(f"  {r['plan']}  recompute {r['recompute']}: {fmt(r['seconds'], 's')}, MFU {100 * r['mfu']:.1f}%, "
                       f"{fmt(r['memory'] / 1e9)} GB")
        return out


def search(model, gpu, gpus, seq, global_batch, dtype="bf16", cluster=None, profile=None, stack=AUTO,
           top: int = 10) -> PlanSearch:
    """The fastest layout that fits, and the next best distinct layouts (at most ``top``)."""
    gpus, seq, gbs = int(gpus), int(seq), int(global_batch)
    dtype = parse_dtype(dtype, gpu)
    cl = parse_cluster(cluster, gpu)
    prof = resolve_profile(gpu, profile)
    stk = get_stack("modern" if stack == AUTO else stack)
    a = step.arch(model)
    cand = candidates(model, gpus, seq, gbs, cl.scale_up_size)
    if not cand:
        raise ArgumentError("gpus", f"{gpus:,} GPUs cannot be split into tensor × pipeline × context × data parallel "
                                    f"groups for {model.name} (heads {model.heads}, layers {model.layers}) with a global "
                                    f"batch of {gbs:,} sequences: dp must divide the batch")
    res = step.iteration(a, prof, gpu, cl, seq=seq, global_batch=gbs, stack=stk, dtype=dtype, **cand)
    memb = mem.breakdown(a, seq=seq, global_batch=gbs, stack=stk, dtype=dtype, **cand)
    if stack == AUTO:
        # fully sharded data-parallel layouts are plain-PyTorch jobs: time them with that stack. Only the totals
        # rank and size the candidates; the winner's parts come from estimate() below, with the same stack.
        pt = plain_pytorch(cand["tp"], cand["pp"], cand["cp"], cand["shard"])
        if pt.any():
            sub = {k: v[pt] for k, v in cand.items()}
            ref = get_stack("reference")
            res_pt = step.iteration(a, prof, gpu, cl, seq=seq, global_batch=gbs, stack=ref, dtype=dtype, **sub)
            mem_pt = mem.breakdown(a, seq=seq, global_batch=gbs, stack=ref, dtype=dtype, **sub)
            res["total"], memb["total"] = res["total"].copy(), np.broadcast_to(memb["total"], pt.shape).copy()
            res["total"][pt], memb["total"][pt] = res_pt["total"], mem_pt["total"]
    cap = mem.usable(gpu)
    fits = memb["total"] <= cap
    n_fit = int(fits.sum())
    if not n_fit:
        j = int(np.argmin(memb["total"]))
        raise ArgumentError("gpus", f"{model.name} does not fit on {gpus:,} × {gpu.name} in any layout: the smallest "
                                    f"needs {fmt(memb['total'][j] / 1e9)} GB per GPU of {fmt(cap / 1e9)} GB usable; "
                                    "use more GPUs or GPUs with more memory")
    t = np.where(fits, res["total"], np.inf)
    order = np.argsort(t, kind="stable")
    flops = None
    table, seen = [], set()
    for i in order:
        if not np.isfinite(t[i]):
            break
        plan = Plan(tp=int(cand["tp"][i]), pp=int(cand["pp"][i]), cp=int(cand["cp"][i]), dp=int(cand["dp"][i]),
                    ep=int(cand["ep"][i]), vp=int(cand["vp"][i]), mb=int(cand["mb"][i]),
                    zero=str(int(cand["shard"][i])))
        key = (plan.tp, plan.pp, plan.cp, plan.dp, plan.ep, plan.vp)
        if key in seen:
            continue
        seen.add(key)
        if flops is None:
            from .flops import model_flops
            flops = model_flops(model, seq, gbs)
        table.append({"plan": plan.text(), "recompute": RECOMPUTE_MODES[int(cand["recompute"][i])],
                      "seconds": float(t[i]), "mfu": flops / (float(t[i]) * gpus * gpu.peak_flops("bf16")),
                      "memory": float(memb["total"][i]), "layout": plan})
        if len(table) >= top:
            break
    first = table[0]
    best = estimate(model, gpu, first["layout"], seq, gbs, recompute=first["recompute"], dtype=dtype, cluster=cl,
                    profile=prof, stack=stack)
    return PlanSearch(best, table, len(t), n_fit)
