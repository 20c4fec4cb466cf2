"""The ``%%llmcost`` scenario cell: ``key: value`` lines in, a table of every cost out.

Serving (``prompt:``/``generate:``/``batch:``)::

    model: llama-2-70b
    gpu: 2 x A100-80GB
    price: $2.21/GPU-h          # or "$4.42/h total" (divided by the GPU count)
    prompt: 512 tokens
    generate: 512 tokens
    batch: 1, 8, 32             # a list or a range (1..64 x2, 512..4096 step 512) sweeps

Training (``tokens:``)::

    model: 175B
    tokens: 300B
    gpu: 256, 512, 1024 x A100
    days: 30
    mfu: 0.45

Every number comes from a registry function (``prefill_time``, ``decode_step_time``,
``cost_per_1k_tokens``, ``max_batch``, ``train_days`` …) called with the fields as given; this
module only reads the cell, expands sweeps, and renders the table and the plot.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import math
import re
from dataclasses import dataclass, field

from llmcalc.errors import ArgumentError, LLMCalcError
from llmcalc.explain import fmt
from llmcalc.registry import REGISTRY
from llmcalc.kinds import Number, Rate

from .core import share_unit, split_commas

MAX_ROWS = 1000
# "$0.066 … $0.0083" in HTML would be typeset as LaTeX by Jupyter's MathJax (v2 and v3 class names).
NO_MATH = "tex2jax_ignore mathjax_ignore"
MAX_RANGE = 200


class ScenarioError(LLMCalcError):
    """A scenario cell that cannot be read; the message is one line naming the line and field."""


# ---------------------------------------------------------------------------------------------
# Fields

@dataclass(frozen=True)
class FieldSpec:
    name: str
    aliases: tuple[str, ...]
    kinds: tuple[str, ...]          # "serving", "training"
    help: str
    sweep: bool = True


FIELDS = [
    FieldSpec("scenario", ("kind", "type"), ("serving", "training"), "serving or training (default: from the fields)", False),
    FieldSpec("title", ("name",), ("serving", "training"), "a heading for the table", False),
    FieldSpec("model", ("params", "parameters"), ("serving", "training"), "catalog model name, config.json path or a parameter count (70B)"),
    FieldSpec("gpu", ("hardware", "accelerator"), ("serving", "training"), "GPU name, optionally with a count: 2 x A100-80GB"),
    FieldSpec("gpus", ("gpu_count", "n_gpus", "num_gpus"), ("serving", "training"), "number of GPUs (instead of N x in gpu:)"),
    FieldSpec("price", ("price_per_gpu_hour",), ("serving", "training"),
              "USD per GPU-hour ($2.21/GPU-h; a bare $/h is per GPU-hour); \"$4.42/h total\" is divided by the GPUs"),
    FieldSpec("prompt", ("prompt_tokens", "input", "input_tokens"), ("serving",), "prompt tokens per request"),
    FieldSpec("generate", ("generated", "generation", "output", "output_tokens", "completion"), ("serving",),
              "generated tokens per request"),
    FieldSpec("batch", ("batch_size",), ("serving",), "sequences served together"),
    FieldSpec("dtype", ("precision",), ("serving",), "numeric format of weights and compute (bf16, fp16, fp8, int8, int4)"),
    FieldSpec("kv_dtype", ("kv_precision",), ("serving",), "numeric format of the KV cache"),
    FieldSpec("mfu", ("flops", "compute"), ("serving", "training"), "utilisation fraction or effective FLOP/s per GPU (200 TFLOP/s)"),
    FieldSpec("bandwidth", ("bandwidth_utilization", "memory_bandwidth"), ("serving",),
              "bandwidth fraction or effective bytes/s per GPU (1.3 TB/s)"),
    FieldSpec("tokens", ("training_tokens", "data"), ("training",), "training tokens (300B)"),
    FieldSpec("days", ("deadline",), ("training",), "deadline in days: GPUs needed to finish in time"),
    FieldSpec("recompute", ("activation_recomputation",), ("training",), "full activation recomputation (yes/no)"),
    FieldSpec("bytes_per_param", ("bytes_per_parameter",), ("training",), "training-state bytes per parameter (20)"),
    FieldSpec("zero", ("zero_stage",), ("training",), "ZeRO stage 0-3 for the memory per GPU"),
    FieldSpec("plot", (), ("serving", "training"), "yes/no: draw the sweep plot", False),
]
_SPEC = {s.name: s for s in FIELDS}
_ALIAS = {a: s.name for s in FIELDS for a in (s.name, *s.aliases)}

# Each field is parsed (and checked) with the registry's own argument kind, so a bad value is
# reported against the field and line where it was written.
_GENERATE = Number("token", count=True, integer=True, minimum=0, strict=False, maximum=1e9)


def _kind(fn: str, arg: str):
    return next(a.kind for a in REGISTRY[fn].args if a.name == arg)


_KINDS = {
    ("serving", "model"): ("prefill_time", "model"),
    ("training", "model"): ("train_flops", "params"),
    "gpu": ("prefill_time", "gpu"),
    "gpus": ("prefill_time", "gpus"),
    "price": ("cost_per_1k_tokens", "price"),
    "prompt": ("prefill_time", "tokens"),
    "batch": ("prefill_time", "batch"),
    "dtype": ("prefill_time", "dtype"),
    "kv_dtype": ("prefill_time", "kv_dtype"),
    ("serving", "mfu"): ("prefill_time", "mfu"),
    ("training", "mfu"): ("train_days", "mfu"),
    "bandwidth": ("prefill_time", "bandwidth_utilization"),
    "tokens": ("train_days", "tokens"),
    "days": ("train_gpus", "days"),
    "recompute": ("train_days", "recompute"),
    "bytes_per_param": ("train_memory_gb", "bytes_per_param"),
    "zero": ("train_memory_gb", "zero"),
    "plot": ("train_days", "recompute"),  # a yes/no
}


@dataclass
class Field:
    name: str
    line: int
    text: str
    values: list = field(default_factory=list)     # the texts of the values (one unless swept)
    parsed: list = field(default_factory=list)     # the parsed values, same order
    total_price: bool = False                      # price given for all GPUs together

    @property
    def swept(self) -> bool:
        return len(self.values) > 1


_NUM = r"[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_RANGE = re.compile(rf"^\s*(?P<a>{_NUM})\s*(?P<sa>[kKMBT])?\s*\.\.\s*(?P<b>{_NUM})\s*(?P<sb>[kKMBT](?![A-Za-z]))?\s*(?P<rest>.*)$")
_STEP = re.compile(rf"(?:(?<=\s)|^)(?:(?P<op>step|by|\+)\s*|(?P<mul>x|×|\*)\s*)(?P<n>{_NUM})(?![0-9A-Za-z])")
_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
_GPU_COUNT = re.compile(r"^\s*(?P<n>\d[\d_]*(?:\s*,\s*\d[\d_]*)*)\s*(?:x|×|\*)\s*(?P<name>\S.*)$", re.I)


def _num(text: str, suffix: str | None, where: str) -> float:
    try:
        v = float(text.replace("_", ""))
    except ValueError:
        raise ArgumentError(where, f"{text!r} is not a number") from None
    return v * _SUFFIX.get(suffix or "", 1.0)


def expand_range(text: str, where: str) -> list[str] | None:
    """``1..64 x2`` → 1, 2, 4 … 64; ``512..4096 step 512 tokens`` → 512, 1024 … 4096 tokens."""
    m = _RANGE.match(text)
    if not m:
        return None
    a, b = _num(m["a"], m["sa"], where), _num(m["b"], m["sb"], where)
    rest = m["rest"]
    s = _STEP.search(rest)
    mul, step = False, 1.0
    if s:
        step = _num(s["n"], None, where)
        mul = bool(s["mul"])
        rest = (rest[:s.start()] + rest[s.end():]).strip()
    unit = rest.strip()
    if b < a:
        raise ArgumentError(where, f"the range {text.strip()!r} runs backwards")
    if (mul and step <= 1) or (not mul and step <= 0) or (mul and a <= 0):
        raise ArgumentError(where, f"the range {text.strip()!r} needs a step > 0 (or a factor > 1 from a start > 0)")
    out, v = [], a
    while v <= b * (1 + 1e-12):
        out.append(v)
        if len(out) > MAX_RANGE:
            raise ArgumentError(where, f"the range {text.strip()!r} has more than {MAX_RANGE} values")
        v = a * step ** len(out) if mul else a + step * len(out)
    return [f"{v:.12g}" + (f" {unit}" if unit else "") for v in out]


def _values(text: str, where: str) -> list[str]:
    rng = expand_range(text, where)
    if rng is not None:
        return rng
    return share_unit(split_commas(text, where), where) if "," in text else [text.strip()]


def _split_price(text: str) -> tuple[str, bool]:
    m = re.match(r"^(.*?)\s*(?:in\s+)?(?:total|for all(?: gpus)?|all gpus)\s*$", text, re.I)
    return (m.group(1), True) if m else (text, False)


def parse_cell(cell: str) -> tuple[str, dict[str, Field]]:
    """Read ``key: value`` lines into fields (values split into sweeps), and tell the scenario kind."""
    fields: dict[str, Field] = {}
    for no, raw in enumerate(cell.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z][A-Za-z0-9 _-]*?)\s*[:=]\s*(.*)$", line)
        if not m:
            raise ScenarioError(f"line {no}: expected 'key: value', got {line[:60]!r}")
        key = re.sub(r"[\s-]+", "_", m.group(1).strip().lower())
        if key not in _ALIAS:
            import difflib
            near = difflib.get_close_matches(key, list(_ALIAS), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            raise ScenarioError(f"line {no}: unknown field {m.group(1).strip()!r}{hint} "
                                f"(fields: {', '.join(s.name for s in FIELDS)})")
        name = _ALIAS[key]
        if name in fields:
            raise ScenarioError(f"line {no}: field '{name}' given twice (first on line {fields[name].line})")
        if not m.group(2).strip():
            raise ScenarioError(f"line {no}: field '{name}' is empty")
        fields[name] = Field(name, no, m.group(2).strip())
    if not fields:
        raise ScenarioError("the scenario is empty: write key: value lines (model:, gpu:, prompt:, … or tokens: for training)")
    kind = _scenario_kind(fields)
    for f in fields.values():
        if kind not in _SPEC[f.name].kinds:
            raise ScenarioError(f"line {f.line}: field '{f.name}' is not used in a {kind} scenario")
    return kind, fields


def _scenario_kind(fields) -> str:
    if "scenario" in fields:
        key = fields["scenario"].text.strip().lower()
        key = {"inference": "serving", "serve": "serving", "train": "training"}.get(key, key)
        if key not in ("serving", "training"):
            raise ScenarioError(f"line {fields['scenario'].line}: field 'scenario' must be serving or training, got {key!r}")
        return key
    serving = [n for n in ("prompt", "generate", "batch", "bandwidth", "dtype", "kv_dtype") if n in fields]
    training = [n for n in ("tokens", "days", "recompute", "bytes_per_param", "zero") if n in fields]
    if serving and training:
        raise ScenarioError(f"line {fields[training[0]].line}: field '{training[0]}' is for training but "
                            f"'{serving[0]}' is for serving; write 'scenario: serving' or 'scenario: training'")
    if serving:
        return "serving"
    if training:
        return "training"
    raise ScenarioError("cannot tell a serving scenario (prompt:, generate:, batch:) from a training one (tokens:, days:)")


def _parse_fields(kind: str, fields: dict[str, Field]):
    for f in list(fields.values()):
        if f.name in ("scenario", "title"):
            f.values, f.parsed = [f.text], [f.text]
            continue
        text = f.text
        try:
            if f.name == "price":
                text, f.total_price = _split_price(text)
            if f.name == "gpu":
                m = _GPU_COUNT.match(text)
                if m:
                    if "gpus" in fields:
                        raise ScenarioError(f"line {f.line}: the GPU count is given twice (in gpu: and gpus:)")
                    fields["gpus"] = Field("gpus", f.line, m["n"])
                    fields["gpus"].values = split_commas(m["n"], "gpu")
                    fields["gpus"].parsed = [_kind(*_KINDS["gpus"]).parse(v, "gpu") for v in fields["gpus"].values]
                    text = m["name"]
            f.values = _values(text, f.name) if _SPEC[f.name].sweep else [text]
            if f.name == "generate":
                f.parsed = [_GENERATE.parse(v, f.name) for v in f.values]
            elif f.name == "gpus" and f.parsed:
                continue
            else:
                fn, arg = _KINDS.get((kind, f.name)) or _KINDS[f.name]
                f.parsed = [_kind(fn, arg).parse(v, f.name) for v in f.values]
        except ArgumentError as exc:
            raise ScenarioError(f"line {f.line}: field '{f.name}': {exc.problem}") from None
    if fields.get("price") and fields["price"].total_price and "gpus" not in fields:
        raise ScenarioError(f"line {fields['price'].line}: field 'price': a total price needs the GPU count (gpu: 2 x A100 or gpus: 2)")
    required = ("model", "gpu", "prompt") if kind == "serving" else ("model", "tokens", "gpu")
    for name in required:
        if name not in fields:
            raise ScenarioError(f"a {kind} scenario needs the field '{name}:' ({_SPEC[name].help})")
    if kind == "serving" and any(isinstance(p, float) for p in fields["model"].parsed) and not (
            "mfu" in fields or "bandwidth" in fields):
        raise ScenarioError(f"line {fields['model'].line}: field 'model': a bare parameter count needs mfu: and bandwidth: "
                            "(the articles' roofline); for the calibrated model give a catalog model name")
    rows = 1
    for f in fields.values():
        rows *= len(f.values)
    if rows > MAX_ROWS:
        raise ScenarioError(f"the sweeps give {rows} rows; at most {MAX_ROWS}")


# ---------------------------------------------------------------------------------------------
# Columns and evaluation


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: str = ""           # display unit (pint) for quantities; "" for counts/text
    kind: str = "quantity"   # quantity | count | text | input
    money: bool = False


SERVING_COLUMNS = [
    Column("memory_per_gpu", "memory/GPU", "GB"),
    Column("fits", "fits", kind="text"),
    Column("ttft", "TTFT", "s"),
    Column("tpot", "time/output token", "ms"),
    Column("throughput", "decode", "token/s"),
    Column("cost_prompt", "$/1K prompt", "USD/ktoken", money=True),
    Column("cost_generated", "$/1K generated", "USD/ktoken", money=True),
]
TRAINING_COLUMNS = [
    Column("flops", "training compute", "FLOP"),
    Column("days", "training time", "day"),
    Column("gpus_needed", "GPUs for the deadline", kind="count"),
    Column("gpu_hours", "GPU-hours", "GPU_hour"),
    Column("cost", "cost", "USD", money=True),
    Column("memory_total", "training state (all GPUs)", "GB"),
    Column("memory_per_gpu", "training state per GPU", "GB"),
    Column("min_gpus", "min GPUs to hold it", kind="count"),
]
INPUT_LABELS = {"model": "model", "gpu": "GPU", "gpus": "GPUs", "price": "$ per GPU-hour", "prompt": "prompt tokens",
                "generate": "generated tokens", "batch": "batch", "dtype": "dtype", "kv_dtype": "KV dtype",
                "mfu": "MFU", "bandwidth": "bandwidth", "tokens": "tokens", "days": "deadline (days)",
                "recompute": "recompute", "bytes_per_param": "bytes/param", "zero": "ZeRO"}
# The registry argument behind each field, to name the field when a function rejects a value.
_ARG_FIELD = {"model": "model", "params": "model", "gpu": "gpu", "gpus": "gpus", "batch": "batch", "price": "price",
              "mfu": "mfu", "bandwidth_utilization": "bandwidth", "dtype": "dtype", "kv_dtype": "kv_dtype",
              "days": "days", "recompute": "recompute", "bytes_per_param": "bytes_per_param", "zero": "zero"}


class _Caller:
    def __init__(self, fields):
        self.fields = fields

    def __call__(self, fn_name: str, *args, _tokens_field: str = "prompt", **kwargs):
        try:
            return REGISTRY[fn_name](*args, **{k: v for k, v in kwargs.items() if v is not None})
        except ArgumentError as exc:
            name = _ARG_FIELD.get(exc.argument) or ({"tokens": _tokens_field, "context": "prompt/generate"}.get(exc.argument, exc.argument))
            f = self.fields.get(name.split("/")[0])
            where = f"line {f.line}: " if f else ""
            raise ScenarioError(f"{where}field '{name}': {exc.problem}") from None


def _raw(fields, name, combo):
    """The text of a field's value in this row (None when the field is absent)."""
    f = fields.get(name)
    if f is None:
        return None
    return f.values[combo[name]] if f.swept else f.values[0]


