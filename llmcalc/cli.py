"""The ``llmcalc`` command line, generated from the registry.

    llmcalc train-days 175e9 300e9 1024 A100 [--mfu 0.4] [--json] [--explain]
    llmcalc train-days 175e9 300e9 "[256, 512, 1024]" A100      # a list sweeps: one row per value
    llmcalc gpu H100 [--field bf16_TFLOPS] [--json]             # every field of a catalog entry, or one
    llmcalc list gpus|models|functions|prices [--json]
    llmcalc explain train-days 175e9 300e9 1024 A100
    llmcalc serve [--host H] [--port 3000] [--http] [--cert F --key F] [--base-url URL]
    llmcalc calibrate [--out FILE] ...

Numbers are printed for people by :mod:`llmcalc.display` (``33.81 days``, ``$0.00043 per 1K
tokens``); ``--json`` gives the exact value, its unit and the same text under ``display``.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from . import display
from .errors import ArgumentError, LLMCalcError
from .lists import join_brackets, split_list
from .registry import REGISTRY, Function

LIST_WHAT = ("gpus", "models", "functions", "prices")


def _cli_name(fn: Function) -> str:
    return fn.name.replace("_", "-")


def _parser(fn: Function) -> argparse.ArgumentParser:
    epilog = ("Values take units (\"80 GiB\", \"$2.21/h\", 175B, 45%%); a list such as \"[256, 512, 1024]\" "
              "gives one result per value.")
    p = argparse.ArgumentParser(prog=f"llmcalc {_cli_name(fn)}", description=f"{fn.summary}\n\n={fn.signature()}",
                                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    for a in fn.args:
        helptext = f"{a.help} [{a.kind.describe()}]"
        if a.optional:
            p.add_argument(f"--{a.name.replace('_', '-')}", dest=a.name, default=None,
                           help=f"{helptext} (default {a.default!r})".replace("%", "%%"))
        else:
            p.add_argument(a.name, help=helptext.replace("%", "%%"))
    p.add_argument("--json", action="store_true", help="print the exact value, its unit and the explanation as JSON")
    p.add_argument("--explain", action="store_true", help="print the formula, inputs and assumptions")
    return p


def _plain(v):
    """A JSON-ready value: NumPy arrays and scalars become lists and Python numbers."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def _unit(result) -> str:
    return format(result.units, "~C") if hasattr(result, "units") else ""


def _exact(fn: Function, result):
    if isinstance(result, str):
        return result
    if fn.result == "count":
        return result.tolist() if isinstance(result, np.ndarray) else int(result)
    return _plain(result.magnitude)


def for_people(result) -> str:
    """What a person reads for one result (a quantity, a count, an array of either, or text)."""
    if isinstance(result, str):
        return result
    if hasattr(result, "units"):
        return display.quantity(result)
    return display.count(np.asarray(result) if isinstance(result, np.ndarray) else int(result))


def _sweep_table(fn: Function, raw: dict, result) -> list[str]:
    """One row per value of a sweep: the swept inputs as typed, then the result for people."""
    swept = {k: v for k, v in raw.items() if isinstance(v, list)}
    columns = [np.asarray(v, dtype=object) for v in swept.values()]
    shape = np.shape(result.magnitude if hasattr(result, "magnitude") else result)
    columns = [np.broadcast_to(c, shape).ravel() if c.size > 1 else np.full(int(np.prod(shape)), c.ravel()[0])
               for c in columns]
    flat = result.reshape(-1) if hasattr(result, "reshape") else np.asarray(result).ravel()
    rows = [[str(c[i]) for c in columns] + [for_people(flat[i])] for i in range(len(flat))]
    header = list(swept) + [fn.name]
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return lines


def run_function(fn: Function, argv: list[str]) -> int:
    ns = _parser(fn).parse_args(join_brackets(argv))
    raw = {a.name: getattr(ns, a.name) for a in fn.args if getattr(ns, a.name) is not None}
    raw = {k: (split_list(v, k) or v) for k, v in raw.items()}
    if fn.name in ("gpu", "model") and "field" not in raw:
        return catalog_card(fn, raw, ns.json)
    result = fn(**raw)
    explanation = result.explain() if getattr(result, "explainable", False) else None
    if ns.json:
        out = {"function": fn.sheet_name, "value": _exact(fn, result), "unit": _unit(result),
               "display": for_people(result)}
        if explanation is not None:
            out["explanation"] = explanation.to_dict()
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    if isinstance(result, np.ndarray) or np.ndim(getattr(result, "magnitude", 0)) > 0:
        print("\n".join(_sweep_table(fn, raw, result)))
    else:
        print(for_people(result))
    if ns.explain and explanation is not None:
        print()
        print(explanation)
    return 0


