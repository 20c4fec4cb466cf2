"""The application's unit registry and the bounded parser for user-typed quantities.

One pint registry for the whole application, built from pint's own definitions with three changes
that matter for LLM arithmetic:

* ``bit``/``byte`` get their own dimension ``[information]`` (pint makes them dimensionless), so a
  byte count can never be mistaken for a parameter count.
* ``b`` is the bit (``200 Gb/s`` is 200 gigabit per second; pint reads ``Gb`` as giga-gilbert and
  ``b`` as barn), and ``bps`` is bit per second.
* new units: ``FLOP`` (``[computation]``), ``token``, ``parameter``, ``USD`` (``[currency]``),
  ``GPU`` and ``request`` (dimensionless counts, so ``$/GPU/h`` is ``USD/hour``) and ``GPU_hour``.

SI and IEC prefixes stay apart: ``GB`` is 1e9 bytes, ``GiB`` is 2**30 bytes.

The registry is built on first use (it takes ~0.15 s), which keeps ``import llmcalc`` fast.

User strings are never evaluated as expressions: :func:`parse_quantity` accepts
``<number> [suffix] [unit]`` only, checks length, characters and the number of unit factors, parses
the number with ``float`` and the unit with pint's unit parser (which does not evaluate numbers),
and caches unit parses. Logarithmic units (dB, Np, octave, decade, dBm…) are refused: nothing
llmcalc computes is logarithmic, and pint would read ``"175 dB"`` as the ratio 10^17.5/10 ≈ 220.
A server can cap the pint work one request may cause with :func:`parse_budget`.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
from importlib import resources

from .errors import ArgumentError

_REGISTRY = None
_LOGARITHMIC: frozenset = frozenset()  # canonical names of logarithmic units, filled with the registry

# Definitions added to pint's defaults.
_EXTRA_DEFINITIONS = """
FLOP = [computation] = _ = flop = FLOPs
token = [token] = _ = tok = tokens
parameter = [parameter] = _ = param = params
USD = [currency] = _ = dollar = usd
GPU = 1 = _ = gpu = GPUs
request = 1 = _ = req = requests
GPU_hour = hour = _ = GPUh = gpu_hour
"""


def ureg():
    """Return the application's pint UnitRegistry (built once, on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _build_registry()
    return _REGISTRY


def _logarithmic_names(definitions: str) -> frozenset:
    """Names of the units pint defines with a ``logbase`` (decibel, neper, octave, decade, dBm…)."""
    names = set()
    for line in definitions.splitlines():
        line = line.split("#", 1)[0]
        if "logbase:" in line:
            names.add(line.split("=", 1)[0].strip())
    return frozenset(names)


def _build_registry():
    import pint

    base = resources.files("pint")
    text = base.joinpath("default_en.txt").read_text(encoding="utf-8")
    replacements = {
        "\nbit = []": "\nbit = [information] = b",
        "gilbert = 1 / (4 * π) * biot_turn = Gb": "gilbert = 1 / (4 * π) * biot_turn",
        "barn = 1e-28 * meter ** 2 = b\n": "barn = 1e-28 * meter ** 2\n",
        # show days and years by name ("33.81 day", not "33.81 d"); "d" and "a" still parse
        "\nday = 24 * hour = d\n": "\nday = 24 * hour = _ = d\n",
        "\nyear = 365.25 * day = a = yr = julian_year": "\nyear = 365.25 * day = _ = a = yr = julian_year",
    }
    for old, new in replacements.items():
        if old not in text:  # pint changed its file: fail loudly rather than mis-read bytes
            raise RuntimeError(f"pint's default_en.txt no longer contains {old!r}")
        text = text.replace(old, new)
    constants = base.joinpath("constants_en.txt").read_text(encoding="utf-8")
    text = text.replace("@import constants_en.txt", constants)
    global _LOGARITHMIC
    _LOGARITHMIC = _logarithmic_names(text)
    if not {"decibel", "neper", "octave"} <= _LOGARITHMIC:  # pint changed its file: fail loudly
        raise RuntimeError("pint's default_en.txt no longer marks decibel/neper/octave with a logbase")
    reg = pint.UnitRegistry(None, autoconvert_offset_to_baseunit=True)
    reg.load_definitions(text.splitlines())
    for line in _EXTRA_DEFINITIONS.strip().splitlines():
        reg.define(line)
    reg.formatter.default_format = "~P"
    return reg


