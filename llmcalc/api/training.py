"""Training: parameters, FLOPs, days, GPUs for a deadline, GPU-hours, cost."""
import numpy as np

from ..errors import ArgumentError
from ..explain import fmt
from ..formulas import params as fp
from ..formulas import training as ft
from ..kinds import Number, Rate
from ..registry import Arg, Example, user_function
from ..results import Calc
from . import args as A

TRAIN_ASSUMPTIONS = (
    "Peak is the GPU's dense 16-bit (bf16) tensor-core FLOP/s from its datasheet, not a sparse figure.",
    "Utilisation (MFU) is sustained over the whole run; restarts, evaluation and idle time are not included.",
)


def _peak(gpu):
    return gpu.peak_flops("bf16")


def _mfu(mfu, gpu):
    return Rate.resolve(mfu, _peak(gpu), "mfu")


@user_function(
    "LLM_PARAMS", unit="parameter", category="training",
    args=[Arg("layers", Number("", integer=True, maximum=1e6, label="layers"), "transformer layers L"),
          Arg("hidden", Number("", integer=True, maximum=1e7, label="width"), "hidden size h (d_model)"),
          Arg("vocab", Number("token", integer=True, minimum=0, strict=False, maximum=1e9), "vocabulary size V; 0 gives the 12·L·h² approximation", 0)],
    formula="P ≈ 12·L·h²  (with V > 0: P = L·(12h² + 13h) + V·h)",
    sources=[("article3", "§1"), "kaplan2020"],
    assumptions=("GPT-style block with a 4h MLP; norms, biases and embeddings only in the exact (V > 0) form.",),
    examples=[Example((96, 12288), 173.9e9, note="article 3 §1: GPT-3, 12 × 96 × 12288² ≈ 174B"),
              Example((96, 12288, 50257), 174.58e9, note="L·(12h² + 13h) + V·h with GPT-3's vocabulary")],
)
def params(layers, hidden, vocab):
    """Parameter count of a GPT-style transformer from its depth and width."""
    approx = fp.approx_params(layers, hidden)
    exact = fp.article_params(layers, hidden, vocab)
    value = np.where(np.asarray(vocab) > 0, exact, approx) if isinstance(vocab, np.ndarray) else (exact if vocab else approx)
    return Calc(value, lambda: [f"12 × {fmt(layers)} × {fmt(hidden)}² = {fmt(approx)}"] + (
        [f"{fmt(layers)} × (12 × {fmt(hidden)}² + 13 × {fmt(hidden)}) + {fmt(vocab)} × {fmt(hidden)} = {fmt(exact)}"]
        if np.any(vocab) else []))


@user_function(
    "LLM_TRAIN_FLOPS", unit="FLOP", category="training",
    args=[A.params, A.tokens, A.recompute],
    formula="C = k·P·D, k = 8 with recomputation (2 forward + 4 backward + 2 recomputed forward), 6 without",
    sources=[("article3", "§2"), ("narayanan2021", "Eq. 4")],
    assumptions=("Attention-score FLOPs are left out (small while sequence length ≪ 6·hidden).",),
    examples=[Example((174.6e9, 300e9, False), 3.1428e23, note="article 3 §2: 6 × 174.6B × 300B = 3.1428e23")],
)
def train_flops(params, tokens, recompute):
    """Total training compute in FLOPs."""
    k = ft.flops_per_param_token(recompute)
    c = ft.train_flops(params, tokens, recompute)
    return Calc(c, lambda: [f"C = {fmt(k)} × {fmt(params)} × {fmt(tokens)} = {fmt(c, 'FLOP')}"])


@user_function(
    "LLM_TRAIN_DAYS", unit="day", category="training",
    args=[A.params, A.tokens, A.gpus, A.gpu, A.mfu, A.recompute],
    formula="t = k·P·D / (N · F_peak · MFU)",
    sources=[("article3", "§3"), ("narayanan2021", "Eq. 4")],
    assumptions=TRAIN_ASSUMPTIONS,
    examples=[Example((175e9, 300e9, 1024, "A100"), 33.81, note="article 3 §3: 2,921,340 s ≈ 34 days (Narayanan et al.: 34 days)")],
)
def train_days(params, tokens, gpus, gpu, mfu, recompute):
    """Wall-clock days to train a model on a number of GPUs."""
    u = _mfu(mfu, gpu)
    c = ft.train_flops(params, tokens, recompute)
    s = ft.train_seconds(c, gpus, _peak(gpu), u)
    return Calc(s / ft.SECONDS_PER_DAY, lambda: [
        f"C = {fmt(ft.flops_per_param_token(recompute))} × {fmt(params)} × {fmt(tokens)} = {fmt(c, 'FLOP')}",
        f"t = {fmt(c)} / ({fmt(gpus)} × {fmt(_peak(gpu), 'FLOP/s')} × {fmt(u)}) = {fmt(s, 's')}",
        f"{fmt(s, 's')} / 86,400 s/day = {fmt(s / ft.SECONDS_PER_DAY, 'days')}"])


