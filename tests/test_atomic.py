"""restoration.atomic: the one way the package writes a user's file (temp + rename, temp removed on failure)."""
from __future__ import annotations

import errno
import os
import stat

import pytest

import restoration.atomic as atomic
from restoration.errors import RestorationError


def test_write_replaces_whole_files_with_normal_permissions(tmp_path):
    path = atomic.write_text(tmp_path / "sub" / "a.txt", "one")
    assert path.read_text() == "one"
    atomic.write_bytes(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["a.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0o600


@pytest.mark.parametrize("err, reason", [(errno.ENOSPC, "No space left on device"), (errno.EIO, "Input/output error")])
def test_failure_mid_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, err, reason):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def broken(fd, data):
        os.write(fd, bytes(data[:3]))
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(atomic, "_write", broken)
    with pytest.raises(atomic.WriteError) as exc:
        atomic.write_bytes(path, b"new content" * 1000)
    assert str(exc.value) == f"cannot write {path}: {reason}" and exc.value.reason == reason
    assert isinstance(exc.value, RestorationError)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]


def test_read_only_folder_and_blocked_parent(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RestorationError, match="is a file, not a folder"):
        atomic.write_text(tmp_path / "file" / "a.txt", "y")
    with pytest.raises(RestorationError, match="it is a folder"):
        atomic.write_text(tmp_path, "y")

    def ro(tmp):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), tmp)

    monkeypatch.setattr(atomic, "_create", ro)
    with pytest.raises(RestorationError, match="Read-only file system"):
        atomic.write_text(tmp_path / "b.txt", "y")
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_atomic_path_for_writers_that_want_a_name(tmp_path):
    target = tmp_path / "m.safetensors"
    with atomic.atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".m.safetensors.") and tmp.exists()
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    with pytest.raises(ValueError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise ValueError("writer failed")
    assert target.read_bytes() == b"data" and os.listdir(tmp_path) == ["m.safetensors"]
