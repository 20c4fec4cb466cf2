"""Performance model: training-step time and peak GPU memory (prefill/decode times are in inference)."""
import numpy as np

from .. import perf
from ..errors import ArgumentError
from ..explain import fmt
from ..formulas import training as ft
from ..kinds import Choice, Rate, short
from ..registry import Arg, Example, user_function
from ..results import Calc
from . import args as A
from .inference import _perf_notes

recompute = A.recompute.but(help="per-layer activation recomputation (torch.utils.checkpoint): one more forward, far less memory",
                            default=False)
train_mfu = A.mfu.but(help="override: fraction of the dense bf16 peak sustained, or an effective FLOP/s (\"400 TFLOP/s\"); "
                      "then t = k·P·B·T / (F_peak·MFU) as in article 3; default: the calibrated model", default=None)


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
    args=[A.model, A.gpu, A.micro_batch, A.seq, recompute, train_mfu, A.profile],
    formula="t = forward + backward (2× GEMM FLOPs, 2.5× attention FLOPs) [+ recomputed forward] + cross-entropy + AdamW/casts "
            "(bytes / bandwidth), per operator with the GPU profile; with mfu: t = k·P·B·T / (F_peak·MFU), k = 6 (8 with recompute)",
    sources=["perf-model", ("narayanan2021", "backward = 2× forward GEMM FLOPs"), ("dao2023", "attention backward"),
             ("article3", "§2 (8·P·D with recomputation, 6·P·D without)")],
    assumptions=("One GPU, no data/tensor parallelism; mixed-precision AdamW: fp32 master weights, bf16 autocast compute, "
                 "fused AdamW, full-vocabulary cross-entropy; recomputation is per layer.",),
    examples=[Example(("llama-3.2-1b", "H100", 4, 2048), 0.172, rel=0.02,
                      note="calibrated model (nothing fitted on training); measured 0.175 s on an H100 (h100-calibration.json)")],
)
def train_step_time(model, gpu, micro_batch, seq, recompute, mfu, profile):
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
    args=[A.model, A.gpu, kind, A.batch.but(help="sequences (micro-batch for train)"),
          A.prompt_tokens.but(help="prompt length (prefill), cached context (decode) or sequence length (train)"),
          A.gpus_tp, A.dtype_compute, A.kv_dtype, recompute, A.profile],
    formula="inference: weights + KV cache + transient activations + logits + runtime allocations; "
            "train: 12·P (fp32 weights, Adam m, v) + 2·P (bf16 copies) + saved activations + cross-entropy buffers",
    sources=[("perf-model", "peak memory, constants fitted on torch.cuda.max_memory_allocated of the H100 runs"), "korthikanti2022"],
    assumptions=("Memory allocated by the reference PyTorch engine, as torch.cuda.max_memory_allocated reports it: the CUDA "
                 "context (~0.5 GB) and allocator caching are not included.",
                 "GB = 1e9 bytes (SI)."),
    examples=[Example(("llama-3-8b", "H100", "decode", 64, 2048), 34.1, rel=0.01,
                      note="calibrated model; measured 34.4 GB on an H100 (h100-calibration.json)")],
)
def peak_memory(model, gpu, kind, batch, tokens, gpus, dtype, kv_dtype, recompute, profile):
    """Peak GPU memory of a prefill pass, a decode step or a training step."""
    settings = A.SERVING.record(gpus=gpus, dtype=dtype, kv_dtype=kv_dtype, profile=profile)
    est = perf.peak_memory(model, gpu, kind, batch, tokens, settings, recompute=recompute)
    value = est.value / 1e9
    notes = []
    if kind == "train" and (np.any(np.asarray(gpus) != 1) or dtype != "bf16"):
        notes.append("Training memory is for one GPU in bf16 mixed precision: gpus and dtype are not used.")
    return Calc(value if isinstance(value, np.ndarray) else float(value), lambda: est.lines, notes)