@user_function(
    "LLM_TRAIN_GPUS", unit="", result="count", category="training",
    args=[A.params, A.tokens, A.days, A.gpu, A.mfu, A.recompute],
    formula="N = ⌈k·P·D / (t · F_peak · MFU)⌉",
    sources=[("article3", "§4"), ("narayanan2021", "Eq. 4")],
    assumptions=TRAIN_ASSUMPTIONS + ("Rounded up to whole GPUs (the article prints the unrounded ≈1154).",),
    examples=[Example((175e9, 300e9, 30, "A100"), 1155, note="article 3 §4: ≈1154 A100s for 30 days, rounded up")],
)
def train_gpus(params, tokens, days, gpu, mfu, recompute):
    """GPUs needed to finish training within a deadline (whole GPUs, rounded up)."""
    u = _mfu(mfu, gpu)
    c = ft.train_flops(params, tokens, recompute)
    n = ft.gpus_for_deadline(c, days * ft.SECONDS_PER_DAY, _peak(gpu), u)
    if np.any(np.asarray(n) > A.MAX_GPUS):
        raise ArgumentError("days", f"leaves too little time: {fmt(np.max(n))} GPUs would be needed (at most {A.MAX_GPUS:,})")
    whole = np.maximum(np.ceil(n - 1e-9), 1.0)
    return Calc(whole, lambda: [
        f"C = {fmt(c, 'FLOP')}",
        f"N = {fmt(c)} / ({fmt(days * 86400.0, 's')} × {fmt(_peak(gpu), 'FLOP/s')} × {fmt(u)}) = {fmt(n)} → {fmt(whole)} GPUs"])


@user_function(
    "LLM_TRAIN_GPU_HOURS", unit="GPU_hour", category="training",
    args=[A.params, A.tokens, A.gpu, A.mfu, A.recompute],
    formula="GPU-hours = k·P·D / (F_peak · MFU) / 3600",
    sources=[("article3", "§3")],
    assumptions=TRAIN_ASSUMPTIONS,
    examples=[Example((175e9, 300e9, "A100"), 830_944, note="1024 GPUs × 33.81 days × 24 h (article 3 §3)")],
)
def train_gpu_hours(params, tokens, gpu, mfu, recompute):
    """GPU-hours to train (independent of how many GPUs share the work)."""
    u = _mfu(mfu, gpu)
    c = ft.train_flops(params, tokens, recompute)
    h = ft.gpu_hours(c, _peak(gpu), u)
    return Calc(h, lambda: [f"{fmt(c, 'FLOP')} / ({fmt(_peak(gpu), 'FLOP/s')} × {fmt(u)}) / 3600 = {fmt(h, 'GPU-hours')}"])


@user_function(
    "LLM_TRAIN_COST", unit="USD", category="training",
    args=[A.params, A.tokens, A.gpu, A.price, A.mfu, A.recompute],
    formula="cost = GPU-hours × price per GPU-hour",
    sources=[("article3", "§3"), "price-catalog"],
    assumptions=TRAIN_ASSUMPTIONS + ("On-demand price for the whole run; storage, network and staff are not included.",),
    examples=[Example((175e9, 300e9, "A100", "$2.21/h"), 1_836_386, note="830,944 GPU-hours × $2.21 (article 2's CoreWeave A100 price)")],
)
def train_cost(params, tokens, gpu, price, mfu, recompute):
    """Cost in USD of the GPU time to train a model."""
    u = _mfu(mfu, gpu)
    p, note = catalog_price(price, gpu)
    c = ft.train_flops(params, tokens, recompute)
    h = ft.gpu_hours(c, _peak(gpu), u)
    return Calc(h * p, lambda: [f"GPU-hours = {fmt(c, 'FLOP')} / ({fmt(_peak(gpu), 'FLOP/s')} × {fmt(u)}) / 3600 = {fmt(h)}",
                                f"cost = {fmt(h)} × ${fmt(p)}/GPU-h = ${fmt(h * p)}"], [note])


def catalog_price(price, gpu):
    """(USD per GPU-hour, the sentence that says where it comes from): as given, else the catalog's dated price."""
    if price is not None:
        return price, "Price per GPU-hour as given."
    if gpu.price_per_hour is None:
        raise ArgumentError("price", f"the catalog has no price for {gpu.name}; pass a price per GPU-hour")
    return gpu.price_per_hour, f"Price ${gpu.price_per_hour:g}/GPU-hour for {gpu.name}, {gpu.price_date}: {gpu.price_source}."
