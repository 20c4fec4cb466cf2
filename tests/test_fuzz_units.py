"""Fuzzing the unit-string parser (bad input).

Every string a user can type into a cell, a notebook or a query parameter reaches
:func:`llmcalc.units.parse_quantity` (numbers with units) or :func:`llmcalc.units.parse_unit_text`
(unit names, ``LLM_CONVERT``). For any string the parser must, in bounded time and memory, either
return a finite number in the expected unit or raise :class:`ArgumentError` naming the argument:
no hang, no other exception, no silent wrong number.

A parser bug can hang (big-integer arithmetic) or eat all memory, so the random strings are parsed
in a :class:`Sandbox`: a worker process with a memory cap, killed after a wall-clock limit. A
wrong answer then fails the test with the input instead of hanging or killing the test run.
``Sandbox`` is also used by ``test_fuzz_registry.py``.
"""
from __future__ import annotations

import math
import os
import re
import pickle
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from llmcalc.errors import ArgumentError
from llmcalc.units import parse_quantity

ROOT = Path(__file__).resolve().parents[1]
CALL_LIMIT_S = 1.0      # a parse or a registry call must finish within this (measured in the worker)
HARD_LIMIT_S = 3.0      # the worker is killed after this (a hang)
MEMORY_LIMIT = 1536 * 2**20  # address space of the worker

# ------------------------------------------------------------------------------------------
# The sandbox

_WORKER = r"""
import os, pickle, resource, struct, sys, time, traceback
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
import llmcalc
from llmcalc.errors import ArgumentError
from llmcalc.registry import REGISTRY
from llmcalc.units import parse_quantity, parse_unit_text, ureg
ureg()
inp, out = sys.stdin.buffer, sys.stdout.buffer
out.write(b"R")  # ready: imports done
out.flush()

def describe(r):
    if isinstance(r, str):
        return ("text", r)
    if isinstance(r, np.ndarray) and not hasattr(r, "units"):
        return ("count", np.asarray(r).tolist())
    if isinstance(r, (int, np.integer)):
        return ("count", int(r))
    m = r.magnitude
    return ("quantity", m.tolist() if isinstance(m, np.ndarray) else float(m), str(r.units),
            str(r.dimensionality))

def run(op, payload):
    if op == "parse":
        args, kwargs = payload
        return parse_quantity(*args, **kwargs)
    if op == "unit":
        return str(parse_unit_text(*payload))
    if op == "call":
        name, args, kwargs = payload
        return describe(REGISTRY[name](*args, **kwargs))
    if op == "sheet":
        name, args, kwargs = payload
        v = REGISTRY[name].sheet_value(*args, **kwargs)
        return v.tolist() if isinstance(v, np.ndarray) else v
    if op == "shape":  # the result's shape only (large results are not sent back)
        name, args, kwargs = payload
        return np.shape(REGISTRY[name].sheet_value(*args, **kwargs))
    raise ValueError(op)

while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    op, payload = pickle.loads(inp.read(struct.unpack("<I", head)[0]))
    t = time.perf_counter()
    try:
        res = ("ok", run(op, payload))
    except ArgumentError as e:
        res = ("ArgumentError", e.argument, str(e), type(e).__name__)
    except BaseException as e:  # noqa: BLE001 - reported to the test, which fails on it
        res = ("other", type(e).__name__, str(e)[:300], traceback.format_exc()[-3000:])
    data = pickle.dumps((res, time.perf_counter() - t))
    out.write(struct.pack("<I", len(data)) + data)
    out.flush()
"""


class Outcome:
    """What one sandboxed call did: ``kind`` is ok / ArgumentError / other / timeout / crashed."""

    def __init__(self, kind, detail, seconds):
        self.kind, self.detail, self.seconds = kind, detail, seconds

    @property
    def value(self):
        return self.detail[0]

    @property
    def argument(self):
        return self.detail[0] if self.kind == "ArgumentError" else None

    @property
    def message(self):
        return self.detail[1] if self.kind == "ArgumentError" else ""

    def __repr__(self):
        return f"Outcome({self.kind}, {self.detail!r}, {self.seconds:.3f} s)"


