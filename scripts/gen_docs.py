"""Regenerate the generated parts of README.md from the registry: the function table and the
source articles' worked examples (every registry example whose note cites an article).

    .venv/bin/python scripts/gen_docs.py          # rewrite README.md
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if README.md is out of date (used by the tests)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from llmcalc import display
from llmcalc.registry import REGISTRY
from llmcalc.sources import SOURCES

README = Path(__file__).resolve().parents[1] / "README.md"
ARTICLE_NOTE = re.compile(r"^article (\d)(?: (§\S+))?: (.*)$")


def functions() -> str:
    rows = ["| Spreadsheet | Python | Returns | What it computes |", "|---|---|---|---|"]
    for fn in REGISTRY.values():
        sig = fn.signature().replace("|", "\\|")
        rows.append(f"| `={sig}` | `llmcalc.{fn.name}` | {fn.result_unit_label} | {fn.summary} |")
    return "\n".join(rows)


def _literal(v) -> str:
    """A Python literal as people write it: 175e9, 2.5e12, "A100"."""
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float) and abs(v) >= 1e6:
        k = 3 * ((len(str(int(abs(v)))) - 1) // 3)
        return f"{v / 10 ** k:g}e{k}"
    return repr(v)


def _call(fn, e) -> str:
    parts = [_literal(v) for v in e.args] + [f"{k}={_literal(v)}" for k, v in e.kwargs.items()]
    return f"`llmcalc.{fn.name}({', '.join(parts)})`"


def _result(fn, e) -> str:
    """The result as people read it (llmcalc.display): ``33.81 days``, ``$0.066 per 1K tokens``."""
    r = fn(*e.args, **e.kwargs)
    return display.count(int(r)) if fn.result == "count" else str(r)


def articles() -> str:
    """One table per source article: what it says, the call, what llmcalc gives."""
    rows: dict[str, list[str]] = {"3": [], "2": [], "1": []}
    for fn in REGISTRY.values():
        for e in fn.examples:
            m = ARTICLE_NOTE.match(e.note)
            if m:
                where = f" ({m.group(2)})" if m.group(2) else ""
                rows[m.group(1)].append(f"| {m.group(3)}{where} | {_call(fn, e)} | {_result(fn, e)} |")
    out = []
    for n, lines in rows.items():
        s = SOURCES[f"article{n}"]
        out += [f"**Article {n} — {s.title}** ({s.authors}, {s.year})", "",
                "| The article | Call | llmcalc |", "|---|---|---|", *lines, ""]
    return "\n".join(out).rstrip()


def render(text: str) -> str:
    for name, body in (("functions", functions), ("articles", articles)):
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body()}\n{end}{tail}"
    return text


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    new = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if new == current else "README.md is out of date: run scripts/gen_docs.py")
    README.write_text(new, encoding="utf-8")
