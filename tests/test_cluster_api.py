"""User-facing cluster training functions: train_iteration_time, train_mfu, train_plan, mfu="auto".

Bad plans must give an error that names the argument in every front-end (Python, CLI, HTTP);
the articles' defaults must not move.
"""
import json

import pytest

import llmcalc
from llmcalc.cli import main as cli_main

LAYOUT = ("Llama-3.1-70B", "H100", "tp=8 pp=4 dp=32 mb=1", 8192, 512)


def test_iteration_time_and_mfu_are_consistent():
    t = llmcalc.train_iteration_time(*LAYOUT, "selective").magnitude
    u = float(llmcalc.train_mfu(*LAYOUT, "selective"))
    m = llmcalc.model("Llama-3.1-70B")
    from llmcalc.parallel.flops import model_flops
    peak = llmcalc.gpu("H100").peak_flops("bf16")
    assert u == pytest.approx(model_flops(m, 8192, 512) / (t * 1024 * peak), rel=1e-6)
    text = str(llmcalc.train_mfu.explain(*LAYOUT, "selective"))
    assert "Megatron-Core model FLOPs" in text and "HFU" in text


def test_recompute_modes_and_booleans():
    full = llmcalc.train_iteration_time(*LAYOUT, "full").magnitude
    assert llmcalc.train_iteration_time(*LAYOUT, True).magnitude == full
    sel = llmcalc.train_iteration_time(*LAYOUT, "selective").magnitude
    none = llmcalc.train_iteration_time(*LAYOUT, False).magnitude
    auto = llmcalc.train_iteration_time(*LAYOUT).magnitude
    assert none <= sel < full and auto == pytest.approx(min(none, sel, full))


def test_cluster_argument_changes_the_network():
    base = llmcalc.train_iteration_time("Llama-3.1-8B", "H100", "dp=64 zero=3 mb=1", 4096, 64, "full").magnitude
    slow = llmcalc.train_iteration_time("Llama-3.1-8B", "H100", "dp=64 zero=3 mb=1", 4096, 64, "full",
                                        cluster="scaleout=25Gb/s").magnitude
    assert slow > 1.5 * base


def test_framework_argument_selects_the_stack_the_published_rows_ran():
    # Korthikanti et al. 2022 Table 5 (arXiv 2205.05198): 175B, tp8 pp8 v3, selective + SP: 13.75 s measured with
    # 2022 Megatron-LM; the default (modern: FlashAttention, no dropout, overlapped collectives) is faster
    t5 = ("GPT-3 175B", "A100", "tp=8 pp=8 vp=3 dp=1 mb=1", 2048, 64, "selective", "fp16")
    old = llmcalc.train_iteration_time(*t5, framework="megatron-2022")
    assert old.magnitude == pytest.approx(13.75, rel=0.03)
    assert llmcalc.train_iteration_time(*t5).magnitude < 0.95 * old.magnitude
    assert "megatron-2022" in str(old.explain())
    # aliases, and plain PyTorch (unfused kernels, no TP overlap) is slower than Megatron-Core on the same layout
    core = llmcalc.train_iteration_time(*LAYOUT, "selective", framework="Megatron-Core").magnitude
    assert core == llmcalc.train_iteration_time(*LAYOUT, "selective").magnitude
    assert llmcalc.train_iteration_time(*LAYOUT, "selective", framework="pytorch").magnitude > 1.05 * core
    assert llmcalc.train_plan("Llama-3.1-8B", "H100", 64, 4096, 256, framework="pytorch")


def test_framework_auto_times_fully_sharded_data_parallel_as_plain_pytorch():
    # zero=3/fsdp alone is a PyTorch FSDP / DeepSpeed ZeRO-3 job (the model's own PyTorch code, unfused kernels):
    # the default times it with the plain-PyTorch stack; tensor/pipeline layouts stay Megatron-Core
    fsdp = ("Llama-2-7B", "A100", "zero=fsdp dp=128 mb=2", 4096, 1024, "none")
    auto = llmcalc.train_iteration_time(*fsdp).magnitude
    assert auto == llmcalc.train_iteration_time(*fsdp, framework="pytorch").magnitude
    assert auto > 1.05 * llmcalc.train_iteration_time(*fsdp, framework="modern").magnitude
    assert "reference" in str(llmcalc.train_iteration_time.explain(*fsdp))
    assert llmcalc.train_iteration_time(*LAYOUT, "selective").magnitude == \
        llmcalc.train_iteration_time(*LAYOUT, "selective", framework="modern").magnitude
    # the layout search times the same layouts the same way
    from llmcalc.parallel import search as srch
    r = srch.search(llmcalc.model("Llama-2-7B"), llmcalc.gpu("A100"), 128, 4096, 1024, top=400)
    row = next(x for x in r.table if x["plan"].startswith("dp=128 "))
    one = llmcalc.train_iteration_time("Llama-2-7B", "A100", row["plan"], 4096, 1024, row["recompute"]).magnitude
    assert one == pytest.approx(row["seconds"], rel=1e-9)


