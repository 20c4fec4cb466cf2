"""``%llmcost`` (one registry function per subcommand) and ``%%llmcost`` (a scenario cell).

The adapter only turns a command line into a registry call and renders the result; every number
comes from :mod:`llmcalc.registry`, so a new registered function is a new subcommand at once.

    %llmcost train_days 175e9 300e9 1024 A100 --mfu 0.4 --to hours
    %llmcost -o cost cost_per_1k_tokens llama-2-70b A100-80GB generated 8 512 --gpus 2
    %llmcost train_days?            # (or: %llmcost help train_days) one function's arguments
"""
from __future__ import annotations

import keyword

from IPython.core import magic_arguments
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from llmcalc.errors import LLMCalcError

from .commandline import (DESCRIPTION, HELP_WORDS, HelpShown, convert_result, expand, fail, function,
                          function_arguments, function_help, parse_line, scenario_help, subcommand_listing, tokenize)
from .evaluate import run_scenario


def _store(shell, name: str | None, value):
    if name is None:
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        fail(f"-o {name!r}: not a valid Python variable name")
    shell.user_ns[name] = value


def _display(obj):
    from IPython.display import display
    display(obj)


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
        except HelpShown:
            return None

    # ---------------------------------------------------------------------------- line
    def _line(self, line: str):
        opts, pos, kw = parse_line(tokenize(expand(self.shell, line)))
        if not pos:
            if kw:
                fail("give a subcommand before its options, e.g. %llmcost train_days 175B 300B 1024 A100 --mfu 0.4")
            _show_help()
        sub, values = pos[0], pos[1:]
        if sub in HELP_WORDS:
            self._help_or_list(sub, values)
        fn = function(sub)
        if opts.get("help"):
            print(function_help(fn))
            raise HelpShown
        if opts.get("no_plot"):
            fail("--no-plot is for the %%llmcost scenario cell")
        args, kwargs = function_arguments(fn, values, kw)
        try:
            result = fn(*args, **kwargs)
        except LLMCalcError as exc:
            fail(f"{fn.name}: {exc}")
        if opts.get("to"):
            result = convert_result(result, opts["to"])
        _store(self.shell, opts.get("output"), result)
        if opts.get("explain") and hasattr(result, "explain"):
            _display(result.explain())
        return result

    @staticmethod
    def _help_or_list(sub: str, values: list[str]):
        if sub == "help":
            if not values:
                _show_help()
            print(scenario_help() if values[0] == "scenario" else function_help(function(values[0])))
            raise HelpShown
        from llmcalc import cli
        what = values[0] if values else ""
        if what not in ("gpus", "models", "functions", "prices") or len(values) > 1:
            fail("usage: %llmcost list gpus|models|functions|prices")
        cli.list_command([what])
        raise HelpShown

    # ---------------------------------------------------------------------------- cell
    def _cell(self, line: str, cell: str):
        opts, pos, kw = parse_line(tokenize(expand(self.shell, line)))
        if opts.get("help"):
            _show_help()
        if pos or kw or opts.get("to"):
            fail("%%llmcost takes only -o NAME, --explain and --no-plot on its first line; "
                 "the scenario goes in the cell as key: value lines")
        try:
            scenario = run_scenario(expand(self.shell, cell), plot=not opts.get("no_plot"))
        except LLMCalcError as exc:
            fail(str(exc))
        _store(self.shell, opts.get("output"), scenario)
        if opts.get("explain"):
            _display(scenario.explain())
        return scenario


def _build_help():
    func = LLMCostMagics.llmcost
    func.argcmd_kwds = {"description": DESCRIPTION, "epilog": subcommand_listing()}
    func.parser = magic_arguments.construct_parser(func)


def _show_help():
    _build_help()  # functions registered since the extension was loaded appear too
    print(LLMCostMagics.llmcost.__doc__)
    raise HelpShown


def load_ipython_extension(ipython):
    """``%load_ext llmcalc``: register ``%llmcost`` / ``%%llmcost``. (Results display themselves for
    people in text and HTML, with MathJax kept off their dollar signs: :mod:`llmcalc.results`.)"""
    _build_help()  # functions registered since import appear as subcommands
    ipython.register_magics(LLMCostMagics)


def unload_ipython_extension(ipython):
    pass
