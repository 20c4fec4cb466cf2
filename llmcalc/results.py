"""Result types of user functions: numbers that remember how they were computed.

A quantity result is a pint Quantity (:func:`result_class`), a whole-number result a
:class:`Count` (or :class:`CountArray`); each offers ``.explain()`` and ``.to(unit)`` (which keeps
the explanation). :func:`make_result` builds one from what an implementation returned.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import display, units
from .explain import Explanation
from .kinds import Fraction, GPURef, ModelOrParams, ModelRef, Number, Rate

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

            _unit_chosen = False  # set by .to(): shown in the unit asked for, not the best one for people

            def to(self, *args, **kwargs):
                """The same quantity in another unit (``"hours"``, ``"GiB"``), still explainable, and
                shown in that unit (``2,921,341 s``)."""
                out = self._keep_how(super().to(*args, **kwargs))
                out._unit_chosen = True
                return out

            # For people (llmcalc.display): "33.81 days", "$0.00043 per 1K tokens". The exact value
            # stays in .magnitude / .m; format(q, spec) with a spec is pint's ("{:.3f~P}").
            def __str__(self):
                return display.quantity(self, keep_unit=self._unit_chosen)

            def __repr__(self):
                return f"<Result {self}>"

            def __format__(self, spec):
                return str(self) if not spec else super().__format__(spec)

            def _repr_pretty_(self, p, cycle):
                p.text(str(self))

            def _repr_html_(self):
                return (f"<span class='tex2jax_ignore mathjax_ignore'><b>{html.escape(str(self))}"
                        f"</b></span>{self._details_html()}")

        _RESULT_CLASS = Result
    return _RESULT_CLASS


class Count(Explained, int):
    """A whole-number result (GPU count, batch size) that can ``.explain()`` itself.

    It prints as the int it is (``1155``); people see ``1,155`` in HTML and explanations."""

    def _repr_html_(self):
        return f"<span class='tex2jax_ignore mathjax_ignore'><b>{display.count(int(self))}</b></span>{self._details_html()}"


class CountArray(Explained, np.ndarray):
    """An integer NumPy array result that can ``.explain()`` itself; prints for people (``[49, 12]``)."""

    def __str__(self):
        return display.count(np.asarray(self))

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


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
    # a unit text as pint's parsed container (cached): the Quantity takes it without parsing or type checks
    q = result_class()(v, units.unit(unit)._units if isinstance(unit, str) else unit)
    q._how = (fn, calc, values)
    return q


def show_input(kind, value) -> str:
    """One parsed argument for people (llmcalc.display): ``175B parameters``, ``45%``, ``$2.21/h``,
    ``A100-SXM4-80GB (312 TFLOP/s dense bf16, 80 GiB, 2.039 TB/s)``."""
    if value is None:
        return "(default: from the catalog / GPU profile)"
    if isinstance(value, Rate):
        return display.value(value.value, kind.rate_unit)
    if isinstance(kind, GPURef):
        peak = value.peak.get("bf16") or value.peak.get("fp16")
        compute = f"{display.value(peak, 'FLOP/s')} dense 16-bit" if peak else "no published dense 16-bit peak"
        return (f"{value.name} ({compute}, {display.data_size(value.memory_bytes, binary=True)}, "
                f"{display.value(value.bandwidth, 'B/s')})")
    if isinstance(kind, ModelOrParams) and isinstance(value, float):
        return display.count(value, "parameter")
    if isinstance(kind, ModelRef):
        return (f"{value.name} ({display.count(value.params(), 'parameter')}, {value.layers} layers, "
                f"{value.attention.upper()})")
    if isinstance(kind, Fraction) and isinstance(value, float):
        return display.percent(value)
    if isinstance(kind, Number) and isinstance(value, (int, float, np.ndarray)):
        if kind.integer and not kind.unit:
            return display.count(value)
        return display.value(value, kind.unit)
    return kind.show(value)


def build_explanation(fn: Function, calc: Calc, values: dict) -> Explanation:
    unit = calc.unit if calc.unit is not None else fn.unit
    v = calc.value
    if isinstance(v, str):
        result = v
    elif fn.result == "count":
        result = display.count(v)
    else:
        result = display.value(v, unit)
    inputs = [(a.name, show_input(a.kind, values.get(a.name))) for a in fn.args]
    steps = calc.steps() if calc.steps else []
    return Explanation(
        function=fn.name, sheet_name=fn.sheet_name, summary=fn.summary, result=result, inputs=inputs,
        formula=fn.formula, steps=steps, assumptions=list(fn.assumptions) + list(calc.assumptions),
        sources=list(fn.sources),
    )
