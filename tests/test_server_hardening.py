"""The add-in server survives hostile requests (issue 12): each test is a regression test for one
way the server failed when probed as an attacker would, on loopback."""
from __future__ import annotations

import os
import stat

import pytest

from llmcalc.excel import certs

# ------------------------------------------------------------------ certificate files (item 7)


def test_a_regenerated_key_is_0600_whatever_the_old_file_was(tmp_path):
    """Regression: an existing 0644 localhost.key stayed 0644 when the key was regenerated."""
    folder = tmp_path / "certs"
    folder.mkdir()
    old_key = folder / "localhost.key"
    old_key.write_text("old key")
    os.chmod(old_key, 0o644)                              # no certificate next to it: regenerated
    chosen = certs.choose(home=tmp_path / "nobody", directory=folder)
    assert chosen.source == "generated"
    assert stat.S_IMODE(os.stat(chosen.keyfile).st_mode) == 0o600
    assert b"PRIVATE KEY" in open(chosen.keyfile, "rb").read()


def test_a_symlink_planted_at_the_key_path_is_refused(tmp_path):
    """Regression: the key was written through a symlink planted at its path."""
    folder = tmp_path / "certs"
    folder.mkdir()
    target = tmp_path / "attacker-readable.txt"
    target.write_text("")
    (folder / "localhost.key").symlink_to(target)
    with pytest.raises(certs.CertificateError, match="symbolic link"):
        certs.choose(home=tmp_path / "nobody", directory=folder)
    assert target.read_text() == ""                       # no key was written there


def test_a_new_certificate_folder_is_private(tmp_path):
    chosen = certs.choose(home=tmp_path / "nobody", directory=tmp_path / "new" / "certs")
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "certs").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(chosen.certfile).st_mode) == 0o644
