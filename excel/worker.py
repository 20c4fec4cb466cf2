"""What runs in a worker process: read one request, check it against its budgets, compute it and
write the answer's bytes (:mod:`llmcalc.excel.runner` starts, feeds and, at a deadline, ends
these processes).

Everything costly about a request happens here, off the server's event loop and outside its
process: parsing and validating the JSON body, the per-request budgets (refused whole, before
anything is computed), computing, and encoding the answer. The server only moves bytes.

The protocol, over a socket pair, is frames of one tag byte, a 4-byte length and a payload:

* to the worker: ``J`` a job, ``(route, payload, first, light)`` pickled, where route is
  ``batch`` / ``explain`` (payload: the request body) or ``plain`` (payload: the function name and
  the query's (name, value) pairs), and ``first`` is the first call of a batch to compute (a batch
  resumed after a call ran past its time limit starts after that call);
* from the worker: ``A`` a batch was accepted (its number of calls), then one ``R`` per call, in
  order, holding the call's JSON result (``{"value":…}`` or ``{"error":…}``); or ``F`` a whole
  answer ``(status, media type, body)``: a refused request, an explanation, a plain-text value;
  or ``H``: a light worker found the request heavy, send it to the heavy lane.
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import struct
from typing import Iterator

from pydantic import ValidationError

from llmcalc.units import parse_budget

from . import compute
from .compute import CALL_BYTES, CELL_BYTES, VALUE, CallFailure, Limits, Prepared
from .schemas import BatchRequest, ExplainRequest, validation_message

HEAD = struct.Struct("<cI")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
# A request above either of these goes to the heavy lane (fewer, lower-priority processes), so
# that a few large requests cannot hold up the small ones.
HEAVY_BODY_BYTES = 256_000
HEAVY_CELLS = 20_000


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


def dumps(value) -> bytes:
    """Compact JSON; non-ASCII escaped, so any text (even an unpaired surrogate) encodes."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def failure_answer(failure: CallFailure, plain: bool) -> tuple:
    """(status, media type, body) for a failure: text for the plain-text endpoint, else JSON."""
    if plain:
        return failure.status, TEXT_TYPE, failure.message.encode("utf-8")
    return failure.status, JSON_TYPE, dumps({"error": failure.to_dict()})


def error_answer(status: int, code: str, message: str, plain: bool) -> tuple:
    return failure_answer(CallFailure(code, message, status=status), plain)


def warm_up() -> None:
    """Build the unit registry and the catalogs once (the forkserver does it, so every worker
    forked from it starts warm)."""
    compute.run_call("LLM_TRAIN_DAYS", [175e9, "300B tokens", [[1024]], "A100"], {"mfu": "45%"})
    compute.run_call("LLM_KV_CACHE_GB", ["llama-2-70b", 4096])


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


def run_batch(body: bytes, first: int, light: bool, limits: Limits) -> Iterator[bytes]:
    request, refused = _parse(BatchRequest, body)
    if refused:
        yield frame(b"F", pickle.dumps(refused))
        return
    calls = request.calls
    if len(calls) > limits.max_batch:
        yield frame(b"F", pickle.dumps(error_answer(
            413, VALUE, f"{len(calls)} calls in one request; at most {limits.max_batch}", plain=False)))
        return
    prepared = _prepare_all(calls, limits)
    problem = _budget_problem(prepared, limits)
    if problem:
        yield frame(b"F", pickle.dumps(error_answer(413, VALUE, problem, plain=False)))
        return
    if light and _weight(prepared) > HEAVY_CELLS:
        yield frame(b"H", b"")
        return
    yield frame(b"A", pickle.dumps(len(calls)))
    written = 0
    with parse_budget(limits.max_unit_texts):
        for p in prepared[first:]:
            try:
                if isinstance(p, CallFailure):
                    raise p
                part = dumps({"value": compute.compute(p)})
            except CallFailure as failure:
                part = dumps({"error": failure.to_dict()})
            written += len(part) + 1
            if written > limits.max_response_bytes:  # text results longer than CALL_BYTES: still bounded
                yield frame(b"F", pickle.dumps(error_answer(
                    413, VALUE, f"the answer would be over {limits.max_response_bytes:,} bytes; "
                                "split the request into smaller ones", plain=False)))
                return
            yield frame(b"R", part)


def _single(prepared_or_failure, light: bool, limits: Limits, plain: bool, finish) -> bytes:
    """Shared by explain and plain: refuse, reroute or finish one call."""
    if isinstance(prepared_or_failure, CallFailure):
        return frame(b"F", pickle.dumps(failure_answer(prepared_or_failure, plain)))
    problem = _budget_problem([prepared_or_failure], limits)
    if problem:
        return frame(b"F", pickle.dumps(error_answer(413, VALUE, problem, plain)))
    if light and _weight([prepared_or_failure]) > HEAVY_CELLS:
        return frame(b"H", b"")
    with parse_budget(limits.max_unit_texts):
        try:
            status, media, body = finish(prepared_or_failure)
        except CallFailure as failure:
            status, media, body = failure_answer(failure, plain)
    if len(body) > limits.max_response_bytes:
        status, media, body = error_answer(413, VALUE, f"the answer would be over {limits.max_response_bytes:,} "
                                                       "bytes; ask for fewer cells", plain)
    return frame(b"F", pickle.dumps((status, media, body)))


def _prepare_one(name, args, named, limits):
    try:
        return compute.prepare(name, args, named, limits)
    except CallFailure as failure:
        return failure


def run_explain(body: bytes, light: bool, limits: Limits) -> bytes:
    request, refused = _parse(ExplainRequest, body)
    if refused:
        return frame(b"F", pickle.dumps(refused))

    def finish(p: Prepared):
        try:
            explanation = p.fn.explain(*p.args, **p.kwargs).to_dict()
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error answer
            raise compute.failure_from(exc, p.fn) from None
        return 200, JSON_TYPE, dumps({"function": p.fn.sheet_name, "explanation": explanation})

    return _single(_prepare_one(request.function, request.args, request.named, limits), light, limits,
                   plain=False, finish=finish)


def run_plain(name: str, pairs: list, light: bool, limits: Limits) -> bytes:
    """``GET /api/v1/call/{name}?a=v&a=w``: every value as text; a repeated name is a range."""
    named: dict = {}
    for key, value in pairs:
        named.setdefault(key, []).append(value)
    named = {k: v[0] if len(v) == 1 else v for k, v in named.items()}

    def finish(p: Prepared):
        text = compute.format_plain(compute.compute(p))
        return 200, TEXT_TYPE, text.encode("utf-8", "backslashreplace")

    return _single(_prepare_one(name, [], named, limits), light, limits, plain=True, finish=finish)


# ------------------------------------------------------------------------------------------
# The process


def serve(sock: socket.socket, limits: Limits, heavy: bool, initializer=None) -> None:
    """A worker process's main loop: one job at a time until the server closes the socket."""
    if heavy and hasattr(os, "nice"):
        os.nice(10)  # the heavy lane yields the CPU to the light lane and the event loop
    if initializer is not None:
        initializer()
    stream = sock.makefile("rb")
    sock.sendall(frame(b"W", b""))  # ready
    while True:
        try:
            tag, payload = read_frame(stream)
        except (EOFError, OSError):
            return
        route, data, first, light = pickle.loads(payload)
        if route == "batch":
            for out in run_batch(data, first, light, limits):
                sock.sendall(out)
        elif route == "explain":
            sock.sendall(run_explain(data, light, limits))
        else:
            name, pairs = data
            sock.sendall(run_plain(name, pairs, light, limits))
