"""Hosted-API token prices (``llmcalc/data/api_prices.csv``): dated, each with its page and how sure it is.

A request of p prompt and o output tokens costs p·c_in/10⁶ + o·c_out/10⁶ dollars (prompt caching and
batch discounts not applied). Names match like every catalog name (case and punctuation ignored,
aliases accepted); an unknown name is an :class:`~llmcalc.errors.UnknownNameError` with suggestions.
"""
from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from ..errors import ArgumentError, UnknownNameError
from ..names import normalize, suggest


@dataclass(frozen=True)
class APIPrice:
    name: str
    provider: str
    model: str
    open_weights: bool
    input: float           # USD per million prompt tokens
    output: float          # USD per million output tokens
    date: str
    status: str
    source: str
    verification: str
    notes: str

    def cost(self, prompt_tokens, output_tokens):
        """USD for ``prompt_tokens`` in and ``output_tokens`` out."""
        return (prompt_tokens * self.input + output_tokens * self.output) / 1e6

    def citation(self) -> str:
        return (f"{self.provider} {self.model}: ${self.input:g} / ${self.output:g} per million input / output tokens, "
                f"{self.date} ({self.status}); {self.source}; {self.verification}" + (f"; {self.notes}" if self.notes else ""))


@functools.lru_cache(maxsize=1)
def _catalog() -> tuple[dict, dict]:
    text = resources.files("llmcalc.data").joinpath("api_prices.csv").read_text(encoding="utf-8")
    by_key, shown = {}, {}
    for r in csv.DictReader(text.splitlines()):
        p = APIPrice(r["api_model"], r["provider"], r["model"], r["open_weights"] == "yes", float(r["usd_per_1m_input"]),
                     float(r["usd_per_1m_output"]), r["price_date"], r["status"], r["source"], r["verification"], r["notes"])
        for key in [r["api_model"], *filter(None, r["aliases"].split(";"))]:
            by_key[normalize(key)] = p
            shown[normalize(key)] = r["api_model"]
    return by_key, shown


def api_price(name, argument: str = "api_model") -> APIPrice:
    """The price entry for ``name`` (e.g. ``"gpt-4o-mini"``, ``"gpt-3.5-turbo-2023"``, ``"deepseek-chat"``)."""
    if isinstance(name, APIPrice):
        return name
    if not isinstance(name, str) or not name.strip():
        raise ArgumentError(argument, "must be the name of a hosted API model (see llmcalc/data/api_prices.csv)")
    by_key, shown = _catalog()
    p = by_key.get(normalize(name))
    if p is None:
        raise UnknownNameError(argument, "API model", name[:60], suggest(name, shown))
    return p


def api_models() -> list[str]:
    by_key, shown = _catalog()
    return sorted({p.name for p in by_key.values()})
