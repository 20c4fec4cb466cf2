"""What the training framework does, as far as time is concerned: facts read from its code, not fitted.

The physics of a step (FLOPs, bytes, collectives) is the same in every framework; what differs is
which kernels exist (fused attention or not), what runs concurrently (is the gradient reduction
overlapped with the backward pass?) and a few formats. A :class:`Stack` records those facts.

* ``modern`` (the default for every user-facing function): Megatron-Core / NeMo / TorchTitan as
  of 2024–2025 — FlashAttention (cuDNN/FA2/FA3) so no s² activations, no dropout in LLM
  pre-training, fused RMSNorm/SwiGLU/RoPE kernels, the distributed optimizer with the gradient
  reduce-scatter overlapped with the backward pass and the parameter all-gather with the next
  forward pass (``--overlap-grad-reduce --overlap-param-gather``), the backward tensor-parallel
  collectives overlapped with the weight-gradient GEMMs (``LinearWithGradAccumulationAndAsync-
  Communication``), pipeline send/receive overlapped with compute in the interleaved schedule
  (``overlap_p2p_comm``), every tensor-parallel all-gather/reduce-scatter pipelined with the GEMM next
  to it (Transformer Engine userbuffers, ``--tp-comm-overlap``, on in NeMo's and Megatron-Core's
  performance recipes for tp > 1; it needs sequence parallelism, without which only the backward
  all-reduce is overlapped): all-gathers over the copy engines, reduce-scatters and the backward's bulk
  overlaps on 16 SMs taken from the GEMM they run beside (TE ``initialize_ub`` defaults: ``num_sm`` 16,
  ``set_sm_margin``), gradients reduced in fp32 (``--accumulate-allreduce-grads-in-fp32``,
  forced for bf16; FSDP2's default reduce dtype), accumulated across micro-batches by the weight-gradient
  GEMM itself (``gradient_accumulation_fusion``, on by default: the GEMM's epilogue adds into the fp32
  ``main_grad``, no separate pass).
* ``reference``: the plain-PyTorch engine the H100 calibration file was measured with; its
  memory-bound kernels use the byte template of the GPU profile (unfused norms, RoPE, SwiGLU).
* ``megatron-2020`` / ``megatron-2021`` / ``megatron-2022``: the Megatron-LM versions behind the
  published tables of Shoeybi et al. 2019 (README of Sept. 2020), Narayanan et al. 2021 and
  Korthikanti et al. 2022: attention as two batched GEMMs around a fused scale-mask-softmax and
  dropout over the b·a·s² scores (FlashAttention came in mid-2022), dropout 0.1 on attention
  probabilities and hidden states, the ``local`` DistributedDataParallel that all-reduces the
  gradients *after* the backward pass of the last micro-batch (``allreduce_gradients`` in
  ``train_step``), blocking pipeline send/receive (``send_forward_recv_backward``), weight gradients
  accumulated across micro-batches by autograd in the fp16 ``param.grad`` (``AccumulateGrad``: read the
  new gradient and the old, write the sum: 6 bytes per parameter and micro-batch; contiguous ``main_grad``
  buffers became the default only on 2021-08-18, commit e8fb052).
  2022 adds the asynchronous backward tensor-parallel all-reduce/reduce-scatter (hidden behind
  the weight-gradient GEMM), sequence parallelism and fp32 gradient buffers (Korthikanti et al.'s
  Figure 1 counts 18 bytes of model state per parameter), with the accumulation fused into the
  weight-gradient GEMM (``gradient_accumulation_fusion``, commit 83b1e42 of 2022-02-13, on by default with
  fp32 gradient accumulation).
* ``deepspeed-2021``: DeepSpeed ZeRO-3 of 2021 (v0.3–0.4) as run by Narayanan et al. 2021:
  gradients reduced with all-reduce rather than reduce-scatter (DeepSpeed issue #1173, answered
  by its authors), parameters gathered module by module with the next module's prefetched
  (``stage3_prefetch_bucket_size``) so communication overlaps compute, with the attention and
  dropout of the 2021 Megatron GPT model it trained. Its collectives over all ranks reached about
  one NIC's bandwidth per GPU, not the node's eight NICs that NCCL's multi-ring all-gather can
  drive: ``dp_own_nic``. This is *inferred* from Narayanan et al.'s Table 2, where doubling the
  GPUs at a fixed global batch leaves the step time unchanged (66.7 s at 768 and 1,536 GPUs for
  175B; 180 and 184 s at 1,120 and 2,240 for 530B), i.e. per-GPU-bandwidth-bound at 21–24 GB/s for
  the 8Ψ bytes each GPU moves — the 25 GB/s of one HDR NIC. No code fact explains it; it is the
  one stack property taken from results rather than from code.
* ``megatron-deepspeed-2022``: BLOOM's Megatron-DeepSpeed: the 2021 Megatron kernels (fused
  softmax, no FlashAttention) with dropout off, DeepSpeed's pipeline engine (blocking p2p) and
  its ZeRO-1 BF16 optimizer, gradients reduced in fp32 after the last micro-batch. After every
  micro-batch's backward its ``update_hp_grads`` adds each bf16 gradient into the fp32 copy:
  ``hp_grad.add_(lp.grad.to(float32))`` materialises the fp32 cast (read 2, write 4 bytes) and adds it
  (read 4 + 4, write 4): 18 bytes per parameter and micro-batch (DeepSpeed ``bf16_optimizer.py`` and
  ``pipe/engine.py`` ``_exec_backward_pass``, April 2022).

Byte counts of the memory-bound kernels (forward, per token and layer, bf16/fp16 = 2 bytes; the
backward moves ``elementwise_backward`` (profile) times as much):

* ``hidden_bytes`` per hidden column: the two norms (read 2 + write 2 each = 8) and the two residual
  additions (bias-dropout-add: read x 2 + residual 2, write 2, dropout mask 1 = 7 each; plain
  residual add: 6 each). Megatron GPT with dropout: 8 + 14 = 22; without dropout: 8 + 12 = 20.
* ``ffn_bytes`` per FFN column of this GPU: fused bias-GeLU reads 2 and writes 2 (4); SwiGLU
  reads the gate and up halves and writes one (6).
* ``qk_bytes`` per query/key column of this GPU: a fused RoPE reads and writes q and k (4); GPT
  with learned positions: 0.
* ``context_bytes`` per attention-output column: the 2021 attention permutes its [b·a, s, d]
  context back to [s, b, h] with a contiguous copy (read 2 + write 2); FlashAttention writes its
  output in place (0).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import ArgumentError


@dataclass(frozen=True)
class Stack:
    name: str
    flash_attention: bool = True       # fused attention: no s² scores in memory, causal tiles skipped
    dropout: bool = False              # dropout on attention probabilities and hidden states
    dp_overlap: bool = True            # gradient reduction overlapped with the last backward pass
    param_gather_overlap: bool = True  # ZeRO-1 parameter all-gather overlapped with the next forward
    tp_backward_overlap: bool = True   # backward TP collectives hidden behind the weight-gradient GEMM
    tp_forward_overlap: bool = True    # all TP collectives pipelined with the GEMMs (TE userbuffers, with SP)
    tp_overlap_sms: int = 16           # SMs the userbuffers reduce-scatter/bulk kernels take from the GEMMs
    p2p_overlap: bool = True           # pipeline send/receive overlapped with compute (interleaved)
    grad_reduce_bytes: float = 4.0     # bytes per gradient element in the data-parallel reduction
    grad_accumulation_bytes: float = 0.0  # moved per parameter and micro-batch to accumulate weight gradients
    #                                       in a separate pass (0: fused into the weight-gradient GEMM)
    grad_accumulation_first: bool = False  # the first micro-batch adds too (else its gradient is only stored)
    grad_allreduce_zero3: bool = False  # ZeRO-3 reduces gradients with all-reduce (DeepSpeed 2021)
    dp_own_nic: bool = False           # data-parallel collectives leave through each GPU's own NIC only
    context_bytes: float = 0.0         # per attention-output column (see module docstring)
    hidden_bytes: float | None = None  # None: 20 without dropout, 22 with
    profile_elementwise: bool = False  # memory-bound kernels from the GPU profile's byte template (unfused PyTorch)
    source: str = ""

    def hidden(self) -> float:
        return self.hidden_bytes if self.hidden_bytes is not None else (22.0 if self.dropout else 20.0)


_MEGATRON_2021 = dict(flash_attention=False, dropout=True, dp_overlap=False, param_gather_overlap=False,
                      tp_backward_overlap=False, tp_forward_overlap=False, p2p_overlap=False, grad_reduce_bytes=2.0,
                      grad_accumulation_bytes=6.0, context_bytes=4.0)

STACKS = {
    "modern": Stack("modern", source="Megatron-Core (core_v0.9+) / NeMo 2 / TorchTitan defaults for LLM pre-training"),
    "reference": Stack("reference", profile_elementwise=True, tp_backward_overlap=False, tp_forward_overlap=False,
                       p2p_overlap=False,
                       source="llmcalc's calibration engine (plain PyTorch, SDPA FlashAttention, fused AdamW, bf16 "
                              "autocast): the single-GPU H100 training runs of llmcalc/data/h100-calibration.json"),
    "megatron-2020": Stack("megatron-2020", **_MEGATRON_2021,
                           source="NVIDIA/Megatron-LM @ 2020-09 (README weak-scaling table; --checkpoint-activations, local DDP)"),
    "megatron-2021": Stack("megatron-2021", **_MEGATRON_2021,
                           source="NVIDIA/Megatron-LM v2.x (Narayanan et al. 2021, SC'21)"),
    "megatron-2022": Stack("megatron-2022", **{**_MEGATRON_2021, "tp_backward_overlap": True, "grad_reduce_bytes": 4.0,
                                               "grad_accumulation_bytes": 0.0},
                           source="NVIDIA/Megatron-LM v3.0 (Korthikanti et al. 2022: sequence parallelism, selective "
                                  "recomputation, async tensor-parallel backward communication)"),
    "deepspeed-2021": Stack("deepspeed-2021", **{**_MEGATRON_2021, "grad_allreduce_zero3": True, "dp_own_nic": True,
                                                 "dp_overlap": True, "grad_accumulation_bytes": 0.0},
                            source="DeepSpeed ZeRO-3 v0.3/0.4 (2021) training the Megatron GPT model (Narayanan et al. 2021 Table 2)"),
    "megatron-deepspeed-2022": Stack("megatron-deepspeed-2022", **{**_MEGATRON_2021, "dropout": False,
                                                                   "grad_reduce_bytes": 4.0,
                                                                   "grad_accumulation_bytes": 18.0,
                                                                   "grad_accumulation_first": True},
                                     source="bigscience-workshop/Megatron-DeepSpeed (BLOOM-176B, 2022): BF16_Optimizer "
                                            "with fp32 gradient reduction, dropout 0"),
}


# what users may call a stack (the ``framework`` argument); the keys of STACKS are accepted as they are
ALIASES = {"megatron-core": "modern", "megatron": "modern", "nemo": "modern", "torchtitan": "modern",
           "pytorch": "reference", "fsdp": "reference"}
AUTO = "auto"


def framework(value, name="framework") -> str:
    """The :data:`STACKS` key of a framework name (``"megatron-core"`` → ``"modern"``), ``"auto"``, or
    ArgumentError naming ``name``."""
    key = str(value).strip().lower()
    key = ALIASES.get(key, key)
    if key != AUTO and key not in STACKS:
        raise ArgumentError(name, f"unknown framework {str(value)[:40]!r}; use auto or one of {', '.join(STACKS)} "
                                  f"(or {', '.join(ALIASES)})")
    return key


def plain_pytorch(tp, pp, cp, shard):
    """Whether ``framework="auto"`` takes a layout for a plain-PyTorch job: fully sharded data parallelism alone
    (ZeRO-3 / FSDP with tp = pp = cp = 1). PyTorch FSDP and DeepSpeed ZeRO-3 run the model's own PyTorch code
    (Hugging Face or llm-foundry style: FlashAttention, unfused norms, activations and RoPE), which the
    ``reference`` stack times — the engine llmcalc's H100 runs were measured with; tensor, pipeline or context
    parallel layouts are Megatron-Core/NeMo jobs (``modern``). Broadcasts over arrays of layouts."""
    return (tp == 1) & (pp == 1) & (cp == 1) & (shard == 3)


def for_layout(name, tp, pp, cp, shard) -> str:
    """The stack key a framework name means for one layout (``auto`` resolved by :func:`plain_pytorch`)."""
    if name != AUTO:
        return name
    return "reference" if plain_pytorch(tp, pp, cp, shard) else "modern"


def stack(name="modern") -> Stack:
    if isinstance(name, Stack):
        return name
    if type(name) is str and name in STACKS:    # a canonical name (the default "modern")
        return STACKS[name]
    key = str(name or "modern").strip().lower()
    if key not in STACKS:
        raise ArgumentError("stack", f"unknown framework stack {name!r}; use one of {', '.join(STACKS)}")
    return STACKS[key]


def with_(s: Stack, **changes) -> Stack:
    return replace(s, **changes)
