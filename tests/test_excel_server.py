"""The spreadsheet server over real HTTP (uvicorn on 127.0.0.1): every registry function through the
batch and the plain-text endpoints, the article numbers, errors as spreadsheet errors, and the
server-safety rules of issue 6 (limits, time limit, token, CORS, headers, logs, no 500)."""
from __future__ import annotations

import json
import logging
import math
import os
import re
import ssl
import time

import httpx
import pytest

import llmcalc
from llmcalc.excel import certs, server
from llmcalc.excel.compute import Limits
from llmcalc.registry import REGISTRY, by_sheet_name

from excel_fixtures import live_server, query_text, sample_args, serve_command

ARTICLE3 = "Article 3 (大模型训练相关参数估算), seeds/003"
ARTICLE2 = "Article 2 (Aman Sanger 2023, LLaMA-2-70B on 2 × A100-80GB), seeds/002"
GPT3 = {"params": "175e9", "tokens": "300e9", "gpus": "1024", "gpu": "A100"}


@pytest.fixture(scope="module")
def base():
    with live_server(server.create_app()) as srv:
        yield srv.url


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
        yield c


def batch(client, *calls):
    r = client.post("/api/v1/batch", json={"calls": [
        {"function": name, "args": list(args)} for name, *args in calls]})
    assert r.status_code == 200, r.text
    return r.json()["results"]


# ------------------------------------------------------------------ values


def test_issue_example_plain_text_answers_33_81_days(client):
    """The issue's URL; 33.81 days is article 3's GPT-3 figure (1024 A100, 45% MFU, ≈34 days)."""
    r = client.get("/api/v1/call/LLM_TRAIN_DAYS?params=175e9&tokens=300e9&gpus=1024&gpu=A100")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert float(r.text) == pytest.approx(33.81, abs=0.005), ARTICLE3
    assert r.text.startswith("33.81")


def test_batch_answers_article_numbers(client):
    results = batch(
        client,
        ("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A100"),            # article 3: ≈34 days (33.81)
        ("LLM_TRAIN_GPUS", 175e9, 300e9, 30, "A100"),              # article 3: ≈1154, whole GPUs 1155
        ("LLM_TRAIN_MEMORY_GB", 175e9),                             # article 3: 3500 GB
        ("LLM_TRAIN_MIN_GPUS", 175e9, "A100-80GB"),                 # article 3: 44 GPUs
        ("LLM_KV_BYTES_PER_TOKEN", "llama-2-70b"),                  # article 2: 327,680 B ("320 KB")
        ("LLM_COST_PER_1K_TOKENS", 70e9, "A100-80GB", "generated", 1, 512, 2, "$2.21/h", "fp16", None,
         "200 TFLOP/s", "1.3 TB/s"),                                # article 2: $0.066 per 1K at batch 1
    )
    values = [r["value"] for r in results]
    assert values[0] == pytest.approx(33.81, abs=0.005), ARTICLE3
    assert values[1] == 1155 and isinstance(values[1], int), ARTICLE3
    assert values[2] == pytest.approx(3500), ARTICLE3
    assert values[3] == 44, ARTICLE3
    assert values[4] == 327680, ARTICLE2
    assert values[5] == pytest.approx(0.066, abs=0.0005), ARTICLE2


@pytest.mark.parametrize("fn", list(REGISTRY.values()), ids=lambda f: f.sheet_name)
def test_every_function_through_batch_and_plain_text(client, fn):
    args = sample_args(fn)
    expected = fn.sheet_value(*args)                       # the registry itself, in-process
    [result] = batch(client, (fn.sheet_name, *args))
    assert "error" not in result, result
    got = result["value"]
    query = "&".join(f"{a.name}={query_text(v)}" for a, v in zip(fn.args, args) if v is not None)
    r = client.get(f"/api/v1/call/{fn.sheet_name}", params=dict(p.split("=", 1) for p in query.split("&")))
    assert r.status_code == 200, r.text
    if isinstance(expected, str):
        assert got == expected and r.text == expected
    else:
        assert isinstance(got, (int, float)) and not isinstance(got, bool)
        assert got == pytest.approx(float(expected), rel=1e-12)
        assert float(r.text) == pytest.approx(float(expected), rel=1e-12)
        assert math.isfinite(got)


