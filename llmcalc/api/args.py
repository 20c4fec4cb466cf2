"""Argument definitions shared by the user-facing functions: one name, one meaning, everywhere."""
from ..hardware import DTYPE_BYTES, normalize_dtype
from ..registry import Arg
from ..kinds import Boolean, Choice, Fraction, GPURef, ModelRef, Number, ParamsRef

MAX_GPUS = 10_000_000
DTYPE = Choice(tuple(DTYPE_BYTES), normalize_dtype)

params = Arg("params", ParamsRef(), "trainable parameters (175e9, \"175B\") or a model name")
tokens = Arg("tokens", Number("token", count=True), "training tokens (300e9, \"300B\")")
gpus = Arg("gpus", Number("GPU", integer=True, maximum=MAX_GPUS), "number of GPUs")
gpus_opt = Arg("gpus", Number("GPU", integer=True, maximum=MAX_GPUS), "GPUs the model is split over (tensor parallel)", 1)
gpu = Arg("gpu", GPURef(), "GPU name from the catalog (\"A100\", \"H100\", \"A100-80GB\")")
model = Arg("model", ModelRef(), "model name from the catalog (\"llama-2-70b\"), a Model, or a config.json path")
mfu = Arg("mfu", Fraction("FLOP/s"), "model FLOPs utilisation: fraction of the dense peak sustained (or an effective rate, \"140 TFLOP/s\")", 0.45)
recompute = Arg("recompute", Boolean(), "full activation recomputation (8 FLOPs per parameter per token instead of 6)", True)
days = Arg("days", Number("day"), "wall-clock deadline in days (30, \"4 weeks\")")
price = Arg("price", Number("USD/hour"), "price per GPU-hour in USD (2.21, \"$2.21/h\"); default: the catalog's dated price", None)
dtype_weights = Arg("dtype", DTYPE, "numeric format of the weights (fp32, bf16, fp16, fp8, int8, int4)", "fp16")
dtype_compute = Arg("dtype", DTYPE, "numeric format of weights and compute (bf16, fp16, fp8, int8, int4)", "bf16")
kv_dtype = Arg("kv_dtype", DTYPE, "numeric format of the KV cache (default: same as dtype)", None)
batch = Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences processed together")
context = Arg("context", Number("token", count=True, integer=True, maximum=1e9), "cached positions each sequence attends to")
prompt_tokens = Arg("tokens", Number("token", count=True, integer=True, maximum=1e9), "prompt length in tokens")
mfu_opt = Arg("mfu", Fraction("FLOP/s"), "override: fraction of the dense peak sustained, or an effective FLOP/s per GPU (\"200 TFLOP/s\"); default: the GPU's calibrated profile", None)
bw_opt = Arg("bandwidth_utilization", Fraction("byte/second"), "override: fraction of peak memory bandwidth achieved, or an effective rate per GPU (\"1.3 TB/s\"); default: the GPU's calibrated profile", None)
