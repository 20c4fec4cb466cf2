"""Fit the H100 profile on the calibration file, and cross-validate it (developer tool).

    python -m llmcalc.perf.fit            # fit, print the table and leave-one-model-out CV
    python -m llmcalc.perf.fit --write    # also write llmcalc/data/profiles/h100-sxm5.json

The fitted parameters are few and global (no per-model constants): the large-GEMM efficiency
η∞, the FlashAttention efficiency, the grouped-query decode-attention latency per position,
one multiplier on the byte template of the memory-bound kernels, the per-kernel and per-step
overheads (six for time), and four inference memory constants (the fifth, the 170 MB a
decode step allocates, is read off the file: see :mod:`llmcalc.perf.memory`). Fixed by physics, not
fitted: the causal tile waste t0 = 128, the exp-vs-matmul head-dimension constant d0 = 64,
the byte template itself. Tried and dropped (fitted to their bounds, i.e. not supported by
the data, with no change in cross-validated error): the GEMM fill constant m0 (→ 0) and a
soft roofline exponent p (→ hard max); so m0 = 0 and p = 64 (hard max) in the profile. The matmul and bandwidth ceilings are the file's measured
``ceilings`` and are not fitted. Training cases are never fitted: they are predictions.

Least squares on log(predicted / measured) (scipy if installed, else a numpy Gauss-Newton).
(About 420 lines: one developer tool; the H100 fit, its cross-validation and the serving-engine fit share
the residual and table code.)
"""
from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import numpy as np

from ..model import Model
from . import engine
from . import memory as pmem
from .profile import Profile, measured

# (section, key, lower, upper) — fitted in log space
TIME_PARAMS = [
    ("gemm", "efficiency", 0.5, 1.0),
    ("attention", "efficiency", 0.2, 1.0),
    ("attention", "decode_position_s", 1e-10, 1e-7),
    ("elementwise", "scale", 0.05, 5.0),
    ("overheads", "kernel_s", 1e-7, 2e-5),
    ("overheads", "step_s", 1e-6, 2e-3),
]


def calibration_data(path=None) -> dict:
    if path:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return json.loads(resources.files("llmcalc.data").joinpath("h100-calibration.json").read_text(encoding="utf-8"))


def arch_model(entry: dict) -> Model:
    a = entry["arch"]
    return Model(name=entry["model"], layers=a["layers"], hidden=a["hidden"], heads=a["heads"],
                 kv_heads=a["kv_heads"], ffn=a["ffn"], vocab=a["vocab"], tied_embeddings=a["tied"],
                 head_dim=a.get("head_dim"))


def cases(data: dict | None = None) -> list[dict]:
    """Every measured case of the calibration file as {kind, model, batch, size, seconds, peak_bytes}."""
    data = data or calibration_data()
    out = []
    for e in data["inference"]:
        m = arch_model(e)
        for c in e["prefill"]:
            if "seconds" in c:
                out.append(dict(kind="prefill", model=m, batch=c["batch"], size=c["tokens"], seconds=c["seconds"],
                                peak_bytes=c.get("peak_bytes")))
        for c in e["decode"]:
            if "seconds_per_step" in c:
                out.append(dict(kind="decode", model=m, batch=c["batch"], size=c["context"],
                                seconds=c["seconds_per_step"], peak_bytes=c.get("peak_bytes")))
    for e in data.get("training", []):
        out.append(dict(kind="train", model=arch_model(e), batch=e["micro_batch"], size=e["seq"],
                        seconds=e["seconds_per_step"], peak_bytes=e.get("peak_bytes"), recompute=e["recompute"]))
    return out


def _gpu():
    from ..catalog import gpu
    return gpu("H100-SXM5-80GB")


def predict(prof: Profile, case: dict, gpu=None) -> float:
    gpu = gpu or _gpu()
    if case["kind"] == "train":
        terms, _, _ = engine.train(case["model"], gpu, prof, case["batch"], case["size"], recompute=case["recompute"])
    elif case["kind"] == "prefill":
        terms = engine.forward(case["model"], gpu, prof, case["batch"], case["size"], 0, mode="prefill")[0].terms
    else:
        terms = engine.forward(case["model"], gpu, prof, case["batch"], 1, case["size"], mode="decode")[0].terms
    return float(engine.total(terms))