def _parsed(fields, name, combo, default=None):
    f = fields.get(name)
    if f is None:
        return default
    return f.parsed[combo[name]] if f.swept else f.parsed[0]


def _price_per_gpu(fields, combo, gpus):
    p = _parsed(fields, "price", combo)
    if p is None:
        return None
    return p / gpus if fields["price"].total_price else p


def _to(q, unit):
    """``q.to(unit)`` (results keep their ``.explain()``)."""
    return q.to(unit)


def _serving_row(call, fields, combo):
    g = lambda n, d=None: _parsed(fields, n, combo, d)  # noqa: E731
    model, gpu = _raw(fields, "model", combo), _raw(fields, "gpu", combo)
    gpus = int(g("gpus", 1))
    batch = int(g("batch", 1))
    prompt, generate = int(g("prompt")), int(g("generate", 0))
    context = prompt + generate // 2           # mean context over the generated tokens
    full = prompt + generate                   # context of the last token (memory)
    price = _price_per_gpu(fields, combo, gpus)
    opts = dict(gpus=gpus, dtype=_raw(fields, "dtype", combo), kv_dtype=_raw(fields, "kv_dtype", combo),
                mfu=_raw(fields, "mfu", combo), bandwidth_utilization=_raw(fields, "bandwidth", combo))
    row, why = {}, {}
    bare = isinstance(g("model"), float)
    if bare:  # no architecture: the weights alone, against the memory max_batch would use
        weights = call("weights_gb", model, dtype=opts["dtype"])
        capacity = call("gpu", gpu, "memory_GB")
        mem = weights / gpus
        util = next(a.default for a in REGISTRY["max_batch"].args if a.name == "memory_utilization")
        ok = mem.magnitude <= util * capacity.magnitude
        row["fits"] = ("✓ weights" if ok else "✗ weights") + " (KV not counted)"
        row["max_batch"] = None
        why["memory_per_gpu"] = why["fits"] = [weights, capacity]
    else:
        mem = call("serving_memory_gb", model, batch, full, dtype=opts["dtype"], kv_dtype=opts["kv_dtype"], gpus=gpus,
                   _tokens_field="prompt/generate")
        mb = call("max_batch", model, gpu, full, gpus=gpus, dtype=opts["dtype"], kv_dtype=opts["kv_dtype"])
        row["max_batch"] = int(mb)
        ok = batch <= int(mb)
        row["fits"] = (f"✓ (max {int(mb)})" if ok else
                       (f"✗ (max {int(mb)})" if int(mb) > 0 else "✗ weights do not fit"))
        why["memory_per_gpu"] = [mem]
        why["fits"] = [mb]
    row["memory_per_gpu"] = _to(mem, "GB")
    row["fits_ok"] = bool(ok)
    row["ttft"] = call("prefill_time", model, gpu, batch, prompt, **opts)
    row["tpot"] = _to(call("decode_step_time", model, gpu, batch, context, _tokens_field="prompt", **opts), "ms")
    row["throughput"] = call("decode_tokens_per_s", model, gpu, batch, context, **opts)
    row["cost_prompt"] = call("cost_per_1k_tokens", model, gpu, "prompt", batch, prompt, price=price, **opts)
    row["cost_generated"] = call("cost_per_1k_tokens", model, gpu, "generated", batch, context, price=price,
                                 _tokens_field="prompt/generate", **opts)
    for k in ("ttft", "tpot", "throughput", "cost_prompt", "cost_generated"):
        why[k] = [row[k]]
    row["price_per_gpu_hour"] = price if price is not None else call("gpu", gpu, "price_per_hour").magnitude
    row["context"] = context
    return row, why


