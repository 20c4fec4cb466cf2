"""The sweep plot under a scenario table: the kind's panels against the swept field (matplotlib).

A panel is drawn only when one of its columns varies along the swept field; other swept fields
become separate lines. Rows the kind marked (does not fit, misses the deadline) are crossed out.
"""
from __future__ import annotations

import base64
import io

from llmcalc.explain import fmt
from llmcalc.kinds import Rate

MAX_PANELS = 2


def numeric(v) -> float | None:
    """A swept value as a number on the x axis (None for names and yes/no)."""
    if isinstance(v, Rate):
        return v.value
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def x_field(kind, entries) -> str | None:
    """The swept field to plot against: the kind's preference among the numeric sweeps, else the first."""
    swept = [e.name for e in entries.values() if e.swept and all(numeric(p) is not None for p in e.parsed)]
    return next((n for n in kind.plot_x if n in swept), swept[0] if swept else None)


def panels(scn) -> list[tuple]:
    """``(Panel, [(label, xs, ys, row indices)])`` for each panel with something that varies."""
    if scn.x_key is None:
        return []
    rows = scn.rows
    others = [e.name for e in scn.entries.values() if e.swept and e.name != scn.x_key]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(tuple(r["_combo"].get(n) for n in others), []).append(i)
    out = []
    for panel in scn.spec.panels:
        lines = []
        for key, label in panel.series:
            if not any(r.get(key) is not None for r in rows):
                continue
            for gkey, idx in groups.items():
                xs = [numeric(rows[i]["_input"][scn.x_key]) for i in idx]
                ys = [float(rows[i][key].to(panel.unit).magnitude) if panel.unit else float(rows[i][key]) for i in idx]
                tag = ", ".join(f"{scn.spec.field(n).label} {scn.entries[n].values[v]}" for n, v in zip(others, gkey))
                lines.append((label + (f" ({tag})" if tag else ""), xs, ys, idx))
        if any(len(set(ys)) > 1 for _, _, ys, _ in lines):  # something varies along x
            out.append((panel, lines))
    return out[:MAX_PANELS]


def tick(x: float) -> str:
    """Axis label of a swept value: ``20B`` for 2e10 parameters, ``1,024`` for GPUs."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return fmt(x)


def figure(scn):
    """The matplotlib Figure of the scenario's sweep (None without a numeric sweep or matplotlib)."""
    drawn = panels(scn)
    if not drawn:
        return None
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is an optional dependency
        return None
    fig = Figure(figsize=(5.2 * len(drawn), 3.6), layout="constrained")
    xlabel = scn.spec.field(scn.x_key).label
    if any(isinstance(p, Rate) for p in scn.entries[scn.x_key].parsed):
        xlabel += f" ({scn.spec.field(scn.x_key).parser.rate_unit})"
    for k, (panel, lines) in enumerate(drawn):
        ax = fig.add_subplot(1, len(drawn), k + 1)
        marked = set()
        for label, xs, ys, idx in lines:
            ax.plot(xs, ys, marker="o", label=label)
            for problem in dict.fromkeys(scn.rows[i]["_problem"] for i in idx if scn.rows[i]["_problem"]):
                bad = [(x, y) for x, y, i in zip(xs, ys, idx) if scn.rows[i]["_problem"] == problem]
                ax.plot(*zip(*bad), "x", color="#b00", markersize=10, label=None if problem in marked else problem)
                marked.add(problem)
        for y, label in (panel.reference(scn) if panel.reference else []):
            ax.axhline(y, color="#555", linestyle="--", linewidth=1, label=label)
            marked.add(label)
        for x, label in (panel.marks(scn) if panel.marks else []):
            ax.axvline(x, color="#070", linestyle=":", linewidth=1.2, label=label)
            marked.add(label)
        xs_all = [x for _, xs, _, _ in lines for x in xs]
        ys_all = [y for _, _, ys, _ in lines for y in ys if y > 0]
        if min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 8:
            ax.set_xscale("log", base=2)
        ticks = sorted(set(xs_all))
        if len(ticks) <= 10:  # label the swept values themselves, not powers of two
            ax.set_xticks(ticks, [tick(t) for t in ticks])
            ax.minorticks_off()
        if ys_all and max(ys_all) / min(ys_all) >= 20:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title)
        ax.grid(True, alpha=0.3)
        if len(lines) > 1 or marked:
            ax.legend(fontsize="small")
    fig.suptitle(scn.title)
    return fig


def png(fig) -> str:
    """A figure as base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")
