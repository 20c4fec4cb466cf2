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

See docs/magics.md.
"""
from .core import LLMCostMagics, load_ipython_extension, unload_ipython_extension
from .scenario import Scenario, ScenarioError, run_scenario

__all__ = ["LLMCostMagics", "Scenario", "ScenarioError", "load_ipython_extension", "run_scenario",
           "unload_ipython_extension"]
