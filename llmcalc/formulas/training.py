"""Training compute, time, GPU count and cost (articles' method)."""
import numpy as np

SECONDS_PER_DAY = 86400.0
SECONDS_PER_HOUR = 3600.0


def flops_per_param_token(recompute):
    """k = 8 with full activation recomputation, 6 without.

    Source: article 3 §2: forward 2 FLOPs per parameter per token, backward twice the forward
    (2 × 3 = 6); recomputation adds a second forward (2 × 4 = 8). Same as Narayanan et al. 2021
    (arXiv 2104.04473) eq. for 8TP. Ignores attention-score FLOPs (small for s ≪ 6h).
    """
    return np.where(recompute, 8.0, 6.0) if isinstance(recompute, np.ndarray) else (8.0 if recompute else 6.0)


def train_flops(params, tokens, recompute=True):
    """C = k·P·D, k = 8 (recompute) or 6.

    Source: article 3 §2; Kaplan et al. 2020 (C ≈ 6ND). GPT-3: 6 × 174.6e9 × 300e9 = 3.1428e23.
    """
    return flops_per_param_token(recompute) * params * tokens


def train_seconds(flops, gpus, peak_flops, mfu):
    """t = C / (N · F_peak · u).

    Source: article 3 §3 (训练时长 = 8TP / (n·X·u)); Narayanan et al. 2021. Assumes the whole
    cluster sustains utilisation u of the dense peak for the whole run (no restarts, no idle time).
    GPT-3 on 1024 A100 (312 TFLOP/s), u = 0.45, k = 8: 2,921,341 s = 33.81 days.
    """
    return flops / (gpus * peak_flops * mfu)


def gpus_for_deadline(flops, seconds, peak_flops, mfu):
    """N = C / (t · F_peak · u) (unrounded; a real order is the next whole GPU, at least one).

    Source: article 3 §4. GPT-3 in 30 days on A100 at u = 0.45: 1154.1 → 1155 GPUs.
    """
    return flops / (seconds * peak_flops * mfu)


def gpu_hours(flops, peak_flops, mfu):
    """GPU-hours = C / (F_peak · u) / 3600: the cluster-size-independent cost driver."""
    return flops / (peak_flops * mfu) / SECONDS_PER_HOUR
