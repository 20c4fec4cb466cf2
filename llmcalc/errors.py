"""Errors raised for bad input. Every one names the argument and says what was wrong."""
from __future__ import annotations


class LLMCalcError(ValueError):
    """Base class of llmcalc's input errors (a ValueError, so generic handlers catch it)."""


class ArgumentError(LLMCalcError):
    """An argument's value is wrong: ``argument 'gpus': must be a whole number > 0, got -1``."""

    def __init__(self, argument: str, problem: str):
        self.argument = argument
        self.problem = problem
        super().__init__(f"argument '{argument}': {problem}")


class UnknownNameError(ArgumentError):
    """A GPU, model or field name that is not in the catalog; the message lists near matches."""

    def __init__(self, argument: str, kind: str, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(argument, f"unknown {kind} {name!r}{hint}")


class NonFiniteResultError(ArgumentError):
    """The inputs are each valid but the result overflows or is undefined (a spreadsheet's #NUM!)."""
