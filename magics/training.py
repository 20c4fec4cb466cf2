"""The training scenario: a model trained on ``tokens:`` on N GPUs, optionally by a deadline in days.

    model: 175B
    tokens: 300B
    gpu: 256, 512, 1024 x A100
    days: 30

With ``plan: auto`` (or a layout, ``plan: tp=8 pp=4 dp=32``) the utilisation is not assumed but
predicted: each row gets the fastest layout of its GPU count (``train_plan``) or the layout's step
time (``train_iteration_time``), its MFU, and the training time that follows; ``seq:``,
``global_batch:`` and ``dtype:`` shape the run (default: the model's context up to 8,192 tokens and
max(4 Mi tokens, 1,024 per GPU) per step), ``framework:`` whose kernels are modelled (default auto).
Sweep ``gpus:`` to see MFU and days against the GPU count.

One row per combination: training time on the GPUs given and whether it meets the deadline
(``deadline:``, also written ``days:``), and
(shown once when the GPU count is all that varies) the training compute, the GPUs the deadline
needs, GPU-hours, cost, the training state and the fewest GPUs that hold it — each a registry
function (``train_flops``, ``train_days``, ``train_gpus``, ``train_gpu_hours``, ``train_cost``,
``train_memory_gb``, ``train_min_gpus``) called with the fields as written.
"""
from __future__ import annotations

from llmcalc.errors import ArgumentError
from llmcalc.explain import fmt
from llmcalc.kinds import Kind, PlanRef

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


class PlanOrAuto(Kind):
    """``auto`` (the fastest layout of each row's GPU count) or a layout as ``train_iteration_time`` reads it."""

    sheet_type = "string"

    def parse(self, value, name):
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return PlanRef().parse(value, name)

    def show(self, value):
        return value if value == "auto" else value.text()

    def describe(self):
        return "auto | " + PlanRef().describe()


PLAN = ScenarioField("plan", "layout", kind=PlanOrAuto(), aliases=("layout", "parallelism"),
                     help="auto (the fastest layout that fits each GPU count) or a layout: tp=8 pp=4 dp=32 (cp=, ep=, vp=, "
                          "mb=, sp=, zero=)")
SEQ = ScenarioField("seq", "sequence length", arg=("train_plan", "seq"), aliases=("sequence", "seq_len", "sequence_length"))
GLOBAL_BATCH = ScenarioField("global_batch", "global batch", arg=("train_plan", "global_batch"),
                             aliases=("global_batch_size", "gbs"))
DTYPE = ScenarioField("dtype", "precision", arg=("train_plan", "dtype"), aliases=("precision",))
FRAMEWORK = ScenarioField("framework", "framework", arg=("train_plan", "framework"), aliases=("stack",))


def _planned(row: Row, model, gpu, gpus, tokens, recompute):
    """Step time, MFU and layout of the row's plan, and the utilisation they imply in train_days' k·P·D terms."""
    import llmcalc
    from llmcalc.parallel import budget
    plan = row.value("plan")
    if plan != "auto":
        if gpus is not None and gpus != plan.gpus:
            raise ArgumentError("plan", f"{plan.text()} uses {plan.gpus:,} GPUs but gpu/gpus: gives {gpus:,}; "
                                        "drop gpus: or make tp·pp·cp·dp match")
        gpus = plan.gpus
    m = llmcalc.model(model) if not model[:1].isdigit() else None
    if m is None:
        raise ArgumentError("plan", "needs a model name (not a parameter count) to plan its layout")
    seq, gbs = budget.shape(m, gpus)
    seq = int(row.value("seq")) if row.value("seq") is not None else seq
    gbs = int(row.value("global_batch")) if row.value("global_batch") is not None else gbs
    shape = dict(dtype=row.text("dtype"), framework=row.text("framework"))
    if plan == "auto":
        r = row.call("train_plan", model, gpu, gpus, seq, gbs, **shape)
        step, mfu, layout, because = r.seconds, r.mfu, str(r), [r]
    else:
        t = row.call("train_iteration_time", model, gpu, row.text("plan"), seq, gbs, **shape)
        u = row.call("train_mfu", model, gpu, row.text("plan"), seq, gbs, **shape)
        step, mfu, layout, because = float(t.magnitude), float(u), plan.text(), [t, u]
    k = 8.0 if recompute in (None, True) or str(recompute).strip().lower() in ("true", "yes", "1") else 6.0
    equivalent = k * float(m.params()) * seq * gbs / (gpus * llmcalc.gpu(gpu).peak_flops("bf16") * step)
    return gpus, {"layout": layout, "step_time": step, "mfu_pred": mfu}, equivalent, because