def test_range_of_gpu_counts_spills_a_column_and_a_row_stays_a_row(client):
    column, row = batch(client,
                        ("LLM_TRAIN_DAYS", 175e9, 300e9, [[256], [512], [1024]], "A100"),
                        ("LLM_TRAIN_DAYS", 175e9, 300e9, [[512, 1024]], "A100"))
    days = by_sheet_name("LLM_TRAIN_DAYS").sheet_value
    assert column["value"] == [[pytest.approx(days(175e9, 300e9, n, "A100"))] for n in (256, 512, 1024)]
    assert column["value"][2][0] == pytest.approx(33.81, abs=0.005)          # article 3
    assert row["value"] == [[pytest.approx(67.62, abs=0.01), pytest.approx(33.81, abs=0.005)]]


def test_single_cell_ranges_and_named_arguments(client):
    r = client.post("/api/v1/batch", json={"calls": [
        {"function": "LLM_TRAIN_DAYS", "args": [[[175e9]], [[300e9]], [[1024]], "A100"]},
        {"function": "llm_train_days", "named": {"params": "175B", "tokens": "300B tokens", "gpus": 1024,
                                                 "gpu": "A100", "mfu": "45%", "recompute": True}},
    ]})
    a, b = r.json()["results"]
    assert a["value"] == pytest.approx(33.81, abs=0.005)
    assert b["value"] == pytest.approx(a["value"], rel=1e-12)


def test_plain_text_repeated_argument_gives_one_value_per_line(client):
    r = client.get("/api/v1/call/LLM_TRAIN_DAYS", params=[("params", "175e9"), ("tokens", "300e9"), ("gpus", "512"),
                                                          ("gpus", "1024"), ("gpu", "A100")])
    assert r.status_code == 200
    assert [float(x) for x in r.text.splitlines()] == [pytest.approx(67.6236, abs=1e-4), pytest.approx(33.8118, abs=1e-4)]


def test_count_and_text_results_in_plain_text(client):
    r = client.get("/api/v1/call/LLM_TRAIN_GPUS", params={"params": "175e9", "tokens": "300e9", "days": "30", "gpu": "A100"})
    assert r.text == "1155"                                                   # article 3, whole GPUs
    r = client.get("/api/v1/call/LLM_GPU", params={"name": "A100"})
    assert r.status_code == 200 and r.text == by_sheet_name("LLM_GPU").sheet_value("A100")


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("args, argument, fragment", [
    ((175e9, 300e9, -1, "A100"), "gpus", "must be > 0"),                      # negative count
    ((175e9, 300e9, 0, "A100"), "gpus", "must be > 0"),                       # zero count
    ((175e9, 300e9, 1024, "A1000"), "gpu", "unknown GPU"),                    # unknown GPU
    (("gpt-9", 300e9, 1024, "A100"), "params", "unknown model"),              # unknown model
    ((175e9, "300 GB", 1024, "A100"), "tokens", "GB"),                        # wrong units
    ((175e9, 300e9, 1024, "A100", 45), "mfu", "fraction"),                    # 45 instead of 0.45
    ((175e9, 300e9, 1024, "A100", 0.45, "maybe"), "recompute", "TRUE or FALSE"),
    ((175e9, 300e9), "gpus", "required"),                                     # missing argument
    (("config.json", 300e9, 1024, "A100"), "params", "file paths are not accepted"),
])
def test_bad_input_is_value_error_naming_the_argument(client, args, argument, fragment):
    [r] = batch(client, ("LLM_TRAIN_DAYS", *args))
    assert r["error"]["code"] == "#VALUE!"
    assert r["error"]["argument"] == argument
    assert f"argument '{argument}'" in r["error"]["message"] and fragment in r["error"]["message"]
    params = {a.name: query_text(v) for a, v in zip(by_sheet_name("LLM_TRAIN_DAYS").args, args)}
    p = client.get("/api/v1/call/LLM_TRAIN_DAYS", params=params)
    assert p.status_code == 400
    assert p.headers["content-type"].startswith("text/plain")
    assert f"argument '{argument}'" in p.text and fragment in p.text