def predict_memory(prof: Profile, case: dict) -> float:
    if case["kind"] == "train":
        return float(pmem.train_peak(case["model"], prof, case["batch"], case["size"], recompute=case["recompute"])[0])
    return float(pmem.inference_peak(case["model"], prof, case["kind"], case["batch"], case["size"])[0])


def _get(prof: Profile, sec: str, key: str) -> float:
    return float(getattr(prof, key) if not sec else getattr(prof, sec)[key])


def _set(prof: Profile, values: dict) -> Profile:
    d = prof.to_dict()
    for (sec, key), v in values.items():
        if sec:
            d[sec][key] = float(v)
        else:
            d[key] = float(v)
    return prof.with_params(**{k: d[k] for k in ("roofline_p", "gemm", "attention", "elementwise", "overheads",
                                                  "training", "memory")})


def _least_squares(fun, x0, lo, hi):
    try:
        from scipy.optimize import least_squares
    except ImportError:  # pragma: no cover - numpy fallback
        x = x0.copy()
        for _ in range(200):
            r = fun(x)
            J = np.empty((r.size, x.size))
            for j in range(x.size):
                dx = np.zeros_like(x)
                dx[j] = 1e-6
                J[:, j] = (fun(x + dx) - r) / 1e-6
            step = np.linalg.lstsq(J.T @ J + 1e-3 * np.eye(x.size), -J.T @ r, rcond=None)[0]
            x = np.clip(x + step, lo, hi)
            if np.max(np.abs(step)) < 1e-8:
                break
        return x
    return least_squares(fun, x0, bounds=(lo, hi), x_scale="jac", loss="soft_l1", f_scale=0.1).x


def fit_time(prof: Profile, train_cases: list[dict], params=TIME_PARAMS) -> Profile:
    """Fit the timing parameters on prefill and decode cases (log-error least squares)."""
    gpu = _gpu()
    use = [c for c in train_cases if c["kind"] in ("prefill", "decode")]
    meas = np.log([c["seconds"] for c in use])
    keys = [(s, k) for s, k, _, _ in params]
    lo = np.log([p[2] for p in params])
    hi = np.log([p[3] for p in params])
    x0 = np.clip(np.log([_get(prof, s, k) for s, k in keys]), lo + 1e-9, hi - 1e-9)

    def fun(x):
        p = _set(prof, dict(zip(keys, np.exp(x))))
        return np.log([predict(p, c, gpu) for c in use]) - meas

    x = _least_squares(fun, x0, lo, hi)
    return _set(prof, dict(zip(keys, np.exp(x))))


def fit_memory(prof: Profile, train_cases: list[dict]) -> Profile:
    """Fit the inference-memory constants (linear least squares on bytes above weights + KV)."""
    use = [c for c in train_cases if c["kind"] in ("prefill", "decode") and c.get("peak_bytes")]
    rows, y = [], []
    dec = prof.memory["decode_bytes"]
    for c in use:
        feats, fixed = pmem.inference_features(c["model"], c["kind"], c["batch"], c["size"])
        rows.append(feats)
        y.append(c["peak_bytes"] - fixed - (dec if c["kind"] == "decode" else 0.0))
    A = np.array(rows, dtype=float)
    y = np.array(y, dtype=float)
    # relative errors matter: weight each case by 1 / measured peak
    w = 1.0 / np.array([c["peak_bytes"] for c in use], dtype=float)
    coef, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    coef = np.maximum(coef, 0.0)
    mem = dict(prof.memory)
    mem.update(dict(zip(pmem.FEATURES, map(float, coef))))
    # training: s_h and c_ce from the cases without recomputation (see llmcalc.perf.memory)
    rows, y = [], []
    for c in train_cases:
        if c["kind"] == "train" and not c["recompute"] and c.get("peak_bytes"):
            m, n, P = c["model"], c["batch"] * c["size"], float(c["model"].params())
            rows.append([m.layers * n * m.hidden, n * m.vocab])
            y.append(c["peak_bytes"] - 14.0 * P - m.layers * n * 8.0 * m.ffn)
    if len(rows) >= 2:
        (s_h, c_ce), *_ = np.linalg.lstsq(np.array(rows, dtype=float), np.array(y, dtype=float), rcond=None)
        mem.update(train_act_per_hidden=float(s_h), train_logit_bytes=float(c_ce))
    return prof.with_params(memory=mem)


