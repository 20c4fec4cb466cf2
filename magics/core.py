"""``%llmcost`` (one registry function per subcommand) and ``%%llmcost`` (a scenario cell).

The adapter only turns a command line into a registry call and renders the result; every number
comes from :mod:`llmcalc.registry`, so a new registered function is a new subcommand at once.

    %llmcost train_days 175e9 300e9 1024 A100 --mfu 0.4 --to hours
    %llmcost -o cost cost_per_1k_tokens llama-2-70b A100-80GB generated 8 512 --gpus 2
    %llmcost train_days?            # (or: %llmcost help train_days) one function's arguments
"""
from __future__ import annotations

import keyword
import re

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from llmcalc import registry, results, units
from llmcalc.errors import ArgumentError, LLMCalcError, UnknownNameError
from llmcalc.explain import fmt

# Options the magic itself takes (anywhere on the line); everything else is for the function.
_FLAGS = {"--explain": "explain", "--no-plot": "no_plot", "-h": "help", "--help": "help"}
_VALUED = {"-o": "output", "--output": "output", "--to": "to"}
_HELP_WORDS = ("help", "list")
_OPTION = re.compile(r"^--?[A-Za-z]")
_KEYWORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
# "1,000" inside a list would silently become [1, 0]: refuse it and say what to write.
_THOUSANDS = re.compile(r"\d,\d{3}(?!\d)")

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
A training scenario has tokens: (and gpus/days/mfu/price). `-o NAME` keeps
the Scenario object (.rows, .to_records(), .figure, .explain()).
"""


class _HelpShown(Exception):
    pass


def _subcommand_listing() -> str:
    lines = ["subcommands (python name; also the CLI's dashed name or LLM_ sheet name):"]
    for fn in registry.REGISTRY.values():
        lines.append(f"  {fn.name:24s} {fn.summary}")
        lines.append(f"  {'':24s}   {_usage(fn)}")
    lines.append(f"  {'help [FUNCTION]':24s} this text, or one function's arguments")
    lines.append(f"  {'list WHAT':24s} catalog table: gpus, models, functions or prices")
    return "\n".join(lines)


def _usage(fn) -> str:
    parts = [a.name for a in fn.args if not a.optional]
    parts += [f"[--{a.name} {a.default!r}]" if a.default is not None else f"[--{a.name} ...]"
              for a in fn.args if a.optional]
    return f"%llmcost {fn.name} " + " ".join(parts)


def function_help(fn) -> str:
    """One function's help: usage line, summary, arguments with units and defaults, sources."""
    return f"{_usage(fn)}\n\n{fn.__doc__}"


def _fail(message: str):
    raise UsageError(message)


def split_list(text: str, argument: str) -> list[str] | None:
    """``"[1, 8, 32]"`` → ``["1", "8", "32"]``; a trailing unit is shared: ``"[1.3, 2 TB/s]"``."""
    s = text.strip()
    if not (s.startswith("[") and s.endswith("]")):
        return None
    return share_unit(split_commas(s[1:-1], argument), argument)


def split_commas(text: str, argument: str) -> list[str]:
    if _THOUSANDS.search(text):
        raise ArgumentError(argument, f"{text.strip()!r} is ambiguous: commas separate list values; "
                            "write 1000, 1_000 or 1K for a thousand (and 128, 256 with spaces for a list)")
    parts = [p.strip() for p in text.split(",")]
    if any(not p for p in parts):
        raise ArgumentError(argument, f"the list {text.strip()!r} has an empty value")
    return parts


def share_unit(parts: list[str], argument: str) -> list[str]:
    """Give bare numbers the unit written after the last value: ``1.3, 2 TB/s``."""
    if len(parts) < 2:
        return parts
    try:
        _, rest = units.split_number(parts[-1], argument)
    except LLMCalcError:
        return parts
    if not rest:
        return parts
    out = []
    for p in parts:
        try:
            _, own = units.split_number(p, argument)
        except LLMCalcError:
            out.append(p)
            continue
        out.append(p if own else f"{p} {rest}")
    return out


def tokenize(line: str) -> list[str]:
    from IPython.utils.process import arg_split
    try:
        return arg_split(line, posix=True, strict=True)
    except ValueError as exc:  # unbalanced quotes
        _fail(f"cannot read the line: {exc}")


def _join_brackets(tokens: list[str]) -> list[str]:
    """``[256,`` ``512,`` ``1024]`` (an unquoted list split at its spaces) → ``[256, 512, 1024]``."""
    out, buf = [], None
    for tok in tokens:
        if buf is not None:
            buf.append(tok)
            if tok.endswith("]"):
                out.append(" ".join(buf))
                buf = None
        elif tok.startswith("[") and not tok.endswith("]"):
            buf = [tok]
        else:
            out.append(tok)
    if buf is not None:
        _fail(f"the list {' '.join(buf)!r} has no closing ]")
    return out


