"""Memory: training state, activations, inference rule, weights, KV cache, minimum GPUs."""

from ..explain import fmt
from ..formulas import memory as fm
from ..hardware import DTYPE_BYTES
from ..registry import Arg, user_function
from ..kinds import Boolean, Number
from ..results import Calc
from . import args as A

ARTICLE2 = "Article 2 (为什么多数情况下GPT-3.5比LLaMA 2更便宜, Aman Sanger 2023): seeds/002"
ARTICLE3 = "Article 3 (大模型训练相关参数估算): seeds/003"
GB = 1e9
SI_NOTE = "GB = 1e9 bytes (SI); 1 GiB = 2^30 bytes = 1.074 GB."

bytes_per_param = Arg("bytes_per_param", Number("byte", label="bytes"), "bytes of training state per parameter (mixed-precision AdamW: 20)", 20)
zero = Arg("zero", Number("", integer=True, minimum=0, strict=False, maximum=3, vector=False, label="ZeRO stage 0-3"),
           "ZeRO stage: 0 none, 1 optimizer, 2 + gradients, 3 + weights sharded over gpus", 0)


@user_function(
    "LLM_TRAIN_MEMORY_GB", unit="GB", category="memory",
    args=[A.params, bytes_per_param, A.gpus_opt, zero],
    formula="per GPU = P·b (ZeRO 0); P·(8 + 12/N) (ZeRO 1); P·(2 + 18/N) (ZeRO 2); P·b/N (ZeRO 3); b = 20 = (2+4) weights + (2+4) grads + (4+4) Adam",
    sources=(ARTICLE3 + " §5 (训练显存 ≈ 20 × 参数量)", "Rajbhandari et al. 2020, ZeRO (arXiv 1910.02054)"),
    assumptions=("Weights, gradients and optimizer state only: activations are LLM_ACTIVATION_MEMORY_GB.", SI_NOTE),
    example=((175e9,), 3500),
)
def train_memory_gb(params, bytes_per_param=20, gpus=1, zero=0):
    """Memory per GPU for weights, gradients and optimizer state in mixed-precision AdamW training."""
    b = fm.training_state_bytes(params, bytes_per_param, gpus, zero)
    return Calc(b / GB, lambda: [f"{fmt(params)} parameters, {fmt(bytes_per_param)} bytes each, ZeRO-{zero} over {fmt(gpus)} GPUs → {fmt(b, 'bytes')} = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_TRAIN_MIN_GPUS", unit="", result="count", category="memory",
    args=[A.params, A.gpu, bytes_per_param],
    formula="N = ⌈P·b / capacity⌉, capacity = the vendor's label in GB (80 GB → 80e9 bytes)",
    sources=(ARTICLE3 + " §5 (3500 GB / 80 GB → 44 GPUs)",),
    assumptions=("Capacity is the vendor label read as decimal GB, ~7% under the physical GiB, which stands in for the CUDA context, allocator fragmentation and ECC reserve.",
                 "Activations and communication buffers are not included: this is a lower bound."),
    example=((175e9, "A100-80GB"), 44),
)
def train_min_gpus(params, gpu, bytes_per_param=20):
    """Fewest GPUs whose memory holds one copy of the training state (weights, gradients, optimizer)."""
    need = params * bytes_per_param
    cap = gpu.memory_label_bytes
    n = fm.min_gpus_to_hold(need, cap)
    return Calc(n, lambda: [f"{fmt(need / GB, 'GB')} / {fmt(cap / GB, 'GB')} = {fmt(need / cap)} → {fmt(n)} GPUs"])


@user_function(
    "LLM_ACTIVATION_MEMORY_GB", unit="GB", category="memory",
    args=[A.model, Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "micro-batch size"),
          Arg("seq", Number("token", count=True, integer=True, maximum=1e8), "sequence length"),
          A.recompute, Arg("flash_attention", Boolean(), "attention kernels that do not store the score matrix", True)],
    formula="L · s·b·h · (34 + 5·a·s/h) bytes; 34·s·b·h with FlashAttention; 2·s·b·h with full recomputation",
    sources=("Korthikanti et al. 2022, Reducing Activation Recomputation in Large Transformer Models (arXiv 2205.05198), eq. 1",),
    assumptions=("16-bit activations, no tensor or sequence parallelism, GPT-style block.", SI_NOTE),
)
def activation_memory_gb(model, batch, seq, recompute=True, flash_attention=True):
    """Activation memory held for the backward pass of one micro-batch."""
    b = fm.activation_bytes(model.layers, model.hidden, model.heads, batch, seq, recompute, flash_attention)
    return Calc(b / GB, lambda: [f"{model.layers} layers × s={fmt(seq)} × b={fmt(batch)} × h={model.hidden} → {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_INFER_MEMORY_GB", unit="GB", category="memory",
    args=[A.params, A.dtype_weights, Arg("overhead", Number("", minimum=1.0, strict=False, maximum=100, label="factor"), "multiplier on the weights for activations and runtime", 1.2)],
    formula="M ≈ 1.2 × P × bytes per parameter",
    sources=(ARTICLE3 + " §5 (推理显存 ≈ 1.2 × 参数量 × 精度)",),
    assumptions=("The 20% is an empirical allowance for activations and runtime, not a KV-cache model: see LLM_KV_CACHE_GB.", SI_NOTE),
    example=((175e9, "fp32"), 840),
)
def infer_memory_gb(params, dtype="fp16", overhead=1.2):
    """Rule-of-thumb memory to serve a model: weights plus 20%."""
    b = fm.inference_rule_bytes(params, DTYPE_BYTES[dtype], overhead)
    return Calc(b / GB, lambda: [f"{fmt(overhead)} × {fmt(params)} × {fmt(DTYPE_BYTES[dtype])} B ({dtype}) = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_WEIGHTS_GB", unit="GB", category="memory",
    args=[A.params, A.dtype_weights],
    formula="W = P × bytes per parameter (fp32 4, bf16/fp16 2, fp8/int8 1, int4 0.5)",
    sources=(ARTICLE2 + " (LLaMA-2-70B: 140 GB in 16 bits)",),
    assumptions=("Quantisation scales/zero-points (a few % for group-wise int4) are not included.", SI_NOTE),
)
def weights_gb(params, dtype="fp16"):
    """Memory of the model weights in a numeric format."""
    b = fm.weight_bytes(params, DTYPE_BYTES[dtype])
    return Calc(b / GB, lambda: [f"{fmt(params)} × {fmt(DTYPE_BYTES[dtype])} B ({dtype}) = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_KV_BYTES_PER_TOKEN", unit="B", category="memory",
    args=[A.model, Arg("dtype", A.DTYPE, "numeric format of the KV cache", "fp16"), A.gpus_opt],
    formula="2 (K and V) × layers × kv_heads × head_dim × bytes / GPUs  (MLA: layers × (kv_lora_rank + rope_dim) × bytes)",
    sources=(ARTICLE2 + " (LLaMA-2-70B: 2·80·8·128·2 = 327,680 B, the article's “320 KB” is KiB)",),
    assumptions=("Tensor parallelism splits the KV heads evenly over the GPUs.",),
    example=(("llama-2-70b",), 327680),
)
def kv_bytes_per_token(model, dtype="fp16", gpus=1):
    """KV-cache bytes per token of context, per GPU."""
    v = model.kv_values_per_token()
    b = fm.kv_cache_bytes(v, 1, 1, DTYPE_BYTES[dtype], gpus)
    return Calc(b, lambda: [_kv_line(model) + f" × {fmt(DTYPE_BYTES[dtype])} B / {fmt(gpus)} = {fmt(b, 'B')}"])


def _kv_line(model):
    if model.attention == "mla":
        return f"{model.layers} × ({model.kv_lora_rank} + {model.qk_rope_head_dim})"
    return f"2 × {model.layers} × {model.kv_heads} × {model.head_dim}"


@user_function(
    "LLM_KV_CACHE_GB", unit="GB", category="memory",
    args=[A.model, Arg("tokens", Number("token", count=True, integer=True, maximum=1e9), "tokens of context per sequence"),
          Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences", 1),
          Arg("dtype", A.DTYPE, "numeric format of the KV cache", "fp16"), A.gpus_opt],
    formula="KV = bytes per token × tokens × batch",
    sources=(ARTICLE2 + " (4096 tokens, batch 1: 1.3 GB)",),
    assumptions=("Dense, unpaged cache without padding.", SI_NOTE),
)
def kv_cache_gb(model, tokens, batch=1, dtype="fp16", gpus=1):
    """KV-cache memory for a batch of sequences, per GPU."""
    per = fm.kv_cache_bytes(model.kv_values_per_token(), 1, 1, DTYPE_BYTES[dtype], gpus)
    b = per * tokens * batch
    return Calc(b / GB, lambda: [f"{fmt(per, 'B')} × {fmt(tokens)} tokens × {fmt(batch)} = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_SERVING_MEMORY_GB", unit="GB", category="memory",
    args=[A.model, Arg("batch", Number("", integer=True, maximum=1e7, label="sequences"), "sequences held at once"),
          Arg("tokens", Number("token", count=True, integer=True, maximum=1e9), "tokens of context per sequence (prompt + generated)"),
          A.dtype_weights, Arg("kv_dtype", A.DTYPE, "numeric format of the KV cache (default: same as dtype)", None), A.gpus_opt],
    formula="per GPU = P × bytes / g + KV bytes per token × tokens × batch / g",
    sources=(ARTICLE2 + " §5 (weights + KV cache must fit: 2 × 80 GB for LLaMA-2-70B)",),
    assumptions=("Weights and KV heads split evenly over g tensor-parallel GPUs; activation workspace and the runtime's reserve are not included (see LLM_MAX_BATCH's memory_utilization).", SI_NOTE),
)
def serving_memory_gb(model, batch, tokens, dtype="fp16", kv_dtype=None, gpus=1):
    """Memory per GPU to serve a model: its weights plus the KV cache of a batch, exactly."""
    w = fm.weight_bytes(model.params(), DTYPE_BYTES[dtype]) / gpus
    kv = fm.kv_cache_bytes(model.kv_values_per_token(), tokens, batch, DTYPE_BYTES[kv_dtype or dtype], gpus)
    return Calc((w + kv) / GB, lambda: [f"weights {fmt(w / GB, 'GB')} + KV {fmt(kv / GB, 'GB')} = {fmt((w + kv) / GB, 'GB')} per GPU"])
