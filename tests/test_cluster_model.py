"""The cluster training model (llmcalc/parallel): layouts, FLOP conventions, step time, memory, search.

Expected values come from the papers the model is checked against (Korthikanti et al. 2022,
"Reducing Activation Recomputation in Large Transformer Models", Tables 4 and 5 and Figure 1;
Narayanan et al. 2021 (SC'21) Eq. 3 and Tables 1–2) and from the single-GPU H100 calibration runs.
"""
import numpy as np
import pytest

import llmcalc
from llmcalc.model import Model
from llmcalc.parallel import flops, memory, search, stack, step
from llmcalc.parallel.estimate import estimate, parse_cluster
from llmcalc.parallel.plan import Plan, parse
from llmcalc.perf import comm, profile

GiB = 2 ** 30
A100 = llmcalc.gpu("A100-80GB")
H100 = llmcalc.gpu("H100")


def gpt(L, h, a, V=51200, seq=2048):
    """Megatron's GPT: LayerNorm, 4h GeLU MLP with biases, learned positions, tied embeddings."""
    return Model(name=f"gpt-{L}x{h}", layers=L, hidden=h, heads=a, vocab=V, ffn=4 * h, ffn_type="gelu",
                 tied_embeddings=True, position="learned", norm="layernorm", linear_bias=True, max_context=seq)


GPT22B, GPT175B = gpt(48, 6144, 64), gpt(96, 12288, 96)


# ------------------------------------------------------------------------------------------ plans

def test_plan_text_round_trip_and_gpu_count():
    p = parse("tp=8 pp=12 dp=16")
    assert (p.tp, p.pp, p.dp, p.gpus) == (8, 12, 16, 1536) and p.sequence_parallel and p.zero == "1"
    q = parse("TP=4, pp: 4; cp=2 dp=64 vp=5 mb=1 sp=off zero=fsdp")
    assert (q.cp, q.vp, q.mb, q.sp, q.shard_level, q.gpus) == (2, 5, 1, False, 3, 2048)
    assert parse(q.text()) == q
    assert parse(Plan(tp=2)) == Plan(tp=2) and parse({"tp": 2, "dp": 4}).gpus == 8


@pytest.mark.parametrize("text, words", [
    ("tp=8 pp=12 tp=2", "twice"), ("tp=0", "from 1 to"), ("tp=1.5", "whole"), ("foo=3", "unknown key"),
    ("tp 8", "key=value"), ("", "empty"), ("vp=2", "needs pp > 1"), ("dp=4 ep=3", "must divide dp·cp"),
    ("zero=4", "zero must be"), ("sp=maybe", "on or off"),
])
def test_bad_plan_text_names_the_argument(text, words):
    with pytest.raises(llmcalc.ArgumentError, match=words) as e:
        parse(text)
    assert e.value.argument == "plan"


@pytest.mark.parametrize("plan, seq, gbs, arg, words", [
    ("tp=128 dp=1", 2048, 8, "plan", "must divide the 64 attention heads"),
    ("tp=3 dp=1", 2048, 8, "plan", "must divide"),
    ("pp=64 dp=1", 2048, 64, "plan", "at least one layer"),
    ("tp=8 dp=3", 2048, 8, "global_batch", "dp=3"),
    ("tp=8 cp=3 dp=1", 2048, 8, "plan", "cp=3"),
    ("tp=8 dp=2 ep=2", 2048, 8, "plan", "mixture-of-experts"),
    ("tp=8 dp=2 mb=3", 2048, 8, "plan", "mb=3"),
])
def test_layouts_that_cannot_run_the_model_are_refused(plan, seq, gbs, arg, words):
    with pytest.raises(llmcalc.ArgumentError, match=words) as e:
        estimate(GPT22B, A100, plan, seq, gbs)
    assert e.value.argument == arg


def test_a_layout_that_does_not_fit_says_why():
    with pytest.raises(llmcalc.ArgumentError, match="does not fit.*activations.*zero=3") as e:
        estimate(GPT175B, A100, "tp=1 dp=8 zero=0", 2048, 8)
    assert e.value.argument == "plan"


