"""Probe results on disk: one JSONL file per shard, one line per finished task, written with flush + fsync.

The first line is a header (what was probed and with which recipe). A run killed mid-write leaves at most one
partial last line; ``--resume`` cuts it off, checks the header and skips every task already in any shard file, so
an interrupted probe finishes without redoing or losing tasks. Shards of one experiment merge by task index.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from restoration.errors import RestorationError

SHARD_RE = re.compile(r"^probe\.shard(\d+)of(\d+)\.jsonl$")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` (0-based i) → (i, n); None → (0, 1)."""
    if not text:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise RestorationError(f"--shard: expected i/n with 0 <= i < n, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard_path(out_dir: str | Path, shard: tuple[int, int]) -> Path:
    return Path(out_dir) / f"probe.shard{shard[0]}of{shard[1]}.jsonl"


def _read_lines(path: Path) -> tuple[dict | None, list[dict], int]:
    """(header, records, byte length of the complete lines)."""
    data = path.read_bytes()
    good = data.rfind(b"\n") + 1
    header, records = None, []
    for n, line in enumerate(data[:good].decode("utf-8", errors="replace").splitlines()):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise RestorationError(f"{path}: line {n + 1} is not JSON; the file is damaged") from None
        if "header" in rec:
            header = rec["header"]
        else:
            records.append(rec)
    return header, records, good


class ShardWriter:
    """Appends results of one shard; ``done`` holds the task indices already stored (from every shard)."""

    def __init__(self, out_dir: str | Path, shard: tuple[int, int], header: dict[str, Any], resume: bool) -> None:
        self.path = shard_path(out_dir, shard)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.header = header
        if self.path.exists() and not resume:
            raise RestorationError(f"{self.path} already exists; pass --resume to continue it, or choose another "
                                   "output folder")
        if self.path.exists():
            old, _, good = _read_lines(self.path)
            if old is not None and old.get("fingerprint") != header.get("fingerprint"):
                raise RestorationError(
                    f"{self.path} was written with a different probe recipe or task bank "
                    f"({old.get('fingerprint')} != {header.get('fingerprint')}); use another output folder")
            if good < self.path.stat().st_size:  # cut a line left half-written by a killed run
                with open(self.path, "r+b") as f:
                    f.truncate(good)
            if old is None:
                self._write({"header": header})
        else:
            self._write({"header": header})
        self.done = set(read_results(self.path.parent, fingerprint=header.get("fingerprint")))

    def _write(self, rec: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def append(self, rec: dict) -> None:
        self._write(rec)
        self.done.add(int(rec["index"]))


def read_results(out_dir: str | Path, fingerprint: str | None = None) -> dict[int, dict]:
    """Merge every shard file of ``out_dir``: task index → record. Files with another fingerprint are an error."""
    out: dict[int, dict] = {}
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return out
    for path in sorted(out_dir.iterdir()):
        if not SHARD_RE.match(path.name):
            continue
        header, records, _ = _read_lines(path)
        if fingerprint is not None and header is not None and header.get("fingerprint") != fingerprint:
            raise RestorationError(f"{path} belongs to another probe recipe or task bank; "
                                   "keep one experiment per output folder")
        for rec in records:
            out[int(rec["index"])] = rec
    return out


def read_header(out_dir: str | Path) -> dict | None:
    """The header of the first shard file found (all shards of an experiment share it)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    for path in sorted(out_dir.iterdir()):
        if SHARD_RE.match(path.name):
            header, _, _ = _read_lines(path)
            if header is not None:
                return header
    return None
