"""llmcalc: a unit-aware LLM cost calculator.

Every user-facing function is declared once in :mod:`llmcalc.registry` and appears here, in
``%llmcost``, in the spreadsheet add-in (``=LLM_TRAIN_DAYS(…)``) and the CLI with the same name,
arguments, defaults and units::

    >>> import llmcalc
    >>> llmcalc.train_days(175e9, 300e9, 1024, "A100")      # doctest: +SKIP
    <Result(33.81, 'day')>
"""
from __future__ import annotations

from . import api as _api  # noqa: F401  (registers the functions)
from . import catalog as _catalog
from .errors import ArgumentError, LLMCalcError, UnknownNameError
from .hardware import GPU
from .model import Model
from .registry import REGISTRY, lookup
from .units import ureg

__version__ = "0.1.0"

globals().update({name: fn for name, fn in REGISTRY.items() if name not in ("gpu", "model")})


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

__all__ = sorted([*REGISTRY, "gpu", "model", "gpus", "models", "GPU", "Model", "ureg", "lookup",
                  "ArgumentError", "LLMCalcError", "UnknownNameError", "REGISTRY"])


def load_ipython_extension(ipython):
    """``%load_ext llmcalc`` registers the ``%llmcost`` / ``%%llmcost`` magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)
