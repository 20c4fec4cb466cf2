"""Accuracy of llmcalc's performance model on a calibration file.

    python benchmarks/perf_accuracy.py                      # the shipped H100 file, default profile
    python benchmarks/perf_accuracy.py --cv                 # + leave-one-model-out cross-validation
    python benchmarks/perf_accuracy.py --data FILE --profile PROFILE.json
    python benchmarks/perf_accuracy.py --serving            # + the serving engine on published TensorRT-LLM rows

Prints, for every case, predicted vs measured time and peak memory and the error, then the
median and worst absolute error per kind (prefill, decode, train). Exits with status 1 if a
target is missed: time median ≤ 10% and worst ≤ 25% per kind; peak inference
memory within 5%. Predictions go through the public functions (``llmcalc.prefill_time`` …)
with no per-case tuning.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "benchmarks") not in sys.path:
    sys.path.insert(0, str(ROOT / "benchmarks"))

import llmcalc  # noqa: E402
from llmcalc.perf import fit  # noqa: E402

TIME_MEDIAN, TIME_WORST, MEMORY_WORST = 0.10, 0.25, 0.05
GPU = "H100-SXM5-80GB"


def predict(case: dict, profile: str | None) -> tuple[float, float | None]:
    m, b, s = case["model"], case["batch"], case["size"]
    if case["kind"] == "prefill":
        t = llmcalc.prefill_time(m, GPU, b, s, profile=profile).magnitude
        mem = llmcalc.peak_memory(m, GPU, "prefill", b, s, profile=profile).magnitude * 1e9
    elif case["kind"] == "decode":
        t = llmcalc.decode_step_time(m, GPU, b, s, profile=profile).magnitude
        mem = llmcalc.peak_memory(m, GPU, "decode", b, s, profile=profile).magnitude * 1e9
    else:
        t = llmcalc.train_step_time(m, GPU, b, s, recompute=case["recompute"], profile=profile).magnitude
        mem = llmcalc.peak_memory(m, GPU, "train", b, s, recompute=case["recompute"], profile=profile).magnitude * 1e9
    return float(t), float(mem)


def table(rows: list[dict]) -> str:
    out = [f"{'kind':8s} {'model':18s} {'batch':>5s} {'tokens':>7s} {'measured':>11s} {'predicted':>11s} {'error':>7s}"
           f" {'peak GB':>8s} {'pred GB':>8s} {'error':>7s}"]
    for r in rows:
        size = f"{r['size']}" + ("+rc" if r.get("recompute") else "")
        mem = (f" {r['peak_measured'] / 1e9:8.2f} {r['peak_predicted'] / 1e9:8.2f} {r['peak_error'] * 100:+6.1f}%"
               if r.get("peak_measured") else "")
        out.append(f"{r['kind']:8s} {r['model']:18s} {r['batch']:5d} {size:>7s} {r['measured'] * 1e3:9.3f}ms "
                   f"{r['predicted'] * 1e3:9.3f}ms {r['error'] * 100:+6.1f}%{mem}")
    return "\n".join(out)


def summarise(rows: list[dict], title: str) -> tuple[str, bool]:
    lines = [f"{title}:", f"  {'kind':8s} {'cases':>5s} {'median |err|':>13s} {'worst |err|':>12s} "
                           f"{'memory median':>14s} {'memory worst':>13s}"]
    ok = True
    for kind in ("prefill", "decode", "train"):
        e = [abs(r["error"]) for r in rows if r["kind"] == kind]
        if not e:
            continue
        m = [abs(r["peak_error"]) for r in rows if r["kind"] == kind and r.get("peak_measured")]
        med, worst = float(np.median(e)), max(e)
        mmed, mworst = (float(np.median(m)), max(m)) if m else (float("nan"), float("nan"))
        miss = med > TIME_MEDIAN or worst > TIME_WORST or (kind != "train" and m and mworst > MEMORY_WORST)
        ok &= not miss
        lines.append(f"  {kind:8s} {len(e):5d} {med * 100:12.1f}% {worst * 100:11.1f}% {mmed * 100:13.1f}% "
                     f"{mworst * 100:12.1f}%{'   MISSED' if miss else ''}")
    return "\n".join(lines), ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="calibration file (default: llmcalc/data/h100-calibration.json)")
    ap.add_argument("--profile", help="profile file to evaluate (default: the built-in H100 profile)")
    ap.add_argument("--cv", action="store_true", help="also refit leaving each model out and predict it")
    ap.add_argument("--json", help="write the rows and summaries to this file")
    ap.add_argument("--no-cluster", action="store_true", help="skip the multi-GPU training section (accuracy_training.py)")
    ap.add_argument("--serving", action="store_true", help="also score the serving engine (benchmarks/accuracy_serving.py)")
    ns = ap.parse_args(argv)
    data = json.loads(Path(ns.data).read_text(encoding="utf-8")) if ns.data else None
    cases = fit.cases(data)
    rows = []
    for c in cases:
        t, mem = predict(c, ns.profile)
        row = dict(kind=c["kind"], model=c["model"].name, batch=c["batch"], size=c["size"], recompute=c.get("recompute"),
                   measured=c["seconds"], predicted=t, error=t / c["seconds"] - 1)
        if c.get("peak_bytes"):
            row.update(peak_measured=c["peak_bytes"], peak_predicted=mem, peak_error=mem / c["peak_bytes"] - 1)
        rows.append(row)
    print(table(rows))
    print()
    text, ok = summarise(rows, "in-sample (profile " + (ns.profile or "built-in H100") + ")")
    print(text)
    result = {"rows": rows}
    if ns.cv:
        cv_rows = fit.leave_one_model_out(data)
        print()
        print(table(cv_rows))
        print()
        cv_text, cv_ok = summarise(cv_rows, "leave-one-model-out (refit without the model, then predict it)")
        print(cv_text)
        ok &= cv_ok
        result["leave_one_model_out"] = cv_rows
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if ns.serving:
        from accuracy_serving import report as serving_report
        text, serving_ok, _ = serving_report(cv=ns.cv)
        print()
        print(text)
        ok &= serving_ok
    print()
    print("targets met" if ok else "TARGETS MISSED", f"(time: median ≤ {TIME_MEDIAN:.0%}, worst ≤ {TIME_WORST:.0%} per kind; "
          f"peak inference memory ≤ {MEMORY_WORST:.0%})")
    if not ns.no_cluster:   # multi-GPU training: published cluster results
        import accuracy_training
        print("\n" + "=" * 100 + "\nMulti-GPU training (benchmarks/accuracy_training.py)\n")
        ok &= accuracy_training.main(["--loso"] if ns.cv else []) == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
