"""The serving scenario: a model on N GPUs answering requests of ``prompt:`` + ``generate:`` tokens.

    model: 70B                  # a catalog model, or a bare count with mfu: and bandwidth:
    gpu: 2 x A100-80GB
    price: $4.42/h total
    prompt: 512 tokens
    generate: 512 tokens
    batch: 1..64 x2
    mfu: 200 TFLOP/s
    bandwidth: 1.3 TB/s

One row per combination: memory per GPU and whether the batch fits, time to first token, time per
output token, decode throughput, and $ per 1K prompt and generated tokens, each a registry
function (``serving_memory_gb``, ``max_batch``, ``prefill_time``, ``decode_step_time``,
``decode_tokens_per_s``, ``cost_per_1k_tokens``) called with the fields as written.
"""
from __future__ import annotations

from llmcalc.explain import fmt
from llmcalc.kinds import Number

from .fields import GPU, GPUS, PRICE, Entry, ScenarioError, ScenarioField, registry_arg
from .kind import Column, Panel, Row, ScenarioKind, common_inputs

MODEL = ScenarioField("model", "model", arg=("prefill_time", "model"), aliases=("params", "parameters"),
                      help="catalog model name, config.json path or a parameter count (70B)")
PROMPT = ScenarioField("prompt", "prompt tokens", arg=("prefill_time", "tokens"),
                       aliases=("prompt_tokens", "input", "input_tokens"))
GENERATE = ScenarioField("generate", "generated tokens",
                         kind=Number("token", count=True, integer=True, minimum=0, strict=False, maximum=1e9),
                         aliases=("generated", "generation", "output", "output_tokens", "completion"),
                         help="generated tokens per request (default 0)")
BATCH = ScenarioField("batch", "batch", arg=("prefill_time", "batch"), aliases=("batch_size",),
                      help="sequences served together (default 1)")
DTYPE = ScenarioField("dtype", "dtype", arg=("prefill_time", "dtype"), aliases=("precision",))
KV_DTYPE = ScenarioField("kv_dtype", "KV dtype", arg=("prefill_time", "kv_dtype"), aliases=("kv_precision",))
MFU = ScenarioField("mfu", "MFU", arg=("prefill_time", "mfu"), aliases=("flops", "compute"))
BANDWIDTH = ScenarioField("bandwidth", "bandwidth", arg=("prefill_time", "bandwidth_utilization"),
                          aliases=("bandwidth_utilization", "memory_bandwidth"))

# The token arguments that are the request's whole or mean context, not the prompt alone.
_CONTEXT = {"context": "prompt/generate", "tokens": "prompt/generate"}


def evaluate(row: Row) -> dict:
    model, gpu = row.text("model"), row.text("gpu")
    gpus, batch = int(row.value("gpus", 1)), int(row.value("batch", 1))
    prompt, generate = int(row.value("prompt")), int(row.value("generate", 0))
    context = prompt + generate // 2           # mean context over the generated tokens
    full = prompt + generate                   # context of the last token (memory)
    price = row.price_per_gpu(gpus)
    opts = dict(gpus=gpus, dtype=row.text("dtype"), kv_dtype=row.text("kv_dtype"), mfu=row.text("mfu"),
                bandwidth_utilization=row.text("bandwidth"))
    out = {}
    if isinstance(row.value("model"), float):  # no architecture: the weights alone, against max_batch's memory
        weights = row.call("weights_gb", model, dtype=opts["dtype"], blame={"params": "model"})
        capacity = row.call("gpu", gpu, "memory_GB")
        mem = weights / gpus
        usable = registry_arg("max_batch", "memory_utilization").default
        ok = mem.magnitude <= usable * capacity.magnitude
        out["fits"] = ("✓ weights" if ok else "✗ weights") + " (KV not counted)"
        row.explain_with("memory_per_gpu", weights, capacity)
        row.explain_with("fits", weights, capacity)
    else:
        mem = row.call("serving_memory_gb", model, batch, full, dtype=opts["dtype"], kv_dtype=opts["kv_dtype"],
                       gpus=gpus, blame=_CONTEXT)
        mb = row.call("max_batch", model, gpu, full, gpus=gpus, dtype=opts["dtype"], kv_dtype=opts["kv_dtype"],
                      blame=_CONTEXT)
        ok = batch <= int(mb)
        out["fits"] = f"✓ (max {int(mb)})" if ok else (f"✗ (max {int(mb)})" if int(mb) > 0 else "✗ weights do not fit")
        row.explain_with("fits", mb)
    if not ok:
        row.fail("does not fit in memory")
    out["memory_per_gpu"] = mem.to("GB")
    out["ttft"] = row.call("prefill_time", model, gpu, batch, prompt, **opts)
    out["tpot"] = row.call("decode_step_time", model, gpu, batch, context, blame=_CONTEXT, **opts).to("ms")
    out["throughput"] = row.call("decode_tokens_per_s", model, gpu, batch, context, blame=_CONTEXT, **opts)
    out["cost_prompt"] = row.call("cost_per_1k_tokens", model, gpu, "prompt", batch, prompt, price=price, **opts)
    out["cost_generated"] = row.call("cost_per_1k_tokens", model, gpu, "generated", batch, context, price=price,
                                     blame=_CONTEXT, **opts)
    out["price_per_gpu_hour"] = price if price is not None else row.call("gpu", gpu, "price_per_hour").magnitude
    out["context"] = context
    return out