def test_cluster_text_overrides_the_catalog_network():
    c = parse_cluster("domain=72 scaleup=900GB/s scaleout=800Gb/s", H100)
    assert (c.scale_up_size, c.scale_up.bandwidth, c.scale_out.bandwidth) == (72, 900e9, 100e9)
    assert parse_cluster(None, H100) == comm.cluster_of(H100)
    for bad, words in (("domain=0", "whole number"), ("scaleup=900", "needs a unit"), ("speed=3GB/s", "unknown key"),
                       ("scaleout=fast", "number")):
        with pytest.raises(llmcalc.ArgumentError, match=words) as e:
            parse_cluster(bad, H100)
        assert e.value.argument == "cluster"


# ------------------------------------------------------------------------------------------ FLOPs

def test_megatron_core_model_flops_reduce_to_korthikanti_for_gpt():
    # Korthikanti et al. 2022 §6: model FLOPs 72·B·L·s·h²·(1 + s/(6h) + V/(12·h·L))
    assert flops.model_flops(GPT175B, 2048, 64) == pytest.approx(flops.korthikanti_model(64, 2048, 96, 12288, 51200), rel=1e-12)
    # full recomputation adds one forward of the layers: Narayanan's Eq. 3 without its LM-head difference
    hw = flops.hardware_flops(GPT175B, 2048, 64, "full")
    eq3 = flops.narayanan_eq3(64, 2048, 96, 12288, 51200)
    assert hw == pytest.approx(eq3, rel=0.01)


def test_gqa_swiglu_model_flops_follow_the_megatron_core_formula():
    from llmcalc import catalog
    m = catalog.model("Llama-3.1-70B")
    s, L, h, a, kv, f, V = 8192, m.layers, m.hidden, m.heads, m.kv_heads, m.ffn, m.vocab
    q = a * m.head_dim
    expected = 12 * s * L * h * h * ((1 + kv / a + s / h) * (q / h) + (f / h) * 1.5 + V / (2 * L * h))
    assert flops.model_flops(m, s) == pytest.approx(expected, rel=1e-9)


# ------------------------------------------------------------------------------------------ time

def _layer(rc, sp):
    prof = profile.derived(A100)
    a = step.Arch(GPT22B)
    t = step.layer_times(a, prof, A100, comm.cluster_of(A100), 8, 1, 4, 2048, sp, 1, stack.stack("megatron-2022"), "fp16")
    f = t["fwd"] + t["tp_fwd"]
    rec = f if rc == "full" else t["attn_fwd"] if rc == "selective" else 0.0
    return f, t["bwd"] + t["tp_bwd"] + rec


@pytest.mark.parametrize("rc, sp, fwd_ms, bwd_ms", [
    ("none", False, 7.7, 11.9), ("none", True, 7.2, 11.8), ("full", False, 7.7, 19.5),
    ("selective", False, 7.7, 13.2), ("selective", True, 7.2, 13.1),
])
def test_one_22b_layer_matches_korthikanti_table_4(rc, sp, fwd_ms, bwd_ms):
    # Korthikanti et al. 2022 Table 4: one layer of the 22B GPT, TP 8, micro-batch 4, seq 2048, A100.
    # The backward hides its tensor-parallel all-reduce behind the weight-gradient GEMM at the one global
    # overlap φ, fitted on every published source (ZeRO-3 rows included): without sequence parallelism
    # that leaves the backward up to 4% long (benchmarks/accuracy_training.py, rows T55-T59).
    f, b = _layer(rc, sp)
    assert f * 1e3 == pytest.approx(fwd_ms, rel=0.03)
    assert b * 1e3 == pytest.approx(bwd_ms, rel=0.05)
    assert (f + b) * 1e3 == pytest.approx(fwd_ms + bwd_ms, rel=0.03)


