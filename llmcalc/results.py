"""Result types of user functions: numbers that remember how they were computed.

A quantity result is a pint Quantity (:func:`result_class`), a whole-number result a
:class:`Count` (or :class:`CountArray`); each offers ``.explain()`` and ``.to(unit)`` (which keeps
the explanation). :func:`make_result` builds one from what an implementation returned.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import units
from .explain import Explanation, fmt
from .kinds import Rate

if TYPE_CHECKING:
    from .registry import Function


@dataclass
class Calc:
    """What an implementation returns: the value (in the function's unit), a callable giving the
    substituted calculation lines, and per-call assumptions."""

    value: Any
    steps: Callable[[], list[str]] | None = None
    assumptions: list[str] = field(default_factory=list)
    unit: str | None = None  # overrides the function's unit (catalog fields, conversions)
    detail: Any = None       # a text result's underlying object (a layout search: its times, memory, table)



class Explained:
    """What every numeric result offers: ``.explain()``, ``.explainable`` and ``.to(unit)``.

    ``_how`` holds (function, calculation, parsed inputs); the explanation text is only built
    when someone asks for it, so plain calls stay fast.
    """

    _how = None

    @property
    def explainable(self) -> bool:
        """True when this value came from an llmcalc function and can ``.explain()`` itself."""
        return self._how is not None

    def explain(self) -> Explanation:
        if self._how is None:
            raise AttributeError("this value was not returned by an llmcalc function")
        return build_explanation(*self._how)

    def _keep_how(self, out):
        out._how = self._how
        return out

    def _details_html(self) -> str:
        return f"<details><summary>how</summary>{self.explain()._repr_html_()}</details>" if self.explainable else ""


_RESULT_CLASS = None


def result_class():
    """The pint Quantity subclass returned by user functions (adds ``.explain()``; ``.to(unit)``
    keeps the explanation)."""
    global _RESULT_CLASS
    if _RESULT_CLASS is None:
        Q = units.ureg().Quantity

        class Result(Explained, Q):
            """A pint Quantity that remembers how it was computed: ``.explain()``."""

            def to(self, *args, **kwargs):
                """The same quantity in another unit (``"hours"``, ``"GiB"``), still explainable."""
                return self._keep_how(super().to(*args, **kwargs))

            def _repr_html_(self):
                return (f"<span class='tex2jax_ignore mathjax_ignore'><b>{fmt(self.magnitude, format(self.units, '~P'))}"
                        f"</b></span>{self._details_html()}")

        _RESULT_CLASS = Result
    return _RESULT_CLASS


class Count(Explained, int):
    """A whole-number result (GPU count, batch size) that can ``.explain()`` itself."""

    def _repr_html_(self):
        return f"<span class='tex2jax_ignore mathjax_ignore'><b>{int(self):,}</b></span>{self._details_html()}"


class CountArray(Explained, np.ndarray):
    """An integer NumPy array result that can ``.explain()`` itself."""


class TextResult(Explained, str):
    """A text result (what a cell shows) that can ``.explain()`` itself and carries the object it
    describes: ``llmcalc.train_plan(…)`` is the layout text, and ``.seconds``, ``.mfu``, ``.table`` …
    come from the search result behind it (``.detail``)."""

    detail = None

    def __getattr__(self, name):
        detail = self.__dict__.get("detail")
        if detail is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(detail, name)

    def __reduce__(self):
        # pickled (sent to another process, cached) as the plain text a cell shows
        return (str, (str(self),))

    def _repr_html_(self):
        return f"<span class='tex2jax_ignore mathjax_ignore'><b>{self}</b></span>{self._details_html()}"


def make_result(fn: Function, calc: Calc, values: dict):
    v = calc.value
    if (fn.result == "text" or isinstance(v, str)) and calc.detail is not None:
        out = TextResult(v)
        out.detail = calc.detail
        out._how = (fn, calc, values)
        return out
    if fn.result == "text" or isinstance(v, str):
        return v
    if fn.result == "count":
        if isinstance(v, np.ndarray):
            out = v.astype(np.int64).view(CountArray)
        else:
            out = Count(int(v))
        out._how = (fn, calc, values)
        return out
    unit = calc.unit if calc.unit is not None else fn.unit
    q = result_class()(v, (units.unit(unit) if isinstance(unit, str) else unit) if unit else "")
    q._how = (fn, calc, values)
    return q


def build_explanation(fn: Function, calc: Calc, values: dict) -> Explanation:
    unit = calc.unit if calc.unit is not None else fn.unit
    v = calc.value
    result = v if isinstance(v, str) else fmt(v, unit if fn.result != "count" else "")
    inputs = []
    for a in fn.args:
        val = values.get(a.name)
        if val is None:
            shown = "(default: from the catalog / GPU profile)"
        elif isinstance(val, Rate):
            shown = fmt(val.value, a.kind.rate_unit)
        else:
            shown = a.kind.show(val)
        inputs.append((a.name, shown))
    steps = calc.steps() if calc.steps else []
    return Explanation(
        function=fn.name, sheet_name=fn.sheet_name, summary=fn.summary, result=result, inputs=inputs,
        formula=fn.formula, steps=steps, assumptions=list(fn.assumptions) + list(calc.assumptions),
        sources=list(fn.sources),
    )
