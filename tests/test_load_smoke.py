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
    assert r["requests"] >= 30 and r["batches"] > 0 and r["plain_requests"] > 0, r
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
