"""A transformer's architecture, and the exact counts that follow from it.

``Model`` is the pydantic description of a decoder-only transformer; catalog entries, Hugging Face
``config.json`` files and hand-written ``Model(layers=…, hidden=…)`` all end up as one. Its methods
are the exact per-architecture formulas (parameter count, KV-cache bytes per token); the simple
article formulas (``12·L·h²``) live in :mod:`llmcalc.formulas.params`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AttentionKind = Literal["mha", "gqa", "mqa", "mla"]
FfnKind = Literal["swiglu", "geglu", "gelu", "relu"]


class Model(BaseModel):
    """Architecture of a decoder-only transformer.

    Only ``layers``, ``hidden``, ``heads`` and ``vocab`` are required; the rest default to a
    LLaMA-style block (RMSNorm, SwiGLU MLP with ``ffn`` = 4·hidden·2/3 rounded, untied
    embeddings, no biases, ``kv_heads = heads``, ``head_dim = hidden / heads``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    layers: int = Field(gt=0, le=100_000)
    hidden: int = Field(gt=0, le=10_000_000)
    heads: int = Field(gt=0, le=100_000)
    vocab: int = Field(default=32000, ge=0, le=100_000_000)
    kv_heads: int | None = Field(default=None, gt=0, le=100_000)
    head_dim: int | None = Field(default=None, gt=0, le=100_000)
    ffn: int | None = Field(default=None, gt=0, le=100_000_000)
    ffn_type: FfnKind = "swiglu"
    tied_embeddings: bool = False
    max_context: int = Field(default=4096, gt=0)
    position: Literal["rope", "learned", "alibi", "relative"] = "rope"
    attention: AttentionKind | None = None
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    norms_per_layer: int = 2
    embedding_norm: bool = False
    # attention and MLP read the same normalised input and their outputs are added to the residual
    # together (GPT-J, GPT-NeoX, Falcon, PaLM): one tensor-parallel all-reduce per layer, not two
    parallel_attention: bool = False
    linear_bias: bool = False
    qkv_bias: bool = False
    # Multi-head latent attention (DeepSeek-V2/V3)
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # Mixture of experts
    experts: int = 0
    experts_per_token: int = 0
    shared_experts: int = 0
    moe_ffn: int | None = None
    dense_layers: int = 0
    source: str = ""

    @model_validator(mode="after")
    def _fill_defaults(self):
        set_ = object.__setattr__
        if self.kv_heads is None:
            set_(self, "kv_heads", self.heads)
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.head_dim is None:
            if self.hidden % self.heads:
                raise ValueError(f"hidden ({self.hidden}) is not a multiple of heads ({self.heads}); give head_dim")
            set_(self, "head_dim", self.hidden // self.heads)
        if self.ffn is None:
            gated = self.ffn_type in ("swiglu", "geglu")
            set_(self, "ffn", int(round(8 * self.hidden / 3 / 256)) * 256 if gated else 4 * self.hidden)
        if self.attention is None:
            kind = "mla" if self.kv_lora_rank else (
                "mha" if self.kv_heads == self.heads else "mqa" if self.kv_heads == 1 else "gqa")
            set_(self, "attention", kind)
        if self.experts and not self.experts_per_token:
            raise ValueError("a mixture-of-experts model needs experts_per_token")
        return self

    # ------------------------------------------------------------------ structure
    @property
    def gated(self) -> bool:
        """SwiGLU/GeGLU MLPs have three matrices (gate, up, down) of ``ffn`` columns; GELU/ReLU two."""
        return self.ffn_type in ("swiglu", "geglu")

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.experts else 0

    def _norm_params(self, width: int) -> int:
        return width * (2 if self.norm == "layernorm" else 1)

    def attention_params(self) -> int:
        """Parameters of one attention block (projections and their biases)."""
        h, nq, nkv, d = self.hidden, self.heads, self.kv_heads, self.head_dim
        if self.attention == "mla":
            rope, v = self.qk_rope_head_dim or 0, self.v_head_dim or d
            q = (h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * nq * (d + rope)
                 if self.q_lora_rank else h * nq * (d + rope))
            kv = h * (self.kv_lora_rank + rope) + self.kv_lora_rank + self.kv_lora_rank * nq * (d + v)
            return q + kv + nq * v * h
        p = h * nq * d + 2 * h * nkv * d + nq * d * h
        if self.linear_bias:
            p += nq * d + 2 * nkv * d + h
        elif self.qkv_bias:
            p += nq * d + 2 * nkv * d
        return p

    def mlp_params(self, ffn: int | None = None) -> int:
        """Parameters of one dense MLP of width ``ffn``: 3·h·ffn when gated, else 2·h·ffn (+ biases)."""
        f = ffn or self.ffn
        p = (3 if self.gated else 2) * self.hidden * f
        if self.linear_bias:
            p += (2 * f if self.gated else f) + self.hidden
        return p

    def moe_params(self, active: bool = False) -> int:
        """One MoE block: routed experts (all, or the ``experts_per_token`` used), shared experts, router."""
        n = self.experts_per_token if active else self.experts
        f = self.moe_ffn or self.ffn
        return (n + self.shared_experts) * self.mlp_params(f) + self.hidden * self.experts

    def embedding_params(self) -> int:
        p = self.vocab * self.hidden
        if self.position == "learned":
            p += self.max_context * self.hidden
        if self.embedding_norm:
            p += self._norm_params(self.hidden)
        return p

    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab * self.hidden

    def params(self, active: bool = False) -> int:
        """Exact parameter count.

        Formula: embeddings (+ learned positions) + L·(attention + norms) + dense-layer MLPs +
        MoE-layer experts + final norm + LM head (0 when tied). ``active=True`` counts only the
        ``experts_per_token`` routed experts of each MoE layer (the parameters a token touches).
        Source: the architecture definitions in each model's Hugging Face ``modeling_*.py``;
        cross-checked against published counts in ``llmcalc/data/models.csv``.
        """
        per_layer = self.attention_params() + self.norms_per_layer * self._norm_params(self.hidden)
        dense = self.layers - self.moe_layers
        total = self.layers * per_layer + dense * self.mlp_params()
        total += self.moe_layers * self.moe_params(active)
        total += self.embedding_params() + self._norm_params(self.hidden) + self.lm_head_params()
        return int(total)

    def non_embedding_params(self, active: bool = False) -> int:
        """Parameters excluding the input embedding table (what a matmul per token touches, LM head included)."""
        return self.params(active) - self.embedding_params()

    def kv_values_per_token(self) -> int:
        """Numbers cached per token across all layers.

        MHA/GQA/MQA: ``2 (K and V) · layers · kv_heads · head_dim``.
        MLA: ``layers · (kv_lora_rank + qk_rope_head_dim)`` (the compressed latent and the shared
        RoPE key; DeepSeek-V2 paper §2.1.2).
        """
        if self.attention == "mla":
            return self.layers * (self.kv_lora_rank + (self.qk_rope_head_dim or 0))
        return 2 * self.layers * self.kv_heads * self.head_dim

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_hf_config(cls, config: dict | str | Path, name: str | None = None) -> "Model":
        """Build a Model from a Hugging Face ``config.json`` (a path or the parsed dict).

        Reads the fields of the LLaMA/Mistral/Mixtral/Qwen2/Gemma2/DeepSeek-V3/GPT-2/OPT/Falcon
        config classes (``hidden_size``/``n_embd``, ``num_hidden_layers``/``n_layer``, …).
        """
        if not isinstance(config, dict):
            path = Path(config)
            config = json.loads(path.read_text(encoding="utf-8"))
            name = name or config.get("_name_or_path") or path.parent.name or path.stem
        c = config

        def get(*keys, default=None):
            for k in keys:
                if c.get(k) is not None:
                    return c[k]
            return default

        mtype = str(c.get("model_type", "")).lower()
        hidden = get("hidden_size", "n_embd", "d_model")
        layers = get("num_hidden_layers", "n_layer", "num_layers")
        heads = get("num_attention_heads", "n_head", "num_heads")
        if hidden is None or layers is None or heads is None:
            raise ValueError("config.json needs hidden_size, num_hidden_layers and num_attention_heads")
        act = str(get("hidden_act", "activation_function", "hidden_activation", default="silu")).lower()
        gpt_style = mtype in ("gpt2", "opt", "gpt_neox", "bloom", "falcon", "gptj")
        ffn_type = ("geglu" if "gelu" in act else "swiglu") if not gpt_style else ("relu" if "relu" in act else "gelu")
        kv_heads = get("num_key_value_heads", "num_kv_heads")
        if mtype == "falcon" and kv_heads is None:
            kv_heads = 1 if c.get("multi_query") else heads
        experts = get("n_routed_experts", "num_local_experts", "num_experts", default=0) or 0
        fields = dict(
            name=name or mtype or "hf-config",
            layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
            head_dim=get("qk_nope_head_dim", "head_dim"),
            ffn=get("intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size") or (4 * hidden if gpt_style else None),
            ffn_type=ffn_type,
            vocab=get("vocab_size", default=32000),
            tied_embeddings=bool(get("tie_word_embeddings", default=gpt_style)),
            max_context=get("max_position_embeddings", "n_positions", "seq_length", default=4096),
            position="learned" if mtype in ("gpt2", "opt") else ("alibi" if c.get("alibi") or mtype == "bloom" else "rope"),
            norm="layernorm" if gpt_style else "rmsnorm",
            norms_per_layer=4 if mtype.startswith("gemma2") or mtype.startswith("gemma3") else 2,
            embedding_norm=mtype == "bloom",
            # GPT-J and Phi-2/Cohere always; GPT-NeoX use_parallel_residual (default true); Falcon parallel_attn
            # (default true) or the new decoder architecture (two norms, one parallel block)
            parallel_attention=(mtype in ("gptj", "phi", "cohere", "cohere2")
                                or (mtype == "gpt_neox" and bool(c.get("use_parallel_residual", True)))
                                or (mtype == "falcon" and bool(c.get("parallel_attn", True)
                                                               or c.get("new_decoder_architecture")))),
            linear_bias=gpt_style and mtype != "falcon" or bool(c.get("bias")),
            qkv_bias=bool(get("attention_bias", default=mtype.startswith("qwen2"))),
            kv_lora_rank=get("kv_lora_rank"), q_lora_rank=get("q_lora_rank"),
            qk_rope_head_dim=get("qk_rope_head_dim"), v_head_dim=get("v_head_dim"),
            experts=experts,
            experts_per_token=get("num_experts_per_tok", "moe_topk", default=0) if experts else 0,
            shared_experts=get("n_shared_experts", default=0) or 0,
            moe_ffn=get("moe_intermediate_size") if experts else None,
            dense_layers=get("first_k_dense_replace", default=0) or 0,
            source="Hugging Face config.json",
        )
        if mtype == "opt" and c.get("word_embed_proj_dim") not in (None, hidden):
            raise ValueError("OPT configs with a projected embedding are not supported")
        return cls(**{k: v for k, v in fields.items() if v is not None})
