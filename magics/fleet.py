"""The fleet scenario: a traffic of requests within latency targets, on GPUs or through a hosted API.

    model: llama-3.1-70b
    gpu: 4 x H100               # GPUs per replica (tensor parallel)
    traffic: 1..32 x2 req/s
    prompt: 1500 tokens
    output: 300 tokens
    slo: ttft 1 s, tpot 40 ms
    dtype: fp8
    api: gpt-4o                 # compare with a hosted API (optional)

One row per traffic (and other swept values): replicas and GPUs needed, capacity of one replica within the
targets, $ per month and $ per million tokens, TTFT and TPOT percentiles at each replica's share of the
traffic, and what the API would charge. Each number is a registry function (``serving_capacity``,
``serving_gpus``, ``serving_cost``, ``serving_cost_per_mtok``, ``serving_latency``, ``api_cost``,
``breakeven``) called with the fields as written. The plot draws $ per month against traffic for
self-hosting and the API, with the breakeven marked, and the latency percentiles against load.
"""
from __future__ import annotations

import re

from llmcalc.errors import ArgumentError
from llmcalc.explain import fmt
from llmcalc.kinds import Text
from llmcalc.registry import REGISTRY
from llmcalc.units import ureg

from .fields import GPU, GPUS, PRICE, Entry, ScenarioError, ScenarioField
from .kind import Column, Panel, Row, ScenarioKind, common_inputs
from .serving import DTYPE, GENERATE, KV_DTYPE, PROMPT

SECONDS_PER_MONTH = 730 * 3600

MODEL = ScenarioField("model", "model", arg=("serving_capacity", "model"), aliases=("params", "parameters"),
                      help="catalog model name or config.json path")
TRAFFIC = ScenarioField("traffic", "traffic", arg=("serving_gpus", "requests_per_s"),
                        aliases=("requests_per_s", "rate", "load", "qps", "rps"),
                        help="requests per second (20 req/s, 1.7M/day)")
TTFT_SLO = ScenarioField("ttft_slo", "TTFT target", arg=("serving_gpus", "ttft_slo"), aliases=("ttft",))
TPOT_SLO = ScenarioField("tpot_slo", "TPOT target", arg=("serving_gpus", "tpot_slo"), aliases=("tpot",))
PERCENTILE = ScenarioField("percentile", "percentile", arg=("serving_gpus", "percentile"), sweep=False,
                           help="percentile of the requests the targets apply to (default 90)")
API = ScenarioField("api", "API", arg=("api_cost", "api_model"), aliases=("api_model", "compare"), sweep=False)

_SLO_PART = re.compile(r"^\s*(ttft|first[ _-]?token|tpot|per[ _-]?token|itl)\s*[:=<≤]*\s*(.+?)\s*$", re.I)


def _split_slo(text: str) -> tuple[str, dict[str, str]]:
    """``ttft 1 s, tpot 40 ms`` (or ``1 s / 40 ms``) → ``ttft_slo: 1 s``, ``tpot_slo: 40 ms``."""
    parts = [p for p in re.split(r"[,;/]| and ", text) if p.strip()]
    out: dict[str, str] = {}
    for i, p in enumerate(parts):
        m = _SLO_PART.match(p)
        if m:
            key = "ttft_slo" if m.group(1).lower()[:1] in ("t", "f") and m.group(1).lower() != "tpot" else "tpot_slo"
            out[key] = m.group(2)
        elif len(parts) == 2:                  # positional: TTFT then TPOT
            out[("ttft_slo", "tpot_slo")[i]] = p.strip()
        else:
            raise ScenarioError(f"field 'slo': cannot read {p.strip()!r}; write 'slo: ttft 1 s, tpot 40 ms'")
    return text, out


SLO = ScenarioField("slo", "targets", kind=Text(200), sweep=False, split=_split_slo, aliases=("slos", "targets"),
                    help="latency targets: ttft 1 s, tpot 40 ms (or 1 s / 40 ms)")


def evaluate(row: Row) -> dict:
    model, gpu = row.text("model"), row.text("gpu")
    tp = int(row.value("gpus", 1))
    prompt, output, traffic = row.text("prompt"), row.text("generate"), row.text("traffic")
    pct = row.value("percentile", 90)
    common = dict(gpus=tp, dtype=row.text("dtype"), kv_dtype=row.text("kv_dtype"))
    targets = dict(ttft_slo=row.text("ttft_slo"), tpot_slo=row.text("tpot_slo"), percentile=pct)
    price = row.price_per_gpu(tp)
    out = {}
    out["capacity"] = row.call("serving_capacity", model, gpu, prompt, output, **common, **targets)
    out["gpus_total"] = row.call("serving_gpus", model, gpu, traffic, prompt, output, **common, **targets)
    out["monthly"] = row.call("serving_cost", model, gpu, traffic, prompt, output, price=price, **common, **targets)
    out["per_mtok"] = row.call("serving_cost_per_mtok", model, gpu, traffic, prompt, output, price=price, **common,
                               **targets)
    replicas = int(out["gpus_total"]) // tp
    out["replicas"] = replicas
    load = float(row.value("traffic")) / replicas
    for key, metric in (("ttft", "ttft"), ("tpot", "tpot")):
        out[key] = row.call("serving_latency", model, gpu, prompt, output, metric=metric, percentile=pct,
                            requests_per_s=load, **common)
    out["tpot"] = out["tpot"].to("ms")
    if row.text("api") is not None:
        per_request = row.call("api_cost", row.text("api"), prompt, output)
        out["api_monthly"] = (per_request * ureg().Quantity(float(row.value("traffic")) * SECONDS_PER_MONTH, "1/month")
                              ).to("USD/month")
        cheaper = out["monthly"].to("USD/month").magnitude <= out["api_monthly"].magnitude
        out["cheaper"] = "self-hosting" if cheaper else "API"
        row.explain_with("api_monthly", per_request)
    row.explain_with("replicas", out["gpus_total"])
    out["price_per_gpu_hour"] = price if price is not None else row.call("gpu", gpu, "price_per_hour").magnitude
    return out


