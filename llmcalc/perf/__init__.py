"""Performance model: predicted time of prefill, decode steps and training steps on a GPU.

Interface used by :mod:`llmcalc.api.inference` (keep it stable):

* ``prefill(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate``
* ``decode_step(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate``
* ``train_step(model, gpu, micro_batch, seq, recompute=False, profile=None) -> Estimate``
* ``efficiencies(gpu, dtype="bf16", profile=None) -> (matmul_fraction, bandwidth_fraction)``

``batch``/``tokens``/``context`` may be NumPy arrays (they broadcast).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..hardware import DTYPE_BYTES

# H100 SXM, measured (llmcalc/data/h100-calibration.json "ceilings"): 739.4 of 989 TFLOP/s bf16,
# 2.93 of 3.35 TB/s read. Other GPUs use the same fractions of their datasheet peaks.
MATMUL_FRACTION = 739.44 / 989.0
BANDWIDTH_FRACTION = 2.927 / 3.35


@dataclass
class Estimate:
    seconds: object                      # float or ndarray
    terms: dict = field(default_factory=dict)   # name -> seconds
    bound: str = ""                      # which term dominates, in words
    lines: list = field(default_factory=list)   # explanation lines


def efficiencies(gpu, dtype="bf16", profile=None):
    return MATMUL_FRACTION, BANDWIDTH_FRACTION


def prefill(model, gpu, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate:
    f, b = efficiencies(gpu, dtype, profile)
    p = model.params(active=True)
    flops = 2.0 * (p - model.embedding_params()) * batch * tokens
    compute = flops / (gpus * gpu.peak_flops(dtype) * f)
    memory = p * DTYPE_BYTES[dtype] / (gpus * gpu.bandwidth * b)
    t = np.maximum(compute, memory)
    return Estimate(t, {"compute": compute, "weights": memory},
                    "compute-bound" if np.all(compute >= memory) else "memory-bound")


def decode_step(model, gpu, batch, context, gpus=1, dtype="bf16", kv_dtype=None, profile=None) -> Estimate:
    f, b = efficiencies(gpu, dtype, profile)
    p = model.params(active=True)
    kv = model.kv_values_per_token() * DTYPE_BYTES[kv_dtype or dtype] * batch * context
    memory = (p * DTYPE_BYTES[dtype] + kv) / (gpus * gpu.bandwidth * b)
    compute = 2.0 * p * batch / (gpus * gpu.peak_flops(dtype) * f)
    t = np.maximum(compute, memory)
    return Estimate(t, {"compute": compute, "memory": memory},
                    "memory-bound" if np.all(memory >= compute) else "compute-bound")
