"""A parallel layout of a training job: how the GPUs are split, written as text a cell can hold.

``Plan`` holds the degrees of tensor (``tp``), pipeline (``pp``), context (``cp``), data (``dp``)
and expert (``ep``) parallelism, the interleaved virtual stages per pipeline rank (``vp``), the
micro-batch (``mb``, sequences per micro-batch; ``None`` = let the model choose), sequence
parallelism (``sp``) and the optimizer/parameter sharding (``zero``):

* ``zero=0`` replicated optimizer (plain data parallel: gradients all-reduced);
* ``zero=1`` optimizer states sharded over data parallel (Megatron's distributed optimizer,
  DeepSpeed ZeRO-1): gradients reduce-scattered, updated weights all-gathered;
* ``zero=2`` + gradients sharded (DeepSpeed ZeRO-2);
* ``zero=3`` / ``zero=fsdp`` + weights sharded: gathered layer by layer for the forward and again
  for the backward pass (DeepSpeed ZeRO-3, PyTorch FSDP with reshard-after-forward).

GPUs = tp·pp·cp·dp (Megatron-LM's rank order, tensor parallel innermost); expert parallelism
is carved out of the data- and context-parallel ranks (Megatron-Core: ``ep`` divides dp·cp), so
it adds no GPUs. Text form: ``"tp=8 pp=12 dp=16"``, keys in any order, separated by spaces or
commas, omitted degrees 1: ``tp=4 pp=4 cp=2 dp=64 vp=5 mb=1 sp=on zero=1``.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields, replace

from ..errors import ArgumentError

ZERO_STAGES = ("0", "1", "2", "3", "fsdp")
_INT_KEYS = ("tp", "pp", "cp", "dp", "ep", "vp", "mb")
_ALIASES = {"tensor": "tp", "pipeline": "pp", "context": "cp", "data": "dp", "expert": "ep",
            "virtual": "vp", "interleave": "vp", "microbatch": "mb", "micro_batch": "mb", "sequence": "sp",
            "dp_shard": "zero", "sharding": "zero"}
_ON = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Plan:
    """One parallel layout. ``gpus`` = tp·pp·cp·dp; ``sp`` None = on whenever tp > 1."""

    tp: int = 1
    pp: int = 1
    cp: int = 1
    dp: int = 1
    ep: int = 1
    vp: int = 1
    mb: int | None = None
    sp: bool | None = None
    zero: str = "1"

    def __post_init__(self):
        for k in _INT_KEYS:
            v = getattr(self, k)
            if v is None and k == "mb":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ArgumentError("plan", f"{k} must be a whole number ≥ 1, got {v!r}")
            if v > 10_000_000:
                raise ArgumentError("plan", f"{k}={v} is larger than any cluster")
        z = str(self.zero).lower()
        if z not in ZERO_STAGES:
            raise ArgumentError("plan", f"zero must be one of 0, 1, 2, 3, fsdp, got {self.zero!r}")
        object.__setattr__(self, "zero", z)
        if self.vp > 1 and self.pp == 1:
            raise ArgumentError("plan", f"vp={self.vp} interleaves pipeline stages, so it needs pp > 1")
        if (self.dp * self.cp) % self.ep:
            raise ArgumentError("plan", f"ep={self.ep} must divide dp·cp = {self.dp * self.cp} "
                                        "(expert parallelism is carved out of the data/context-parallel ranks)")

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def sequence_parallel(self) -> bool:
        return (self.tp > 1) if self.sp is None else bool(self.sp and self.tp > 1)

    @property
    def shard_level(self) -> int:
        """0–3: what the data-parallel ranks shard (3 for both ZeRO-3 and FSDP)."""
        return 3 if self.zero == "fsdp" else int(self.zero)

    def text(self) -> str:
        """The layout as text (``"tp=8 pp=12 dp=16 mb=1 zero=1"``); degrees of 1 are left out."""
        parts = [f"{k}={getattr(self, k)}" for k in ("tp", "pp", "cp", "dp", "ep", "vp") if getattr(self, k) > 1 or k == "dp"]
        if self.mb is not None:
            parts.append(f"mb={self.mb}")
        if self.tp > 1 and self.sp is not None and not self.sp:
            parts.append("sp=off")
        parts.append(f"zero={self.zero}")
        return " ".join(parts)

    __str__ = text

    def with_(self, **changes) -> "Plan":
        return replace(self, **changes)


def parse(text) -> Plan:
    """A Plan from its text (``"tp=8 pp=12 dp=16"``) or a Plan/dict; errors name the argument ``plan``."""
    if isinstance(text, Plan):
        return text
    if isinstance(text, dict):
        unknown = set(text) - {f.name for f in fields(Plan)}
        if unknown:
            raise ArgumentError("plan", f"unknown key {sorted(unknown)[0]!r}; use tp, pp, cp, dp, ep, vp, mb, sp, zero")
        return Plan(**text)
    if not isinstance(text, str):
        raise ArgumentError("plan", f"must be text such as \"tp=8 pp=12 dp=16\", got {type(text).__name__}")
    if len(text) > 200:
        raise ArgumentError("plan", "is longer than 200 characters")
    return _parse_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Plan:
    """Plans are immutable, so each distinct text is parsed once (a sheet column repeats its layouts)."""
    s = text.strip()
    if not s:
        raise ArgumentError("plan", "is empty; write it as \"tp=8 pp=12 dp=16\"")
    if len(s) > 200:
        raise ArgumentError("plan", "is longer than 200 characters")
    values: dict = {}
    s = re.sub(r"\s*([=:])\s*", "=", s)
    for token in re.split(r"[\s,;]+", s):
        if not token:
            continue
        m = re.fullmatch(r"([A-Za-z_]+)=([A-Za-z0-9_.]+)", token)
        if not m:
            raise ArgumentError("plan", f"cannot read {token!r}; write key=value pairs such as \"tp=8 pp=12 dp=16\"")
        key, raw = m.group(1).lower(), m.group(2).lower()
        key = _ALIASES.get(key, key)
        if key in values:
            raise ArgumentError("plan", f"{key} is given twice")
        if key in _INT_KEYS:
            try:
                v = float(raw)
            except ValueError:
                raise ArgumentError("plan", f"{key} must be a whole number, got {raw!r}") from None
            if not 1 <= v <= 10_000_000:
                raise ArgumentError("plan", f"{key} must be a whole number from 1 to 10,000,000, got {raw!r}")
            if v != int(v):
                raise ArgumentError("plan", f"{key} must be a whole number, got {raw!r}")
            values[key] = int(v)
        elif key == "sp":
            if raw not in _ON:
                raise ArgumentError("plan", f"sp must be on or off, got {raw!r}")
            values[key] = _ON[raw]
        elif key == "zero":
            values[key] = raw
        else:
            raise ArgumentError("plan", f"unknown key {key!r}; use tp, pp, cp, dp, ep, vp, mb, sp, zero")
    return Plan(**values)
