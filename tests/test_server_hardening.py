"""The add-in server survives hostile requests: each test is a regression test for one
way the server failed when probed as an attacker would, on loopback."""
from __future__ import annotations

import os
import stat

import pytest

from llmcalc.excel import certs

# ------------------------------------------------------------------ certificate files (item 7)


def test_a_regenerated_key_is_0600_whatever_the_old_file_was(tmp_path):
    """Regression: an existing 0644 localhost.key stayed 0644 when the key was regenerated."""
    folder = tmp_path / "certs"
    folder.mkdir()
    old_key = folder / "localhost.key"
    old_key.write_text("old key")
    os.chmod(old_key, 0o644)                              # no certificate next to it: regenerated
    chosen = certs.choose(home=tmp_path / "nobody", directory=folder)
    assert chosen.source == "generated"
    assert stat.S_IMODE(os.stat(chosen.keyfile).st_mode) == 0o600
    assert b"PRIVATE KEY" in open(chosen.keyfile, "rb").read()


def test_a_symlink_planted_at_the_key_path_is_refused(tmp_path):
    """Regression: the key was written through a symlink planted at its path."""
    folder = tmp_path / "certs"
    folder.mkdir()
    target = tmp_path / "attacker-readable.txt"
    target.write_text("")
    (folder / "localhost.key").symlink_to(target)
    with pytest.raises(certs.CertificateError, match="symbolic link"):
        certs.choose(home=tmp_path / "nobody", directory=folder)
    assert target.read_text() == ""                       # no key was written there


def test_a_new_certificate_folder_is_private(tmp_path):
    chosen = certs.choose(home=tmp_path / "nobody", directory=tmp_path / "new" / "certs")
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "certs").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(chosen.certfile).st_mode) == 0o644


# ------------------------------------------------------------------ the live server

import functools  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402

from llmcalc.excel import server  # noqa: E402
from llmcalc.excel.compute import Limits  # noqa: E402

from excel_fixtures import live_server  # noqa: E402
from worker_hooks import slow_calls  # noqa: E402


@pytest.fixture(scope="module")
def srv():
    with live_server(server.create_app(processes=2)) as s:
        yield s


@pytest.fixture(scope="module")
def client(srv):
    with httpx.Client(base_url=srv.url, trust_env=False, timeout=60) as c:
        yield c


def broadcast_batch(calls: int, side: int = 316) -> dict:
    """The amplification request that once made a 2.2 GB answer: each call a column of ``side`` against a row of ``side``
    (one-digit numbers: 1,000 such calls are 1.95 MB)."""
    col = [[i % 9 + 1] for i in range(side)]
    row = [[j % 9 + 1 for j in range(side)]]
    return {"calls": [{"function": "LLM_TRAIN_DAYS", "args": [col, row, 1024, "A100"]}] * calls}


def heaviest_batch() -> dict:
    """A batch at the budgets: 199,712 result cells (two calls at the 100,000-cell limit per call)."""
    return broadcast_batch(2)


