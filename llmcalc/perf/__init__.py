"""Performance model: predicted time of prefill, decode steps and training steps on a GPU.

* :mod:`.predict` — the API: :func:`prefill`, :func:`decode_step`, :func:`train_step`,
  :func:`peak_memory`, :func:`efficiencies`, returning an :class:`Estimate`;
* :mod:`.engine` — one pass of the reference engine, operator by operator;
* :mod:`.operators` — per-operator roofline formulas;
* :mod:`.profile` — GPU profiles (achievable ceilings, shape parameters, overheads) with provenance;
* :mod:`.memory` — peak-memory formulas; :mod:`.comm` — collectives between GPUs;
* :mod:`.describe` — the explanation text; :mod:`.fit` and :mod:`.calibrate` — how profiles are made.

The model is a per-operator roofline of the reference engine with the achievable ceilings, shape
parameters and overheads of a GPU profile: fitted on the H100 calibration file for the H100,
derived from datasheets for other GPUs, or measured by ``llmcalc calibrate``. See
``docs/performance.md``.
"""
from .predict import Estimate, decode_step, efficiencies, peak_memory, prefill, train_step
from .profile import Profile, derived, load, measured, resolve, user_profile_path

__all__ = ["Estimate", "prefill", "decode_step", "train_step", "efficiencies", "peak_memory", "Profile",
           "resolve", "measured", "derived", "load", "user_profile_path"]
