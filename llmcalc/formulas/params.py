"""Parameter-count approximations (the exact per-architecture count is :meth:`llmcalc.Model.params`)."""


def approx_params(layers, hidden):
    """P ≈ 12·L·h².

    Source: article 3 (训练相关参数估算 §1), after Kaplan et al. 2020 (arXiv 2001.08361) Table 1.
    Assumes a GPT-style block with a 4·h MLP: attention 4h², MLP 8h²; ignores biases, norms and
    embeddings. GPT-3 175B (L=96, h=12288): 173.9e9.
    """
    return 12.0 * layers * hidden * hidden


def article_params(layers, hidden, vocab):
    """P = L·(12h² + 13h) + V·h.

    Source: article 3 §1 (“L层Transformer模型可训练参数量为L(12h²+13h)+Vh”). Adds to 12·L·h²
    the biases and the two LayerNorms of each layer (13h) and the token-embedding table (V·h,
    tied with the output layer); ignores learned position embeddings and the final norm.
    GPT-3 175B with V=50257: 174.58e9.
    """
    return layers * (12.0 * hidden * hidden + 13.0 * hidden) + vocab * hidden
