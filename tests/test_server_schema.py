"""Schema-driven fuzzing of the add-in server (bad input): zero 5xx.

Schemathesis reads ``create_app()``'s OpenAPI schema and generates valid and invalid requests for
every operation (the batch and explain endpoints, ``/healthz``, the function list and one
plain-text ``GET /api/v1/call/LLM_…`` endpoint per registry function), sent in process through
ASGI. Whatever the input, the server must answer without a server error, quickly. A second part
sends hypothesis-generated junk cells through ``POST /api/v1/batch`` (every function, every
argument position), and a third checks the bearer token on every API operation. The number of
examples is bounded so the file runs in well under a minute on two cores. Schemathesis calls the
app in process (ASGI, as host ``testserver``); the other tests call it over real HTTP.
"""
from __future__ import annotations

import json
import math
import time

import pytest

schemathesis = pytest.importorskip("schemathesis")
import httpx  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from llmcalc.excel.server import create_app  # noqa: E402
from llmcalc.registry import REGISTRY  # noqa: E402

from excel_fixtures import live_server  # noqa: E402

TOKEN = "fuzz-token-123"
RESPONSE_LIMIT_S = 5.0  # one request (the server's per-call limit is 10 s)

APP = create_app(allowed_hosts=["testserver"])
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(max_examples=12)


def _check(response, case, started):
    elapsed = time.perf_counter() - started
    where = f"{case.method} {case.formatted_path} query={case.query!r} body={json.dumps(case.body, default=str)[:500]}"
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.text[:500]}"
    assert elapsed < RESPONSE_LIMIT_S, f"{elapsed:.1f} s for {where}"


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_for_any_generated_request(case):
    """Positive and negative requests generated from the schema: never a 5xx, always quick."""
    started = time.perf_counter()
    response = case.call()
    _check(response, case, started)


@schema.include(path="/api/v1/batch").parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_batch_answers_conform_to_the_schema(case):
    """The batch endpoint's answers (200 and errors) match its documented response schema."""
    started = time.perf_counter()
    response = case.call()
    _check(response, case, started)
    if response.status_code == 200:
        results = response.json()["results"]
        assert len(results) == len(case.body["calls"])
        for r in results:
            assert sorted(r) in (["value"], ["error"]), r
            if r.get("error"):
                assert r["error"]["code"] in ("#VALUE!", "#NUM!", "#NAME?", "#N/A"), r
                assert r["error"]["message"], r


# ------------------------------------------------------------------------------------------
# Junk cells through the batch endpoint, for every function


@pytest.fixture(scope="module")
def client():
    with live_server(APP) as srv, httpx.Client(base_url=srv.url, trust_env=False, timeout=30) as c:
        yield c


# Text with unpaired UTF-16 surrogates (valid JSON escapes, not encodable as UTF-8) and log units.
SURROGATE_TEXT = st.text(st.characters(codec=None) | st.characters(categories=["Cs"]), max_size=20)
cell = (st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**30), 10**30)
        | st.text(max_size=60) | SURROGATE_TEXT
        | st.sampled_from(["10**10**10", "1 10**10**10", "1 B**10**30", "1e999", "1,5 GB",
                           "nope.json", "/etc/passwd", "~root/x.json", "175B", "A100", "H100",
                           "llama-2-70b", "fp8", "generated", "45%", "$2/h", "200 Gb/s",
                           "x" * 400, "é中文🙂", "\x00", "\udfff", "A100\ud800", "1 B/dB", "1 Np*B", "$1 dB/h",
                           "175 dB", "3 dBm", "1 octave"]))
