"""The %%llmcost fleet scenario (magics/fleet.py): traffic and latency targets → replicas, GPUs, $/month,
$ per million tokens, latency percentiles, the API's bill and the breakeven; every number equals the
registry function it comes from."""
import pytest

import llmcalc

IPython = pytest.importorskip("IPython")

CELL = """%%llmcost -o fleet
model: llama-3.1-70b
gpu: 4 x H100
traffic: 2, 8, 20 req/s
prompt: 1500 tokens
output: 300 tokens
slo: ttft 1 s, tpot 40 ms
dtype: fp8
api: gpt-4o
"""


@pytest.fixture(scope="module")
def ip():
    from IPython.testing.globalipapp import get_ipython
    shell = get_ipython()
    shell.run_line_magic("load_ext", "llmcalc")
    return shell


@pytest.fixture(scope="module")
def fleet(ip):
    r = ip.run_cell(CELL, store_history=False)
    assert r.error_in_exec is None, r.error_in_exec
    return ip.user_ns["fleet"]


def test_fleet_rows_are_the_registry_functions(fleet):
    kw = dict(ttft_slo="1 s", tpot_slo="40 ms", gpus=4, dtype="fp8")
    assert fleet.kind == "fleet"
    assert fleet.column("traffic") == [2, 8, 20]
    gpus = [int(llmcalc.serving_gpus("llama-3.1-70b", "H100", r, 1500, 300, **kw)) for r in (2, 8, 20)]
    assert fleet.column("gpus_total") == gpus and gpus[-1] == 12       # the question: 3 replicas of 4 × H100
    assert fleet.column("replicas") == [g // 4 for g in gpus]
    cost = llmcalc.serving_cost("llama-3.1-70b", "H100", 20, 1500, 300, **kw).to("USD/month").magnitude
    assert fleet.column("monthly")[-1] == pytest.approx(cost)
    api = llmcalc.api_cost("gpt-4o", 1500, 300).magnitude * 20 * 730 * 3600
    assert fleet.column("api_monthly")[-1] == pytest.approx(api)
    assert fleet.column("cheaper") == ["self-hosting"] * 3
    ttft = fleet.column("ttft")
    assert all(t < 1.0 for t in ttft)                                  # within the target at every traffic


def test_fleet_description_table_and_plot(ip, fleet):
    text = ip.display_formatter.format(fleet)[0]["text/plain"]
    assert "TTFT ≤ 1 s, TPOT ≤ 40 ms at the 90th percentile" in text
    assert "breakeven: self-hosting beats gpt-4o above 56,747 requests/day" in text
    assert [p[0] for p in fleet.plot_series()] == ["$ per month", "latency at the load"]
    ax = fleet.figure.axes[0]
    assert any("breakeven" in (line.get_label() or "") for line in ax.get_lines())


@pytest.mark.parametrize("cell, needle", [
    ("model: llama-3.1-70b\ngpu: 4 x H100\ntraffic: 0 req/s\nprompt: 1500\noutput: 300", "traffic"),
    ("model: llama-3.1-70b\ngpu: 4 x H100\ntraffic: 20 req/s\nprompt: 1500\noutput: 300\nslo: tpot 2 ms", "field 'slo': cannot be met"),
    ("model: llama-3.1-70b\ngpu: 4 x H100\ntraffic: 20\nprompt: 1500\noutput: 300\napi: gpt-9", "unknown API model"),
    ("model: llama-3.1-70b\ngpu: 4 x H100\ntraffic: 20\nprompt: 1500", "output:"),
])
def test_bad_fleet_cells_are_one_clear_line(ip, capsys, cell, needle):
    capsys.readouterr()
    r = ip.run_cell("%%llmcost\n" + cell, store_history=False)
    out, err = capsys.readouterr()
    assert type(r.error_in_exec).__name__ == "UsageError"
    text = (out + err).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1 and needle in text, text
