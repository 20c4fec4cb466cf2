"""The ``llmcalc`` command line, generated from the registry.

    llmcalc train-days 175e9 300e9 1024 A100 [--mfu 0.4] [--json] [--explain]
    llmcalc list gpus|models|functions [--json]
    llmcalc explain train-days 175e9 300e9 1024 A100
    llmcalc serve [--host H] [--port 3000] [--http] [--cert F --key F] [--base-url URL]
    llmcalc calibrate [--out FILE] ...
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .errors import LLMCalcError
from .registry import REGISTRY, Function


def _cli_name(fn: Function) -> str:
    return fn.name.replace("_", "-")


def _parser(fn: Function) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"llmcalc {_cli_name(fn)}", description=f"{fn.summary}\n\n={fn.signature()}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for a in fn.args:
        helptext = f"{a.help} [{a.kind.describe()}]"
        if a.optional:
            p.add_argument(f"--{a.name.replace('_', '-')}", dest=a.name, default=None,
                           help=f"{helptext} (default {a.default!r})")
        else:
            p.add_argument(a.name, help=helptext)
    p.add_argument("--json", action="store_true", help="print the result and its explanation as JSON")
    p.add_argument("--explain", action="store_true", help="print the formula, inputs and assumptions")
    return p


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def run_function(fn: Function, argv: list[str]) -> int:
    ns = _parser(fn).parse_args(argv)
    kwargs = {a.name: getattr(ns, a.name) for a in fn.args if getattr(ns, a.name) is not None}
    result = fn(**kwargs)
    unit = "" if fn.result in ("count", "text") else format(getattr(result, "units", ""), "~")
    value = _plain(getattr(result, "magnitude", result))
    if fn.result == "count":
        value = int(result) if not isinstance(result, np.ndarray) else result.tolist()
    if ns.json:
        out = {"function": fn.sheet_name, "value": value, "unit": unit}
        if hasattr(result, "explain"):
            out["explanation"] = result.explain().to_dict()
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        from .explain import fmt
        print(fmt(value, unit) if not isinstance(value, (list, str)) else f"{value} {unit}".strip())
        if ns.explain and hasattr(result, "explain"):
            print()
            print(result.explain())
    return 0


def list_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="llmcalc list")
    p.add_argument("what", choices=["gpus", "models", "functions", "prices"])
    p.add_argument("--json", action="store_true")
    ns = p.parse_args(argv)
    from . import catalog
    if ns.what == "gpus":
        rows = [{"name": g.name, "bf16_TFLOPS": (g.peak.get("bf16") or g.peak.get("fp16") or 0) / 1e12,
                 "memory_GiB": round(g.memory_bytes / 2**30, 1), "bandwidth_TBps": g.bandwidth / 1e12,
                 "price_per_gpu_hour": g.price_per_hour, "price_date": g.price_date} for g in catalog.gpus()]
    elif ns.what == "models":
        rows = [{"name": m.name, "params_B": round(m.params() / 1e9, 3), "layers": m.layers, "hidden": m.hidden,
                 "heads": m.heads, "kv_heads": m.kv_heads, "attention": m.attention} for m in catalog.models()]
    elif ns.what == "prices":
        rows = [{k: r[k] for k in ("provider", "gpu", "usd_per_gpu_hour", "pricing_type", "page_date", "page_url")}
                for r in catalog.prices()]
    else:
        rows = [{"function": fn.sheet_name, "python": fn.name, "cli": _cli_name(fn), "returns": fn.result_unit_label,
                 "signature": fn.signature(), "summary": fn.summary} for fn in REGISTRY.values()]
    if ns.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    widths = {c: min(w, 60) for c, w in widths.items()}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c] if r[c] is not None else "")[:60].ljust(widths[c]) for c in cols))
    return 0


def usage() -> str:
    lines = ["usage: llmcalc FUNCTION ARGS... [--json] [--explain]", "       llmcalc list gpus|models|functions|prices",
             "       llmcalc explain FUNCTION ARGS...", "       llmcalc serve [--help]", "       llmcalc calibrate [--help]",
             "", "functions:"]
    lines += [f"  {_cli_name(fn):26s} {fn.summary}" for fn in REGISTRY.values()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "serve":
            from .excel.server import main as serve_main
            return serve_main(rest)
        if cmd == "calibrate":
            from .perf.calibrate import main as calibrate_main
            return calibrate_main(rest)
        if cmd == "list":
            return list_command(rest)
        if cmd == "explain":
            if not rest:
                print("usage: llmcalc explain FUNCTION ARGS...", file=sys.stderr)
                return 2
            cmd, rest = rest[0], rest[1:] + ["--explain"]
        from .registry import lookup
        fn = lookup(cmd, "cli")
        return run_function(fn, rest)
    except LLMCalcError as exc:
        print(f"llmcalc: error: {exc}", file=sys.stderr)
        return 2


def entry() -> int:
    """Console-script entry point: like main(), quiet when the reader closes the pipe (`| head`)."""
    try:
        return main()
    except BrokenPipeError:
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(entry())