@pytest.mark.parametrize("model, plan, rc, sp, published_s, bound", [
    (GPT22B, Plan(tp=8, dp=1, mb=4, sp=False), "full", False, 1.42, 0.03),
    (GPT22B, Plan(tp=8, dp=1, mb=4, sp=True), "selective", True, 1.10, 0.07),
    (GPT175B, Plan(tp=8, pp=8, vp=3, dp=1, mb=1, sp=False), "full", False, 18.13, 0.03),
    (GPT175B, Plan(tp=8, pp=8, vp=3, dp=1, mb=1, sp=True), "selective", True, 13.75, 0.03),
])
def test_korthikanti_table_5_iterations(model, plan, rc, sp, published_s, bound):
    # Korthikanti et al. 2022 Table 5 (A100-80GB, seq 2048, global batch = GPUs / TP / PP … as published);
    # bounds are the model's documented errors (benchmarks/accuracy_training.py) plus a margin
    gbs = {GPT22B: 4, GPT175B: 64}[model]
    r = estimate(model, A100, plan.with_(zero="0"), 2048, gbs, recompute=rc, dtype="fp16", stack="megatron-2022")
    assert r.seconds == pytest.approx(published_s, rel=bound)


@pytest.mark.parametrize("sp", [False, True])
def test_a_parallel_attention_block_halves_the_tensor_parallel_collectives(sp):
    # Falcon: attention and MLP read the same normalised input and add their outputs, so a tensor-parallel
    # layer reduces once (all-reduce, or all-gather + reduce-scatter with SP) instead of twice
    falcon = llmcalc.model("Falcon-40B")
    assert falcon.parallel_attention and not llmcalc.model("llama-2-70b").parallel_attention
    serial = falcon.model_copy(update={"parallel_attention": False})
    prof = profile.derived(A100)
    ref = stack.stack("megatron-2022")
    par, seq_ = (step.layer_times(step.Arch(m), prof, A100, comm.cluster_of(A100), 8, 1, 1, 2048, sp, 1, ref, "bf16")
                 for m in (falcon, serial))
    assert par["tp_fwd"] == pytest.approx(seq_["tp_fwd"] / 2, rel=1e-9)
    assert par["fwd"] == pytest.approx(seq_["fwd"], rel=1e-9)       # same GEMMs and kernels


def test_userbuffers_hide_tp_collectives_but_take_sms_from_the_gemms():
    # Transformer Engine userbuffers (modern stack, SP): all-gathers over the copy engines are hidden behind
    # the GEMM they feed; reduce-scatters and the backward's bulk overlaps run on 16 SMs taken from the GEMM
    # beside them (TE initialize_ub defaults), which then takes W/(1 − margin)
    f, dx, dw, col = [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0], [2.0, 1.0, 2.0, 1.0], [0, 2]   # QKV, out, up, down
    fwd, bwd = step.userbuffers_tp(f, dx, dw, col, 0.5, 2.0, 0.25)
    assert fwd == pytest.approx((2.0 + 4.0) * (1 / 0.75 - 1))                 # out + down forward, stretched
    assert bwd == pytest.approx((1.0 + 1.0 + 2.0 + 2.0) * (1 / 0.75 - 1))     # QKV/up data and weight gradients
    fwd, _ = step.userbuffers_tp(f, dx, dw, col, 1.5, 2.0, 0.0)
    assert fwd == pytest.approx(0.5)           # the QKV all-gather outlasts its GEMM by 0.5; the others hide
    fwd, _ = step.userbuffers_tp(f, dx, dw, col, 1.5, 1.0, 0.0)
    assert fwd == pytest.approx(0.0)           # a parallel block gathers once, behind QKV + up together
    # without sequence parallelism userbuffers do not apply: the forward all-reduces show in full
    a, prof = step.Arch(llmcalc.model("llama-3.1-70b")), profile.measured()
    t = {sp: step.layer_times(a, prof, H100, comm.cluster_of(H100), 8, 1, 1, 8192, sp, 1, stack.stack("modern"), "bf16")
         for sp in (False, True)}
    assert t[False]["tp_fwd"] == pytest.approx(2 * comm.all_reduce(8192 * 8192 * 2, 8, comm.cluster_of(H100)))
    assert 0 < t[True]["tp_fwd"] < t[False]["tp_fwd"] / 2


