"""Spreadsheet metadata generated from the llmcalc registry.

Everything a spreadsheet client needs to know about the functions comes from
:data:`llmcalc.registry.REGISTRY` at run time, so a newly registered function appears in Excel's
``functions.json``, in the table ``functions.js`` associates, in the task pane's list, in the
xlwings module and in the Google Sheets script without touching this package:

* :func:`functions_json` — Office.js custom-functions metadata (``functions.json``).
* :func:`function_table` — the small table prepended to ``functions.js`` (ids, parameter count,
  whether the result is a matrix).
* :func:`describe_functions` — the JSON list the task pane and ``GET /api/v1/functions`` show.
* :func:`jsdoc_source` — the same functions as JSDoc-annotated JavaScript, so Microsoft's own
  ``custom-functions-metadata`` parser can cross-check :func:`functions_json` in the tests.

Argument mapping (Office.js): ``type`` is the argument kind's ``sheet_type``, except that a
``number`` argument is declared ``any``: the registry's number kinds also take text with units
(``"$2.21/h"``, ``"200 TFLOP/s"``, ``"80 GiB"``), and Excel would turn text given to a ``number``
parameter into a bare ``#VALUE!`` before the server could read it or say which unit was wrong. An
argument whose kind accepts lists (``kind.vector``) is a ``matrix`` parameter, so a range of GPU
counts arrives as a 2-D array and the function's result is a ``matrix`` that spills in that shape.
"""
from __future__ import annotations

import json
import re

from llmcalc.registry import REGISTRY, Arg, Function

# Excel shows up to 255 characters of a function's or a parameter's description.
MAX_DESCRIPTION = 255
ID_RULE = re.compile(r"^[A-Z][A-Z0-9_.]{2,}$")  # documented: A-Z 0-9 _ . , starts with a letter, >= 3 chars

RESULT_TYPES = {"quantity": "number", "count": "number", "text": "string", "number": "any"}


def functions() -> list[Function]:
    """The registry's functions in registration order."""
    return list(REGISTRY.values())


def office_type(arg: Arg) -> str:
    """The Office.js parameter type: the kind's ``sheet_type``, with ``number`` widened to ``any``
    so that numbers with units reach the server (see the module docstring)."""
    t = arg.kind.sheet_type
    return "any" if t == "number" else t


def is_matrix_arg(arg: Arg) -> bool:
    """True where the argument accepts a range (a list broadcasts element by element)."""
    return bool(getattr(arg.kind, "vector", False))


def has_matrix_result(fn: Function) -> bool:
    return any(is_matrix_arg(a) for a in fn.args)


def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _default_text(arg: Arg) -> str:
    d = arg.default
    if d is None:
        return "from the GPU profile / catalog"
    if isinstance(d, bool):
        return "TRUE" if d else "FALSE"
    if isinstance(d, str):
        return f'"{d}"'
    return f"{d:g}" if isinstance(d, float) else str(d)


def arg_description(arg: Arg) -> str:
    unit = arg.kind.describe()
    text = arg.help.rstrip(".")
    if unit:
        text += f" [{unit}]"
    if arg.optional:
        text += f". Optional, default {_default_text(arg)}"
    return _clip(text)


def function_description(fn: Function) -> str:
    return _clip(f"{fn.summary} Returns {fn.result_unit_label}.")


def help_url(fn: Function, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/taskpane.html#fn={fn.sheet_name}"


def functions_json(base_url: str) -> dict:
    """Office.js custom-functions metadata for every registry function."""
    out = []
    for fn in functions():
        params = []
        for a in fn.args:
            p = {"name": a.name, "description": arg_description(a), "type": office_type(a),
                 "dimensionality": "matrix" if is_matrix_arg(a) else "scalar"}
            if a.optional:
                p["optional"] = True
            params.append(p)
        out.append({
            "id": fn.sheet_name,
            "name": fn.sheet_name,
            "description": function_description(fn),
            "helpUrl": help_url(fn, base_url),
            "parameters": params,
            "result": {"type": RESULT_TYPES.get(fn.result, "any"),
                       "dimensionality": "matrix" if has_matrix_result(fn) else "scalar"},
        })
    return {"functions": out}


def function_table() -> dict:
    """What ``functions.js`` needs: each id, its parameter names, and whether it returns a matrix."""
    return {"functions": [{"id": fn.sheet_name, "params": [a.name for a in fn.args],
                           "matrix": has_matrix_result(fn)} for fn in functions()]}


def _json_default(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def describe_functions() -> list[dict]:
    """The function list for the task pane and ``GET /api/v1/functions``."""
    rows = []
    for fn in functions():
        rows.append({
            "name": fn.sheet_name,
            "python": fn.name,
            "category": fn.category,
            "summary": fn.summary,
            "signature": fn.signature(),
            "returns": fn.result_unit_label,
            "result": fn.result,
            "formula": fn.formula,
            "sources": list(fn.sources),
            "matrix": has_matrix_result(fn),
            "example": [_json_default(v) for v in (fn.positional(fn.examples[0]) if fn.examples else ())],
            "args": [{"name": a.name, "help": a.help, "unit": a.kind.describe(), "type": a.kind.sheet_type,
                      "optional": a.optional, "default": _json_default(a.default) if a.optional else None,
                      "range": is_matrix_arg(a)} for a in fn.args],
        })
    return rows


def _js_comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


def jsdoc_source(base_url: str) -> str:
    """The registry as JSDoc-annotated JavaScript (Microsoft's documented authoring format).

    Used by the tests to run Microsoft's ``custom-functions-metadata`` parser over the same
    functions and compare its ``functions.json`` with :func:`functions_json`.
    """
    lines = ["// Generated from the llmcalc registry for Microsoft's custom-functions-metadata parser.", ""]
    for fn in functions():
        matrix = has_matrix_result(fn)
        lines += ["/**", f" * {_js_comment(function_description(fn))}", f" * @customfunction {fn.sheet_name}",
                  f" * @helpurl {help_url(fn, base_url)}"]
        for a in fn.args:
            t = office_type(a) + ("[][]" if is_matrix_arg(a) else "")
            name = f"[{a.name}]" if a.optional else a.name
            lines.append(f" * @param {{{t}}} {name} {_js_comment(arg_description(a))}")
        rtype = RESULT_TYPES.get(fn.result, "any") + ("[][]" if matrix else "")
        lines += [f" * @returns {{{rtype}}} {_js_comment(fn.result_unit_label)}", " */",
                  f"function {fn.name}({', '.join(a.name for a in fn.args)}) {{}}", ""]
    return "\n".join(lines)


def functions_json_text(base_url: str) -> str:
    return json.dumps(functions_json(base_url), indent=2, ensure_ascii=False)
