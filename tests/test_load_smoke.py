"""A short, bounded version of the load test (benchmarks/load_test.py): 10 concurrent clients for
3 seconds of mixed batches and plain-text calls against ``llmcalc serve --http`` on 127.0.0.1.
Every answer is checked against the in-process value; the run must have zero errors, keep the
server alive and its memory bounded."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import load_test  # noqa: E402


def test_ten_clients_for_three_seconds_zero_errors():
    r = load_test.run_load(clients=10, duration=3.0, seed=7, warmup=100)
    assert r["errors"] == 0, r["error_samples"]
    assert r["server_alive_at_end"]
    # served work of both kinds; how much fits in 3 s is a speed figure (benchmarks/load_test.py), not a test:
    # on this 2-core machine the same code answered 25-36 requests in 3 s between runs
    assert r["requests"] >= 10 and r["batches"] > 0 and r["plain_requests"] > 0, r
    assert r["wall_s"] < 3.0 + load_test.REQUEST_TIMEOUT_S
    assert r["rss_end_bytes"] - r["rss_start_bytes"] < 64 * 2**20, r
    assert r["p99_s"] < 5.0, r  # a few-ms request must not wait seconds behind the others
    table = load_test.markdown(r)
    assert "| errors (transport, non-200, wrong or missing value) | **0** |" in table


def test_the_checker_counts_wrong_values():
    """The load test's own check can fail: a wrong value is not accepted."""
    assert load_test.same([1.0, [2.0]], [1.0, [2.0]])
    assert not load_test.same([1.0, [2.0]], [1.0, [2.1]])
    assert not load_test.same(1.0, "1.0") and not load_test.same([1.0], [1.0, 2.0])
    assert load_test.same_plain("33.81", 33.81) and not load_test.same_plain("#VALUE!", 33.81)


def test_one_request_cannot_buy_seconds_of_server_time():
    """Safety (a server for a whole company): a request under the body limit must not keep
    the server busy for seconds. 1,000 calls × 240 unit strings is ~2 MB (under the 2 MB limit) and
    ~240,000 cells; it must be refused (413) or answered quickly. Before unit texts were cached
    (7553434) the single-process server spent ~6.5 s on it, and four such requests held a 1 ms GET
    for ~10 s; now it takes ~0.6 s."""
    import json
    import time

    import httpx

    from llmcalc.excel.compute import Limits
    from llmcalc.excel.server import create_app

    from excel_fixtures import live_server
    body = json.dumps({"calls": [{"function": "LLM_COMM_SECONDS", "args": [["5 GB"] * 240, "200 Gb/s", "80%"]}]
                       * 1000}).encode()
    assert Limits().max_body_bytes >= len(body), "the default body limit already refuses it"
    with live_server(create_app()) as srv, httpx.Client(base_url=srv.url, trust_env=False, timeout=30) as client:
        t0 = time.perf_counter()
        r = client.post("/api/v1/batch", content=body, headers={"content-type": "application/json"})
        elapsed = time.perf_counter() - t0
    assert r.status_code == 413 or elapsed < 3.0, (r.status_code, f"{elapsed:.1f} s for one request")


def test_benchmark_script_quick_mode_prints_the_table():
    """CI smoke of benchmarks/bench.py (no timing assertions here: CI machines are shared)."""
    import subprocess
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench.py"), "--quick", "--no-server"],
                         capture_output=True, text=True, timeout=300, cwd=str(root))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| metric | measured | baseline | ratio | target | pass |" in out.stdout
    for row in ("cold `import llmcalc`", "`train_days` scalar call", "`decode_step_time` sweep, 1,000,000"):
        assert row in out.stdout, out.stdout[-3000:]
    from llmcalc.registry import REGISTRY
    sys.path.insert(0, str(root / "benchmarks"))
    from bench import SEARCH_FUNCTIONS, SIMULATION_FUNCTIONS
    # every function has its row: a scalar call, or its own row for a layout search or a traffic simulation
    assert all(f"`{name}` scalar call" in out.stdout for name in set(REGISTRY) - SEARCH_FUNCTIONS - SIMULATION_FUNCTIONS)
    assert all(f"`{name}` call, uncached" in out.stdout for name in SIMULATION_FUNCTIONS)
    assert "`train_plan` scalar call: a layout search" in out.stdout


def test_the_hostile_requests_are_allowed_and_at_the_budgets():
    """The load test's hostile mix sends requests that every limit allows, at the budgets:
    the server must compute them, not refuse them."""
    import json

    from llmcalc.excel import compute, worker
    from llmcalc.excel.schemas import BatchRequest
    limits = compute.Limits()
    bodies = load_test.hostile_bodies()
    weights = []
    for body in bodies:
        assert len(body) <= limits.max_body_bytes
        calls = BatchRequest.model_validate(json.loads(body)).calls
        assert len(calls) <= limits.max_batch
        prepared = worker._prepare_all(calls, limits)
        assert all(isinstance(p, compute.Prepared) for p in prepared)
        assert worker._budget_problem(prepared, limits) is None
        weights.append(max(sum(p.cells_in for p in prepared), sum(p.cells_out for p in prepared)))
    assert max(weights) > 0.95 * limits.max_request_cells, weights