class Sandbox:
    """A worker process that runs parser/registry calls with a memory cap and a time limit."""

    def __init__(self, hard_limit_s: float = HARD_LIMIT_S, memory: int = MEMORY_LIMIT):
        self.hard_limit_s, self.memory = hard_limit_s, memory
        self.proc = None

    def _start(self):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(self.memory)], cwd=str(ROOT),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env)
        try:
            ready = self._read_exact(1, time.monotonic() + 60.0)
        except EOFError:
            ready = None
        if ready != b"R":
            self.close()
            raise RuntimeError("the sandbox worker did not start")

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        fd, buf = self.proc.stdout.fileno(), b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def run(self, op: str, payload) -> Outcome:
        """Run one call in the worker (started, or restarted after a hang or crash, as needed)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        data = pickle.dumps((op, payload))
        t0 = time.monotonic()
        deadline = t0 + self.hard_limit_s
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
            head = self._read_exact(4, deadline)
            body = head and self._read_exact(struct.unpack("<I", head)[0], deadline + 5.0)
        except (EOFError, BrokenPipeError):
            code = self.proc.wait()
            self.proc = None
            return Outcome("crashed", (f"worker died (exit code {code}; memory cap {self.memory >> 20} MiB)",),
                           time.monotonic() - t0)
        if not body:
            self.close()
            return Outcome("timeout", (f"no answer within {self.hard_limit_s:g} s",), time.monotonic() - t0)
        res, seconds = pickle.loads(body)
        return Outcome(res[0], res[1:], seconds)

    def parse(self, text, expected, *, argument="x", count=False) -> Outcome:
        return self.run("parse", ((text, argument, expected), {"allow_count_suffix": count}))

    def unit(self, text, argument="unit") -> Outcome:
        return self.run("unit", (text, argument))

    def call(self, function, /, *args, **kwargs) -> Outcome:
        return self.run("call", (function, args, kwargs))

    def sheet(self, function, /, *args, **kwargs) -> Outcome:
        return self.run("sheet", (function, args, kwargs))

    def shape(self, function, /, *args, **kwargs) -> Outcome:
        return self.run("shape", (function, args, kwargs))


def assert_bounded_clear(outcome: Outcome, argument: str, what) -> None:
    """The call returned or raised ArgumentError naming ``argument``, within CALL_LIMIT_S."""
    assert outcome.kind in ("ok", "ArgumentError"), f"{what}: {outcome!r}"
    assert outcome.seconds < CALL_LIMIT_S, f"{what}: took {outcome.seconds:.2f} s"
    if outcome.kind == "ArgumentError":
        assert outcome.argument == argument, f"{what}: error names {outcome.argument!r}, not {argument!r}"
        assert len(outcome.message) < 1000


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    assert box.parse("1 GB", "byte").kind == "ok"  # start the worker (imports) before timing calls
    yield box
    box.close()


# Fuzzing in the sandbox: no shrinking (a hang would cost HARD_LIMIT_S per shrink step); the
# failing input is printed as found.
FUZZ = settings(max_examples=300, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------
# Strategies

UNIT_ATOMS = ["B", "kB", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB", "bit", "b", "Gb", "Gbit", "Gbps",
              "GB/s", "TB/s", "s", "ms", "µs", "h", "hour", "day", "days", "week", "FLOP", "TFLOP", "FLOPs",
              "TFLOPS", "PFLOP/s", "token", "tokens", "parameter", "params", "USD", "GPU", "GPU-hour", "%",
              "percent", "kg", "m", "Hz", "W", "dimensionless", "zorkmid", "e", "E", "inf", "nan", "K", "B",
              "T", "billion", "per", "(", ")", "*", "/", "**", "^", "-", "+", "$", ".", ",", "_", " ",
              "dB", "Np", "dBm", "dBW", "octave", "oct", "decade", "neper", "decibel"]
NUMBER_TEXTS = ["0", "-0", "1", "-1", "0.5", ".5", "5.", "+5", "--5", "1e308", "1e309", "-1e309", "1e-400",
                "1e30", "1e31", "1_000", "1,000", "1,,0", "1e", "1e0001", "0x10", "1e-5", "3.14159",
                "99999999999999999999999999999999", "nan", "inf", "1e3", "2**3", "10**10**10"]
# Exponent expressions that make pint do big-number arithmetic if it evaluates them.
HUGE_POWERS = ["10**10**10", "9**9**9", "2**2**30", "10**1000", "B**10**30", "B**1e3", "s**99999",
               "(10**10)**10", "10^10^10", "B**-10**10", "GB**9**9", "B**10**3"]

unit_exprs = st.lists(st.sampled_from(UNIT_ATOMS + HUGE_POWERS + ["1", "2", "10", "1e3"]), min_size=0,
                      max_size=8).map(lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts))
structured = st.builds(lambda n, u, sep: f"{n}{sep}{u}", st.sampled_from(NUMBER_TEXTS) | st.floats().map(repr),
                       unit_exprs, st.sampled_from(["", " ", "  "]))
allowed_chars = st.text(alphabet="0123456789eE.,+-*/%$()_ µabBgGikKmMsStTpPhHdDyFLOPSU^", max_size=60)
any_text = st.text(max_size=120) | st.text(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=40)
user_strings = structured | allowed_chars | any_text | st.sampled_from(HUGE_POWERS).map(lambda s: "1 " + s)
EXPECTED = ["byte", "byte/second", "FLOP", "FLOP/second", "USD/hour", "day", "token", "parameter", ""]
LOG_WORD = re.compile(r"(?<![A-Za-z])(dB[mWu]?|Np|neper|decibel|octave|oct|decade)(?![A-Za-z])")

# ------------------------------------------------------------------------------------------
# Any string: a finite number or a clear error, in bounded time


@FUZZ
@given(text=user_strings, expected=st.sampled_from(EXPECTED), count=st.booleans())
def test_any_string_parses_or_names_the_argument(sandbox, text, expected, count):
    out = sandbox.parse(text, expected, count=count)
    assert_bounded_clear(out, "x", (text, expected, count))
    if out.kind == "ok":
        assert isinstance(out.value, float) and math.isfinite(out.value), (text, out)
        assert not LOG_WORD.search(text.split(" ", 1)[-1]), (text, out)  # never a logarithmic reading


@FUZZ
@given(text=unit_exprs | allowed_chars | any_text | st.sampled_from(HUGE_POWERS))
def test_any_unit_name_parses_or_names_the_argument(sandbox, text):
    out = sandbox.unit(text, "from_unit")
    assert_bounded_clear(out, "from_unit", text)


@pytest.mark.parametrize("text", ["1 10**10**10", "1 9**9**9 B", "1 GB*10**10**10", "1 2**2**30", "1 B**10**30",
                                  "1 B**1e3", "1 B**1e300", "1 GB**9**9", "1 B**10**3", "1e3 (10**10)**10 B"])
def test_huge_exponents_in_the_unit_are_refused_quickly(sandbox, text):
    """Regression: pint evaluates numbers and powers inside the unit text (big integers)."""
    out = sandbox.parse(text, "byte", argument="volume")
    assert out.kind == "ArgumentError" and out.argument == "volume", (text, out)
    assert out.seconds < 0.5, (text, out)


@pytest.mark.parametrize("text", ["10**10**10", "2**2**30", "B**10**30", "GB**9**9", "s**99999"])
def test_huge_exponents_in_a_unit_name_are_refused_quickly(sandbox, text):
    out = sandbox.unit(text, "from_unit")
    assert out.kind == "ArgumentError" and out.argument == "from_unit", (text, out)
    assert out.seconds < 0.5, (text, out)


# ------------------------------------------------------------------------------------------
# Known units: the right number (no silent wrong number)

BYTES = {"B": 1, "byte": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 2**10, "MiB": 2**20,
         "GiB": 2**30, "TiB": 2**40, "bit": 1 / 8, "Gb": 1e9 / 8, "Gbit": 1e9 / 8, "kb": 1e3 / 8}
RATES = {"B/s": 1, "GB/s": 1e9, "TB/s": 1e12, "Gb/s": 1e9 / 8, "Gbps": 1e9 / 8, "GiB/s": 2**30, "MB/ms": 1e9}
FLOP_RATES = {"FLOP/s": 1, "TFLOP/s": 1e12, "TFLOPS": 1e12, "PFLOP/s": 1e15, "GFLOPS": 1e9}
DAYS = {"day": 1, "days": 1, "d": 1, "h": 1 / 24, "hour": 1 / 24, "week": 7, "weeks": 7, "s": 1 / 86400}
PRICES = {"USD/hour": 1, "USD/h": 1, "USD/day": 1 / 24, "USD per hour": 1}
COUNT = {"": 1, "K": 1e3, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "billion": 1e9, "million": 1e6}
TABLES = [("byte", BYTES), ("byte/second", RATES), ("FLOP/second", FLOP_RATES), ("day", DAYS),
          ("USD/hour", PRICES)]
magnitudes = st.floats(1e-6, 1e15, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(x=magnitudes, table=st.sampled_from(TABLES), data=st.data(), sep=st.sampled_from([" ", ""]))
def test_known_units_give_the_right_number(x, table, data, sep):
    expected, units = table
    name = data.draw(st.sampled_from(sorted(units)))
    text = f"{x!r}{sep}{name}" if not name[0].isalpha() or sep else f"{x!r} {name}"
    if len(text) > 80:  # the parser's length limit
        return
    assert parse_quantity(text, "x", expected) == pytest.approx(x * units[name], rel=1e-12), text


@settings(max_examples=100, deadline=None)
@given(x=st.floats(1e-3, 1e3), suffix=st.sampled_from(sorted(COUNT)), unit=st.sampled_from(["", " tokens", " token"]))
def test_count_suffixes_give_the_right_number(x, suffix, unit):
    text = f"{x!r}{suffix}{unit}" if suffix in ("K", "k", "M", "B", "T", "") else f"{x!r} {suffix}{unit}"
    assert parse_quantity(text, "tokens", "token", allow_count_suffix=True) == pytest.approx(
        x * COUNT[suffix], rel=1e-12), text


@settings(max_examples=100, deadline=None)
@given(x=magnitudes, got=st.sampled_from(["s", "kg", "m", "FLOP", "token", "USD", "GB", "W", "Hz"]),
       expected=st.sampled_from(["byte", "day", "FLOP/second", "USD/hour", "token"]))
def test_wrong_dimension_is_an_error_not_a_number(x, got, expected):
    from llmcalc.units import unit as to_unit
    from llmcalc.units import ureg
    q = ureg().Quantity(1, to_unit(got))
    if q.dimensionality == ureg().Quantity(1, to_unit(expected)).dimensionality:
        return
    with pytest.raises(ArgumentError) as e:
        parse_quantity(f"{x!r} {got}", "x", expected)
    assert e.value.argument == "x"


@settings(max_examples=200, deadline=None)
@given(x=st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e300, 1.7e308, -1e308, 5e-324]),
       unit=st.sampled_from(["", " TB", " B", " bit"]))
def test_non_finite_and_overflowing_numbers_are_refused(x, unit):
    """A number that is, or overflows to, inf/NaN is an error; anything else is the exact value."""
    factor = {"": 1.0, " TB": 1e12, " B": 1.0, " bit": 0.125}[unit]
    text = f"{x!r}{unit}"
    try:
        got = parse_quantity(text, "x", "byte")
    except ArgumentError as e:
        assert e.argument == "x"
        assert not math.isfinite(x * factor), (text, str(e))
        return
    assert math.isfinite(got) and got == pytest.approx(x * factor, rel=1e-12), text


def test_parsing_is_fast_for_the_longest_accepted_input():
    text = "1" * 40 + " " + "G" * 3 + "B" + "/s" * 17
    t = time.perf_counter()
    for _ in range(50):
        try:
            parse_quantity(text[:80], "x", "byte/second")
        except ArgumentError:
            pass
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize("text,expected", [("1,000", 1e3), ("1,000,000", 1e6), ("12,345.5", 12345.5)])
def test_thousands_separators(text, expected):
    assert parse_quantity(text, "x", "") == expected


@pytest.mark.parametrize("text,decimal", [("1,5", 1.5), ("0,45", 0.45), ("12,5", 12.5), ("1,50", 1.5),
                                          ("1,0000", 1.0), ("1,50,000", None)])
def test_a_decimal_comma_is_never_read_as_a_thousands_separator(text, decimal):
    """Regression: "1,5 GB" (a decimal comma, as typed in most of Europe) was read as 15 GB. It must be
    refused, or read as the decimal it is; never silently multiplied by 10**k."""
    try:
        got = parse_quantity(text + " GB", "x", "byte")
    except ArgumentError as e:
        assert e.argument == "x"
        return
    assert decimal is not None and got == pytest.approx(decimal * 1e9), (text, got)


# ------------------------------------------------------------------------------------------
# Logarithmic units are refused (a decibel is no byte, parameter or dollar)


@pytest.mark.parametrize("text,expected,count", [
    ("1 B/dB", "byte", False), ("1 Np*B", "byte", False), ("$1 dB/h", "USD/hour", False),
    ("175 dB", "parameter", True), ("3 dBm", "", False), ("1 octave", "", False), ("2 decade", "", False),
    ("1 GB/oct", "byte", False), ("5 dB GB", "byte", False),
])
def test_logarithmic_units_are_refused_naming_the_argument(text, expected, count):
    """Regression: "175 dB" was read as 10^(175/10)/10 ≈ 220 parameters, and "1 B/dB" raised an
    AttributeError inside pint (an internal error with a traceback in the server log)."""
    with pytest.raises(ArgumentError) as e:
        parse_quantity(text, "volume", expected, allow_count_suffix=count)
    assert e.value.argument == "volume" and "logarithmic unit" in str(e.value), str(e.value)


def test_logarithmic_unit_names_and_quantities_are_refused():
    from llmcalc.units import parse_unit_text, quantity_magnitude, ureg
    for name in ("dB", "Np", "dBm", "octave", "GB/dB"):
        with pytest.raises(ArgumentError) as e:
            parse_unit_text(name, "from_unit")
        assert e.value.argument == "from_unit" and "logarithmic" in str(e.value)
    with pytest.raises(ArgumentError) as e:
        quantity_magnitude(ureg().Quantity(3, "dB"), "params", "", allow_dimensionless=True)
    assert e.value.argument == "params" and "logarithmic" in str(e.value)
    assert parse_unit_text("GiB", "to_unit") == ureg().Unit("GiB")       # linear units still read


def _numeric_arguments():
    import llmcalc.kinds as kinds
    from llmcalc.registry import REGISTRY

    from excel_fixtures import sample_args
    for fn in REGISTRY.values():
        args = sample_args(fn)
        for i, a in enumerate(fn.args):
            if isinstance(a.kind, kinds.Number) and i < len(args):
                yield pytest.param(fn, i, id=f"{fn.sheet_name}.{a.name}")


@pytest.mark.parametrize("fn,index", list(_numeric_arguments()))
def test_every_numeric_argument_refuses_a_logarithmic_unit(fn, index):
    """Every numeric argument of every function (regression: "1 B/dB", "1 Np*B", "$1 dB/h" gave an
    internal error, "175 dB" a silently wrong number)."""
    from excel_fixtures import sample_args
    for text in ("1 B/dB", "1 Np*B", "$1 dB/h", "175 dB"):
        args = list(sample_args(fn))
        args[index] = text
        with pytest.raises(ArgumentError) as e:
            fn.sheet_value(*args)
        assert e.value.argument == fn.args[index].name, (text, str(e.value))
        assert "logarithmic unit" in str(e.value), (text, str(e.value))


def test_params_175_db_is_an_error_not_220_parameters():
    import llmcalc
    with pytest.raises(ArgumentError) as e:
        llmcalc.train_days(params="175 dB", tokens=300e9, gpus=1024, gpu="A100")
    assert e.value.argument == "params" and "logarithmic" in str(e.value)


# ------------------------------------------------------------------------------------------
# The parse cost of one string, and of one request, is bounded


def test_a_unit_of_many_factors_is_refused_before_pint_sees_it():
    from llmcalc.units import MAX_UNIT_FACTORS
    text = "1 " + "*".join(["kB", "MB", "GiB", "ms", "s", "h", "TB", "KiB", "min"][:MAX_UNIT_FACTORS + 1])
    with pytest.raises(ArgumentError) as e:
        parse_quantity(text, "volume", "byte")
    assert e.value.argument == "volume" and f"at most {MAX_UNIT_FACTORS}" in str(e.value)
    ok = "1 " + "*".join(["kB", "MB", "GiB", "ms", "s", "h", "TB", "KiB"][:MAX_UNIT_FACTORS]) + "/" + "kB"
    assert len(ok.split()) == 2                                      # a shorter unit of that many factors…
    with pytest.raises(ArgumentError):                               # …is read (and here refused for its dimension)
        parse_quantity(ok, "volume", "byte")


def test_a_parse_budget_caps_the_distinct_unit_texts_of_one_request():
    """Distinct unit texts defeat the parse caches (regression: "1 kB*MB/GiB*ms/s" with variations cost
    ~25 s of CPU in one request). Within a budget, the first texts over it are refused naming the
    argument; cached texts cost nothing."""
    import itertools

    from llmcalc.units import parse_budget
    atoms = ["kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"]
    texts = [f"1 {a}*{b}/{c}" for a, b, c in itertools.product(atoms, atoms, ["ms", "s", "h"])][:60]
    parse_quantity("80 GiB", "x", "byte")                           # cached before the budget starts
    with parse_budget(50):
        for i, t in enumerate(texts):
            try:
                parse_quantity(t, f"arg{i}", "byte*byte/second")
            except ArgumentError as e:
                if "unit texts" in str(e):
                    assert i == 50 and e.argument == "arg50" and "at most 50" in str(e)
                    break
        else:
            pytest.fail("the 51st distinct unit text was read")
        assert parse_quantity("80 GiB", "x", "byte") == 80 * 2**30  # a cached text is still read
    parse_quantity(texts[55], "x", "byte*byte/second")               # outside the block: no budget