def test_pipeline_bubble_is_p_minus_1_over_v_m():
    # Narayanan et al. 2021 §2.2: bubble time fraction (p − 1)/(v·m) of the ideal time, for even stages
    m = Model(name="even", layers=32, hidden=4096, heads=32, vocab=0, max_context=4096)
    for pp, vp, gbs in ((4, 1, 64), (8, 2, 64), (8, 4, 32)):
        r = estimate(m, H100, Plan(tp=1, pp=pp, vp=vp, dp=1, mb=1, zero="0"), 2048, gbs, recompute="none", stack="modern")
        ideal = r.terms["micro_batches"] * r.terms["stage_time"]
        assert r.terms["bubble"] / ideal == pytest.approx((pp - 1) / (vp * gbs), rel=0.02)


def test_fewer_micro_batches_than_stages_cross_every_stage_in_sequence():
    # m < p: one micro-batch through p stages takes p stage times, whatever the interleaving
    m = Model(name="even", layers=32, hidden=4096, heads=32, vocab=0, max_context=4096)
    for vp in (1, 4):
        r = estimate(m, H100, Plan(tp=1, pp=8, vp=vp, dp=1, mb=1, zero="0"), 2048, 1, recompute="none")
        assert r.terms["bubble"] + r.terms["compute"] == pytest.approx(8 * r.terms["stage_time"], rel=0.005)
    # m = 2 micro-batches, v = 4: (p + (m−1)/v) stage times
    r = estimate(m, H100, Plan(tp=1, pp=8, vp=4, dp=1, mb=1, zero="0"), 2048, 2, recompute="none")
    assert (r.terms["bubble"] + r.terms["compute"]) / r.terms["stage_time"] == pytest.approx(8 + 1 / 4, rel=0.005)


def test_cluster_model_on_one_gpu_is_the_single_gpu_model():
    # the calibration engine on one H100 (llmcalc.train_step_time) and the cluster model agree
    tiny = Model(name="tinyllama-1.1b", layers=22, hidden=2048, heads=32, kv_heads=4, ffn=5632, vocab=32000)
    from llmcalc import catalog
    for m, b, rc in ((tiny, 8, True), (catalog.model("Llama-3.2-1B"), 4, False)):
        one = llmcalc.train_step_time(m, "H100", b, 2048, recompute=rc).magnitude
        r = estimate(m, H100, Plan(dp=1, mb=b, zero="0"), 2048, b, recompute="full" if rc else "none", stack="reference")
        assert r.seconds == pytest.approx(one, rel=0.01)


def test_fp8_speeds_up_gemms_not_everything_and_needs_fp8_tensor_cores():
    from llmcalc import catalog
    m = catalog.model("Llama-3.1-70B")
    b16 = estimate(m, H100, "tp=8 pp=4 dp=4 mb=1", 8192, 64, recompute="selective").seconds
    f8 = estimate(m, H100, "tp=8 pp=4 dp=4 mb=1", 8192, 64, recompute="selective", dtype="fp8").seconds
    assert 1.2 < b16 / f8 < 1.85        # GEMMs at the fp8 rate (1.85× bf16 on H100); attention, norms stay 16-bit
    with pytest.raises(llmcalc.ArgumentError, match="fp8") as e:
        estimate(m, A100, "tp=8 pp=4 dp=4", 8192, 64, dtype="fp8")
    assert e.value.argument == "dtype"


def test_data_parallel_overlap_hides_most_of_the_gradient_reduction():
    from llmcalc import catalog
    m = catalog.model("Llama-3.1-8B")
    modern = estimate(m, H100, "tp=1 dp=64 mb=1 zero=1", 4096, 512, recompute="full")
    old = estimate(m, H100, "tp=1 dp=64 mb=1 zero=1", 4096, 512, recompute="full",
                   stack=stack.with_(stack.stack("modern"), dp_overlap=False, param_gather_overlap=False))
    assert modern.terms["dp_comm"] < 0.5 * old.terms["dp_comm"]
    assert old.terms["dp_comm"] == pytest.approx(old.seconds - modern.seconds + modern.terms["dp_comm"], rel=1e-6)


# ------------------------------------------------------------------------------------------ memory

