"""``make setup`` reinstalls only when the install inputs change in content, never for newer timestamps alone."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("pyproject.toml", "constraints.txt")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _tree(tmp_path: Path) -> Path:
    for name in ("Makefile",) + INPUTS:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv/bin").mkdir(parents=True)
    py = tmp_path / ".venv/bin/python"
    py.write_text("#!/bin/sh\nexit 0\n")
    py.chmod(0o755)
    digest = hashlib.sha1(b"".join((tmp_path / n).read_bytes() for n in INPUTS)).hexdigest()[:12]
    (tmp_path / f".venv/.stamp-{digest}").touch()
    return tmp_path


def _dry_run(folder: Path) -> str:
    return subprocess.run(["make", "-n", "setup"], cwd=folder, capture_output=True, text=True, check=True).stdout


def test_newer_inputs_with_the_same_content_do_not_reinstall(tmp_path):
    folder = _tree(tmp_path)
    assert "pip install" not in _dry_run(folder)
    later = time.time() + 60
    for name in INPUTS:  # as after a checkout or a fresh clone: files newer than the stamp, same bytes
        os.utime(folder / name, (later, later))
    assert "pip install" not in _dry_run(folder)


def test_changed_content_reinstalls(tmp_path):
    folder = _tree(tmp_path)
    with open(folder / "constraints.txt", "a") as f:
        f.write("# changed\n")
    out = _dry_run(folder)
    assert "pip install" in out and "install_pth" in out
