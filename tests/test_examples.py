"""Every registry function's examples give their expected value through every front-end: Python,
the CLI, the HTTP API (the spreadsheet add-in's batch endpoint) and the %llmcost magic.

The examples are declared once, with their functions (``examples=[Example(...)]`` in
llmcalc/api/*); each says where its expected value comes from (an article's figure, a measurement,
a hand calculation).
"""
import json
import math
import shlex

import pytest

import llmcalc
from llmcalc.cli import main as cli_main
from llmcalc.registry import REGISTRY

CASES = [(fn, i) for fn in REGISTRY.values() for i in range(len(fn.examples))]
IDS = [f"{fn.name}-{i}" for fn, i in CASES]


def check(got, e):
    if isinstance(e.expected, str):
        assert got == e.expected
    else:
        assert isinstance(got, (int, float)) and not isinstance(got, bool), got
        assert got == pytest.approx(e.expected, rel=e.rel), e.note


def as_text(v) -> str:
    return repr(v) if isinstance(v, float) else str(v)


def command_words(fn, e) -> list[str]:
    """The example as CLI / %llmcost words: required arguments in order, optional ones as --name value."""
    words = [fn.name]
    for a, v in zip(fn.args, fn.positional(e)):
        if v is not None:
            words += [as_text(v)] if not a.optional else [f"--{a.name.replace('_', '-')}", as_text(v)]
    return words


def test_every_function_has_an_example_with_a_note():
    assert CASES and all(fn.examples for fn in REGISTRY.values())
    assert all(e.note for fn in REGISTRY.values() for e in fn.examples)


@pytest.mark.parametrize("fn, i", CASES, ids=IDS)
def test_python(fn, i):
    e = fn.examples[i]
    r = fn(*e.args, **e.kwargs)
    check(r if isinstance(r, (str, int)) and not hasattr(r, "magnitude") else float(r.magnitude), e)
    # the public function is the registry's, and the result explains itself
    assert getattr(llmcalc, fn.name) is fn or fn.name in ("gpu", "model")
    if not isinstance(r, str):
        assert fn.sheet_name in str(r.explain()) or fn.name in str(r.explain())


@pytest.mark.parametrize("fn, i", CASES, ids=IDS)
def test_cli(fn, i, capsys):
    e = fn.examples[i]
    name, *words = command_words(fn, e)
    assert cli_main([name.replace("_", "-"), *words, "--json"]) == 0
    check(json.loads(capsys.readouterr().out)["value"], e)


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from llmcalc.excel import server
    with TestClient(server.create_app()) as c:
        yield c


@pytest.mark.parametrize("fn, i", CASES, ids=IDS)
def test_http(fn, i, client):
    e = fn.examples[i]
    r = client.post("/api/v1/batch", json={"calls": [{"function": fn.sheet_name, "args": fn.positional(e)}]})
    assert r.status_code == 200, r.text
    [result] = r.json()["results"]
    assert "error" not in result, result
    check(result["value"], e)


@pytest.mark.parametrize("fn, i", CASES, ids=IDS)
def test_magic(fn, i, ip):
    e = fn.examples[i]
    words = command_words(fn, e)
    result = ip.run_cell("%llmcost " + " ".join(shlex.quote(w) for w in words), store_history=False)
    assert result.error_in_exec is None and result.error_before_exec is None
    r = result.result
    got = r if isinstance(r, str) else (int(r) if fn.result == "count" else float(getattr(r, "magnitude", r)))
    check(got, e)
    assert not isinstance(got, float) or math.isfinite(got)
