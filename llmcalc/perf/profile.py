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

(About 440 lines: the profile record, its derivation from datasheets and the loading of measured
profiles answer one question, which profile a GPU gets, and are kept together.)
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
_SECTIONS = ("gemm", "attention", "elementwise", "overheads", "training", "memory")
_WEIGHT_ONLY = {"int4": "bf16", "fp4": "bf16"}  # weight-only formats: computed at the 16-bit rate


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
        key = _WEIGHT_ONLY.get(dtype, dtype)
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


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _per_gpu(table: dict, gpu, default=None):
    """The entry of a per-GPU table of derivation.json for ``gpu`` (names compared without punctuation)."""
    key = _norm(gpu.name)
    for name, value in table.items():
        if _norm(name) == key:
            return value
    return default


def _sm_count(gpu) -> int:
    return int(_per_gpu(derivation()["sm_count"], gpu, derivation().get("default_sm_count", 132)))


def matmul_fraction(gpu, dtype: str) -> float:
    """Achievable / datasheet dense matmul FLOP/s of ``gpu`` for ``dtype``: the published large-GEMM
    microbenchmark (maximum achievable matmul FLOPS, ml-engineering) where one exists, else the default.
    fp16 and tf32 use the bf16 figure, int8 and fp4 the fp8 one (no published FP4 measurement). Source:
    derivation.json ``matmul_fraction_sources``."""
    d = derivation()
    key = "fp8" if dtype in ("fp8", "int8", "fp4") else "bf16"
    return float(_per_gpu(d["matmul_fraction"].get(key, {}), gpu, d["matmul_fraction_default"][key]))


def bandwidth_fraction(gpu) -> float:
    """Achievable / datasheet memory bandwidth (published read bandwidth where known, else the H100's measured 0.874)."""
    d = derivation()
    return float(_per_gpu(d["bandwidth_fraction"], gpu, d["bandwidth_fraction_default"]))


def gemm_epilogue(gpu) -> float:
    """Serial fraction of a GEMM's output store on ``gpu``'s architecture (derivation.json ``gemm_epilogue``:
    1 for the non-persistent kernels of Volta/Ampere/Ada, 0 for Hopper/Blackwell); see
    :func:`llmcalc.perf.operators.epilogue_k0`."""
    d = derivation()
    return float(d.get("gemm_epilogue", {}).get(str(_per_gpu(d["arch"], gpu, "")), 0.0))


_SIXTEEN_BIT = {"int4": "bf16", "fp16": "bf16"}   # computed at the 16-bit rate (int4: weight-only)


@dataclass(frozen=True)
class Hardware:
    """What a GPU can sustain, independent of the software running on it.

    ``matmul[dtype]``: achievable dense matmul FLOP/s (datasheet peak × :func:`matmul_fraction`, or a
    calibrated profile's measured ceiling); ``bandwidth``: achievable read bytes/s; ``sm_rate``: SMs ×
    boost clock (SM-cycles per second), the budget of kernels bound by instruction issue rather than
    tensor cores or memory; ``arch``: compute capability (``sm80``, ``sm89``, ``sm90``, ``sm100``), which
    says whether kernels compiled for an older architecture run at full speed.
    """

    gpu: str
    arch: str
    sm_count: int
    clock_hz: float
    matmul: dict
    bandwidth: float
    provenance: str = ""

    @property
    def sm_rate(self) -> float:
        return self.sm_count * self.clock_hz

    def flops(self, dtype: str) -> float:
        """Achievable matmul FLOP/s for ``dtype``: fp4 on GPUs with FP4 tensor cores (Blackwell: weights and
        activations in FP4), else fp4 and int4 are weight-only formats computed at 16 bits."""
        key = _SIXTEEN_BIT.get(dtype, dtype)
        if key == "fp4" and "fp4" not in self.matmul:
            key = "bf16"
        if key in self.matmul:
            return float(self.matmul[key])
        raise ArgumentError("dtype", f"{self.gpu} has no published dense {dtype} peak")


_HARDWARE: dict = {}


def hardware(gpu, profile=None) -> Hardware:
    """The :class:`Hardware` of a catalog GPU: datasheet peaks × published achievable fractions
    (derivation.json), or the measured ceilings of a calibrated ``profile`` (file or Profile).
    Built once per GPU (datasheet path; a profile file is resolved, and cached, by :func:`resolve`)."""
    if profile in (None, ""):
        key = _gpu_key(gpu)
        hw = _HARDWARE.get(key)     # (one look-up: a tuple key is hashed again on every access)
        if hw is None:
            hw = _HARDWARE[key] = _hardware(gpu, None)
        return hw
    return _hardware(gpu, profile)