def test_train_plan_is_text_in_a_cell_and_a_search_result_in_python():
    r = llmcalc.train_plan("Llama-3.1-8B", "H100", 64, 4096, 256)
    assert isinstance(r, str) and llmcalc.Plan and "dp=" in r
    assert r == llmcalc.train_plan.sheet_value("Llama-3.1-8B", "H100", 64, 4096, 256)
    assert r.seconds > 0 and 0 < r.mfu < 1 and r.memory_per_gpu > 1e9
    assert set(r.breakdown) >= {"compute", "tp_comm", "bubble", "dp_comm", "optimizer"}
    assert r.table[0]["plan"] == str(r) and all(row["seconds"] >= r.seconds - 1e-12 for row in r.table)
    assert "next best layouts" in str(r.explain())
    # the text runs back through train_iteration_time with the same time
    assert llmcalc.train_iteration_time("Llama-3.1-8B", "H100", str(r), 4096, 256).magnitude == pytest.approx(r.seconds)


def test_articles_defaults_do_not_move():
    assert llmcalc.train_days(175e9, 300e9, 1024, "A100").magnitude == pytest.approx(33.81, rel=1e-3)
    # a model name still means its parameter count at the articles' 45%
    assert llmcalc.train_days("GPT-3 175B", 300e9, 1024, "A100").magnitude == pytest.approx(
        llmcalc.train_days(llmcalc.model("GPT-3 175B").params(), 300e9, 1024, "A100").magnitude)


def test_mfu_auto_times_the_best_layout():
    d = llmcalc.train_days("Llama-3.1-70B", 15e12, 2048, "H100", "auto")
    lines = "\n".join(d.explain().steps)
    assert "best layout of 2,048" in lines and "MFU" in lines
    from llmcalc.parallel import budget
    r = budget.best(llmcalc.model("Llama-3.1-70B"), llmcalc.gpu("H100"), 2048)
    assert d.magnitude == pytest.approx(15e12 / (r.best.seq * r.best.global_batch) * r.best.seconds / 86400)
    # GPUs for a deadline: the count found meets it, and 1/8 fewer would not
    n = int(llmcalc.train_gpus("Llama-3.1-70B", 15e12, 60, "H100", "auto"))
    assert llmcalc.train_days("Llama-3.1-70B", 15e12, n, "H100", "auto").magnitude <= 60
    hours = llmcalc.train_gpu_hours("Llama-3.1-70B", 15e12, "H100", mfu="auto", gpus=n).magnitude
    assert hours == pytest.approx(llmcalc.train_days("Llama-3.1-70B", 15e12, n, "H100", "auto").magnitude * 24 * n)
    cost = llmcalc.train_cost("Llama-3.1-70B", 15e12, "H100", 2.0, "auto", gpus=n).magnitude
    assert cost == pytest.approx(2.0 * hours)


@pytest.mark.parametrize("call, arg", [
    (lambda: llmcalc.train_days(70e9, 15e12, 1024, "H100", "auto"), "mfu"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=3 dp=8", 4096, 64), "plan"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=8 dp=3", 4096, 64), "global_batch"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "dp=8 zero=0", 4096, 64), "plan"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=8 pp=4", 4096, 64, "sometimes"), "recompute"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "A100", "tp=8 pp=4", 4096, 64, dtype="fp8"), "dtype"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=8 pp=4", 4096, 64, cluster="domain=-1"), "cluster"),
    (lambda: llmcalc.train_plan("Llama-3.1-405B", "H100", 8, 4096, 8), "gpus"),
    (lambda: llmcalc.train_iteration_time("Llama-3.1-70B", "H100", "tp=8 pp=4", 4096, 64, framework="jax"), "framework"),
])
def test_bad_inputs_name_the_argument_in_python(call, arg):
    with pytest.raises(llmcalc.ArgumentError) as e:
        call()
    assert e.value.argument == arg


def test_bad_plan_in_the_cli_and_over_http(capsys):
    assert cli_main(["train-iteration-time", "Llama-3.1-70B", "H100", "tp=3 dp=8", "4096", "64"]) != 0
    assert "plan" in capsys.readouterr().err
    import httpx

    from excel_fixtures import live_server
    from llmcalc.excel import server
    with live_server(server.create_app()) as srv, httpx.Client(base_url=srv.url, timeout=60, trust_env=False) as c:
        r = c.post("/api/v1/batch", json={"calls": [
            {"function": "LLM_TRAIN_ITERATION_TIME", "args": ["Llama-3.1-70B", "H100", "tp=3 dp=8", 4096, 64]},
            {"function": "LLM_TRAIN_PLAN", "args": ["Llama-3.1-8B", "H100", 64, 4096, 256]}]})
    assert r.status_code == 200
    bad, good = r.json()["results"]
    assert "plan" in json.dumps(bad) and "error" in json.dumps(bad).lower()
    assert "dp=" in json.dumps(good)
