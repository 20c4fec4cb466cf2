"""GPU profile files survive interrupted writes and bad edits, and files are
written atomically (llmcalc.files.write_atomic).

``llmcalc calibrate`` writes atomically and keeps the previous profile; a profile that does not load
names its file and how to fix it; a broken profile found automatically in the user's profile folder
does not stop the estimates (the built-in profile is used, with a warning and a note in
``.explain()``)."""
from __future__ import annotations

import json
import os
import stat

import pytest

import llmcalc
from llmcalc import perf
from llmcalc.errors import ArgumentError
from llmcalc.files import UnsafePathError, backup_path, write_atomic
from llmcalc.perf.profile import ProfileWarning


@pytest.fixture
def profile_dir(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("LLMCALC_PROFILE_DIR", str(folder))
    return folder


def test_write_atomic_replaces_whole_files_with_the_given_mode(tmp_path):
    f = tmp_path / "a.json"
    f.write_text("old")
    os.chmod(f, 0o644)
    write_atomic(f, b"secret", mode=0o600, backup=True)
    assert f.read_bytes() == b"secret" and stat.S_IMODE(f.stat().st_mode) == 0o600
    assert backup_path(f).read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.json.bak"]   # no temporary file left


def test_write_atomic_leaves_the_old_file_whole_when_the_write_fails(tmp_path, monkeypatch):
    f = tmp_path / "p.json"
    f.write_text('{"good": 1}')

    def no_space(*args):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("llmcalc.files.os.replace", no_space)
    with pytest.raises(OSError):
        write_atomic(f, b'{"new": ', backup=False)
    assert f.read_text() == '{"good": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_write_atomic_refuses_a_symlink_when_asked(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("do not touch")
    link = tmp_path / "key.pem"
    link.symlink_to(target)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_atomic(link, b"KEY", mode=0o600, refuse_symlink=True)
    assert target.read_text() == "do not touch" and link.is_symlink()


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    pytest.importorskip("torch")
    from llmcalc.perf import calibrate
    out = tmp_path_factory.mktemp("calib") / "cpu.json"
    assert calibrate.main(["--device", "cpu", "--tiny", "--quiet", "--out", str(out)]) == 0
    return out


def test_calibrate_keeps_the_previous_profile_and_survives_an_interrupted_write(calibrated, monkeypatch, capsys):
    """Regression: `llmcalc calibrate` wrote the profile with a plain write_text, so an interrupted run
    truncated the previous good profile (minutes of GPU measurement)."""
    from llmcalc.perf import calibrate
    first = calibrated.read_text()
    assert calibrate.main(["--device", "cpu", "--tiny", "--quiet", "--out", str(calibrated)]) == 0
    assert "previous profile is kept as" in capsys.readouterr().out
    assert backup_path(calibrated).read_text() == first                  # the previous measurement, whole
    second = calibrated.read_text()
    json.loads(second)

    def interrupted(*args):
        raise KeyboardInterrupt                                          # Ctrl+C between write and rename
    monkeypatch.setattr("llmcalc.files.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        calibrate.main(["--device", "cpu", "--tiny", "--quiet", "--out", str(calibrated)])
    assert calibrated.read_text() == second                              # still the last good profile
    assert not [p for p in calibrated.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_profile_that_does_not_load_names_its_file_and_the_fix(tmp_path):
    f = tmp_path / "h100.json"
    f.write_text('{"matmul_flops": {"bf16": 6e14}, "bandw')              # truncated
    with pytest.raises(ArgumentError) as e:
        llmcalc.decode_step_time("llama-3-8b", "H100", 1, 512, profile=str(f))
    assert e.value.argument == "profile"
    assert str(f) in str(e.value) and "not valid JSON" in str(e.value) and "llmcalc calibrate" in str(e.value)
    backup_path(f).write_text("{}")
    f.write_text(json.dumps({"bandwidth": "fast"}))
    with pytest.raises(ArgumentError) as e:
        llmcalc.decode_step_time("llama-3-8b", "H100", 1, 512, profile=str(f))
    assert str(f) in str(e.value) and str(backup_path(f)) in str(e.value)   # how to restore it


def test_a_broken_user_profile_falls_back_to_the_built_in_one(profile_dir):
    """Regression: a truncated profile in the user's folder made every call for that GPU fail
    (argument 'profile': ... is not valid JSON), although the caller never asked for a profile."""
    gpu = llmcalc.gpu("A100-80GB")
    built_in = llmcalc.decode_step_time("llama-3-8b", gpu.name, 1, 512)
    path = perf.user_profile_path(gpu.name)
    path.write_text('{"matmul_flops": {"bf16": 2.1e14}, "bandwidth": 1.6')   # an interrupted write
    from llmcalc.perf.profile import forget_user_profiles
    forget_user_profiles()
    with pytest.warns(ProfileWarning, match="skipped") as caught:
        t = llmcalc.decode_step_time("llama-3-8b", gpu.name, 1, 512)
    assert str(path) in str(caught[0].message) and "llmcalc calibrate" in str(caught[0].message)
    assert t.magnitude == pytest.approx(built_in.magnitude, rel=1e-12)
    assert any(str(path) in line and "skipped" in line for line in t.explain().assumptions), t.explain().assumptions
    # the next call does not read the broken file again, nor warn again
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert llmcalc.decode_step_time("llama-3-8b", gpu.name, 1, 512).magnitude == pytest.approx(built_in.magnitude)
    # a profile passed explicitly that does not load is still an error
    with pytest.raises(ArgumentError) as e:
        llmcalc.decode_step_time("llama-3-8b", gpu.name, 1, 512, profile=str(path))
    assert e.value.argument == "profile" and str(path) in str(e.value)