def _breakeven(s):
    """[(requests/s, label)]: where self-hosting on the first row's GPUs gets cheaper than the API (none when
    the API is cheaper at any traffic)."""
    if "api" not in s.entries or not s.rows:
        return []
    first = {n: e.values[0] for n, e in s.entries.items()}
    tp = int(s.entries["gpus"].parsed[0]) if "gpus" in s.entries else 1
    price = s.entries["price"].parsed[0].per_gpu(tp) if "price" in s.entries else None
    kw = dict(gpus=tp, dtype=first.get("dtype"), kv_dtype=first.get("kv_dtype"), ttft_slo=first.get("ttft_slo"),
              tpot_slo=first.get("tpot_slo"), percentile=first.get("percentile"), price=price)
    try:
        be = REGISTRY["breakeven"](first["model"], first["gpu"], first["api"], first["prompt"], first["generate"],
                                   **{k: v for k, v in kw.items() if v is not None})
    except ArgumentError:
        return []
    return [(be.to("1/s").magnitude, f"breakeven {fmt(be.to('1/day').magnitude)} requests/day")]


def describe(s) -> list[tuple[str, str]]:
    out = common_inputs(s, "1", "")
    out[1] = ("GPUs per replica", out[1][1])
    out.append(("request", f"prompt {s.given('prompt')}, output {s.given('generate')}"))
    t = [f"TTFT ≤ {s.given('ttft_slo')}" if "ttft_slo" in s.entries else "",
         f"TPOT ≤ {s.given('tpot_slo')}" if "tpot_slo" in s.entries else ""]
    out.append(("targets", (", ".join(x for x in t if x) or "none (capacity = saturation)")
                + f" at the {s.given('percentile') or '90'}th percentile"))
    out.append(("simulation", "in-flight batching of the serving engine (chunked prefill, paged KV cache), Poisson "
                              "arrivals spread evenly over the replicas (docs/serving.md)"))
    for x, label in _breakeven(s):
        out.append(("breakeven", f"self-hosting beats {s.given('api')} above {label.split(' ', 1)[1]} "
                                 f"({fmt(x)} requests/s)"))
    return out


def _targets_consistent(entries: dict[str, Entry]):
    if "generate" not in entries:
        e = entries.get("traffic")
        raise ScenarioError(f"line {e.line if e else 1}: a fleet scenario needs the field 'output:' (generated tokens "
                            "per request)")


FLEET = ScenarioKind(
    name="fleet", aliases=("traffic", "fleet serving"), title="Serving a traffic",
    fields=(MODEL, GPU, GPUS, PRICE, PROMPT, GENERATE, DTYPE, KV_DTYPE, TRAFFIC, SLO, TTFT_SLO, TPOT_SLO, PERCENTILE, API),
    told_by=("traffic", "slo", "ttft_slo", "tpot_slo", "api"),
    required=("model", "gpu", "prompt", "traffic"),
    checks=(_targets_consistent,),
    evaluate=evaluate,
    columns=(
        Column("replicas", "replicas", kind="count"),
        Column("gpus_total", "GPUs", kind="count",
               note="replicas: ⌈traffic / capacity⌉; capacity: the highest Poisson rate one replica serves within the "
                    "targets (simulated)."),
        Column("capacity", "capacity/replica", "request/s", unit_label="req/s"),
        Column("monthly", "$/month", "USD/month", money=True),
        Column("per_mtok", "$/1M tokens", "USD/Mtoken", money=True,
               note="$: GPUs × price per GPU-hour × 730 h a month; per million prompt + output tokens."),
        Column("ttft", "TTFT", "s", note="TTFT, TPOT: the targets' percentile at each replica's share of the traffic."),
        Column("tpot", "TPOT", "ms"),
        Column("api_monthly", "API $/month", "USD/month", money=True),
        Column("cheaper", "cheaper", kind="text"),
    ),
    panels=(
        Panel("$ per month", "USD/month", "USD per month", (("monthly", "self-hosted"), ("api_monthly", "API")),
              marks=_breakeven),
        Panel("latency at the load", "ms", "ms", (("ttft", "time to first token"), ("tpot", "time per output token"))),
    ),
    plot_x=("traffic", "prompt", "generate", "gpus"),
    describe=describe,
)
