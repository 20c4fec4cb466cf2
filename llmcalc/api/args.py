"""Arguments shared by the user-facing functions: each declared once (name, kind, help, default).

A function that needs another help text or default for the same argument uses ``arg.but(…)``.
:data:`SERVING` groups the optional settings every prefill/decode/cost function takes and hands
them to the implementation as one record (``serving.gpus``, ``serving.dtype``, …).
"""
from ..hardware import DTYPE_BYTES, normalize_dtype
from ..kinds import (Boolean, Choice, FilePath, Fraction, FractionOrAuto, GPURef, ModelOrParams, ModelRef, Number,
                     ParamsRef, PlanRef, RecomputeMode, Text)
from ..parallel.stack import AUTO, STACKS, framework as _framework
from ..perf.serving_engine import engine_names
from ..registry import Arg, Group

MAX_GPUS = 10_000_000
DTYPE = Choice(tuple(DTYPE_BYTES), normalize_dtype)
SEQUENCES = Number("", integer=True, maximum=1e7, label="sequences")
TOKENS = Number("token", count=True, integer=True, maximum=1e9)

# what is computed on
params = Arg("params", ParamsRef(), "trainable parameters (175e9, \"175B\") or a model name")
model = Arg("model", ModelRef(), "model name from the catalog (\"llama-2-70b\"), a Model, or a config.json path")
model_or_params = Arg("model", ModelOrParams(), "model name (\"llama-2-70b\"), Model, config.json path, or a parameter "
                      "count for the articles' roofline")
gpu = Arg("gpu", GPURef(), "GPU name from the catalog (\"A100\", \"H100\", \"A100-80GB\")")
gpus = Arg("gpus", Number("GPU", integer=True, maximum=MAX_GPUS), "number of GPUs")
gpus_tp = gpus.but(help="GPUs the model is split over (tensor parallel)", default=1)

# training
tokens = Arg("tokens", Number("token", count=True), "training tokens (300e9, \"300B\")")
days = Arg("days", Number("day"), "wall-clock deadline in days (30, \"4 weeks\")")
mfu = Arg("mfu", Fraction("FLOP/s"), "model FLOPs utilisation: fraction of the dense peak sustained (or an effective "
          "rate, \"140 TFLOP/s\")", 0.45)
recompute = Arg("recompute", Boolean(), "full activation recomputation (8 FLOPs per parameter per token instead of 6)", True)
micro_batch = Arg("micro_batch", SEQUENCES, "sequences per optimizer step on the GPU")
seq = Arg("seq", Number("token", count=True, integer=True, maximum=1e8), "sequence length in tokens")
price = Arg("price", Number("USD/hour"), "price per GPU-hour in USD (2.21, \"$2.21/h\"); default: the catalog's dated price", None)
# the articles' training functions accept "auto" when params is a model: the cluster model predicts the MFU
params_or_model = params.but(kind=ParamsRef(keep_model=True))
mfu_or_auto = mfu.but(kind=FractionOrAuto("FLOP/s"), help="model FLOPs utilisation: fraction of the dense peak sustained, "
                      "an effective rate (\"140 TFLOP/s\"), or \"auto\": the best parallel layout's predicted MFU "
                      "(params must then be a model)")

# cluster training
plan = Arg("plan", PlanRef(), "parallel layout, e.g. \"tp=8 pp=12 dp=16\" (also cp=, ep=, vp=, mb= (omitted: the best), "
           "sp=on|off, zero=0|1|2|3|fsdp); GPUs = tp·pp·cp·dp")
global_batch = Arg("global_batch", SEQUENCES, "sequences per optimizer step, over the whole cluster")
train_recompute = Arg("recompute", RecomputeMode(), "activation recomputation: full, selective, none, or auto (the fastest "
                      "that fits); TRUE/FALSE = full/none", "auto")
train_dtype = Arg("dtype", Choice(("bf16", "fp16", "fp8", "fp4")), "training precision: bf16, fp16, or fp8/fp4 GEMMs "
                  "(Transformer Engine; the rest in 16-bit)", "bf16")
framework = Arg("framework", Choice((AUTO, *STACKS), _framework), "training framework whose kernels and overlaps are "
                "modelled: modern (Megatron-Core / NeMo / TorchTitan: FlashAttention, fused kernels, overlapped "
                "collectives), reference (plain PyTorch: unfused kernels, as llmcalc's H100 runs; alias pytorch, fsdp), "
                "megatron-2020/2021/2022 (the Megatron-LM versions of the published tables), deepspeed-2021, "
                "megatron-deepspeed-2022 (BLOOM); auto: reference for a fully sharded data-parallel layout (zero=3 or "
                "fsdp alone: PyTorch FSDP / DeepSpeed ZeRO-3 jobs), modern otherwise", AUTO)
cluster = Arg("cluster", Text(200), "network overrides, e.g. \"domain=72 scaleup=900GB/s scaleout=800Gb/s\" (scale-up domain "
              "size, and per-GPU bandwidth per direction of the scale-up link and the NIC); default: the GPU's typical "
              "cluster (llmcalc/data/networks.csv)", None)

# serving
batch = Arg("batch", SEQUENCES, "sequences processed together")
context = Arg("context", TOKENS, "cached positions each sequence attends to")
prompt_tokens = Arg("tokens", TOKENS, "prompt length in tokens")
dtype = Arg("dtype", DTYPE, "numeric format of the weights (fp32, bf16, fp16, fp8, int8, int4)", "fp16")
dtype_compute = dtype.but(help="numeric format of weights and compute (bf16, fp16, fp8, int8, int4)", default="bf16")
kv_dtype = Arg("kv_dtype", DTYPE, "numeric format of the KV cache (default: same as dtype)", None)
mfu_override = mfu.but(help="override: fraction of the dense peak sustained, or an effective FLOP/s per GPU "
                       "(\"200 TFLOP/s\"); default: the GPU's calibrated profile", default=None)
bandwidth_utilization = Arg("bandwidth_utilization", Fraction("byte/second"), "override: fraction of peak memory bandwidth "
                            "achieved, or an effective rate per GPU (\"1.3 TB/s\"); default: the GPU's calibrated profile", None)
profile = Arg("profile", FilePath(400), "GPU profile file written by `llmcalc calibrate` (default: built-in profile)", None)
engine = Arg("engine", Choice(("reference", *engine_names())), "kernels modelled: reference (the PyTorch engine the H100 "
             "runs were measured with), trtllm (current TensorRT-LLM), trtllm-0.9 (the version of its published tables)",
             "reference")

SERVING = Group("serving", (gpus_tp, dtype_compute, kv_dtype, mfu_override, bandwidth_utilization, profile, engine))