def _hardware(gpu, profile) -> Hardware:
    d = derivation()
    clock = float(_per_gpu(d["boost_clock_mhz"], gpu, 1800)) * 1e6
    arch = str(_per_gpu(d["arch"], gpu, ""))
    if profile not in (None, ""):
        prof = resolve(gpu, profile)
        mm = dict(prof.matmul_flops)
        mm.setdefault("bf16", mm.get("fp16", 0.0))
        return Hardware(gpu.name, arch, prof.sm_count, clock, mm, prof.bandwidth,
                        f"ceilings from {prof.path or prof.name}")
    mm = {}
    for dtype in ("bf16", "fp8", "int8", "fp4", "tf32", "fp32"):
        try:
            peak = gpu.peak_flops(dtype)
        except ArgumentError:
            continue
        mm[dtype] = peak * (matmul_fraction(gpu, dtype) if dtype != "fp32" else 1.0)
    if "bf16" not in mm:
        raise ArgumentError("gpu", f"{gpu.name} has no published 16-bit peak")
    bw = gpu.bandwidth * bandwidth_fraction(gpu)
    prov = (f"{gpu.name}: datasheet peaks × published achievable fractions (bf16 {matmul_fraction(gpu, 'bf16'):.3f}"
            + (f", fp8 {matmul_fraction(gpu, 'fp8'):.3f}" if "fp8" in mm else "")
            + f"), bandwidth × {bandwidth_fraction(gpu):.3f}; {_sm_count(gpu)} SMs at {clock / 1e9:.2f} GHz "
            "(llmcalc/data/profiles/derivation.json)")
    return Hardware(gpu.name, arch, _sm_count(gpu), clock, mm, bw, prov)


_KEYS: dict = {}


def _gpu_key(gpu) -> tuple:
    """What a GPU's profile depends on: name, peaks and bandwidth. GPU records are frozen, so it is built once per
    record (looked up by identity; the entry holds the record, so its id is not reused while cached)."""
    hit = _KEYS.get(id(gpu))
    if hit is not None and hit[0] is gpu:
        return hit[1]
    if len(_KEYS) >= 256:
        _KEYS.clear()
    key = (gpu.name, tuple(sorted(gpu.peak.items())), gpu.bandwidth)
    _KEYS[id(gpu)] = (gpu, key)
    return key


_DERIVED: dict = {}


def _derive(gpu) -> Profile:
    """Reference-engine profile of an unmeasured GPU.

    Formula: ceiling(GPU, dtype) = peak(GPU, dtype) × f(GPU, dtype) × [measured(H100, dtype) / (peak(H100,
    dtype) × f(H100, dtype))], f = published achievable fraction (:func:`matmul_fraction`); bandwidth
    likewise with :func:`bandwidth_fraction`. The bracket is the H100's ratio of what the reference
    engine's calibration measured (an 8192³ matmul, a read-only sum) to the published figure, so the
    H100 gets exactly its measured ceilings and every GPU the same methodology. Shape, overhead and
    engine parameters are the H100's."""
    base = measured()
    if gpu.name == base.gpu and gpu.bandwidth == derivation()["reference_bandwidth"]:
        return base
    d = derivation()
    ref_peak, ref_bw = d["reference_peak_flops"], d["reference_bandwidth"]
    h100 = _Named(base.gpu)
    mm = {}
    for dtype, achieved in base.matmul_flops.items():
        scale = achieved / (ref_peak[dtype] * matmul_fraction(h100, dtype))
        try:
            mm[dtype] = gpu.peak_flops(dtype) * matmul_fraction(gpu, dtype) * scale
        except ArgumentError:
            continue
    if not mm:
        # no published peak for any measured dtype: scale by the 16-bit ratio of whatever it has
        peak16 = gpu.peak.get("bf16") or gpu.peak.get("fp16")
        if not peak16:
            raise ArgumentError("gpu", f"{gpu.name} has no published 16-bit peak to derive a profile from")
        mm["bf16"] = base.matmul_flops["bf16"] / ref_peak["bf16"] * peak16
    bw_scale = base.bandwidth / (ref_bw * bandwidth_fraction(h100))
    bw = gpu.bandwidth * bandwidth_fraction(gpu) * bw_scale
    prov = (f"Derived, not measured: {gpu.name} datasheet peaks × published achievable fractions (matmul bf16 "
            f"{matmul_fraction(gpu, 'bf16'):.3f}, bandwidth {bandwidth_fraction(gpu):.3f}; derivation.json), scaled "
            f"like the H100's reference measurement; shape and overhead parameters are the H100's. "
            f"Run `llmcalc calibrate` on this GPU for a measured profile.")
    gemm = {**base.gemm, "epilogue": gemm_epilogue(gpu)}
    return base.with_params(name=f"{gpu.name} (derived from H100)", gpu=gpu.name, matmul_flops=mm, bandwidth=bw,
                            sm_count=_sm_count(gpu), gemm=gemm, derived=True, provenance=prov, path="")


class _Named:
    """Just a name, for looking a GPU up in the derivation tables."""

    def __init__(self, name):
        self.name = name


def forget_derived() -> None:
    """Drop the cached derived profiles (after changing derivation.json's values in memory, e.g. to fit one)."""
    _DERIVED.clear()


def derived(gpu) -> Profile:
    """The profile of a catalog GPU: the measured one for the H100 SXM, else derived from its datasheet."""
    key = _gpu_key(gpu)
    prof = _DERIVED.get(key)        # (one look-up: a tuple key is hashed again on every access)
    if prof is None:
        prof = _DERIVED[key] = _derive(gpu)
    return prof


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
