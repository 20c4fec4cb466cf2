"""Cell values in, cell values out: the one bridge between spreadsheet calls and the registry.

No formula lives here. A call names a registry function by its spreadsheet name and passes
positional and/or named arguments as spreadsheets send them (numbers, strings, booleans, empty,
or 1-/2-D lists for ranges); :func:`prepare` checks the request limits and counts the call's cells
(before anything is computed, so a whole request can be weighed against its budget first),
:func:`compute` calls ``Function.sheet_value`` and turns the value into JSON (a NumPy array becomes
nested lists, keeping a column a column). Every failure becomes a :class:`CallFailure` with the
spreadsheet error code (``#VALUE!`` for bad input, naming the argument; ``#NUM!`` for a result
that is not a finite number; ``#NAME?`` for an unknown function) and the HTTP status the
plain-text endpoint answers.
"""
from __future__ import annotations

import logging
import math
import re
import uuid
from dataclasses import dataclass

import numpy as np

from llmcalc.errors import ArgumentError, LLMCalcError, NonFiniteResultError, UnknownNameError
from llmcalc.registry import Function, lookup

log = logging.getLogger("llmcalc.server")

VALUE, NA, NUM, NAME = "#VALUE!", "#N/A", "#NUM!", "#NAME?"

MAX_MESSAGE = 1000           # characters of one error message (they quote the input they refuse)
# JSON bytes one result cell can take ("-1.2345678901234567e-308" and a separator or bracket),
# and one call's wrapper or error message: a request's answer is at most the sum, known before
# computing (text results are checked again as the answer is written).
CELL_BYTES = 28
CALL_BYTES = 64 + 2 * MAX_MESSAGE


@dataclass(frozen=True)
class Limits:
    """Request limits and per-request budgets. The defaults fit a large
    workbook recalculation; a request over a budget is refused whole, before any computing."""

    max_body_bytes: int = 2_000_000     # one request body
    max_batch: int = 1000               # calls in one POST /api/v1/batch
    max_values: int = 100_000           # cells in one call's arguments, and in its result
    max_string: int = 400               # characters in one string argument
    max_request_cells: int = 200_000    # cells in all the arguments of one request, and in all its results
    max_response_bytes: int = 8_000_000  # one answer (CALL_BYTES per call + CELL_BYTES per result cell at most)
    max_unit_texts: int = 200           # different unit texts one request may make the server parse
    call_timeout_s: float = 10.0        # wall-clock seconds for one call (its worker process is then ended)
    header_timeout_s: float = 10.0      # to receive a request's headers
    body_timeout_s: float = 20.0        # to receive a request's body


_SURROGATES = re.compile("[\ud800-\udfff]")


def safe_text(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as it can always be encoded (lone surrogates become U+FFFD) and at most ``limit`` characters."""
    text = _SURROGATES.sub("\ufffd", str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CallFailure(Exception):
    """A call that cannot give a value: spreadsheet ``code``, ``message``, HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400, argument: str | None = None):
        message = safe_text(message)
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.argument = safe_text(argument, 100) if argument else None

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.argument:
            out["argument"] = self.argument
        return out


def find_function(name: str) -> Function:
    """The registry function with this spreadsheet name (or any name :func:`llmcalc.registry.lookup`
    accepts), else 404 / ``#NAME?`` with suggestions in spreadsheet names."""
    try:
        return lookup(name, "sheet")
    except UnknownNameError as exc:
        hint = (f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions
                else "; GET /api/v1/functions lists them")
        raise CallFailure(NAME, f"unknown function {exc.name!r}{hint}", status=404) from None
    except LLMCalcError as exc:
        raise CallFailure(NAME, str(exc), status=404) from None


def _count_and_check(value, name: str, limits: Limits, depth: int = 0) -> int:
    """Cells in one argument; rejects nesting deeper than a 2-D range, ragged rows, long strings
    and file paths (a model argument ending in .json would read a file on the server)."""
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            raise ArgumentError(name, "must be a value or a 1-D/2-D range, not a deeper nesting of lists")
        if depth == 0 and value and all(isinstance(v, (list, tuple)) for v in value):
            if len({len(v) for v in value}) > 1:
                raise ArgumentError(name, "is a range whose rows have different lengths")
        return sum(_count_and_check(v, name, limits, depth + 1) for v in value)
    if isinstance(value, str):
        if len(value) > limits.max_string:
            raise ArgumentError(name, f"is too long ({len(value)} characters; at most {limits.max_string})")
        if value.strip().lower().endswith(".json"):
            raise ArgumentError(name, "file paths are not accepted by the server; give a catalog name "
                                "(GET /api/v1/functions lists the functions, LLM_MODEL/LLM_GPU the catalog)")
        return 1
    if isinstance(value, float) and not math.isfinite(value):
        raise ArgumentError(name, f"must be a finite number, got {value}")
    return 1


