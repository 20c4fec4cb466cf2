"""Reading a ``%%llmcost`` cell: ``key: value`` lines → its scenario kind and its entries, values parsed.

Generic over the scenario kinds in :data:`KINDS`: the keys a cell may use, their aliases and the
rule that tells the kind all come from the kinds' declarations.
"""
from __future__ import annotations

import difflib
import math
import re

from llmcalc.errors import ArgumentError

from . import values
from .fields import Entry, ScenarioError
from .fleet import FLEET
from .kind import ScenarioKind
from .serving import SERVING
from .training import TRAINING

KINDS: tuple[ScenarioKind, ...] = (SERVING, FLEET, TRAINING)  # every scenario kind, in the order they are told apart
MAX_ROWS = 1000
_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9 _-]*?)\s*[:=]\s*(.*)$")


def _alias_index(kinds) -> dict[str, str]:
    """Every key a cell may write (names and aliases) → the field's name."""
    out: dict[str, str] = {}
    for kind in kinds:
        for f in kind.all_fields:
            for key in (f.name, *f.aliases):
                if out.setdefault(key, f.name) != f.name:
                    raise RuntimeError(f"scenario key {key!r} means both {out[key]!r} and {f.name!r}")
    return out


_alias_index(KINDS)  # two kinds giving one key two meanings fail at import


def read_lines(cell: str, kinds=KINDS) -> dict[str, Entry]:
    """``key: value`` lines (``#`` comments, aliases) into entries, one per field, in the order written."""
    alias = _alias_index(kinds)
    entries: dict[str, Entry] = {}
    for no, raw in enumerate(cell.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise ScenarioError(f"line {no}: expected 'key: value', got {line[:60]!r}")
        key = re.sub(r"[\s-]+", "_", m.group(1).strip().lower())
        if key not in alias:
            near = difflib.get_close_matches(key, list(alias), n=2, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            names = ", ".join(dict.fromkeys(alias.values()))
            raise ScenarioError(f"line {no}: unknown field {m.group(1).strip()!r}{hint} (fields: {names})")
        name = alias[key]
        if name in entries:
            raise ScenarioError(f"line {no}: field '{name}' given twice (first on line {entries[name].line})")
        if not m.group(2).strip():
            raise ScenarioError(f"line {no}: field '{name}' is empty")
        entries[name] = Entry(name, no, m.group(2).strip(), written=key if key != name else "")
    if not entries:
        raise ScenarioError("the scenario is empty: write key: value lines (model:, gpu:, prompt:, … or tokens: for training)")
    return entries


def choose_kind(entries: dict[str, Entry], kinds=KINDS) -> ScenarioKind:
    """``scenario:`` if given, else the first kind told by one of the fields that has every field given."""
    if "scenario" in entries:
        e = entries["scenario"]
        key = e.text.strip().lower()
        kind = next((k for k in kinds if key == k.name or key in k.aliases), None)
        if kind is None:
            raise ScenarioError(f"line {e.line}: field 'scenario' must be {' or '.join(k.name for k in kinds)}, got {key!r}")
        for e in entries.values():
            if kind.field(e.name) is None:
                raise ScenarioError(f"line {e.line}: field '{e.name}' is not used in a {kind.name} scenario")
        return kind
    told = [k for k in kinds if any(n in k.told_by for n in entries)]
    fitting = [k for k in told if all(k.field(n) for n in entries)]
    if fitting:
        return fitting[0]
    if told:  # told by one field, contradicted by another
        best = max(told, key=lambda k: sum(k.field(n) is not None for n in entries))
        bad = next(e for e in entries.values() if best.field(e.name) is None)
        other = next(k for k in kinds if k.field(bad.name))
        clash = next((n for n in entries if n in best.told_by and other.field(n) is None), None)
        why = f" but '{clash}' is for {best.name}" if clash else f", not {best.name}"
        raise ScenarioError(f"line {bad.line}: field '{bad.name}' is for {other.name}{why}; "
                            f"write 'scenario: {best.name}' or 'scenario: {other.name}'")
    which = " from ".join(f"a {k.name} scenario ({', '.join(n + ':' for n in k.told_by[:3])})" for k in kinds)
    raise ScenarioError(f"cannot tell {which}; give one of those fields or 'scenario: {kinds[0].name}'")


def parse_values(kind: ScenarioKind, entries: dict[str, Entry]):
    """Split each entry into its values (a sweep) and parse them with the field's kind."""
    pending = list(entries.values())
    while pending:
        e = pending.pop(0)
        f = kind.field(e.name)
        text = e.text
        try:
            if f.split is not None:
                text, others = f.split(text)
                for name, given in others.items():
                    if name in entries:
                        raise ScenarioError(f"line {e.line}: field '{name}' is given twice (in {e.name}: and {name}:)")
                    entries[name] = Entry(name, e.line, given, written=e.name)
                    pending.append(entries[name])
            e.values = values.sweep(text, e.name) if f.sweep else [text]
            e.parsed = [f.parse(v) for v in e.values]
        except ArgumentError as exc:
            raise ScenarioError(f"line {e.line}: field '{e.written or e.name}': {exc.problem}") from None


def parse_cell(cell: str, kinds=KINDS) -> tuple[ScenarioKind, dict[str, Entry]]:
    """Read a cell: its kind (one of ``kinds``) and its entries (parsed, checked, at most
    :data:`MAX_ROWS` combinations)."""
    entries = read_lines(cell, kinds)
    kind = choose_kind(entries, kinds)
    parse_values(kind, entries)
    kind.check(entries)
    rows = math.prod(len(e.values) for e in entries.values())
    if rows > MAX_ROWS:
        raise ScenarioError(f"the sweeps give {rows} rows; at most {MAX_ROWS}")
    return kind, entries
