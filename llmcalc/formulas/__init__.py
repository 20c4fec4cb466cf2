"""Pure formulas on plain numbers (floats or NumPy arrays). No units, no I/O, no catalog look-ups.

Each function's docstring gives the formula, its source and its assumptions. The user-facing layer
(:mod:`llmcalc.api`) parses units, looks up GPUs and models, and calls these.
"""