def catalog_card(fn: Function, raw: dict, as_json: bool) -> int:
    """``llmcalc gpu H100``: every field of one catalog entry (``--field`` gives one)."""
    from .api.catalog_fields import GPU_FIELDS, MODEL_FIELDS
    fields = GPU_FIELDS if fn.name == "gpu" else MODEL_FIELDS
    fn(raw["name"], "name")  # an unknown name is an error (with suggestions), not an empty card
    entry = {}
    for field, (unit, _) in fields.items():
        try:
            r = fn(raw["name"], field)
        except ArgumentError as exc:  # a field this entry does not have (no fp4 peak, no price)
            entry[field] = {"value": None, "unit": unit, "display": "—", "missing": exc.problem}
            continue
        entry[field] = {"value": _exact(fn, r), "unit": _unit(r), "display": for_people(r)}
    name = entry["name"]["value"]
    if as_json:
        print(json.dumps({"function": fn.sheet_name, "name": name, "fields": entry}, ensure_ascii=False, indent=2))
        return 0
    print(name)
    width = max(len(f) for f in entry)
    for field, e in entry.items():
        if field != "name":
            print(f"  {field.ljust(width)}  {e['display'] if e['value'] is not None else '— (' + e['missing'] + ')'}")
    print(f"\nOne field: llmcalc {_cli_name(fn)} {raw['name']!s} --field FIELD   (JSON: --json)")
    return 0


def _list_rows(what: str) -> tuple[list[dict], dict, list[str]]:
    """Rows of exact values, a formatter per column for people, and footnotes."""
    from . import catalog
    money = lambda v: display.money(v) if v is not None else ""  # noqa: E731
    notes = []
    if what == "gpus":
        rows, fmt = [], {"bf16_TFLOPS": lambda v: display.sig(v) if v is not None else "—",
                         "memory_GiB": lambda v: display.sig(v), "bandwidth_TBps": lambda v: display.sig(v),
                         "price_per_gpu_hour": money}
        for g in catalog.gpus():
            peak = g.peak.get("bf16") or g.peak.get("fp16")
            if not peak:
                notes.append(f"— {g.name}: no published dense 16-bit tensor peak ({g.notes})")
            rows.append({"name": g.name, "bf16_TFLOPS": peak / 1e12 if peak else None,
                         "memory_GiB": round(g.memory_bytes / 2**30, 2), "bandwidth_TBps": g.bandwidth / 1e12,
                         "price_per_gpu_hour": g.price_per_hour, "price_date": g.price_date or None})
    elif what == "models":
        fmt = {"params": lambda v: display.count(v)}
        rows = [{"name": m.name, "params": m.params(), "layers": m.layers, "hidden": m.hidden, "heads": m.heads,
                 "kv_heads": m.kv_heads, "attention": m.attention} for m in catalog.models()]
    elif what == "prices":
        fmt = {"usd_per_gpu_hour": money}
        rows = [{"provider": r["provider"], "gpu": r["gpu"], "catalog_gpu": catalog.gpu(r["gpu"]).name,
                 "usd_per_gpu_hour": float(r["usd_per_gpu_hour"]), "pricing_type": r["pricing_type"],
                 "page_date": r["page_date"], "page_url": r["page_url"]} for r in catalog.prices()]
    else:
        fmt = {}
        rows = [{"function": fn.sheet_name, "python": fn.name, "cli": _cli_name(fn), "returns": fn.result_unit_label,
                 "signature": fn.signature(), "summary": fn.summary} for fn in REGISTRY.values()]
    return rows, fmt, notes


def list_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="llmcalc list", description="Print a catalog table.")
    p.add_argument("what", choices=LIST_WHAT)
    p.add_argument("--json", action="store_true", help="exact values as JSON")
    ns = p.parse_args(argv)
    rows, fmt, notes = _list_rows(ns.what)
    if ns.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    cols = list(rows[0])
    text = [{c: fmt[c](r[c]) if c in fmt else ("" if r[c] is None else str(r[c])) for c in cols} for r in rows]
    widths = {c: min(60, max(len(c), *(len(t[c]) for t in text))) for c in cols}
    right = set(fmt)  # numbers line up on the right
    cell = lambda c, v: v[:60].rjust(widths[c]) if c in right else v[:60].ljust(widths[c])  # noqa: E731
    print("  ".join(cell(c, c) for c in cols).rstrip())
    for t in text:
        print("  ".join(cell(c, t[c]) for c in cols).rstrip())
    for n in notes:
        print(n)
    return 0


def usage() -> str:
    lines = ["usage: llmcalc FUNCTION ARGS... [--json] [--explain]   (llmcalc FUNCTION --help for its arguments)",
             "       llmcalc list gpus|models|functions|prices [--json]",
             "       llmcalc gpu NAME | llmcalc model NAME            (every field; --field F for one)",
             "       llmcalc explain FUNCTION ARGS...", "       llmcalc serve [--help]", "       llmcalc calibrate [--help]",
             "", "Values take units (\"80 GiB\", \"$2.21/h\", 175B, 45%); \"[256, 512, 1024]\" sweeps.", "",
             "functions:"]
    lines += [f"  {_cli_name(fn):26s} {fn.summary}" for fn in REGISTRY.values()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        if len(argv) > 1 and argv[0] == "help":  # llmcalc help train-days
            argv = [argv[1], "--help"]
        else:
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
            if not rest or rest[0] in ("-h", "--help"):
                print("usage: llmcalc explain FUNCTION ARGS...   (the formula, inputs, calculation, "
                      "assumptions and sources of one result)")
                return 0 if rest else 2
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
