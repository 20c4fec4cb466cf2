"""Compute-optimal model and data sizes (Chinchilla, Kaplan-style ratio)."""
import numpy as np

CHINCHILLA_TOKENS_PER_PARAM = 20.0

# Hoffmann et al. 2022 (arXiv 2203.15556) eq. 10, approach 3 fit.
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def tokens_for_params(params, ratio=CHINCHILLA_TOKENS_PER_PARAM):
    """D = r·N (r = 20 tokens per parameter). Source: Hoffmann et al. 2022; article 1 and 3."""
    return params * ratio


def params_for_tokens(tokens, ratio=CHINCHILLA_TOKENS_PER_PARAM):
    """N = D / r. Article 1: 2.5T tokens / 20 = 125B (“约在 120B 左右”); / 12.5 = 200B
    (OpenAI-style ratio, “190 到 200B 左右”)."""
    return tokens / ratio


def hoffmann_loss(params, tokens, E=HOFFMANN["E"], A=HOFFMANN["A"], B=HOFFMANN["B"],
                  alpha=HOFFMANN["alpha"], beta=HOFFMANN["beta"]):
    """L(N, D) = E + A/N^α + B/D^β (nats/token on MassiveText). Hoffmann et al. 2022, eq. 10."""
    return E + A / np.power(params, alpha) + B / np.power(tokens, beta)


def compute_optimal(flops, E=HOFFMANN["E"], A=HOFFMANN["A"], B=HOFFMANN["B"],
                    alpha=HOFFMANN["alpha"], beta=HOFFMANN["beta"]):
    """N_opt = G·(C/6)^(β/(α+β)), D_opt = (C/6)^(α/(α+β)) / G, G = (αA/(βB))^(1/(α+β)).

    Minimises L(N, D) subject to C = 6·N·D. Source: Hoffmann et al. 2022, eq. 4 with the
    approach-3 fit. Returns (N_opt, D_opt).
    """
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    c6 = flops / 6.0
    n = g * np.power(c6, beta / (alpha + beta))
    d = np.power(c6, alpha / (alpha + beta)) / g
    return n, d