def parse_line(tokens: list[str]) -> tuple[dict, list[str], dict]:
    """Split tokens into the magic's own options, positional values and ``--name value`` options."""
    opts, pos, kw = {}, [], {}
    tokens = _join_brackets(tokens)
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
                _fail(f"option {name} takes no value")
            opts[_FLAGS[name]] = True
            continue
        if not eq:
            if i >= len(tokens):
                _fail(f"option {name} needs a value")
            value = tokens[i]
            i += 1
        if name in _VALUED:
            opts[_VALUED[name]] = value
        elif name.startswith("--"):
            key = name[2:].replace("-", "_")
            if key in kw:
                _fail(f"option {name} was given twice")
            kw[key] = value
        else:
            _fail(f"unknown option {name!r} (the magic's own options are -o NAME, --to UNIT, --explain, --help; "
                  "function options are --name value)")
    return opts, pos, kw


_BRACES = re.compile(r"\{([^{}\n]+)\}")


def _expand(shell, line: str) -> str:
    """Insert ``{expr}`` values from the user namespace; ``$`` stays literal (``$2.21/h``).

    (IPython's own ``$name``/``{expr}`` expansion would turn ``$2.21/h`` into ``2.21/h``, so the magic
    is ``no_var_expand`` and expands braces only.)
    """
    def value(m):
        try:
            return str(shell.ev(m.group(1)))
        except Exception as exc:  # noqa: BLE001 - any error of the user's expression
            _fail(f"cannot evaluate {{{m.group(1)}}}: {type(exc).__name__}: {exc}")

    return _BRACES.sub(value, line)


def _store(shell, name: str | None, value):
    if name is None:
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        _fail(f"-o {name!r}: not a valid Python variable name")
    shell.user_ns[name] = value


def _function(name: str):
    """The registry function a subcommand names, else a %llmcost message with suggestions."""
    try:
        return registry.lookup(name)
    except UnknownNameError as exc:
        hint = f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
        _fail(f"unknown subcommand {exc.name!r}{hint} (%llmcost? lists them)")
    except LLMCalcError as exc:
        _fail(str(exc))


def convert_result(result, to: str):
    """``--to hours``: the result in another unit (an explanation is kept)."""
    if not hasattr(result, "to") or not hasattr(result, "units"):
        _fail(f"--to {to}: this result is a {'count' if isinstance(result, int) else type(result).__name__}, it has no unit to convert")
    try:
        target = units.parse_unit_text(to, "--to")
    except LLMCalcError as exc:
        _fail(str(exc))
    try:
        return result.to(target)
    except Exception:  # noqa: BLE001 - pint DimensionalityError and friends
        _fail(f"--to {to}: cannot convert {format(result.units, '~P')} to {to} (different dimensions)")


