"""Argument kinds: how one argument of a user function is parsed and validated.

A plain number is read in the documented unit; a string or pint Quantity may carry units
(``"80 GiB"``, ``"$2.21/h"``, ``"175B"``); lists and NumPy arrays broadcast. Every error is an
:class:`~llmcalc.errors.ArgumentError` that names the argument.
(About 430 lines: one short class per kind of argument over the shared parsing helpers at the top.)
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import catalog, units
from .errors import ArgumentError, UnknownNameError
from .explain import fmt
from .model import Model
from .parallel.estimate import parse_recompute
from .parallel.plan import Plan, parse as parse_plan

MAX_ABS = 1e30  # beyond any physical input here; larger values are typos or attacks
MAX_ARRAY = 10_000_000




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


@functools.lru_cache(maxsize=4096)
def _quantity(text: str, name: str, unit: str, count: bool) -> float:
    """:func:`llmcalc.units.parse_quantity`, remembered per text: a spreadsheet sends the same
    "200 TFLOP/s" or "175B" in many cells (errors are raised again each time, not remembered)."""
    return units.parse_quantity(text, name, unit, allow_count_suffix=count)


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
        t = type(value)
        if t is float or (t is int and abs(value) <= MAX_ABS):  # the common cases first
            return self._check(float(value), name)
        if t is str:
            return self._check(_quantity(value, name, self.unit, self.count), name)
        if isinstance(value, (bool, np.bool_)):
            raise ArgumentError(name, f"must be a number, got {value}")
        if isinstance(value, (int, float, np.integer, np.floating)):
            if isinstance(value, int) and abs(value) > MAX_ABS:
                raise ArgumentError(name, f"must be ≤ {fmt(self.maximum)}, got a {len(str(abs(value)))}-digit number")
            return self._check(float(value), name)
        if isinstance(value, str):
            return self._check(_quantity(value, name, self.unit, self.count), name)
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
        self._rate = Number(rate_unit) if rate_unit else None

    def _scalar(self, value, name):
        if self._rate and isinstance(value, str) and _has_rate_unit(value, name):
            return Rate(self._rate._scalar(value, name))
        if self._rate and hasattr(value, "dimensionality") and not value.dimensionless:
            return Rate(self._rate._scalar(value, name))
        x = super()._scalar(value, name)
        return x

    def _check(self, x, name):
        if math.isfinite(x) and 1.0 < x <= 100.0 and self.maximum == 1.0:
            raise ArgumentError(name, f"must be a fraction between 0 and 1, got {fmt(x)} (write {x / 100:g} or \"{fmt(x)}%\")")
        return super()._check(x, name)


@functools.lru_cache(maxsize=4096)
def _has_rate_unit(text: str, name: str) -> bool:
    """Whether a text given for a :class:`Fraction` carries a unit other than %/percent (a rate such as
    "200 TFLOP/s"), remembered per text (errors are raised again each time, not remembered)."""
    if text.strip().endswith("%"):
        return False
    _, rest = units.split_number(text, name)
    return bool(rest) and rest.strip() not in ("percent",)


class FractionOrAuto(Fraction):
    """A :class:`Fraction` (or rate), or ``"auto"``: let the cluster model predict it."""

    def _scalar(self, value, name):
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return super()._scalar(value, name)

    def show(self, value):
        return "auto (predicted for the best parallel layout)" if value == "auto" else super().show(value)

    def describe(self):
        return super().describe() + " or auto"


class RecomputeMode(Kind):
    """Activation recomputation: ``full``, ``selective``, ``none`` or ``auto``; TRUE/FALSE mean full/none."""

    sheet_type = "any"

    def parse(self, value, name):
        if _is_array_like(value):
            raise ArgumentError(name, "must be a single value, not a list")
        try:
            return parse_recompute(value)
        except ArgumentError as e:
            raise ArgumentError(name, e.problem) from None

    def show(self, value):
        return str(value)

    def describe(self):
        return "full | selective | none | auto (TRUE/FALSE)"


class PlanRef(Kind):
    """A parallel layout: text such as ``"tp=8 pp=12 dp=16"`` or a :class:`llmcalc.Plan`."""

    sheet_type = "string"

    def parse(self, value, name):
        if isinstance(value, Plan):
            return value
        if not isinstance(value, str):
            raise ArgumentError(name, f"must be text such as \"tp=8 pp=12 dp=16\", got {type(value).__name__}")
        try:
            return parse_plan(value)
        except ArgumentError as e:
            if e.argument == name:
                raise
            raise ArgumentError(name, e.problem) from None

    def show(self, value):
        return value.text()

    def describe(self):
        return "layout text (tp=… pp=… cp=… dp=… ep=… vp=… mb=… sp=… zero=…)"


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
        if isinstance(value, str) and len(value) > 100:
            raise ArgumentError(name, "is too long for a GPU name")
        return catalog.gpu(value, name)

    def show(self, g):
        try:
            peak = f"{fmt(g.peak_flops('bf16'), 'FLOP/s')} dense 16-bit"
        except ArgumentError:
            peak = "no published dense 16-bit peak"
        return f"{g.name} ({peak}, {fmt(g.memory_bytes / 2**30, 'GiB')}, {fmt(g.bandwidth / 1e12, 'TB/s')})"

    def describe(self):
        return "GPU name"


class ModelRef(Kind):
    """A catalog model name/alias, a :class:`llmcalc.Model`, or a path to a ``config.json``."""

    sheet_type = "string"

    def parse(self, value, name):
        if isinstance(value, str) and len(value) > 400:
            raise ArgumentError(name, "is too long for a model name or path")
        return catalog.model(value, name)

    def show(self, m):
        return f"{m.name} ({fmt(m.params() / 1e9, 'B')} parameters, {m.layers} layers, {m.attention.upper()})"

    def describe(self):
        return "model name"


class ParamsRef(Number):
    """A parameter count (``175e9``, ``"175B"``) or a model whose total count is used.

    ``keep_model=True``: a model name or Model is passed on as the :class:`~llmcalc.model.Model`
    (the function reads its count with :func:`param_count`, and can also model its training)."""

    sheet_type = "any"

    def __init__(self, keep_model: bool = False):
        super().__init__("parameter", count=True, label="parameters or model name")
        self.keep_model = keep_model

    def _scalar(self, value, name):
        if isinstance(value, Model):
            return value if self.keep_model else float(value.params())
        if isinstance(value, str):
            stripped = value.strip()
            if stripped and not (stripped[0].isdigit() or stripped[0] in "+-." or stripped.startswith("$")):
                try:
                    m = catalog.model(stripped, name)
                except UnknownNameError as exc:  # say that a number was also welcome
                    hint = ' (or give a parameter count: 175e9, "175B", "7 billion")'
                    exc.problem += hint
                    exc.args = (f"argument '{name}': {exc.problem}",)
                    raise
                return m if self.keep_model else float(m.params())
        return super()._scalar(value, name)

    def show(self, value):
        return ModelRef().show(value) if isinstance(value, Model) else super().show(value)


def param_count(value):
    """The parameter count of a :class:`ParamsRef` value (a number, an array, or a Model's total)."""
    return float(value.params()) if isinstance(value, Model) else value


class ModelOrParams(ModelRef):
    """A model (name, Model, config.json) or a bare parameter count for the articles' roofline,
    which needs only P (no architecture: the KV cache is then not counted)."""

    sheet_type = "any"
    _count = Number("parameter", count=True, vector=False)

    def parse(self, value, name):
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) or (
                isinstance(value, str) and value.strip()[:1].isdigit()):
            return self._count._scalar(value, name)
        return super().parse(value, name)

    def show(self, m):
        return fmt(m, "parameters") if isinstance(m, float) else super().show(m)

    def describe(self):
        return "model name or parameter count"
