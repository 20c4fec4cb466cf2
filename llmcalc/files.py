"""Writing files so that a crash never leaves half a file: :func:`write_atomic`.

A GPU profile from ``llmcalc calibrate`` costs minutes of measurement and a TLS key is a secret;
both are written to a temporary file in the same folder, flushed to disk (``fsync``) and renamed
over the old file, which POSIX and Windows do atomically: a reader sees the old file or the new
one, never a truncated one. The temporary file is created readable by its owner only, then given
its final mode before the rename, so a secret is never readable by others, even for a moment.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class UnsafePathError(OSError):
    """The path is a symbolic link where llmcalc writes a file that must not be redirected."""


def write_atomic(path, data: bytes, *, mode: int = 0o644, backup: bool = False,
                 refuse_symlink: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with permissions ``mode``.

    ``backup``: keep the previous file, if any, as ``<name>.bak`` (itself written atomically).
    ``refuse_symlink``: raise :class:`UnsafePathError` if ``path`` is a symbolic link (for keys:
    a link planted at the key's path must not send the key elsewhere). Returns the path.
    """
    path = Path(path)
    if refuse_symlink and path.is_symlink():
        raise UnsafePathError(f"{path} is a symbolic link; refusing to write through it (remove it, or choose "
                              "another folder)")
    if backup and path.is_file():
        write_atomic(backup_path(path), path.read_bytes(), mode=mode)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(path.parent)
    return path


def backup_path(path) -> Path:
    """Where :func:`write_atomic` keeps the previous version of ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".bak")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