arg_value = cell | st.lists(cell, max_size=5) | st.lists(st.lists(cell, min_size=2, max_size=2), max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(calls=st.lists(st.tuples(st.sampled_from(sorted(fn.sheet_name for fn in REGISTRY.values())) | SURROGATE_TEXT,
                                st.lists(arg_value, max_size=8),
                                st.dictionaries(SURROGATE_TEXT | st.sampled_from(["gpus", "mfu", "dtype"]), cell,
                                                max_size=2)), min_size=1, max_size=20))
def test_junk_cells_give_cell_errors_not_server_errors(client, calls):
    body = {"calls": [{"function": f, "args": a, "named": n} for f, a, n in calls]}
    started = time.perf_counter()
    # ASCII JSON: an unpaired surrogate travels as a \udXXXX escape (as JavaScript's JSON.stringify sends it)
    r = client.post("/api/v1/batch", content=json.dumps(body).encode(), headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, (r.status_code, r.text[:500], body)
    assert elapsed < RESPONSE_LIMIT_S, (elapsed, body)
    results = r.json()["results"]
    assert len(results) == len(calls)
    for (f, a, _), res in zip(calls, results):
        if "error" in res:
            assert res["error"]["code"] in ("#VALUE!", "#NUM!", "#NAME?"), (f, a, res)
            assert "internal error" not in res["error"]["message"], (f, a, res)
        else:
            value = res["value"]
            flat = value if isinstance(value, list) else [value]
            flat = [x for row in flat for x in (row if isinstance(row, list) else [row])]
            assert all(isinstance(x, str) or (isinstance(x, (int, float)) and math.isfinite(x)) for x in flat), \
                (f, a, res)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(fn=st.sampled_from(sorted(REGISTRY)), data=st.data())
def test_junk_query_parameters_give_400_not_5xx(client, fn, data):
    f = REGISTRY[fn]
    params = {}
    for a in f.args:
        if data.draw(st.booleans()):
            params[a.name] = data.draw(st.text(max_size=60) | st.sampled_from(
                ["10**10**10", "1e999", "nan", "-1", "0", "175B", "H100", "llama-2-7b", "x" * 401, "a.json"]))
    if data.draw(st.booleans()):
        params[data.draw(st.text(min_size=1, max_size=10))] = "1"
    r = client.get(f"/api/v1/call/{f.sheet_name}", params=params)
    assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300], params)
    if r.status_code == 400:
        assert r.text and "internal error" not in r.text


@pytest.mark.parametrize("query", ["%ED%BF%BF", "A100%ED%A0%80", "%FF%FE", "1%20B%2FdB", "175%20dB", "%241%20dB%2Fh",
                                   "1%20Np*B", "%C0%AF", "%00"])
@pytest.mark.parametrize("name", ["LLM_TRAIN_DAYS", "LLM_GPU", "LLM_COMM_SECONDS", "LLM_CONVERT"])
def test_undecodable_and_logarithmic_query_values_give_4xx(client, name, query):
    """Invalid UTF-8 (an encoded surrogate, a lone byte) and log units in every argument of the
    plain-text endpoint: an answer or a 4xx, never a 5xx or an internal error. (Invalid UTF-8 is
    read as U+FFFD: "A100\ufffd" is still the A100.)"""
    fn = REGISTRY[next(k for k, f in REGISTRY.items() if f.sheet_name == name)]
    for arg in fn.args:
        r = client.get(f"/api/v1/call/{name}?{arg.name}={query}")
        assert r.status_code == 200 or 400 <= r.status_code < 500, (name, arg.name, query, r.status_code, r.text[:300])
        assert "internal error" not in r.text
        if "dB" in query or "Np" in query:
            assert r.status_code == 400, (name, arg.name, r.text)


# ------------------------------------------------------------------------------------------
# Who gets in: with a token, every API operation needs it


@pytest.fixture(scope="module")
def locked():
    with live_server(create_app(token=TOKEN)) as srv, httpx.Client(base_url=srv.url, trust_env=False) as c:
        yield c


API_OPERATIONS = [("GET", "/api/v1/functions", None), ("POST", "/api/v1/batch", {"calls": []}),
                  ("POST", "/api/v1/explain", {"function": "LLM_PARAMS", "args": [96, 12288]})] + \
                 [("GET", f"/api/v1/call/{fn.sheet_name}", None) for fn in REGISTRY.values()] + \
                 [("GET", "/api/v1/call/no_such_function", None), ("GET", "/api/v1/../v1/functions", None),
                  ("GET", "/API/v1/functions", None), ("GET", "/api/v1/call/LLM_PARAMS/", None)]


