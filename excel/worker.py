"""What runs in a worker process: read one request, check it against its budgets, compute it and
write the answer's bytes (:mod:`llmcalc.excel.runner` starts and feeds these processes, and ends
one that does not answer in time).

Everything costly about a request happens here, off the server's event loop and outside its
process: parsing and validating the JSON body, the per-request budgets (refused whole, before
anything is computed), computing, and encoding the answer. The server only moves bytes.

Time limits: each call gets ``Limits.call_timeout_s`` (a POSIX interval timer interrupts it:
:func:`time_limit`); it then answers ``#N/A`` and the batch goes on. After ``BATCH_TIMEOUTS``
such calls, or ``BATCH_TIMEOUTS × call_timeout_s`` for the batch, the calls not yet computed
answer ``#N/A`` (busy). A worker that had a call interrupted exits after the job (a fresh one
takes its place), and one stuck where the timer cannot interrupt it is ended by the server.

The protocol, over a socket pair, is frames of one tag byte, a 4-byte length and a payload:

* to the worker: ``J`` a job, ``(route, payload, first, light)`` pickled, where route is
  ``batch`` / ``explain`` (payload: the request body) or ``plain`` (payload: the function name and
  the query's (name, value) pairs), and ``first`` is the first call of a batch to compute (the
  server resumes a batch after a call that made it end the worker);
* from the worker: ``W`` ready; ``A`` a batch was accepted (its number of calls), then one ``R``
  per call, in order, holding the call's JSON result (``{"value":…}`` or ``{"error":…}``), sent
  together at least every ``FLUSH_S``; or ``F`` a whole answer ``(status, media type, body)``: a
  refused request, an explanation, a plain-text value; or ``H``: a light worker found the request
  heavy, send it to the heavy lane.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import struct
import time

from pydantic import ValidationError

from llmcalc.units import parse_budget

from . import compute
from .compute import CALL_BYTES, CELL_BYTES, NA, VALUE, CallFailure, Limits, Prepared
from .schemas import BatchRequest, ExplainRequest, validation_message

HEAD = struct.Struct("<cI")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
# A request above either of these goes to the heavy lane (fewer, lower-priority processes), so
# that a few large requests cannot hold up the small ones.
HEAVY_BODY_BYTES = 256_000
HEAVY_CELLS = 20_000
BATCH_TIMEOUTS = 3
SOFT_LIMITS = hasattr(signal, "setitimer")  # POSIX; elsewhere the server ends a late worker
FLUSH_S = 0.005 if SOFT_LIMITS else 0.0     # without soft limits the server must see every call end


def frame(tag: bytes, payload: bytes) -> bytes:
    return HEAD.pack(tag, len(payload)) + payload


def read_frame(stream) -> tuple[bytes, bytes]:
    """One frame from a binary file object; raises EOFError when the other side is gone."""
    head = stream.read(HEAD.size)
    if len(head) < HEAD.size:
        raise EOFError
    tag, size = HEAD.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return tag, payload


_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # one encoder (json.dumps makes one a call)


def dumps(value) -> bytes:
    """Compact JSON; non-ASCII escaped, so any text (even an unpaired surrogate) encodes."""
    return _JSON.encode(value).encode("ascii")


def failure_answer(failure: CallFailure, plain: bool) -> tuple:
    """(status, media type, body) for a failure: text for the plain-text endpoint, else JSON."""
    if plain:
        return failure.status, TEXT_TYPE, failure.message.encode("utf-8")
    return failure.status, JSON_TYPE, dumps({"error": failure.to_dict()})


def error_answer(status: int, code: str, message: str, plain: bool) -> tuple:
    return failure_answer(CallFailure(code, message, status=status), plain)


def timeout_failure(limits: Limits) -> CallFailure:
    return CallFailure(NA, f"the call took longer than the server's limit of {limits.call_timeout_s:g} s per call",
                       status=503)


def busy_failure() -> CallFailure:
    return CallFailure(NA, "the llmcalc server is busy (earlier calls ran past the time limit); "
                           "recalculate in a moment", status=503)


def cell(failure: CallFailure) -> bytes:
    """One call's result in a batch answer, for a failure."""
    return dumps({"error": failure.to_dict()})


def warm_up() -> None:
    """Build the unit registry and the catalogs once (the fork server does it, so every worker
    forked from it starts warm)."""
    compute.run_call("LLM_TRAIN_DAYS", [175e9, "300B tokens", [[1024]], "A100"], {"mfu": "45%"})
    compute.run_call("LLM_KV_CACHE_GB", ["llama-2-70b", 4096])


