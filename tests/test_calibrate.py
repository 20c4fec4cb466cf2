"""``llmcalc calibrate`` on the CPU with tiny shapes (PyTorch CPU build), then the profile in use."""
import json

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed; scripts/test.sh installs its CPU build "
                            "where one can be had (README: Tests)")

import llmcalc  # noqa: E402
from llmcalc import perf  # noqa: E402
from llmcalc.cli import main as cli_main  # noqa: E402
from llmcalc.perf import calibrate  # noqa: E402


@pytest.fixture(scope="module")
def cpu_profile(tmp_path_factory):
    out = tmp_path_factory.mktemp("calib") / "cpu.json"
    assert calibrate.main(["--device", "cpu", "--tiny", "--quiet", "--out", str(out)]) == 0
    return out


def test_profile_file_has_measured_fields(cpu_profile):
    d = json.loads(cpu_profile.read_text())
    # physically sane for any CPU: 100 MFLOP/s – 100 TFLOP/s, 100 MB/s – 10 TB/s, 10 ns – 10 ms per op
    # (bf16 is emulated on CPUs without native bf16: 0.67 GFLOP/s measured at 256³ on a loaded 2-core CI machine)
    assert 1e8 < d["matmul_flops"]["bf16"] < 1e14
    assert 1e8 < d["bandwidth"] < 1e13
    assert 1e-8 < d["overheads"]["kernel_s"] < 1e-2
    assert 0 < d["gemm"]["efficiency"] <= 1
    assert d["attention"]["efficiency"] > 0 and d["attention"]["decode_position_s"] > 0
    assert d["derived"] is False and "llmcalc calibrate" in d["provenance"] and "tiny" in d["provenance"]
    assert d["raw"]["matmul_bf16"]["n"] == 256 and d["raw"]["overheads"]["cuda_graph"] is False
    # the raw timings and the rates agree
    assert d["matmul_flops"]["bf16"] == pytest.approx(2 * 256 ** 3 / d["raw"]["matmul_bf16"]["seconds"])
    assert d["bandwidth"] == pytest.approx(d["raw"]["read"]["bytes"] / d["raw"]["read"]["seconds"])


def test_profile_is_used_for_predictions(cpu_profile):
    d = json.loads(cpu_profile.read_text())
    prof = perf.load(cpu_profile, llmcalc.gpu("H100"))
    assert prof.bandwidth == pytest.approx(d["bandwidth"]) and prof.matmul_flops["bf16"] == pytest.approx(d["matmul_flops"]["bf16"])
    # fields the calibration does not measure come from the built-in profile
    assert prof.elementwise == perf.measured().elementwise
    m = llmcalc.model("llama-3.2-1b")
    t = llmcalc.decode_step_time(m, "H100", 1, 512, profile=str(cpu_profile))
    # batch-1 decode reads every weight once and does 2 FLOPs per weight: at least the slower of the two
    # at the measured rates, and not far above it (a CPU's bf16 matmul can be the slower one)
    weights = 2 * m.params()
    roofline = max(weights / d["bandwidth"], m.params() * 2 / d["matmul_flops"]["bf16"])
    assert t.magnitude >= weights / d["bandwidth"]
    assert t.magnitude < 3 * roofline + 0.05
    assert any(str(cpu_profile) in a for a in t.explain().assumptions)
    assert t.magnitude != llmcalc.decode_step_time(m, "H100", 1, 512).magnitude


def test_cli_profile_option(cpu_profile, capsys):
    assert cli_main(["decode-step-time", "llama-3.2-1b", "H100", "1", "512", "--profile", str(cpu_profile), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expect = llmcalc.decode_step_time("llama-3.2-1b", "H100", 1, 512, profile=str(cpu_profile)).magnitude
    assert out["value"] == pytest.approx(expect)


def test_cli_calibrate_dispatch_and_user_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLMCALC_PROFILE_DIR", str(tmp_path))
    assert cli_main(["calibrate", "--device", "cpu", "--tiny", "--quiet", "--gpu", "H100"]) == 0
    written = perf.user_profile_path("H100-SXM5-80GB")
    assert written.is_file() and str(written) in capsys.readouterr().out
    # now the H100 uses the user's measured profile by default
    prof = perf.resolve(llmcalc.gpu("H100"))
    assert prof.path == str(written.resolve()) and not prof.derived


def test_calibrate_rejects_unknown_gpu(capsys):
    assert calibrate.main(["--device", "cpu", "--tiny", "--quiet", "--gpu", "no-such-gpu", "--out", "/dev/null"]) == 2
