"""Memory: training state, activations, inference rule, weights, KV cache, minimum GPUs."""

from ..explain import fmt
from ..formulas import memory as fm
from ..hardware import DTYPE_BYTES
from ..kinds import Boolean, Number
from ..registry import Arg, Example, user_function
from ..results import Calc
from . import args as A

GB = 1e9
SI_NOTE = "GB = 1e9 bytes (SI); 1 GiB = 2^30 bytes = 1.074 GB."

bytes_per_param = Arg("bytes_per_param", Number("byte", label="bytes"), "bytes of training state per parameter (mixed-precision AdamW: 20)", 20)
KV_DTYPE = A.dtype.but(help="numeric format of the KV cache")
zero = Arg("zero", Number("", integer=True, minimum=0, strict=False, maximum=3, vector=False, label="ZeRO stage 0-3"),
           "ZeRO stage: 0 none, 1 optimizer, 2 + gradients, 3 + weights sharded over gpus", 0)


@user_function(
    "LLM_TRAIN_MEMORY_GB", unit="GB", category="memory",
    args=[A.params, bytes_per_param, A.gpus.but(help="GPUs the training state is sharded over (with zero > 0)", default=1), zero],
    formula="per GPU = P·b (ZeRO 0); P·(8 + 12/N) (ZeRO 1); P·(2 + 18/N) (ZeRO 2); P·b/N (ZeRO 3); b = 20 = (2+4) weights + (2+4) grads + (4+4) Adam",
    sources=[("article3", "§5 (训练显存 ≈ 20 × 参数量)"), "rajbhandari2020"],
    assumptions=("Weights, gradients and optimizer state only: activations are LLM_ACTIVATION_MEMORY_GB.", SI_NOTE),
    examples=[Example((175e9,), 3500, note="article 3 §5: 20 bytes per parameter → 3500 GB"),
              Example((175e9, 20, 64, 3), 54.6875, note="ZeRO-3 over 64 GPUs: 3500 GB / 64")],
)
def train_memory_gb(params, bytes_per_param, gpus, zero):
    """Memory per GPU for weights, gradients and optimizer state in mixed-precision AdamW training."""
    b = fm.training_state_bytes(params, bytes_per_param, gpus, zero)
    return Calc(b / GB, lambda: [f"{fmt(params)} parameters, {fmt(bytes_per_param)} bytes each, ZeRO-{zero} over {fmt(gpus)} GPUs → {fmt(b, 'bytes')} = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_TRAIN_MIN_GPUS", unit="", result="count", category="memory",
    args=[A.params, A.gpu, bytes_per_param],
    formula="N = ⌈P·b / capacity⌉, capacity = the vendor's label in GB (80 GB → 80e9 bytes)",
    sources=[("article3", "§5 (3500 GB / 80 GB → 44 GPUs)")],
    assumptions=("Capacity is the vendor label read as decimal GB, ~7% under the physical GiB, which stands in for the CUDA context, allocator fragmentation and ECC reserve.",
                 "Activations and communication buffers are not included: this is a lower bound."),
    examples=[Example((175e9, "A100-80GB"), 44, note="article 3 §5: at least 44 GPUs of 80 GB")],
)
def train_min_gpus(params, gpu, bytes_per_param):
    """Fewest GPUs whose memory holds one copy of the training state (weights, gradients, optimizer)."""
    need = params * bytes_per_param
    cap = gpu.memory_label_bytes
    n = fm.min_gpus_to_hold(need, cap)
    return Calc(n, lambda: [f"{fmt(need / GB, 'GB')} / {fmt(cap / GB, 'GB')} = {fmt(need / cap)} → {fmt(n)} GPUs"])


@user_function(
    "LLM_ACTIVATION_MEMORY_GB", unit="GB", category="memory",
    args=[A.model, A.batch.but(help="micro-batch size"), A.seq, A.recompute,
          Arg("flash_attention", Boolean(), "attention kernels that do not store the score matrix", True)],
    formula="L · s·b·h · (34 + 5·a·s/h) bytes; 34·s·b·h with FlashAttention; 2·s·b·h with full recomputation",
    sources=[("korthikanti2022", "Eq. 1")],
    assumptions=("16-bit activations, no tensor or sequence parallelism, GPT-style block.", SI_NOTE),
    examples=[Example(("llama-2-70b", 1, 4096), 5.369, note="full recomputation: 80 layers × 2·s·b·h = 80 × 2 × 4096 × 8192 B"),
              Example(("llama-2-70b", 1, 4096, False), 91.27, note="FlashAttention, no recomputation: 80 × 34·s·b·h")],
)
def activation_memory_gb(model, batch, seq, recompute, flash_attention):
    """Activation memory held for the backward pass of one micro-batch."""
    b = fm.activation_bytes(model.layers, model.hidden, model.heads, batch, seq, recompute, flash_attention)
    return Calc(b / GB, lambda: [f"{model.layers} layers × s={fmt(seq)} × b={fmt(batch)} × h={model.hidden} → {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_INFER_MEMORY_GB", unit="GB", category="memory",
    args=[A.params, A.dtype, Arg("overhead", Number("", minimum=1.0, strict=False, maximum=100, label="factor"), "multiplier on the weights for activations and runtime", 1.2)],
    formula="M ≈ 1.2 × P × bytes per parameter",
    sources=[("article3", "§5 (推理显存 ≈ 1.2 × 参数量 × 精度)")],
    assumptions=("The 20% is an empirical allowance for activations and runtime, not a KV-cache model: see LLM_KV_CACHE_GB.", SI_NOTE),
    examples=[Example((175e9, "fp32"), 840, note="article 3 §5: 1.2 × 175B × 4 B"),
              Example((175e9,), 420, note="article 3 §5: fp16 half of that")],
)
def infer_memory_gb(params, dtype, overhead):
    """Rule-of-thumb memory to serve a model: weights plus 20%."""
    b = fm.inference_rule_bytes(params, DTYPE_BYTES[dtype], overhead)
    return Calc(b / GB, lambda: [f"{fmt(overhead)} × {fmt(params)} × {fmt(DTYPE_BYTES[dtype])} B ({dtype}) = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_WEIGHTS_GB", unit="GB", category="memory",
    args=[A.params, A.dtype],
    formula="W = P × bytes per parameter (fp32 4, bf16/fp16 2, fp8/int8 1, int4 0.5)",
    sources=[("article2", "(LLaMA-2-70B: 140 GB in 16 bits)")],
    assumptions=("Quantisation scales/zero-points (a few % for group-wise int4) are not included.", SI_NOTE),
    examples=[Example((70e9,), 140, note="article 2: 140 GB in 16 bits"),
              Example((70e9, "int4"), 35, note="article 2: 4-bit is a quarter of 16-bit")],
)
def weights_gb(params, dtype):
    """Memory of the model weights in a numeric format."""
    b = fm.weight_bytes(params, DTYPE_BYTES[dtype])
    return Calc(b / GB, lambda: [f"{fmt(params)} × {fmt(DTYPE_BYTES[dtype])} B ({dtype}) = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_KV_BYTES_PER_TOKEN", unit="B", category="memory",
    args=[A.model, KV_DTYPE, A.gpus_tp],
    formula="2 (K and V) × layers × kv_heads × head_dim × bytes / GPUs  (MLA: layers × (kv_lora_rank + rope_dim) × bytes)",
    sources=[("article2", "(LLaMA-2-70B: 2·80·8·128·2 = 327,680 B, the article's “320 KB” is KiB)")],
    assumptions=("Tensor parallelism splits the KV heads evenly over the GPUs.",),
    examples=[Example(("llama-2-70b",), 327680, note="article 2: 2 × 80 × 8 × 128 × 2 B (“320 KB”)")],
)
def kv_bytes_per_token(model, dtype, gpus):
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
    args=[A.model, A.prompt_tokens.but(help="tokens of context per sequence"), A.batch.but(help="sequences", default=1),
          KV_DTYPE, A.gpus_tp],
    formula="KV = bytes per token × tokens × batch",
    sources=[("article2", "(4096 tokens, batch 1: 1.3 GB)")],
    assumptions=("Dense, unpaged cache without padding.", SI_NOTE),
    examples=[Example(("llama-2-70b", 4096), 1.342, note="article 2: 4096 tokens ≈ 1.3 GB (327,680 B × 4096)")],
)
def kv_cache_gb(model, tokens, batch, dtype, gpus):
    """KV-cache memory for a batch of sequences, per GPU."""
    per = fm.kv_cache_bytes(model.kv_values_per_token(), 1, 1, DTYPE_BYTES[dtype], gpus)
    b = per * tokens * batch
    return Calc(b / GB, lambda: [f"{fmt(per, 'B')} × {fmt(tokens)} tokens × {fmt(batch)} = {fmt(b / GB, 'GB')}"])


@user_function(
    "LLM_SERVING_MEMORY_GB", unit="GB", category="memory",
    args=[A.model, A.batch.but(help="sequences held at once"),
          A.prompt_tokens.but(help="tokens of context per sequence (prompt + generated)"), A.dtype, A.kv_dtype, A.gpus_tp],
    formula="per GPU = P × bytes / g + KV bytes per token × tokens × batch / g",
    sources=[("article2", "§5 (weights + KV cache must fit: 2 × 80 GB for LLaMA-2-70B)")],
    assumptions=("Weights and KV heads split evenly over g tensor-parallel GPUs; activation workspace and the runtime's reserve are not included (see LLM_MAX_BATCH's memory_utilization).", SI_NOTE),
    examples=[Example(("llama-2-70b", 8, 4096, "fp16", None, 2), 74.34,
                      note="(68.98e9 × 2 B + 8 × 4096 × 327,680 B) / 2 GPUs")],
)
def serving_memory_gb(model, batch, tokens, dtype, kv_dtype, gpus):
    """Memory per GPU to serve a model: its weights plus the KV cache of a batch, exactly."""
    w = fm.weight_bytes(model.params(), DTYPE_BYTES[dtype]) / gpus
    kv = fm.kv_cache_bytes(model.kv_values_per_token(), tokens, batch, DTYPE_BYTES[kv_dtype or dtype], gpus)
    return Calc((w + kv) / GB, lambda: [f"weights {fmt(w / GB, 'GB')} + KV {fmt(kv / GB, 'GB')} = {fmt((w + kv) / GB, 'GB')} per GPU"])