class CallTimeout(BaseException):
    """A call ran past its time limit (a BaseException: no ``except Exception`` in the code it
    interrupts may take it for a bad input)."""


_in_call = False  # the interval timer interrupts only a call (not the sending between calls)


def _alarm(signum, frame):
    if _in_call:
        raise CallTimeout


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the block with :class:`CallTimeout` after ``seconds`` (main thread, POSIX). The
    timer is re-armed by the next call, and stopped by :func:`stop_timer` after the job: one system
    call per call."""
    global _in_call
    if not SOFT_LIMITS:
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    _in_call = True
    try:
        yield
    finally:
        _in_call = False


def stop_timer() -> None:
    if SOFT_LIMITS:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Output:
    """Frames to the server, sent together at least every ``FLUSH_S`` while a job runs: each
    sending tells the server the worker is alive, and which call it is on."""

    def __init__(self, sock: socket.socket):
        self.sock, self.frames, self.last = sock, [], time.monotonic()

    def put(self, tag: bytes, payload: bytes) -> None:
        self.frames.append(frame(tag, payload))
        if time.monotonic() - self.last >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self.frames:
            self.sock.sendall(b"".join(self.frames))
            self.frames.clear()
        self.last = time.monotonic()


# ------------------------------------------------------------------------------------------
# The jobs


def _parse(model, body: bytes):
    """The validated request, or a 422 answer saying where the body does not fit (never echoing it)."""
    try:
        return model.model_validate(json.loads(body)), None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, ValidationError
        if isinstance(exc, ValidationError):
            message = f"the request does not fit the API: {validation_message(exc.errors())}"
        elif isinstance(exc, json.JSONDecodeError):
            message = f"the body is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        else:
            message = "the body is not JSON (UTF-8 text)"
        return None, error_answer(422, VALUE, message, plain=False)


def _budget_problem(prepared: list, limits: Limits) -> str | None:
    """Which per-request budgets the prepared calls exceed, and by how much; None if none."""
    cells_in = sum(p.cells_in for p in prepared if isinstance(p, Prepared))
    cells_out = sum(p.cells_out for p in prepared if isinstance(p, Prepared))
    answer = sum(CALL_BYTES + (CELL_BYTES * p.cells_out if isinstance(p, Prepared) else 0) for p in prepared)
    over = [f"the {what} come to {n:,} {unit}; at most {limit:,} {unit} per request ({n - limit:,} over)"
            for what, n, limit, unit in (("result cells", cells_out, limits.max_request_cells, "cells"),
                                         ("answer's bytes", answer, limits.max_response_bytes, "bytes"),
                                         ("argument cells", cells_in, limits.max_request_cells, "cells"))
            if n > limit]
    return "; ".join(over) + ": split the request into smaller ones" if over else None


def _weight(prepared: list) -> int:
    return sum(p.cells_in + p.cells_out for p in prepared if isinstance(p, Prepared))


def _prepare_all(calls, limits: Limits) -> list:
    out = []
    for c in calls:
        try:
            out.append(compute.prepare(c.function, c.args, c.named, limits))
        except CallFailure as failure:
            out.append(failure)
    return out


def run_batch(body: bytes, first: int, light: bool, limits: Limits, out: Output) -> bool:
    """Answer a batch from call ``first`` on; returns True if a call was interrupted."""
    try:
        with time_limit(limits.call_timeout_s):
            request, refused = _parse(BatchRequest, body)
            if refused is None and len(request.calls) > limits.max_batch:
                refused = error_answer(413, VALUE, f"{len(request.calls)} calls in one request; at most "
                                                   f"{limits.max_batch}", plain=False)
            if refused is None:
                prepared = _prepare_all(request.calls, limits)
                problem = _budget_problem(prepared, limits)
                if problem:
                    refused = error_answer(413, VALUE, problem, plain=False)
    except CallTimeout:
        out.put(b"F", pickle.dumps(failure_answer(timeout_failure(limits), plain=False)))
        return True
    if refused is not None:
        out.put(b"F", pickle.dumps(refused))
        return False
    if light and _weight(prepared) > HEAVY_CELLS:
        out.put(b"H", b"")
        return False
    out.put(b"A", pickle.dumps(len(prepared)))
    deadline = time.monotonic() + BATCH_TIMEOUTS * limits.call_timeout_s
    timeouts, written = 0, 0
    with parse_budget(limits.max_unit_texts):
        for p in prepared[first:]:
            left = deadline - time.monotonic()
            if timeouts >= BATCH_TIMEOUTS or left <= 0:
                part = cell(busy_failure())
            else:
                try:
                    with time_limit(min(limits.call_timeout_s, left)):
                        if isinstance(p, CallFailure):
                            raise p
                        part = dumps({"value": compute.compute(p)})
                except CallFailure as failure:
                    part = cell(failure)
                except CallTimeout:
                    part = cell(timeout_failure(limits))
                    timeouts += 1
            written += len(part) + 1
            if written > limits.max_response_bytes:  # text results longer than CALL_BYTES: still bounded
                out.put(b"F", pickle.dumps(error_answer(
                    413, VALUE, f"the answer would be over {limits.max_response_bytes:,} bytes; "
                                "split the request into smaller ones", plain=False)))
                return timeouts > 0
            out.put(b"R", part)
    return timeouts > 0


def _single(prepared_or_failure, light: bool, limits: Limits, plain: bool, finish, out: Output) -> bool:
    """Shared by explain and plain: refuse, reroute or finish one call; True if it was interrupted."""
    if isinstance(prepared_or_failure, CallFailure):
        out.put(b"F", pickle.dumps(failure_answer(prepared_or_failure, plain)))
        return False
    problem = _budget_problem([prepared_or_failure], limits)
    if problem:
        out.put(b"F", pickle.dumps(error_answer(413, VALUE, problem, plain)))
        return False
    if light and _weight([prepared_or_failure]) > HEAVY_CELLS:
        out.put(b"H", b"")
        return False
    interrupted = False
    with parse_budget(limits.max_unit_texts):
        try:
            with time_limit(limits.call_timeout_s):
                status, media, body = finish(prepared_or_failure)
        except CallFailure as failure:
            status, media, body = failure_answer(failure, plain)
        except CallTimeout:
            status, media, body = failure_answer(timeout_failure(limits), plain)
            interrupted = True
    if len(body) > limits.max_response_bytes:
        status, media, body = error_answer(413, VALUE, f"the answer would be over {limits.max_response_bytes:,} "
                                                       "bytes; ask for fewer cells", plain)
    out.put(b"F", pickle.dumps((status, media, body)))
    return interrupted


def _prepare_one(name, args, named, limits):
    try:
        return compute.prepare(name, args, named, limits)
    except CallFailure as failure:
        return failure


def run_explain(body: bytes, light: bool, limits: Limits, out: Output) -> bool:
    request, refused = _parse(ExplainRequest, body)
    if refused:
        out.put(b"F", pickle.dumps(refused))
        return False

    def finish(p: Prepared):
        return 200, JSON_TYPE, dumps({"function": p.fn.sheet_name, "explanation": compute.explain(p)})

    return _single(_prepare_one(request.function, request.args, request.named, limits), light, limits,
                   plain=False, finish=finish, out=out)


def run_plain(name: str, pairs: list, light: bool, limits: Limits, out: Output) -> bool:
    """``GET /api/v1/call/{name}?a=v&a=w``: every value as text; a repeated name is a range."""
    named: dict = {}
    for key, value in pairs:
        named.setdefault(key, []).append(value)
    named = {k: v[0] if len(v) == 1 else v for k, v in named.items()}

    def finish(p: Prepared):
        text = compute.format_plain(compute.compute(p))
        return 200, TEXT_TYPE, text.encode("utf-8", "backslashreplace")

    return _single(_prepare_one(name, [], named, limits), light, limits, plain=True, finish=finish, out=out)


# ------------------------------------------------------------------------------------------
# The process


def serve(sock: socket.socket, limits: Limits, heavy: bool, initializer=None) -> None:
    """A worker process's main loop: one job at a time until the server closes the socket, or
    until a job had a call interrupted (the process may hold half-updated state: a fresh one
    takes over)."""
    if heavy and hasattr(os, "nice"):
        os.nice(10)  # the heavy lane yields the CPU to the light lane and the event loop
    if SOFT_LIMITS:
        signal.signal(signal.SIGALRM, _alarm)
    if initializer is not None:
        initializer()
    stream = sock.makefile("rb")
    out = Output(sock)
    sock.sendall(frame(b"W", b""))  # ready
    while True:
        try:
            _, payload = read_frame(stream)
        except (EOFError, OSError):
            return
        route, data, first, light = pickle.loads(payload)
        if route == "batch":
            interrupted = run_batch(data, first, light, limits, out)
        elif route == "explain":
            interrupted = run_explain(data, light, limits, out)
        else:
            interrupted = run_plain(*data, light, limits, out)
        stop_timer()
        out.flush()
        if interrupted:
            return
