"""The global, fitted parameters of the cluster model, in one place.

Only physically meaningful constants that hold for every model, layout and cluster are fitted
(``benchmarks/accuracy_training.py --fit``, least squares on log(predicted / published) over the
published rows, soft-L1 loss); each lives in the module that uses it:

* ``overlap`` — :data:`llmcalc.parallel.step.OVERLAP`: how much of the span a collective and the
  compute it runs behind share costs the compute nothing (:func:`llmcalc.parallel.step.hidden_behind`).
* ``nvlink_efficiency`` — ``llmcalc.perf.comm.FABRIC_DEFAULTS["nvlink"]["efficiency"]``: the bus
  bandwidth NCCL reaches on NVLink/NVSwitch as a fraction of the per-direction link bandwidth.
* ``gemm_epilogue`` — derivation.json ``gemm_epilogue``: the serial fraction of a GEMM's output store
  on pre-Hopper GPUs, fixed at 1 by the kernels' design; ``--fit-all`` refits it as a check (1.05).

Not fitted (kept at their documented nccl-tests values; fitting them moves them little —
NVLink 0.80 → 0.83 — or runs them to a bound): ``FABRIC_DEFAULTS["nvlink"]["efficiency"]`` and
``FABRIC_DEFAULTS["network"]["efficiency"]`` (0.9 of the NIC line rate, what nccl-tests
reach across nodes; fitting it with φ gives 0.88); see docs/training-clusters.md.

:func:`using` swaps them temporarily (fitting, cross-validation); nothing else changes them.
"""
from __future__ import annotations

import contextlib

from ..perf import comm, profile
from . import step

FITTED = ("overlap",)
CHECKED = ("overlap", "gemm_epilogue")   # --fit-all: also refit a physics constant, to see where the data put it
BOUNDS = {"overlap": (0.0, 1.0), "gemm_epilogue": (0.0, 2.0), "nvlink_efficiency": (0.4, 1.0),
          "network_efficiency": (0.4, 1.0)}
_FABRIC = {"nvlink_efficiency": "nvlink", "network_efficiency": "network"}


def get(name: str) -> float:
    if name == "overlap":
        return step.OVERLAP
    if name == "gemm_epilogue":
        return max(profile.derivation()["gemm_epilogue"].values())
    if name in _FABRIC:
        return comm.FABRIC_DEFAULTS[_FABRIC[name]]["efficiency"]
    raise KeyError(name)


def _set(name: str, value: float) -> None:
    if name == "overlap":
        step.OVERLAP = float(value)
    elif name == "gemm_epilogue":
        table = profile.derivation()["gemm_epilogue"]
        for arch in table:
            table[arch] = float(value)
        profile.forget_derived()
    elif name in _FABRIC:
        comm.FABRIC_DEFAULTS[_FABRIC[name]]["efficiency"] = float(value)
    else:
        raise KeyError(name)


@contextlib.contextmanager
def using(values: dict):
    """Temporarily set global parameters (restored on exit)."""
    old = {k: get(k) for k in values}
    try:
        for k, v in values.items():
            _set(k, v)
        yield
    finally:
        for k, v in old.items():
            _set(k, v)
