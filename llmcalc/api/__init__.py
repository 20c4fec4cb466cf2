"""User-facing functions, registered in :mod:`llmcalc.registry` (import order = listing order)."""
from . import training, cluster, memory, inference, performance, scaling, catalog_fields  # noqa: F401
