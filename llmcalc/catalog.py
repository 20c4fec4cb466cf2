"""Catalogs of GPUs and models, loaded from ``llmcalc/data/*.csv`` (each row carries its sources).

Names are matched case- and punctuation-insensitively (``"A100"``, ``"h100"``, ``"llama-2-70b"``);
an unknown name raises :class:`UnknownNameError` listing near matches. The CSVs are generated from
the project's reference tables by ``scripts/import_reference.py``.
"""
from __future__ import annotations

import csv
import functools
from importlib import resources
from pathlib import Path

from .errors import ArgumentError, UnknownNameError
from .hardware import GPU
from .model import Model
from .names import normalize, suggest

_PEAK_COLUMNS = {"fp32": "fp32_TFLOPS", "tf32": "tf32_TFLOPS", "bf16": "bf16_TFLOPS", "fp16": "fp16_TFLOPS",
                 "fp8": "fp8_TFLOPS", "int8": "int8_TOPS", "fp4": "fp4_TFLOPS"}


def _rows(filename: str) -> list[dict]:
    text = resources.files("llmcalc.data").joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _f(s: str) -> float | None:
    return float(s) if s not in ("", None) else None


@functools.lru_cache(maxsize=1)
def _gpus() -> tuple[dict[str, GPU], dict[str, str]]:
    table, index = {}, {}
    networks = {r["gpu"]: r for r in _rows("networks.csv")}
    for r in _rows("gpus.csv"):
        n = networks[r["name"]]
        peak = {k: float(r[c]) * 1e12 for k, c in _PEAK_COLUMNS.items() if r[c]}
        g = GPU(
            name=r["name"], vendor=r["vendor"], memory_bytes=float(r["memory_bytes"]),
            memory_gb_label=float(r["memory_gb_label"]), bandwidth=float(r["bandwidth_TBps"]) * 1e12,
            peak=peak, interconnect_bandwidth=(_f(r["interconnect_GBps"]) or 0) * 1e9 or None,
            interconnect=", ".join(filter(None, [r["interconnect"], r["interconnect_direction"]])),
            price_per_hour=_f(r["price_usd_per_gpu_hour"]), price_date=r["price_date"],
            price_source=r["price_source"],
            source=f"{r['sources']} [{r['verification']}]", notes=r["notes"],
            scale_up_size=int(n["scale_up_size"]), scale_up_bandwidth=float(n["scale_up_GBps_per_direction"]) * 1e9,
            scale_up_fabric=n["scale_up_fabric"], scale_out_bandwidth=float(n["scale_out_Gbps_per_gpu"]) * 1e9 / 8,
            scale_out_fabric=n["scale_out_fabric"], network_source=n["sources"] + (f" ({n['notes']})" if n["notes"] else ""),
        )
        table[g.name] = g
        for alias in [g.name, *filter(None, r["aliases"].split(";"))]:
            index[normalize(alias)] = index[alias] = g.name
    return table, index


def _int(s):
    return int(float(s)) if s not in ("", None) else None


@functools.lru_cache(maxsize=1)
def _models() -> tuple[dict[str, Model], dict[str, str]]:
    table, index = {}, {}
    for r in _rows("models.csv"):
        m = Model(
            name=r["name"], layers=int(r["layers"]), hidden=int(r["hidden"]), heads=int(r["heads"]),
            kv_heads=int(r["kv_heads"]), head_dim=_int(r["head_dim"]), v_head_dim=_int(r["v_head_dim"]),
            ffn=_int(r["ffn"]), ffn_type=r["ffn_type"], vocab=int(r["vocab"]),
            tied_embeddings=r["tied_embeddings"] == "yes", max_context=int(r["max_context"]),
            position=r["position"], attention=r["attention"], norm=r["norm"],
            norms_per_layer=int(r["norms_per_layer"]), embedding_norm=r["embedding_norm"] == "yes",
            parallel_attention=r["parallel_attention"] == "yes",
            linear_bias=r["linear_bias"] == "yes", qkv_bias=r["qkv_bias"] == "yes",
            kv_lora_rank=_int(r["kv_lora_rank"]), q_lora_rank=_int(r["q_lora_rank"]),
            qk_rope_head_dim=_int(r["qk_rope_head_dim"]), experts=_int(r["experts"]) or 0,
            experts_per_token=_int(r["experts_per_token"]) or 0, shared_experts=_int(r["shared_experts"]) or 0,
            moe_ffn=_int(r["moe_ffn"]), dense_layers=_int(r["dense_layers"]) or 0,
            source=r["sources"],
        )
        table[m.name] = m
        keys = [m.name, *filter(None, r["aliases"].split(";"))]
        # "LLaMA-1 7B" is also "llama-1-7b"; "Mistral-7B-v0.1" also "mistral-7b-v01"
        for alias in keys:
            index[normalize(alias)] = index[alias] = m.name
    return table, index


@functools.lru_cache(maxsize=1)
def model_rows() -> dict[str, dict]:
    """The raw catalog rows (published counts, training tokens, sources) by model name."""
    return {r["name"]: r for r in _rows("models.csv")}


@functools.lru_cache(maxsize=1)
def gpu_rows() -> dict[str, dict]:
    return {r["name"]: r for r in _rows("gpus.csv")}


_key = functools.lru_cache(maxsize=4096)(normalize)  # a sheet sends the same few spellings again and again


def _lookup(name: str, table: dict, index: dict, kind: str, argument: str):
    if not isinstance(name, str):
        raise ArgumentError(argument, f"must be a {kind} name, got {type(name).__name__}")
    if len(name) > 100:
        raise ArgumentError(argument, f"is too long for a {kind} name ({len(name)} characters)")
    found = index.get(name) or index.get(_key(name))  # exact spelling first: no regex on the hot path
    if found:
        return table[found]
    raise UnknownNameError(argument, kind, name, suggest(name, {normalize(n): n for n in table} | index))


def gpu(name: str | GPU, argument: str = "gpu") -> GPU:
    """Look up a GPU by name or alias (``gpu("A100")``); a :class:`GPU` passes through."""
    if isinstance(name, GPU):
        return name
    table, index = _gpus()
    return _lookup(name, table, index, "GPU", argument)


def model(name: str | Model | Path, argument: str = "model") -> Model:
    """Look up a model by name or alias, or load a Hugging Face ``config.json`` path."""
    if isinstance(name, Model):
        return name
    if isinstance(name, Path) or (isinstance(name, str) and name.lower().endswith(".json")):
        path = Path(name)
        if not path.is_file():
            raise ArgumentError(argument, f"config file {str(name)!r} does not exist")
        try:
            return Model.from_hf_config(path)
        except (ValueError, TypeError) as exc:
            raise ArgumentError(argument, f"cannot read {str(name)!r} as a Hugging Face config.json: {exc}") from None
    table, index = _models()
    return _lookup(name, table, index, "model", argument)


def gpus() -> list[GPU]:
    """All catalog GPUs."""
    return list(_gpus()[0].values())


def models() -> list[Model]:
    """All catalog models."""
    return list(_models()[0].values())


def prices() -> list[dict]:
    """Dated $/GPU-hour observations (provider, GPU, price, page, date), as in ``data/prices.csv``."""
    return _rows("prices.csv")
