"""Published serving measurements used to fit and check the serving engine (the calibration set).

``llmcalc/data/published/serving.csv`` is a copy of ``../shared/groundtruth/published/serving.csv``:
TensorRT-LLM 0.9.0's performance overview (static batches: output tokens/s per GPU over one prefill
of batch×input and output−1 decode steps, divided by TP; batch-1 first-token latency). Each row
becomes a case with the model's architecture: the row's own ``architecture`` column where it gives
one, else the catalog entry of the same model (Mistral 7B, Mixtral 8x7B: their Hugging Face
configs). Unstated FFN widths of GELU models are 4·hidden (GPT-J ``n_inner = None``, Falcon-180B
``ffn_hidden_size = 4·hidden``, per their Hugging Face configs).
"""
from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

from ..model import Model

GPUS = {"H100": "H100-SXM5-80GB", "H200": "H200-SXM-141GB", "A100": "A100-SXM4-80GB", "L40S": "L40S"}
CATALOG = {"Mistral 7B": "Mistral-7B-v0.1", "Mixtral 8x7B": "Mixtral-8x7B-v0.1"}


def _arch(name: str, text: str) -> Model | None:
    """A Model from the ``architecture`` column ("L=28, h=4096, a=16, kv=16, ffn=n/s, V=50400; GELU …")."""
    vals = dict(re.findall(r"\b(L|h|a|kv|ffn|V)=([0-9n/s]+)", text))
    if not {"L", "h", "a", "V"} <= vals.keys():
        return None
    gelu = "gelu" in text.lower() or name.startswith("Falcon")   # Falcon's MLP is GELU (modeling_falcon.py)
    h = int(vals["h"])
    ffn = int(vals["ffn"]) if vals.get("ffn", "n/s").isdigit() else (4 * h if gelu else None)
    kw = dict(name=name, layers=int(vals["L"]), hidden=h, heads=int(vals["a"]), kv_heads=int(vals.get("kv", vals["a"])),
              ffn=ffn, ffn_type="gelu" if gelu else "swiglu", vocab=int(vals["V"]),
              norm="layernorm" if gelu else "rmsnorm")
    # attention and MLP in parallel (one tensor-parallel all-reduce per layer): the row says so for Falcon;
    # GPT-J's block is parallel too (modeling_gptj.py: hidden = attn_output + feed_forward_output + residual)
    parallel = "parallel attn" in text.lower() or name.startswith("GPT-J")
    return Model(**kw, parallel_attention=parallel)


def _number(text: str) -> float:
    return float(text.replace(",", "").strip())


def serving_cases(path: str | Path | None = None) -> list[dict]:
    """Every row of serving.csv as {id, model, gpu, tp, dtype, batch, input, output, metric, value}.

    ``metric`` is ``throughput`` (output tokens/s per GPU) or ``ttft`` (seconds); ``dtype`` is the
    weight and KV-cache format (``fp8`` for the FP8 rows, ``fp16`` otherwise).
    """
    from ..catalog import gpu as catalog_gpu, model as catalog_model
    text = (Path(path).read_text(encoding="utf-8") if path else
            resources.files("llmcalc.data").joinpath("published", "serving.csv").read_text(encoding="utf-8"))
    out, models = [], {}
    for r in csv.DictReader(text.splitlines()):
        name = r["model"]
        if name not in models:
            models[name] = (catalog_model(CATALOG[name]) if name in CATALOG else _arch(name, r["architecture"]))
        ttft = r["metric"].lower().startswith("1st-token")
        value = _number(r["value"])
        out.append(dict(id=r["id"], model=models[name], model_name=name, gpu=catalog_gpu(GPUS[r["gpu"]]),
                        gpu_name=r["gpu"], tp=int(r["tp"]), dtype="fp8" if "FP8" in r["precision"] else "fp16",
                        batch=int(r["batch"]), input=int(r["input_len"]), output=int(r["output_len"]),
                        metric="ttft" if ttft else "throughput", value=value / 1e3 if ttft else value))
    return out
