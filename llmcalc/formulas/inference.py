"""Serving arithmetic with explicit utilisations: the roofline of article 2 (Sanger, 2023).

These are the articles' formulas: time = max(compute / effective FLOP/s, bytes / effective
bandwidth), summed over GPUs that split the work evenly (tensor parallelism with no
communication cost). The calibrated per-operator model that predicts real runs is
:mod:`llmcalc.perf`.
"""
import numpy as np


def compute_bound_tokens(peak_flops, bandwidth, bytes_per_param=2.0):
    """Prompt length at which prefill turns compute-bound: N* = F·b / (2·B).

    Prefill of N tokens does 2·P·N FLOPs and reads the P·b bytes of weights once, so it is
    memory-bound while 2·P·N / F < P·b / B. Source: article 2 §4 (“当序列长度 N>156 时,计算就
    成为了限制因素”: 312 TFLOP/s ÷ 2 TB/s = 156 for 16-bit weights).
    """
    return peak_flops * bytes_per_param / (2.0 * bandwidth)


def forward_flops(params, tokens):
    """Forward FLOPs = 2·P per token (one multiply and one add per weight), attention excluded.

    Source: article 2 §2; Kaplan et al. 2020. For LLaMA-2-70B at 8K context, attention adds
    ~10.5 GFLOPs to 140 GFLOPs per token (article 2).
    """
    return 2.0 * params * tokens


def attention_flops(layers, heads, head_dim, query_tokens, context):
    """Attention-score FLOPs: 4·L·a·d per query per attended position (QKᵀ and A·V).

    Source: article 2 §2 and Kaplan et al. 2020 (2·n_layer·n_ctx·d_attn forward, ×2 for the two
    matmuls). A causal prefill of N tokens attends N(N+1)/2 positions in all.
    """
    return 4.0 * layers * heads * head_dim * query_tokens * context


def prefill_seconds(flops, weight_bytes, gpus, flops_per_gpu, bandwidth_per_gpu):
    """t_prefill = max(FLOPs / (g·F_eff), weights / (g·B_eff)).

    Source: article 2 §4 (512 tokens on 2 × A100 at 200 TFLOP/s effective: 0.17 s; batch 64 on
    8 GPUs: 2.9 s). Assumes an even split over g GPUs and no communication time.
    """
    return np.maximum(flops / (gpus * flops_per_gpu), weight_bytes / (gpus * bandwidth_per_gpu))


def decode_step_seconds(weight_bytes, kv_bytes, flops, gpus, flops_per_gpu, bandwidth_per_gpu):
    """t_step = max((weights + KV read) / (g·B_eff), FLOPs / (g·F_eff)).

    Every generated token re-reads all weights and each sequence's KV cache. Source: article 2 §5
    (batch 1 on 2 × A100 at 1.3 TB/s effective: 2·1.3e12 / 140e9 = 18.6 tokens/s).
    """
    return np.maximum((weight_bytes + kv_bytes) / (gpus * bandwidth_per_gpu), flops / (gpus * flops_per_gpu))


def cost_per_1k_tokens(price_per_hour, tokens_per_second):
    """$/1K tokens = price per hour / 3600 / (tokens per second) × 1000.

    Source: article 2 (2 × A100 at $4.42/h = $0.00123/s; 18.6 tokens/s → $0.066 per 1K).
    price_per_hour is for all the GPUs that produce tokens_per_second.
    """
    return price_per_hour / 3600.0 / tokens_per_second * 1000.0
