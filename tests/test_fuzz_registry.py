"""Fuzzing every registry function and every argument (bad input, and the vectorised API).

* Any value in any argument (junk text, unicode, huge or non-finite numbers, wrong types, nested
  lists, huge exponent strings) gives, in bounded time, either a finite result in the function's
  unit or an :class:`ArgumentError` naming one of the function's arguments. These calls run in the
  memory- and time-capped worker of ``test_fuzz_units.Sandbox``, so a hang fails with its input.
* Values that are certainly wrong for an argument's kind (NaN, inf, zero or negative where the
  value must be > 0, over the maximum, wrong units, wrong types, a fraction over 1, unknown names)
  give an :class:`ArgumentError` naming *that* argument.
* Random good values give a finite result in the right unit, and ``sheet_value`` is its magnitude.
* Lists, 2-D ranges, NumPy arrays and pint Quantities with array magnitudes broadcast and equal
  the elementwise scalar calls.

The arguments of every function are read from the registry, so a new function is fuzzed without
editing this file; a valid base call is derived from the argument kinds (``BASE_BY_UNIT``), with a
few per-function values in ``OVERRIDES``.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

import llmcalc
from llmcalc.errors import ArgumentError
from llmcalc.registry import REGISTRY, Arg
from llmcalc.kinds import (Boolean, Choice, Fraction, GPURef, ModelOrParams, ModelRef, Number, ParamsRef, PlanRef,
                           RecomputeMode, Text)
from llmcalc.units import COUNT_SUFFIX
from llmcalc.units import unit as to_unit
from llmcalc.units import ureg
from test_fuzz_units import CALL_LIMIT_S, Sandbox

FUNCTIONS = sorted(REGISTRY)

# ------------------------------------------------------------------------------------------
# A valid call of every function, derived from the argument kinds

BASE_BY_UNIT = {"FLOP": 1e23, "FLOP/s": 3e14, "byte": 5e11, "byte/second": 2.5e10, "USD/hour": 2.5, "day": 30.0,
                "token": 2048, "parameter": 7e9, "GPU": 2, "": 4}
BASE_BY_NAME = {"from_unit": "GiB", "to_unit": "GB", "kind": "generated", "value": 1.5, "bytes_per_param": 20,
                "api_model": "gpt-4o"}
OVERRIDES = {  # (function, argument) -> value, where the unit alone does not give a sensible one
    ("params", "layers"): 32, ("params", "hidden"): 4096,
    ("chinchilla_params", "tokens"): 1.4e12, ("chinchilla_loss", "tokens"): 1.4e12,
    ("train_flops", "tokens"): 1e12, ("train_days", "tokens"): 1e12, ("train_gpus", "tokens"): 1e12,
    ("train_gpu_hours", "tokens"): 1e12, ("train_cost", "tokens"): 1e12,
    ("train_iteration_time", "plan"): "tp=2 dp=2", ("train_mfu", "plan"): "tp=2 dp=2",
    ("train_iteration_time", "recompute"): "selective", ("train_mfu", "recompute"): "selective",
    ("train_plan", "gpus"): 8,
}
GPUS = ["H100", "A100", "H200", "B200", "MI300X", "L40S", "A100-40GB", "TPU-v5p"]
MODELS = ["llama-2-7b", "llama-2-70b", "llama-3-8b", "mixtral-8x7b", "gpt-3", "deepseek-v3", "gemma-2-9b",
          "qwen2.5-7b", "falcon-40b"]


def base_value(fn, arg: Arg):
    key = (fn.name, arg.name)
    if key in OVERRIDES:
        return OVERRIDES[key]
    kind = arg.kind
    if isinstance(kind, GPURef):
        return "H100"
    if isinstance(kind, (ModelRef, ModelOrParams)):
        return "llama-2-7b"
    if isinstance(kind, ParamsRef):
        return 7e9
    if isinstance(kind, Fraction):
        return 0.5
    if isinstance(kind, Boolean):
        return True
    if arg.name in BASE_BY_NAME:
        return BASE_BY_NAME[arg.name]
    if isinstance(kind, Choice):
        return arg.default if arg.optional and arg.default is not None else kind.options[0]
    if isinstance(kind, Number):
        v = BASE_BY_UNIT.get(kind.unit, 4)
        v = min(max(v, kind.minimum + 1), kind.maximum)
        return int(v) if kind.integer else v
    if isinstance(kind, Text) and arg.optional:
        return arg.default
    raise AssertionError(f"no base value for {fn.name}({arg.name}: {type(kind).__name__}); add it to OVERRIDES")


def base_call(fn) -> dict:
    """Required arguments only (optional ones keep their defaults)."""
    return {a.name: base_value(fn, a) for a in fn.args if not a.optional}


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox()
    assert box.call("weights_gb", 7e9).kind == "ok"
    yield box
    box.close()


def check_result(fn, result, what):
    """A finite value in the function's declared unit (counts: whole numbers ≥ 0; text: a str)."""
    if fn.result == "text" or isinstance(result, str):
        assert isinstance(result, str) and result, what
        return
    if fn.result == "count":
        values = np.atleast_1d(np.asarray(result))
        assert values.dtype.kind in "iu" and np.all(values >= 0), (what, result)
        return
    mag = np.asarray(result.magnitude, dtype=float)
    assert np.all(np.isfinite(mag)), (what, result)
    if fn.unit:
        assert result.units == to_unit(fn.unit), (what, result.units, fn.unit)
    elif fn.result == "number" and fn.name not in ("gpu", "model", "convert"):
        assert result.dimensionless, (what, result)