def describe(s) -> list[tuple[str, str]]:
    out = common_inputs(s, "1", "a bare count: the articles' roofline, KV cache not counted")
    ctx = sorted({r["context"] for r in s.rows})
    shown = fmt(ctx[0]) if len(ctx) == 1 else f"{fmt(ctx[0])}–{fmt(ctx[-1])}"
    out.append(("request", f"prompt {s.given('prompt')}, generate {s.given('generate') or '0'}; "
                           f"decode at the mean context prompt + generate/2 = {shown} tokens"))
    if "mfu" in s.entries or "bandwidth" in s.entries:
        out.append(("performance", f"roofline with mfu {s.given('mfu') or 'from the GPU profile'}, "
                                   f"bandwidth {s.given('bandwidth') or 'from the GPU profile'} per GPU (as given)"))
    else:
        out.append(("performance", "calibrated performance model (llmcalc.perf; give mfu: and bandwidth: for a roofline)"))
    if "dtype" in s.entries or "kv_dtype" in s.entries:
        dtype = s.given("dtype") or DTYPE.default
        out.append(("precision", f"weights/compute {dtype}, KV cache {s.given('kv_dtype') or dtype}"))
    return out


def _bare_model_needs_roofline(entries: dict[str, Entry]):
    model = entries["model"]
    if any(isinstance(p, float) for p in model.parsed) and not ("mfu" in entries or "bandwidth" in entries):
        raise ScenarioError(f"line {model.line}: field 'model': a bare parameter count needs mfu: and bandwidth: "
                            "(the articles' roofline); for the calibrated model give a catalog model name")


SERVING = ScenarioKind(
    name="serving", aliases=("inference", "serve"), title="Serving scenario",
    fields=(MODEL, GPU, GPUS, PRICE, PROMPT, GENERATE, BATCH, DTYPE, KV_DTYPE, MFU, BANDWIDTH),
    told_by=("prompt", "generate", "batch", "bandwidth", "dtype", "kv_dtype"),
    required=("model", "gpu", "prompt"),
    checks=(_bare_model_needs_roofline,),
    evaluate=evaluate,
    columns=(
        Column("memory_per_gpu", "memory/GPU", "GB",
               note="memory/GPU: weights / GPUs + KV cache of batch × (prompt + generate) tokens; "
                    "fits if batch ≤ max_batch (90% of GPU memory, vLLM's default)."),
        Column("fits", "fits", kind="text"),
        Column("ttft", "TTFT", "s", note="TTFT: time to first token, one prefill of the batch. time/output token: "
                                         "one decode step; decode: generated tokens/s of the whole batch."),
        Column("tpot", "time/output token", "ms"),
        Column("throughput", "decode", "token/s", unit_label="tokens/s"),
        Column("cost_prompt", "$/1K prompt", "USD/ktoken", money=True),
        Column("cost_generated", "$/1K generated", "USD/ktoken", money=True,
               note="$/1K: GPUs × price per GPU-hour / tokens per second, with the GPUs always busy."),
    ),
    panels=(
        Panel("$ per 1K tokens", "USD/ktoken", "USD per 1K tokens",
              (("cost_generated", "generated"), ("cost_prompt", "prompt"))),
        Panel("latency", "ms", "ms", (("ttft", "time to first token"), ("tpot", "time per output token"))),
    ),
    plot_x=("batch", "gpus", "prompt", "generate"),
    describe=describe,
)
