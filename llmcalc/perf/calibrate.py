"""``llmcalc calibrate``: measure this machine's ceilings and overheads, write a GPU profile.

    llmcalc calibrate                      # CUDA GPU 0, writes ~/.config/llmcalc/profiles/<gpu>.json
    llmcalc calibrate --gpu H100 --out my-h100.json
    llmcalc calibrate --device cpu --tiny --out cpu.json   # what the CI test runs

Needs PyTorch (``pip install llmcalc-costs[calibrate]``); PyTorch is never a core dependency.
It measures, with the same kernels the reference engine uses:

* ``matmul_flops``: dense matmul FLOP/s per dtype on square matrices (8192³ on a GPU);
* ``bandwidth``: read bandwidth (a sum over a 2 GiB tensor);
* ``gemm.efficiency``: LLM-shaped GEMMs (tokens × hidden × 3·hidden, …) relative to the square ceiling;
* ``attention.efficiency``: causal ``scaled_dot_product_attention`` FLOP/s (head dim 128)
  relative to the matmul ceiling; ``attention.decode_position_s``: time per cached position of
  a grouped-query decode attention with one sequence;
* ``overheads.kernel_s``: time per small kernel in a chain (replayed from a CUDA graph on a GPU,
  as the engine does); ``overheads.step_s``: the fixed cost of launching one step.

The byte template of the memory-bound kernels and the memory constants are properties of the
engine, not of the GPU: they are kept from the built-in profile. The file records the device,
PyTorch version, shapes and raw timings. llmcalc uses it when passed as ``profile=FILE`` (CLI:
``--profile FILE``) or, when written to the default place, for that GPU automatically. The file
is written atomically (an interrupted run leaves the previous profile whole) and the previous
profile is kept next to it as ``<name>.json.bak``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

SHAPES = {
    # name: (matmul n, bandwidth bytes, gemm shapes (M, N, K), attention (B, heads, T, d),
    #        decode (heads, kv_heads, C, d), kernel chain length, repeats)
    "full": dict(matmul=8192, bw_bytes=2 * 2**30, gemms=[(4096, 12288, 4096), (4096, 4096, 4096),
                                                       (4096, 28672, 4096), (4096, 4096, 14336)],
                 attention=(1, 32, 4096, 128), decode=(32, 8, 4096, 128), chain=200, repeats=20),
    "tiny": dict(matmul=256, bw_bytes=16 * 2**20, gemms=[(128, 384, 128), (128, 128, 128)],
                 attention=(1, 4, 128, 64), decode=(4, 2, 256, 64), chain=20, repeats=3),
}


def _require_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("llmcalc calibrate needs PyTorch: pip install 'llmcalc-costs[calibrate]' "
                         "(or the PyTorch build for your CUDA version)") from None
    import torch
    return torch


class _Timer:
    """Median wall time of a callable, synchronising the device around it."""

    def __init__(self, torch, device, repeats):
        self.torch, self.device, self.repeats = torch, device, repeats

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def __call__(self, fn, warmup=3, warm_seconds=0.05):
        # warm up: at least `warmup` calls and `warm_seconds` (thread pools, clocks, autotuning)
        start = time.perf_counter()
        calls = 0
        while calls < warmup or (time.perf_counter() - start < warm_seconds and calls < 1000):
            fn()
            self.sync()
            calls += 1
        times = []
        for _ in range(self.repeats):
            t = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - t)
        times.sort()
        return times[len(times) // 2]


_TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "tf32": "float32", "fp32": "float32"}


def measure_matmul(torch, timer, device, n, dtype):
    dt = getattr(torch, _TORCH_DTYPES[dtype])
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
    try:
        t = timer(lambda: torch.matmul(a, b))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return 2.0 * n ** 3 / t, t


def measure_bandwidth(torch, timer, device, nbytes):
    x = torch.ones(int(nbytes // 4), device=device, dtype=torch.float32)
    t = timer(lambda: x.sum())
    return x.numel() * 4 / t, t


def measure_gemms(torch, timer, device, shapes, dtype):
    dt = getattr(torch, _TORCH_DTYPES[dtype])
    out = []
    for M, N, K in shapes:
        a = torch.randn(M, K, device=device, dtype=dt)
        w = torch.randn(K, N, device=device, dtype=dt)
        t = timer(lambda: torch.matmul(a, w))
        out.append({"M": M, "N": N, "K": K, "seconds": t, "flops_per_s": 2.0 * M * N * K / t})
    return out


def measure_attention(torch, timer, device, B, H, T, d, dtype):
    import torch.nn.functional as F
    dt = getattr(torch, _TORCH_DTYPES[dtype])
    q, k, v = (torch.randn(B, H, T, d, device=device, dtype=dt) for _ in range(3))
    t = timer(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    flops = 2.0 * B * H * (d + d) * T * (T + 1) / 2.0
    return flops / t, t


def measure_decode_attention(torch, timer, device, H, Hkv, C, d, dtype):
    import torch.nn.functional as F
    dt = getattr(torch, _TORCH_DTYPES[dtype])
    q = torch.randn(1, H, 1, d, device=device, dtype=dt)
    k = torch.randn(1, Hkv, C, d, device=device, dtype=dt)
    v = torch.randn(1, Hkv, C, d, device=device, dtype=dt)
    try:
        t = timer(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
    except TypeError:  # PyTorch < 2.5: no enable_gqa; expand the KV heads
        g = H // Hkv
        k2, v2 = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
        t = timer(lambda: F.scaled_dot_product_attention(q, k2, v2))
    return t / C, t


def measure_overheads(torch, timer, device, chain):
    """(seconds per small kernel in a chain, fixed seconds per launched step)."""
    x = torch.zeros(1024, device=device)

    def run():
        for _ in range(chain):
            x.add_(1.0)

    if device.type == "cuda":
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            run()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            run()
        one = torch.cuda.CUDAGraph()
        with torch.cuda.graph(one):
            x.add_(1.0)
        t_chain = timer(graph.replay)
        t_one = timer(one.replay)
    else:
        t_chain = timer(run)
        t_one = timer(lambda: x.add_(1.0))
    per_kernel = max((t_chain - t_one) / max(chain - 1, 1), 1e-9)
    step = max(t_one - per_kernel, 1e-9)
    return per_kernel, step, t_chain, t_one


def _device_name(torch, device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def _sm_count(torch, device):
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).multi_processor_count)
    return int(os.cpu_count() or 1)


def _catalog_gpu(name: str | None, device_name: str):
    """The catalog GPU this device is (or --gpu names), or None."""
    from .. import catalog
    from ..errors import ArgumentError
    for candidate in filter(None, [name, device_name, device_name.replace("NVIDIA ", "")]):
        try:
            return catalog.gpu(candidate)
        except ArgumentError:
            continue
    low = device_name.lower()
    guesses = [("h100", "hbm3", "H100-SXM5-80GB"), ("h100", "pcie", "H100-PCIE-80GB"), ("h100", "nvl", "H100-NVL-94GB"),
               ("h200", "", "H200-SXM-141GB"), ("a100", "80gb", "A100-SXM4-80GB"), ("a100", "", "A100-SXM4-40GB")]
    for a, b, gname in guesses:
        if a in low and b in low:
            return catalog.gpu(gname)
    return None


def calibrate(device="cuda", dtypes=("bf16",), size="full", log=print) -> dict:
    """Run the micro-benchmarks and return the profile as a dict (see the module docstring)."""
    torch = _require_torch()
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device is available; use --device cpu (for a test run) or run on a GPU machine")
    cfg = SHAPES[size]
    threads = torch.get_num_threads()
    if dev.type == "cpu":
        # one thread: on a shared CPU, waking a thread pool costs scheduler ticks (ms), not work
        torch.set_num_threads(1)
    try:
        return _calibrate(torch, dev, dtypes, cfg, log)
    finally:
        torch.set_num_threads(threads)


def _calibrate(torch, dev, dtypes, cfg, log) -> dict:
    timer = _Timer(torch, dev, cfg["repeats"])
    raw: dict = {}
    mm = {}
    for dt in dtypes:
        if dev.type == "cpu" and dt == "tf32":
            continue
        rate, t = measure_matmul(torch, timer, dev, cfg["matmul"], dt)
        mm[dt] = rate
        raw[f"matmul_{dt}"] = {"n": cfg["matmul"], "seconds": t}
        log(f"matmul {dt} {cfg['matmul']}³: {rate / 1e12:.3f} TFLOP/s")
    main = "bf16" if "bf16" in mm else next(iter(mm))
    bw, t = measure_bandwidth(torch, timer, dev, cfg["bw_bytes"])
    raw["read"] = {"bytes": cfg["bw_bytes"], "seconds": t}
    log(f"read bandwidth: {bw / 1e12:.4f} TB/s")
    gemms = measure_gemms(torch, timer, dev, cfg["gemms"], main)
    raw["gemms"] = gemms
    eff = sum(g["flops_per_s"] for g in gemms) / len(gemms) / mm[main]
    log(f"LLM-shaped GEMMs: {eff:.3f} of the square ceiling")
    B, H, T, d = cfg["attention"]
    att_rate, t = measure_attention(torch, timer, dev, B, H, T, d, main)
    raw["attention"] = {"B": B, "heads": H, "T": T, "d": d, "seconds": t}
    from .operators import attention_head_factor
    base = _builtin()
    head = attention_head_factor(d, base)
    causal = T / (T + base.attention["t0"])
    att_eff = att_rate / mm[main] / head / causal
    log(f"causal attention: {att_rate / 1e12:.3f} TFLOP/s → efficiency {att_eff:.3f} at d = 128")
    Hq, Hkv, C, dd = cfg["decode"]
    per_pos, t = measure_decode_attention(torch, timer, dev, Hq, Hkv, C, dd, main)
    d0 = base.attention["d0"]
    per_pos_128 = per_pos * (128.0 + d0) / (dd + d0)
    raw["decode_attention"] = {"heads": Hq, "kv_heads": Hkv, "context": C, "d": dd, "seconds": t}
    log(f"grouped-query decode attention: {per_pos * 1e9:.3f} ns per position")
    kernel_s, step_s, t_chain, t_one = measure_overheads(torch, timer, dev, cfg["chain"])
    raw["overheads"] = {"chain": cfg["chain"], "chain_seconds": t_chain, "one_seconds": t_one,
                        "cuda_graph": dev.type == "cuda"}
    log(f"overheads: {kernel_s * 1e6:.3f} µs per kernel, {step_s * 1e6:.3f} µs per step")
    return {
        "matmul_flops": mm, "bandwidth": bw, "sm_count": _sm_count(torch, dev),
        "gemm": {"efficiency": min(max(eff, 0.05), 1.0)},
        "attention": {"efficiency": min(max(att_eff, 0.01), 2.0), "decode_position_s": per_pos_128},
        "overheads": {"kernel_s": kernel_s, "step_s": step_s},
        "raw": raw,
    }


def gemm_store_correction(prof: dict, gpu) -> None:
    """On a GPU whose GEMM output store runs in series with the math (pre-Hopper: derivation.json
    ``gemm_epilogue``, see :func:`llmcalc.perf.operators.epilogue_k0`), the measured LLM-shaped GEMMs include
    the store; the model adds it back per shape (K/(K + k0)), so take it out of η∞:
    η∞ = mean(rate_i·(K_i + k0)/K_i) / F, k0 = c·F·η∞/BW (two fixed-point passes). Records c in the profile."""
    from .profile import gemm_epilogue
    c = gemm_epilogue(gpu)
    if not c:
        return
    main = "bf16" if "bf16" in prof["matmul_flops"] else next(iter(prof["matmul_flops"]))
    F, bw, gemms = prof["matmul_flops"][main], prof["bandwidth"], prof["raw"]["gemms"]
    eff = prof["gemm"]["efficiency"]
    for _ in range(2):
        k0 = c * F * eff / bw
        eff = sum(g["flops_per_s"] * (g["K"] + k0) / g["K"] for g in gemms) / len(gemms) / F
    prof["gemm"] = {**prof["gemm"], "efficiency": min(max(eff, 0.05), 1.0), "epilogue": c}


def _builtin():
    from .profile import measured
    return measured()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="llmcalc calibrate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="The profile is used by every timing function via profile=FILE (--profile FILE).")
    ap.add_argument("--out", help="profile file to write (default: the per-user profile of the GPU)")
    ap.add_argument("--gpu", help="catalog name of this GPU (default: detected from the device name)")
    ap.add_argument("--device", default="cuda", help="torch device: cuda, cuda:1, cpu (default cuda)")
    ap.add_argument("--dtype", action="append", help="matmul dtypes to measure (default bf16, fp16, tf32 on a GPU)")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (seconds on a CPU; for tests, not for real use)")
    ap.add_argument("--quiet", action="store_true")
    ns = ap.parse_args(argv)
    torch = _require_torch()
    dev = torch.device(ns.device)
    dtypes = tuple(ns.dtype or (("bf16", "fp16", "tf32") if dev.type == "cuda" else ("bf16",)))
    bad = [d for d in dtypes if d not in _TORCH_DTYPES]
    if bad:
        print(f"llmcalc calibrate: unsupported dtype {bad[0]!r}; use bf16, fp16, tf32 or fp32", file=sys.stderr)
        return 2
    log = (lambda *a: None) if ns.quiet else (lambda *a: print(*a, file=sys.stderr))
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("llmcalc calibrate: no CUDA device is available; use --device cpu for a test run", file=sys.stderr)
        return 2
    device_name = _device_name(torch, dev)
    cat = _catalog_gpu(ns.gpu, device_name) if (ns.gpu or dev.type == "cuda") else None
    if ns.gpu and cat is None:
        print(f"llmcalc calibrate: unknown GPU {ns.gpu!r} (see `llmcalc list gpus`)", file=sys.stderr)
        return 2
    prof = calibrate(ns.device, dtypes, "tiny" if ns.tiny else "full", log)
    if cat is not None:
        gemm_store_correction(prof, cat)
    gpu_name = cat.name if cat is not None else device_name
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    prof.update(
        name=f"{gpu_name} (calibrated {now[:10]})", gpu=gpu_name, derived=False,
        provenance=(f"Measured by `llmcalc calibrate` on {device_name} ({ns.device}) with PyTorch {torch.__version__} "
                    f"on {now}{' with tiny test shapes' if ns.tiny else ''}; engine byte template, fixed constants and "
                    f"memory constants are those of the built-in H100 profile."),
        fit={"method": "direct measurement", "device": device_name, "torch": torch.__version__, "date": now,
             "shapes": "tiny" if ns.tiny else "full"},
    )
    if ns.out:
        out = Path(ns.out).expanduser()
    else:
        from .profile import user_profile_path
        out = user_profile_path(gpu_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Atomically (an interrupted run leaves the previous profile whole), keeping the previous
    # profile, minutes of measurement, as <name>.bak.
    from ..files import backup_path, write_atomic
    had_previous = out.is_file()
    write_atomic(out, (json.dumps(prof, indent=1) + "\n").encode("utf-8"), backup=True)
    from .profile import forget_user_profiles
    forget_user_profiles()  # this process picks the new profile up on its next call
    print(f"wrote {out}" + (f" (the previous profile is kept as {backup_path(out)})" if had_previous else ""))
    if cat is None:
        print("note: this device is not a catalog GPU; pass the file explicitly: profile=FILE / --profile FILE")
    return 0