def test_every_function_has_a_valid_base_call():
    for name in FUNCTIONS:
        fn = REGISTRY[name]
        kwargs = base_call(fn)
        check_result(fn, fn(**kwargs), (name, kwargs))


# ------------------------------------------------------------------------------------------
# Strategies

JUNK = [float("nan"), float("inf"), -float("inf"), 0, -0.0, -1, 1e308, -1e308, 5e-324, 10**400, -(10**400),
        True, False, None, "", " ", "\t\n", "NaN", "inf", "-inf", "1e999", "1e-999", "10**10**10", "1 10**10**10",
        "1 B**10**30", "2**2**30", "9" * 400, "x" * 5000, "é中文🙂", "\x00", "'; DROP TABLE", "__import__('os')",
        "../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini", "nope.json", "5 kg", "5 zorkmids", "$", "%",
        "1,5 GB", "0x10", "1e3e3", [], [[]], [[], []], [1.0, float("nan")], [[1.0, 2.0], [3.0]], [[[1.0]]],
        ["7B", "x"], [None, 1.0], {}, {"a": 1}, set(), b"12", bytearray(b"1"), 3 + 4j, object(), Ellipsis,
        range(3), np.float64("nan"), np.array([]), np.array([[1.0, 2.0]]), np.int64(-5), np.bool_(True),
        np.array(["a", "b"]), np.zeros((2, 0))]
junk = (st.sampled_from(JUNK) | st.text(max_size=100) | st.floats() | st.integers(-(10**40), 10**40)
        | st.lists(st.floats() | st.text(max_size=10) | st.none(), max_size=4))


def _units_of_other_dimension(unit_name: str) -> list[str]:
    mine = ureg().Quantity(1, to_unit(unit_name)).dimensionality if unit_name else None
    out = []
    for u in ["kg", "s", "m", "W", "FLOP/s", "GB", "USD", "FLOP", "GB/s", "day", "USD/hour"]:
        q = ureg().Quantity(1, to_unit(u))
        if (mine is None and not q.dimensionless) or (mine is not None and q.dimensionality != mine):
            out.append(u)
    return out


