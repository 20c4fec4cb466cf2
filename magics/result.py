"""The evaluated scenario a ``%%llmcost`` cell returns: :class:`Scenario` (table data, plot, explanations)."""
from __future__ import annotations

import html
from dataclasses import dataclass

from llmcalc.kinds import Rate

from . import plot, render
from .fields import Entry
from .kind import Column, ScenarioKind, given_fields

NOTE_EXPLAIN = "scenario.explain() shows each formula, input and assumption."


@dataclass
class ScenarioExplanation:
    """Every column of one scenario row explained: formula, inputs, calculation, assumptions."""

    title: str
    parts: list  # (column label, [Explanation, ...])

    def __str__(self):
        out = [self.title, "=" * len(self.title)]
        for label, exps in self.parts:
            out.append(f"\n## {label}")
            out += [str(e) for e in exps]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self):
        body = "".join(f"<h4>{html.escape(label)}</h4>" + "".join(e._repr_html_() for e in exps)
                       for label, exps in self.parts)
        return f"<div class='llmcalc-scenario-explain {render.NO_MATH}'><h3>{html.escape(self.title)}</h3>{body}</div>"

    def to_dict(self):
        return {"title": self.title, "columns": {label: [e.to_dict() for e in exps] for label, exps in self.parts}}


class Scenario:
    """The evaluated scenario: ``rows`` (one dict per combination, values are llmcalc results),
    ``columns``, ``figure`` (matplotlib, when a field was swept), ``to_records()``, ``explain()``.

    Displays as an HTML table (with the plot) in Jupyter and as text in a terminal.
    """

    def __init__(self, spec: ScenarioKind, entries: dict[str, Entry], rows: list[dict], x_key: str | None):
        self.spec, self.kind = spec, spec.name
        self.entries, self.rows, self.x_key = entries, rows, x_key
        self.figure = None
        self._png = None
        self.columns = [Column(e.name, self._input_label(e), kind="input") for e in entries.values() if e.swept]
        self.columns += [c for c in spec.columns if any(r.get(c.key) is not None for r in rows)]

    def _input_label(self, e: Entry) -> str:
        if e.name == "price" and any(p.total for p in e.parsed):
            return "$ per hour (total)"
        return self.spec.field(e.name).label

    # ------------------------------------------------------------------ data
    @property
    def title(self) -> str:
        if "title" in self.entries:
            return self.entries["title"].text
        return self.spec.title or f"{self.spec.name.capitalize()} scenario"

    def column(self, key: str) -> list:
        """The values of one column, as numbers in the column's display unit (text stays text)."""
        col = next((c for c in self.columns if c.key == key), None)
        if col is None:
            raise KeyError(f"no column {key!r}; columns: {', '.join(c.key for c in self.columns)}")
        out = []
        for r in self.rows:
            v = r["_input"][key] if col.kind == "input" else r.get(key)
            if hasattr(v, "magnitude"):
                out.append(float(v.to(col.unit).magnitude) if col.unit else float(v.magnitude))
            elif isinstance(v, Rate):
                out.append(v.value)
            elif isinstance(v, bool):
                out.append(v)
            elif isinstance(v, int):
                out.append(int(v))
            elif isinstance(v, float):
                out.append(float(v))
            else:
                out.append(v)
        return out

    def __getitem__(self, key):
        return self.column(key)

    def to_records(self) -> list[dict]:
        """One dict per row: column key → number in the column's display unit (or text)."""
        cols = {c.key: self.column(c.key) for c in self.columns}
        return [{k: v[i] for k, v in cols.items()} for i in range(len(self.rows))]

    def to_dataframe(self):
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(self.to_records())

    def explain(self, row: int = 0) -> ScenarioExplanation:
        """Formula, inputs, calculation and assumptions of every column of one row (default: the first)."""
        r = self.rows[row]
        parts = []
        for c in self.columns:
            exps = [v.explain() for v in r["_why"].get(c.key, []) if getattr(v, "explainable", False)]
            if exps:
                parts.append((c.label, exps))
        where = ", ".join(f"{c.label} = {r['_text'][c.key]}" for c in self.columns if c.kind == "input")
        return ScenarioExplanation(f"{self.title}: row {row + 1}" + (f" ({where})" if where else ""), parts)

    # ------------------------------------------------------------------ description
    def given(self, name: str, listed: bool = False) -> str | None:
        """A field as written, for the description: its value; when swept, its values (``listed``)
        or "swept (see the table)"; None when not given."""
        e = self.entries.get(name)
        if e is None:
            return None
        if not e.swept:
            return e.values[0]
        return ", ".join(e.values) if listed else "swept (see the table)"

    def inputs(self) -> list[tuple[str, str]]:
        """The assumptions stated above the table: (what, value) pairs."""
        return (self.spec.describe or given_fields)(self)

    def notes(self) -> list[str]:
        """How to read the columns shown, stated under the table."""
        return [c.note for c in self.columns if c.note] + [NOTE_EXPLAIN]

    # ------------------------------------------------------------------ display
    def __str__(self):
        return render.text(self)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    def _repr_html_(self):
        return render.to_html(self)

    def png(self) -> str | None:
        """The plot as base64 PNG (None without a sweep)."""
        if self.figure is None:
            return None
        if self._png is None:
            self._png = plot.png(self.figure)
        return self._png

    def plot_series(self) -> list[tuple[str, str, list[tuple[str, list[float], list[float], list[int]]]]]:
        """What the plot draws: (panel title, y unit, [(label, x values, y values, row indices)]) per panel."""
        return [(panel.title, panel.unit, lines) for panel, lines in plot.panels(self)]

    def make_figure(self):
        return plot.figure(self)