@pytest.mark.parametrize("path", ["/etc/passwd", "../../etc/hostname", "pyproject.toml", "profile.json"])
def test_the_server_opens_no_files_named_by_callers(client, path):
    """A GPU profile file or a config.json path is a file on the server: refused, not probed."""
    refused = re.compile(r"does not open|file paths are not accepted")
    [r] = batch(client, ("LLM_PREFILL_TIME", "llama-2-70b", "H100", 1, 512, 1, "bf16", None, None, None, path))
    assert r["error"]["argument"] == "profile" and refused.search(r["error"]["message"])
    [m] = batch(client, ("LLM_MODEL", "/srv/" + path + ".json", "params"))
    assert m["error"]["argument"] == "name" and "file paths are not accepted" in m["error"]["message"]
    p = client.get("/api/v1/call/LLM_PREFILL_TIME", params={"model": "llama-2-70b", "gpu": "H100", "batch": "1",
                                                            "tokens": "512", "profile": path})
    assert p.status_code == 400 and refused.search(p.text) and "exist" not in p.text


def test_unknown_gpu_message_suggests_names(client):
    [r] = batch(client, ("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A1000"))
    assert "did you mean" in r["error"]["message"] and "A100" in r["error"]["message"]


def test_result_that_is_not_finite_is_num_error(client):
    [r] = batch(client, ("LLM_COMM_SECONDS", 1e30, 1e-300))                 # 1e330 s overflows a double
    assert r["error"]["code"] == "#NUM!"
    p = client.get("/api/v1/call/LLM_COMM_SECONDS", params={"volume": "1e30", "bandwidth": "1e-300"})
    assert p.status_code == 400 and "finite" in p.text


def test_ranges_that_do_not_fit_together_are_value_errors(client):
    [r] = batch(client, ("LLM_TRAIN_DAYS", 175e9, [[1], [2], [3]], [[1, 2]], "A100"))
    assert "value" in r                                                       # 3x1 with 1x2 broadcasts to 3x2
    assert len(r["value"]) == 3 and len(r["value"][0]) == 2
    [r] = batch(client, ("LLM_TRAIN_DAYS", 175e9, [1, 2, 3], [1, 2], "A100"))
    assert r["error"]["code"] == "#VALUE!" and "do not fit" in r["error"]["message"]
    [r] = batch(client, ("LLM_TRAIN_DAYS", 175e9, 300e9, [[1, 2], [3]], "A100"))
    assert r["error"]["code"] == "#VALUE!" and r["error"]["argument"] == "gpus"


def test_unknown_function_is_404_and_name_error(client):
    p = client.get("/api/v1/call/LLM_TRAIN_DAY", params=GPT3)
    assert p.status_code == 404 and "unknown function" in p.text and "LLM_TRAIN_DAYS" in p.text
    [r] = batch(client, ("LLM_NOPE", 1))
    assert r["error"]["code"] == "#NAME?"
    e = client.post("/api/v1/explain", json={"function": "LLM_NOPE"})
    assert e.status_code == 404 and e.json()["error"]["code"] == "#NAME?"


def test_unknown_argument_name_is_400(client):
    p = client.get("/api/v1/call/LLM_TRAIN_DAYS", params={**GPT3, "gpu_count": "3"})
    assert p.status_code == 400 and "gpu_count" in p.text