def certainly_bad(fn, arg: Arg) -> list:
    """Values that are wrong for this argument's kind, whatever the other arguments are."""
    kind = arg.kind
    bad = [{}, b"12", 3 + 4j, object()]
    if not arg.optional:
        bad += [None]
        if not isinstance(kind, Text):
            bad += [""]
    if isinstance(kind, Text):
        return bad + [5, 5.0, True, "x" * (kind.max_len + 1)]
    if isinstance(kind, Boolean):
        return bad + ["maybe", 2, -1, 0.5, float("nan"), "10**10**10", [True, False]]
    if isinstance(kind, RecomputeMode):
        return bad + ["maybe", 2, -1, 0.5, float("nan"), "10**10**10", ["full"], "x" * 300]
    if isinstance(kind, PlanRef):
        return bad + [5, 2.5, True, "tp=0", "tp=-8", "tp=1e9999", "pp=2.5", "tp=8 tp=4", "foo=3", "tp 8", "x" * 300,
                      "é中文", "tp=10**10**10", ["tp=8"]]
    if isinstance(kind, Choice):
        return bad + ["fp7", "no-such-option", 5, 2.5, "10**10**10", "é中文", [kind.options[0]]]
    if isinstance(kind, GPURef):
        return bad + ["no-such-gpu", "x" * 101, 5, 2.5, float("nan"), True, "10**10**10", "é中文", ["H100", "A100"]]
    if isinstance(kind, (ModelRef, ModelOrParams)):
        bad += ["no-such-model", "x" * 401, "/nonexistent/config.json", "é中文", float("nan"), float("inf"), True,
                ["llama-2-7b"], "10**10**10"]
        if isinstance(kind, ModelOrParams):
            bad += [0, -1, "1 kg", 1e31]
        return bad
    if isinstance(kind, Number):
        bad += [float("nan"), float("inf"), -float("inf"), "nan", "inf", "1e999", True, False,
                "10**10**10", "1 10**10**10", "1 B**10**30", "é中文", "5 zorkmids", np.float64("nan")]
        if kind.minimum >= 0:
            bad += [-1, -1e9, "-5"]
            if kind.strict:
                bad += [kind.minimum, str(kind.minimum)]
        if kind.maximum < 1e300:
            bad += [kind.maximum * 10 + 10, 1e308, 10**400]
        if kind.integer:
            bad += [max(kind.minimum, 0) + 1.5]
        if isinstance(kind, Fraction):
            bad += [1.5, 101, "150%"]
        if isinstance(kind, ParamsRef):
            bad += ["no-such-model", "x" * 401]
        unit_name = kind.unit
        for u in _units_of_other_dimension(unit_name):
            if isinstance(kind, Fraction) and kind.rate_unit and \
                    ureg().Quantity(1, to_unit(u)).dimensionality == ureg().Quantity(1, to_unit(kind.rate_unit)).dimensionality:
                continue
            if kind.count and (u in COUNT_SUFFIX or ureg().Quantity(1, to_unit(u)).dimensionless):
                continue  # "5 m" is 5 million tokens
            bad.append(f"5 {u}")
        if kind.vector:
            good = base_value(fn, arg) if not arg.optional else (arg.default if arg.default is not None else 1)
            bad += [[good, float("nan")], [good, "é中文"], [good, None], []]
        else:
            bad += [[1, 2]]
        return bad
    raise AssertionError(f"no bad values for {type(kind).__name__}")