def errors(prof: Profile, test_cases: list[dict]) -> list[dict]:
    out = []
    for c in test_cases:
        p = predict(prof, c)
        row = dict(kind=c["kind"], model=c["model"].name, batch=c["batch"], size=c["size"],
                   recompute=c.get("recompute"), measured=c["seconds"], predicted=p, error=p / c["seconds"] - 1)
        if c.get("peak_bytes"):
            pm = predict_memory(prof, c)
            row.update(peak_measured=c["peak_bytes"], peak_predicted=pm, peak_error=pm / c["peak_bytes"] - 1)
        out.append(row)
    return out


def summary(rows: list[dict]) -> dict:
    out = {}
    for kind in ("prefill", "decode", "train"):
        e = [abs(r["error"]) for r in rows if r["kind"] == kind]
        m = [abs(r["peak_error"]) for r in rows if r["kind"] == kind and "peak_error" in r]
        if e:
            out[kind] = dict(cases=len(e), median_abs_error=float(np.median(e)), worst_abs_error=float(max(e)),
                             memory_worst_abs_error=float(max(m)) if m else None,
                             memory_median_abs_error=float(np.median(m)) if m else None)
    return out


def full_fit(data=None, base: Profile | None = None, params=TIME_PARAMS) -> Profile:
    base = base or measured()
    cs = cases(data)
    prof = fit_time(base, cs, params)
    prof = fit_memory(prof, cs)
    return prof


def leave_one_model_out(data=None, base: Profile | None = None, params=TIME_PARAMS) -> list[dict]:
    """Refit without each inference model in turn and predict that model's cases (its training
    runs too). Training runs of models that have no inference cases (tinyllama) are predicted
    by the fit on all inference models: they are unseen by construction."""
    base = base or measured()
    cs = cases(data)
    names = sorted({c["model"].name for c in cs if c["kind"] != "train"})
    rows = []
    for name in names:
        train = [c for c in cs if c["model"].name != name]
        prof = fit_memory(fit_time(base, train, params), train)
        rows += errors(prof, [c for c in cs if c["model"].name == name])
    unseen = [c for c in cs if c["kind"] == "train" and c["model"].name not in names]
    if unseen:
        prof = fit_memory(fit_time(base, cs, params), cs)
        rows += errors(prof, unseen)
    return rows


def _table(rows):
    lines = [f"{'kind':8s} {'model':17s} {'B':>4s} {'T/ctx':>6s} {'measured':>10s} {'predicted':>10s} {'err':>7s} {'mem err':>8s}"]
    for r in rows:
        size = f"{r['size']}" + ("r" if r.get("recompute") else "")
        me = f"{r['peak_error'] * 100:+.1f}%" if "peak_error" in r else ""
        lines.append(f"{r['kind']:8s} {r['model']:17s} {r['batch']:4d} {size:>6s} {r['measured'] * 1e3:9.3f}m "
                     f"{r['predicted'] * 1e3:9.3f}m {r['error'] * 100:+6.1f}% {me:>8s}")
    return "\n".join(lines)