@pytest.mark.parametrize("model, tp, pp, vp, none_gib, seqsel_gib", [
    # Korthikanti et al. 2022 Figure 1 (activation memory of the first stage, GiB), as transcribed in
    # calculon-ai/calculon validation.py seqsel_fig1
    (GPT22B, 8, 1, 1, 59.25, 9.5625), (GPT175B, 8, 8, 3, 66.84375, 12.3515625),
    (gpt(105, 20480, 128), 8, 35, 3, 114.0234375, 23.076171875), (gpt(128, 25600, 160), 8, 64, 1, 131.25, 26.5625),
])
def test_activation_memory_matches_korthikanti_figure_1(model, tp, pp, vp, none_gib, seqsel_gib):
    a = step.Arch(model)
    mb = 4 if model is GPT22B else 1
    gbs = {1: 4, 8: 64, 35: 280, 64: 512}[pp]
    st = stack.stack("megatron-2022")
    kw = dict(tp=tp, pp=pp, cp=1, dp=1, ep=1, vp=vp, mb=mb, shard=0, seq=2048, global_batch=gbs, stack=st)
    none = memory.breakdown(a, sp=False, recompute=0, **kw)["activations"] / GiB
    sel = memory.breakdown(a, sp=True, recompute=1, **kw)["activations"] / GiB
    assert none == pytest.approx(none_gib, rel=0.02)
    assert sel == pytest.approx(seqsel_gib, rel=0.04)


def test_per_layer_activations_are_korthikanti_formula():
    # s·b·h·(10 + 24/t + 5·a·s/(h·t)) without SP; (34/t + 5as/(ht)) with SP; 34·sbh/t with SP + selective
    a = step.Arch(GPT175B)
    s, b, h, t, heads = 2048, 1, 12288, 8, 96
    f = lambda sp, sel: memory.layer_activation_bytes(a, s * b, s, t, sp, False, True, sel)
    assert f(False, False) == pytest.approx(s * b * h * (10 + 24 / t + 5 * heads * s / (h * t)))
    assert f(True, False) == pytest.approx(s * b * h * (34 / t + 5 * heads * s / (h * t)))
    assert f(True, True) == pytest.approx(34 * s * b * h / t)


def test_zero_stages_shard_model_states():
    from llmcalc import catalog
    a = step.Arch(catalog.model("Llama-3.1-8B"))
    kw = dict(tp=1, pp=1, cp=1, dp=64, ep=1, vp=1, mb=1, sp=False, recompute=2, seq=4096, global_batch=64,
              stack=stack.stack("modern"))
    z = [memory.breakdown(a, shard=k, **kw) for k in range(4)]
    P = a.params
    assert z[0]["optimizer"] == pytest.approx(12 * P) and z[1]["optimizer"] == pytest.approx(12 * P / 64)
    assert z[1]["gradients"] == pytest.approx(4 * P) and z[2]["gradients"] == pytest.approx(4 * P / 64)
    assert z[3]["weights"] < 0.1 * z[2]["weights"]


# ------------------------------------------------------------------------------------------ search

def test_search_finds_the_fastest_layout_that_fits():
    from llmcalc import catalog
    m = catalog.model("Llama-3.1-70B")
    r = search.search(m, H100, 256, 4096, 256)
    assert r.best.gpus == 256 and r.best.memory_per_gpu <= memory.usable(H100)
    assert all(row["seconds"] >= r.best.seconds * (1 - 1e-9) for row in r.table)
    assert r.fitting <= r.evaluated and len({row["plan"] for row in r.table}) == len(r.table)
    # the winner is no slower than a sensible hand-written layout
    hand = estimate(m, H100, "tp=8 pp=4 dp=8", 4096, 256)
    assert r.best.seconds <= hand.seconds * (1 + 1e-9)


def test_search_refuses_what_cannot_run():
    from llmcalc import catalog
    with pytest.raises(llmcalc.ArgumentError) as e:
        search.search(catalog.model("Llama-3.1-405B"), H100, 8, 4096, 8)
    assert e.value.argument == "gpus"
    with pytest.raises(llmcalc.ArgumentError) as e:
        search.search(catalog.model("Llama-3.1-8B"), H100, 7 * 11, 4096, 2)
    assert e.value.argument == "gpus"