# Sandboxed fuzzing: no shrinking (a hang would cost the hard limit per shrink step).
FUZZ = settings(max_examples=60, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _outcome_is_clear(fn, out, arg_names, what):
    what = repr(what)[:300]
    assert out.kind in ("ok", "ArgumentError"), f"{what}: {out!r}"
    assert out.seconds < CALL_LIMIT_S, f"{what}: took {out.seconds:.2f} s"
    if out.kind == "ArgumentError":
        assert out.argument in arg_names, f"{what}: the error names {out.argument!r}: {out.message}"
        assert out.message, what
    else:
        value = out.value
        if value[0] == "quantity":
            mags = np.asarray(value[1], dtype=float)
            assert np.all(np.isfinite(mags)), f"{what}: {out!r}"
            if fn.unit:
                assert value[2] == str(to_unit(fn.unit)), f"{what}: unit {value[2]} is not {fn.unit}"


@pytest.mark.parametrize("name", FUNCTIONS)
@FUZZ
@given(data=st.data())
def test_any_value_in_any_argument_is_a_result_or_a_clear_error(sandbox, name, data):
    fn = REGISTRY[name]
    arg = data.draw(st.sampled_from(fn.args), label="argument")
    value = data.draw(junk, label="value")
    kwargs = base_call(fn)
    kwargs[arg.name] = value
    out = sandbox.call(name, **kwargs)
    _outcome_is_clear(fn, out, [a.name for a in fn.args], (name, arg.name, value))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_certainly_bad_values_name_their_argument(sandbox, name):
    fn = REGISTRY[name]
    failures = []
    for arg in fn.args:
        for value in certainly_bad(fn, arg):
            kwargs = base_call(fn)
            kwargs[arg.name] = value
            out = sandbox.call(name, **kwargs)
            if not (out.kind == "ArgumentError" and out.argument == arg.name and out.seconds < CALL_LIMIT_S):
                failures.append(f"{name}({arg.name}={value!r:.60}) -> {out!r:.300}")
    assert not failures, "\n".join(failures)


def test_error_messages_stay_short_for_long_input(sandbox):
    """A 5,000-character input is not echoed back whole (cells, logs and HTTP answers stay small)."""
    long_text = "x" * 5000
    too_long = {}
    for name in FUNCTIONS:
        fn = REGISTRY[name]
        for arg in fn.args:
            out = sandbox.call(name, **dict(base_call(fn), **{arg.name: long_text}))
            assert out.kind == "ArgumentError" and out.argument == arg.name, (name, arg.name, repr(out)[:300])
            if len(out.message) >= 600:
                too_long.setdefault(f"{type(arg.kind).__name__} argument {arg.name!r}", []).append(
                    f"{name} ({len(out.message)} characters)")
    assert not too_long, "errors that echo the whole input:\n" + "\n".join(
        f"  {k}: {', '.join(v[:3])}{' …' if len(v) > 3 else ''}" for k, v in too_long.items())


def test_positional_and_keyword_mistakes_are_clear(sandbox):
    for name in FUNCTIONS:
        fn = REGISTRY[name]
        kwargs = base_call(fn)
        args = [kwargs.get(a.name, a.default) for a in fn.args]
        out = sandbox.call(name, *args, None)  # one argument too many
        assert out.kind == "ArgumentError", (name, out)
        out = sandbox.call(name, **kwargs, no_such_argument=1)
        assert out.kind == "ArgumentError" and out.argument == "no_such_argument", (name, out)
        if fn.args:
            first = fn.args[0]
            out = sandbox.call(name, kwargs.get(first.name, first.default), **{first.name: kwargs.get(first.name, 1)})
            assert out.kind == "ArgumentError" and out.argument == first.name, (name, out)


# ------------------------------------------------------------------------------------------
# Good values: finite results in the right unit


def good_value(fn, arg: Arg):
    """A strategy of valid values for one argument, around its base value."""
    kind = arg.kind
    if isinstance(kind, GPURef):
        return st.sampled_from(GPUS)
    if isinstance(kind, ModelOrParams):
        return st.sampled_from(MODELS)
    if isinstance(kind, ModelRef):
        return st.sampled_from(MODELS)
    if isinstance(kind, Fraction):
        return st.floats(0.05, 1.0)
    if isinstance(kind, Boolean):
        return st.booleans()
    if isinstance(kind, PlanRef):
        return st.sampled_from(["tp=2 dp=2", "tp=1 dp=4", "tp=2 pp=2", "dp=4 zero=3", "tp=4 mb=1"])
    if isinstance(kind, RecomputeMode):
        return st.sampled_from(["full", "selective", "none", "auto", True, False])
    if isinstance(kind, Choice):
        return st.sampled_from([o for o in kind.options if o not in ("fp4", "int4", "tf32", "fp32", "int8", "fp8")]
                               or kind.options)
    if isinstance(kind, Text):
        return st.just(base_value(fn, arg) if not arg.optional else arg.default)
    if isinstance(kind, Number):
        base = base_value(fn, arg) if not arg.optional or arg.default is None else arg.default
        if isinstance(base, str) or base is None:
            return st.just(base)
        if arg.name == "zero" or (kind.maximum <= 10 and kind.integer):
            return st.integers(int(max(kind.minimum, 0)), int(kind.maximum))
        base = float(base) if base else 1.0

        def scale(e, b=base, k=kind):
            v = min(max(b * 10**e, k.minimum if not k.strict else k.minimum + 1e-9), k.maximum)
            if k.integer:
                v = max(round(v), int(k.minimum) + (1 if k.strict else 0))
            return v
        return st.floats(-1.0, 1.0).map(scale)
    raise AssertionError(type(kind).__name__)


# Errors a valid combination of values may rightly give (a model too big for the GPUs, a deadline
# too short, a dtype the GPU has no peak for); each names an argument.
FEASIBILITY = re.compile(r"too little time|does not fit|do not fit|not fit|no published|no price|"
                         r"needs mfu=|≤ the peak|larger than|exceeds|at most|not enough|too small|"
                         r"leaves no|fits no|cannot hold|is less than|more than|whole number|finite|cannot be split|"
                         r"cannot be met")


@pytest.mark.parametrize("name", FUNCTIONS)
@settings(max_examples=25, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_good_values_give_finite_results_in_the_right_unit(name, data):
    fn = REGISTRY[name]
    kwargs = base_call(fn)
    for arg in fn.args:
        if arg.name in kwargs or isinstance(arg.kind, (Number, Boolean)) and data.draw(st.booleans()):
            if isinstance(arg.kind, Text):
                continue
            kwargs[arg.name] = data.draw(good_value(fn, arg), label=arg.name)
    try:
        result = fn(**kwargs)
    except ArgumentError as e:
        assert e.argument in [a.name for a in fn.args], (kwargs, e)
        assert FEASIBILITY.search(str(e)), f"valid values refused: {name}({kwargs}): {e}"
        return
    check_result(fn, result, (name, kwargs))
    sheet = fn.sheet_value(**kwargs)
    if isinstance(result, str):
        assert sheet == result
    elif fn.result == "count":
        assert int(sheet) == int(result)
    else:
        assert float(sheet) == pytest.approx(float(result.magnitude), rel=1e-12)


# ------------------------------------------------------------------------------------------
# Vectorised calls equal elementwise scalar calls


def vector_args(fn) -> list[Arg]:
    return [a for a in fn.args if isinstance(a.kind, Number) and a.kind.vector]


VECTOR_FUNCTIONS = [n for n in FUNCTIONS if vector_args(REGISTRY[n])]


def _scalar(fn, kwargs):
    try:
        r = fn(**kwargs)
    except ArgumentError as e:
        return e
    return float(r) if fn.result == "count" else float(r.magnitude)


@pytest.mark.parametrize("name", VECTOR_FUNCTIONS)
@settings(max_examples=15, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lists_and_arrays_equal_elementwise_calls(name, data):
    fn = REGISTRY[name]
    arg = data.draw(st.sampled_from(vector_args(fn)), label="argument")
    values = data.draw(st.lists(good_value(fn, arg), min_size=1, max_size=5), label="values")
    kwargs = base_call(fn)
    expected = [_scalar(fn, dict(kwargs, **{arg.name: v})) for v in values]
    if any(isinstance(e, ArgumentError) for e in expected):
        # One bad element: the whole range is refused, naming the same argument.
        with pytest.raises(ArgumentError) as err:
            fn(**dict(kwargs, **{arg.name: values}))
        assert err.value.argument in [a.name for a in fn.args]
        return
    form = data.draw(st.sampled_from(["list", "array", "column", "quantity", "strings"]), label="form")
    if form == "list":
        given_ = values
    elif form == "array":
        given_ = np.array(values, dtype=float)
    elif form == "column":
        given_ = [[v] for v in values]
    elif form == "quantity":
        u = arg.kind.unit
        given_ = ureg().Quantity(np.array(values, dtype=float), to_unit(u) if u else "")
    else:
        u = arg.kind.unit
        given_ = [f"{v!r} {u}" if u and not arg.kind.count else repr(float(v)) for v in values]
    result = fn(**dict(kwargs, **{arg.name: given_}))
    got = np.asarray(result if fn.result == "count" else result.magnitude, dtype=float)
    if form == "column":
        assert got.shape == (len(values), 1), got.shape
    got = got.ravel()
    assert got.shape == (len(values),)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if fn.result != "count":
        assert result.units == to_unit(fn.unit) or not fn.unit
    sheet = np.asarray(fn.sheet_value(**dict(kwargs, **{arg.name: given_})), dtype=float).ravel()
    np.testing.assert_allclose(sheet, expected, rtol=1e-12)


@pytest.mark.parametrize("name", [n for n in VECTOR_FUNCTIONS if len(vector_args(REGISTRY[n])) >= 2])
def test_a_row_and_a_column_broadcast_to_a_grid(name):
    """Spreadsheet ranges: a column of one argument against a row of another gives a table."""
    fn = REGISTRY[name]
    a, b = vector_args(fn)[:2]
    kwargs = base_call(fn)
    va = [base_value(fn, a) if not a.optional or a.default is None else a.default] * 3
    vb = [base_value(fn, b) if not b.optional or b.default is None else b.default] * 2
    va = [_bump(a, v, i) for i, v in enumerate(va)]
    vb = [_bump(b, v, i) for i, v in enumerate(vb)]
    grid = fn(**dict(kwargs, **{a.name: [[v] for v in va], b.name: [vb]}))
    got = np.asarray(grid if fn.result == "count" else grid.magnitude, dtype=float)
    assert got.shape == (3, 2)
    for i, x in enumerate(va):
        for j, y in enumerate(vb):
            want = _scalar(fn, dict(kwargs, **{a.name: x, b.name: y}))
            assert not isinstance(want, ArgumentError), want
            assert got[i, j] == pytest.approx(want, rel=1e-12)


def _bump(arg, v, i):
    kind = arg.kind
    if isinstance(v, str):
        return v
    v = float(v) if v else 1.0
    x = v * (1 + 0.5 * i) if not isinstance(kind, Fraction) else min(1.0, v * (0.5 + 0.25 * i))
    x = min(x, kind.maximum)
    return max(round(x), 1) if kind.integer else x


@pytest.mark.parametrize("n", [5_000, 50_000])
def test_a_row_times_a_column_cannot_ask_for_an_unbounded_result(sandbox, n):
    """Each input is far under the 10-million-value limit, but a column of n against a row of n
    broadcasts to n² results (n = 50,000: 2.5e9 values, 18.6 GiB). The result size must be checked
    before computing: an ArgumentError naming an argument, quickly, without allocating it. (In the
    capped worker an attempt to allocate shows up as MemoryError instead of exhausting the host.)"""
    import numpy as np
    col = np.linspace(1e9, 1e12, n).reshape(-1, 1)
    row = np.linspace(1e10, 1e13, n).reshape(1, -1)
    out = sandbox.shape("train_days", col, row, 1024, "A100")
    assert out.kind == "ArgumentError" and out.argument in ("params", "tokens"), repr(out)[:300]
    assert out.seconds < CALL_LIMIT_S, out


def test_mismatched_ranges_are_a_clear_error():
    with pytest.raises(ArgumentError) as e:
        llmcalc.train_days([175e9, 70e9, 7e9], [300e9, 1e12], 1024, "A100")
    assert e.value.argument in ("params", "tokens")


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 2000))
def test_large_vectors_are_fast_and_match(n):
    p = np.linspace(1e9, 1e12, n)
    r = llmcalc.train_days(p, 300e9, 1024, "A100")
    np.testing.assert_allclose(r.magnitude, 8 * p * 300e9 / (1024 * 312e12 * 0.45) / 86400, rtol=1e-12)