def _profile_json(prof: Profile, fit_info: dict) -> dict:
    d = prof.to_dict()
    d["fit"] = fit_info
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m llmcalc.perf.fit")
    ap.add_argument("--write", action="store_true", help="write the fitted profile to llmcalc/data/profiles/h100-sxm5.json")
    ap.add_argument("--no-cv", action="store_true")
    ap.add_argument("--serving", action="store_true", help="fit the serving engine on llmcalc/data/published/serving.csv "
                    "(with --write: into llmcalc/data/profiles/engines.json)")
    ns = ap.parse_args(argv)
    if ns.serving:
        return serving_main(write=ns.write, cv=not ns.no_cv)
    prof = full_fit()
    rows = errors(prof, cases())
    print(_table(rows))
    s_in = summary(rows)
    print(json.dumps(s_in, indent=1))
    cv = None
    if not ns.no_cv:
        cv_rows = leave_one_model_out()
        cv = summary(cv_rows)
        print("leave-one-model-out:")
        print(_table(cv_rows))
        print(json.dumps(cv, indent=1))
    for sec in ("gemm", "attention", "elementwise", "overheads", "memory"):
        print(sec, getattr(prof, sec))
    print("roofline_p", prof.roofline_p)
    if ns.write:
        info = {"method": "least squares on log(predicted/measured) over the prefill and decode cases of "
                          "llmcalc/data/h100-calibration.json (scipy.optimize.least_squares, soft-L1 loss); "
                          "memory constants by weighted linear least squares; training cases not fitted",
                "fitted": [f"{s}.{k}" if s else k for s, k, _, _ in TIME_PARAMS] + [f"memory.{f}" for f in pmem.FEATURES],
                "in_sample": s_in, "leave_one_model_out": cv}
        prof = prof.with_params(provenance=(
            "Fitted on llmcalc/data/h100-calibration.json (one H100 80GB HBM3 SXM, 132 SMs, PyTorch 2.11, "
            "CUDA-graph replay, reference LLaMA-style engine): matmul_flops and bandwidth are the file's measured "
            "ceilings (8192³ bf16 matmul 739 TFLOP/s, read 2.93 TB/s); the shape, overhead and memory parameters "
            "are fitted by `python -m llmcalc.perf.fit --write`."))
        path = Path(__file__).resolve().parent.parent / "data" / "profiles" / "h100-sxm5.json"
        path.write_text(json.dumps(_profile_json(prof, info), indent=1) + "\n", encoding="utf-8")
        print("wrote", path)
    return 0



# ------------------------------------------------------------------------------------------ serving

# (key, lower, upper): the serving engine's global parameters, fitted in log space on serving.csv
SERVING_PARAMS = [
    ("gemm_efficiency", 0.5, 1.0),
    ("roofline_p", 1.0, 8.0),
    ("mmha_elements_per_sm_clock", 2.0, 64.0),
    ("mmha_block_positions", 1.0, 2000.0),
    ("legacy_mma_fraction", 0.2, 1.0),
    ("moe_gemm_efficiency", 0.2, 1.0),
    ("kernel_s", 1e-7, 3e-5),
    ("step_s", 1e-6, 5e-3),
    ("elementwise_scale", 0.2, 5.0),
]


def serving_predict(eng, case: dict) -> float:
    """Predicted value of a serving.csv case: output tokens/s per GPU, or first-token seconds.

    gptSessionBenchmark feeds identical prompts (every input id is the pad id) with greedy sampling, so
    every token of every sequence has the same hidden state (attention over identical keys and values
    returns the value): ``identical=True`` (it matters for MoE routing only)."""
    from . import serving_engine as se
    from .profile import hardware
    hw = hardware(case["gpu"])
    kw = dict(gpus=case["tp"], dtype=case["dtype"], identical=True)
    if case["metric"] == "ttft":
        return float(se.prefill(case["model"], case["gpu"], hw, eng, 1, case["input"], **kw).seconds)
    total, _ = se.static_batch(case["model"], case["gpu"], hw, eng, case["batch"], case["input"], case["output"], **kw)
    return case["batch"] * case["output"] / total / case["tp"]


def serving_errors(eng, cases: list[dict]) -> list[dict]:
    out = []
    for c in cases:
        p = serving_predict(eng, c)
        out.append(dict(id=c["id"], model=c["model_name"], gpu=c["gpu_name"], tp=c["tp"], dtype=c["dtype"],
                        batch=c["batch"], input=c["input"], output=c["output"], metric=c["metric"],
                        measured=c["value"], predicted=p, error=p / c["value"] - 1))
    return out


def serving_summary(rows: list[dict]) -> dict:
    out = {}
    for metric in ("throughput", "ttft"):
        e = [abs(r["error"]) for r in rows if r["metric"] == metric]
        if e:
            out[metric] = dict(cases=len(e), median_abs_error=float(np.median(e)), worst_abs_error=float(max(e)))
    return out