def _training_row(call, fields, combo):
    g = lambda n, d=None: _parsed(fields, n, combo, d)  # noqa: E731
    model, gpu, tokens = _raw(fields, "model", combo), _raw(fields, "gpu", combo), _raw(fields, "tokens", combo)
    gpus = g("gpus")
    gpus = int(gpus) if gpus is not None else None
    mfu, recompute = _raw(fields, "mfu", combo), _raw(fields, "recompute", combo)
    bpp, zero = _raw(fields, "bytes_per_param", combo), _raw(fields, "zero", combo)
    price = _price_per_gpu(fields, combo, gpus or 1)
    row, why = {}, {}
    row["flops"] = call("train_flops", model, tokens, recompute=recompute, _tokens_field="tokens")
    if gpus is not None:
        row["days"] = call("train_days", model, tokens, gpus, gpu, mfu=mfu, recompute=recompute, _tokens_field="tokens")
    if _raw(fields, "days", combo) is not None:
        row["gpus_needed"] = call("train_gpus", model, tokens, _raw(fields, "days", combo), gpu, mfu=mfu,
                                  recompute=recompute, _tokens_field="tokens")
    row["gpu_hours"] = call("train_gpu_hours", model, tokens, gpu, mfu=mfu, recompute=recompute, _tokens_field="tokens")
    row["cost"] = call("train_cost", model, tokens, gpu, price=price, mfu=mfu, recompute=recompute, _tokens_field="tokens")
    row["memory_total"] = call("train_memory_gb", model, bytes_per_param=bpp)
    if gpus is not None and zero is not None:
        row["memory_per_gpu"] = call("train_memory_gb", model, bytes_per_param=bpp, gpus=gpus, zero=zero)
    row["min_gpus"] = call("train_min_gpus", model, gpu, bytes_per_param=bpp)
    row["price_per_gpu_hour"] = price if price is not None else call("gpu", gpu, "price_per_hour").magnitude
    for k, v in row.items():
        if hasattr(v, "explain"):
            why[k] = [v]
    return row, why