@functools.lru_cache(maxsize=1024)
def unit(text: str):
    """A pint Unit from its name, cached (``unit("GB/s")``)."""
    return ureg().parse_units(text)


@functools.lru_cache(maxsize=1024)
def _user_unit(cleaned: str):
    """:func:`unit` for a text a user typed: a text not parsed before spends the parse budget."""
    _spend_parse()
    return unit(cleaned)


# ---------------------------------------------------------------------------------------------
# A budget of pint parses (a server caps the work one request can cause)

_PARSES_LEFT: contextvars.ContextVar = contextvars.ContextVar("llmcalc_unit_parses_left", default=None)


class ParseBudgetExceeded(Exception):
    """More distinct unit texts than :func:`parse_budget` allows (reported naming the argument)."""


@contextlib.contextmanager
def parse_budget(distinct_units: int):
    """Within this block, at most ``distinct_units`` unit texts not already cached are parsed by
    pint; the next one is refused with an :class:`ArgumentError` naming its argument. Each pint
    parse costs up to a few milliseconds, so a request of many different unit texts could
    otherwise cost seconds of CPU (cached texts, such as the same ``"80 GiB"`` in every cell,
    cost nothing)."""
    token = _PARSES_LEFT.set([distinct_units, distinct_units])
    try:
        yield
    finally:
        _PARSES_LEFT.reset(token)


def _spend_parse() -> None:
    left = _PARSES_LEFT.get()
    if left is None:
        return
    if left[0] <= 0:
        raise ParseBudgetExceeded(f"is one unit text too many: at most {left[1]} different unit texts are read "
                                  "per request; send fewer different units (or split the request)")
    left[0] -= 1


# ---------------------------------------------------------------------------------------------
# Parsing user input

MAX_INPUT_CHARS = 80
_ALLOWED = re.compile(r"^[0-9A-Za-z_ .,+\-*/%$()µ]*$")
_NUMBER = re.compile(r"^\s*([+-]?(?:\d[\d_,]*\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?)\s*(.*?)\s*$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d{1,3})?$")
# Count suffixes for parameter / token counts ("175B", "1.4T tokens", "7b").
COUNT_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "m": 1e6, "B": 1e9, "b": 1e9, "G": 1e9, "T": 1e12,
                "t": 1e12, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_UNIT_REWRITES = [
    (re.compile(r"(?<![A-Za-z])([kKMGTPE]i?)bps\b"), r"\1bit/s"),
    (re.compile(r"(?<![A-Za-z])([kKMGTPE]i?)Bps\b"), r"\1B/s"),
    (re.compile(r"(?<![A-Za-z])KB\b"), "kB"),
    (re.compile(r"(?<![A-Za-z])Kb\b"), "kb"),
    (re.compile(r"GPU[-_ ]?(hours?|hrs?|h)\b", re.I), "GPU_hour"),
    (re.compile(r"(?i)\bper\b"), "/"),
    (re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])"), "_"),
]
_FLOPS_RATE = re.compile(r"(?i)(flop)s\b")


def _clean_unit_text(text: str, rate_expected: bool) -> str:
    for pattern, repl in _UNIT_REWRITES:
        text = pattern.sub(repl, text)
    # "312 TFLOPS" means per second; "3e23 FLOPs" is a count. Where a rate is expected, any
    # trailing-s spelling of FLOP is read as per second.
    text = text.replace("FLOPS", "FLOP/s")
    if rate_expected:
        text = _FLOPS_RATE.sub(lambda m: m.group(1).upper() + "/s", text)
    else:
        text = _FLOPS_RATE.sub(lambda m: m.group(1).upper(), text)
    text = text.replace("%", " percent ").strip()
    return re.sub(r"\s+", " ", text)