def fit_serving(eng, cases: list[dict], params=SERVING_PARAMS):
    """Fit the engine's global parameters on serving cases: least squares on log(predicted/measured),
    throughput and first-token rows together (soft-L1 loss, as for the H100 profile)."""
    keys = [k for k, _, _ in params]
    lo = np.log([p[1] for p in params])
    hi = np.log([p[2] for p in params])
    x0 = np.clip(np.log([eng.params[k] for k in keys]), lo + 1e-9, hi - 1e-9)
    meas = np.log([c["value"] for c in cases])

    def fun(x):
        e = eng.with_params(**dict(zip(keys, map(float, np.exp(x)))))
        return np.log([serving_predict(e, c) for c in cases]) - meas

    x = _least_squares(fun, x0, lo, hi)
    return eng.with_params(**dict(zip(keys, map(float, np.exp(x)))))


MOE_PARAMS = ("moe_gemm_efficiency", "legacy_mma_fraction")


def identifiable(params, cases: list[dict]):
    """The parameters the cases can determine: the MoE kernel parameters only when an MoE model is among
    them (else they keep their prior values from engines.json)."""
    moe = any(c["model"].experts for c in cases)
    return [p for p in params if moe or p[0] not in MOE_PARAMS]


def serving_leave_one_group_out(eng, cases: list[dict], by: str, params=SERVING_PARAMS) -> list[dict]:
    """Refit without each group (``by`` = "gpu_name" or "model_name") and predict that group's rows."""
    rows = []
    for name in sorted({c[by] for c in cases}):
        train = [c for c in cases if c[by] != name]
        fitted = fit_serving(eng, train, identifiable(params, train))
        rows += serving_errors(fitted, [c for c in cases if c[by] == name])
    return rows


def serving_table(rows: list[dict]) -> str:
    lines = [f"{'id':5s} {'model':13s} {'GPU':5s} {'TP':>2s} {'dtype':5s} {'batch':>5s} {'in':>5s} {'out':>5s} "
             f"{'metric':10s} {'published':>10s} {'predicted':>10s} {'error':>7s}"]
    for r in rows:
        unit = 1e3 if r["metric"] == "ttft" else 1.0
        lines.append(f"{r['id']:5s} {r['model']:13s} {r['gpu']:5s} {r['tp']:2d} {r['dtype']:5s} {r['batch']:5d} "
                     f"{r['input']:5d} {r['output']:5d} {('TTFT ms' if unit > 1 else 'tok/s/GPU'):10s} "
                     f"{r['measured'] * unit:10.1f} {r['predicted'] * unit:10.1f} {r['error'] * 100:+6.1f}%")
    return "\n".join(lines)


def serving_main(write=False, cv=True) -> int:
    """Fit the serving engine's global parameters, print the table and the cross-validation."""
    from . import published, serving_engine as se
    cs = published.serving_cases()
    eng = fit_serving(se.engine("trtllm-0.9"), cs)
    rows = serving_errors(eng, cs)
    print(serving_table(rows))
    info = {"method": "least squares on log(predicted/measured) over the 144 rows of llmcalc/data/published/serving.csv "
                      "(TensorRT-LLM 0.9.0: 96 static-batch throughputs, 48 batch-1 first-token latencies; "
                      "scipy.optimize.least_squares, soft-L1 loss)",
            "fitted": [k for k, _, _ in SERVING_PARAMS], "in_sample": serving_summary(rows)}
    print("in-sample", json.dumps(info["in_sample"]))
    if cv:
        for by in ("gpu_name", "model_name"):
            s = serving_summary(serving_leave_one_group_out(se.engine("trtllm-0.9"), cs, by))
            info[f"leave_one_{by.split('_')[0]}_out"] = s
            print(f"leave one {by.split('_')[0]} out", json.dumps(s))
    print(json.dumps({k: eng.params[k] for k, _, _ in SERVING_PARAMS}, indent=1))
    if write:
        path = Path(__file__).resolve().parent.parent / "data" / "profiles" / "engines.json"
        d = json.loads(path.read_text(encoding="utf-8"))
        d["params"] = {k: (round(v, 6) if v > 1e-3 else float(f"{v:.4g}")) for k, v in eng.params.items()}
        d["fit"] = info
        path.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
