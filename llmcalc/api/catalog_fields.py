"""Catalog look-ups and unit conversion as functions (LLM_GPU, LLM_MODEL, LLM_CONVERT)."""
import functools

from .. import units
from ..catalog import gpu_rows, model_rows
from ..errors import ArgumentError, UnknownNameError
from ..explain import fmt
from ..hardware import DTYPE_BYTES
from ..kinds import GPURef, ModelRef, Number, Text
from ..names import normalize, suggest
from ..registry import Arg, Example, user_function
from ..results import Calc

GPU_FIELDS = {  # field -> (unit or "" for text, getter)
    "name": ("", lambda g: g.name),
    "vendor": ("", lambda g: g.vendor),
    "memory_GB": ("GB", lambda g: g.memory_bytes / 1e9),
    "memory_GiB": ("GiB", lambda g: g.memory_bytes / 2**30),
    "memory_label_GB": ("GB", lambda g: g.memory_gb_label),
    "bandwidth_TBps": ("TB/s", lambda g: g.bandwidth / 1e12),
    "bandwidth_GBps": ("GB/s", lambda g: g.bandwidth / 1e9),
    **{f"{d}_TFLOPS": ("TFLOP/s", (lambda d: lambda g: g.peak_flops(d) / 1e12)(d)) for d in ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4")},
    "int8_TOPS": ("TFLOP/s", lambda g: g.peak_flops("int8") / 1e12),
    "interconnect_GBps": ("GB/s", lambda g: _need(g.interconnect_bandwidth, "interconnect bandwidth", g) / 1e9),
    "interconnect": ("", lambda g: g.interconnect),
    "price_per_hour": ("USD/hour", lambda g: _need(g.price_per_hour, "price", g)),
    "price_date": ("", lambda g: g.price_date),
    "price_source": ("", lambda g: g.price_source),
    "tdp_W": ("W", lambda g: float(_need(gpu_rows()[g.name]["tdp_W"] or None, "TDP", g))),
    "source": ("", lambda g: g.source),
}

MODEL_FIELDS = {
    "name": ("", lambda m: m.name),
    "params": ("parameter", lambda m: float(m.params())),
    "params_active": ("parameter", lambda m: float(m.params(active=True))),
    **{f: ("", (lambda f: lambda m: float(getattr(m, f)))(f)) for f in
       ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "max_context", "experts", "experts_per_token")},
    "attention": ("", lambda m: m.attention),
    "ffn_type": ("", lambda m: m.ffn_type),
    "tied_embeddings": ("", lambda m: "yes" if m.tied_embeddings else "no"),
    "kv_bytes_per_token": ("B", lambda m: m.kv_values_per_token() * DTYPE_BYTES["fp16"]),
    "params_published": ("", lambda m: model_rows().get(m.name, {}).get("params_published", "")),
    "training_tokens": ("", lambda m: model_rows().get(m.name, {}).get("training_tokens", "")),
    "source": ("", lambda m: m.source),
}


def _need(value, what, g):
    if value in (None, ""):
        raise ArgumentError("field", f"the catalog has no {what} for {g.name}")
    return value


_KEYS = {id(t): {**{normalize(k): k for k in t}, **{k: k for k in t}} for t in (GPU_FIELDS, MODEL_FIELDS)}


def _field(table, field, kind):
    if not isinstance(field, str):
        raise ArgumentError("field", "must be a field name")
    keys = _KEYS[id(table)]
    found = keys.get(field) or keys.get(normalize(field))   # exact spelling first: no regex on the hot path
    if found:
        return found
    raise UnknownNameError("field", f"{kind} field", field[:60], suggest(field, keys) or list(table)[:6])


def _look_up(table, kind, entry, field):
    """One field of a catalog entry, with the entry's sources in the explanation."""
    key = _field(table, field, kind)
    unit, get = table[key]
    v = get(entry)
    return Calc(v, lambda: [f"{entry.name}.{key} = {fmt(v, unit)}", f"source: {entry.source}"], unit=unit)


@user_function("LLM_GPU", unit="", result="number", category="catalog",
               args=[Arg("name", GPURef(), "GPU name or alias"), Arg("field", Text(40), "field: " + ", ".join(GPU_FIELDS), "name")],
               formula="catalog look-up (llmcalc/data/gpus.csv)", sources=["gpu-catalog"],
               examples=[Example(("A100", "bf16_TFLOPS"), 312, note="NVIDIA A100 datasheet: 312 TFLOP/s dense bf16"),
                         Example(("H100", "memory_GiB"), 79.65, note="81,559 MiB as nvidia-smi reports it")])
def gpu(name, field):
    """A field of a catalog GPU (dense peak TFLOP/s, memory, bandwidth, price…)."""
    return _look_up(GPU_FIELDS, "GPU", name, field)


@user_function("LLM_MODEL", unit="", result="number", category="catalog",
               args=[Arg("name", ModelRef(), "model name, alias or config.json path"), Arg("field", Text(40), "field: " + ", ".join(MODEL_FIELDS), "params")],
               formula="catalog look-up (llmcalc/data/models.csv); params computed exactly from the architecture",
               sources=["model-catalog"],
               examples=[Example(("llama-2-70b", "params"), 68.98e9, note="Llama-2-70B config.json, counted exactly"),
                         Example(("llama-2-70b", "kv_heads"), 8, note="Llama-2-70B config.json: 8 KV heads")])
def model(name, field):
    """A field of a catalog model (exact parameter count, layers, heads, KV bytes per token…)."""
    return _look_up(MODEL_FIELDS, "model", name, field)


@user_function("LLM_CONVERT", unit="", result="number", category="units",
               args=[Arg("value", Number("", minimum=-1e30, vector=True, label="number"), "the number to convert"),
                     Arg("from_unit", Text(40), "its unit (\"GiB\", \"TFLOP/s\", \"days\")"),
                     Arg("to_unit", Text(40), "the unit wanted (\"GB\", \"FLOP/s\", \"hours\")")],
               formula="value × (from_unit / to_unit)",
               sources=["pint"],
               examples=[Example((80, "GiB", "GB"), 85.899, note="80 × 2^30 / 1e9"),
                         Example((200, "Gb/s", "GB/s"), 25, note="8 bits per byte")])
def convert(value, from_unit, to_unit):
    """Convert a number between units (GiB→GB, Gb/s→GB/s, days→hours, TFLOP/s→FLOP/s)."""
    factor, t = _factor(from_unit, to_unit)
    out = value * factor
    return Calc(out, lambda: [f"{fmt(value, from_unit)} = {fmt(out, to_unit)}"], unit=t)


@functools.lru_cache(maxsize=1024)
def _factor(from_unit: str, to_unit: str):
    """(how many ``to_unit`` one ``from_unit`` is, the target unit): every unit here is multiplicative."""
    f = units.parse_unit_text(from_unit, "from_unit")
    t = units.parse_unit_text(to_unit, "to_unit")
    try:
        return float(units.ureg().Quantity(1.0, f).to(t).magnitude), t
    except Exception:
        raise ArgumentError("to_unit", f"cannot convert {from_unit!r} to {to_unit!r} (different dimensions)") from None