def test_one_bad_cell_does_not_spoil_the_batch(client):
    good, bad, good2 = batch(client, ("LLM_TRAIN_DAYS", 175e9, 300e9, 1024, "A100"),
                             ("LLM_TRAIN_DAYS", 175e9, 300e9, -5, "A100"),
                             ("LLM_TRAIN_GPUS", 175e9, 300e9, 30, "A100"))
    assert good["value"] == pytest.approx(33.81, abs=0.005) and good2["value"] == 1155
    assert bad["error"]["argument"] == "gpus"


@pytest.mark.parametrize("body", [
    b"not json", b"{}", b'{"calls": 5}', b'{"calls": [{"function": 5}]}', b'{"calls": [{"args": []}]}',
    b'{"calls": [{"function": "LLM_TRAIN_DAYS", "args": [[[[1]]]]}]}', b'{"calls": [], "extra": 1}',
    b'{"calls": [{"function": "LLM_TRAIN_DAYS", "args": [1e400, 1, 1, "A100"]}]}',
    b'{"calls": [{"function": "LLM_TRAIN_DAYS", "args": [NaN, 1, 1, "A100"]}]}',
    b'{"calls": [{"function": "LLM_TRAIN_DAYS", "args": [' + b"1" * 5000 + b', 1, 1, "A100"]}]}',
    b'{"calls": [{"function": "LLM_MODEL", "args": ["' + b"x" * 3000 + b'"]}]}',
    b'{"calls": [{"function": "LLM_TRAIN_DAYS", "args": [{"a": 1}]}]}',
])
def test_malformed_requests_are_4xx_or_cell_errors_never_5xx(client, body):
    r = client.post("/api/v1/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert all("error" in x for x in r.json()["results"])


@pytest.mark.parametrize("query", [
    "params=%00&tokens=1&gpus=1&gpu=A100", "params=1e999&tokens=1&gpus=1&gpu=A100", "params=nan&tokens=1&gpus=1&gpu=A100",
    "params=-inf&tokens=1&gpus=1&gpu=A100", "params=__import__('os')&tokens=1&gpus=1&gpu=A100",
    "params=" + "9" * 400 + "&tokens=1&gpus=1&gpu=A100", "params=1&tokens=1&gpus=1&gpu=" + "A" * 5000,
    "params=1&params=2&params=3&tokens=1&gpus=1&gpu=A100&gpu=H100", "params=/etc/passwd.json&tokens=1&gpus=1&gpu=A100",
])
def test_hostile_plain_text_queries_are_4xx(client, query):
    r = client.get(f"/api/v1/call/LLM_TRAIN_DAYS?{query}")
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/plain")


def test_explain_gives_the_registry_explanation(client):
    r = client.post("/api/v1/explain", json={"function": "LLM_TRAIN_DAYS", "named": GPT3})
    x = r.json()["explanation"]
    assert x["result"].startswith("33.81")                                    # article 3
    assert any("大模型训练相关参数估算" in s for s in x["sources"])
    assert x["formula"] == by_sheet_name("LLM_TRAIN_DAYS").formula
    bad = client.post("/api/v1/explain", json={"function": "LLM_TRAIN_DAYS", "named": {**GPT3, "gpus": "-1"}})
    assert bad.status_code == 400 and bad.json()["error"]["argument"] == "gpus"


def test_function_list_is_the_registry(client):
    rows = client.get("/api/v1/functions").json()
    assert [r["name"] for r in rows] == [fn.sheet_name for fn in REGISTRY.values()]
    days = next(r for r in rows if r["name"] == "LLM_TRAIN_DAYS")
    assert [a["name"] for a in days["args"]] == ["params", "tokens", "gpus", "gpu", "mfu", "recompute"]
    assert days["returns"] == "day" and days["args"][2]["range"] is True


# ------------------------------------------------------------------ limits and time limit


def test_limits_batch_size_body_size_and_cells():
    limits = Limits(max_body_bytes=20_000, max_batch=10, max_values=50)
    with live_server(server.create_app(limits=limits)) as srv, httpx.Client(base_url=srv.url, trust_env=False) as c:
        call = {"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]}
        assert c.post("/api/v1/batch", json={"calls": [call] * 10}).status_code == 200
        r = c.post("/api/v1/batch", json={"calls": [call] * 11})
        assert r.status_code == 413 and "at most 10" in r.json()["error"]["message"]
        r = c.post("/api/v1/batch", content=b'{"calls": [' + b" " * 30_000 + b"]}",
                   headers={"content-type": "application/json"})
        assert r.status_code == 413

        def chunks():
            yield b'{"calls": ['
            for _ in range(50):
                yield b" " * 1000
            yield b"]}"
        r = c.post("/api/v1/batch", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413                                           # streamed, no content-length
        [cell] = c.post("/api/v1/batch", json={"calls": [
            {"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, [[1]] * 51, "A100"]}]}).json()["results"]
        assert cell["error"]["code"] == "#VALUE!" and "at most 50" in cell["error"]["message"]


def test_a_call_over_the_time_limit_is_na_and_the_rest_of_the_batch_still_computes(monkeypatch):
    fn = by_sheet_name("LLM_PARAMS")
    original = fn.sheet_value

    def slow(*args, **kwargs):
        if (args and args[0] == 7) or kwargs.get("layers") == "7":
            time.sleep(1.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(fn, "sheet_value", slow)
    with live_server(server.create_app(limits=Limits(call_timeout_s=0.3))) as srv, \
            httpx.Client(base_url=srv.url, trust_env=False, timeout=30) as c:
        t0 = time.monotonic()
        r = c.post("/api/v1/batch", json={"calls": [
            {"function": "LLM_PARAMS", "args": [96, 12288]},
            {"function": "LLM_PARAMS", "args": [7, 4096]},
            {"function": "LLM_PARAMS", "args": [96, 12288]}]}).json()["results"]
        elapsed = time.monotonic() - t0
        assert r[0]["value"] == pytest.approx(173.9e9, rel=1e-3)            # article 3: 12·96·12288² ≈ 174B
        assert r[1]["error"]["code"] == "#N/A" and "0.3 s" in r[1]["error"]["message"]
        assert r[2]["value"] == r[0]["value"]
        assert elapsed < 1.4                                                  # did not wait for the slow call
        p = c.get("/api/v1/call/LLM_PARAMS", params={"layers": "7", "hidden": "4096"})
        assert p.status_code == 503 and "limit" in p.text


def test_a_batch_of_slow_calls_is_answered_within_a_few_time_limits(monkeypatch):
    fn = by_sheet_name("LLM_PARAMS")
    original = fn.sheet_value
    monkeypatch.setattr(fn, "sheet_value", lambda *a, **k: time.sleep(2) or original(*a, **k))
    with live_server(server.create_app(limits=Limits(call_timeout_s=0.2))) as srv, \
            httpx.Client(base_url=srv.url, trust_env=False, timeout=30) as c:
        t0 = time.monotonic()
        r = c.post("/api/v1/batch", json={"calls": [{"function": "LLM_PARAMS", "args": [96, 12288]}] * 8}).json()
        elapsed = time.monotonic() - t0
    errors = [x["error"] for x in r["results"]]
    assert all(e["code"] == "#N/A" for e in errors)
    assert "0.2 s per call" in errors[0]["message"] and "busy" in errors[-1]["message"]
    assert elapsed < 1.5                                  # 3 limits of 0.2 s, not 8 × 2 s


# ------------------------------------------------------------------ token, CORS, headers, logs


def test_bearer_token_protects_the_api_but_not_the_add_in_files():
    with live_server(server.create_app(token="s3cret")) as srv, httpx.Client(base_url=srv.url, trust_env=False) as c:
        call = {"calls": [{"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]}]}
        r = c.post("/api/v1/batch", json=call)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/api/v1/batch", json=call, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.post("/api/v1/batch", json=call, headers={"Authorization": "Bearer s3cret"})
        assert ok.json()["results"][0]["value"] == pytest.approx(33.81, abs=0.005)
        p = c.get("/api/v1/call/LLM_TRAIN_DAYS", params=GPT3)
        assert p.status_code == 401 and p.headers["content-type"].startswith("text/plain")
        p = c.get("/api/v1/call/LLM_TRAIN_DAYS", params={**GPT3, "access_token": "s3cret"})
        assert p.status_code == 200 and p.text.startswith("33.81")
        assert c.get("/api/v1/functions").status_code == 401
        for path in ("/healthz", "/manifest.xml", "/functions.json", "/functions.js", "/taskpane.html"):
            assert c.get(path).status_code == 200, path
        schema = c.get("/openapi.json").json()
        assert "401" in schema["paths"]["/api/v1/batch"]["post"]["responses"]
        assert "401" in schema["paths"]["/api/v1/call/LLM_TRAIN_DAYS"]["get"]["responses"]


def test_cors_allows_office_hosts_and_the_own_origin_only():
    app = server.create_app(base_url="https://llm.example.com", allowed_origins=["https://portal.example.com"])
    with live_server(app) as srv, httpx.Client(base_url=srv.url, trust_env=False) as c:
        def preflight(origin):
            return c.options("/api/v1/batch", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type,authorization"})
        for origin in ("https://excel.officeapps.live.com", "https://usc-excel.officeapps.live.com",
                       "https://excel.cloud.microsoft", "https://llm.example.com", "https://portal.example.com"):
            r = preflight(origin)
            assert r.status_code == 200 and r.headers.get("access-control-allow-origin") == origin, origin
        for origin in ("https://evil.example", "http://excel.officeapps.live.com", "https://officeapps.live.com.evil.io"):
            r = preflight(origin)
            assert r.headers.get("access-control-allow-origin") is None, origin
        r = c.post("/api/v1/batch", json={"calls": []}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_security_headers(client):
    page = client.get("/taskpane.html")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self' https://*.officeapps.live.com" in csp
    assert "script-src 'self' https://appsforoffice.microsoft.com" in csp and "'unsafe-eval'" not in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    api = client.get("/api/v1/functions")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["cache-control"] == "no-store"
    for r in (page, api):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])
        assert "strict-transport-security" not in r.headers            # never HSTS on localhost


def test_hsts_only_for_https_hosts_other_than_localhost(tmp_path):
    from excel_fixtures import tls_files
    tls = tls_files(tmp_path)
    with live_server(server.create_app(), certfile=tls["cert"], keyfile=tls["key"]) as srv, \
            httpx.Client(verify=ssl.create_default_context(cafile=tls["ca"]), trust_env=False) as c:
        assert "strict-transport-security" not in c.get(f"{srv.url}/healthz").headers
        r = c.get(f"{srv.url}/healthz", headers={"Host": "llm.example.com"})
        assert r.headers["strict-transport-security"] == "max-age=31536000"


def test_access_log_is_json_without_bodies_or_query_strings(client, caplog):
    with caplog.at_level(logging.INFO, logger="llmcalc.access"):
        client.post("/api/v1/batch", json={"calls": [{"function": "LLM_TRAIN_DAYS",
                                                      "args": ["SECRET-BODY", 300e9, 1024, "A100"]}]})
        client.get("/api/v1/call/LLM_TRAIN_DAYS", params={**GPT3, "access_token": "SECRET-QUERY"})
        time.sleep(0.05)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "llmcalc.access"]
    assert {(x["method"], x["path"], x["status"]) for x in lines} >= {
        ("POST", "/api/v1/batch", 200), ("GET", "/api/v1/call/LLM_TRAIN_DAYS", 200)}
    text = caplog.text
    assert "SECRET-BODY" not in text and "SECRET-QUERY" not in text
    assert all({"ts", "id", "client", "ms", "bytes"} <= set(x) for x in lines)


def test_healthz_and_openapi(client):
    h = client.get("/healthz").json()
    assert h == {"status": "ok", "version": llmcalc.__version__, "functions": len(REGISTRY)}
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert "/api/v1/batch" in paths and "/api/v1/explain" in paths and "/healthz" in paths
    for fn in REGISTRY.values():
        op = paths[f"/api/v1/call/{fn.sheet_name}"]["get"]
        assert [p["name"] for p in op["parameters"]] == [a.name for a in fn.args]
        assert [p["required"] for p in op["parameters"]] == [not a.optional for a in fn.args]
    ids = [op["operationId"] for p in paths.values() for op in p.values()]
    assert len(ids) == len(set(ids))
    assert client.get("/docs").status_code == 404                   # Swagger UI would load a CDN script


# ------------------------------------------------------------------ the command


def test_serve_refuses_plain_http_beyond_loopback_and_prints_manifests(capsys):
    assert server.main(["--http", "--host", "0.0.0.0"]) == 2
    assert "loopback only" in capsys.readouterr().err
    assert server.main(["--print-manifest", "--base-url", "https://llm.example.com/addin"]) == 0
    text = capsys.readouterr().out
    assert "https://llm.example.com/addin/functions.json" in text and "localhost" not in text
    assert server.main(["--print-manifest", "--base-url", "ftp://x"]) == 2


def test_certificate_choice(tmp_path):
    given_c, given_k = tmp_path / "c.pem", tmp_path / "k.pem"
    given_c.write_text("x"), given_k.write_text("y")
    assert certs.choose(str(given_c), str(given_k)).source == "given"
    with pytest.raises(certs.CertificateError):
        certs.choose(str(given_c), None)
    home = tmp_path / "home"
    office = home / ".office-addin-dev-certs"
    office.mkdir(parents=True)
    (office / "localhost.crt").write_text("c"), (office / "localhost.key").write_text("k")
    assert certs.choose(home=home, directory=tmp_path / "gen").source == "office-addin-dev-certs"
    first = certs.choose(home=tmp_path / "nobody", directory=tmp_path / "gen")
    assert first.source == "generated" and "certutil" in first.trust_help and "security add-trusted-cert" in first.trust_help
    assert os.stat(first.keyfile).st_mode & 0o077 == 0
    from cryptography import x509
    c = x509.load_pem_x509_certificate(open(first.certfile, "rb").read())
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert certs.choose(home=tmp_path / "nobody", directory=tmp_path / "gen").source == "generated earlier"


def test_llmcalc_serve_end_to_end_over_https(tmp_path):
    """The README's main command as a new user runs it: HTTPS with a generated certificate, the
    printed manifest URL answers, and the printed task pane's API computes LLM_TRAIN_DAYS."""
    with serve_command(tmp_path) as (port, text):
        manifest_url = re.search(r"Manifest for Excel:\s+(\S+)", text).group(1)
        pane_url = re.search(r"Task pane \(open in a browser\):\s+(\S+)", text).group(1)
        assert manifest_url == f"https://localhost:{port}/manifest.xml"
        assert "Excel on the web" in text and "wef" in text and "office-addin-debugging" in text
        assert "self-signed" in text                                   # and how to trust it
        ca = str(tmp_path / "certs" / "localhost.crt")
        with httpx.Client(verify=ssl.create_default_context(cafile=ca), trust_env=False, timeout=10) as c:
            for _ in range(100):
                try:
                    m = c.get(manifest_url)
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert m.status_code == 200 and f"https://localhost:{port}/functions.js" in m.text
            assert "server" not in m.headers                          # no "uvicorn" banner
            assert c.get(pane_url).status_code == 200
            r = c.post(pane_url.replace("taskpane.html", "api/v1/explain"),
                       json={"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]})
            assert r.json()["explanation"]["result"].startswith("33.81")     # article 3
