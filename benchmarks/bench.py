"""Speed of llmcalc: import, scalar calls, the server, and vectorised sweeps.

    python benchmarks/bench.py                 # full run (~1 minute on 2 cores), Markdown table
    python benchmarks/bench.py --quick         # CI smoke: same metrics, fewer repetitions (~15 s)
    python benchmarks/bench.py --strict        # exit status 1 if a target is missed
    python benchmarks/bench.py --no-server     # skip the HTTP rows
    python benchmarks/bench.py --json out.json # also write the raw numbers

Every row is measured against a plain-float baseline of the same formula in the same run and
reported as a ratio:

* import: a fresh interpreter running ``import llmcalc``, against one running ``import numpy``
  (the floor: llmcalc needs NumPy). Warm OS file cache, ``.pyc`` files present.
* scalar calls: ``llmcalc.<function>(...)`` with each registry example's arguments (every registry
  function; the row shows its slowest example), against the function's formula (its implementation) called with the already-parsed
  plain floats, GPU and model records: no parsing, validation or units.
* server: ``llmcalc serve --http`` in a subprocess on 127.0.0.1, a keep-alive HTTP client;
  one ``GET /api/v1/call/LLM_TRAIN_DAYS``, one ``POST /api/v1/batch`` of one call, and one batch
  of 1,000 cells that cycles through every registry function (end to end: JSON encoding, HTTP,
  parsing, computing, decoding). Baseline: the same formulas on plain floats.
* sweeps: 1,000,000 scenarios as NumPy arrays inside pint Quantities through ``train_days`` and
  ``decode_step_time`` (the calibrated model, and the articles' roofline with explicit
  utilisations), against the same formula on plain NumPy float arrays.
* simulator: an hour of Poisson traffic at 50 requests/s through the in-flight batching simulator
  (target < 2 s), and an uncached ``serving_capacity`` call.

Times are medians over repetitions (after a warm-up); latency rows give p50 (and p99 in the
notes). Targets: import < 0.5 s; each scalar call < 100 µs; a 1,000-cell batch through
the server < 1 s; a 1e6 sweep < 0.5 s and within 5× of the NumPy float baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IMPORT_TARGET_S = 0.5
SCALAR_TARGET_S = 100e-6
BATCH_TARGET_S = 1.0
SWEEP_TARGET_S = 0.5
SWEEP_RATIO_TARGET = 5.0
SWEEP_N = 1_000_000
# Cluster training: one layout < 200 µs; a layout search over 16,384 GPUs < 0.5 s. The
# search function is timed in its own rows, not as a scalar call or a cell of the 1,000-cell batch.
ITERATION_TARGET_S = 200e-6
SEARCH_TARGET_S = 0.5
SEARCH_FUNCTIONS = {"train_plan"}
LAYOUT_FUNCTIONS = {"train_iteration_time", "train_mfu"}
SIM_TARGET_S = 2.0      # an hour of Poisson traffic at 50 requests/s through the serving simulator
# Functions that run the serving simulator (simulated traffic, not a formula): timed in their own rows
# (bench_simulator), not as scalar calls (< 100 µs) or cells of the 1,000-cell batch.
SIMULATION_FUNCTIONS = {"serving_throughput", "serving_latency", "serving_capacity", "serving_gpus", "serving_cost",
                        "serving_cost_per_mtok", "serving_plan", "breakeven"}

# The same calls typed with units, as people type them into cells.
WITH_UNITS = {
    "train_days": (("175B", "300B tokens", 1024, "A100", "45%"), {}),
    "comm_seconds": (("500 GB", "200 Gb/s", "80%"), {}),
    "train_cost": (("175B", "300B", "A100", "$2.21/h"), {}),
}


@dataclass
class Row:
    metric: str
    measured: float                 # seconds
    baseline: float | None = None   # seconds
    target: str = "—"
    passed: bool | None = None
    note: str = ""
    group: str = ""

    @property
    def ratio(self) -> float | None:
        return self.measured / self.baseline if self.baseline else None


@dataclass
class Report:
    machine: dict
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {row.metric}: {fmt_time(row.measured)}"
              + (f" (baseline {fmt_time(row.baseline)}, {row.ratio:.1f}×)" if row.baseline else ""),
              file=sys.stderr, flush=True)
        return row


# ------------------------------------------------------------------------------------------
# Helpers


def fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e9:.0f} ns"


def _loops_for(fn, min_time: float) -> int:
    """How many calls of ``fn`` take about ``min_time``."""
    fn()
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time / 5 or n >= 1_000_000:
            break
        n *= 4
    return max(1, int(n * (min_time / max(t, 1e-9))))


def _loop_time(fn, loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops


def per_call(fn, min_time: float, repeats: int) -> float:
    """Median over ``repeats`` of the mean time of ``fn()`` in a loop lasting about ``min_time``."""
    loops = _loops_for(fn, min_time)
    return statistics.median(_loop_time(fn, loops) for _ in range(repeats))


def per_call_paired(fn_a, fn_b, min_time: float, repeats: int) -> tuple[float, float]:
    """Like :func:`per_call` for two functions, their loops alternated (same machine load)."""
    la, lb = _loops_for(fn_a, min_time), _loops_for(fn_b, min_time)
    a, b = [], []
    for _ in range(repeats):
        a.append(_loop_time(fn_a, la))
        b.append(_loop_time(fn_b, lb))
    return statistics.median(a), statistics.median(b)


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def paired(fn_a, fn_b, repeats: int) -> tuple[float, float]:
    """Medians of two timings taken alternately (so both see the same machine load)."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn_a()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fn_b()
        b.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def machine_info() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    import numpy
    import pint
    versions = {"python": platform.python_version(), "numpy": numpy.__version__, "pint": pint.__version__}
    for mod in ("fastapi", "uvicorn", "pydantic"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": usable, "memory": mem, "os": f"{platform.system()} {platform.release()}",
            "versions": versions, "load_1min": load, "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def example_calls(fn) -> list[tuple[tuple, dict]]:
    """The calls a function is benchmarked with: its registry examples (llmcalc/api/*), each
    (positional args, keyword args)."""
    return [(tuple(e.args), dict(e.kwargs)) for e in fn.examples]


# ------------------------------------------------------------------------------------------
# Import


def bench_import(report: Report, repeats: int):
    code = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(mod):
        out = subprocess.run([sys.executable, "-c", code.format(mod=mod)], capture_output=True, text=True,
                             env=env, cwd=str(ROOT), check=True, timeout=60)
        return float(out.stdout.strip().splitlines()[-1])

    run("llmcalc"), run("numpy")
    llm, base = [], []
    for _ in range(repeats):
        llm.append(run("llmcalc"))
        base.append(run("numpy"))
    m = statistics.median(llm)
    report.add(Row("cold `import llmcalc` (fresh interpreter)", m, statistics.median(base),
                   f"< {IMPORT_TARGET_S} s", m < IMPORT_TARGET_S, "baseline: `import numpy`", "import"))
    first = "import time; t = time.perf_counter(); import llmcalc; llmcalc.train_days(175e9, 300e9, 1024, 'A100'); print(time.perf_counter() - t)"
    samples = []
    for _ in range(max(1, repeats // 2)):
        out = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, env=env, cwd=str(ROOT),
                             check=True, timeout=60)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    report.add(Row("`import llmcalc` + first call (builds the unit registry)", statistics.median(samples),
                   statistics.median(base), "—", None, "informational", "import"))


# ------------------------------------------------------------------------------------------
# Scalar calls


def bench_scalar(report: Report, min_time: float, repeats: int):
    import llmcalc  # noqa: F401
    from llmcalc.registry import REGISTRY
    for name, fn in REGISTRY.items():
        if name in SEARCH_FUNCTIONS | SIMULATION_FUNCTIONS:
            continue  # bench_cluster, bench_simulator
        slowest = (0.0, 0.0)  # every example of the function; the row shows the slowest
        for args, kwargs in example_calls(fn):
            values = fn.bind(args, dict(kwargs))
            slowest = max(slowest, per_call_paired(lambda: fn(*args, **kwargs), lambda: fn.impl(**fn.impl_kwargs(values)),
                                                   min_time, repeats))
        measured, base = slowest
        target = ITERATION_TARGET_S if name in LAYOUT_FUNCTIONS else SCALAR_TARGET_S
        report.add(Row(f"`{name}` scalar call (slowest of its {len(fn.examples)} examples)", measured, base,
                       f"< {target * 1e6:.0f} µs", measured < target, group="scalar"))
    for name, (args, kwargs) in WITH_UNITS.items():
        fn = REGISTRY[name]
        values = fn.bind(tuple(args), dict(kwargs))
        measured, base = per_call_paired(lambda: fn(*args, **kwargs), lambda: fn.impl(**fn.impl_kwargs(values)), min_time, repeats)
        shown = ", ".join(repr(a) for a in args)
        report.add(Row(f"`{name}({shown})` (unit strings)", measured, base, "< 100 µs",
                       measured < SCALAR_TARGET_S, group="scalar"))
    # The headline formula against a hand-written plain-float Python function.
    fn = REGISTRY["train_days"]

    def plain_train_days(p, d, n, peak=312e12, mfu=0.45):
        return 8.0 * p * d / (n * peak * mfu) / 86400.0
    measured, base = per_call_paired(lambda: fn(175e9, 300e9, 1024, "A100"),
                                     lambda: plain_train_days(175e9, 300e9, 1024), min_time, repeats)
    report.add(Row("`train_days` vs a hand-written float function", measured, base, "< 100 µs",
                   measured < SCALAR_TARGET_S, "baseline: `8*P*D/(N*peak*mfu)/86400` on floats", "scalar"))


# ------------------------------------------------------------------------------------------
# Sweeps


def bench_sweeps(report: Report, repeats: int, n: int = SWEEP_N):
    import numpy as np

    import llmcalc
    from llmcalc import catalog, perf
    from llmcalc.api.args import SERVING
    from llmcalc.hardware import DTYPE_BYTES
    ureg = llmcalc.ureg()
    rng = np.random.default_rng(0)
    p = rng.uniform(1e9, 1e12, n)
    d = rng.uniform(1e10, 1e13, n)
    g = rng.integers(1, 10_000, n).astype(float)
    P, D, G = ureg.Quantity(p, "parameter"), ureg.Quantity(d, "token"), ureg.Quantity(g, "GPU")
    a100 = catalog.gpu("A100")
    peak = a100.peak_flops("bf16")

    def numpy_train_days():
        return 8.0 * p * d / (g * peak * 0.45) / 86400.0

    def llm_train_days():
        return llmcalc.train_days(P, D, G, "A100")

    np.testing.assert_allclose(llm_train_days().magnitude, numpy_train_days(), rtol=1e-12)
    m, b = paired(llm_train_days, numpy_train_days, repeats)
    report.add(Row(f"`train_days` sweep, {n:,} scenarios (Quantity arrays)", m, b,
                   f"< {SWEEP_TARGET_S} s, ≤ {SWEEP_RATIO_TARGET:g}× NumPy", m < SWEEP_TARGET_S and m / b <= SWEEP_RATIO_TARGET,
                   "baseline: the formula on NumPy float arrays", "sweep"))

    batch = rng.integers(1, 257, n).astype(float)
    context = rng.integers(1, 32_769, n).astype(float)
    B, C = ureg.Quantity(batch, ""), ureg.Quantity(context, "token")
    m70, h100 = catalog.model("llama-2-70b"), catalog.gpu("H100")
    settings = SERVING.defaults(gpus=2)

    def llm_decode():
        return llmcalc.decode_step_time("llama-2-70b", "H100", B, C, 2)

    def numpy_decode():  # the same calibrated model, called on plain float arrays
        return perf.decode_step(m70, h100, batch, context, settings).seconds

    np.testing.assert_allclose(llm_decode().magnitude, numpy_decode(), rtol=1e-12)
    m, b = paired(llm_decode, numpy_decode, repeats)
    report.add(Row(f"`decode_step_time` sweep, {n:,} scenarios (calibrated model)", m, b,
                   f"< {SWEEP_TARGET_S} s, ≤ {SWEEP_RATIO_TARGET:g}× NumPy", m < SWEEP_TARGET_S and m / b <= SWEEP_RATIO_TARGET,
                   "baseline: `llmcalc.perf.decode_step` on NumPy float arrays", "sweep"))

    w = float(m70.params()) * DTYPE_BYTES["bf16"]
    kvt = m70.kv_values_per_token() * DTYPE_BYTES["bf16"]
    pa = float(m70.params(active=True))
    fe, be = h100.peak_flops("bf16") * 0.5, h100.bandwidth * 0.8

    def llm_roofline():
        return llmcalc.decode_step_time("llama-2-70b", "H100", B, C, 2, mfu=0.5, bandwidth_utilization=0.8)

    def numpy_roofline():
        return np.maximum((w + kvt * batch * context) / (2 * be), 2.0 * pa * batch / (2 * fe))

    np.testing.assert_allclose(llm_roofline().magnitude, numpy_roofline(), rtol=1e-12)
    m, b = paired(llm_roofline, numpy_roofline, repeats)
    report.add(Row(f"`decode_step_time` sweep, {n:,} scenarios (roofline, mfu/bandwidth given)", m, b,
                   f"< {SWEEP_TARGET_S} s, ≤ {SWEEP_RATIO_TARGET:g}× NumPy", m < SWEEP_TARGET_S and m / b <= SWEEP_RATIO_TARGET,
                   "baseline: max(memory, compute) on NumPy float arrays", "sweep"))


def bench_python_loop(report: Report, n: int = SWEEP_N):
    """For scale: the same 1e6 train_days scenarios as a plain-float Python loop."""
    import numpy as np
    rng = np.random.default_rng(0)
    p, d = rng.uniform(1e9, 1e12, n).tolist(), rng.uniform(1e10, 1e13, n).tolist()
    g = rng.integers(1, 10_000, n).astype(float).tolist()
    pa, da, ga = np.array(p), np.array(d), np.array(g)
    loop = median_time(lambda: [8.0 * x * y / (z * 312e12 * 0.45) / 86400.0 for x, y, z in zip(p, d, g)], 3)
    vec = median_time(lambda: 8.0 * pa * da / (ga * 312e12 * 0.45) / 86400.0, 5)
    report.add(Row(f"plain-float Python loop, {n:,} `train_days` scenarios (for scale)", loop, vec, "—", None,
                   "baseline: the NumPy float formula; llmcalc's sweep is the row above", "sweep"))


# ------------------------------------------------------------------------------------------
# Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``llmcalc serve --http`` on a free loopback port, in a subprocess (stopped on exit)."""

    def __init__(self, workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "import sys; from llmcalc.cli import main; sys.exit(main())", "serve", "--http",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import httpx
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not answer /healthz within 60 s")

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its children (uvicorn workers)."""
        total = 0
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def batch_calls(n: int) -> list[dict]:
    """``n`` cells cycling through every registry function, as the add-in sends them."""
    from llmcalc.registry import REGISTRY
    calls = []
    fns = [fn for fn in REGISTRY.values() if fn.name not in SEARCH_FUNCTIONS | SIMULATION_FUNCTIONS]
    for i in range(n):
        fn = fns[i % len(fns)]
        args, kwargs = example_calls(fn)[0]
        calls.append({"function": fn.sheet_name, "args": list(args), "named": dict(kwargs)})
    return calls


def formula_baseline(calls: list[dict]):
    """The plain-float formulas of ``calls`` (pre-parsed), as one callable."""
    from llmcalc.registry import by_sheet_name
    prepared = []
    for c in calls:
        fn = by_sheet_name(c["function"])
        prepared.append((fn.impl, fn.impl_kwargs(fn.bind(tuple(c["args"]), dict(c["named"])))))
    return lambda: [impl(**values) for impl, values in prepared]


def bench_server(report: Report, single: int, batches: int):
    import httpx

    import llmcalc
    from llmcalc.registry import REGISTRY
    fn = REGISTRY["train_days"]
    values = fn.bind((175e9, 300e9, 1024, "A100"), {})
    one_base = per_call(lambda: fn.impl(**fn.impl_kwargs(values)), 0.05, 3)
    calls = batch_calls(1000)
    # Every cell must compute (an error cell would make the batch look faster than it is).
    for c in calls[: len(REGISTRY)]:
        by = llmcalc.lookup(c["function"])
        by.sheet_value(*c["args"], **c["named"])
    base_1000 = median_time(formula_baseline(calls), 5)
    with Server() as server, httpx.Client(base_url=server.url, timeout=30) as client:
        url = "/api/v1/call/LLM_TRAIN_DAYS?params=175e9&tokens=300e9&gpus=1024&gpu=A100"
        assert client.get(url).text.startswith("33.81")
        lat = []
        for _ in range(single):
            t0 = time.perf_counter()
            r = client.get(url)
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200
        lat.sort()
        report.add(Row("server: 1 call, `GET /api/v1/call/LLM_TRAIN_DAYS` (loopback HTTP)", statistics.median(lat),
                       one_base, "—", None, f"p99 {fmt_time(lat[int(0.99 * (len(lat) - 1))])} over {single} requests",
                       "server"))
        body = {"calls": [{"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]}]}
        lat = []
        for _ in range(single):
            t0 = time.perf_counter()
            r = client.post("/api/v1/batch", json=body)
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200 and "value" in r.json()["results"][0]
        lat.sort()
        report.add(Row("server: batch of 1 call, `POST /api/v1/batch`", statistics.median(lat), one_base, "—", None,
                       f"p99 {fmt_time(lat[int(0.99 * (len(lat) - 1))])} over {single} requests", "server"))
        big = {"calls": calls}
        times = []
        for i in range(batches + 1):
            t0 = time.perf_counter()
            r = client.post("/api/v1/batch", json=big)
            results = r.json()["results"]
            dt = time.perf_counter() - t0
            assert r.status_code == 200 and len(results) == 1000
            errors = [x for x in results if "error" in x]
            assert not errors, errors[:3]
            if i:
                times.append(dt)
        m = statistics.median(times)
        report.add(Row(f"server: batch of 1,000 cells ({len(REGISTRY)} functions), end to end", m, base_1000,
                       f"< {BATCH_TARGET_S:g} s", m < BATCH_TARGET_S,
                       f"max {fmt_time(max(times))} over {len(times)} batches; baseline: the 1,000 formulas on floats",
                       "server"))
    # For comparison: the same 1,000 cells in process (parsing + validation + formulas, no HTTP).
    in_proc = median_time(lambda: [llmcalc.lookup(c["function"]).sheet_value(*c["args"], **c["named"]) for c in calls], 5)
    report.add(Row("in process: the same 1,000 cells through `sheet_value`", in_proc, base_1000, "—", None,
                   "what the server adds is the difference to the row above", "server"))


# ------------------------------------------------------------------------------------------
# Output


def bench_cluster(report: Report, repeats: int):
    """Cluster training: one layout (explicit micro-batch and recomputation, and with both chosen) and
    layout searches, against the plain step-model call (no parsing, checks or result object)."""
    import llmcalc
    from llmcalc.parallel import estimate as est, search as srch, step
    from llmcalc.perf import comm, profile
    m, g = llmcalc.model("Llama-3.1-70B"), llmcalc.gpu("H100")
    prof, cl, a, stk = profile.derived(g), comm.cluster_of(g), step.arch(m), est.get_stack("modern")
    plain = lambda: step.iteration(a, prof, g, cl, tp=8.0, pp=4.0, cp=1.0, dp=32.0, ep=1.0, vp=1.0, mb=1.0, sp=True,  # noqa: E731
                                   shard=1, recompute=1.0, seq=8192, global_batch=512, stack=stk)
    measured, base = per_call_paired(lambda: llmcalc.train_iteration_time(m, g, "tp=8 pp=4 dp=32 mb=1", 8192, 512, "selective"),
                                     plain, 0.1, repeats)
    report.add(Row("`train_iteration_time`, one layout (Llama 3.1 70B, 1,024 H100)", measured, base,
                   f"< {ITERATION_TARGET_S * 1e6:.0f} µs", measured < ITERATION_TARGET_S,
                   "baseline: the step model on parsed floats", "cluster"))
    measured = per_call(lambda: llmcalc.train_iteration_time(m, g, "tp=8 pp=4 dp=32", 8192, 512), 0.1, repeats)
    report.add(Row("`train_iteration_time`, micro-batch and recomputation chosen (21 candidates)", measured, None, "—", None,
                   "informational", "cluster"))
    for name, n, seq, gbs, target in (("Llama-3.1-405B", 16384, 8192, 2048, SEARCH_TARGET_S),
                                      ("DeepSeek-V3", 2048, 4096, 4096, None)):
        mm = llmcalc.model(name)
        t = median_time(lambda: llmcalc.train_plan(mm, g, n, seq, gbs), repeats)
        count = srch.search(mm, g, n, seq, gbs).evaluated
        report.add(Row(f"`train_plan` scalar call: a layout search, {name} on {n:,} H100 ({count:,} layouts)", t, None,
                       f"< {target} s" if target else "—", (t < target) if target else None,
                       "" if target else "informational (MoE: × expert-parallel degrees)", "cluster"))
    t = median_time(lambda: llmcalc.train_days("Llama-3.1-70B", 15e12, 2048, "H100", "auto"), repeats)
    report.add(Row("`train_days(…, mfu=\"auto\")` (a layout search)", t, None, "—", None, "informational", "cluster"))


def markdown(report: Report) -> str:
    m = report.machine
    v = ", ".join(f"{k} {val}" for k, val in m["versions"].items())
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; {v}. "
             f"Load average at start: {m['load_1min']:.2f}. Run {m['date']}." if m["load_1min"] is not None else
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; {v}. Run {m['date']}.",
             "", "| metric | measured | baseline | ratio | target | pass |", "|---|---|---|---|---|---|"]
    for r in report.rows:
        ok = "—" if r.passed is None else ("pass" if r.passed else "**FAIL**")
        ratio = f"{r.ratio:.1f}×" if r.ratio is not None else "—"
        note = f" <br><sub>{r.note}</sub>" if r.note else ""
        lines.append(f"| {r.metric}{note} | {fmt_time(r.measured)} | {fmt_time(r.baseline)} | {ratio} | {r.target} | {ok} |")
    failed = [r.metric for r in report.rows if r.passed is False]
    lines += ["", f"{sum(r.passed is True for r in report.rows)} targets met, {len(failed)} missed"
              + (": " + "; ".join(failed) if failed else "") + "."]
    return "\n".join(lines)


def bench_simulator(report: Report, repeats: int):
    """The in-flight batching simulator (llmcalc/serving): an hour of Poisson traffic at 50 requests/s of
    1,500 prompt + 300 output tokens, uncached (a fresh run each time; the step table is built once).
    CPU time of this process (the machine may be shared); the second replica is overloaded (its queue
    grows all hour), the hardest case for the simulator."""
    from llmcalc.serving import Replica, arrivals, metrics
    for model, gpu, gpus in (("llama-3-8b", "B200", 1), ("llama-3.1-70b", "H100", 8)):
        r = Replica(model, gpu, gpus=gpus, dtype="fp8")
        t = arrivals.poisson(50, duration=3600, seed=0)
        samples, res = [], None
        for _ in range(repeats):
            start = time.process_time()
            res = metrics.summarize(r.run(1500, 300, arrival=t))
            samples.append(time.process_time() - start)
        m = statistics.median(samples)
        report.add(Row(f"serving simulator: 1 h at 50 req/s, {model} on {gpus} × {gpu} ({len(t):,} requests, "
                       f"{res['steps']:,} steps; CPU time)", m, None, f"< {SIM_TARGET_S:g} s", m < SIM_TARGET_S,
                       f"served {res['request_rate']:.1f} req/s, TTFT p99 {res['ttft']['p99'] * 1e3:.0f} ms, "
                       f"TPOT p50 {res['tpot']['p50'] * 1e3:.1f} ms", "simulator"))
    import llmcalc
    from llmcalc.serving import _REPLICAS
    samples = []
    for _ in range(max(1, repeats // 2)):
        _REPLICAS.clear()
        start = time.process_time()
        llmcalc.serving_capacity("llama-3.1-70b", "H100", 1500, 300, ttft_slo=1.0, tpot_slo=0.04, gpus=4, dtype="fp8")
        samples.append(time.process_time() - start)
    report.add(Row("`serving_capacity` uncached (70B on 4 × H100, 1 s / 40 ms targets: ~8 simulated runs)",
                   statistics.median(samples), None, "—", None, "informational; repeated calls are cached", "simulator"))
    from llmcalc.registry import REGISTRY
    for name in sorted(SIMULATION_FUNCTIONS):
        fn = REGISTRY[name]
        slowest = 0.0
        for args, kwargs in example_calls(fn):
            _REPLICAS.clear()
            start = time.process_time()
            fn(*args, **kwargs)
            slowest = max(slowest, time.process_time() - start)
        report.add(Row(f"`{name}` call, uncached (slowest of its {len(fn.examples)} examples)", slowest, None, "—", None,
                       "informational: simulates traffic; repeated calls are cached", "simulator"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (CI smoke test)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if a target is missed")
    ap.add_argument("--no-server", action="store_true", help="skip the HTTP server rows")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ns = ap.parse_args(argv)
    report = Report(machine_info())
    print("benchmarking (progress on stderr) …", file=sys.stderr)
    if ns.quick:
        bench_import(report, 3)
        bench_scalar(report, 0.02, 3)
        bench_sweeps(report, 3)
        bench_cluster(report, 3)
        bench_simulator(report, 1)
        if not ns.no_server:
            bench_server(report, 50, 2)
    else:
        bench_import(report, 7)
        bench_scalar(report, 0.1, 5)
        bench_sweeps(report, 7)
        bench_cluster(report, 7)
        bench_simulator(report, 3)
        bench_python_loop(report)
        if not ns.no_server:
            bench_server(report, 500, 7)
    text = markdown(report)
    print(text)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"machine": report.machine,
                                             "rows": [dict(asdict(r), ratio=r.ratio) for r in report.rows]}, indent=2))
    return 1 if ns.strict and any(r.passed is False for r in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
