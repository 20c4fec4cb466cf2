"""A scenario as a text table (terminal) and an HTML table (Jupyter), and how its numbers read.

Columns marked ``once`` whose value is the same in every row (the GPUs a deadline needs, the cost
of a training run swept over the GPU count) are shown once above the table instead of per row.
The exact values stay on the :class:`~magics.result.Scenario` (``column()``, ``to_records()``).
"""
from __future__ import annotations

import html

from llmcalc.display import money, number, value
from llmcalc.kinds import Rate

# "$0.066 … $0.0083" in HTML would be typeset as LaTeX by Jupyter's MathJax (v2 and v3 class names).
NO_MATH = "tex2jax_ignore mathjax_ignore"


def show(value, column=None) -> str:
    """One value as a table cell, in the column's unit (without the unit, which the header states)."""
    if value is None:
        return "–"
    if isinstance(value, Rate):
        return number(value.value)
    if hasattr(value, "name") and not isinstance(value, str):  # a GPU or Model
        return value.name
    if hasattr(value, "magnitude"):
        q = value.to(column.unit) if column is not None and column.unit else value
        x = float(q.magnitude)
        return money(x) if column is not None and column.money else number(x)
    if isinstance(value, bool):
        if column is not None and column.kind == "check":
            return "✓ yes" if value else "✗ no"
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    return str(value)


def _cell(row, column) -> str:
    return row["_text"][column.key] if column.kind == "input" else show(row.get(column.key), column)


def _once(row, column) -> str:
    """A value shown once above the table, with its unit, as people read it (``4.2 × 10²³ FLOP``)."""
    v = row.get(column.key)
    if column.kind != "input" and not column.money and column.unit and hasattr(v, "magnitude"):
        return value(float(v.to(column.unit).magnitude), column.unit)
    return f"{_cell(row, column)} {column.header_unit}".strip()


def layout(scn):
    """``(once, columns)``: the (label, value text) pairs shown above the table, and the table's columns."""
    once, table = [], []
    for c in scn.columns:
        shown = {_cell(r, c) for r in scn.rows}
        if c.once and len(scn.rows) > 1 and len(shown) == 1:
            once.append((c.label, _once(scn.rows[0], c)))
        else:
            table.append(c)
    return once, table


def text(scn) -> str:
    once, columns = layout(scn)
    header = [c.header for c in columns]
    body = [[_cell(r, c) for c in columns] for r in scn.rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    out = [scn.title]
    out += [f"  {k}: {v}" for k, v in scn.inputs()]
    if once:
        out += ["", "Same in every row:"] + [f"  {k}: {v}" for k, v in once]
    out.append("")
    out.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.rjust(w) for c, w in zip(b, widths)) for b in body]
    out.append("")
    out += [f"* {n}" for n in scn.notes()]
    if scn.figure is not None:
        out.append("* Plot: the .figure of this Scenario (keep it with %%llmcost -o NAME; NAME.figure.savefig('plot.png')).")
    return "\n".join(out)


def to_html(scn) -> str:
    e = html.escape
    once, columns = layout(scn)
    inputs = "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in scn.inputs())
    same = ("<div>Same in every row:</div><ul>" + "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in once)
            + "</ul>") if once else ""
    th = "".join(f"<th>{e(c.header)}</th>" for c in columns)
    trs = []
    for r in scn.rows:
        style = " style='color:#b00'" if r.get("_problem") else ""
        trs.append(f"<tr{style}>" + "".join(f"<td style='text-align:right'>{e(_cell(r, c))}</td>" for c in columns)
                   + "</tr>")
    notes = "".join(f"<li>{e(n)}</li>" for n in scn.notes())
    png = scn.png()
    img = f"<div><img alt='{e(scn.title)} plot' src='data:image/png;base64,{png}'/></div>" if png else ""
    return (f"<div class='llmcalc-scenario {NO_MATH}'><h4>{e(scn.title)}</h4><ul>{inputs}</ul>{same}"
            f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(trs)}</tbody></table>"
            f"<ul style='font-size:smaller'>{notes}</ul>{img}</div>")
