"""Scenario fields: each ``key:`` a ``%%llmcost`` cell accepts is declared once, as a :class:`ScenarioField`.

A field that is really an argument of a registry function names it (``arg=("prefill_time", "gpu")``):
its value is parsed and checked by that argument's kind, and its help is that argument's help, so a
scenario reads a value exactly as the function does. The fields every scenario kind shares (title,
plot, GPU, GPU count, price) are declared here; each kind declares its own in its module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from llmcalc.errors import LLMCalcError
from llmcalc.kinds import Boolean, Kind
from llmcalc.registry import REGISTRY


class ScenarioError(LLMCalcError):
    """A scenario cell that cannot be read; the message is one line naming the line and field."""


def registry_arg(function: str, argument: str):
    """The :class:`~llmcalc.registry.Arg` ``argument`` of the registry function ``function``."""
    arg = next((a for a in REGISTRY[function].args if a.name == argument), None)
    if arg is None:
        raise LookupError(f"scenario field: registry function {function} has no argument {argument!r}")
    return arg


@dataclass(frozen=True)
class ScenarioField:
    """One ``key:`` of a scenario cell.

    ``arg`` — (registry function, argument) whose kind parses the value and whose help and default
    describe it; ``kind`` — the parser when no registry argument fits (or one that wraps it); ``label`` — the column header when swept
    and the plot's axis; ``sweep`` — may hold a list or a range; ``split`` — reads another field
    written inside this one (``gpu: 2 x A100`` also gives ``gpus: 2``): text → (own text, {field: text}).
    """

    name: str
    label: str
    arg: tuple[str, str] | None = None
    kind: Kind | None = None
    help: str = ""
    aliases: tuple[str, ...] = ()
    sweep: bool = True
    split: Callable[[str], tuple[str, dict[str, str]]] | None = None

    def _arg(self):
        return registry_arg(*self.arg)

    @property
    def parser(self) -> Kind | None:
        return self.kind if self.kind is not None or self.arg is None else self._arg().kind

    @property
    def description(self) -> str:
        """What to write: the field's own help, else the registry argument's."""
        return self.help or (self._arg().help if self.arg else "")

    @property
    def default(self):
        """The registry argument's default (None when there is none)."""
        arg = self._arg() if self.arg else None
        return arg.default if arg is not None and arg.optional else None

    @property
    def unit(self) -> str:
        return self.parser.describe() if self.parser is not None else "text"

    def parse(self, text: str):
        return self.parser.parse(text, self.name) if self.parser is not None else text


@dataclass
class Entry:
    """A field as written in one cell: its line, its text, and its values (several when swept)."""

    name: str
    line: int
    text: str
    values: list = field(default_factory=list)     # the texts of the values (one unless swept)
    parsed: list = field(default_factory=list)     # the parsed values, same order
    written: str = ""                              # the key written, where not the name (days: for deadline)

    @property
    def swept(self) -> bool:
        return len(self.values) > 1


class Price(float):
    """USD per hour as written: per GPU-hour, or for all the GPUs together (``total``)."""

    total: bool = False

    def __new__(cls, value: float, total: bool = False):
        out = super().__new__(cls, value)
        out.total = total
        return out

    def per_gpu(self, gpus: int) -> float:
        return float(self) / gpus if self.total else float(self)


_TOTAL = re.compile(r"^(.*?)\s*(?:in\s+)?(?:total|for all(?: gpus)?|all gpus)\s*$", re.I)
_GPU_COUNT = re.compile(r"^\s*(?P<n>\d[\d_]*(?:\s*,\s*\d[\d_]*)*)\s*(?:x|×|\*)\s*(?P<name>\S.*)$", re.I)


def _split_gpu_count(text: str) -> tuple[str, dict[str, str]]:
    """``2 x A100-80GB`` → ``A100-80GB`` and ``gpus: 2``."""
    m = _GPU_COUNT.match(text)
    return (m["name"], {"gpus": m["n"]}) if m else (text, {})


class _PriceKind(Kind):
    """The registry's price (USD per GPU-hour); ``… total`` / ``… for all GPUs`` is the price of all GPUs."""

    def __init__(self, per_gpu_hour: Kind):
        self.per_gpu_hour = per_gpu_hour

    def parse(self, value: str, name: str) -> Price:
        m = _TOTAL.match(value)
        return Price(self.per_gpu_hour.parse(m.group(1) if m else value, name), total=bool(m))

    def describe(self) -> str:
        return self.per_gpu_hour.describe()


TITLE = ScenarioField("title", "title", help="a heading for the table", aliases=("name",), sweep=False)
SCENARIO = ScenarioField("scenario", "scenario", help="the scenario kind, when the fields do not tell",
                         aliases=("kind", "type"), sweep=False)
PLOT = ScenarioField("plot", "plot", kind=Boolean(), help="yes/no: draw the sweep plot", sweep=False)
GPU = ScenarioField("gpu", "GPU", arg=("prefill_time", "gpu"), aliases=("hardware", "accelerator"),
                    help="GPU name, optionally with a count: 2 x A100-80GB", split=_split_gpu_count)
GPUS = ScenarioField("gpus", "GPUs", arg=("train_days", "gpus"), aliases=("gpu_count", "n_gpus", "num_gpus"),
                     help="number of GPUs (instead of N x in gpu:)")
PRICE = ScenarioField(
    "price", "$ per GPU-hour", arg=("train_cost", "price"), kind=_PriceKind(registry_arg("train_cost", "price").kind),
    aliases=("price_per_gpu_hour",),
    help="USD per GPU-hour ($2.21/GPU-h; a bare $/h is per GPU-hour); \"$4.42/h total\" is divided by the GPUs")

COMMON = (SCENARIO, TITLE, PLOT)  # fields of every scenario kind


def check_total_price(entries: dict[str, Entry]):
    """A price for all GPUs together is divided by the GPU count, which must be given."""
    price = entries.get("price")
    if price and any(p.total for p in price.parsed) and "gpus" not in entries:
        raise ScenarioError(f"line {price.line}: field 'price': a total price needs the GPU count "
                            "(gpu: 2 x A100 or gpus: 2)")
