"""The ``%llmcost`` command line: tokens, the magic's own options, ``{expr}``, help texts and ``--to``.

Every failure is a :class:`~IPython.core.error.UsageError`: one line, no traceback.
"""
from __future__ import annotations

import re

from IPython.core.error import UsageError

from llmcalc import registry, units
from llmcalc.errors import ArgumentError, LLMCalcError, UnknownNameError
from llmcalc.lists import join_brackets, split_list

from .cell import KINDS
from .fields import COMMON

# Options the magic itself takes (anywhere on the line); everything else is for the function.
_FLAGS = {"--explain": "explain", "--no-plot": "no_plot", "-h": "help", "--help": "help"}
_VALUED = {"-o": "output", "--output": "output", "--to": "to"}
HELP_WORDS = ("help", "list")
_OPTION = re.compile(r"^--?[A-Za-z]")
_KEYWORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_BRACES = re.compile(r"\{([^{}\n]+)\}")

DESCRIPTION = """\
Unit-checked LLM cost estimates: one subcommand per llmcalc function, with the
spreadsheet functions' names and argument order (=LLM_TRAIN_DAYS(...) is
`%llmcost train_days ...`).

Line magic:
  %llmcost train_days 175e9 300e9 1024 A100                 -> 33.81 day
  %llmcost train_days 175B "300B tokens" 1024 A100 --mfu 0.4 --to hours
  %llmcost -o c cost_per_1k_tokens llama-2-70b A100-80GB generated 8 512 --gpus 2
  %llmcost train_days 175B 300B [256, 512, 1024] A100       (a list sweeps)
  %llmcost help train_days      (or: %llmcost train_days --help) one function
  %llmcost help scenario        the %%llmcost cell's fields
  %llmcost list gpus|models|functions|prices                 catalog tables

Arguments are given in the function's order; optional ones also as
`--name value`, `--name=value` or `name=value` (dashes and underscores
alike). Values may carry units: 175B, "300B tokens", 80GiB, "$2.21/h",
"200 TFLOP/s" (quote values with spaces). `{expr}` inserts a Python value.
Errors are one line naming the argument. The result (a pint Quantity with
.explain(), or a count) is returned, so `x = %llmcost ...` keeps it.

Cell magic: a scenario in `key: value` lines renders every cost side by side
(see docs/magics.md):
  %%llmcost
  model: llama-2-70b
  gpu: 2 x A100-80GB
  price: $2.21/GPU-h            (or "$4.42/h total"; a bare $/h is per GPU-hour)
  prompt: 512 tokens
  generate: 512 tokens
  batch: 1, 8, 32               (lists and ranges 1..64 x2 sweep and plot)
A training scenario has tokens: (and gpus/deadline/mfu/price). `-o NAME` keeps
the Scenario object (.rows, .to_records(), .figure, .explain()).
"""


class HelpShown(Exception):
    """Help was printed; the magic returns nothing."""


def fail(message: str):
    raise UsageError(message)


def usage(fn) -> str:
    parts = [a.name for a in fn.args if not a.optional]
    parts += [f"[--{a.name} {a.default!r}]" if a.default is not None else f"[--{a.name} ...]"
              for a in fn.args if a.optional]
    return f"%llmcost {fn.name} " + " ".join(parts)


def function_help(fn) -> str:
    """One function's help: usage line, summary, arguments with units and defaults, sources."""
    return f"{usage(fn)}\n\n{fn.__doc__}"


def subcommand_listing() -> str:
    lines = ["subcommands (python name; also the CLI's dashed name or LLM_ sheet name):"]
    for fn in registry.REGISTRY.values():
        lines.append(f"  {fn.name:24s} {fn.summary}")
        lines.append(f"  {'':24s}   {usage(fn)}")
    lines.append(f"  {'help [FUNCTION]':24s} this text, or one function's arguments")
    lines.append(f"  {'help scenario':24s} the fields of a %%llmcost scenario cell")
    lines.append(f"  {'list WHAT':24s} catalog table: gpus, models, functions or prices")
    return "\n".join(lines)


def _field_line(f) -> str:
    aliases = f" (also {', '.join(f.aliases)})" if f.aliases else ""
    return f"  {f.name + ':':18s} [{f.unit}] {f.description}{aliases}"


