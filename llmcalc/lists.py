"""List sweeps typed as text: ``[256, 512, 1024]`` → ``["256", "512", "1024"]``.

The text front-ends (the CLI; ``%llmcost`` has the same syntax) accept a bracketed list wherever
a value goes; each item is then parsed by the argument's kind like a single value, and the
registry broadcasts. A unit written after the last item is shared: ``[1.3, 2 TB/s]``. Items may be
separated by ``", "`` or, in a shell, by a bare comma (``[256,512,1024]``); a comma that may be a
thousands separator (``[1,000]``, ``[128,256]``, ``[1,000, 2,000]``) is refused rather than guessed.
"""
from __future__ import annotations

import re

from . import units
from .errors import ArgumentError, LLMCalcError

# "1,000" inside a list would silently become [1, 0]: refuse it and say what to write. A list written
# without spaces ("[256,512,1024]") is ambiguous only when the whole of it reads as one grouped number.
_THOUSANDS = re.compile(r"\d,\d{3}(?![\d])")
_GROUPED_NUMBER = re.compile(r"\s*[+-]?\d{1,3}(,\d{3})+(\.\d*)?\s*")


def split_list(text: str, argument: str) -> list[str] | None:
    """``"[1, 8, 32]"`` → ``["1", "8", "32"]``; a trailing unit is shared; ``None`` if not a list."""
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return None
    return share_unit(split_commas(s[1:-1], argument), argument)


def split_commas(text: str, argument: str) -> list[str]:
    spaced = re.search(r",\s", text) is not None
    if (_THOUSANDS.search(re.sub(r",\s", " ", text)) if spaced else _GROUPED_NUMBER.fullmatch(text)):
        raise ArgumentError(argument, f"{text.strip()!r} is ambiguous: commas separate list values; "
                            "write 1000, 1_000 or 1K for a thousand, and a list with spaces: [128, 256]")
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise ArgumentError(argument, f"the list {text.strip()!r} has an empty value")
    return parts


def share_unit(parts: list[str], argument: str) -> list[str]:
    """Give bare numbers the unit written after the last value: ``1.3, 2 TB/s``."""
    if len(parts) < 2:
        return parts
    try:
        _, rest = units.split_number(parts[-1], argument)
    except LLMCalcError:
        return parts
    if not rest:
        return parts
    out = []
    for p in parts:
        try:
            _, own = units.split_number(p, argument)
        except LLMCalcError:
            out.append(p)
            continue
        out.append(p if own else f"{p} {rest}")
    return out


def join_brackets(tokens: list[str]) -> list[str]:
    """``[256,`` ``512,`` ``1024]`` (an unquoted list the shell split at its spaces) → one token."""
    out, buf = [], None
    for tok in tokens:
        if buf is not None:
            buf.append(tok)
            if tok.endswith("]"):
                out.append(" ".join(buf))
                buf = None
        elif tok.startswith("[") and not tok.endswith("]"):
            buf = [tok]
        else:
            out.append(tok)
    if buf is not None:
        raise ArgumentError("list", f"the list {' '.join(buf)!r} has no closing ]")
    return out