_UNIT_FORBIDDEN = re.compile(r"\d|\^|\*\*")
_UNIT_WORD = re.compile(r"[A-Za-zµ_]+")
MAX_UNIT_FACTORS = 8  # "USD/GPU/hour" has 3; pint's cost grows with the number of factors


def _unit_text_problem(text: str) -> str | None:
    """Why a unit text is refused before pint sees it, or None. Unit names here never need numbers
    or exponents (pint would evaluate ``B**10**30`` or ``10**10**10``: unbounded time and memory),
    and a unit of more than :data:`MAX_UNIT_FACTORS` factors is no unit anyone means."""
    if _UNIT_FORBIDDEN.search(text):
        return f"has a unit with numbers or exponents, which are not supported: {text[:40]!r}"
    factors = len(_UNIT_WORD.findall(text))
    if factors > MAX_UNIT_FACTORS:
        return f"has a unit of {factors} factors; at most {MAX_UNIT_FACTORS} are read: {text[:40]!r}"
    return None


@functools.lru_cache(maxsize=1024)
def _logarithmic_unit(cleaned: str) -> str | None:
    """The first word of a unit text that pint reads as a logarithmic unit, or None."""
    reg = ureg()
    for word in _UNIT_WORD.findall(cleaned):
        if any(name in _LOGARITHMIC for _, name, _ in reg.parse_unit_name(word)):
            return word
    return None


@functools.lru_cache(maxsize=256)
def _logarithmic_unit_of(u) -> str | None:
    """:func:`_logarithmic_unit` for a pint Unit (cached: formatting a unit costs ~30 µs)."""
    return _logarithmic_unit(str(u))


def _logarithmic_message(word: str) -> str:
    return (f"has a logarithmic unit ({word!r}), which llmcalc does not read: give a plain number or a "
            "linear unit (B, GB, GiB, s, h, TFLOP/s, USD/h)")


def split_number(text: str, argument: str) -> tuple[float, str]:
    """Split ``"2.21 USD/h"`` into ``(2.21, "USD/h")`` without evaluating anything."""
    if len(text) > MAX_INPUT_CHARS:
        raise ArgumentError(argument, f"is too long ({len(text)} characters; at most {MAX_INPUT_CHARS})")
    if not _ALLOWED.match(text):
        raise ArgumentError(argument, f"contains characters that are not part of a number with a unit: {text!r}")
    stripped = text.strip()
    if not stripped:
        raise ArgumentError(argument, "is empty")
    money = stripped.startswith("$")
    if money:
        stripped = stripped[1:]
    m = _NUMBER.match(stripped)
    if not m:
        raise ArgumentError(argument, f"must start with a number, got {text!r}")
    number_text, rest = m.group(1), m.group(2)
    if "," in number_text:
        # Only strict thousands grouping ("1,000,000.5"); "1,5" may be a decimal comma: refuse, never guess.
        if not _THOUSANDS.match(number_text):
            raise ArgumentError(argument, f"has a comma that may be a decimal comma: {number_text!r}; "
                                          "write the number with a decimal point and no separators (1.5, 1500)")
        number_text = number_text.replace(",", "")
    value = float(number_text.replace("_", ""))
    if money:
        rest = "USD " + rest if rest and not rest.startswith("/") else "USD" + rest
    return value, rest


def check_finite(value: float, argument: str) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(argument, f"must be a finite number, got {value}")
    return value


def parse_quantity(text: str, argument: str, expected: str, *, allow_count_suffix: bool = False):
    """Parse ``text`` to a magnitude in unit ``expected``.

    ``expected`` is a unit name (``"byte"``, ``"byte/second"``, ``"USD/hour"``, ``"token"``, ``""``
    for a pure number). A bare number is read in ``expected``. A count (``token``, ``parameter``)
    also accepts a dimensionless number and the suffixes K/M/B/T (``"175B"``). Raises
    :class:`ArgumentError` naming ``argument`` on anything else.
    """
    value, rest = split_number(text, argument)
    check_finite(value, argument)
    if allow_count_suffix:
        words = rest.split(maxsplit=1)
        if words and words[0] in COUNT_SUFFIX:
            value *= COUNT_SUFFIX[words[0]]
            rest = words[1] if len(words) > 1 else ""
    if not rest:
        return value
    try:
        factor = _unit_factor(rest, expected, allow_count_suffix)
    except _UnitProblem as problem:
        raise ArgumentError(argument, str(problem)) from None
    return check_finite(value * factor, argument)