@pytest.mark.parametrize("method,path,body", API_OPERATIONS)
def test_every_api_operation_needs_the_token(locked, method, path, body):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"}):  # "Bearer " on the wire
        r = locked.request(method, path, json=body, headers=headers)
        assert r.status_code in (401, 404, 405), (method, path, headers, r.status_code, r.text[:200])
    r = locked.request(method, path, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code != 401, (method, path, r.text[:200])


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(guess=st.text(max_size=40).filter(lambda s: s != TOKEN))
def test_no_guessed_token_gets_in(locked, guess):
    try:
        r = locked.get("/api/v1/call/LLM_PARAMS", params={"layers": 96, "hidden": 12288, "access_token": guess})
    except Exception:  # noqa: BLE001 - a header value httpx refuses to send never reaches the server
        return
    assert r.status_code == 401
    try:
        r = locked.post("/api/v1/batch", json={"calls": []}, headers={"Authorization": f"Bearer {guess}"})
    except Exception:  # noqa: BLE001
        return
    assert r.status_code == 401


# ------------------------------------------------------------------------------------------
# No silent wrong number over HTTP: the server's values are the registry's


@pytest.mark.parametrize("name", sorted(REGISTRY))
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_server_values_equal_in_process_values(client, name, data):
    from test_fuzz_registry import base_call, good_value  # the registry fuzzer's valid values
    fn = REGISTRY[name]
    kwargs = base_call(fn)
    for arg in fn.args:
        if arg.name in kwargs and not isinstance(kwargs[arg.name], str):
            kwargs[arg.name] = data.draw(good_value(fn, arg), label=arg.name)
    try:
        expected = fn.sheet_value(**kwargs)
    except ValueError as e:  # an infeasible combination: the server must give the same error
        expected = e
    # Plain text: every value as query text.
    r = client.get(f"/api/v1/call/{fn.sheet_name}", params={k: str(v) for k, v in kwargs.items()})
    # Batch: numbers as JSON numbers, named.
    b = client.post("/api/v1/batch", json={"calls": [{"function": fn.sheet_name, "named": kwargs}]})
    assert b.status_code == 200
    cell = b.json()["results"][0]
    if isinstance(expected, ValueError):
        assert r.status_code == 400 and "error" in cell, (kwargs, r.text, cell)
        assert getattr(expected, "argument", None) in r.text, (kwargs, r.text, expected)
        return
    assert r.status_code == 200, (kwargs, r.text)
    if isinstance(expected, str):
        assert r.text == expected and cell["value"] == expected
    else:
        assert float(r.text) == pytest.approx(float(expected), rel=1e-12), (kwargs, r.text, expected)
        assert float(cell["value"]) == pytest.approx(float(expected), rel=1e-12), (kwargs, cell, expected)


def test_a_small_request_cannot_ask_for_a_huge_result(client):
    """2,000 cells in (a column of 1,000 against a row of 1,000), 1,000,000 cells out: a ~40 KB
    request must not make the server compute, hold and encode a ~20 MB answer (with 50,000 × 50,000,
    still under the 100,000-cell input limit, it would try to allocate 18.6 GiB). The result's size
    is bounded like the input's: a cell error naming the argument, or 413."""
    col = [[1e9 + i] for i in range(1000)]
    row = [[1e10 + j for j in range(1000)]]
    started = time.perf_counter()
    r = client.post("/api/v1/batch", json={"calls": [{"function": "LLM_TRAIN_DAYS", "args": [col, row, 1024, "A100"]}]})
    elapsed = time.perf_counter() - started
    assert r.status_code in (200, 413), r.status_code
    assert len(r.content) < 100_000, f"{len(r.content):,} bytes answered in {elapsed:.1f} s"
    if r.status_code == 200:
        cell = r.json()["results"][0]
        assert cell.get("error", {}).get("code") == "#VALUE!", str(cell)[:200]
