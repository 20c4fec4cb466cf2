"""Name matching for everything a user names: functions, GPUs, models, catalog fields.

One rule everywhere: names match case- and punctuation-insensitively (``"A100"`` = ``"a-100"``,
``"train-days"`` = ``"TRAIN_DAYS"``), and an unknown name gets up to four "did you mean"
suggestions by :func:`difflib.get_close_matches` over the same normalised keys.
"""
from __future__ import annotations

import difflib
import re


def normalize(name) -> str:
    """Matching key: lower case, letters and digits only (``"Llama-2 70B"`` -> ``"llama270b"``)."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def suggest(name, candidates: dict[str, str], n: int = 4) -> list[str]:
    """Up to ``n`` display names whose keys are close to ``name``.

    ``candidates`` maps a normalised key to the name to show (several keys may show the same
    name: aliases). Cut-off 0.5 of difflib's similarity ratio.
    """
    near = difflib.get_close_matches(normalize(name)[:100], list(candidates), n=2 * n, cutoff=0.5)
    return list(dict.fromkeys(candidates[k] for k in near))[:n]
