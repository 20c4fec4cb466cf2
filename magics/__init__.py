"""IPython magics %llmcost / %%llmcost (installed as llmcalc.magics)."""
