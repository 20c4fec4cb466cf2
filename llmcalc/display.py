"""Numbers for people: the one formatting layer every front-end uses.

Exact values stay with code and cells (``result.magnitude``, the HTTP API's numbers, spreadsheet
cells). Everything a person *reads* goes through these functions, so a figure reads the same in
the REPL (``str``/``repr`` of a result), ``.explain()``, the CLI, the task pane and the notebook::

    >>> from llmcalc import display
    >>> display.quantity(llmcalc.cost_per_1k_tokens(...))   # any pint Quantity or llmcalc result
    '$0.00043 per 1K tokens'
    >>> display.value(33.811815, "day"), display.value(0.1792, "s"), display.value(140, "GB")
    ('33.81 days', '179.2 ms', '140 GB')
    >>> display.money(2.7, per="h"), display.money(1234567.4), display.count(175e9), display.count(1155, "GPU")
    ('$2.70/h', '$1,234,567', '175B', '1,155 GPUs')

API (pure functions, each returns ``str``; arrays give ``[a, b, c] unit`` with one shared unit):

``quantity(q)``
    A pint Quantity (an llmcalc result is one) for people: picks the rule below from its dimension.
``value(x, unit)``
    The same for a bare number (or array) in a unit given by name (``"USD/ktoken"``, ``"GB"``,
    ``"token/s"``; ``""`` for a pure number). Front-ends that hold magnitudes call this.
``money(usd, per=None)``
    ``$1,234,567`` (whole dollars from $1,000), ``$2.70`` (cents from $1), ``$0.066`` / ``$0.00043``
    (two significant digits below $1); ``per="h"`` → ``$2.70/h``, ``per="1K tokens"`` → ``… per 1K tokens``.
``count(n, noun=None)``
    ``1,155`` (exact below a million), ``175B``, ``1.2T``, ``7.168M`` (4 significant digits),
    ``3.2 × 10¹⁵`` beyond trillions; ``noun`` is pluralised: ``count(1155, "GPU")`` → ``1,155 GPUs``.
``duration(seconds)``
    ``33.81 days``, ``179.2 ms``, ``20 s``, ``94.79 years``: the largest unit that keeps the number ≥ 1.
``data_size(n_bytes, binary=False)``
    ``140 GB``, ``327.7 kB``; ``binary=True`` → ``80 GiB``.
``percent(fraction)``
    ``45%``.
``number(x, digits=4)``
    Plain significant digits with thousands separators and no unit logic (``2,921,341``, ``0.1792``,
    ``3.143e+23``): the calculation lines of ``.explain()`` and error messages use it (it is
    :func:`llmcalc.explain.fmt`).

Rules, everywhere:

* 4 significant digits, trailing zeros dropped; whole numbers below a million are exact (327,680).
* A quantity keeps its own unit while 1 ≤ |value| < 10,000 in it; otherwise it moves along its
  family (ns…years, B…PB, KiB…PiB, B/s…PB/s, FLOP/s…EFLOP/s) to the largest unit that keeps the
  number ≥ 1. A unit the user chose off these ladders (``Gb/s``, ``weeks``) is kept while in range.
* Money is dollars: ``USD`` → ``$``, ``USD/hour`` → ``$…/h``, ``USD per token`` → ``$… per 1K tokens``.
* Parameter and token counts use M/B/T (``175B parameters``, ``1.4T tokens``); FLOP counts use
  powers of ten as papers do (``3.143 × 10²³ FLOP``); FLOP/s use SI prefixes (``312 TFLOP/s``).
"""
from __future__ import annotations

import math

import numpy as np

DIGITS = 4
_KEEP_BELOW = 1e4  # a value keeps its unit while 1 <= |v| < 10,000 in it
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