def compact(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


# ------------------------------------------------------------------ 1. amplification


@pytest.mark.parametrize("calls", [1000, 200])
def test_a_batch_over_the_result_cell_budget_is_refused_before_computing(client, calls):
    """Regression: 1,000 calls × 316 × 316 broadcast cells (1.95 MB) made a 2.2 GB answer in 82 s,
    200 calls (0.39 MB) a 440 MB one. The result-cell limit was per call, with no total."""
    body = compact(broadcast_batch(calls))
    assert len(body) < Limits().max_body_bytes
    t0 = time.perf_counter()
    r = client.post("/api/v1/batch", content=body, headers={"content-type": "application/json"})
    elapsed = time.perf_counter() - t0
    assert r.status_code == 413, r.text[:300]
    message = r.json()["error"]["message"]
    total = calls * 316 * 316
    assert f"result cells come to {total:,} cells" in message and "at most 200,000" in message, message
    assert f"({total - 200_000:,} over)" in message, message
    assert len(r.content) < 1000 and elapsed < 10, (len(r.content), elapsed)


def test_the_answer_bytes_budget_is_checked_before_computing():
    """Over the answer budget, the whole batch is refused with the limit and the excess, and no call
    is computed (every call here would sleep 5 s in the worker)."""
    limits = Limits(max_response_bytes=100_000)
    slow = functools.partial(slow_calls, 5.0, "LLM_TRAIN_DAYS")
    with live_server(server.create_app(limits=limits, processes=2, initializer=slow)) as s, \
            httpx.Client(base_url=s.url, trust_env=False, timeout=30) as c:
        t0 = time.perf_counter()
        r = c.post("/api/v1/batch", json=broadcast_batch(1, side=70))        # 4,900 cells ≤ 137,200 bytes
        elapsed = time.perf_counter() - t0
    assert r.status_code == 413
    message = r.json()["error"]["message"]
    assert "answer's bytes come to" in message and "at most 100,000 bytes" in message and "over)" in message, message
    assert elapsed < 4.0                                  # refused before any call ran


def test_a_batch_within_the_budgets_is_answered_in_full(client):
    r = client.post("/api/v1/batch", json=broadcast_batch(2, side=300))     # 180,000 cells
    assert r.status_code == 200
    a, b = r.json()["results"]
    assert len(a["value"]) == 300 and len(a["value"][0]) == 300 and a == b
    from llmcalc.registry import by_sheet_name
    expected = by_sheet_name("LLM_TRAIN_DAYS").sheet_value(299 % 9 + 1, 7 % 9 + 1, 1024, "A100")
    assert a["value"][299][7] == pytest.approx(expected, rel=1e-12)


def _probe(url: str, stop: threading.Event, out: list) -> None:
    with httpx.Client(trust_env=False, timeout=30) as c:
        while not stop.is_set():
            t0 = time.perf_counter()
            assert c.get(f"{url}/healthz").status_code == 200
            out.append(time.perf_counter() - t0)
            time.sleep(0.05)


def test_healthz_answers_while_the_heaviest_allowed_requests_run(srv):
    """Regression: while one large batch was computed and its answer serialised on the event
    loop, /healthz went unanswered for about a minute. Four clients now send the heaviest
    requests the budgets allow (~200,000 result cells each) while /healthz is probed."""
    heavy = compact(heaviest_batch())
    latencies: list = []
    stop = threading.Event()
    prober = threading.Thread(target=_probe, args=(srv.url, stop, latencies))
    statuses = []

    def hostile():
        with httpx.Client(base_url=srv.url, trust_env=False, timeout=60) as c:
            for _ in range(2):
                r = c.post("/api/v1/batch", content=heavy, headers={"content-type": "application/json"})
                statuses.append((r.status_code, len(r.content) > 4_000_000))
    clients = [threading.Thread(target=hostile) for _ in range(4)]
    prober.start()
    for t in clients:
        t.start()
    for t in clients:
        t.join(120)
    stop.set()
    prober.join(30)
    assert statuses == [(200, True)] * 8                  # ~4.5 MB answers
    assert len(latencies) >= 10, latencies
    assert max(latencies) < 0.5, sorted(latencies)[-5:]   # benchmarks/load_test.py measures the p99 (< 100 ms)


# ------------------------------------------------------------------ 2. work that stops at its deadline


def test_distinct_expensive_unit_strings_cost_bounded_time(client):
    """Regression: distinct unit strings such as "1 kB*MB/GiB*ms/s" (with variations: the parse
    caches do not help) cost ~25 s of CPU in one request. Each request may make the server parse
    at most 200 different unit texts; the calls over it are cell errors naming the argument."""
    import itertools
    atoms = ["kB", "MB", "GB", "KiB", "MiB", "GiB", "ms", "s", "h", "min"]
    texts = [f"1 {a}*{b}/{c}*{d}/{e}" for a, b, c, d, e in itertools.islice(itertools.product(atoms, repeat=5), 1000)]
    body = {"calls": [{"function": "LLM_COMM_SECONDS", "args": [t, "200 Gb/s"]} for t in texts]}
    t0 = time.perf_counter()
    r = client.post("/api/v1/batch", json=body)
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200
    results = r.json()["results"]
    over = [x["error"] for x in results if "unit texts" in x.get("error", {}).get("message", "")]
    # 200 texts read (one may be the bandwidth's "Gb/s", if this worker had not read it before)
    assert 800 <= len(over) <= 801 and all(e["argument"] == "volume" for e in over), results[199:202]
    assert any("value" in x for x in results[:200])                 # "1 kB*MB/GiB*ms/s" is a number of bytes
    assert elapsed < 10, elapsed


def test_a_call_past_its_deadline_is_ended_and_frees_its_worker():
    """Regression: a call past the time limit was abandoned but kept running on one of 4 worker
    threads; four such requests answered "busy" to every other client for ~70 s. Now the worker
    process is ended at the deadline, so the next request is computed at once."""
    slow = functools.partial(slow_calls, 60.0, "LLM_PARAMS", when=7)      # would hold a worker for a minute
    app = server.create_app(limits=Limits(call_timeout_s=0.5), processes=2, initializer=slow)
    with live_server(app) as s, httpx.Client(base_url=s.url, trust_env=False, timeout=30) as c:
        answers = []

        def stuck():
            with httpx.Client(base_url=s.url, trust_env=False, timeout=30) as own:
                answers.append(own.get("/api/v1/call/LLM_PARAMS", params={"layers": "7", "hidden": "4096"}))
        threads = [threading.Thread(target=stuck) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [a.status_code for a in answers] == [503] * 4 and "0.5 s" in answers[0].text
        t0 = time.perf_counter()
        ok = c.get("/api/v1/call/LLM_PARAMS", params={"layers": "96", "hidden": "12288"})
        assert ok.status_code == 200 and float(ok.text) == pytest.approx(173.9e9, rel=1e-3)   # article 3
        assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ 3. and 4. no 5xx, no traceback


SURROGATE_BODIES = [
    b'{"calls":"\\udfff"}',
    b'{"calls":[{"function":"\\udfff"}]}',
    b'{"calls":[{"function":"LLM_PARAMS","\\udfff":1}]}',
    b'{"calls":[{"function":"LLM_PARAMS","named":{"\\udfff":1}}]}',
    b'{"calls":[{"function":"LLM_PARAMS","args":["\\udfff", 1]}]}',
    b'{"calls":[{"function":"LLM_GPU","args":["A100\\ud800"]}]}',
    b'{"\\udfff":[]}',
    b'\xff\xfe{"calls":[]}',
]


@pytest.mark.parametrize("body", SURROGATE_BODIES)
def test_lone_surrogates_and_bad_encodings_are_4xx_without_echo(client, body, caplog):
    """Regression: a lone surrogate in the body made FastAPI's default validation handler fail
    while echoing the input (a 500), and the error log then held the request value."""
    with caplog.at_level(logging.DEBUG, logger="llmcalc"), caplog.at_level(logging.DEBUG, logger="uvicorn"):
        for path in ("/api/v1/batch", "/api/v1/explain"):
            r = client.post(path, content=body, headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, r.status_code, r.text[:300])
            answer = r.json()
            json.dumps(answer, ensure_ascii=False).encode("utf-8")       # no unpaired surrogate comes back
            if r.status_code == 422:                                     # the body does not fit: never echoed
                assert "udfff" not in r.text.lower() and "ud800" not in r.text.lower(), r.text
            elif r.status_code == 200 and path.endswith("batch"):        # cell values or errors (an error
                assert all(sorted(x) in (["value"], ["error"]) for x in answer["results"])  # may quote,
            elif r.status_code != 200:                                   # escaped, the value it refuses)
                assert answer["error"]["message"]
        time.sleep(0.05)
    assert "udfff" not in caplog.text.lower() and "Traceback" not in caplog.text


def test_validation_errors_say_where_without_repeating_the_input(client):
    r = client.post("/api/v1/batch", json={"calls": [{"function": "LLM_PARAMS", "SECRET-KEY": 1}]})
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "calls.0.?" in message and "Extra inputs are not permitted" in message and "SECRET" not in message
    r = client.post("/api/v1/batch", json={"calls": [{"function": ["SECRET-VALUE"]}]})
    assert r.status_code == 422 and "calls.0.function" in r.text and "SECRET" not in r.text
    r = client.post("/api/v1/batch", content=b'{"calls": [', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not JSON" in r.json()["error"]["message"]


@pytest.mark.parametrize("function,args,argument", [
    ("LLM_COMM_SECONDS", ["1 B/dB", "200 Gb/s"], "volume"),
    ("LLM_COMM_SECONDS", ["1 Np*B", "200 Gb/s"], "volume"),
    ("LLM_TRAIN_COST", [175e9, 300e9, "A100", "$1 dB/h"], "price"),
    ("LLM_TRAIN_DAYS", ["175 dB", 300e9, 1024, "A100"], "params"),
])
def test_logarithmic_units_are_cell_errors_naming_the_argument(client, function, args, argument):
    """Regression: "1 B/dB", "1 Np*B" and "$1 dB/h" gave an internal error with a 38-line traceback
    in the log; "175 dB" was read as 220 parameters."""
    from llmcalc.registry import by_sheet_name
    fn = by_sheet_name(function)
    assert fn.args[args.index(next(a for a in args if isinstance(a, str) and "dB" in a or "Np" in str(a)))].name == argument
    [cell] = client.post("/api/v1/batch", json={"calls": [{"function": function, "args": args}]}).json()["results"]
    assert cell["error"]["code"] == "#VALUE!" and cell["error"]["argument"] == argument, cell
    assert "logarithmic unit" in cell["error"]["message"] and "internal error" not in cell["error"]["message"]
    p = client.get(f"/api/v1/call/{function}", params={a.name: str(v) for a, v in zip(fn.args, args)})
    assert p.status_code == 400 and f"argument '{argument}'" in p.text and "logarithmic" in p.text


# ------------------------------------------------------------------ 5. no silent wrong number


def test_a_count_over_the_exact_integer_range_is_an_error_not_a_wrapped_number(client):
    """Regression: LLM_TRAIN_MIN_GPUS over [1e30, 1e12] answered -9223372036854775808 (an int64
    that wrapped). The argument is named; no number comes back."""
    [cell] = client.post("/api/v1/batch", json={"calls": [
        {"function": "LLM_TRAIN_MIN_GPUS", "args": [[1e30, 1e12], "A100-80GB"]}]}).json()["results"]
    assert "value" not in cell and cell["error"]["code"] == "#NUM!" and cell["error"]["argument"] == "params", cell
    p = client.get("/api/v1/call/LLM_TRAIN_MIN_GPUS", params=[("params", "1e30"), ("params", "1e12"),
                                                              ("gpu", "A100-80GB")])
    assert p.status_code == 400 and "argument 'params'" in p.text and "9223372036854775808" not in p.text


# ------------------------------------------------------------------ 6. header trust and read timeouts


@pytest.mark.parametrize("path", ["/manifest.xml", "/functions.json", "/clients/llmcalc.gs", "/api/v1/functions",
                                  "/taskpane.html"])
def test_a_host_that_is_not_allowed_is_refused(client, srv, path):
    """Regression: the Host header was written into manifest.xml, functions.json and the Apps
    Script with no allowed-hosts list: on a tokenless loopback server, DNS rebinding could read them."""
    r = client.get(path, headers={"Host": "rebind.attacker.example"})
    assert r.status_code == 400 and "attacker" not in r.text
    for host in (f"localhost:{srv.port}", f"127.0.0.1:{srv.port}", f"[::1]:{srv.port}"):
        assert client.get(path, headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_are_the_base_url_host_and_the_configured_ones():
    app = server.create_app(base_url="https://llm.example.com", allowed_hosts=["addin.example.org"], processes=2)
    with live_server(app) as s, httpx.Client(base_url=s.url, trust_env=False) as c:
        assert c.get("/manifest.xml", headers={"Host": "llm.example.com"}).status_code == 200
        r = c.get("/functions.json", headers={"Host": "addin.example.org:4443"})
        assert r.status_code == 200 and "https://llm.example.com/taskpane.html" in r.text   # base_url wins
        assert c.get("/manifest.xml", headers={"Host": "other.example.com"}).status_code == 400


def test_proxy_headers_are_believed_only_from_trusted_proxies(caplog):
    """Regression: X-Forwarded-For/-Proto were trusted from any client (uvicorn trusts loopback by
    default): a client could spoof its address in the access log and get HSTS over plain HTTP."""
    spoof = {"Host": "llm.example.com", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for trusted, believed in (([], False), (["127.0.0.1"], True)):
        app = server.create_app(base_url="https://llm.example.com", trusted_proxies=trusted, processes=2)
        with live_server(app) as s, httpx.Client(base_url=s.url, trust_env=False) as c:
            with caplog.at_level(logging.INFO, logger="llmcalc.access"):
                caplog.clear()
                r = c.get("/healthz", headers=spoof)
                time.sleep(0.05)
        assert r.status_code == 200
        assert ("strict-transport-security" in r.headers) is believed
        [line] = [json.loads(x.getMessage()) for x in caplog.records if x.name == "llmcalc.access"]
        assert line["client"] == ("203.0.113.9" if believed else "127.0.0.1")


def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True, got
            got += chunk
    except (socket.timeout, ConnectionResetError):
        return False, got
    finally:
        sock.close()


def test_slow_headers_and_bodies_are_cut_off():
    """Regression: there was no read timeout for headers or bodies: 200 slow connections stayed open
    for 50 s. Headers must arrive within header_timeout_s, a body within body_timeout_s."""
    limits = Limits(header_timeout_s=0.5, body_timeout_s=0.5)
    with live_server(server.create_app(limits=limits, processes=2)) as s:
        silent = _raw(s.port, b"")
        partial = _raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        t0 = time.monotonic()
        assert _closed_within(silent, 3.0)[0] and _closed_within(partial, 3.0)[0]
        assert time.monotonic() - t0 < 2.5
        slow_body = _raw(s.port, b"POST /api/v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 100\r\n\r\n{\"calls\": [")
        closed, answer = _closed_within(slow_body, 3.0)
        assert closed and answer.startswith(b"HTTP/1.1 408"), answer[:200]
        # a connection that sends its request in time is served, and kept alive for the next one
        ok = _raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        ok.settimeout(5)
        assert ok.recv(4096).startswith(b"HTTP/1.1 200")
        ok.close()


@pytest.mark.parametrize("path", ["/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fcompute.py", "/..%2fserver.py",
                                  "/static/../server.py", "/functions.js/../../pyproject.toml"])
def test_static_files_never_leave_their_folder(client, path):
    """The task pane and icons are a Starlette StaticFiles folder: nothing outside it is served."""
    r = client.get(path)
    assert r.status_code == 404 and "root:" not in r.text and "import" not in r.text