@magics_class
class LLMCostMagics(Magics):
    """The ``%llmcost`` / ``%%llmcost`` magics (``%load_ext llmcalc``)."""

    @no_var_expand
    @magic_arguments.magic_arguments()
    @magic_arguments.argument("-o", "--output", metavar="NAME",
                              help="also store the result (Quantity, count or Scenario) in the variable NAME")
    @magic_arguments.argument("--to", metavar="UNIT", help="convert a quantity result: --to hours, --to GB, --to ms")
    @magic_arguments.argument("--explain", action="store_true",
                              help="also show the formula, the inputs, the calculation and the assumptions")
    @magic_arguments.argument("--no-plot", action="store_true", help="scenario cell: do not draw the sweep plot")
    @magic_arguments.argument("-h", "--help", action="store_true", help="print this help, or the subcommand's")
    @magic_arguments.argument("subcommand", nargs="?", help="a function (list below), help or list")
    @magic_arguments.argument("args", nargs="*",
                              help="the function's arguments in order, then --name value options")
    @line_cell_magic
    def llmcost(self, line, cell=None):
        """(help text built in load_ipython_extension)"""
        try:
            if cell is not None:
                return self._cell(line, cell)
            return self._line(line)
        except _HelpShown:
            return None

    # ---------------------------------------------------------------------------- line
    def _line(self, line: str):
        opts, pos, kw = parse_line(tokenize(_expand(self.shell, line)))
        if not pos:
            if kw:
                _fail("give a subcommand before its options, e.g. %llmcost train_days 175B 300B 1024 A100 --mfu 0.4")
            _build_help()
            print(LLMCostMagics.llmcost.__doc__)
            raise _HelpShown
        sub, values = pos[0], pos[1:]
        if sub in _HELP_WORDS:
            return self._help_or_list(sub, values)
        fn = _function(sub)
        if opts.get("help"):
            print(function_help(fn))
            raise _HelpShown
        if opts.get("no_plot"):
            _fail("--no-plot is for the %%llmcost scenario cell")
        names = {a.name for a in fn.args}
        args = []
        for v in values:
            m = _KEYWORD.match(v)
            if m and m.group(1) in names:
                if m.group(1) in kw:
                    _fail(f"{fn.name}: argument '{m.group(1)}' was given twice")
                kw[m.group(1)] = m.group(2)
            else:
                args.append(v)
        try:
            args = [self._value(v, fn, i) for i, v in enumerate(args)]
            kwargs = {k: self._value(v, fn, k) for k, v in kw.items()}
            result = fn(*args, **kwargs)
        except LLMCalcError as exc:
            _fail(f"{fn.name}: {exc}")
        if opts.get("to"):
            result = convert_result(result, opts["to"])
        _store(self.shell, opts.get("output"), result)
        if opts.get("explain") and hasattr(result, "explain"):
            from IPython.display import display
            display(result.explain())
        return result

    @staticmethod
    def _value(text: str, fn, where):
        name = (fn.args[where].name if isinstance(where, int) and where < len(fn.args) else str(where))
        items = split_list(text, name)
        return items if items is not None else text

    def _help_or_list(self, sub: str, values: list[str]):
        if sub == "help":
            if not values:
                _build_help()
                print(LLMCostMagics.llmcost.__doc__)
            else:
                fn = _function(values[0])
                print(function_help(fn))
            raise _HelpShown
        from llmcalc import cli
        what = values[0] if values else ""
        if what not in ("gpus", "models", "functions", "prices") or len(values) > 1:
            _fail("usage: %llmcost list gpus|models|functions|prices")
        cli.list_command([what])
        raise _HelpShown

    # ---------------------------------------------------------------------------- cell
    def _cell(self, line: str, cell: str):
        from .scenario import ScenarioError, run_scenario
        opts, pos, kw = parse_line(tokenize(_expand(self.shell, line)))
        if opts.get("help"):
            print(LLMCostMagics.llmcost.__doc__)
            raise _HelpShown
        if pos or kw or opts.get("to"):
            _fail("%%llmcost takes only -o NAME, --explain and --no-plot on its first line; "
                  "the scenario goes in the cell as key: value lines")
        try:
            scenario = run_scenario(_expand(self.shell, cell), plot=not opts.get("no_plot"))
        except (ScenarioError, LLMCalcError) as exc:
            _fail(str(exc))
        _store(self.shell, opts.get("output"), scenario)
        if opts.get("explain"):
            from IPython.display import display
            display(scenario.explain())
        return scenario


def _build_help():
    func = LLMCostMagics.llmcost
    func.argcmd_kwds = {"description": DESCRIPTION, "epilog": _subcommand_listing()}
    func.parser = magic_arguments.construct_parser(func)


def _text_repr(result, p, cycle):
    """Plain-text display of a quantity result: ``33.81 d`` (as the CLI prints it)."""
    mag = result.magnitude
    p.text(fmt(mag, format(result.units, "~P")))


def _count_array_repr(arr, p, cycle):
    p.text(fmt(arr))


# Explanations show "$4.42/h … = $0.0004297": keep Jupyter's MathJax from reading them as LaTeX.
_NO_MATH = "tex2jax_ignore mathjax_ignore"


def _html_no_math(obj):
    return f"<div class='{_NO_MATH}'>{obj._repr_html_()}</div>"


def _html_types():
    from llmcalc.explain import Explanation
    return (results.result_class(), results.Count, Explanation)


def load_ipython_extension(ipython):
    """``%load_ext llmcalc``: register ``%llmcost`` / ``%%llmcost`` and the results' text display."""
    _build_help()  # functions registered since import appear as subcommands
    ipython.register_magics(LLMCostMagics)
    plain = ipython.display_formatter.formatters["text/plain"]
    plain.for_type(results.result_class(), _text_repr)
    plain.for_type(results.CountArray, _count_array_repr)
    html = ipython.display_formatter.formatters["text/html"]
    for cls in _html_types():
        html.for_type(cls, _html_no_math)


def unload_ipython_extension(ipython):
    plain = ipython.display_formatter.formatters["text/plain"]
    plain.type_printers.pop(results.result_class(), None)
    plain.type_printers.pop(results.CountArray, None)
    html = ipython.display_formatter.formatters["text/html"]
    for cls in _html_types():
        html.type_printers.pop(cls, None)
