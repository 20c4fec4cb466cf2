"""Accuracy of the serving-engine model on published TensorRT-LLM 0.9 measurements.

    python benchmarks/accuracy_serving.py              # every row of serving.csv, in-sample
    python benchmarks/accuracy_serving.py --cv         # + leave-one-GPU-out and leave-one-model-out refits
    python benchmarks/accuracy_serving.py --data ../shared/groundtruth/published/serving.csv

Scores every row of ``serving.csv`` (a copy ships as llmcalc/data/published/serving.csv): static-batch
output tokens/s per GPU (one prefill of batch × input, output − 1 decode steps, divided by TP) and
batch-1 time to first token, predicted by the ``trtllm-0.9`` engine of llmcalc/data/profiles/engines.json
with the hardware of llmcalc/data/profiles/derivation.json. Prints predicted vs published per row, then
median and worst absolute error for throughput and first-token latency separately. Exits 1 when a
target is missed: median ≤ 6% and worst ≤ 20% for each metric (in-sample).
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

from llmcalc.perf import fit, published, serving_engine as se  # noqa: E402

MEDIAN, WORST = 0.06, 0.20
ENGINE = "trtllm-0.9"


def summary_lines(rows: list[dict], title: str) -> tuple[list[str], bool]:
    lines = [f"{title}:", f"  {'metric':12s} {'rows':>5s} {'median |err|':>13s} {'worst |err|':>12s}"]
    ok = True
    for metric, name in (("throughput", "throughput"), ("ttft", "first token")):
        e = [abs(r["error"]) for r in rows if r["metric"] == metric]
        if not e:
            continue
        med, worst = float(np.median(e)), max(e)
        miss = med > MEDIAN or worst > WORST
        ok &= not miss
        lines.append(f"  {name:12s} {len(e):5d} {med * 100:12.1f}% {worst * 100:11.1f}%{'   MISSED' if miss else ''}")
    return lines, ok


def groups(rows: list[dict], key: str) -> list[str]:
    out = []
    for g in sorted({r[key] for r in rows}):
        for metric in ("throughput", "ttft"):
            e = [abs(r["error"]) for r in rows if r[key] == g and r["metric"] == metric]
            if e:
                out.append(f"  {g:13s} {metric:10s} median {np.median(e) * 100:5.1f}%  worst {max(e) * 100:5.1f}%")
    return out


def report(data=None, cv=False) -> tuple[str, bool, dict]:
    """(printable report, in-sample targets met, rows by section)."""
    cases = published.serving_cases(data)
    eng = se.engine(ENGINE)
    rows = fit.serving_errors(eng, cases)
    out = [f"Serving: {ENGINE} engine on {len(cases)} published TensorRT-LLM 0.9 rows", fit.serving_table(rows), ""]
    lines, ok = summary_lines(rows, "in-sample (global parameters fitted on these rows)")
    out += lines + groups(rows, "gpu") + groups(rows, "model")
    result = {"rows": rows}
    if cv:
        for by in ("gpu_name", "model_name"):
            cv_rows = fit.serving_leave_one_group_out(eng, cases, by)
            what = by.split("_")[0]
            out += ["", *summary_lines(cv_rows, f"leave one {what} out (refit without it, then predict it)")[0],
                    *groups(cv_rows, what)]
            result[f"leave_one_{what}_out"] = cv_rows
    return "\n".join(out), ok, result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="serving.csv to score (default: llmcalc/data/published/serving.csv)")
    ap.add_argument("--cv", action="store_true", help="also refit leaving each GPU / each model out")
    ap.add_argument("--json", help="write the rows to this file")
    ns = ap.parse_args(argv)
    text, ok, result = report(ns.data, ns.cv)
    print(text)
    if ns.json:
        Path(ns.json).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print()
    print("targets met" if ok else "TARGETS MISSED", f"(serving, in-sample: median ≤ {MEDIAN:.0%} and worst ≤ {WORST:.0%} "
          "for throughput and for first-token latency)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
