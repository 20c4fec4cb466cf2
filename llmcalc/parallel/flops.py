"""FLOP conventions for training throughput: model FLOPs (MFU) and hardware FLOPs (HFU).

Published MFUs differ mostly in what they count. Every figure llmcalc prints names its convention:

* :func:`model_flops` — **Megatron-Core model FLOPs** (the convention of Megatron-LM's
  ``num_floating_point_operations`` and of the shared README): per sequence of s tokens,
  ``12·s·L·h²·[(1 + kv/a + s/h)·(q/h) + (ffn/h)·(3/2 if gated else 1) + V/(2·L·h)]`` with q = a·d —
  forward + backward (×3) of every GEMM, the full s×s attention (no causal halving), the LM head,
  no recomputation. For GPT-3 (kv = a, q = h, ffn = 4h) this is Korthikanti et al.'s
  ``72·B·L·s·h²·(1 + s/(6h) + V/(12·h·L))``. Mixture-of-experts layers count the routed top-k and
  shared experts of each token (and the router). This is the MFU that llmcalc reports.
* :func:`hardware_flops` — the same plus what recomputation re-runs: full recomputation one more
  forward pass of the layers (Narayanan et al. 2021 Eq. 3 uses 96 instead of 72 for this), selective
  recomputation one more attention-score forward (Korthikanti et al.: s/(3h) instead of s/(6h)).
* :func:`narayanan_eq3` — Narayanan et al. 2021 Eq. 3, ``96·B·s·L·h²·(1 + s/(6h) + V/(16·L·h))``
  (counts the recomputed forward; the LM head ×3 only).
* :func:`six_pt` — ``6·P·T`` (Kaplan et al. 2020), and the articles' ``8·P·T`` with recomputation.
"""
from __future__ import annotations


def _per_token_terms(model, seq):
    """(GEMM FLOPs of one forward per token over all layers, attention-score forward FLOPs per token,
    LM-head forward FLOPs per token)."""
    gemm, L, pair, head = _model_terms(model)
    scores = L * 2.0 * 2.0 * seq * pair          # QKᵀ and PV over the full s×s
    return gemm, scores, head


_TERMS: dict = {}


def _model_terms(model):
    """The parts of :func:`_per_token_terms` that depend on the model only: (GEMM FLOPs, layers, score FLOPs per
    head pair and position / 2, LM-head FLOPs). Built once per model object (models are frozen; looked up by
    identity, the entry holding the model so that its id is not reused)."""
    hit = _TERMS.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    if len(_TERMS) >= 256:
        _TERMS.clear()
    m = model
    L, h = m.layers, m.hidden
    q = m.heads * m.head_dim
    dv = m.v_head_dim or m.head_dim
    if m.attention == "mla":
        attn = m.attention_params() - m.heads * dv * h
        gemm_attn = 2.0 * (attn + m.heads * dv * h)
    else:
        gemm_attn = 2.0 * h * (q + 2 * m.kv_heads * m.head_dim + m.heads * dv)
    dense = L - m.moe_layers
    mlp = 2.0 * (3 if m.gated else 2) * h * m.ffn
    per_layer = [gemm_attn + mlp] * dense
    if m.moe_layers:
        f = m.moe_ffn or m.ffn
        moe = 2.0 * (3 if m.gated else 2) * h * f * (m.experts_per_token + m.shared_experts) + 2.0 * h * m.experts
        per_layer += [gemm_attn + moe] * m.moe_layers
    gemm = sum(per_layer)
    head = 2.0 * h * m.vocab
    terms = (gemm, L, m.heads * (m.head_dim + dv) / 2.0, head)
    _TERMS[id(model)] = (model, terms)
    return terms


def model_flops(model, seq, sequences=1.0):
    """Megatron-Core model FLOPs of forward + backward for ``sequences`` sequences of ``seq`` tokens."""
    gemm, scores, head = _per_token_terms(model, seq)
    return 3.0 * (gemm + scores + head) * seq * sequences


def hardware_flops(model, seq, sequences=1.0, recompute="full"):
    """FLOPs the GPUs execute: model FLOPs + the recomputed forward (``full``: GEMMs and scores of
    every layer; ``selective``: the attention scores; ``none``: nothing)."""
    gemm, scores, head = _per_token_terms(model, seq)
    extra = {"full": gemm + scores, "selective": scores, "none": 0.0}[recompute]
    return (3.0 * (gemm + scores + head) + extra) * seq * sequences


def narayanan_eq3(batch, seq, layers, hidden, vocab):
    """Narayanan et al. 2021 Eq. 3 (hardware FLOPs with full recomputation, GPT with 4h MLP)."""
    return 96.0 * batch * seq * layers * hidden ** 2 * (1 + seq / (6 * hidden) + vocab / (16 * layers * hidden))


def korthikanti_model(batch, seq, layers, hidden, vocab):
    """Korthikanti et al. 2022 model FLOPs: 72·B·L·s·h²·(1 + s/(6h) + V/(12·h·L))."""
    return 72.0 * batch * layers * seq * hidden ** 2 * (1 + seq / (6 * hidden) + vocab / (12 * hidden * layers))


def six_pt(params, tokens, recompute=False):
    """6·P·T (8·P·T counting a recomputed forward), the articles' and Kaplan et al.'s rule."""
    return (8.0 if recompute else 6.0) * params * tokens