class _UnitProblem(Exception):
    """Why a unit text cannot be read as ``expected`` (not cached: lru_cache keeps only results)."""


@functools.lru_cache(maxsize=4096)
def _unit_factor(rest: str, expected: str, allow_count_suffix: bool) -> float:
    """The multiplier taking a number in unit text ``rest`` to unit ``expected``.

    Cached per distinct unit text, so a spreadsheet range of a million ``"80 GiB"`` cells asks
    pint once. Every unit here is multiplicative (no temperatures), so a factor is exact."""
    problem = _unit_text_problem(rest)
    if problem:
        raise _UnitProblem(problem)
    rate_expected = "second" in expected or "/s" in expected
    cleaned = _clean_unit_text(rest, rate_expected)
    try:
        got = _user_unit(cleaned)
    except ParseBudgetExceeded as exc:
        raise _UnitProblem(str(exc)) from None
    except Exception:
        raise _UnitProblem(f"has a unit that is not known: {rest!r}") from None
    log_word = _logarithmic_unit(cleaned)
    if log_word:
        raise _UnitProblem(_logarithmic_message(log_word))
    reg = ureg()
    q = reg.Quantity(1.0, got)
    if not expected:
        if not q.dimensionless:
            raise _UnitProblem(f"must be a plain number, got a quantity in {rest!r}")
        return float(q.to("").magnitude)
    if q.dimensionless and allow_count_suffix:
        return float(q.to("").magnitude)
    exp_unit = unit(expected)
    try:
        return float(q.to(exp_unit).magnitude)
    except Exception:
        raise _UnitProblem(
            f"has units of {rest!r}, which cannot be converted to {expected} "
            f"(dimension {q.dimensionality} vs {reg.Quantity(1, exp_unit).dimensionality})") from None


def quantity_magnitude(q, argument: str, expected: str, *, allow_dimensionless: bool = False):
    """Magnitude of a pint Quantity ``q`` in ``expected``, with a clear error naming ``argument``."""
    log_word = _logarithmic_unit_of(q.units)
    if log_word:
        raise ArgumentError(argument, _logarithmic_message(log_word))
    exp_unit = unit(expected) if expected else ureg().dimensionless
    if allow_dimensionless and q.dimensionless:
        return q.to("").magnitude
    try:
        return q.to(exp_unit).magnitude
    except Exception:
        raise ArgumentError(
            argument, f"has units of {q.units}, which cannot be converted to {expected or 'a plain number'}"
        ) from None


def parse_unit_text(text: str, argument: str):
    """Parse a unit name typed by a user (``"GiB"``, ``"Gb/s"``, ``"TFLOPS"``) into a pint Unit."""
    if not isinstance(text, str):
        raise ArgumentError(argument, f"must be a unit name, got {type(text).__name__}")
    if len(text) > 40 or not _ALLOWED.match(text) or not text.strip():
        raise ArgumentError(argument, f"is not a unit name: {text[:40]!r}")
    stripped = text.strip()
    problem = _unit_text_problem(stripped)
    if problem:
        raise ArgumentError(argument, problem)
    if stripped == "$" or stripped.upper() == "USD":
        stripped = "USD"
    cleaned = _clean_unit_text(stripped.replace("$", "USD"), rate_expected="FLOPS" in stripped)
    try:
        parsed = _user_unit(cleaned)
    except ParseBudgetExceeded as exc:
        raise ArgumentError(argument, str(exc)) from None
    except Exception:
        raise ArgumentError(argument, f"is not a known unit: {text!r}") from None
    log_word = _logarithmic_unit(cleaned)
    if log_word:
        raise ArgumentError(argument, _logarithmic_message(log_word))
    return parsed
