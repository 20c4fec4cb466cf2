"""Memory: training state, activations, inference rule of thumb, weights, KV cache, fits."""
import numpy as np

# Mixed-precision AdamW, bytes per trainable parameter (article 3 §5):
# (2 + 4) weights fp16 + fp32, (2 + 4) gradients fp16 + fp32, (4 + 4) Adam moments m, v.
TRAIN_BYTES = {"weights": 2.0, "master_weights": 4.0, "grads": 2.0, "fp32_grads": 4.0, "adam_m": 4.0, "adam_v": 4.0}
TRAIN_BYTES_PER_PARAM = sum(TRAIN_BYTES.values())  # 20


def training_state_bytes(params, bytes_per_param=TRAIN_BYTES_PER_PARAM, gpus=1, zero=0):
    """Per-GPU bytes of weights, gradients and optimizer state.

    Formula (ZeRO stage z over N data-parallel GPUs, article's 20-byte split 2+4 | 2+4 | 4+4):
      z=0: P·b
      z=1: P·(2 + 6) + P·12/N      (fp32 master weights and Adam moments sharded)
      z=2: P·2 + P·18/N            (gradients sharded too)
      z=3: P·b/N                   (everything sharded)
    Sources: article 3 §5 (20 bytes/parameter, “训练显存 ≈ 20 × 模型参数量”); Rajbhandari et al.
    2020, ZeRO (arXiv 1910.02054) §5. With a custom bytes_per_param b the shardable part keeps
    the article's proportions (12/20 optimizer, 6/20 gradients). GPT-3 175B, z=0: 3.5e12 bytes.
    """
    b = bytes_per_param
    optimizer = b * 12.0 / 20.0
    grads = b * 6.0 / 20.0
    weights = b - optimizer - grads
    if zero == 0:
        per_param = b
    elif zero == 1:
        per_param = weights + grads + optimizer / gpus
    elif zero == 2:
        per_param = weights + (grads + optimizer) / gpus
    else:
        per_param = b / gpus
    return params * per_param


def activation_bytes(layers, hidden, heads, batch, seq, recompute=False, flash_attention=True, bytes_per_value=2.0):
    """Activation memory held for the backward pass.

    Formula (Korthikanti et al. 2022, arXiv 2205.05198, eq. 1 and §4; 16-bit activations, no tensor
    parallelism): per layer s·b·h·(34 + 5·a·s/h) bytes; with FlashAttention-style kernels the
    a·s² score matrices are not stored, leaving 34·s·b·h; with full recomputation only each
    layer's input is kept, 2·s·b·h. Scales with bytes_per_value/2 for other activation widths.
    """
    scale = bytes_per_value / 2.0
    if recompute:
        per_layer = 2.0 * seq * batch * hidden
    elif flash_attention:
        per_layer = 34.0 * seq * batch * hidden
    else:
        per_layer = seq * batch * hidden * (34.0 + 5.0 * heads * seq / hidden)
    return layers * per_layer * scale


def inference_rule_bytes(params, bytes_per_param=2.0, overhead=1.2):
    """Inference memory ≈ 1.2 × P × bytes per parameter.

    Source: article 3 §5 (推理显存 ≈ 1.2 × 模型参数量 × 精度): weights plus ~20% for activations
    and framework overhead (an empirical allowance, not a KV-cache model). GPT-3 fp32: 840 GB.
    """
    return overhead * params * bytes_per_param


def weight_bytes(params, bytes_per_param=2.0):
    """Weights = P × bytes per parameter (fp32 4, bf16/fp16 2, fp8/int8 1, int4 0.5).

    LLaMA-2-70B in fp16: 68.98e9 × 2 = 138 GB (article 2: “140GB”). Quantisation scales and
    zero-points (a few % for group-wise int4) are not included.
    """
    return params * bytes_per_param


def kv_cache_bytes(values_per_token, tokens, batch=1, bytes_per_value=2.0, gpus=1):
    """KV cache = values/token × bytes × tokens × batch / tensor-parallel GPUs.

    values/token = 2 (K and V) · layers · kv_heads · head_dim for MHA/GQA/MQA, or
    layers · (kv_lora_rank + rope_dim) for MLA. Source: article 2 (LLaMA-2-70B: 2·80·8·128·2 B =
    327,680 B = 320 KiB per token; 4096 tokens ≈ 1.34 GB); tensor parallelism splits the KV heads
    across GPUs (Megatron-LM). Assumes a dense, unpaged cache with no padding.
    """
    return values_per_token * bytes_per_value * tokens * batch / gpus


def min_gpus_to_hold(total_bytes, capacity_bytes):
    """N = max(1, ⌈total / capacity⌉). Source: article 3 §5 (3500 GB / 80 GB → 44 A100-80GB)."""
    return np.maximum(np.ceil(total_bytes / capacity_bytes - 1e-9), 1.0)


def max_batch(free_bytes, kv_bytes_per_sequence):
    """B_max = ⌊free memory / KV bytes per sequence⌋ (free = capacity − weights − reserve).

    Source: article 2 §5 (25 GB free on 2×A100 after 135 GB of weights; 1.3 GB per 4096-token
    sequence). Ignores activation workspace beyond the reserve and paging granularity.
    """
    return np.floor(np.maximum(free_bytes, 0.0) / kv_bytes_per_sequence + 1e-9)
