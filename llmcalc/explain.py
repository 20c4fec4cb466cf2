"""Explanations: the inputs, the formula with numbers substituted, the assumptions and sources.

A result keeps what it was computed from; the text is only formatted when someone asks
(``result.explain()``), so plain calls stay fast.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .display import number


def fmt(x, unit: str = "", digits: int = 4) -> str:
    """A number (or array) with ``digits`` significant digits and thousands separators, then the
    unit text as given: ``2,921,341 s``, ``3.120e+14 FLOP/s``. The compact form of calculation lines
    and error messages (:func:`llmcalc.display.number`); results and inputs are shown to people with
    :func:`llmcalc.display.quantity` instead (``33.81 days``, ``$0.00043 per 1K tokens``)."""
    if isinstance(x, np.ndarray):
        flat = x.ravel()
        shown = ", ".join(fmt(v, "", digits) for v in flat[:4])
        more = f", … ({flat.size} values)" if flat.size > 4 else ""
        return f"[{shown}{more}]" + (f" {unit}" if unit else "")
    return f"{number(x, digits)} {unit}".strip()


@dataclass
class Explanation:
    """What a number was computed from. ``str()`` gives text; ``_repr_html_`` a table."""

    function: str
    sheet_name: str
    summary: str
    result: str
    inputs: list[tuple[str, str]]
    formula: str
    steps: list[str]
    assumptions: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "function": self.function, "sheet_name": self.sheet_name, "summary": self.summary,
            "result": self.result, "inputs": dict(self.inputs), "formula": self.formula,
            "steps": self.steps, "assumptions": self.assumptions, "sources": self.sources,
        }

    def __str__(self) -> str:
        lines = [f"{self.function} = {self.result}", f"  {self.summary}", "Inputs:"]
        lines += [f"  {k} = {v}" for k, v in self.inputs]
        lines += ["Formula:", f"  {self.formula}"]
        if self.steps:
            lines += ["Calculation:"] + [f"  {s}" for s in self.steps]
        if self.assumptions:
            lines += ["Assumptions:"] + [f"  - {a}" for a in self.assumptions]
        if self.sources:
            lines += ["Sources:"] + [f"  - {s}" for s in self.sources]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(f"<tr><td><code>{e(k)}</code></td><td>{e(v)}</td></tr>" for k, v in self.inputs)
        steps = "".join(f"<li><code>{e(s)}</code></li>" for s in self.steps)
        assumptions = "".join(f"<li>{e(a)}</li>" for a in self.assumptions)
        sources = "".join(f"<li>{e(s)}</li>" for s in self.sources)
        return (
            f"<div class='llmcalc-explain tex2jax_ignore mathjax_ignore'><b>{e(self.function)}</b> = <b>{e(self.result)}</b>"
            f"<div>{e(self.summary)}</div>"
            f"<table><tr><th>input</th><th>value</th></tr>{rows}</table>"
            f"<div>Formula: <code>{e(self.formula)}</code></div>"
            + (f"<ol>{steps}</ol>" if steps else "")
            + (f"<div>Assumptions:</div><ul>{assumptions}</ul>" if assumptions else "")
            + (f"<div>Sources:</div><ul>{sources}</ul>" if sources else "")
            + "</div>"
        )
