"""IPython magics ``%llmcost`` / ``%%llmcost`` (installed as ``llmcalc.magics``).

``%load_ext llmcalc`` (or ``%load_ext llmcalc.magics``) registers them::

    %llmcost train_days 175e9 300e9 1024 A100          # one registry function per subcommand
    %llmcost?                                          # every subcommand and option

    %%llmcost                                          # a whole scenario, every cost side by side
    model: llama-2-70b
    gpu: 2 x A100-80GB
    price: $2.21/GPU-h
    prompt: 512 tokens
    generate: 512 tokens
    batch: 1, 8, 32

Modules, each importing only those above it:

    values       value texts: lists, shared units, ranges
    render       text/HTML tables and how numbers read ($2.70, $0.0004297)
    fields       ScenarioField: each key a scenario cell accepts, declared once
    kind         ScenarioKind, Column, Panel, Row: what a kind of scenario is, as data
    serving      the serving scenario kind
    training     the training scenario kind
    cell         reading a cell: its kind and its entries (KINDS lists the kinds)
    plot         the sweep plot (matplotlib)
    result       Scenario: the evaluated table, plot and explanations
    evaluate     run_scenario: one row per combination of swept values
    commandline  the %llmcost line: tokens, options, {expr}, help texts
    magic        the magic class and %load_ext

See docs/magics.md.
"""
from .cell import KINDS
from .evaluate import run_scenario
from .fields import ScenarioError, ScenarioField
from .kind import Column, Panel, Row, ScenarioKind
from .magic import LLMCostMagics, load_ipython_extension, unload_ipython_extension
from .result import Scenario

__all__ = ["KINDS", "Column", "LLMCostMagics", "Panel", "Row", "Scenario", "ScenarioError", "ScenarioField",
           "ScenarioKind", "load_ipython_extension", "run_scenario", "unload_ipython_extension"]
