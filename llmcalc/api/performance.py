"""Performance model: training-step time and peak GPU memory (prefill/decode times are in inference)."""
import numpy as np

from .. import perf
from ..explain import fmt
from ..formulas import training as ft
from ..registry import Arg, user_function
from ..kinds import Boolean, Choice, Fraction, Number, Rate, short
from ..results import Calc
from ..errors import ArgumentError
from . import args as A
from .inference import PERF, _perf_notes, profile

ARTICLE3 = "Article 3 (大模型训练相关参数估算): seeds/003 — 8·P·D (6·P·D without recomputation) at a utilisation"
PERF_TRAIN = ("llmcalc performance model (llmcalc/perf/engine.py train): forward + backward GEMMs (Narayanan et al. 2021), "
              "FlashAttention-2 backward (Dao 2023), fused AdamW; checked on the 3 training runs of llmcalc/data/h100-calibration.json")

micro_batch = Arg("micro_batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences per optimizer step on the GPU")
seq = Arg("seq", Number("token", count=True, integer=True, maximum=1e8), "sequence length in tokens")
recompute = Arg("recompute", Boolean(), "per-layer activation recomputation (torch.utils.checkpoint): one more forward, far less memory", False)
train_mfu = Arg("mfu", Fraction("FLOP/s"), "override: fraction of the dense bf16 peak sustained, or an effective FLOP/s (\"400 TFLOP/s\"); "
                "then t = k·P·B·T / (F_peak·MFU) as in article 3; default: the calibrated model", None)


def _kind(value, name):
    key = str(value).strip().lower()
    key = {"prompt": "prefill", "input": "prefill", "generate": "decode", "generation": "decode", "generated": "decode",
           "training": "train", "train_step": "train"}.get(key, key)
    if key not in ("prefill", "decode", "train"):
        raise ArgumentError(name, f"must be \"prefill\", \"decode\" or \"train\", got {short(value)}")
    return key


kind = Arg("kind", Choice(("prefill", "decode", "train"), _kind), "\"prefill\", \"decode\" (tokens = context) or \"train\" (batch = micro-batch, tokens = sequence length)")


@user_function(
    "LLM_TRAIN_STEP_TIME", unit="s", category="training",
    args=[A.model, A.gpu, micro_batch, seq, recompute, train_mfu, profile],
    formula="t = forward + backward (2× GEMM FLOPs, 2.5× attention FLOPs) [+ recomputed forward] + cross-entropy + AdamW/casts "
            "(bytes / bandwidth), per operator with the GPU profile; with mfu: t = k·P·B·T / (F_peak·MFU), k = 6 (8 with recompute)",
    sources=(PERF_TRAIN, ARTICLE3, PERF),
    assumptions=("One GPU, no data/tensor parallelism; mixed-precision AdamW: fp32 master weights, bf16 autocast compute, "
                 "fused AdamW, full-vocabulary cross-entropy; recomputation is per layer.",),
)
def train_step_time(model, gpu, micro_batch, seq, recompute=False, mfu=None, profile=None):
    """Time of one optimizer step of mixed-precision AdamW training on one GPU."""
    if mfu is not None:
        peak = gpu.peak_flops("bf16")
        u = Rate.resolve(mfu, peak, "mfu")
        p = float(model.params(active=True))
        tokens = micro_batch * seq
        c = ft.train_flops(p, tokens, recompute)
        t = ft.train_seconds(c, 1, peak, u)
        k = ft.flops_per_param_token(recompute)
        return Calc(t, lambda: [f"C = {fmt(k)} × {fmt(p)} × {fmt(tokens)} tokens = {fmt(c, 'FLOP')}",
                                f"t = {fmt(c)} / ({fmt(peak, 'FLOP/s')} × {fmt(u)}) = {fmt(t, 's')}"],
                    ["Explicit utilisation (article 3's method): attention FLOPs, the optimizer and memory-bound kernels are "
                     "inside the MFU."])
    est = perf.train_step(model, gpu, micro_batch, seq, recompute=recompute, profile=profile)
    return Calc(est.seconds, lambda: est.lines, _perf_notes(est))


@user_function(
    "LLM_PEAK_MEMORY", unit="GB", category="memory",
    args=[A.model, A.gpu, kind, Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences (micro-batch for train)"),
          Arg("tokens", Number("token", count=True, integer=True, maximum=1e9), "prompt length (prefill), cached context (decode) or sequence length (train)"),
          A.gpus_opt, A.dtype_compute, A.kv_dtype, recompute, profile],
    formula="inference: weights + KV cache + transient activations + logits + runtime allocations; "
            "train: 12·P (fp32 weights, Adam m, v) + 2·P (bf16 copies) + saved activations + cross-entropy buffers",
    sources=("llmcalc performance model (llmcalc/perf/memory.py), constants fitted on peak_bytes of llmcalc/data/h100-calibration.json "
             "(torch.cuda.max_memory_allocated of the reference engine)",
             "Korthikanti et al. 2022, Reducing Activation Recomputation in Large Transformer Models (arXiv 2205.05198)"),
    assumptions=("Memory allocated by the reference PyTorch engine, as torch.cuda.max_memory_allocated reports it: the CUDA "
                 "context (~0.5 GB) and allocator caching are not included.",
                 "GB = 1e9 bytes (SI)."),
)
def peak_memory(model, gpu, kind, batch, tokens, gpus=1, dtype="bf16", kv_dtype=None, recompute=False, profile=None):
    """Peak GPU memory of a prefill pass, a decode step or a training step."""
    est = perf.peak_memory(model, gpu, kind, batch, tokens, gpus=gpus, dtype=dtype, kv_dtype=kv_dtype,
                           recompute=recompute, profile=profile)
    value = est.seconds / 1e9
    notes = []
    if kind == "train" and (np.any(np.asarray(gpus) != 1) or dtype != "bf16"):
        notes.append("Training memory is for one GPU in bf16 mixed precision: gpus and dtype are not used.")
    return Calc(value if isinstance(value, np.ndarray) else float(value), lambda: est.lines, notes)
