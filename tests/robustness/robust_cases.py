"""The case record of the robustness suite (a plain module: test files import it by name).

A case is one hostile-but-realistic thing a user does, on one surface (CLI, Python API, demo), and the outcome
the project promises. Test modules of ``tests/robustness/`` list their cases in a module-level ``CASES`` and
parametrize with :func:`params`; ``conftest.py`` records each case's result and writes ``docs/RELIABILITY.md``
from them (``make reliability-doc``).
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

SURFACES = ("CLI", "API", "demo")
HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "RELIABILITY.md"


@dataclass(frozen=True)
class Case:
    """``id``: unique, kebab-case; ``problem``: what the user does; ``outcome``: what must happen."""

    id: str
    surface: str
    problem: str
    outcome: str
    run: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    data: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.surface not in SURFACES:
            raise ValueError(f"case {self.id}: surface must be one of {SURFACES}, got {self.surface!r}")


def params(cases: list[Case]) -> list:
    """``pytest.param`` objects with the case id as the test id (for ``@pytest.mark.parametrize("case", ...)``)."""
    ids = [c.id for c in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate case ids: {dupes}")
    return [pytest.param(c, id=c.id) for c in cases]


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]

    def one_error_line(self, command: str, *needles: str) -> str:
        """Exit != 0, exactly one ``restoration CMD: error:`` line naming the problem, no traceback."""
        assert self.rc != 0, f"exit status 0:\n{self.out}\n{self.err}"
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err
        errors = [ln for ln in self.err_lines if ": error: " in ln]
        assert len(errors) == 1, self.err
        line = errors[0]
        assert line.startswith(f"restoration {command}: error: "), line
        for n in needles:
            assert n in line, f"{n!r} not in {line!r}"
        return line


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 (or 'dir') of everything under ``root``: compare before/after a command."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ----------------------------------------------------------------------------------------------- shared helpers
def write_png(path: Path, shape: tuple = (12, 16, 3), dtype: str = "uint8", seed: int = 0) -> Path:
    """A small random image (any layout write_image takes)."""
    import numpy as np

    from restoration.inference import write_image

    top = 65536 if dtype == "uint16" else 256
    return write_image(path, np.random.default_rng(seed).integers(0, top, shape, dtype=dtype))


def leftovers(root: Path) -> list[str]:
    """Temporary files a failed write must not leave behind."""
    return sorted(p.name for p in Path(root).rglob("*") if p.is_file() and (
        p.name.endswith((".tmp", ".part")) or ".tmp" in p.suffixes))


def fail_writes(monkeypatch, err: int = 28) -> None:
    """Disk full (ENOSPC by default) after the first bytes of every atomic write: a partial temp file exists."""
    import errno as _errno
    import os

    import restoration.atomic as atomic

    def write(fd, data):
        os.write(fd, bytes(data[: max(1, len(data) // 2)]))
        raise OSError(err, os.strerror(err))

    assert err in _errno.errorcode
    monkeypatch.setattr(atomic, "_write", write)


def fail_creates(monkeypatch, err: int = 30) -> None:
    """A read-only output (EROFS by default; EACCES=13 for a folder without write permission): creating a file
    fails. Tests run as root, so chmod alone would not stop the writes."""
    import os

    import restoration.atomic as atomic

    def create(tmp):
        raise OSError(err, os.strerror(err), tmp)

    monkeypatch.setattr(atomic, "_create", create)


def nan_state(kind: str = "nan"):
    """State dict of the tests' tiny SRVGGNetCompact x2 with every weight NaN (or one tensor Inf)."""
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(0)
    state = SRVGGNetCompact(num_feat=4, num_conv=1, upscale=2).state_dict()
    if kind == "nan":
        return {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    state = dict(state)
    state["body.0.bias"] = state["body.0.bias"].clone().fill_(float("inf"))
    return state


def evil_pickle(path: Path) -> Path:
    """A checkpoint whose pickle would call os.getcwd on load (harmless, but code)."""
    import os

    import torch

    class Evil:
        def __reduce__(self):
            return (os.getcwd, ())

    torch.save({"params": Evil()}, path)
    return path


# ----------------------------------------------------------------------------------------------- the case table
def case_modules() -> list:
    """Every test module of this folder (imported under the name pytest gives it), in file order."""
    mods = []
    for path in sorted(HERE.glob("test_*.py")):
        mod = sys.modules.get(path.stem)
        if mod is None or Path(getattr(mod, "__file__", "")).resolve() != path:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(path.stem, None)
                raise
        mods.append(mod)
    return mods


def case_table() -> list[tuple[str, list[Case]]]:
    """(section title, cases) for every module that defines CASES."""
    out = []
    for mod in case_modules():
        cases = getattr(mod, "CASES", None)
        if not cases:
            continue
        title = ((mod.__doc__ or mod.__name__).strip().splitlines() or [mod.__name__])[0].rstrip(".")
        out.append((title, list(cases)))
    return out


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_doc(table: list[tuple[str, list[Case]]], results: dict[str, str]) -> str:
    """The Markdown of docs/RELIABILITY.md: one section per module, one row per case."""
    total = sum(len(c) for _, c in table)
    passed = sum(1 for _, cases in table for c in cases if results.get(c.id) == "passed")
    lines = [
        "# Reliability: what a hostile-but-realistic user can do, and what happens",
        "",
        "Generated by the robustness suite (`tests/robustness/`) with `make reliability-doc`; do not edit by hand.",
        "Every row is a test. For the CLI each case asserts: exit status not 0, one error line naming the problem,",
        "no traceback (unless `--debug`), and nothing created, truncated or overwritten outside what the command",
        "owns. Python API cases assert one `RestorationError` naming the problem; demo cases assert the message the",
        "page shows (no server paths, no \"internal error\").",
        "",
        f"{total} cases; {passed} passed in the run that wrote this file.",
        "",
    ]
    for title, cases in table:
        lines += [f"## {title}", "", "| case | surface | what the user does | outcome | result |",
                  "|---|---|---|---|---|"]
        for c in cases:
            lines.append(f"| `{c.id}` | {c.surface} | {_cell(c.problem)} | {_cell(c.outcome)} | "
                         f"{results.get(c.id, 'not run')} |")
        lines.append("")
    return "\n".join(lines)
