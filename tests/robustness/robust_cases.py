"""The case record of the robustness suite (a plain module: test files import it by name).

A case is one hostile-but-realistic thing a user does, on one surface (CLI, Python API, demo), and the outcome
the project promises. Test modules of ``tests/robustness/`` list their cases in a module-level ``CASES`` and
parametrize with :func:`params`; ``conftest.py`` records each case's result and writes ``docs/RELIABILITY.md``
from them (``make reliability-doc``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

SURFACES = ("CLI", "API", "demo")


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
