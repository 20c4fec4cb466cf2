"""The whole ``llmcalc`` command line, walked as a new user would: every subcommand's --help, every
``list``, every catalog GPU and model (plain and --json), every registry function with sample
arguments, list sweeps, typos and bad input. Nothing may end in a traceback; what is printed is
what llmcalc.display makes of the Python result.

Runs main() in-process (fast); two runs go through the installed console script to prove the
real entry point prints no traceback.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import llmcalc
from llmcalc import catalog, display
from llmcalc.cli import LIST_WHAT, for_people, main
from llmcalc.registry import REGISTRY

from excel_fixtures import sample_args

A2 = ["--gpus", "2", "--price", "$2.21/h", "--mfu", "200 TFLOP/s", "--bandwidth-utilization", "1.3 TB/s",
      "--dtype", "fp16"]


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``llmcalc ARGV``; argparse's exits are statuses too."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        rc = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def cli_args(fn, args) -> list[str]:
    """A registry function's sample arguments as a command line: required ones in order,
    optional ones as --name value (None means the default)."""
    argv = []
    for a, v in zip(fn.args, args):
        if v is None:
            continue
        text = repr(v) if isinstance(v, float) else str(v)
        argv += [f"--{a.name.replace('_', '-')}", text] if a.optional else [text]
    return argv


# ---------------------------------------------------------------- help everywhere
SUBCOMMANDS = [fn.name.replace("_", "-") for fn in REGISTRY.values()] + ["list", "serve", "calibrate"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(capsys, sub):
    rc, out, err = run(capsys, sub, "--help")
    assert rc == 0 and out.startswith(f"usage: llmcalc {sub}") and err == ""


@pytest.mark.parametrize("argv", [[], ["--help"], ["help"], ["explain", "--help"], ["help", "train-days"]])
def test_top_level_help(capsys, argv):
    rc, out, _ = run(capsys, *argv)
    assert rc == 0 and out.startswith("usage: llmcalc")
    if argv == ["help", "train-days"]:
        assert "=LLM_TRAIN_DAYS(params, tokens, gpus, gpu, [mfu], [recompute])" in out
    elif argv[:1] != ["explain"]:
        assert all(fn.name.replace("_", "-") in out for fn in REGISTRY.values())


# ---------------------------------------------------------------- lists
@pytest.mark.parametrize("what", LIST_WHAT)
def test_every_list_plain_and_json(capsys, what):
    rc, out, _ = run(capsys, "list", what)
    lines = out.splitlines()
    assert rc == 0 and len(lines) >= 1 + {"gpus": len(catalog.gpus()), "models": len(catalog.models()),
                                          "functions": len(REGISTRY), "prices": len(catalog.prices())}[what]
    rc, out, _ = run(capsys, "list", what, "--json")
    rows = json.loads(out)
    assert rc == 0 and rows
    if what == "gpus":
        by_name = {r["name"]: r for r in rows}
        assert by_name["H100-SXM5-80GB"]["bf16_TFLOPS"] == 989 and by_name["A10G"]["bf16_TFLOPS"] is None
        assert by_name["A100-SXM4-80GB"]["price_per_gpu_hour"] == 2.7          # exact in JSON
        a10g = next(line for line in lines if line.startswith("A10G "))
        assert " — " in a10g and " 0.0 " not in a10g                           # not a zero peak
        assert "$2.70" in next(line for line in lines if line.startswith("A100-SXM4-80GB"))
        assert any("A10G: no published dense 16-bit tensor peak" in line for line in lines)
    if what == "prices":
        assert all(catalog.gpu(r["gpu"]).name == r["catalog_gpu"] for r in rows)
        assert rows[0]["usd_per_gpu_hour"] == 2.21 and "$2.21" in lines[1]    # exact in JSON, money in the table
    if what == "models":
        assert next(r for r in rows if r["name"] == "GPT-3 175B")["params"] == llmcalc.model("gpt-3").params()


# ---------------------------------------------------------------- every catalog entry
@pytest.mark.parametrize("name", [g.name for g in catalog.gpus()])
def test_every_gpu_card(capsys, name):
    rc, out, err = run(capsys, "gpu", name)
    assert rc == 0 and err == "" and out.splitlines()[0] == name
    g = llmcalc.gpu(name)
    assert f"memory_GiB         {display.data_size(g.memory_bytes, binary=True)}" in out
    rc, out, _ = run(capsys, "gpu", name, "--json")
    card = json.loads(out)
    assert rc == 0 and card["function"] == "LLM_GPU" and card["name"] == name
    fields = card["fields"]
    assert fields["bandwidth_TBps"]["value"] == pytest.approx(g.bandwidth / 1e12)
    assert fields["bandwidth_TBps"]["unit"] == "TB/s"
    peak = g.peak.get("bf16") or g.peak.get("fp16")  # V100: fp16 tensor cores stand in for bf16
    if peak:
        assert fields["bf16_TFLOPS"]["value"] == pytest.approx(peak / 1e12)
        assert fields["bf16_TFLOPS"]["display"] == display.value(peak / 1e12, "TFLOP/s")
    else:  # A10G: not zero, a reason
        assert fields["bf16_TFLOPS"]["value"] is None and "peak" in fields["bf16_TFLOPS"]["missing"]
    if g.price_per_hour is not None:
        assert fields["price_per_hour"]["display"] == display.money(g.price_per_hour, per="h")


@pytest.mark.parametrize("name", [m.name for m in catalog.models()])
def test_every_model_card(capsys, name):
    rc, out, err = run(capsys, "model", name)
    m = llmcalc.model(name)
    assert rc == 0 and err == "" and out.splitlines()[0] == name
    assert f"{display.count(m.params(), 'parameter')}" in out
    rc, out, _ = run(capsys, "model", name, "--json")
    fields = json.loads(out)["fields"]
    assert fields["params"]["value"] == m.params() and fields["params"]["unit"] == "parameter"
    assert fields["layers"]["value"] == m.layers


def test_one_field_of_a_card(capsys):
    rc, out, _ = run(capsys, "gpu", "H100", "--field", "bf16_TFLOPS")
    assert rc == 0 and out.strip() == "989 TFLOP/s"
    rc, out, _ = run(capsys, "gpu", "H100", "--field", "bf16_TFLOPS", "--json")
    assert json.loads(out)["value"] == 989 and json.loads(out)["unit"] == "TFLOP/s"
    rc, out, _ = run(capsys, "gpu", "H100", "--field", "name")
    assert out.strip() == "H100-SXM5-80GB"
    rc, _, err = run(capsys, "gpu", "H10")
    assert rc == 2 and "did you mean 'H100-SXM5-80GB'" in err


# ---------------------------------------------------------------- every function
@pytest.mark.parametrize("fn", list(REGISTRY.values()), ids=lambda fn: fn.name)
def test_every_function_prints_what_python_computes(capsys, fn):
    args = sample_args(fn)
    assert args is not None, f"{fn.name}: add sample arguments in tests/excel_fixtures.py"
    argv = cli_args(fn, args)
    if fn.name in ("gpu", "model") and len(args) < 2:
        argv += ["--field", "name"]
    kwargs = {a.name: v for a, v in zip(fn.args, args) if v is not None}
    expected = fn(**kwargs) if "field" in kwargs or fn.name not in ("gpu", "model") else fn(kwargs["name"], "name")
    rc, out, err = run(capsys, fn.name.replace("_", "-"), *argv)
    assert rc == 0, err
    assert out.strip() == for_people(expected)
    rc, out, err = run(capsys, fn.name.replace("_", "-"), *argv, "--json")
    data = json.loads(out)
    assert data["function"] == fn.sheet_name and data["display"] == for_people(expected)
    exact = expected if isinstance(expected, str) else getattr(expected, "magnitude", expected)
    assert data["value"] == (exact if isinstance(exact, str) else pytest.approx(np.asarray(exact).tolist()))
    if not isinstance(expected, str):
        assert data["explanation"]["result"] == data["display"]


def test_the_articles_money_reads_like_money(capsys):
    rc, out, _ = run(capsys, "cost-per-1k-tokens", "70e9", "A100-80GB", "prompt", "1", "512", *A2)
    assert out.strip() == "$0.00043 per 1K tokens"                               # A2: $0.00042/1K
    rc, out, _ = run(capsys, "cost-per-1k-tokens", "70e9", "A100-80GB", "prompt", "1", "512", *A2, "--json")
    data = json.loads(out)
    assert data["unit"] == "USD/ktoken" and data["value"] == pytest.approx(0.00042972, rel=1e-4)
    rc, out, _ = run(capsys, "explain", "train-days", "175e9", "300e9", "1024", "A100")
    assert out.startswith("33.81 days\n\ntrain_days = 33.81 days") and "params = 175B parameters" in out


# ---------------------------------------------------------------- sweeps, typos, bad input
@pytest.mark.parametrize("argv", [["[256,512,1024]"], ["[256, 512, 1024]"], ["[256,", "512,", "1024]"]])
def test_list_sweeps_as_in_llmcost(capsys, argv):
    rc, out, _ = run(capsys, "train-days", "175e9", "300e9", *argv, "A100")
    assert rc == 0
    assert out.splitlines() == ["gpus  train_days", "256   135.2 days", "512   67.62 days", "1024  33.81 days"]
    rc, out, _ = run(capsys, "train-days", "175e9", "300e9", *argv, "A100", "--json")
    assert json.loads(out)["value"] == pytest.approx([135.247, 67.624, 33.812], rel=1e-4)


def test_sweeps_of_options_and_shared_units(capsys):
    rc, out, _ = run(capsys, "cost-per-1k-tokens", "70e9", "A100-80GB", "generated", "[1, 8, 32]", "512", *A2)
    assert out.splitlines()[1:] == ["1      $0.066 per 1K tokens", "8      $0.0083 per 1K tokens",
                                    "32     $0.0021 per 1K tokens"]        # A2 §5: $0.066, $0.00825, $0.00206
    rc, out, _ = run(capsys, "comm-seconds", "500 GB", "[200 Gb/s, 450 GB/s]")
    assert out.splitlines() == ["bandwidth  comm_seconds", "200 Gb/s   20 s", "450 GB/s   1.111 s"]      # A3: 20 s and ≈1.1 s
    rc, out, _ = run(capsys, "train-gpus", "175e9", "300e9", "[30, 60]", "A100", "--mfu", "[0.45, 0.5]")
    assert out.splitlines()[1:] == ["30    0.45  1,155", "60    0.5   520"]
    rc, _, err = run(capsys, "train-days", "175e9", "300e9", "[1,000]", "A100")
    assert rc == 2 and "ambiguous" in err and "argument 'gpus'" in err


def test_typo_suggests_the_cli_spelling(capsys):
    rc, _, err = run(capsys, "train-dayz", "1", "2", "3", "4")
    assert rc == 2 and "did you mean 'train-days'" in err and "train_days" not in err


@pytest.mark.parametrize("argv, fragment", [
    (["train-days", "175e9", "300e9", "0", "A100"], "argument 'gpus': must be > 0, got 0"),
    (["train-days", "175e9", "300e9", "1024", "A10G"], "argument 'gpu': A10G has no published dense tensor-core peak"),
    (["train-days", "abc", "300e9", "1024", "A100"], "argument 'params': unknown model 'abc'"),
    (["train-days", "175e9", "300e9", "[256, 512", "A100"], "has no closing ]"),
])
def test_bad_input_is_one_line(capsys, argv, fragment):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and fragment in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["gpu", "H100"], ["gpu", "H100", "--json"]])
def test_the_console_script_prints_no_traceback(argv):
    """The issue's crash (`Unknown format code '~'`), through the installed entry point."""
    exe = [str(p) for p in [__import__("pathlib").Path(sys.executable).with_name("llmcalc")] if p.exists()]
    cmd = exe + argv if exe else [sys.executable, "-m", "llmcalc.cli", *argv]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "" and "Traceback" not in out.stdout
    assert "H100-SXM5-80GB" in out.stdout and "989" in out.stdout