def evaluate(row: Row) -> dict:
    model, gpu, tokens = row.text("model"), row.text("gpu"), row.text("tokens")
    gpus = None if row.value("gpus") is None else int(row.value("gpus"))
    deadline = row.text("deadline")
    train = dict(mfu=row.text("mfu"), recompute=row.text("recompute"))
    state = dict(bytes_per_param=row.text("bytes_per_param"))
    out = {"flops": row.call("train_flops", model, tokens, recompute=train["recompute"])}
    because = []
    if row.text("plan") is not None:
        if row.text("mfu") is not None:
            raise ArgumentError("plan", "plan: predicts the utilisation; give plan: or mfu:, not both")
        if gpus is None and row.value("plan") == "auto":
            raise ArgumentError("plan", "auto needs a GPU count (gpu: 1024 x H100 or gpus:)")
        gpus, planned, equivalent, because = _planned(row, model, gpu, gpus, tokens, train["recompute"])
        out.update(planned)
        train["mfu"] = equivalent    # the planned step time, in train_days' k·P·D terms
        row.explain_with("layout", *because)
        row.explain_with("mfu_pred", *because)
    if gpus is not None:
        out["days"] = row.call("train_days", model, tokens, gpus, gpu, **train)
        if because:
            row.explain_with("days", *because, out["days"])
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
    if s.given("plan"):
        out.append(("utilisation", f"predicted for plan {s.given('plan')} (llmcalc.train_plan / train_iteration_time, "
                                   "Megatron-Core model FLOPs over the bf16 peak); GPUs for the deadline and cost at that "
                                   "row's utilisation"))
    else:
        out.append(("utilisation", f"mfu {s.given('mfu') or f'{MFU.default} (default)'}; recompute {recompute}"))
    return out


def _deadline(s) -> list[tuple[float, str]]:
    deadline = s.entries.get("deadline")
    if deadline is None or deadline.swept:
        return []
    return [(deadline.parsed[0], f"deadline ({fmt(deadline.parsed[0])} days)")]


TRAINING = ScenarioKind(
    name="training", aliases=("train",), title="Training scenario",
    fields=(MODEL, TOKENS, GPU, GPUS, PRICE, DEADLINE, MFU, RECOMPUTE, BYTES_PER_PARAM, ZERO, PLAN, SEQ, GLOBAL_BATCH,
            DTYPE, FRAMEWORK),
    told_by=("tokens", "deadline", "recompute", "bytes_per_param", "zero", "plan", "global_batch"),
    required=("model", "tokens", "gpu"),
    evaluate=evaluate,
    columns=(
        Column("flops", "training compute", "FLOP", once=True),
        Column("layout", "layout", kind="text",
               note="layout: the fastest tp/pp/cp/dp/ep/vp/micro-batch/ZeRO that fits (plan: auto), or the one given; "
                    "MFU: Megatron-Core model FLOPs over the dense bf16 peak."),
        Column("step_time", "step", "s"),
        Column("mfu_pred", "MFU", kind="text"),
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
        Panel("MFU (predicted)", "", "MFU", (("mfu_pred", "MFU"),)),
        Panel("GPUs for the deadline", "", "GPUs", (("gpus_needed", "GPUs"),)),
        Panel("cost", "USD", "USD", (("cost", "cost"),)),
    ),
    plot_x=("gpus", "deadline", "tokens", "mfu"),
    describe=describe,
)
