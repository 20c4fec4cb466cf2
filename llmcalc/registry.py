"""The one registry of user-facing functions.

Every function a user can call — ``llmcalc.train_days``, ``%llmcost train_days``,
``=LLM_TRAIN_DAYS(…)``, ``GET /api/v1/call/LLM_TRAIN_DAYS``, ``llmcalc train-days`` — is a
:class:`Function` here, declared once with :func:`user_function`: its spreadsheet name, its
arguments in order (name, kind, documented unit, default, help), its result unit, its formula and
sources. The adapters are generated from these objects.

Argument kinds parse and validate: a plain number is read in the documented unit; a string or
pint Quantity may carry units (``"80 GiB"``, ``"$2.21/h"``, ``"175B"``); lists and NumPy arrays
broadcast. Every error is an :class:`ArgumentError` that names the argument.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import units
from .errors import ArgumentError, NonFiniteResultError
from .explain import Explanation, fmt

REQUIRED = object()
REGISTRY: dict[str, "Function"] = {}
MAX_ABS = 1e30  # beyond any physical input here; larger values are typos or attacks
MAX_ARRAY = 10_000_000


class MissingArgumentError(ArgumentError, TypeError):
    """A required argument was not given."""


# ------------------------------------------------------------------------------------------
# Argument kinds


class Kind:
    """How one argument is parsed. ``sheet_type`` is the Office.js type (number/string/boolean/any)."""

    sheet_type = "number"
    unit = ""
    vector = False
    reads_files = False  # True where a value names a file to open (servers refuse such arguments)

    def parse(self, value, name: str):  # pragma: no cover - interface
        raise NotImplementedError

    def show(self, value) -> str:
        return fmt(value, self.unit)

    def describe(self) -> str:
        return self.unit


def short(value, limit: int = 40) -> str:
    """``repr`` of a user value, cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_array_like(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _to_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        # A range/list may hold strings with units: parse them one by one (bounded size).
        flat = np.asarray(value, dtype=object)
        if flat.size > MAX_ARRAY:
            raise ArgumentError(name, f"has {flat.size} values; at most {MAX_ARRAY}") from None
        raise _NeedsElementwise(flat) from None
    if arr.size > MAX_ARRAY:
        raise ArgumentError(name, f"has {arr.size} values; at most {MAX_ARRAY}")
    if arr.size == 0:
        raise ArgumentError(name, "is an empty list")
    return arr


class _NeedsElementwise(Exception):
    def __init__(self, values):
        self.values = values


class Number(Kind):
    """A real number in ``unit``: plain numbers, unit strings, pint Quantities, lists/arrays.

    ``count=True`` accepts K/M/B/T suffixes (``"175B"``) and a unit-less number where the unit is
    a count (token, parameter). ``integer=True`` requires whole numbers. ``minimum``/``strict``
    bound the value (default: > 0).
    """

    def __init__(self, unit: str = "", *, count: bool = False, integer: bool = False, minimum: float = 0.0,
                 strict: bool = True, maximum: float = MAX_ABS, vector: bool = True, label: str | None = None):
        self.unit, self.count, self.integer = unit, count, integer
        self.minimum, self.strict, self.maximum, self.vector = minimum, strict, maximum, vector
        self.label = label

    def describe(self) -> str:
        return self.label or self.unit

    def _check(self, x: float, name: str):
        if not math.isfinite(x):
            raise ArgumentError(name, f"must be a finite number, got {x}")
        if x < self.minimum or (self.strict and x == self.minimum):
            op = ">" if self.strict else "≥"
            raise ArgumentError(name, f"must be {op} {fmt(self.minimum)}, got {fmt(x)}")
        if x > self.maximum:
            raise ArgumentError(name, f"must be ≤ {fmt(self.maximum)}, got {fmt(x)}")
        if self.integer and x != int(x):
            raise ArgumentError(name, f"must be a whole number, got {fmt(x)}")
        return int(x) if self.integer else x

    def _scalar(self, value, name: str):
        if isinstance(value, (bool, np.bool_)):
            raise ArgumentError(name, f"must be a number, got {value}")
        if isinstance(value, (int, float, np.integer, np.floating)):
            if isinstance(value, int) and abs(value) > MAX_ABS:
                raise ArgumentError(name, f"must be ≤ {fmt(self.maximum)}, got a {len(str(abs(value)))}-digit number")
            return self._check(float(value), name)
        if isinstance(value, str):
            return self._check(units.parse_quantity(value, name, self.unit, allow_count_suffix=self.count), name)
        if hasattr(value, "dimensionality") and hasattr(value, "magnitude"):
            mag = units.quantity_magnitude(value, name, self.unit, allow_dimensionless=self.count)
            if _is_array_like(mag):
                return self._array(mag, name)
            return self._check(float(mag), name)
        if value is None:
            raise ArgumentError(name, "is empty")
        raise ArgumentError(name, f"must be a number or a string with units, got {type(value).__name__}")

    def _array(self, value, name: str):
        try:
            arr = _to_array(value, name)
        except _NeedsElementwise as e:
            arr = np.array([self._scalar(v, name) for v in e.values.ravel()], dtype=float).reshape(e.values.shape)
        if not np.all(np.isfinite(arr)):
            raise ArgumentError(name, "must hold finite numbers only (found NaN or inf)")
        low = arr.min()
        if low < self.minimum or (self.strict and low == self.minimum):
            raise ArgumentError(name, f"must be {'>' if self.strict else '≥'} {fmt(self.minimum)}, got {fmt(low)}")
        if arr.max() > self.maximum:
            raise ArgumentError(name, f"must be ≤ {fmt(self.maximum)}, got {fmt(arr.max())}")
        if self.integer:
            if np.any(arr != np.round(arr)):
                raise ArgumentError(name, "must hold whole numbers only")
        return arr

    def parse(self, value, name: str):
        if _is_array_like(value):
            if not self.vector:
                raise ArgumentError(name, "must be a single value, not a list")
            return self._array(value, name)
        return self._scalar(value, name)


class Fraction(Number):
    """A fraction in (0, 1]: ``0.45``, ``"45%"``. With ``rate_unit``, a rate (``"200 TFLOP/s"``)
    is also accepted and kept as :class:`Rate` for the function to divide by the hardware peak."""

    def __init__(self, rate_unit: str | None = None, *, maximum: float = 1.0):
        super().__init__("", maximum=maximum, label="fraction (0–1]" + (f" or {rate_unit}" if rate_unit else ""))
        self.rate_unit = rate_unit

    def _scalar(self, value, name):
        if self.rate_unit and isinstance(value, str) and not value.strip().endswith("%"):
            _, rest = units.split_number(value, name)
            if rest and rest.strip() not in ("percent",):
                return Rate(Number(self.rate_unit)._scalar(value, name))
        if self.rate_unit and hasattr(value, "dimensionality") and not value.dimensionless:
            return Rate(Number(self.rate_unit)._scalar(value, name))
        x = super()._scalar(value, name)
        return x

    def _check(self, x, name):
        if math.isfinite(x) and 1.0 < x <= 100.0 and self.maximum == 1.0:
            raise ArgumentError(name, f"must be a fraction between 0 and 1, got {fmt(x)} (write {x / 100:g} or \"{fmt(x)}%\")")
        return super()._check(x, name)


@dataclass(frozen=True)
class Rate:
    """An absolute rate given where a utilisation fraction is expected (FLOP/s or bytes/s)."""

    value: float

    @staticmethod
    def resolve(value, peak: float, name: str):
        """A utilisation argument as a fraction: a :class:`Rate` divided by ``peak``; fractions and None as given."""
        return value.fraction_of(peak, name) if isinstance(value, Rate) else value

    def fraction_of(self, peak: float, name: str) -> float:
        f = self.value / peak
        if not 0 < f <= 1.0 + 1e-9:
            raise ArgumentError(name, f"{fmt(self.value)} is {fmt(f)}× the hardware peak {fmt(peak)}; it must be ≤ the peak")
        return f


class Boolean(Kind):
    sheet_type = "any"
    _TRUE = {"true", "yes", "y", "on", "1", "t"}
    _FALSE = {"false", "no", "n", "off", "0", "f"}

    def parse(self, value, name):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in self._TRUE | self._FALSE:
            return value.strip().lower() in self._TRUE
        raise ArgumentError(name, f"must be TRUE or FALSE (yes/no), got {short(value)}")

    def show(self, value):
        return "yes" if value else "no"

    def describe(self):
        return "TRUE/FALSE"


class Choice(Kind):
    sheet_type = "string"

    def __init__(self, options, normalize: Callable[[str, str], str] | None = None):
        self.options, self.normalize = tuple(options), normalize

    def parse(self, value, name):
        if not isinstance(value, str) or len(value) > 40:
            raise ArgumentError(name, f"must be one of {', '.join(self.options)}, got {short(value)}")
        if self.normalize:
            return self.normalize(value, name)
        key = value.strip().lower()
        if key not in self.options:
            raise ArgumentError(name, f"must be one of {', '.join(self.options)}, got {short(value)}")
        return key

    def show(self, value):
        return str(value)

    def describe(self):
        return " | ".join(self.options)


class Text(Kind):
    sheet_type = "string"

    def __init__(self, max_len: int = 200):
        self.max_len = max_len

    def parse(self, value, name):
        if not isinstance(value, str):
            raise ArgumentError(name, f"must be text, got {type(value).__name__}")
        if len(value) > self.max_len:
            raise ArgumentError(name, f"is too long ({len(value)} characters; at most {self.max_len})")
        return value

    def show(self, value):
        return repr(value)

    def describe(self):
        return "text"


class FilePath(Text):
    """A path to a file on this machine (a GPU profile). Servers refuse these arguments."""

    reads_files = True

    def describe(self):
        return "file path"


class GPURef(Kind):
    """A catalog GPU name/alias or a :class:`llmcalc.GPU`."""

    sheet_type = "string"

    def parse(self, value, name):
        from .catalog import gpu
        if isinstance(value, str) and len(value) > 100:
            raise ArgumentError(name, "is too long for a GPU name")
        return gpu(value, name)

    def show(self, g):
        return (f"{g.name} ({fmt(g.peak.get('bf16') or g.peak.get('fp16', 0) or 0, 'FLOP/s')} dense 16-bit, "
                f"{fmt(g.memory_bytes / 2**30, 'GiB')}, {fmt(g.bandwidth / 1e12, 'TB/s')})")

    def describe(self):
        return "GPU name"


class ModelRef(Kind):
    """A catalog model name/alias, a :class:`llmcalc.Model`, or a path to a ``config.json``."""

    sheet_type = "string"

    def parse(self, value, name):
        from .catalog import model
        if isinstance(value, str) and len(value) > 400:
            raise ArgumentError(name, "is too long for a model name or path")
        return model(value, name)

    def show(self, m):
        return f"{m.name} ({fmt(m.params() / 1e9, 'B')} parameters, {m.layers} layers, {m.attention.upper()})"

    def describe(self):
        return "model name"


class ParamsRef(Number):
    """A parameter count (``175e9``, ``"175B"``) or a model whose total count is used."""

    sheet_type = "any"

    def __init__(self):
        super().__init__("parameter", count=True, label="parameters or model name")

    def _scalar(self, value, name):
        from .model import Model
        if isinstance(value, Model):
            return float(value.params())
        if isinstance(value, str):
            stripped = value.strip()
            if stripped and not (stripped[0].isdigit() or stripped[0] in "+-." or stripped.startswith("$")):
                from .catalog import model
                return float(model(stripped, name).params())
        return super()._scalar(value, name)


# ------------------------------------------------------------------------------------------
# Functions


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
class Calc:
    """What an implementation returns: the value (in the function's unit), a callable giving the
    substituted calculation lines, and per-call assumptions."""

    value: Any
    steps: Callable[[], list[str]] | None = None
    assumptions: list[str] = field(default_factory=list)
    unit: str | None = None  # overrides the function's unit (catalog fields, conversions)


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


# ------------------------------------------------------------------------------------------
# Results

_RESULT_CLASS = None


def result_class():
    """The pint Quantity subclass returned by user functions (adds ``.explain()``)."""
    global _RESULT_CLASS
    if _RESULT_CLASS is None:
        Q = units.ureg().Quantity

        class Result(Q):
            """A pint Quantity that remembers how it was computed: ``.explain()``."""

            _llmcalc = None

            def explain(self) -> Explanation:
                if self._llmcalc is None:
                    raise AttributeError("this quantity was not returned by an llmcalc function")
                return build_explanation(*self._llmcalc)

            def _repr_html_(self):
                base = f"<span class='tex2jax_ignore mathjax_ignore'><b>{fmt(self.magnitude, format(self.units, '~P'))}</b></span>"
                if self._llmcalc is None:
                    return base
                return base + f"<details><summary>how</summary>{self.explain()._repr_html_()}</details>"

        _RESULT_CLASS = Result
    return _RESULT_CLASS


class Count(int):
    """A whole-number result (GPU count, batch size) that can ``.explain()`` itself."""

    _llmcalc = None

    def explain(self) -> Explanation:
        return build_explanation(*self._llmcalc)

    def _repr_html_(self):
        return f"<span class='tex2jax_ignore mathjax_ignore'><b>{int(self):,}</b></span><details><summary>how</summary>{self.explain()._repr_html_()}</details>"


class CountArray(np.ndarray):
    """An integer NumPy array result that can ``.explain()`` itself."""

    def explain(self) -> Explanation:
        return build_explanation(*self._llmcalc)


def make_result(fn: Function, calc: Calc, values: dict):
    v = calc.value
    if fn.result == "text" or isinstance(v, str):
        return v
    if fn.result == "count":
        if isinstance(v, np.ndarray):
            out = v.astype(np.int64).view(CountArray)
        else:
            out = Count(int(v))
        out._llmcalc = (fn, calc, values)
        return out
    unit = calc.unit if calc.unit is not None else fn.unit
    q = result_class()(v, (units.unit(unit) if isinstance(unit, str) else unit) if unit else "")
    q._llmcalc = (fn, calc, values)
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


# ------------------------------------------------------------------------------------------
# Declaring


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
        if fn.name in REGISTRY or any(f.sheet_name == sheet_name for f in REGISTRY.values()):
            raise RuntimeError(f"{fn.name}/{sheet_name} registered twice")
        REGISTRY[fn.name] = fn
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
    key = name.strip().upper()
    for fn in REGISTRY.values():
        if fn.sheet_name == key:
            return fn
    raise LookupError(name)


def lookup(name: str) -> Function:
    """Find a function by Python name (``train_days``), CLI name (``train-days``) or sheet name."""
    key = name.strip()
    if key in REGISTRY:
        return REGISTRY[key]
    py = key.replace("-", "_").lower()
    if py in REGISTRY:
        return REGISTRY[py]
    if py.startswith("llm_") and py[4:] in REGISTRY:
        return REGISTRY[py[4:]]
    try:
        return by_sheet_name(key)
    except LookupError:
        import difflib
        near = difflib.get_close_matches(py, list(REGISTRY), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ArgumentError("function", f"unknown function {name!r}{hint}") from None


class ModelOrParams(ModelRef):
    """A model (name, Model, config.json) or a bare parameter count for the articles' roofline,
    which needs only P (no architecture: the KV cache is then not counted)."""

    sheet_type = "any"

    def parse(self, value, name):
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) or (
                isinstance(value, str) and value.strip()[:1].isdigit()):
            return Number("parameter", count=True, vector=False)._scalar(value, name)
        return super().parse(value, name)

    def show(self, m):
        return fmt(m, "parameters") if isinstance(m, float) else super().show(m)

    def describe(self):
        return "model name or parameter count"
