"""GPU performance profiles: achievable ceilings, shape parameters and overheads, with provenance.

A profile is data (``llmcalc/data/profiles/*.json``), never code:

* ``h100-sxm5.json`` is fitted on the H100 calibration file (``llmcalc/data/h100-calibration.json``)
  by :mod:`llmcalc.perf.fit`; its ``fit`` block records how and how well.
* every other catalog GPU gets a profile *derived* from its datasheet with the ratios the H100
  data shows (achievable/peak matmul FLOP/s per dtype, achievable/peak bandwidth); the engine
  and shape parameters (tile efficiencies, overheads in µs, bytes moved by norms…) are the
  H100's. ``derivation.json`` holds the rule and the SM counts; such a profile says
  ``derived: true`` and its provenance says it was not measured.
* ``llmcalc calibrate`` writes a profile measured on the user's own GPU; it is used when passed
  as ``profile=FILE`` or found in the per-user directory (``$LLMCALC_PROFILE_DIR``, else
  ``~/.config/llmcalc/profiles``) under the GPU's name. Fields it does not measure are taken
  from the derived profile of that GPU.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import ArgumentError

DEFAULT_PROFILE = "h100-sxm5.json"
MEASURED_GPU = "H100-SXM5-80GB"
_SECTIONS = ("gemm", "attention", "elementwise", "overheads", "training", "memory")


@dataclass(frozen=True)
class Profile:
    """Achievable performance of one GPU running the reference engine.

    ``matmul_flops[dtype]`` is the sustained dense matmul FLOP/s of a large square GEMM,
    ``bandwidth`` the sustained read bandwidth in bytes/s; the other sections are the shape
    and overhead parameters documented in ``docs/performance.md``.
    """

    name: str
    gpu: str
    matmul_flops: dict
    bandwidth: float
    sm_count: int
    roofline_p: float
    gemm: dict
    attention: dict
    elementwise: dict
    overheads: dict
    training: dict
    memory: dict
    derived: bool = False
    provenance: str = ""
    fit: dict = field(default_factory=dict)
    path: str = ""

    # ------------------------------------------------------------------ rates
    def flops(self, dtype: str, gpu=None) -> float:
        """Achievable matmul FLOP/s for ``dtype``.

        int4/fp4 *weights* compute at the 16-bit rate (weight-only quantisation dequantises
        into bf16 tiles). A dtype the profile did not measure is scaled from bf16 by the
        datasheet ratio of the GPU (``gpu.peak_flops(dtype) / gpu.peak_flops("bf16")``).
        """
        key = {"int4": "bf16", "fp4": "bf16"}.get(dtype, dtype)
        if key in self.matmul_flops:
            return float(self.matmul_flops[key])
        if key == "fp16" and "bf16" in self.matmul_flops:
            return float(self.matmul_flops["bf16"])
        if gpu is not None and "bf16" in self.matmul_flops:
            return float(self.matmul_flops["bf16"]) * gpu.peak_flops(key) / gpu.peak_flops("bf16")
        raise ArgumentError("dtype", f"the {self.name} profile has no matmul rate for {dtype}")

    def to_dict(self) -> dict:
        d = {k: copy.deepcopy(getattr(self, k)) for k in (
            "name", "gpu", "derived", "provenance", "matmul_flops", "bandwidth", "sm_count", "roofline_p",
            *_SECTIONS, "fit")}
        return d

    def with_params(self, **changes) -> "Profile":
        """A copy with some fields replaced (used by the fitting code)."""
        d = {k: copy.deepcopy(getattr(self, k)) for k in self.__dataclass_fields__}
        d.update(changes)
        return Profile(**d)


def _data_text(name: str) -> str:
    return resources.files("llmcalc.data").joinpath("profiles", name).read_text(encoding="utf-8")


def _from_dict(d: dict, path: str = "", base: Profile | None = None) -> Profile:
    """Build a Profile from JSON data; missing sections/keys come from ``base``."""
    if not isinstance(d, dict):
        raise ArgumentError("profile", "must be a JSON object")
    out = base.to_dict() if base is not None else {}
    for k, v in d.items():
        if k in _SECTIONS and isinstance(v, dict):
            out.setdefault(k, {})
            out[k] = {**out[k], **v}
        elif k == "matmul_flops" and isinstance(v, dict):
            out[k] = {**out.get(k, {}), **v}
        elif k in ("name", "gpu", "derived", "provenance", "bandwidth", "sm_count", "roofline_p", "fit"):
            out[k] = v
    missing = [k for k in ("matmul_flops", "bandwidth", "sm_count", "roofline_p", *_SECTIONS) if k not in out]
    if missing:
        raise ArgumentError("profile", f"is missing {', '.join(missing)}")
    try:
        mm = {str(k): float(v) for k, v in out["matmul_flops"].items()}
        bw = float(out["bandwidth"])
        sm = int(out["sm_count"])
    except (TypeError, ValueError):
        raise ArgumentError("profile", "matmul_flops, bandwidth and sm_count must be numbers") from None
    if not mm or min(mm.values()) <= 0 or bw <= 0 or sm <= 0:
        raise ArgumentError("profile", "matmul_flops, bandwidth and sm_count must be > 0")
    return Profile(name=str(out.get("name", "profile")), gpu=str(out.get("gpu", "")), matmul_flops=mm, bandwidth=bw,
                   sm_count=sm, roofline_p=float(out["roofline_p"]), gemm=out["gemm"], attention=out["attention"],
                   elementwise=out["elementwise"], overheads=out["overheads"], training=out["training"],
                   memory=out["memory"], derived=bool(out.get("derived", False)),
                   provenance=str(out.get("provenance", "")), fit=out.get("fit", {}) or {}, path=path)


@functools.lru_cache(maxsize=1)
def measured() -> Profile:
    """The H100 SXM profile fitted on the calibration file (the one measured GPU)."""
    return _from_dict(json.loads(_data_text(DEFAULT_PROFILE)), path=f"llmcalc/data/profiles/{DEFAULT_PROFILE}")


@functools.lru_cache(maxsize=1)
def derivation() -> dict:
    """The rule and datasheet SM counts used to derive profiles of unmeasured GPUs."""
    return json.loads(_data_text("derivation.json"))


def _sm_count(gpu) -> int:
    table = derivation()["sm_count"]
    key = re.sub(r"[^a-z0-9]", "", gpu.name.lower())
    for name, n in table.items():
        if re.sub(r"[^a-z0-9]", "", name.lower()) == key:
            return int(n)
    return int(derivation().get("default_sm_count", 132))


def _gpu_key(gpu) -> tuple:
    return (gpu.name, tuple(sorted(gpu.peak.items())), gpu.bandwidth)


_DERIVED: dict = {}


def _derive(gpu) -> Profile:
    base = measured()
    if gpu.name == base.gpu and gpu.bandwidth == derivation()["reference_bandwidth"]:
        return base
    ref_peak, ref_bw = derivation()["reference_peak_flops"], derivation()["reference_bandwidth"]
    mm = {}
    for dtype, achieved in base.matmul_flops.items():
        ratio = achieved / ref_peak[dtype]
        try:
            mm[dtype] = ratio * gpu.peak_flops(dtype)
        except ArgumentError:
            continue
    if not mm:
        # no published peak for any measured dtype: scale by the 16-bit ratio of whatever it has
        peak16 = gpu.peak.get("bf16") or gpu.peak.get("fp16")
        if not peak16:
            raise ArgumentError("gpu", f"{gpu.name} has no published 16-bit peak to derive a profile from")
        mm["bf16"] = base.matmul_flops["bf16"] / ref_peak["bf16"] * peak16
    bw = base.bandwidth / ref_bw * gpu.bandwidth
    prov = (f"Derived, not measured: {gpu.name} datasheet peaks × the achievable/peak ratios measured on the "
            f"H100 SXM (matmul bf16 {base.matmul_flops['bf16'] / ref_peak['bf16']:.3f}, bandwidth "
            f"{base.bandwidth / ref_bw:.3f}); shape and overhead parameters are the H100's. "
            f"Run `llmcalc calibrate` on this GPU for a measured profile.")
    return base.with_params(name=f"{gpu.name} (derived from H100)", gpu=gpu.name, matmul_flops=mm, bandwidth=bw,
                            sm_count=_sm_count(gpu), derived=True, provenance=prov, path="")


def derived(gpu) -> Profile:
    """The profile of a catalog GPU: the measured one for the H100 SXM, else derived from its datasheet."""
    key = _gpu_key(gpu)
    if key not in _DERIVED:
        _DERIVED[key] = _derive(gpu)
    return _DERIVED[key]


def user_dir() -> Path:
    """Per-user profile directory: ``$LLMCALC_PROFILE_DIR`` or ``~/.config/llmcalc/profiles``."""
    env = os.environ.get("LLMCALC_PROFILE_DIR")
    return Path(env) if env else Path.home() / ".config" / "llmcalc" / "profiles"


def user_profile_path(gpu_name: str) -> Path:
    """Where ``llmcalc calibrate`` stores (and llmcalc looks for) the profile of a GPU."""
    return user_dir() / (re.sub(r"[^a-z0-9]+", "-", gpu_name.lower()).strip("-") + ".json")


_FILES: dict = {}


def _load_file(path: str, mtime: float, gpu) -> Profile:
    key = (path, mtime, _gpu_key(gpu) if gpu is not None else None)
    if key not in _FILES:
        _FILES[key] = _read_file(path, gpu)
    return _FILES[key]


def _read_file(path: str, gpu) -> Profile:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ArgumentError("profile", f"cannot read the GPU profile {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ArgumentError("profile", f"the GPU profile {path} is not UTF-8 text; {_how_to_fix(path)}") from None
    except json.JSONDecodeError as exc:
        raise ArgumentError("profile", f"the GPU profile {path} is not valid JSON ({exc.msg}, line {exc.lineno}); "
                                       f"{_how_to_fix(path)}") from None
    base = derived(gpu) if gpu is not None else measured()
    try:
        return _from_dict(data, path=path, base=base)
    except ArgumentError as exc:
        raise ArgumentError("profile", f"the GPU profile {path} {exc.problem}; {_how_to_fix(path)}") from None
    except (TypeError, ValueError) as exc:
        raise ArgumentError("profile", f"the GPU profile {path} has a value of the wrong type ({exc}); "
                                       f"{_how_to_fix(path)}") from None


def _how_to_fix(path: str) -> str:
    from ..files import backup_path

    backup = backup_path(path)
    restore = f", or restore the previous one: copy {backup} over it" if backup.is_file() else ""
    return (f"measure it again with `llmcalc calibrate`{restore}, or delete it to use the built-in profile")


def load(path, gpu=None) -> Profile:
    """Load a profile file (as written by ``llmcalc calibrate``); missing fields come from ``gpu``'s
    derived profile. A file that does not load is an :class:`ArgumentError` naming ``profile``, the
    file and how to fix it."""
    shown = str(path)[:80]
    try:
        p = Path(str(path)).expanduser()
        if not p.is_file():
            raise ArgumentError("profile", f"profile file {shown!r} does not exist (`llmcalc calibrate --out FILE` "
                                           "writes one)")
        return _load_file(str(p.resolve()), p.stat().st_mtime, gpu)
    except (OSError, RuntimeError, ValueError) as exc:  # unreadable path, no home directory, NUL byte
        if isinstance(exc, ArgumentError):
            raise
        raise ArgumentError("profile", f"cannot open profile file {shown!r}: {exc}") from None


def resolve(gpu, profile=None) -> Profile:
    """The profile to use: an explicit file or Profile, else the user's calibrated file for
    this GPU if there is one, else the built-in (measured or derived) profile.

    A calibrated file found automatically that does not load (truncated, hand-edited) does not
    stop the estimates: the built-in profile is used, with a :class:`ProfileWarning` and a profile
    name that says which file was skipped and how to fix it (it shows in ``.explain()``). A file
    passed explicitly that does not load is an error naming ``profile``."""
    if isinstance(profile, Profile):
        return profile
    if profile not in (None, ""):
        return load(profile, gpu)
    user = _user_profile(os.environ.get("LLMCALC_PROFILE_DIR", ""), gpu.name)
    if user is not None:
        try:
            return load(user, gpu)
        except ArgumentError as exc:
            return _built_in_instead(str(user), exc.problem, gpu)
    return derived(gpu)


class ProfileWarning(UserWarning):
    """A calibrated GPU profile was skipped (the message names the file and how to fix it)."""


_SKIPPED: dict = {}


def _built_in_instead(path: str, problem: str, gpu) -> Profile:
    """The built-in profile of ``gpu``, named so that explanations say which file was skipped;
    warns once per file version."""
    try:
        key = (path, Path(path).stat().st_mtime, _gpu_key(gpu))
    except OSError:
        key = (path, None, _gpu_key(gpu))
    if key not in _SKIPPED:
        import warnings

        warnings.warn(f"llmcalc: the calibrated profile for {gpu.name} was skipped, using the built-in one: {problem}",
                      ProfileWarning, stacklevel=3)
        base = derived(gpu)
        _SKIPPED[key] = base.with_params(
            name=f"{base.name}, built in: the calibrated profile {path} was skipped, it does not load",
            provenance=f"{base.provenance} The calibrated profile {path} was skipped: {problem}".strip())
    return _SKIPPED[key]


@functools.lru_cache(maxsize=256)
def _user_profile(profile_dir: str, gpu_name: str):
    """The user's calibrated profile file for a GPU, or None. Looked up once per process (and per
    ``$LLMCALC_PROFILE_DIR``); ``llmcalc calibrate`` clears this cache after writing a profile."""
    path = user_profile_path(gpu_name)
    return path if path.is_file() else None


forget_user_profiles = _user_profile.cache_clear
