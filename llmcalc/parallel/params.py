"""The global, fitted parameters of the cluster model, in one place.

Only physically meaningful constants that hold for every model, layout and cluster are fitted
(``benchmarks/accuracy_training.py --fit``, least squares on log(predicted / published) over the
published rows, soft-L1 loss); each lives in the module that uses it:

* ``overlap`` — :data:`llmcalc.parallel.step.OVERLAP`: the fraction of the shorter of two
  overlapped activities (a collective and the compute it runs behind) that is hidden.
* ``nvlink_efficiency`` — ``llmcalc.perf.comm.FABRIC_DEFAULTS["nvlink"]["efficiency"]``: the bus
  bandwidth NCCL reaches on NVLink/NVSwitch as a fraction of the per-direction link bandwidth.

:func:`using` swaps them temporarily (fitting, cross-validation); nothing else changes them.
"""
from __future__ import annotations

import contextlib

from ..perf import comm
from . import step

FITTED = ("overlap", "nvlink_efficiency")
BOUNDS = {"overlap": (0.0, 1.0), "nvlink_efficiency": (0.4, 1.0)}


def get(name: str) -> float:
    if name == "overlap":
        return step.OVERLAP
    if name == "nvlink_efficiency":
        return comm.FABRIC_DEFAULTS["nvlink"]["efficiency"]
    raise KeyError(name)


def _set(name: str, value: float) -> None:
    if name == "overlap":
        step.OVERLAP = float(value)
    elif name == "nvlink_efficiency":
        comm.FABRIC_DEFAULTS["nvlink"]["efficiency"] = float(value)
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
