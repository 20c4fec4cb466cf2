"""The one registry of user-facing functions.

Every function a user can call — ``llmcalc.train_days``, ``%llmcost train_days``,
``=LLM_TRAIN_DAYS(…)``, ``GET /api/v1/call/LLM_TRAIN_DAYS``, ``llmcalc train-days`` — is a
:class:`Function` here, declared once with :func:`user_function`: its spreadsheet name, its
arguments in order (:class:`Arg`: name, kind, documented unit, default, help), its result unit,
its formula and sources. The adapters are generated from these objects. Argument kinds live in
:mod:`llmcalc.kinds`, result types in :mod:`llmcalc.results`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import ArgumentError, NonFiniteResultError, UnknownNameError
from .explain import Explanation
from .kinds import MAX_ARRAY, Kind
from .names import normalize, suggest
from .results import Calc, build_explanation, make_result

REQUIRED = object()
REGISTRY: dict[str, "Function"] = {}


class MissingArgumentError(ArgumentError, TypeError):
    """A required argument was not given."""




@dataclass(frozen=True)
class Arg:
    name: str
    kind: Kind
    help: str
    default: Any = REQUIRED

    @property
    def optional(self) -> bool:
        return self.default is not REQUIRED


@dataclass
class Function:
    name: str
    sheet_name: str
    summary: str
    args: tuple[Arg, ...]
    unit: str                       # result unit; "" for counts and text
    result: str                     # "quantity" | "count" | "text" | "number"
    impl: Callable[..., Calc]
    category: str
    formula: str
    assumptions: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    example: tuple = ()
    doc: str = ""

    # -------------------------------------------------------------- calling
    def bind(self, args: tuple, kwargs: dict) -> dict:
        """Parse positional/keyword arguments into validated values (defaults filled in)."""
        specs = self.args
        if len(args) > len(specs):
            raise ArgumentError(specs[-1].name if specs else "?",
                                f"{self.name} takes at most {len(specs)} arguments, got {len(args)}")
        values = {}
        for i, spec in enumerate(specs):
            if i < len(args):
                raw = args[i]
                if spec.name in kwargs:
                    raise ArgumentError(spec.name, "was given twice (by position and by name)")
            else:
                raw = kwargs.pop(spec.name, None)
            if raw is None or (isinstance(raw, str) and raw == "" and spec.optional):
                if not spec.optional:
                    raise MissingArgumentError(spec.name, f"is required ({spec.help})")
                values[spec.name] = spec.default if spec.default is None else spec.kind.parse(spec.default, spec.name)
            else:
                values[spec.name] = spec.kind.parse(raw, spec.name)
        if kwargs:  # whatever is left was not an argument name
            raise ArgumentError(next(iter(kwargs)), f"is not an argument of {self.name}; it takes "
                                f"{', '.join(a.name for a in specs)}")
        return values

    def evaluate(self, *args, **kwargs) -> tuple[Calc, dict]:
        values = self.bind(args, dict(kwargs))
        shape = _check_shapes(values)
        calc = self.impl(**values)
        if shape is not None and np.shape(calc.value) != shape and not isinstance(calc.value, str):
            # a list given for an argument the formula does not depend on still gives one result per cell
            calc.value = np.broadcast_to(calc.value, shape).copy()
        _check_result(calc.value, self)
        return calc, values

    def __call__(self, *args, **kwargs):
        calc, values = self.evaluate(*args, **kwargs)
        return make_result(self, calc, values)

    def sheet_value(self, *args, **kwargs):
        """The plain value a spreadsheet cell shows (number in the function's unit, or text)."""
        calc, _ = self.evaluate(*args, **kwargs)
        v = calc.value
        if isinstance(v, np.ndarray):
            return v.astype(int) if self.result == "count" else v
        if self.result == "count":
            return int(v)
        return v if isinstance(v, str) else float(v)

    def explain(self, *args, **kwargs) -> Explanation:
        calc, values = self.evaluate(*args, **kwargs)
        return build_explanation(self, calc, values)

    # -------------------------------------------------------------- docs
    def signature(self) -> str:
        parts = [a.name if not a.optional else f"[{a.name}]" for a in self.args]
        return f"{self.sheet_name}({', '.join(parts)})"

    def python_signature(self) -> str:
        parts = [a.name if not a.optional else f"{a.name}={a.default!r}" for a in self.args]
        return f"{self.name}({', '.join(parts)})"

    @property
    def result_unit_label(self) -> str:
        return self.unit or ("whole number" if self.result == "count" else self.result)


def _check_shapes(values: dict):
    """Lists/ranges given for several arguments must broadcast (same shape, or one of them 1);
    returns the shape of the result (None when every argument is a single value)."""
    arrays = [(k, v.shape) for k, v in values.items() if isinstance(v, np.ndarray)]
    if not arrays:
        return None
    for i in range(1, len(arrays)):
        try:
            np.broadcast_shapes(*(shape for _, shape in arrays[: i + 1]))
        except ValueError:
            name, shape = arrays[i]
            raise ArgumentError(name, f"is a list/range of shape {shape}; it and '{arrays[0][0]}' (shape "
                                      f"{arrays[0][1]}) do not fit together (give one value, or ranges of the same shape)") from None
    shape = np.broadcast_shapes(*(shape for _, shape in arrays))
    size = math.prod(shape)
    if size > MAX_ARRAY:
        raise ArgumentError(arrays[-1][0], f"the lists/ranges given broadcast to {size:,} results (shape {shape}); "
                                  f"at most {MAX_ARRAY:,} in one call")
    return shape


def _check_result(value, fn: Function):
    if isinstance(value, str):
        return
    arr = np.asarray(value, dtype=float) if not isinstance(value, (int, float)) else None
    bad = (not math.isfinite(value)) if arr is None else (not np.all(np.isfinite(arr)))
    if bad:
        raise NonFiniteResultError(fn.args[0].name if fn.args else "?",
                                   "gives a result that is not a finite number (inputs out of range)")
    if fn.result == "count":
        top = abs(value) if arr is None else (float(np.max(np.abs(arr))) if arr.size else 0.0)
        if top > MAX_COUNT:
            raise NonFiniteResultError(fn.args[0].name if fn.args else "?",
                                       f"gives a count of {top:.3g}, above {MAX_COUNT:,} (2^53, the largest whole "
                                       "number a spreadsheet or float holds exactly); check the inputs")


MAX_COUNT = 2**53  # whole-number results beyond this cannot be exact in a float / int64 cell


def user_function(sheet_name: str, *, unit: str, args: list[Arg], category: str, formula: str,
                  result: str = "quantity", assumptions=(), sources=(), example=()):
    """Register ``impl`` as a user-facing function; returns the :class:`Function` (callable)."""

    def deco(impl):
        if sheet_name != "LLM_" + impl.__name__.upper():
            raise RuntimeError(f"spreadsheet name {sheet_name} must be LLM_ + {impl.__name__.upper()}")
        doc = (impl.__doc__ or "").strip()
        fn = Function(
            name=impl.__name__, sheet_name=sheet_name, summary=doc.splitlines()[0] if doc else "",
            args=tuple(args), unit=unit, result=result, impl=impl, category=category, formula=formula,
            assumptions=tuple(assumptions), sources=tuple(sources), example=tuple(example), doc=doc,
        )
        if fn.name in REGISTRY or sheet_name in _INDEX_BY_SHEET or normalize(fn.name) in _INDEX:
            raise RuntimeError(f"{fn.name}/{sheet_name} registered twice")
        REGISTRY[fn.name] = fn
        _INDEX[normalize(fn.name)] = fn
        _INDEX_BY_SHEET[sheet_name] = fn
        fn.__doc__ = _docstring(fn)
        fn.__signature__ = _signature(fn)
        return fn

    return deco


def _signature(fn: Function):
    import inspect
    return inspect.Signature([
        inspect.Parameter(a.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=a.default if a.optional else inspect.Parameter.empty)
        for a in fn.args])


def _docstring(fn: Function) -> str:
    lines = [fn.doc, "", f"Spreadsheet: ={fn.signature()}", f"Returns: {fn.result_unit_label}",
             f"Formula: {fn.formula}", "", "Arguments:"]
    for a in fn.args:
        d = "" if not a.optional else f" (default {a.default!r})"
        lines.append(f"  {a.name} [{a.kind.describe()}]: {a.help}{d}")
    if fn.sources:
        lines += ["", "Sources:"] + [f"  {s}" for s in fn.sources]
    return "\n".join(lines)


def by_sheet_name(name: str) -> Function:
    """The function with this spreadsheet name (``LLM_TRAIN_DAYS``, case-insensitive); LookupError if none."""
    fn = _INDEX_BY_SHEET.get(str(name).strip().upper())
    if fn is None:
        raise LookupError(name)
    return fn


STYLES = {"python": lambda fn: fn.name, "cli": lambda fn: fn.name.replace("_", "-"),
          "sheet": lambda fn: fn.sheet_name}


def lookup(name: str, style: str = "python") -> Function:
    """Find a function by Python name (``train_days``), CLI name (``train-days``) or sheet name
    (``LLM_TRAIN_DAYS``), case- and punctuation-insensitively.

    An unknown name raises :class:`~llmcalc.errors.UnknownNameError` for the argument ``function``
    whose suggestions are written in the caller's ``style`` (``python``, ``cli`` or ``sheet``).
    """
    if not isinstance(name, str):
        raise ArgumentError("function", f"must be a function name, got {type(name).__name__}")
    key = normalize(name)
    fn = _INDEX.get(key) or _INDEX.get(key[3:] if key.startswith("llm") else key)
    if fn is not None:
        return fn
    show = STYLES[style]
    raise UnknownNameError("function", "function", name if len(name) <= 60 else name[:57] + "...",
                           suggest(name, {k: show(f) for k, f in _INDEX.items()}))


_INDEX: dict[str, Function] = {}         # normalised python name -> function
_INDEX_BY_SHEET: dict[str, Function] = {}
