"""Atomic file writes: every file the package writes for a user goes through here.

A write goes to a temporary file in the target's folder and is renamed onto the target only once it is
complete, so a full disk, a read-only folder or a crash never leaves a truncated output and never destroys the
previous one. The temporary file is removed on any failure, and an ``OSError`` becomes one
``RestorationError`` line naming the file and the reason (``No space left on device``, ``Permission denied``).
"""
from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path
from typing import Iterator

from restoration.errors import RestorationError

_CHUNK = 1 << 20


class WriteError(RestorationError):
    """A file could not be written; ``path`` and ``reason`` let a server word it without its own paths."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason}")
        self.path = path
        self.reason = reason


def os_reason(exc: OSError) -> str:
    """The short reason of an OSError (``No space left on device``), without errno numbers or paths."""
    if exc.strerror:
        return exc.strerror
    if exc.errno is not None and exc.errno in errno.errorcode:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _create(tmp: str) -> int:
    """Open a new temp file (mode 0o666 minus the umask, like a plain ``open``); a seam for fault injection."""
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def _write(fd: int, data: memoryview) -> int:
    """One ``os.write`` call; a seam for fault injection (tests raise ENOSPC here)."""
    return os.write(fd, data)


def make_parent(path: Path) -> None:
    """Create the folder of ``path``; one-line RestorationError when that is impossible."""
    parent = path.parent
    if parent.is_dir():
        return
    if parent.exists():
        raise WriteError(path, f"{parent} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(path, f"cannot create the folder {parent}: {os_reason(exc)}") from None


def temp_name(path: Path) -> Path:
    """A hidden, unique name next to ``path`` (same file system, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path for a writer that wants a file name (e.g. safetensors); rename it onto ``path``
    when the block succeeds, remove it when anything fails."""
    path = Path(path)
    if path.is_dir():
        raise WriteError(path, "it is a folder")
    make_parent(path)
    tmp = temp_name(path)
    try:
        os.close(_create(str(tmp)))
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(path, os_reason(exc)) from None
        raise


def write_bytes(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    view = memoryview(data).cast("B")
    with atomic_path(path) as tmp:
        fd = os.open(str(tmp), os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0))
        try:
            done = 0
            while done < len(view):
                done += _write(fd, view[done:done + _CHUNK])
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    return write_bytes(path, text.encode(encoding))


__all__ = ["WriteError", "atomic_path", "make_parent", "os_reason", "temp_name", "write_bytes", "write_text"]
