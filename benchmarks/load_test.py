"""Bounded load test of the add-in server on loopback (issue 6, load).

    python benchmarks/load_test.py                        # 50 clients × 30 s, Markdown table
    python benchmarks/load_test.py --clients 10 --duration 3
    python benchmarks/load_test.py --workers 2            # `llmcalc serve --workers 2`
    python benchmarks/load_test.py --json out.json

Starts ``llmcalc serve --http`` on a free port of 127.0.0.1 in a subprocess (stopped at the end,
whatever happens), warms it up, then runs ``--clients`` concurrent keep-alive clients for
``--duration`` seconds. Each client sends a random mix (seeded) of:

* ``POST /api/v1/batch`` with 1 to 250 cells drawn from every registry function (the registry examples'
  arguments, some with units, some ranges of 10 values), 10% of the batches with one bad cell;
* ``GET /api/v1/call/LLM_…`` plain-text calls (20% of the requests).

Every answer is checked: HTTP 200, one result per cell, each value equal (rel. 1e-9) to the value
computed in this process before the run, and each bad cell a cell error with the expected code.
Anything else (a transport error, a timeout, another status, a wrong or missing value) counts as
an error. The server's resident memory (RSS) is sampled every second: after warm-up, at the
middle and at the end of the run. The load generator shares the machine with the server (its CPU
time is reported). Everything is bounded: requests time out after 30 s and the run stops at
``--duration``; the whole script stops within about ``--duration`` + 60 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

from bench import WITH_UNITS, Server, example_calls, fmt_time, machine_info  # noqa: E402

REQUEST_TIMEOUT_S = 30.0
BAD_CELLS = [  # (call, expected error code)
    ({"function": "LLM_TRAIN_DAYS", "args": [175e9, "10**10**10", 1024, "A100"]}, "#VALUE!"),
    ({"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 0, "A100"]}, "#VALUE!"),
    ({"function": "LLM_KV_CACHE_GB", "args": ["no-such-model", 4096]}, "#VALUE!"),
    ({"function": "LLM_NO_SUCH_FUNCTION", "args": [1]}, "#NAME?"),
    ({"function": "LLM_CONVERT", "args": [1, "GiB", "seconds"]}, "#VALUE!"),
]


# ------------------------------------------------------------------------------------------
# The workload: templates with their expected values, computed in process


def _json_value(v):
    import numpy as np
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def templates() -> list[dict]:
    """Cells (function, args, named) with the value the server must answer."""
    import llmcalc
    from llmcalc.registry import REGISTRY
    out = []
    for fn in REGISTRY.values():
        for args, kwargs in example_calls(fn):
            out.append({"function": fn.sheet_name, "args": list(args), "named": dict(kwargs)})
    for name, (args, kwargs) in WITH_UNITS.items():
        out.append({"function": REGISTRY[name].sheet_name, "args": list(args), "named": dict(kwargs)})
    # Ranges: a column of 10 parameter counts, a row of 10 contexts.
    out.append({"function": "LLM_TRAIN_DAYS", "args": [[[p] for p in (1e9, 7e9, 13e9, 34e9, 70e9, 175e9, 405e9, 1e12, 2e12, 5e12)],
                                                       300e9, 1024, "A100"], "named": {}})
    out.append({"function": "LLM_KV_CACHE_GB", "args": ["llama-2-70b", [[512, 1024, 2048, 4096, 8192, 16384, 32768, 65536,
                                                                         100000, 128000]]], "named": {}})
    for t in out:
        fn = llmcalc.lookup(t["function"])
        t["expected"] = _json_value(fn.sheet_value(*t["args"], **t["named"]))
    return out


def plain_templates(cells: list[dict]) -> list[dict]:
    """GET /api/v1/call/… requests: the cells whose arguments are all scalars, by name."""
    from llmcalc.registry import by_sheet_name
    out = []
    for t in cells:
        fn = by_sheet_name(t["function"])
        if any(isinstance(a, list) for a in t["args"]):
            continue
        params = {a.name: v for a, v in zip(fn.args, t["args"]) if v is not None}
        params.update(t["named"])
        out.append({"path": f"/api/v1/call/{fn.sheet_name}?{urlencode({k: str(v) for k, v in params.items()})}",
                    "expected": t["expected"]})
    return out


def same(got, want) -> bool:
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, str):
        return got == want
    return isinstance(got, (int, float)) and math.isclose(float(got), float(want), rel_tol=1e-9)


def same_plain(text: str, want) -> bool:
    if isinstance(want, str):
        return text == want
    try:
        return math.isclose(float(text), float(want), rel_tol=1e-9)
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------
# A minimal keep-alive HTTP/1.1 client (asyncio streams: little CPU left to the load generator)


class Connection:
    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" not in headers:
            raise ValueError(f"response without Content-Length: {status_line!r}")
        data = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split()[1]), data


# ------------------------------------------------------------------------------------------
# The run


class Stats:
    def __init__(self):
        self.latencies: list[float] = []
        self.requests = self.cells = self.batches = self.plain = 0
        self.errors: list[str] = []
        self.bad_cells_checked = 0

    def error(self, text: str):
        self.errors.append(text[:300])


async def timed_request(conn, stats: Stats, label: str, method: str, path: str, body: bytes | None = None):
    """One request with its latency recorded; (status, data), or None after counting the failure."""
    t0 = time.perf_counter()
    try:
        status, data = await asyncio.wait_for(conn.request(method, path, body), REQUEST_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - every failure is counted
        stats.error(f"{label}: {type(exc).__name__}: {exc}")
        await conn.close()
        return None
    stats.latencies.append(time.perf_counter() - t0)
    stats.requests += 1
    return status, data


async def client_loop(cid: int, port: int, stop_at: float, cells: list[dict], plain: list[dict], stats: Stats, seed: int):
    rng = random.Random(seed * 1000 + cid)
    conn = Connection(port)
    sizes = [1, 1, 2, 5, 10, 20, 50, 100, 250]
    try:
        while time.monotonic() < stop_at:
            if rng.random() < 0.2:
                t = rng.choice(plain)
                answer = await timed_request(conn, stats, f"GET {t['path'][:80]}", "GET", t["path"])
                if answer is None:
                    continue
                status, data = answer
                stats.plain += 1
                stats.cells += 1
                if status != 200 or not same_plain(data.decode("utf-8", "replace"), t["expected"]):
                    stats.error(f"GET {t['path'][:80]}: {status} {data[:200]!r} (expected {t['expected']!r:.80})")
                continue
            n = rng.choice(sizes)
            chosen = [rng.choice(cells) for _ in range(n)]
            bad_at, bad = -1, None
            if rng.random() < 0.1:
                bad_at, bad = rng.randrange(n), rng.choice(BAD_CELLS)
            calls = [{"function": c["function"], "args": c["args"], "named": c["named"]} for c in chosen]
            if bad is not None:
                calls[bad_at] = bad[0]
            body = json.dumps({"calls": calls}).encode()
            answer = await timed_request(conn, stats, f"POST batch of {n}", "POST", "/api/v1/batch", body)
            if answer is None:
                continue
            status, data = answer
            stats.batches += 1
            stats.cells += n
            if status != 200:
                stats.error(f"POST batch of {n}: HTTP {status}: {data[:200]!r}")
                continue
            try:
                results = json.loads(data)["results"]
            except (ValueError, KeyError) as exc:
                stats.error(f"POST batch of {n}: unreadable answer ({exc}): {data[:200]!r}")
                continue
            if len(results) != n:
                stats.error(f"POST batch of {n}: {len(results)} results")
                continue
            for i, (c, r) in enumerate(zip(chosen, results)):
                if i == bad_at:
                    stats.bad_cells_checked += 1
                    if (r.get("error") or {}).get("code") != bad[1]:
                        stats.error(f"bad cell {bad[0]} answered {r!r:.200}")
                elif "value" not in r or not same(r["value"], c["expected"]):
                    stats.error(f"{c['function']}{tuple(c['args'])}: {r!r:.200} (expected {c['expected']!r:.80})")
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its reaped children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


async def sample_rss(server, stop: asyncio.Event, out: list):
    t0 = time.monotonic()
    while not stop.is_set():
        out.append((time.monotonic() - t0, server.rss_bytes()))
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def _run(port, server, clients, duration, cells, plain, seed):
    stats = Stats()
    stop = asyncio.Event()
    rss: list = []
    sampler = asyncio.create_task(sample_rss(server, stop, rss))
    stop_at = time.monotonic() + duration
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(client_loop(i, port, stop_at, cells, plain, stats, seed)) for i in range(clients)]
    # Bounded: every client stops at stop_at and each request times out after REQUEST_TIMEOUT_S.
    done, pending = await asyncio.wait(tasks, timeout=duration + REQUEST_TIMEOUT_S + 10)
    for t in pending:
        t.cancel()
        stats.error("a client did not stop in time")
    for t in done:
        if t.exception() is not None:
            stats.error(f"client crashed: {t.exception()!r}")
    wall = time.perf_counter() - t0
    stop.set()
    await sampler
    return stats, wall, rss


def run_load(clients: int = 50, duration: float = 30.0, seed: int = 1, workers: int = 1, warmup: int = 200) -> dict:
    """Start a server, load it, stop it; returns the measurements."""
    import httpx
    cells = templates()
    plain = plain_templates(cells)
    client_cpu0 = time.process_time()
    with Server(workers=workers) as server:
        port = server.port
        # Warm-up: every template once, then a few batches (first-use costs are not a leak).
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as c:
            for _ in range(max(1, warmup // 100)):
                r = c.post("/api/v1/batch", json={"calls": [{k: t[k] for k in ("function", "args", "named")}
                                                            for t in cells] * 3})
                r.raise_for_status()
            for t in plain[:10]:
                c.get(t["path"]).raise_for_status()
        rss_start = server.rss_bytes()
        cpu_start = cpu_seconds(server.proc.pid)
        stats, wall, rss = asyncio.run(_run(port, server, clients, duration, cells, plain, seed))
        rss_end = server.rss_bytes()
        server_cpu = cpu_seconds(server.proc.pid) - cpu_start
        alive = server.proc.poll() is None
    client_cpu = time.process_time() - client_cpu0
    lat = sorted(stats.latencies)
    q = (lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else float("nan"))
    mid = [b for t, b in rss if t >= duration / 2]
    result = {
        "clients": clients, "duration_s": duration, "wall_s": wall, "workers": workers, "seed": seed,
        "requests": stats.requests, "batches": stats.batches, "plain_requests": stats.plain, "cells": stats.cells,
        "bad_cells_checked": stats.bad_cells_checked,
        "throughput_rps": stats.requests / wall if wall else 0.0, "cells_per_s": stats.cells / wall if wall else 0.0,
        "p50_s": q(0.50), "p90_s": q(0.90), "p99_s": q(0.99), "max_s": lat[-1] if lat else float("nan"),
        "errors": len(stats.errors), "error_samples": stats.errors[:10],
        "rss_start_bytes": rss_start, "rss_mid_bytes": mid[0] if mid else rss_start, "rss_end_bytes": rss_end,
        "rss_max_bytes": max([b for _, b in rss] + [rss_end]),
        "server_cpu_s": server_cpu if workers == 1 else None, "client_cpu_s": client_cpu,
        "server_alive_at_end": alive, "machine": machine_info(),
    }
    return result


def steady_memory(r: dict) -> bool:
    """RSS in the second half grows by < 10% and < 32 MiB (warm-up excluded)."""
    growth = r["rss_end_bytes"] - r["rss_mid_bytes"]
    return growth < 32 * 2**20 and growth < 0.10 * r["rss_mid_bytes"]


def markdown(r: dict) -> str:
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    m = r["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; server `llmcalc serve --http` "
             f"({r['workers']} worker{'s' if r['workers'] > 1 else ''}) and load generator on the same machine. "
             f"Run {m['date']}.", "",
             "| metric | value |", "|---|---|",
             f"| concurrent clients × duration | {r['clients']} × {r['duration_s']:g} s (wall {r['wall_s']:.1f} s) |",
             f"| requests (batches + plain-text GETs) | {r['requests']:,} ({r['batches']:,} + {r['plain_requests']:,}) |",
             f"| cells computed | {r['cells']:,} (of which {r['bad_cells_checked']:,} deliberate bad cells, answered as cell errors) |",
             f"| throughput | {r['throughput_rps']:,.0f} requests/s, {r['cells_per_s']:,.0f} cells/s |",
             f"| latency p50 / p90 / p99 / max | {fmt_time(r['p50_s'])} / {fmt_time(r['p90_s'])} / {fmt_time(r['p99_s'])} / {fmt_time(r['max_s'])} |",
             f"| errors (transport, non-200, wrong or missing value) | **{r['errors']}** |",
             f"| server RSS after warm-up / at half time / at end (max) | {mib(r['rss_start_bytes'])} / {mib(r['rss_mid_bytes'])} / "
             f"{mib(r['rss_end_bytes'])} ({mib(r['rss_max_bytes'])}) |",
             f"| memory steady (second half grows < 10% and < 32 MiB) | {'yes' if steady_memory(r) else '**no**'} |",
             ]
    if r["server_cpu_s"] is not None:
        lines.append(f"| CPU: server / load generator | {r['server_cpu_s']:.1f} s / {r['client_cpu_s']:.1f} s |")
    if r["error_samples"]:
        lines += ["", "First errors:", *[f"* `{e}`" for e in r["error_samples"]]]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds (at most 600)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE")
    ns = ap.parse_args(argv)
    if not (1 <= ns.clients <= 1000 and 0 < ns.duration <= 600):
        ap.error("--clients must be 1..1000 and --duration 0..600 s")
    r = run_load(ns.clients, ns.duration, ns.seed, ns.workers)
    print(markdown(r))
    if ns.json:
        Path(ns.json).write_text(json.dumps(r, indent=2))
    return 0 if r["errors"] == 0 and r["server_alive_at_end"] and steady_memory(r) else 1


if __name__ == "__main__":
    sys.exit(main())