def _combos(fields, x_key):
    swept = [f.name for f in fields.values() if f.swept and f.name != x_key]
    if x_key:
        swept.append(x_key)  # the plotted field varies fastest
    ranges = [range(len(fields[n].values)) for n in swept]
    for idx in itertools.product(*ranges):
        yield dict(zip(swept, idx))


def _numeric(v):
    if isinstance(v, Rate):
        return v.value
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _x_field(kind, fields):
    swept = [f for f in fields.values() if f.swept and all(_numeric(p) is not None for p in f.parsed)]
    prefer = ("batch", "gpus", "prompt", "generate") if kind == "serving" else ("gpus", "days", "tokens", "mfu")
    for name in prefer:
        for f in swept:
            if f.name == name:
                return f.name
    return swept[0].name if swept else None


def run_scenario(cell: str, plot: bool = True) -> "Scenario":
    """Read and evaluate a scenario cell; returns a :class:`Scenario` (table, plot, explanations)."""
    kind, fields = parse_cell(cell)
    _parse_fields(kind, fields)
    if "plot" in fields:
        plot = plot and bool(fields["plot"].parsed[0])
    x_key = _x_field(kind, fields)
    call = _Caller(fields)
    rows, whys = [], []
    for combo in _combos(fields, x_key):
        row, why = (_serving_row if kind == "serving" else _training_row)(call, fields, combo)
        row["_text"] = {}
        for f in fields.values():
            if f.swept:
                row[f.name] = f.parsed[combo[f.name]]
                row["_text"][f.name] = f.values[combo[f.name]]
        row["_combo"] = combo
        rows.append(row)
        whys.append(why)
    scn = Scenario(kind, fields, rows, whys, x_key)
    if plot and x_key is not None:
        scn.figure = scn.make_figure()
    return scn