# Families a value may move along, smallest unit first: (name for people, size in the base unit).
_TIME = [("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("min", 60.0), ("hours", 3600.0),
         ("days", 86400.0), ("years", 365.25 * 86400.0)]
_BYTES = [("B", 1.0), ("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("PB", 1e15)]
_BYTES_BINARY = [("B", 1.0), ("KiB", 2.0**10), ("MiB", 2.0**20), ("GiB", 2.0**30), ("TiB", 2.0**40),
                 ("PiB", 2.0**50)]
_BYTE_RATE = [(n + "/s", f) for n, f in _BYTES]
_FLOP_RATE = [("FLOP/s", 1.0), ("kFLOP/s", 1e3), ("MFLOP/s", 1e6), ("GFLOP/s", 1e9), ("TFLOP/s", 1e12),
              ("PFLOP/s", 1e15), ("EFLOP/s", 1e18)]
_SINGULAR = {"days": "day", "hours": "hour", "years": "year", "weeks": "week", "tokens": "token",
             "parameters": "parameter", "GPUs": "GPU", "GPU-hours": "GPU-hour"}
# pint's short unit names that read better as words
_WORDS = {"day": "days", "h": "hours", "hr": "hours", "year": "years", "week": "weeks", "minute": "min",
          "second": "s", "token": "tokens", "parameter": "parameters", "GPU": "GPUs"}


# ------------------------------------------------------------------------------------------ numbers
def _special(v: float) -> str:
    return "NaN" if math.isnan(v) else ("∞" if v > 0 else "−∞")


def sig(v: float, digits: int = DIGITS) -> str:
    """``v`` with ``digits`` significant digits, thousands separators, trailing zeros dropped.

    Below 10⁻⁴ it switches to a power of ten (``1.235 × 10⁻⁵``)."""
    v = float(v)
    if not math.isfinite(v):
        return _special(v)
    if v == 0:
        return "0"
    if abs(v) < 1e-4:
        return sci(v, digits)
    exponent = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - exponent)
    text = f"{v:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def sci(v: float, digits: int = DIGITS) -> str:
    """``v`` as a power of ten for people: ``3.143 × 10²³`` (trailing zeros dropped)."""
    v = float(v)
    if not math.isfinite(v):
        return _special(v)
    if v == 0:
        return "0"
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def number(x, digits: int = DIGITS) -> str:
    """A plain number: integers exact with separators (``2,921,341``); floats with ``digits``
    significant digits between 10⁻³ and 10⁷ (``0.1792``, ``33.81``), else ``3.143e+23``.

    This is the compact form the calculation lines of ``.explain()`` and error messages use."""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if not isinstance(x, (float, np.floating)):
        return str(x)
    v = float(x)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e7:
        return sig(v, digits)
    return f"{v:.{digits - 1}e}"


def percent(fraction: float) -> str:
    """``0.45`` → ``45%``; ``0.4567`` → ``45.67%``."""
    return sig(float(fraction) * 100) + "%"


def _plural(noun: str, text: str) -> str:
    if not noun:
        return text
    if text in ("1", "-1"):
        noun = _SINGULAR.get(noun, noun)
    return f"{text} {noun}"


# ------------------------------------------------------------------------------------------ money
def _dollars(usd: float) -> str:
    v = float(usd)
    if not math.isfinite(v):
        return _special(v) + " USD"
    sign, a = ("-" if v < 0 else ""), abs(v)
    if a == 0:
        text = "0"
    elif a >= 999.995:
        text = f"{a:,.0f}"
    elif a >= 0.995:
        text = f"{a:,.2f}"
    elif a < 1e-4:
        text = sci(a, 2)
    else:  # two significant digits, at least cents: $0.50, $0.066, $0.00043
        decimals = max(2, 1 - math.floor(math.log10(a)))
        text = f"{a:.{decimals}f}"
    return f"{sign}${text}"


def money(usd, per: str | None = None) -> str:
    """Dollars for a finance reader (see the module rules); ``per`` names the denominator:
    ``"h"`` → ``$2.70/h``, ``"1K tokens"`` → ``$0.00043 per 1K tokens``."""
    if isinstance(usd, np.ndarray):
        body = _array(usd, _dollars)
    else:
        body = _dollars(usd)
    if not per:
        return body
    return f"{body}/{per}" if len(per) <= 3 and " " not in per else f"{body} per {per}"


def _array(arr: np.ndarray, one, limit: int = 4) -> str:
    flat = np.asarray(arr).ravel()
    shown = ", ".join(one(v) for v in flat[:limit])
    more = f", … ({flat.size:,} values)" if flat.size > limit else ""
    return f"[{shown}{more}]"


# ------------------------------------------------------------------------------------------ counts
_SUFFIXES = [(1e12, "T"), (1e9, "B"), (1e6, "M")]


def _count_text(n, digits: int = DIGITS) -> str:
    v = float(n)
    if not math.isfinite(v):
        return _special(v)
    a = abs(v)
    if a >= 1e15:
        return sci(v, digits)
    for size, suffix in _SUFFIXES:
        # 999,999,999 is "1B", not "1,000M"
        if a >= size * (1 - 0.5 * 10.0 ** (-digits)):
            return sig(v / size, digits) + suffix
    if v == int(v):
        return f"{int(v):,}"
    return sig(v, digits)


def count(n, noun: str | None = None, digits: int = DIGITS) -> str:
    """A count: ``1,155``, ``327,680``, ``175B``, ``1.2T``; with ``noun``: ``1,155 GPUs``."""
    if isinstance(n, np.ndarray):
        text = _array(n, lambda v: _count_text(v, digits))
    else:
        text = _count_text(n, digits)
    if not noun:
        return text
    if not noun.endswith("s"):
        noun += "s"
    return _plural(noun, text)


# ------------------------------------------------------------------------------------------ ladders
def _on_ladder(magnitude, base_per_unit: float, ladder, own_name: str | None, keep: bool = False) -> str:
    """Format ``magnitude`` (in a unit worth ``base_per_unit`` base units) on ``ladder``; ``keep``: in its
    own unit whatever its size (a unit the user asked for)."""
    arr = np.asarray(magnitude, dtype=float)
    finite = np.abs(arr[np.isfinite(arr)])
    top = float(finite.max()) if finite.size else 0.0
    own = next(((n, f) for n, f in ladder if math.isclose(f, base_per_unit, rel_tol=1e-9)), None)
    if own is None and own_name:
        own = (own_name, base_per_unit)
    if own is not None and (keep or 1 <= top < _KEEP_BELOW or top == 0):
        name, size = own
    else:
        base = top * base_per_unit
        name, size = ladder[0]
        for n, f in ladder:
            if base >= f * (1 - 0.5 * 10.0 ** (-DIGITS)):
                name, size = n, f
    scale = base_per_unit / size
    if isinstance(magnitude, np.ndarray):
        return f"{_array(arr * scale, sig)} {name}"
    return _plural(name, sig(float(magnitude) * scale))


def duration(seconds) -> str:
    """Seconds for people: ``179.2 ms``, ``20 s``, ``33.81 days``, ``94.79 years``."""
    return _on_ladder(seconds, 1.0, _TIME, None)


def data_size(n_bytes, binary: bool = False) -> str:
    """Bytes for people: ``140 GB``, ``327.7 kB`` (SI: 1 GB = 10⁹ B); ``binary=True``: ``80 GiB``."""
    return _on_ladder(n_bytes, 1.0, _BYTES_BINARY if binary else _BYTES, None)


# ------------------------------------------------------------------------------------------ quantities
def _units():
    from . import units
    return units


def value(x, unit: str = "") -> str:
    """A number (or array) in ``unit`` (a unit name as the registry writes it) for people."""
    if not unit:
        if isinstance(x, (bool, np.bool_, str)):
            return number(x)
        return _array(np.asarray(x), lambda v: sig(v)) if isinstance(x, np.ndarray) else sig(x)
    u = _units()
    return quantity(u.ureg().Quantity(x, u.unit(unit) if isinstance(unit, str) else unit))


def _short_name(units) -> str:
    name = format(units, "~P")
    return _WORDS.get(name, name)


def quantity(q, keep_unit: bool = False) -> str:
    """A pint Quantity (or an llmcalc result) for people, by its dimension (module rules).
    ``keep_unit``: show it in its own unit (``2,921,341 s`` after ``result.to("s")``), not the best one."""
    m = q.magnitude
    if isinstance(m, (list, tuple)):
        m = np.asarray(m)
    units = q.units
    unit_text = format(units, "D")  # full names: "gibibyte", "gigabit / second", "dimensionless"
    if "GPU_hour" in unit_text:
        return count(q.to("GPU_hour").magnitude, "GPU-hour")
    dims = dict(q.dimensionality)
    if dims == {"[currency]": 1}:
        return money(q.to("USD").magnitude)
    if dims == {"[currency]": 1, "[time]": -1}:
        return money(q.to("USD/hour").magnitude, per="h")
    if dims == {"[currency]": 1, "[token]": -1}:
        return money(q.to("USD/ktoken").magnitude, per="1K tokens")

    def on(ladder, base):
        size = float(_units().ureg().Quantity(1.0, units).to(base).magnitude)
        return _on_ladder(m, size, ladder, _short_name(units), keep_unit)

    if dims == {"[time]": 1}:
        return on(_TIME, "second")
    if dims == {"[information]": 1}:
        if "bit" in unit_text and "byte" not in unit_text:
            return _plain(m, _short_name(units))
        return on(_BYTES_BINARY if "bibyte" in unit_text else _BYTES, "byte")
    if dims == {"[information]": 1, "[time]": -1}:
        if "bit" in unit_text and "byte" not in unit_text:
            return _plain(m, _short_name(units))
        return on(_BYTE_RATE, "byte/second")
    if dims == {"[computation]": 1, "[time]": -1}:
        return on(_FLOP_RATE, "FLOP/second")
    if dims == {"[computation]": 1}:
        flops = q.to("FLOP").magnitude
        one = lambda v: sci(v) if abs(v) >= 1e6 else sig(v)  # noqa: E731
        return (_array(flops, one) if isinstance(flops, np.ndarray) else one(flops)) + " FLOP"
    if dims == {"[token]": 1}:
        return count(q.to("token").magnitude, "token")
    if dims == {"[parameter]": 1}:
        return count(q.to("parameter").magnitude, "parameter")
    if dims == {"[token]": 1, "[time]": -1}:
        rate = q.to("token/second").magnitude
        return (_array(rate, _count_text) if isinstance(rate, np.ndarray) else _count_text(rate)) + " tokens/s"
    if unit_text == "GPU":
        return count(m, "GPU")
    if unit_text == "dimensionless":
        return _plain(m, "")
    return _plain(m, _short_name(units))


def _plain(m, unit_name: str) -> str:
    text = _array(m, sig) if isinstance(m, np.ndarray) else sig(m)
    return f"{text} {unit_name}".strip()