def scenario_help() -> str:
    """The fields of every scenario kind, from their declarations."""
    lines = ["%%llmcost scenario cell: key: value lines; a list or a range sweeps a field (docs/magics.md)."]
    for kind in KINDS:
        told = ", ".join(n + ":" for n in kind.told_by)
        needs = ", ".join(n + ":" for n in kind.required)
        lines += ["", f"{kind.name} (a cell with {told}; needs {needs})"]
        lines += [_field_line(f) for f in kind.fields]
    lines += ["", "every scenario"] + [_field_line(f) for f in COMMON]
    return "\n".join(lines)


def tokenize(line: str) -> list[str]:
    from IPython.utils.process import arg_split
    try:
        return arg_split(line, posix=True, strict=True)
    except ValueError as exc:  # unbalanced quotes
        fail(f"cannot read the line: {exc}")


def parse_line(tokens: list[str]) -> tuple[dict, list[str], dict]:
    """Split tokens into the magic's own options, positional values and ``--name value`` options."""
    opts, pos, kw = {}, [], {}
    try:
        tokens = join_brackets(tokens)
    except LLMCalcError as exc:
        fail(exc.problem if isinstance(exc, ArgumentError) else str(exc))
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if not _OPTION.match(tok):
            pos.append(tok)
            continue
        name, eq, value = tok.partition("=")
        if name in _FLAGS:
            if eq:
                fail(f"option {name} takes no value")
            opts[_FLAGS[name]] = True
            continue
        if not eq:
            if i >= len(tokens):
                fail(f"option {name} needs a value")
            value = tokens[i]
            i += 1
        if name in _VALUED:
            opts[_VALUED[name]] = value
        elif name.startswith("--"):
            key = name[2:].replace("-", "_")
            if key in kw:
                fail(f"option {name} was given twice")
            kw[key] = value
        else:
            fail(f"unknown option {name!r} (the magic's own options are -o NAME, --to UNIT, --explain, --help; "
                 "function options are --name value)")
    return opts, pos, kw


def function_arguments(fn, values: list[str], kw: dict) -> tuple[list, dict]:
    """The call's positional and keyword arguments: ``name=value`` among the values is a keyword,
    ``[a, b]`` a list (a sweep)."""
    names = {a.name for a in fn.args}
    args = []
    for v in values:
        m = _KEYWORD.match(v)
        if m and m.group(1) in names:
            if m.group(1) in kw:
                fail(f"{fn.name}: argument '{m.group(1)}' was given twice")
            kw[m.group(1)] = m.group(2)
        else:
            args.append(v)

    def value(text: str, where):
        name = fn.args[where].name if isinstance(where, int) and where < len(fn.args) else str(where)
        items = split_list(text, name)
        return items if items is not None else text

    try:
        return [value(v, i) for i, v in enumerate(args)], {k: value(v, k) for k, v in kw.items()}
    except LLMCalcError as exc:
        fail(f"{fn.name}: {exc}")


def expand(shell, line: str) -> str:
    """Insert ``{expr}`` values from the user namespace; ``$`` stays literal (``$2.21/h``).

    (IPython's own ``$name``/``{expr}`` expansion would turn ``$2.21/h`` into ``2.21/h``, so the magic
    is ``no_var_expand`` and expands braces only.)
    """
    def value(m):
        try:
            return str(shell.ev(m.group(1)))
        except Exception as exc:  # noqa: BLE001 - any error of the user's expression
            fail(f"cannot evaluate {{{m.group(1)}}}: {type(exc).__name__}: {exc}")

    return _BRACES.sub(value, line)


def function(name: str):
    """The registry function a subcommand names, else a %llmcost message with suggestions."""
    try:
        return registry.lookup(name)
    except UnknownNameError as exc:
        hint = f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
        fail(f"unknown subcommand {exc.name!r}{hint} (%llmcost? lists them)")
    except LLMCalcError as exc:
        fail(str(exc))


def convert_result(result, to: str):
    """``--to hours``: the result in another unit (an explanation is kept)."""
    if not hasattr(result, "to") or not hasattr(result, "units"):
        fail(f"--to {to}: this result is a {'count' if isinstance(result, int) else type(result).__name__}, "
             "it has no unit to convert")
    try:
        target = units.parse_unit_text(to, "--to")
    except LLMCalcError as exc:
        fail(str(exc))
    try:
        return result.to(target)
    except Exception:  # noqa: BLE001 - pint DimensionalityError and friends
        fail(f"--to {to}: cannot convert {format(result.units, '~P')} to {to} (different dimensions)")
