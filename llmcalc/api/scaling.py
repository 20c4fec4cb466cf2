"""Scaling laws and communication."""
from ..explain import fmt
from ..formulas import comm as fc
from ..formulas import scaling as fs
from ..registry import Arg, user_function
from ..kinds import Fraction, Number
from ..results import Calc
from . import args as A

ARTICLE1 = "Article 1 (万万没想到,ChatGPT参数只有200亿?): seeds/001 — 2.5T tokens / 20 ≈ 120B; / 12.5 ≈ 200B"
ARTICLE3 = "Article 3 (大模型训练相关参数估算): seeds/003"
HOFFMANN = "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (arXiv 2203.15556)"
ratio = Arg("ratio", Number("", maximum=1e6, label="tokens per parameter"), "training tokens per parameter (Chinchilla 20; Kaplan-style 12.5)", 20)
flops = Arg("flops", Number("FLOP", count=True), "training compute budget in FLOPs (\"1e24\", \"3.14e23 FLOP\")")


@user_function("LLM_CHINCHILLA_TOKENS", unit="token", category="scaling", args=[A.params, ratio],
               formula="D = r · N (r = 20 tokens per parameter)", sources=(HOFFMANN, ARTICLE1))
def chinchilla_tokens(params, ratio=20):
    """Compute-optimal training tokens for a model size."""
    d = fs.tokens_for_params(params, ratio)
    return Calc(d, lambda: [f"{fmt(ratio)} × {fmt(params)} = {fmt(d, 'tokens')}"])


@user_function("LLM_CHINCHILLA_PARAMS", unit="parameter", category="scaling",
               args=[A.tokens, ratio], formula="N = D / r", sources=(HOFFMANN, ARTICLE1),
               example=((2.5e12,), 125e9))
def chinchilla_params(tokens, ratio=20):
    """Compute-optimal model size for a number of training tokens."""
    n = fs.params_for_tokens(tokens, ratio)
    return Calc(n, lambda: [f"{fmt(tokens)} / {fmt(ratio)} = {fmt(n, 'parameters')}"])


@user_function("LLM_CHINCHILLA_LOSS", unit="", result="number", category="scaling",
               args=[A.params, A.tokens], formula="L = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28",
               sources=(HOFFMANN + " eq. 10 (approach 3)",),
               assumptions=("Loss in nats per token on the paper's MassiveText data: compare models, not datasets.",))
def chinchilla_loss(params, tokens):
    """Hoffmann et al.'s fitted pre-training loss for N parameters and D tokens."""
    v = fs.hoffmann_loss(params, tokens)
    return Calc(v, lambda: [f"1.69 + 406.4 / {fmt(params)}^0.34 + 410.7 / {fmt(tokens)}^0.28 = {fmt(v)}"])


@user_function("LLM_OPTIMAL_PARAMS", unit="parameter", category="scaling", args=[flops],
               formula="N_opt = G·(C/6)^(β/(α+β)), G = (αA/(βB))^(1/(α+β))", sources=(HOFFMANN + " eq. 4",),
               assumptions=("C = 6·N·D; Hoffmann et al.'s approach-3 fit (α = 0.34, β = 0.28).",))
def optimal_params(flops):
    """Compute-optimal model size for a FLOP budget (Hoffmann et al. fit)."""
    n, d = fs.compute_optimal(flops)
    return Calc(n, lambda: [f"C = {fmt(flops, 'FLOP')} → N_opt = {fmt(n, 'parameters')}, D_opt = {fmt(d, 'tokens')}"])


@user_function("LLM_OPTIMAL_TOKENS", unit="token", category="scaling", args=[flops],
               formula="D_opt = (C/6)^(α/(α+β)) / G", sources=(HOFFMANN + " eq. 4",),
               assumptions=("C = 6·N·D; Hoffmann et al.'s approach-3 fit (α = 0.34, β = 0.28).",))
def optimal_tokens(flops):
    """Compute-optimal training tokens for a FLOP budget (Hoffmann et al. fit)."""
    n, d = fs.compute_optimal(flops)
    return Calc(d, lambda: [f"C = {fmt(flops, 'FLOP')} → N_opt = {fmt(n, 'parameters')}, D_opt = {fmt(d, 'tokens')}"])


@user_function(
    "LLM_COMM_SECONDS", unit="s", category="communication",
    args=[Arg("volume", Number("byte"), "bytes to move (\"500 GB\"); plain numbers are bytes"),
          Arg("bandwidth", Number("byte/second"), "link rate (\"200 Gb/s\" is bits, \"450 GB/s\" bytes); plain numbers are bytes/s"),
          Arg("efficiency", Fraction(), "achieved fraction of the link rate", 1.0)],
    formula="t = V / (BW · η)",
    sources=(ARTICLE3 + " (通信瓶颈: 500 GB over 200 Gb/s = 20 s; over 450 GB/s NVLink ≈ 1.1 s)",),
    assumptions=("Point-to-point transfer at a steady rate; no latency term. nccl-tests bus bandwidth is ~80% of the unidirectional link spec.",),
    example=(("500 GB", "200 Gb/s"), 20),
)
def comm_seconds(volume, bandwidth, efficiency=1.0):
    """Seconds to move a volume of data over a link."""
    t = fc.transfer_seconds(volume, bandwidth, efficiency)
    return Calc(t, lambda: [f"{fmt(volume / 1e9, 'GB')} / ({fmt(bandwidth / 1e9, 'GB/s')} × {fmt(efficiency)}) = {fmt(t, 's')}"])
