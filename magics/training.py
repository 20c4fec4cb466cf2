"""The training scenario: a model trained on ``tokens:`` on N GPUs, optionally by a deadline in days.

    model: 175B
    tokens: 300B
    gpu: 256, 512, 1024 x A100
    days: 30

One row per combination: training time on the GPUs given and whether it meets the deadline
(``deadline:``, also written ``days:``), and
(shown once when the GPU count is all that varies) the training compute, the GPUs the deadline
needs, GPU-hours, cost, the training state and the fewest GPUs that hold it — each a registry
function (``train_flops``, ``train_days``, ``train_gpus``, ``train_gpu_hours``, ``train_cost``,
``train_memory_gb``, ``train_min_gpus``) called with the fields as written.
"""
from __future__ import annotations

from llmcalc.explain import fmt

from .fields import GPU, GPUS, PRICE, ScenarioField
from .kind import Column, Panel, Row, ScenarioKind, common_inputs

MODEL = ScenarioField("model", "model", arg=("train_flops", "params"), aliases=("params", "parameters"),
                      help="catalog model name, config.json path or a parameter count (175B)")
TOKENS = ScenarioField("tokens", "tokens", arg=("train_days", "tokens"), aliases=("training_tokens", "data"))
DEADLINE = ScenarioField("deadline", "deadline (days)", arg=("train_gpus", "days"), aliases=("days",))
MFU = ScenarioField("mfu", "MFU", arg=("train_days", "mfu"), aliases=("flops", "compute"))
RECOMPUTE = ScenarioField("recompute", "recompute", arg=("train_days", "recompute"), aliases=("activation_recomputation",))
BYTES_PER_PARAM = ScenarioField("bytes_per_param", "bytes/param", arg=("train_memory_gb", "bytes_per_param"),
                                aliases=("bytes_per_parameter",))
ZERO = ScenarioField("zero", "ZeRO", arg=("train_memory_gb", "zero"), aliases=("zero_stage",))


def evaluate(row: Row) -> dict:
    model, gpu, tokens = row.text("model"), row.text("gpu"), row.text("tokens")
    gpus = None if row.value("gpus") is None else int(row.value("gpus"))
    deadline = row.text("deadline")
    train = dict(mfu=row.text("mfu"), recompute=row.text("recompute"))
    state = dict(bytes_per_param=row.text("bytes_per_param"))
    out = {"flops": row.call("train_flops", model, tokens, recompute=train["recompute"])}
    if gpus is not None:
        out["days"] = row.call("train_days", model, tokens, gpus, gpu, **train)
    if deadline is not None:
        out["gpus_needed"] = row.call("train_gpus", model, tokens, deadline, gpu, **train)
    if gpus is not None and deadline is not None:
        out["meets_deadline"] = bool(out["days"].to("day").magnitude <= row.value("deadline") * (1 + 1e-12))
        row.explain_with("meets_deadline", out["days"], out["gpus_needed"])
        if not out["meets_deadline"]:
            row.fail("misses the deadline")
    price = row.price_per_gpu(gpus or 1)
    out["gpu_hours"] = row.call("train_gpu_hours", model, tokens, gpu, **train)
    out["cost"] = row.call("train_cost", model, tokens, gpu, price=price, **train)
    out["memory_total"] = row.call("train_memory_gb", model, **state)
    if gpus is not None and row.text("zero") is not None:
        out["memory_per_gpu"] = row.call("train_memory_gb", model, gpus=gpus, zero=row.text("zero"), **state)
    out["min_gpus"] = row.call("train_min_gpus", model, gpu, **state)
    out["price_per_gpu_hour"] = price if price is not None else row.call("gpu", gpu, "price_per_hour").magnitude
    return out


def describe(s) -> list[tuple[str, str]]:
    out = common_inputs(s, None, "a bare count: the articles' roofline")
    out.append(("tokens", s.given("tokens")))
    if "deadline" in s.entries:
        out.append(("deadline", f"{', '.join(fmt(d) for d in s.entries['deadline'].parsed)} days"))
    recompute = s.given("recompute") or f"{'yes' if RECOMPUTE.default else 'no'} (default)"
    out.append(("utilisation", f"mfu {s.given('mfu') or f'{MFU.default} (default)'}; recompute {recompute}"))
    return out


def _deadline(s) -> list[tuple[float, str]]:
    deadline = s.entries.get("deadline")
    if deadline is None or deadline.swept:
        return []
    return [(deadline.parsed[0], f"deadline ({fmt(deadline.parsed[0])} days)")]


TRAINING = ScenarioKind(
    name="training", aliases=("train",), title="Training scenario",
    fields=(MODEL, TOKENS, GPU, GPUS, PRICE, DEADLINE, MFU, RECOMPUTE, BYTES_PER_PARAM, ZERO),
    told_by=("tokens", "deadline", "recompute", "bytes_per_param", "zero"),
    required=("model", "tokens", "gpu"),
    evaluate=evaluate,
    columns=(
        Column("flops", "training compute", "FLOP", once=True),
        Column("days", "training time", "day", unit_label="days"),
        Column("meets_deadline", "meets the deadline?", kind="check",
               note="meets the deadline?: the training time on the GPUs given is within the deadline; "
                    "GPUs for the deadline: the fewest GPUs that finish in time."),
        Column("gpus_needed", "GPUs for the deadline", kind="count", once=True),
        Column("gpu_hours", "GPU-hours", "GPU_hour", unit_label="", once=True),
        Column("cost", "cost", "USD", money=True, once=True,
               note="Cost = GPU-hours × price per GPU-hour; it does not depend on the GPU count."),
        Column("memory_total", "training state (all GPUs)", "GB", once=True,
               note=f"Training state = weights + gradients + Adam states, {BYTES_PER_PARAM.default} bytes per parameter "
                    "unless bytes_per_param: says otherwise; activations not included."),
        Column("memory_per_gpu", "training state per GPU", "GB"),
        Column("min_gpus", "min GPUs to hold it", kind="count", once=True),
    ),
    panels=(
        Panel("training time", "day", "days", (("days", "days"),), reference=_deadline),
        Panel("GPUs for the deadline", "", "GPUs", (("gpus_needed", "GPUs"),)),
        Panel("cost", "USD", "USD", (("cost", "cost"),)),
    ),
    plot_x=("gpus", "deadline", "tokens", "mfu"),
    describe=describe,
)
