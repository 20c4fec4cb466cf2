"""Regenerate the function table in README.md (between the markers) from the registry.

    .venv/bin/python scripts/gen_docs.py          # rewrite README.md
    .venv/bin/python scripts/gen_docs.py --check  # exit 1 if README.md is out of date (used by the tests)
"""
from __future__ import annotations

import sys
from pathlib import Path

from llmcalc.registry import REGISTRY

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- functions:start -->", "<!-- functions:end -->"


def table() -> str:
    rows = ["| Spreadsheet | Python | Returns | What it computes |", "|---|---|---|---|"]
    for fn in REGISTRY.values():
        sig = fn.signature().replace("|", "\\|")
        rows.append(f"| `={sig}` | `llmcalc.{fn.name}` | {fn.result_unit_label} | {fn.summary} |")
    return "\n".join(rows)


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    current = README.read_text(encoding="utf-8")
    new = render(current)
    if "--check" in sys.argv:
        sys.exit(0 if new == current else "README.md function table is out of date: run scripts/gen_docs.py")
    README.write_text(new, encoding="utf-8")
