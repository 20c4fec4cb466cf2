"""What a kind of ``%%llmcost`` scenario is, as data: :class:`ScenarioKind`.

A kind declares its fields, the fields that tell it apart from the other kinds, the fields it
requires, an ``evaluate`` function that computes one table row from one combination of the swept
values (a :class:`Row`) by calling registry functions, the table's columns (:class:`Column`, each
with a note on how to read it), the plot's panels (:class:`Panel`) and the text that states its
assumptions. Reading the cell, expanding the sweeps, rendering and plotting are generic.
``serving.py`` and ``training.py`` each declare one kind; ``cell.KINDS`` lists them (see
docs/magics.md, "Adding a scenario kind").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from llmcalc.display import money
from llmcalc.errors import ArgumentError
from llmcalc.explain import fmt
from llmcalc.registry import REGISTRY

from .fields import COMMON, Entry, ScenarioError, ScenarioField, check_total_price


@dataclass(frozen=True)
class Column:
    """One computed column of the table (the swept fields come first, as ``input`` columns)."""

    key: str
    label: str
    unit: str = ""                 # the pint unit values are shown in; "" for counts, text and checks
    kind: str = "quantity"         # quantity | count | text | check (a yes/no) | input (a swept field)
    money: bool = False            # shown as dollars: $2,243,590, $2.70, $0.0004297
    once: bool = False             # shown once above the table when it is the same in every row
    unit_label: str | None = None  # the unit as the header writes it (default: unit)
    note: str = ""                 # how to read it, shown under the table when the column is there

    @property
    def header_unit(self) -> str:
        if self.money:
            return ""
        return self.unit if self.unit_label is None else self.unit_label

    @property
    def header(self) -> str:
        return self.label + (f" ({self.header_unit})" if self.header_unit else "")


@dataclass(frozen=True)
class Panel:
    """One plot panel: columns drawn against the swept field, drawn only when something varies."""

    title: str
    unit: str                              # y values in this unit ("" for counts)
    ylabel: str
    series: tuple[tuple[str, str], ...]    # (column key, legend label)
    reference: Callable[..., list[tuple[float, str]]] | None = None  # Scenario -> horizontal lines [(y, label)]
    marks: Callable[..., list[tuple[float, str]]] | None = None      # Scenario -> vertical lines [(x, label)]


@dataclass(frozen=True)
class ScenarioKind:
    name: str                                    # what scenario: says (serving, training)
    fields: tuple[ScenarioField, ...]            # its own fields (scenario:, title:, plot: are common)
    told_by: tuple[str, ...]                     # fields that say a cell is of this kind
    required: tuple[str, ...]
    evaluate: Callable[["Row"], dict]            # one row: column key -> llmcalc result (or text, bool)
    columns: tuple[Column, ...]
    title: str = ""                              # the heading when the cell has no title: ("Serving scenario")
    describe: Callable[..., list[tuple[str, str]]] | None = None  # Scenario -> [(what, value)] above the table
    panels: tuple[Panel, ...] = ()
    plot_x: tuple[str, ...] = ()                 # swept fields to plot against, in order of preference
    aliases: tuple[str, ...] = ()                # other words for scenario: (inference for serving)
    checks: tuple[Callable[[dict[str, Entry]], None], ...] = ()  # whole-cell checks after parsing

    def __post_init__(self):
        clash = {c.key for c in self.columns} & {f.name for f in self.all_fields}
        if clash:
            raise RuntimeError(f"scenario kind {self.name}: {sorted(clash)} name both a field and a column")

    @property
    def all_fields(self) -> tuple[ScenarioField, ...]:
        return COMMON + self.fields

    def field(self, name: str) -> ScenarioField | None:
        return next((f for f in self.all_fields if f.name == name), None)

    def check(self, entries: dict[str, Entry]):
        check_total_price(entries)
        for name in self.required:
            if name not in entries:
                raise ScenarioError(f"a {self.name} scenario needs the field '{name}:' ({self.field(name).description})")
        for check in self.checks:
            check(entries)


class Row:
    """One combination of the swept values, as a kind's ``evaluate`` sees it.

    ``text(name)`` is the value as written (what registry functions are called with, so they parse
    it themselves), ``value(name)`` the parsed value; ``call`` calls a registry function and reports
    a rejected value against the field it came from; ``explain_with`` says which results explain a
    column; ``fail`` marks the row (drawn red, marked on the plot).
    """

    def __init__(self, kind: ScenarioKind, entries: dict[str, Entry], combo: dict[str, int]):
        self.kind, self.entries, self.combo = kind, entries, combo
        self.because: dict[str, list] = {}
        self.problem: str | None = None

    def _index(self, entry: Entry) -> int:
        return self.combo[entry.name] if entry.swept else 0

    def text(self, name: str) -> str | None:
        e = self.entries.get(name)
        return None if e is None else e.values[self._index(e)]

    def value(self, name: str, default=None):
        e = self.entries.get(name)
        return default if e is None else e.parsed[self._index(e)]

    def price_per_gpu(self, gpus: int) -> float | None:
        """The price per GPU-hour (a total price divided by the GPUs); None when not given."""
        p = self.value("price")
        return None if p is None else p.per_gpu(gpus)

    def explain_with(self, key: str, *results):
        self.because[key] = list(results)

    def fail(self, problem: str):
        self.problem = self.problem or problem

    def call(self, function: str, *args, blame: dict[str, str] | None = None, **kwargs):
        """``REGISTRY[function](*args, **kwargs)`` (None kwargs left out). ``blame`` names the field(s)
        behind an argument that no field declares, e.g. ``{"context": "prompt/generate"}``."""
        try:
            return REGISTRY[function](*args, **{k: v for k, v in kwargs.items() if v is not None})
        except ArgumentError as exc:
            name = (blame or {}).get(exc.argument) or self._field_of(exc.argument)
            e = self.entries.get(name.split("/")[0])
            where = f"line {e.line}: " if e else ""
            shown = e.written if e and e.written and "/" not in name else name
            raise ScenarioError(f"{where}field '{shown}': {exc.problem}") from None

    def _field_of(self, argument: str) -> str:
        return next((f.name for f in self.kind.all_fields if f.arg and f.arg[1] == argument), argument)


def given_fields(s) -> list[tuple[str, str]]:
    """The default description: each field given (other than title:, plot:, scenario:) as written."""
    return [(s.spec.field(n).label, s.given(n)) for n in s.entries if s.spec.field(n) not in COMMON]


def common_inputs(s, gpus_default: str | None, bare_model: str) -> list[tuple[str, str]]:
    """The model, GPUs and price lines every kind states above its table."""
    e = s.entries
    out = []
    model = e["model"].parsed
    if all(isinstance(m, float) for m in model):
        out.append(("model", f"{s.given('model', listed=True)} parameters ({bare_model})"))
    else:
        out.append(("model", ", ".join(m.name if hasattr(m, "name") else fmt(m, "parameters") for m in model)))
    n = s.given("gpus", listed=True) or gpus_default
    out.append(("GPUs", (f"{n} × " if n else "") + ", ".join(g.name for g in e["gpu"].parsed)))
    per = ", ".join(money(p) for p in sorted({r["price_per_gpu_hour"] for r in s.rows}))
    if "price" in e:
        price = e["price"]
        if any(p.total for p in price.parsed):
            out.append(("price", f"{', '.join(money(p) + '/h' for p in price.parsed)} for all GPUs together "
                                 f"= {per} per GPU-hour"))
        elif "gpu" in price.text.lower():
            out.append(("price", f"{per} per GPU-hour"))
        else:
            out.append(("price", f"{per} per GPU-hour (a bare $/h is per GPU-hour; "
                                 f"write '{price.text} total' for the price of all GPUs together)"))
    else:
        src = "; ".join(f"{g.name} {money(g.price_per_hour)} (priced {g.price_date})"
                        for g in e["gpu"].parsed if g.price_per_hour)
        out.append(("price", f"catalog on-demand price per GPU-hour: {src}"))
    return out
