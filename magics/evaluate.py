"""Evaluating a ``%%llmcost`` cell: one row per combination of the swept values, by the kind's ``evaluate``.

    read the cell (cell.py) → for each combination: kind.evaluate(Row) → Scenario (result.py) → plot
"""
from __future__ import annotations

import itertools

from . import plot as plotting
from .cell import KINDS, parse_cell
from .fields import Entry
from .kind import Row, ScenarioKind
from .result import Scenario


def combinations(entries: dict[str, Entry], x_key: str | None):
    """Index of each swept field's value, for every row; the plotted field varies fastest."""
    swept = [e.name for e in entries.values() if e.swept and e.name != x_key]
    if x_key:
        swept.append(x_key)
    for idx in itertools.product(*(range(len(entries[n].values)) for n in swept)):
        yield dict(zip(swept, idx))


def evaluate_row(kind: ScenarioKind, entries: dict[str, Entry], combo: dict[str, int]) -> dict:
    """One table row: the kind's values, and (under ``_`` keys) what explains them, the row's problem,
    and the swept values it was computed for."""
    row = Row(kind, entries, combo)
    out = kind.evaluate(row)
    why = {k: [v] for k, v in out.items() if getattr(v, "explainable", False)}
    why.update(row.because)
    swept = [e for e in entries.values() if e.swept]
    out.update(_why=why, _problem=row.problem, _combo=combo,
               _input={e.name: e.parsed[combo[e.name]] for e in swept},
               _text={e.name: e.values[combo[e.name]] for e in swept})
    return out


def run_scenario(cell: str, plot: bool = True, kinds=KINDS) -> Scenario:
    """Read and evaluate a scenario cell of one of ``kinds``; returns a :class:`Scenario` (table, plot,
    explanations)."""
    kind, entries = parse_cell(cell, kinds)
    if "plot" in entries:
        plot = plot and bool(entries["plot"].parsed[0])
    x_key = plotting.x_field(kind, entries)
    rows = [evaluate_row(kind, entries, combo) for combo in combinations(entries, x_key)]
    scn = Scenario(kind, entries, rows, x_key)
    if plot and x_key is not None:
        scn.figure = scn.make_figure()
    return scn
