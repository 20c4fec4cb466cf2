"""The add-in-only XML manifest, rendered for the server's public URL (``--base-url``)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from string import Template
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import llmcalc


def manifest_version() -> str:
    """Office wants up to four numeric parts: llmcalc 0.1.0 → 0.1.0.0."""
    parts = [p for p in llmcalc.__version__.split(".") if p.isdigit()][:3]
    return ".".join(parts + ["0"] * (4 - len(parts)))


@lru_cache(maxsize=1)
def _template() -> Template:
    text = resources.files("llmcalc.excel").joinpath("templates", "manifest.xml").read_text(encoding="utf-8")
    return Template(text)


@lru_cache(maxsize=16)
def render(base_url: str) -> str:
    """The manifest with every URL under ``base_url`` (``https://localhost:3000`` by default)."""
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"
    return _template().substitute(BASE=escape(base, {'"': "&quot;"}), ORIGIN=escape(origin),
                                  VERSION=manifest_version())
