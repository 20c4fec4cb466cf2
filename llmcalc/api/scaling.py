"""Scaling laws and communication."""
from ..explain import fmt
from ..formulas import comm as fc
from ..formulas import scaling as fs
from ..kinds import Fraction, Number
from ..registry import Arg, Example, user_function
from ..results import Calc
from . import args as A

APPROACH3 = ("C = 6·N·D; Hoffmann et al.'s approach-3 fit as printed in Eq. 10 (α = 0.34, β = 0.28). These rounded "
             "exponents give N_opt ∝ C^0.452, where the paper's Table 2 reports C^0.46 for approach 3, so optima come out "
             "lower than the paper's (32B for Gopher's 5.76e23 FLOPs).",)
ratio = Arg("ratio", Number("", maximum=1e6, label="tokens per parameter"), "training tokens per parameter (Chinchilla 20; Kaplan-style 12.5)", 20)
flops = Arg("flops", Number("FLOP", count=True), "training compute budget in FLOPs (\"1e24\", \"3.14e23 FLOP\")")


@user_function("LLM_CHINCHILLA_TOKENS", unit="token", category="scaling", args=[A.params, ratio],
               formula="D = r · N (r = 20 tokens per parameter)", sources=["hoffmann2022", "article1"],
               examples=[Example((70e9,), 1.4e12, note="Chinchilla: 70B parameters, 1.4T tokens (Hoffmann et al. Table 3)")])
def chinchilla_tokens(params, ratio):
    """Compute-optimal training tokens for a model size."""
    d = fs.tokens_for_params(params, ratio)
    return Calc(d, lambda: [f"{fmt(ratio)} × {fmt(params)} = {fmt(d, 'tokens')}"])


@user_function("LLM_CHINCHILLA_PARAMS", unit="parameter", category="scaling",
               args=[A.tokens, ratio], formula="N = D / r", sources=["hoffmann2022", ("article1", "2.5T tokens / 20 ≈ 120B; / 12.5 ≈ 200B")],
               examples=[Example((2.5e12,), 125e9, note="article 1: 2.5T tokens / 20 ≈ 120B"),
                         Example((2.5e12, 12.5), 200e9, note="article 1: 2.5T / 12.5 ≈ 190–200B")])
def chinchilla_params(tokens, ratio):
    """Compute-optimal model size for a number of training tokens."""
    n = fs.params_for_tokens(tokens, ratio)
    return Calc(n, lambda: [f"{fmt(tokens)} / {fmt(ratio)} = {fmt(n, 'parameters')}"])


@user_function("LLM_CHINCHILLA_LOSS", unit="", result="number", category="scaling",
               args=[A.params, A.tokens], formula="L = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28",
               sources=[("hoffmann2022", "Eq. 10 (approach 3)")],
               assumptions=("Loss in nats per token on the paper's MassiveText data: compare models, not datasets.",),
               examples=[Example((70e9, 1.4e12), 1.9367, note="1.69 + 406.4 / 70e9^0.34 + 410.7 / 1.4e12^0.28")])
def chinchilla_loss(params, tokens):
    """Hoffmann et al.'s fitted pre-training loss for N parameters and D tokens."""
    v = fs.hoffmann_loss(params, tokens)
    return Calc(v, lambda: [f"1.69 + 406.4 / {fmt(params)}^0.34 + 410.7 / {fmt(tokens)}^0.28 = {fmt(v)}"])


@user_function("LLM_OPTIMAL_PARAMS", unit="parameter", category="scaling", args=[flops],
               formula="N_opt = G·(C/6)^(β/(α+β)), G = (αA/(βB))^(1/(α+β))", sources=[("hoffmann2022", "Eq. 4")],
               assumptions=APPROACH3,
               examples=[Example((5.76e23,), 3.219e10, note="Gopher's budget: G·(C/6)^(0.28/0.62) with Eq. 10's rounded constants")])
def optimal_params(flops):
    """Compute-optimal model size for a FLOP budget (Hoffmann et al. fit)."""
    n, d = fs.compute_optimal(flops)
    return Calc(n, lambda: [f"C = {fmt(flops, 'FLOP')} → N_opt = {fmt(n, 'parameters')}, D_opt = {fmt(d, 'tokens')}"])


@user_function("LLM_OPTIMAL_TOKENS", unit="token", category="scaling", args=[flops],
               formula="D_opt = (C/6)^(α/(α+β)) / G", sources=[("hoffmann2022", "Eq. 4")],
               assumptions=APPROACH3,
               examples=[Example((5.76e23,), 2.982e12, note="C / (6·N_opt) = 5.76e23 / (6 × 3.219e10)")])
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
    sources=[("article3", "(通信瓶颈: 500 GB over 200 Gb/s = 20 s; over 450 GB/s NVLink ≈ 1.1 s)"), "nccl-tests"],
    assumptions=("Point-to-point transfer at a steady rate; no latency term. nccl-tests bus bandwidth is ~80% of the unidirectional link spec.",),
    examples=[Example(("500 GB", "200 Gb/s"), 20, note="article 3: 500 GB over 200 Gb/s = 20 s"),
              Example(("500 GB", "450 GB/s"), 1.111, note="article 3: over 450 GB/s NVLink ≈ 1.1 s")],
)
def comm_seconds(volume, bandwidth, efficiency):
    """Seconds to move a volume of data over a link."""
    t = fc.transfer_seconds(volume, bandwidth, efficiency)
    return Calc(t, lambda: [f"{fmt(volume / 1e9, 'GB')} / ({fmt(bandwidth / 1e9, 'GB/s')} × {fmt(efficiency)}) = {fmt(t, 's')}"])