# ---------------------------------------------------------------------------------------------
# The result object


def _show(v, col: Column | None = None) -> str:
    if v is None:
        return "–"
    if isinstance(v, Rate):
        return fmt(v.value)
    if hasattr(v, "name") and not isinstance(v, str):  # a GPU or Model
        return v.name
    if hasattr(v, "magnitude"):
        q = v.to(col.unit) if col is not None and col.unit else v
        x = float(q.magnitude)
        return _money(x) if col is not None and col.money else fmt(x)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return fmt(v)
    return str(v)


def _money(x: float) -> str:
    """``$0.0004297`` (4 significant digits, no exponent down to a millionth of a dollar)."""
    if 1e-6 <= abs(x) < 1e-3:
        return f"${x:.{3 - math.floor(math.log10(abs(x)))}f}"
    return "$" + fmt(x)


def _tick(x: float) -> str:
    """Axis label of a swept value: ``20B`` for 2e10 parameters, ``1,024`` for GPUs."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(x) >= div:
            return f"{x / div:g}{suffix}"
    return fmt(x)


def _unit_label(col: Column) -> str:
    return {"USD/ktoken": "", "USD": "", "GPU_hour": "", "token/s": "tokens/s", "day": "days", "FLOP": "FLOP"}.get(col.unit, col.unit)


@dataclass
class ScenarioExplanation:
    """Every column of one scenario row explained: formula, inputs, calculation, assumptions."""

    title: str
    parts: list  # (column label, [Explanation, ...])

    def __str__(self):
        out = [self.title, "=" * len(self.title)]
        for label, exps in self.parts:
            out.append(f"\n## {label}")
            out += [str(e) for e in exps]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self):
        body = "".join(f"<h4>{html.escape(label)}</h4>" + "".join(e._repr_html_() for e in exps)
                       for label, exps in self.parts)
        return f"<div class='llmcalc-scenario-explain {NO_MATH}'><h3>{html.escape(self.title)}</h3>{body}</div>"

    def to_dict(self):
        return {"title": self.title, "columns": {label: [e.to_dict() for e in exps] for label, exps in self.parts}}


class Scenario:
    """The evaluated scenario: ``rows`` (one dict per combination, values are llmcalc results),
    ``columns``, ``figure`` (matplotlib, when a field was swept), ``to_records()``, ``explain()``.

    Displays as an HTML table (with the plot) in Jupyter and as text in a terminal.
    """

    def __init__(self, kind, fields, rows, whys, x_key):
        self.kind, self.fields, self.rows, self._whys, self.x_key = kind, fields, rows, whys, x_key
        self.figure = None
        self._png = None
        base = SERVING_COLUMNS if kind == "serving" else TRAINING_COLUMNS
        self.columns = [Column(f.name, "$ per hour (total)" if f.total_price else INPUT_LABELS.get(f.name, f.name),
                               kind="input") for f in fields.values() if f.swept]
        self.columns += [c for c in base if any(r.get(c.key) is not None for r in rows)]

    # ------------------------------------------------------------------ data
    @property
    def title(self) -> str:
        if "title" in self.fields:
            return self.fields["title"].text
        return "Serving scenario" if self.kind == "serving" else "Training scenario"

    def column(self, key: str) -> list:
        """The values of one column, as numbers in the column's display unit (text stays text)."""
        col = next((c for c in self.columns if c.key == key), None)
        if col is None:
            raise KeyError(f"no column {key!r}; columns: {', '.join(c.key for c in self.columns)}")
        out = []
        for r in self.rows:
            v = r.get(key)
            if hasattr(v, "magnitude"):
                out.append(float(v.to(col.unit).magnitude) if col.unit else float(v.magnitude))
            elif isinstance(v, Rate):
                out.append(v.value)
            elif isinstance(v, int) and not isinstance(v, bool):
                out.append(int(v))
            else:
                out.append(v)
        return out

    def __getitem__(self, key):
        return self.column(key)

    def to_records(self) -> list[dict]:
        """One dict per row: column key → number in the column's display unit (or text)."""
        cols = {c.key: self.column(c.key) for c in self.columns}
        return [{k: v[i] for k, v in cols.items()} for i in range(len(self.rows))]

    def to_dataframe(self):
        """The table as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(self.to_records())

    def explain(self, row: int = 0) -> ScenarioExplanation:
        """Formula, inputs, calculation and assumptions of every column of one row (default: the first)."""
        why = self._whys[row]
        parts = []
        for c in self.columns:
            exps = [v.explain() for v in why.get(c.key, []) if getattr(v, "explainable", False)]
            if exps:
                parts.append((c.label, exps))
        where = ", ".join(f"{c.label} = {self.rows[row]['_text'][c.key]}" for c in self.columns if c.kind == "input")
        return ScenarioExplanation(f"{self.title}: row {row + 1}" + (f" ({where})" if where else ""), parts)

    # ------------------------------------------------------------------ description
    def inputs(self) -> list[tuple[str, str]]:
        f = self.fields
        out = []

        def text(name):
            if name not in f:
                return None
            return "swept (see the table)" if f[name].swept and name not in ("gpus", "gpu", "model") else f[name].values[0] \
                if not f[name].swept else ", ".join(f[name].values)

        model = f["model"].parsed
        if all(isinstance(m, float) for m in model):
            out.append(("model", f"{text('model')} parameters (a bare count: the articles' roofline"
                                 + (", KV cache not counted)" if self.kind == "serving" else ")")))
        else:
            shown = [m.name if hasattr(m, "name") else fmt(m, "parameters") for m in model]
            out.append(("model", ", ".join(shown)))
        gpu = f["gpu"].parsed
        n = text("gpus") or ("1" if self.kind == "serving" else None)
        out.append(("GPUs", (f"{n} × " if n else "") + ", ".join(g.name for g in gpu)))
        prices = sorted({r["price_per_gpu_hour"] for r in self.rows})
        if "price" in f:
            given = f["price"].text
            per = ", ".join(f"${fmt(p)}" for p in prices)
            if f["price"].total_price:
                out.append(("price", f"{', '.join(f['price'].values)} for all GPUs together = {per} per GPU-hour"))
            elif "gpu" in given.lower():
                out.append(("price", f"{per} per GPU-hour"))
            else:
                out.append(("price", f"{per} per GPU-hour (a bare $/h is per GPU-hour; "
                                     f"write '{given} total' for the price of all GPUs together)"))
        else:
            src = "; ".join(f"{g.name} ${fmt(g.price_per_hour)} ({g.price_date})" for g in gpu if g.price_per_hour)
            out.append(("price", f"catalog on-demand price per GPU-hour: {src}"))
        if self.kind == "serving":
            ctx = sorted({r["context"] for r in self.rows})
            shown = fmt(ctx[0]) if len(ctx) == 1 else f"{fmt(ctx[0])}–{fmt(ctx[-1])}"
            out.append(("request", f"prompt {text('prompt')}, generate {text('generate') or '0'}; "
                                   f"decode at the mean context prompt + generate/2 = {shown} tokens"))
            if "mfu" in f or "bandwidth" in f:
                out.append(("performance", f"roofline with mfu {text('mfu') or 'from the GPU profile'}, "
                                           f"bandwidth {text('bandwidth') or 'from the GPU profile'} per GPU (as given)"))
            else:
                out.append(("performance", "calibrated performance model (llmcalc.perf; give mfu: and bandwidth: for a roofline)"))
            if "dtype" in f or "kv_dtype" in f:
                out.append(("precision", f"weights/compute {text('dtype') or 'bf16'}, KV cache {text('kv_dtype') or text('dtype') or 'bf16'}"))
        else:
            out.append(("tokens", f"{text('tokens')}"))
            if "days" in f:
                out.append(("deadline", f"{text('days')} days"))
            out.append(("utilisation", f"mfu {text('mfu') or '0.45 (default)'}; recompute {text('recompute') or 'yes (default)'}"))
        return out

    def notes(self) -> list[str]:
        if self.kind == "serving":
            return ["memory/GPU: weights / GPUs + KV cache of batch × (prompt + generate) tokens; "
                    "fits if batch ≤ max_batch (90% of GPU memory, vLLM's default).",
                    "TTFT: time to first token, one prefill of the batch. time/output token: one decode step; "
                    "decode: generated tokens/s of the whole batch.",
                    "$/1K: GPUs × price per GPU-hour / tokens per second, with the GPUs always busy.",
                    "scenario.explain() shows each formula, input and assumption."]
        return ["Cost = GPU-hours × price per GPU-hour; it does not depend on the GPU count.",
                "Training state = weights + gradients + Adam states (20 bytes/parameter); activations not included.",
                "scenario.explain() shows each formula, input and assumption."]

    # ------------------------------------------------------------------ rendering
    def _cells(self):
        header = [c.label + (f" ({_unit_label(c)})" if _unit_label(c) else "") for c in self.columns]
        body = [[r["_text"][c.key] if c.kind == "input" else _show(r.get(c.key), c) for c in self.columns]
                for r in self.rows]
        return header, body

    def __str__(self):
        header, body = self._cells()
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        out = [self.title]
        out += [f"  {k}: {v}" for k, v in self.inputs()]
        out.append("")
        out.append("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        out.append("  ".join("-" * w for w in widths))
        out += ["  ".join(c.rjust(w) for c, w in zip(b, widths)) for b in body]
        out.append("")
        out += [f"* {n}" for n in self.notes()]
        if self.figure is not None:
            out.append("* Plot: the .figure of this Scenario (keep it with %%llmcost -o NAME; NAME.figure.savefig('plot.png')).")
        return "\n".join(out)

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    def _repr_html_(self):
        e = html.escape
        header, body = self._cells()
        inputs = "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in self.inputs())
        th = "".join(f"<th>{e(h)}</th>" for h in header)
        trs = []
        for r, b in zip(self.rows, body):
            style = "" if r.get("fits_ok", True) else " style='color:#b00'"
            trs.append(f"<tr{style}>" + "".join(f"<td style='text-align:right'>{e(c)}</td>" for c in b) + "</tr>")
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes())
        img = ""
        png = self.png()
        if png:
            img = f"<div><img alt='{e(self.title)} plot' src='data:image/png;base64,{png}'/></div>"
        return (f"<div class='llmcalc-scenario {NO_MATH}'><h4>{e(self.title)}</h4><ul>{inputs}</ul>"
                f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(trs)}</tbody></table>"
                f"<ul style='font-size:smaller'>{notes}</ul>{img}</div>")

    def png(self) -> str | None:
        """The plot as base64 PNG (None without a sweep)."""
        if self.figure is None:
            return None
        if self._png is None:
            buf = io.BytesIO()
            self.figure.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            self._png = base64.b64encode(buf.getvalue()).decode("ascii")
        return self._png

    # ------------------------------------------------------------------ plot
    def plot_series(self) -> list[tuple[str, str, list[tuple[str, list[float], list[float]]]]]:
        """What the plot draws: (panel title, y unit, [(label, x values, y values, row indices)]) per panel."""
        if self.x_key is None:
            return []
        if self.kind == "serving":
            panels = [("$ per 1K tokens", "USD/ktoken", [("cost_generated", "generated"), ("cost_prompt", "prompt")]),
                      ("latency", "ms", [("ttft", "time to first token"), ("tpot", "time per output token")])]
        else:
            panels = [("training time", "day", [("days", "days")]),
                      ("GPUs for the deadline", "", [("gpus_needed", "GPUs")]),
                      ("cost", "USD", [("cost", "cost")])]
        others = [f.name for f in self.fields.values() if f.swept and f.name != self.x_key]
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(self.rows):
            groups.setdefault(tuple(r["_combo"].get(n) for n in others), []).append(i)
        out = []
        for title, unit, series in panels:
            lines = []
            for key, label in series:
                if not any(self.rows[i].get(key) is not None for i in range(len(self.rows))):
                    continue
                for gkey, idx in groups.items():
                    xs = [_numeric(self.rows[i][self.x_key]) for i in idx]
                    ys = [float(self.rows[i][key].to(unit).magnitude) if unit else float(self.rows[i][key]) for i in idx]
                    tag = ", ".join(f"{INPUT_LABELS.get(n, n)} {self.fields[n].values[v]}" for n, v in zip(others, gkey))
                    lines.append((label + (f" ({tag})" if tag else ""), xs, ys, idx))
            if any(len(set(ys)) > 1 for _, _, ys, _ in lines):  # something varies along x
                out.append((title, unit, lines))
        return out[:2] if self.kind == "serving" else out[:2]

    def make_figure(self):
        panels = self.plot_series()
        if not panels:
            return None
        try:
            from matplotlib.figure import Figure
        except ImportError:  # pragma: no cover - matplotlib is an optional dependency
            return None
        fig = Figure(figsize=(5.2 * len(panels), 3.6), layout="constrained")
        xlabel = INPUT_LABELS.get(self.x_key, self.x_key)
        if self.x_key == "mfu" and any(isinstance(p, Rate) for p in self.fields["mfu"].parsed):
            xlabel += " (FLOP/s)"
        for k, (title, unit, lines) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), k + 1)
            marked = False
            for label, xs, ys, idx in lines:
                ax.plot(xs, ys, marker="o", label=label)
                bad = [(x, y) for x, y, i in zip(xs, ys, idx) if not self.rows[i].get("fits_ok", True)]
                if bad:
                    ax.plot(*zip(*bad), "x", color="#b00", markersize=10, label=None if marked else "does not fit in memory")
                    marked = True
            xs_all = [x for _, xs, _, _ in lines for x in xs]
            ys_all = [y for _, _, ys, _ in lines for y in ys if y > 0]
            if min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 8:
                ax.set_xscale("log", base=2)
            ticks = sorted(set(xs_all))
            if len(ticks) <= 10:  # label the swept values themselves, not powers of two
                ax.set_xticks(ticks, [_tick(t) for t in ticks])
                ax.minorticks_off()
            if ys_all and max(ys_all) / min(ys_all) >= 20:
                ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ylab = {"USD/ktoken": "USD per 1K tokens", "ms": "ms", "day": "days", "USD": "USD", "": "GPUs"}.get(unit, unit)
            ax.set_ylabel(ylab)
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            if len(lines) > 1 or marked:
                ax.legend(fontsize="small")
        fig.suptitle(self.title)
        return fig
