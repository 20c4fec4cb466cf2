"""The one registry of user-facing functions.

Every function a user can call — ``llmcalc.train_days``, ``%llmcost train_days``,
``=LLM_TRAIN_DAYS(…)``, ``GET /api/v1/call/LLM_TRAIN_DAYS``, ``llmcalc train-days`` — is a
:class:`Function` here, declared once with :func:`user_function`: its spreadsheet name, its
arguments in order (:class:`Arg`: name, kind, documented unit, default, help), its result unit,
its formula and sources. The adapters are generated from these objects. Argument kinds live in
:mod:`llmcalc.kinds`, result types in :mod:`llmcalc.results`. (About 400 lines: the declaration
types, their registration checks and the name look-up are one concern, kept together.)
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field, make_dataclass, replace
from typing import Any, Callable

import numpy as np

from .errors import ArgumentError, NonFiniteResultError, UnknownNameError
from . import units
from .explain import Explanation, fmt
from .kinds import MAX_ARRAY, Kind
from .names import normalize, suggest
from .results import Calc, build_explanation, make_result
from .sources import cite

REQUIRED = object()
REGISTRY: dict[str, "Function"] = {}


class MissingArgumentError(ArgumentError, TypeError):
    """A required argument was not given."""




@dataclass(frozen=True)
class Arg:
    """One argument of user functions, described once: name, kind (parsing, unit), help, default.

    Shared arguments are declared once in :mod:`llmcalc.api.args` and reused; ``arg.but(help=…)``
    gives a variant with another help text or default where a function needs one.
    """

    name: str
    kind: Kind
    help: str
    default: Any = REQUIRED

    @property
    def optional(self) -> bool:
        return self.default is not REQUIRED

    def but(self, **changes) -> "Arg":
        return replace(self, **changes)


@dataclass(frozen=True)
class Group:
    """Optional arguments that several functions share and hand on together (the serving settings:
    GPUs, dtype, KV dtype, utilisations, profile). The implementation receives them as ONE record
    named ``name`` with an attribute per argument; in a function's ``args`` the group stands for
    its members not listed there explicitly. Adding an argument to a group adds it, at the end,
    to every function that uses the group."""

    name: str
    args: tuple[Arg, ...]

    def __post_init__(self):
        fields = [(a.name, Any, field(default=a.default)) for a in self.args]
        object.__setattr__(self, "record", make_dataclass(f"{self.name.title()}Settings", fields, frozen=True))
        object.__setattr__(self, "names", tuple(a.name for a in self.args))  # the record's fields, in order

    def defaults(self, **changes):
        """The record with every default (and ``changes``), as it reaches an implementation, with values
        parsed by their kinds: for calling the layers below the registry directly."""
        values = {a.name: (changes[a.name] if a.name in changes else a.default) for a in self.args}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{self.name} has no setting {', '.join(sorted(unknown))}")
        return self.record(**{a.name: None if values[a.name] is None else a.kind.parse(values[a.name], a.name)
                              for a in self.args})


@dataclass(frozen=True)
class Example:
    """A call and the value it must give: documentation, and a test run through every front-end.

    ``expected`` is a number (compared with relative tolerance ``rel``) or text; ``note`` says
    where the expected value comes from (an article's figure, a measurement, a hand calculation).
    """

    args: tuple
    expected: Any
    kwargs: dict = field(default_factory=dict)
    rel: float = 1e-3
    note: str = ""


@dataclass(repr=False)
class Function:
    """A user-facing function: call it (``fn(…)``: a result that explains itself), ``fn.sheet_value(…)``
    (the plain cell value) or ``fn.explain(…)``; everything else is its declaration."""

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
    examples: tuple[Example, ...] = ()
    doc: str = ""
    groups: tuple[Group, ...] = ()
    _defaults: dict = field(default_factory=dict, repr=False, compare=False)  # parsed defaults, by argument

    # -------------------------------------------------------------- calling
    def bind(self, args: tuple, kwargs: dict) -> dict:
        """Parse positional/keyword arguments into validated values (defaults filled in)."""
        specs = self.args
        n = len(args)
        if n > len(specs):
            raise ArgumentError(specs[-1].name if specs else "?",
                                f"{self.name} takes at most {len(specs)} arguments, got {n}")
        values = {}
        defaults = self._defaults
        for i, spec in enumerate(specs):
            name = spec.name
            if i < n:
                raw = args[i]
                if name in kwargs:
                    raise ArgumentError(name, "was given twice (by position and by name)")
            else:
                raw = kwargs.pop(name, None) if kwargs else None
            if raw is None or (isinstance(raw, str) and raw == "" and spec.optional):
                if name not in defaults:  # a default is a constant: parse it once
                    if not spec.optional:
                        raise MissingArgumentError(name, f"is required ({spec.help})")
                    defaults[name] = None if spec.default is None else spec.kind.parse(spec.default, name)
                values[name] = defaults[name]
            else:
                values[name] = spec.kind.parse(raw, name)
        if kwargs:  # whatever is left was not an argument name
            raise ArgumentError(next(iter(kwargs)), f"is not an argument of {self.name}; it takes "
                                f"{', '.join(a.name for a in specs)}")
        return values

    def impl_kwargs(self, values: dict) -> dict:
        """The implementation's keyword arguments: plain arguments by name, each group as one record."""
        if not self.groups:
            return values
        kwargs = dict(values)
        for g in self.groups:
            kwargs[g.name] = g.record(*map(kwargs.pop, g.names))
        return kwargs

    def evaluate(self, *args, **kwargs) -> tuple[Calc, dict]:
        values = self.bind(args, dict(kwargs))
        shape = _check_shapes(values)
        calc = self.impl(**self.impl_kwargs(values))
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

    def __repr__(self):
        return f"<llmcalc function {self.python_signature()}>"

    def positional(self, example: Example) -> list:
        """An example's arguments in spreadsheet order (None where a cell is left empty for its default)."""
        values = list(example.args) + [example.kwargs.get(a.name) for a in self.args[len(example.args):]]
        while values and values[-1] is None:
            values.pop()
        return values

    @property
    def result_unit_label(self) -> str:
        return self.unit or ("whole number" if self.result == "count" else self.result)


def _check_shapes(values: dict):
    """Lists/ranges given for several arguments must broadcast (same shape, or one of them 1);
    returns the shape of the result (None when every argument is a single value)."""
    arrays = []
    for k, v in values.items():   # (a loop: most calls have no array, and a comprehension costs its own frame)
        if isinstance(v, np.ndarray):
            arrays.append((k, v.shape))
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


def user_function(sheet_name: str, *, unit: str, args: list, category: str, formula: str,
                  result: str = "quantity", assumptions=(), sources=(), examples=()):
    """Register ``impl`` as a user-facing function; returns the :class:`Function` (callable).

    ``args``: :class:`Arg` and :class:`Group` entries in the order users pass them. ``sources``:
    keys of :mod:`llmcalc.sources`, or ``(key, section)`` pairs. ``examples``: :class:`Example`
    calls with their expected values. The implementation takes the arguments by name (a group as
    one record) and declares no defaults of its own: defaults live in the :class:`Arg` only.
    """

    def deco(impl):
        if sheet_name != "LLM_" + impl.__name__.upper():
            raise RuntimeError(f"spreadsheet name {sheet_name} must be LLM_ + {impl.__name__.upper()}")
        flat, groups = _expand(args)
        _check_impl(impl, [a.name for a in flat if not any(a in g.args for g in groups)] + [g.name for g in groups])
        doc = (impl.__doc__ or "").strip()
        return register(Function(
            name=impl.__name__, sheet_name=sheet_name, summary=doc.splitlines()[0] if doc else "",
            args=tuple(flat), unit=unit, result=result, impl=impl, category=category, formula=formula,
            assumptions=tuple(assumptions), sources=tuple(_cite(s) for s in sources), examples=tuple(examples),
            doc=doc, groups=tuple(groups)))

    return deco


def variant(of: Function, sheet_name: str, *, summary: str, unit: str, transform=None, formula: str | None = None,
            sources=None, examples=()) -> Function:
    """Register a function that is ``of`` with its result in another unit (``LLM_PREFILL_MS`` of
    ``LLM_PREFILL_TIME``), or transformed by ``transform(value, values) -> (value, line)`` (tokens per
    second from a step time): same arguments, defaults, assumptions and calculation."""
    def impl(**kwargs):
        calc = of.impl(**kwargs)
        old = calc.value
        if transform is None:
            new = old * _unit_factor(of.unit, unit)
            line = lambda: f"{fmt(old, of.unit)} = {fmt(new, unit)}"  # noqa: E731  (formatted only when asked)
        else:
            new, line = transform(old, _flat_values(of, kwargs))
        steps = calc.steps
        return Calc(new, (lambda: (steps() if steps else []) + [line()]), calc.assumptions, unit=None)

    name = sheet_name[4:].lower()
    impl.__name__ = name
    return register(Function(
        name=name, sheet_name=sheet_name, summary=summary, args=of.args, unit=unit, result=of.result, impl=impl,
        category=of.category, formula=formula or of.formula, assumptions=of.assumptions,
        sources=of.sources if sources is None else tuple(_cite(s) for s in sources), examples=tuple(examples),
        doc=summary, groups=of.groups))


@functools.lru_cache(maxsize=None)
def _unit_factor(from_unit: str, to_unit: str) -> float:
    """How many ``to_unit`` one ``from_unit`` is (a variant's unit change: computed once)."""
    return float(units.ureg().Quantity(1.0, units.unit(from_unit)).to(units.unit(to_unit)).magnitude)


def register(fn: Function) -> Function:
    if fn.name in REGISTRY or fn.sheet_name in _INDEX_BY_SHEET or normalize(fn.name) in _INDEX:
        raise RuntimeError(f"{fn.name}/{fn.sheet_name} registered twice")
    REGISTRY[fn.name] = fn
    _INDEX[normalize(fn.name)] = fn
    _INDEX_BY_SHEET[fn.sheet_name] = fn
    fn.__doc__ = _docstring(fn)
    fn.__signature__ = _signature(fn)
    fn.__name__ = fn.name
    return fn


def _expand(args) -> tuple[list[Arg], list[Group]]:
    """Flatten ``args``: a group stands for its members not listed explicitly elsewhere."""
    explicit = {a.name for a in args if isinstance(a, Arg)}
    flat, groups = [], []
    for a in args:
        if isinstance(a, Group):
            groups.append(a)
            flat += [m for m in a.args if m.name not in explicit]
        else:
            flat.append(a)
    names = [a.name for a in flat]
    if len(set(names)) != len(names):
        raise RuntimeError(f"argument declared twice in {names}")
    return flat, groups


def _check_impl(impl, expected: list[str]):
    """Defaults are declared once, in the Args: the implementation takes exactly these names, no defaults."""
    params = inspect.signature(impl).parameters
    if list(params) != expected:
        raise RuntimeError(f"{impl.__name__}{inspect.signature(impl)} must take ({', '.join(expected)})")
    with_default = [p for p in params.values() if p.default is not inspect.Parameter.empty]
    if with_default:
        raise RuntimeError(f"{impl.__name__}: declare the default of {with_default[0].name} in its Arg, not in the signature")


def _flat_values(fn: Function, kwargs: dict) -> dict:
    """Implementation keyword arguments back to one value per user argument (groups opened)."""
    if not fn.groups:
        return kwargs
    out = dict(kwargs)
    for g in fn.groups:
        record = out.pop(g.name)
        out.update({a.name: getattr(record, a.name) for a in g.args})
    return out


def _cite(source) -> str:
    return cite(*source) if isinstance(source, tuple) else cite(source)


def _signature(fn: Function):
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
    if fn.examples:
        lines += ["", "Examples:"] + [f"  {fn.name}{_call_text(e)} → {e.expected!r}" + (f"  ({e.note})" if e.note else "")
                                      for e in fn.examples]
    if fn.sources:
        lines += ["", "Sources:"] + [f"  {s}" for s in fn.sources]
    return "\n".join(lines)


def _call_text(e: Example) -> str:
    parts = [repr(v) for v in e.args] + [f"{k}={v!r}" for k, v in e.kwargs.items()]
    return f"({', '.join(parts)})"


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
