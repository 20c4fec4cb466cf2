"""Value texts as written in ``%llmcost`` lines and ``%%llmcost`` cells: lists, shared units, ranges.

Only text → list of value texts; the registry's argument kinds parse each value afterwards. Lists
(``[1, 8, 32]``, a shared trailing unit) are :mod:`llmcalc.lists`, the syntax the CLI shares;
ranges are the cells' own.

    split_list("[1, 8, 32]", "batch")          -> ["1", "8", "32"]
    split_list("[1.3, 2 TB/s]", "bandwidth")   -> ["1.3 TB/s", "2 TB/s"]   (a trailing unit is shared)
    sweep("1..64 x2", "batch")                 -> ["1", "2", "4", … "64"]
    sweep("512..4096 step 512 tokens", "p")    -> ["512 tokens", "1024 tokens", … "4096 tokens"]
"""
from __future__ import annotations

import re

from llmcalc.errors import ArgumentError
from llmcalc.lists import share_unit, split_commas

MAX_RANGE = 200
_NUM = r"[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_RANGE = re.compile(rf"^\s*(?P<a>{_NUM})\s*(?P<sa>[kKMBT])?\s*\.\.\s*(?P<b>{_NUM})\s*(?P<sb>[kKMBT](?![A-Za-z]))?\s*(?P<rest>.*)$")
_STEP = re.compile(rf"(?:(?<=\s)|^)(?:(?P<op>step|by|\+)\s*|(?P<mul>x|×|\*)\s*)(?P<n>{_NUM})(?![0-9A-Za-z])")
_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _num(text: str, suffix: str | None, where: str) -> float:
    try:
        v = float(text.replace("_", ""))
    except ValueError:
        raise ArgumentError(where, f"{text!r} is not a number") from None
    return v * _SUFFIX.get(suffix or "", 1.0)


def expand_range(text: str, where: str) -> list[str] | None:
    """``1..64 x2`` → 1, 2, 4 … 64; ``512..4096 step 512 tokens`` → 512, 1024 … 4096 tokens."""
    m = _RANGE.match(text)
    if not m:
        return None
    a, b = _num(m["a"], m["sa"], where), _num(m["b"], m["sb"], where)
    rest = m["rest"]
    s = _STEP.search(rest)
    mul, step = False, 1.0
    if s:
        step = _num(s["n"], None, where)
        mul = bool(s["mul"])
        rest = (rest[:s.start()] + rest[s.end():]).strip()
    unit = rest.strip()
    if b < a:
        raise ArgumentError(where, f"the range {text.strip()!r} runs backwards")
    if (mul and step <= 1) or (not mul and step <= 0) or (mul and a <= 0):
        raise ArgumentError(where, f"the range {text.strip()!r} needs a step > 0 (or a factor > 1 from a start > 0)")
    out, v = [], a
    while v <= b * (1 + 1e-12):
        out.append(v)
        if len(out) > MAX_RANGE:
            raise ArgumentError(where, f"the range {text.strip()!r} has more than {MAX_RANGE} values")
        v = a * step ** len(out) if mul else a + step * len(out)
    return [f"{v:.12g}" + (f" {unit}" if unit else "") for v in out]


def sweep(text: str, where: str) -> list[str]:
    """The values a scenario field holds: a range, a comma list (unit shared) or one value."""
    rng = expand_range(text, where)
    if rng is not None:
        return rng
    return share_unit(split_commas(text, where), where) if "," in text else [text.strip()]
