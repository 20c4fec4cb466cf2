"""Serving at fleet scale: throughput and latency under in-flight batching, capacity within latency
targets, GPUs and dollars for a traffic, the cheapest configuration, and hosted-API prices.

Every function here runs the in-flight batching simulator of one replica (:mod:`llmcalc.serving`:
chunked prefill, a paged KV cache with preemption) on the serving engine's step times
(:mod:`llmcalc.perf.serving_engine`, fitted on published TensorRT-LLM tables). A replica is a
tensor-parallel group of ``gpus`` GPUs; traffic is spread evenly over replicas (each receives a
Poisson stream of the total rate / replicas). Latency targets apply to a percentile of the requests
(default the 90th). A month is 730 hours.

(About 490 lines: nine user functions, each a declaration with its example and a short implementation
over the shared helpers above them; split, the helpers would move to a module of their own that only
this one uses.)
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import catalog
from ..errors import ArgumentError
from ..explain import fmt
from ..kinds import Choice, Number, Text
from ..hardware import normalize_dtype
from ..registry import Arg, Example, Group, user_function, variant
from ..results import Calc
from ..perf import serving_engine as se
from ..serving import capacity as cap
from ..serving import metrics, replica
from ..serving.prices import api_models, api_price
from . import args as A
from .training import catalog_price

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0
MAX_SCENARIOS = 100   # simulations one call may run over list arguments


class Concurrency(Number):
    """Requests in flight: a whole number, or "max" (every request queued: as many as the engine holds)."""

    sheet_type = "any"      # a number or the text "max" in a cell

    def __init__(self):
        super().__init__("", integer=True, maximum=1e6, vector=False, label="requests in flight or \"max\"")

    def _scalar(self, value, name):
        if isinstance(value, str) and value.strip().lower() in ("max", "all", "maximum", "offline"):
            return "max"
        return super()._scalar(value, name)

    def show(self, value):
        return str(value)


# ---------------------------------------------------------------------------------------- arguments

prompt = Arg("prompt", A.TOKENS, "prompt (input) tokens per request")
output = Arg("output", A.TOKENS, "output (generated) tokens per request")
requests_per_s = Arg("requests_per_s", Number("request/s"), "traffic: requests per second (\"20\", \"1.7M/day\")")
concurrency = Arg("concurrency", Concurrency(), "requests in flight (clients in a closed loop), or \"max\": every request "
                  "queued at once, as many in flight as the engine holds", "max")
ttft_slo = Arg("ttft_slo", Number("s"), "target time to first token (\"1 s\", \"500 ms\"); default: none", None)
tpot_slo = Arg("tpot_slo", Number("s"), "target time per output token (\"40 ms\"); default: none", None)
percentile = Arg("percentile", Number("", maximum=100, vector=False, label="percentile (0–100)"),
                 "percentile of the requests the targets (or the latency) refer to", 90)
metric = Arg("metric", Choice(("ttft", "tpot", "e2e")), "latency: ttft (time to first token), tpot (time per output "
             "token) or e2e (arrival to last token)", "ttft")
dtype = A.dtype_compute
engine = A.engine.but(kind=Choice(tuple(se.engine_names())), default="trtllm",
                      help="serving engine whose kernels are modelled (trtllm: current TensorRT-LLM; trtllm-0.9: the "
                           "version of the published tables)")
api_model = Arg("api_model", Text(80), f"hosted API model, e.g. {', '.join(repr(m) for m in ('gpt-4o-mini', 'gpt-3.5-turbo-2023', 'deepseek-chat'))} "
                "(llmcalc/data/api_prices.csv)")
gpus_allowed = Arg("gpus_allowed", Text(400), "GPU types to consider, comma-separated (\"H100,A100,L40S\"); default: "
                   "H100, H200, B200, A100-80GB, L40S", "")
dtypes = Arg("dtypes", Text(100), "numeric formats to consider, comma-separated", "fp8,bf16")
# The settings every serving function hands on together, each as ONE record: the replica (a tensor-parallel
# group and how it runs) and the latency targets. A function lists the members where its users pass them;
# an argument added to a group reaches every function that takes the group, at the end of its arguments.
REPLICA = Group("replica", (A.gpus_tp, dtype, A.kv_dtype, engine, A.profile))
TARGETS = Group("targets", (ttft_slo, tpot_slo, percentile))
TP_SIZES = (1, 2, 4, 8)
TOKEN_COUNT = Number("token", count=True, integer=True, minimum=0, strict=False, maximum=1e15)

SOURCES = [("trtllm-perf", "0.9.0 performance overview (calibration of the step times)"), "vllm-paged", "sarathi"]
ASSUMPTIONS = ("In-flight batching with chunked prefill (8,192 tokens per step, at most 1,024 sequences), a paged KV "
               "cache (16-token blocks, 90% of GPU memory for weights, activations and cache) with preemption and "
               "recomputation; fixed prompt and output lengths per request.",)


def _replica(model, gpu, rep):
    """The simulated replica of a :data:`REPLICA` record."""
    return replica(model, gpu, **vars(rep))


WHOLE = ("prompt", "output", "gpus")   # list arguments whose elements are whole numbers


def _each(func, **values):
    """Run ``func(**scalars)`` for every element of the broadcast list arguments, those inside a settings record
    (:data:`REPLICA`, :data:`TARGETS`) too; (array or scalar, last Calc)."""
    arrays = {}                                    # (argument, record field or None) → array
    for k, v in values.items():
        if dataclasses.is_dataclass(v):
            arrays.update({(k, f.name): getattr(v, f.name) for f in dataclasses.fields(v)
                           if isinstance(getattr(v, f.name), np.ndarray)})
        elif isinstance(v, np.ndarray):
            arrays[(k, None)] = v
    if not arrays:
        return func(**values)
    shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    n = int(np.prod(shape))
    if n > MAX_SCENARIOS:
        k, field = next(iter(arrays))
        raise ArgumentError(field or k, f"asks for {n:,} simulations; at most {MAX_SCENARIOS} in one call")
    flat = {key: np.broadcast_to(v, shape).ravel() for key, v in arrays.items()}
    out, last = np.empty(n), None
    for i in range(n):
        call = dict(values)
        for (k, field), v in flat.items():
            x = int(v[i]) if (field or k) in WHOLE else float(v[i])
            call[k] = x if field is None else dataclasses.replace(call[k], **{field: x})
        last = func(**call)
        out[i] = last.value
    return Calc(out.reshape(shape), last.steps, last.assumptions)


def _run_metrics(r, prompt, output, concurrency):
    if concurrency == "max":
        return cap.saturation(r, prompt, output)
    key = ("closed", int(concurrency), prompt, output)
    if key not in r.cache:
        n = int(min(max(6 * int(concurrency), 300), 3000))
        r.cache[key] = metrics.summarize(r.run(prompt, output, concurrency=int(concurrency), n_requests=n), warmup=0.2)
    return r.cache[key]


def _load_line(r, m, concurrency):
    how = ("every request queued at once" if concurrency == "max" else concurrency if isinstance(concurrency, str)
           else f"{concurrency} requests in flight (closed loop)")
    return (f"{r.describe()}: KV cache {fmt(r.kv_tokens)} tokens ({fmt(r.kv_blocks)} blocks), {how}: "
            f"{fmt(m['request_rate'], 'request/s')}, up to {fmt(m['max_running'])} sequences in flight, "
            f"{fmt(m['preemptions'])} preemptions")


def _check_fit(r, prompt, output):
    r._check(prompt, output)


# ---------------------------------------------------------------------------------------- throughput, latency

@user_function(
    "LLM_SERVING_THROUGHPUT", unit="token/s", category="serving",
    args=[A.model, A.gpu, prompt, output, A.gpus_tp, dtype, A.kv_dtype, concurrency, engine, A.profile, REPLICA],
    formula="output tokens / (last finish − first arrival) of a simulated run: in-flight batching of the calibrated "
            "engine steps, t_step = GEMMs(tokens) + attention(Σ context) + overheads",
    sources=SOURCES + ["perf-model"], assumptions=ASSUMPTIONS,
    examples=[Example(("llama-3.1-8b", "H200", 1000, 1000), 18988, dict(dtype="fp8"), rel=0.02,
                      note="llmcalc serving model (offline batch of 3,000 requests); TensorRT-LLM 1.0's performance "
                           "overview measured 17,744 tok/s for this case (not used to fit the model)")])
def serving_throughput(model, gpu, prompt, output, concurrency, replica):
    """Output tokens per second of one replica under in-flight batching."""
    def one(prompt, output, replica):
        r = _replica(model, gpu, replica)
        _check_fit(r, prompt, output)
        m = _run_metrics(r, prompt, output, concurrency)
        tput = m["throughput"]
        return Calc(tput, lambda: [
            _load_line(r, m, concurrency),
            f"{fmt(m['request_rate'] * m['span'])} requests × {fmt(output)} tokens / {fmt(m['span'], 's')} = "
            f"{fmt(tput, 'token/s')} output; TTFT p50 {fmt(m['ttft']['p50'], 's')}, TPOT p50 {fmt(m['tpot']['p50'], 's')}"], [])
    return _each(one, prompt=prompt, output=output, replica=replica)


@user_function(
    "LLM_SERVING_LATENCY", unit="s", category="serving",
    args=[A.model, A.gpu, prompt, output, A.gpus_tp, dtype, A.kv_dtype, concurrency, metric,
          percentile.but(default=50), engine, A.profile,
          requests_per_s.but(help="Poisson traffic to this replica (requests/s) instead of concurrency's closed loop",
                             default=None), REPLICA],
    formula="percentile of TTFT = first token − arrival, TPOT = (finish − first token)/(output − 1), or E2E = finish − "
            "arrival over the requests of a simulated run (the first fifth left out as warm-up)",
    sources=SOURCES + ["perf-model"], assumptions=ASSUMPTIONS,
    examples=[Example(("llama-3-8b", "H100", 1500, 300), 0.00385, dict(dtype="fp8", concurrency=4, metric="tpot"), rel=0.03,
                      note="llmcalc serving model (simulation): 4 requests in flight decode at ≈ 3.9 ms per token "
                           "(8 GB of FP8 weights read per step, CUDA-graph decode)")])
def serving_latency(model, gpu, prompt, output, concurrency, metric, percentile, requests_per_s, replica):
    """A latency percentile (TTFT, TPOT or end-to-end) of one replica under in-flight batching."""
    def one(prompt, output, requests_per_s, replica):
        r = _replica(model, gpu, replica)
        _check_fit(r, prompt, output)
        if requests_per_s is None:
            m = _run_metrics(r, prompt, output, concurrency)
        else:
            m = cap.poisson_metrics(r, requests_per_s, prompt, output, cap._n_requests(r, prompt, output))
        v = metrics.percentile(m, metric, percentile)
        load = concurrency if requests_per_s is None else f"Poisson {fmt(requests_per_s)}/s"
        return Calc(v, lambda: [_load_line(r, m, load),
                                f"{metric} p{fmt(percentile)} = {fmt(v, 's')} (mean {fmt(metrics.percentile(m, metric, None), 's')})"],
                    [])
    return _each(one, prompt=prompt, output=output, requests_per_s=requests_per_s, replica=replica)


# ---------------------------------------------------------------------------------------- capacity, GPUs, cost

def _capacity(model, gpu, prompt, output, targets, replica):
    r = _replica(model, gpu, replica)
    _check_fit(r, prompt, output)
    return r, cap.capacity(r, prompt, output, targets.ttft_slo, targets.tpot_slo, targets.percentile)


def _capacity_lines(r, c, targets):
    ttft_slo, tpot_slo, percentile = targets.ttft_slo, targets.tpot_slo, targets.percentile
    m = c["metrics"]
    targets = ", ".join(x for x in (f"TTFT ≤ {fmt(ttft_slo, 's')}" if ttft_slo is not None else "",
                                    f"TPOT ≤ {fmt(tpot_slo, 's')}" if tpot_slo is not None else "") if x) or "none"
    return [f"{r.describe()}: one request alone: TTFT {fmt(c['alone'][0], 's')}, TPOT {fmt(c['alone'][1], 's')}",
            f"saturation (steady state of the step times): {fmt(c['saturation_rate'], 'request/s')}",
            f"targets ({targets}) at p{fmt(percentile)}: highest Poisson rate that meets them = {fmt(c['rate'], 'request/s')} "
            f"(limited by {c['bound']}): TTFT p{fmt(percentile)} {fmt(metrics.percentile(m, 'ttft', percentile), 's')}, "
            f"TPOT p{fmt(percentile)} {fmt(metrics.percentile(m, 'tpot', percentile), 's')}, "
            f"{fmt(m['throughput'], 'token/s')} output"]


CAPACITY_ARGS = [ttft_slo, tpot_slo, A.gpus_tp, dtype, A.kv_dtype, percentile, engine, A.profile, TARGETS, REPLICA]


@user_function(
    "LLM_SERVING_CAPACITY", unit="request/s", category="serving",
    args=[A.model, A.gpu, prompt, output, *CAPACITY_ARGS],
    formula="max λ such that percentile(TTFT) ≤ ttft_slo and percentile(TPOT) ≤ tpot_slo in a simulated Poisson run "
            "at rate λ (bisection below 95% of the saturation rate)",
    sources=SOURCES + ["perf-model"], assumptions=ASSUMPTIONS,
    examples=[Example(("llama-3.1-70b", "H100", 1500, 300), 8.43, dict(ttft_slo=1.0, tpot_slo=0.04, gpus=4, dtype="fp8"),
                      rel=0.05, note="llmcalc serving model (simulation): the issue's budget question, one replica of "
                                     "4 × H100 in FP8 meets 1 s / 40 ms at the 90th percentile up to ≈ 8 requests/s")])
def serving_capacity(model, gpu, prompt, output, targets, replica):
    """The highest request rate one replica sustains within latency targets."""
    def one(prompt, output, targets, replica):
        r, c = _capacity(model, gpu, prompt, output, targets, replica)
        return Calc(c["rate"], lambda: _capacity_lines(r, c, targets), [])
    return _each(one, prompt=prompt, output=output, targets=targets, replica=replica)


def _fleet(model, gpu, rate, prompt, output, targets, replica):
    r, c = _capacity(model, gpu, prompt, output, targets, replica)
    replicas = max(1, math.ceil(rate / c["rate"] - 1e-9))
    return r, c, replicas


@user_function(
    "LLM_SERVING_GPUS", unit="GPU", category="serving", result="count",
    args=[A.model, A.gpu, requests_per_s, prompt, output, *CAPACITY_ARGS],
    formula="GPUs = ⌈requests_per_s / capacity of one replica⌉ × gpus per replica",
    sources=SOURCES + ["perf-model"], assumptions=ASSUMPTIONS + (
        "Traffic is spread evenly over the replicas; each sees Poisson arrivals at its share of the rate.",),
    examples=[Example(("llama-3.1-70b", "H100", 20, 1500, 300), 12, dict(ttft_slo=1.0, tpot_slo=0.04, gpus=4, dtype="fp8"),
                      note="the issue's budget question: 20 requests/s of 1,500/300 tokens within 1 s / 40 ms need "
                           "3 replicas of 4 × H100 (llmcalc serving model)")])
def serving_gpus(model, gpu, requests_per_s, prompt, output, targets, replica):
    """GPUs needed to serve a traffic within latency targets."""
    def one(requests_per_s, prompt, output, targets, replica):
        r, c, n = _fleet(model, gpu, requests_per_s, prompt, output, targets, replica)
        g = replica.gpus
        return Calc(n * g, lambda: _capacity_lines(r, c, targets) + [
            f"replicas = ⌈{fmt(requests_per_s)} / {fmt(c['rate'])}⌉ = {n}; GPUs = {n} × {g} = {n * g}"], [])
    return _each(one, requests_per_s=requests_per_s, prompt=prompt, output=output, targets=targets, replica=replica)


def _cost(model, gpu, rate, prompt, output, price, targets, replica):
    """(monthly USD, $/M input, $/M output, lines)."""
    gpu_obj = catalog.gpu(gpu)
    p, note = catalog_price(price, gpu_obj)
    r, c, n = _fleet(model, gpu, rate, prompt, output, targets, replica)
    gpus = replica.gpus
    monthly = n * gpus * p * HOURS_PER_MONTH
    share = min(max(c["metrics"]["prefill_share"], 0.0), 1.0)      # of the busy time; idle time split alike
    tin, tout = rate * prompt * SECONDS_PER_MONTH, rate * output * SECONDS_PER_MONTH
    per_in = monthly * share / tin * 1e6
    per_out = monthly * (1 - share) / tout * 1e6
    lines = _capacity_lines(r, c, targets) + [
        f"{n} replica(s) × {gpus} GPU(s) × ${fmt(p)}/h × {fmt(HOURS_PER_MONTH)} h = ${fmt(monthly)} per month",
        f"GPU time on prompts: {fmt(100 * share)}% → ${fmt(per_in)} per million input tokens "
        f"({fmt(tin / 1e6)} M/month), ${fmt(per_out)} per million output tokens ({fmt(tout / 1e6)} M/month)"]
    return monthly, per_in, per_out, lines, note


COST_ARGS = [ttft_slo, tpot_slo, A.gpus_tp, dtype, A.kv_dtype, percentile, A.price, engine, A.profile, TARGETS, REPLICA]


@user_function(
    "LLM_SERVING_COST", unit="USD/month", category="serving",
    args=[A.model, A.gpu, requests_per_s, prompt, output, *COST_ARGS],
    formula="$/month = GPUs × price per GPU-hour × 730 h; $ per million tokens splits it by the GPU time spent on "
            "prompts (prefill) vs generation",
    sources=SOURCES + ["perf-model", "price-catalog"], assumptions=ASSUMPTIONS + (
        "GPUs are rented for the whole month at the catalog's on-demand price (idle time included).",),
    examples=[Example(("llama-3.1-70b", "H100", 20, 1500, 300), 12 * 3.99 * 730,
                      dict(ttft_slo=1.0, tpot_slo=0.04, gpus=4, dtype="fp8", price=3.99),
                      note="12 H100 at $3.99/GPU-hour (Lambda 8x H100 SXM, 2026-09-20) for 730 h")])
def serving_cost(model, gpu, requests_per_s, prompt, output, price, targets, replica):
    """Monthly cost of self-hosting a traffic within latency targets (with $ per million tokens in the explanation)."""
    def one(requests_per_s, prompt, output, price, targets, replica):
        monthly, _, _, lines, note = _cost(model, gpu, requests_per_s, prompt, output, price, targets, replica)
        return Calc(monthly, lambda: lines, [note])
    return _each(one, requests_per_s=requests_per_s, prompt=prompt, output=output, price=price, targets=targets,
                 replica=replica)


def _per_mtok(value, values):
    rate, p, o = values["requests_per_s"], values["prompt"], values["output"]
    tokens = rate * (p + o) * SECONDS_PER_MONTH
    per = value / tokens * 1e6
    return per, lambda: f"${fmt(value)} per month / {fmt(tokens / 1e6)} M tokens (prompt + output) = ${fmt(per)} per million tokens"


serving_cost_per_mtok = variant(
    serving_cost, "LLM_SERVING_COST_PER_MTOK", unit="USD/Mtoken",
    summary="Self-hosting cost per million tokens (prompt and output together) at a traffic.", transform=_per_mtok,
    formula="$ per million tokens = ($ per month) / (requests_per_s × (prompt + output) × 2.628e6 s) × 1e6",
    examples=[Example(("llama-3.1-70b", "H100", 20, 1500, 300), 12 * 3.99 * 730 / (20 * 1800 * 2.628e6) * 1e6,
                      dict(ttft_slo=1.0, tpot_slo=0.04, gpus=4, dtype="fp8", price=3.99),
                      note="$34,952/month over 94.6 billion tokens a month")])


# ---------------------------------------------------------------------------------------- plan

def _names(text, default):
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    return items or default


PLAN_GPUS = "H100,H200,B200,A100-80GB,L40S"


def _single(kind: Number) -> Number:
    """The same kind, one value per call (a plan is a sentence, not a table)."""
    return Number(kind.unit, count=kind.count, integer=kind.integer, minimum=kind.minimum, strict=kind.strict,
                  maximum=kind.maximum, vector=False, label=kind.label)


def _plan(model, rate, prompt, output, ttft_slo, tpot_slo, gpus_allowed, dtypes, percentile, engine):
    """(ranked simulated configurations [(monthly, gpu, tp, dtype, replicas, capacity)], screened count).

    Every GPU × precision × tensor-parallel size that holds the model and meets the targets with one request
    alone is screened by its fluid capacity (optimistic: no queueing, no tail); larger groups are tried while
    they get cheaper. The cheapest is simulated, then the next ones while their screening cost is below the
    best simulated cost (at most 3 simulated)."""
    gpus_ = [catalog.gpu(x, "gpus_allowed") for x in _names(gpus_allowed, PLAN_GPUS.split(","))]
    kinds = [normalize_dtype(d, "dtypes") for d in _names(dtypes, ["fp8", "bf16"])]
    m = catalog.model(model)
    screened = []
    for g in gpus_:
        if not g.price_per_hour:
            raise ArgumentError("gpus_allowed", f"the catalog has no price for {g.name}; leave it out")
        for d in kinds:
            try:
                g.peak_flops(d)
            except ArgumentError:
                continue
            prev = math.inf
            for tp in TP_SIZES:
                if tp > max(g.scale_up_size, 1) or m.heads % tp:
                    continue
                try:
                    r = replica(m, g, gpus=tp, dtype=d, engine=engine)
                    r._check(prompt, output)
                except ArgumentError:
                    continue
                ttft1, tpot1 = cap.alone(r, prompt, output)
                if (ttft_slo is not None and ttft1 > ttft_slo) or (tpot_slo is not None and tpot1 > tpot_slo):
                    continue
                est = math.ceil(rate / cap.fluid_capacity(r, prompt, output, tpot_slo)) * tp * g.price_per_hour * HOURS_PER_MONTH
                screened.append((est, g, tp, d, r))
                if est > prev:
                    break
                prev = est
    if not screened:
        raise ArgumentError("ttft_slo" if ttft_slo is not None else "gpus_allowed",
                            "cannot be met by any configuration: none of the GPUs allowed holds the model with a "
                            "request alone within the targets")
    screened.sort(key=lambda x: x[0])
    ranked = []
    for est, g, tp, d, r in screened:
        if len(ranked) >= 3 or (ranked and est >= min(x[0] for x in ranked)):
            break
        try:
            c = cap.capacity(r, prompt, output, ttft_slo, tpot_slo, percentile)
        except ArgumentError:
            continue
        n = max(1, math.ceil(rate / c["rate"] - 1e-9))
        ranked.append((n * tp * g.price_per_hour * HOURS_PER_MONTH, g, tp, d, n, c["rate"]))
    if not ranked:
        raise ArgumentError("ttft_slo" if ttft_slo is not None else "tpot_slo",
                            "cannot be met by any configuration at this traffic")
    ranked.sort(key=lambda x: x[0])
    return ranked, screened


@user_function(
    "LLM_SERVING_PLAN", unit="", category="serving", result="text",
    args=[A.model, *(a.but(kind=_single(a.kind)) for a in (requests_per_s, prompt, output, ttft_slo, tpot_slo)),
          gpus_allowed, dtypes, percentile, engine],
    formula="for every GPU type × precision × tensor-parallel size: replicas = ⌈rate / capacity⌉, $/month = replicas × "
            "GPUs × price × 730 h; screened by the fluid capacity, the cheapest simulated until no screened one can beat "
            "them; the cheapest wins",
    sources=SOURCES + ["perf-model", "price-catalog"], assumptions=ASSUMPTIONS + (
        "Catalog on-demand prices; tensor parallelism within one scale-up domain (NVLink/PCIe server).",),
    examples=[Example(("llama-3.1-70b", 20, 1500, 300), "10 × H100-SXM5-80GB (5 replicas of TP2, fp8): $29,000/month",
                      dict(ttft_slo=1.0, tpot_slo=0.04, gpus_allowed="H100,A100", dtypes="fp8,bf16"),
                      note="the issue's budget question (llmcalc serving model, Lambda's $3.99/h H100 price)")])
def serving_plan(model, requests_per_s, prompt, output, ttft_slo, tpot_slo, gpus_allowed, dtypes, percentile, engine):
    """The cheapest GPU type × tensor parallelism × precision that serves a traffic within latency targets."""
    ranked, screened = _plan(model, requests_per_s, prompt, output, ttft_slo, tpot_slo, gpus_allowed, dtypes, percentile,
                             engine)
    monthly, g, tp, d, n, c = ranked[0]
    text = f"{n * tp} × {g.name} ({n} replica{'s' if n > 1 else ''} of TP{tp}, {d}): ${_money(monthly)}/month"
    lines = [f"{len(screened)} configurations hold the model and meet the targets with one request alone; by their "
             f"fluid capacity the cheapest is {screened[0][2]} × {screened[0][1].name} ({screened[0][3]}), "
             f"${_money(screened[0][0])}/month; simulated (Poisson arrivals, targets at p{fmt(percentile)}):"]
    for i, (mo, gg, t, dd, nn, cc) in enumerate(ranked, 1):
        lines.append(f"{i}. {nn * t} × {gg.name} ({nn} × TP{t}, {dd}): {fmt(cc, 'request/s')} per replica, "
                     f"${_money(mo)}/month at ${fmt(gg.price_per_hour)}/GPU-hour ({gg.price_date})")
    return Calc(text, lambda: lines, [])


def _money(x: float) -> str:
    """Dollars rounded to 2 significant figures above $1,000 (a plan is an estimate): 34,952 → 35,000."""
    if x >= 1000:
        digits = int(math.floor(math.log10(x))) - 1
        x = round(x, -digits)
    return f"{x:,.0f}"


# ---------------------------------------------------------------------------------------- hosted APIs

@user_function(
    "LLM_API_COST", unit="USD", category="serving",
    args=[api_model, Arg("prompt_tokens", TOKEN_COUNT, "prompt (input) tokens"),
          Arg("output_tokens", TOKEN_COUNT, "output (generated) tokens")],
    formula="$ = prompt_tokens × price per input token + output_tokens × price per output token",
    sources=["api-prices", ("article2", "(gpt-3.5-turbo: $0.0015 / 1K prompt, $0.002 / 1K completion tokens)")],
    assumptions=("List prices without prompt caching or batch discounts.",),
    examples=[Example(("gpt-3.5-turbo-2023", 1e6, 1e6), 3.5,
                      note="article 2's GPT-3.5 prices: $1.5 + $2 per million prompt + completion tokens")])
def api_cost(api_model, prompt_tokens, output_tokens):
    """What a hosted API charges for some prompt and output tokens."""
    p = api_price(api_model)
    usd = p.cost(prompt_tokens, output_tokens)
    return Calc(usd, lambda: [f"{fmt(prompt_tokens)} × ${fmt(p.input)}/M + {fmt(output_tokens)} × ${fmt(p.output)}/M = "
                              f"${fmt(usd)}"], [p.citation()])


@user_function(
    "LLM_BREAKEVEN", unit="request/day", category="serving",
    args=[A.model, A.gpu, api_model, prompt, output, *COST_ARGS],
    formula="requests/day = (one replica's $/day) / (API $ per request); self-hosting is cheaper above it as long as "
            "one replica at capacity costs less per request than the API",
    sources=SOURCES + ["perf-model", "price-catalog", "api-prices"], assumptions=ASSUMPTIONS + (
        "Self-hosting pays for whole replicas all month; the API is billed per token at list price.",),
    examples=[Example(("llama-2-70b", "A100", "gpt-3.5-turbo-2023", 1500, 300), 4.42 * 24 / (1500 * 1.5e-6 + 300 * 2e-6),
                      dict(gpus=2, price=2.21),
                      note="article 2's setting: 2 × A100 at $2.21/h against GPT-3.5 at $1.5/$2 per million tokens")])
def breakeven(model, gpu, api_model, prompt, output, price, targets, replica):
    """The traffic above which self-hosting a model is cheaper than a hosted API."""
    p_api = api_price(api_model)
    gpu_obj = catalog.gpu(gpu)

    def one(prompt, output, price, targets, replica):
        hourly, note = catalog_price(price, gpu_obj)
        r, c = _capacity(model, gpu, prompt, output, targets, replica)
        gpus = replica.gpus
        per_request = p_api.cost(prompt, output)
        replica_day = gpus * hourly * 24
        be = replica_day / per_request
        at_capacity = replica_day / (c["rate"] * 86400)
        if at_capacity >= per_request:
            raise ArgumentError("api_model", f"{p_api.name} costs less than self-hosting at any traffic: a full replica "
                                             f"costs ${at_capacity:.3g} per request, more than the API's ${per_request:.3g}")
        return Calc(be, lambda: _capacity_lines(r, c, targets) + [
            f"API: {fmt(prompt)} × ${fmt(p_api.input)}/M + {fmt(output)} × ${fmt(p_api.output)}/M = ${fmt(per_request)} per request",
            f"one replica: {gpus} × ${fmt(hourly)}/h × 24 h = ${fmt(replica_day)} per day; full, it serves "
            f"{fmt(c['rate'] * 86400)} requests/day at ${fmt(at_capacity)} each",
            f"breakeven = ${fmt(replica_day)} / ${fmt(per_request)} = {fmt(be, 'request/day')} "
            f"({fmt(be / 86400, 'request/s')}); above it self-hosting is cheaper"], [note, p_api.citation()])
    return _each(one, prompt=prompt, output=output, price=price, targets=targets, replica=replica)


__all__ = ["serving_throughput", "serving_latency", "serving_capacity", "serving_gpus", "serving_cost",
           "serving_cost_per_mtok", "serving_plan", "api_cost", "breakeven", "api_models"]