def single_cell(value):
    """A 1x1 range is the value itself (Excel passes a single cell to a matrix parameter as [[x]]);
    any other range keeps its shape, so a row stays a row and a column a column."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        inner = value[0]
        if not isinstance(inner, (list, tuple)):
            return inner
        if len(inner) == 1 and not isinstance(inner[0], (list, tuple)):
            return inner[0]
    return value


def _refuse_files(fn: Function, name: str, value) -> None:
    """An argument whose kind opens files (``reads_files``, e.g. a GPU profile) is refused: through
    the server it would let any caller probe the server's files."""
    spec = next((a for a in fn.args if a.name == name), None)
    if spec is None or value is None or value == "":
        return
    if spec.kind.reads_files:
        raise ArgumentError(name, "names a file, which the server does not open; leave it empty "
                                  "(the server uses its own GPU profiles)")


def _result_cells(args: list, kwargs: dict) -> int:
    """Cells of the result: the broadcast size of the range arguments (1 for single values)."""
    shapes = []
    for v in [*args, *kwargs.values()]:
        if isinstance(v, (list, tuple)):
            try:
                shapes.append(np.shape(v))
            except ValueError:  # ragged: the registry reports it, naming the argument
                continue
    try:
        return math.prod(np.broadcast_shapes(*shapes)) if shapes else 1
    except ValueError:  # shapes that do not fit: the registry reports it, naming the argument
        return 1


@dataclass
class Prepared:
    """One checked call, ready to compute: its function, arguments and cell counts."""

    fn: Function
    args: list
    kwargs: dict
    cells_in: int
    cells_out: int


def prepare(name: str, args: list | None, kwargs: dict | None, limits: Limits) -> Prepared:
    """Check one call against the per-call limits and count its cells, computing nothing."""
    fn = find_function(name)
    names = [a.name for a in fn.args]
    try:
        total = 0
        out_args = []
        for i, v in enumerate(args or []):
            arg = names[i] if i < len(names) else f"#{i + 1}"
            total += _count_and_check(v, arg, limits)
            _refuse_files(fn, arg, v)
            out_args.append(single_cell(v))
        out_kwargs = {}
        for k, v in (kwargs or {}).items():
            total += _count_and_check(v, k, limits)
            _refuse_files(fn, k, v)
            out_kwargs[k] = single_cell(v)
    except ArgumentError as exc:
        raise failure_from(exc, fn) from None
    cells = _result_cells(out_args, out_kwargs)
    if cells > limits.max_values:  # a column against a row gives rows × columns results
        raise CallFailure(VALUE, f"the ranges given make {cells:,} result cells; at most {limits.max_values:,} per call",
                          status=413)
    if total > limits.max_values:
        raise CallFailure(VALUE, f"the arguments hold {total} cells; at most {limits.max_values} per call",
                          status=413)
    return Prepared(fn, out_args, out_kwargs, total, cells)


def to_json_value(value):
    """A registry sheet value as JSON: float/int/str, or nested lists for an array."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise CallFailure(NUM, "the result is not a finite number (inputs out of range)")
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise CallFailure(NUM, "the result is not a finite number (inputs out of range)")
    return value


def failure_from(exc: BaseException, fn: Function | None = None) -> CallFailure:
    """Map an exception from the registry to a spreadsheet error (never a server error)."""
    if isinstance(exc, CallFailure):
        return exc
    if isinstance(exc, ArgumentError):
        code = NUM if isinstance(exc, NonFiniteResultError) else VALUE
        return CallFailure(code, str(exc), status=400, argument=exc.argument)
    if isinstance(exc, LLMCalcError):
        return CallFailure(VALUE, str(exc), status=400)
    if isinstance(exc, (OverflowError, FloatingPointError, ZeroDivisionError)):
        return CallFailure(NUM, f"the result is out of range ({exc})", status=400)
    # Anything else is a bug, not the user's fault: log it with an id, answer without a 500.
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s in %s", incident, fn.sheet_name if fn else "?", exc_info=exc)
    return CallFailure(VALUE, f"llmcalc could not compute this input (internal error {incident}; "
                       "the server log has the details)", status=422)


def compute(call: Prepared):
    """The JSON value of a prepared call, or raises :class:`CallFailure`."""
    try:
        return to_json_value(call.fn.sheet_value(*call.args, **call.kwargs))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a cell error
        raise failure_from(exc, call.fn) from None


def run_call(name: str, args: list | None = None, kwargs: dict | None = None,
             limits: Limits = Limits()):
    """Compute one call; returns the JSON value or raises :class:`CallFailure`."""
    return compute(prepare(name, args, kwargs, limits))


def explain(call: Prepared) -> dict:
    """The registry's explanation of a prepared call (formula, inputs, steps, sources), for the task pane."""
    try:
        return call.fn.explain(*call.args, **call.kwargs).to_dict()
    except Exception as exc:  # noqa: BLE001 - every failure becomes an error answer
        raise failure_from(exc, call.fn) from None


def format_plain(value) -> str:
    """The plain-text endpoint's body: shortest exact float, integer, text; a 1-D array one value a
    line, a 2-D array tab-separated rows."""
    def one(v):
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, float):
            return repr(v) if v != int(v) or abs(v) >= 1e16 else str(int(v))
        return str(v)

    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return "\n".join("\t".join(one(v) for v in row) for row in value)
        return "\n".join(one(v) for v in value)
    return one(value)
