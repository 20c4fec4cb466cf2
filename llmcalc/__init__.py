"""llmcalc: a unit-aware LLM cost calculator.

Every user-facing function is declared once in the registry (:mod:`llmcalc.registry`, functions
in :mod:`llmcalc.api`) and appears here, in ``%llmcost``, in the spreadsheet add-in
(``=LLM_TRAIN_DAYS(…)``), the HTTP API and the CLI with the same name, arguments, defaults and
units::

    >>> import llmcalc
    >>> llmcalc.train_days(175e9, 300e9, 1024, "A100")      # doctest: +SKIP
    <Result(33.81, 'day')>
"""
from __future__ import annotations

from . import catalog as _catalog
from .api.catalog_fields import convert
from .api.cluster import train_iteration_time, train_mfu, train_plan
from .api.inference import (compute_bound_tokens, cost_per_1k_tokens, decode_step_time, decode_tokens_per_s,
                            forward_flops, max_batch, prefill_ms, prefill_time)
from .api.memory import (activation_memory_gb, infer_memory_gb, kv_bytes_per_token, kv_cache_gb, serving_memory_gb,
                         train_memory_gb, train_min_gpus, weights_gb)
from .api.performance import peak_memory, train_step_time
from .api.serving import (api_cost, breakeven, serving_capacity, serving_cost, serving_cost_per_mtok, serving_gpus,
                          serving_latency, serving_plan, serving_throughput)
from .api.scaling import chinchilla_loss, chinchilla_params, chinchilla_tokens, comm_seconds, optimal_params, optimal_tokens
from .api.training import params, train_cost, train_days, train_flops, train_gpu_hours, train_gpus
from .errors import ArgumentError, LLMCalcError, UnknownNameError
from .hardware import GPU
from .model import Model
from .parallel.plan import Plan
from .registry import REGISTRY, lookup
from .units import ureg

__version__ = "0.1.0"


def gpu(name, field=None):
    """``gpu("A100")`` → the catalog :class:`GPU`; ``gpu("A100", "bf16_TFLOPS")`` → that field
    (as the spreadsheet's ``=LLM_GPU(name, field)``)."""
    if field is None:
        return _catalog.gpu(name)
    return REGISTRY["gpu"](name, field)


def model(name, field=None):
    """``model("llama-2-70b")`` → the :class:`Model`; ``model(name, "params")`` → that field
    (as ``=LLM_MODEL(name, field)``). A ``config.json`` path loads a Hugging Face config."""
    if field is None:
        return _catalog.model(name)
    return REGISTRY["model"](name, field)


gpus = _catalog.gpus
models = _catalog.models

__all__ = [
    # training
    "params", "train_flops", "train_days", "train_gpus", "train_gpu_hours", "train_cost", "train_step_time",
    # cluster training
    "train_iteration_time", "train_mfu", "train_plan", "Plan",
    # memory
    "train_memory_gb", "train_min_gpus", "activation_memory_gb", "infer_memory_gb", "weights_gb", "kv_bytes_per_token",
    "kv_cache_gb", "serving_memory_gb", "peak_memory",
    # serving
    "prefill_time", "prefill_ms", "decode_step_time", "decode_tokens_per_s", "cost_per_1k_tokens", "max_batch",
    "compute_bound_tokens", "forward_flops",
    # serving at fleet scale (in-flight batching simulator)
    "serving_throughput", "serving_latency", "serving_capacity", "serving_gpus", "serving_cost", "serving_cost_per_mtok",
    "serving_plan", "api_cost", "breakeven",
    # scaling laws, communication, catalogs, units
    "chinchilla_tokens", "chinchilla_params", "chinchilla_loss", "optimal_params", "optimal_tokens", "comm_seconds",
    "gpu", "model", "gpus", "models", "convert",
    # types and helpers
    "GPU", "Model", "ureg", "lookup", "REGISTRY", "ArgumentError", "LLMCalcError", "UnknownNameError",
]


def load_ipython_extension(ipython):
    """``%load_ext llmcalc`` registers the ``%llmcost`` / ``%%llmcost`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)
