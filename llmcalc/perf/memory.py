"""Peak GPU memory of a prefill pass, a decode step and a training step (reference engine).

Inference (``torch.cuda.max_memory_allocated`` of the calibration runs):

    peak = weights + KV cache + transient activations + logits + runtime allocations

* weights: P · bytes per parameter (exact count from the architecture);
* KV cache: B · (tokens or context + 1) · KV values per token · bytes per value;
* transient activations (prefill): the largest set of live intermediates, inside the MLP:
  n · (a_f · FFN + a_h · hidden) bytes for n = B·T tokens (gate/up output, SiLU·mul, the
  residual stream and norm temporaries); decode has n = B;
* logits: B · vocab · c_logit bytes (bf16 logits and their fp32 copy for argmax/sampling);
* runtime: c_w · weights (+ c_dec for a decode step): allocations of the runtime that are not
  tensors of the model (workspaces, the decode loop's buffers and CUDA-graph pool).

a_f, a_h, c_logit, c_w are fitted on the calibration file's ``peak_bytes`` by weighted linear
least squares (:mod:`llmcalc.perf.fit`). c_dec = 170 MB is read off the file, not fitted: a
decode step of the 1B, 7B and 8B models peaks 169-170 MB above a short prefill of the same model
whatever its size (the 13B and 32B runs hide it under a larger allocation). Fitting it instead
gives 227 MB in-sample but an unstable value when one model is left out.

Training (mixed-precision AdamW, bf16 autocast), at the end of the forward pass:

    peak = 12·P (fp32 weights, Adam m and v; gradients are freed by ``zero_grad`` and not yet
           allocated) + 2·P (bf16 weight copies cached by autocast; none with recomputation,
           whose forward runs outside the cache) + saved activations + cross-entropy buffers

* saved activations without recomputation: L · n · (s_h·h + 8·f) bytes (the MLP keeps its
  gate/up output, the SiLU output and the down-projection input: 8 bytes per FFN element);
* with per-layer recomputation: only the fp32 layer inputs, L · n · 4·h;
* cross-entropy: n · V · c_ce bytes (bf16 logits, their fp32 copy, log-softmax, …).
Sources: Korthikanti et al. 2022 (arXiv 2205.05198) for the activation accounting; PyTorch
autocast / ``zero_grad(set_to_none=True)`` semantics. s_h = 18.9 and c_ce = 15 solve the two
training cases without recomputation of the calibration file exactly (two numbers from two
cases); the recomputation case is then a check (+2.5%).
"""
from __future__ import annotations

import numpy as np

from ..hardware import DTYPE_BYTES

FEATURES = ("act_per_ffn", "act_per_hidden", "logit_bytes", "runtime_fraction")


def _f(x):
    return np.asarray(x, dtype=float) if isinstance(x, np.ndarray) else float(x)


def _sizes(model, kind, batch, size, gpus=1, dtype="bf16", kv_dtype=None):
    B, S = _f(batch), _f(size)
    w = float(model.params()) * DTYPE_BYTES[dtype] / gpus
    kv_tok = model.kv_values_per_token() * DTYPE_BYTES[kv_dtype or dtype] / (gpus if model.attention != "mla" else 1)
    if kind == "prefill":
        n = B * S
        kv = kv_tok * n
    else:
        n = B
        kv = kv_tok * B * (S + 1.0)
    ffn = (model.ffn if not model.experts else (model.experts_per_token + model.shared_experts) * (model.moe_ffn or model.ffn))
    return B, n, w, kv, ffn / gpus, model.hidden, model.vocab / gpus


def inference_features(model, kind, batch, size, gpus=1, dtype="bf16", kv_dtype=None):
    """(feature values matching FEATURES, fixed bytes = weights + KV cache) for the fit."""
    B, n, w, kv, f, h, V = _sizes(model, kind, batch, size, gpus, dtype, kv_dtype)
    return [n * f, n * h, B * V, w], w + kv


def inference_peak(model, prof, kind, batch, size, gpus=1, dtype="bf16", kv_dtype=None):
    """Peak bytes of one prefill pass (``size`` = prompt tokens) or decode step (``size`` = context).

    Returns (peak, parts) with parts = {weights, KV cache, activations, logits, runtime}.
    """
    m = prof.memory
    B, n, w, kv, f, h, V = _sizes(model, kind, batch, size, gpus, dtype, kv_dtype)
    act = n * (m["act_per_ffn"] * f + m["act_per_hidden"] * h)
    logits = B * V * m["logit_bytes"]
    runtime = m["runtime_fraction"] * w + (m["decode_bytes"] if kind == "decode" else 0.0)
    parts = {"weights": w, "KV cache": kv, "activations": act, "logits": logits, "runtime": runtime}
    return w + kv + act + logits + runtime, parts


def train_peak(model, prof, micro_batch, seq, recompute=False):
    """Peak bytes of one training step on one GPU. Returns (peak, parts)."""
    m = prof.memory
    B, S = _f(micro_batch), _f(seq)
    n = B * S
    P = float(model.params())
    f = model.ffn if not model.experts else (model.experts_per_token + model.shared_experts) * (model.moe_ffn or model.ffn)
    if recompute:
        acts = model.layers * n * 4.0 * model.hidden
        copies = 0.0
    else:
        acts = model.layers * n * (m["train_act_per_hidden"] * model.hidden + 8.0 * f)
        copies = 2.0 * P
    ce = n * model.vocab * m["train_logit_bytes"]
    parts = {"fp32 weights & Adam state": 12.0 * P, "bf16 weight copies": copies,
             "saved activations": acts, "cross-entropy buffers": ce}
    return 12.0 * P + copies + acts + ce, parts
