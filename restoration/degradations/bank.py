"""``TaskBank``: a fixed, ordered list of degradation tasks plus optional named groups, stored as JSON.

The bank is the unit the task-competition pipeline works on (probe every task, group the unsatisfactory ones)
and what a group fine-tune YAML references. The file is schema-versioned and validated on load, so a
hand-edited or truncated bank fails with one message naming the file and the field.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from restoration.degradations.space import DegradationSpace, space_from_any
from restoration.degradations.task import DegradationTask
from restoration.errors import RestorationError

BANK_FORMAT = "restoration.task_bank"
BANK_VERSION = 1


class TaskBank:
    """Tasks (index = position) and groups (name → ordered task indices). Immutable by convention."""

    def __init__(self, tasks: Sequence[DegradationTask], groups: Mapping[str, Sequence[int]] | None = None,
                 meta: Mapping[str, Any] | None = None) -> None:
        self._tasks: tuple[DegradationTask, ...] = tuple(tasks)
        for i, t in enumerate(self._tasks):
            if not isinstance(t, DegradationTask):
                raise RestorationError(f"task bank entry {i} is a {type(t).__name__}, not a DegradationTask")
        self._groups: dict[str, list[int]] = self._check_groups(groups or {}, len(self._tasks))
        self.meta: dict[str, Any] = dict(meta or {})
        self._by_id: dict[str, int] = {}
        for i, t in enumerate(self._tasks):
            self._by_id.setdefault(t.task_id, i)

    @staticmethod
    def _check_groups(groups: Mapping[str, Sequence[int]], n: int) -> dict[str, list[int]]:
        if not isinstance(groups, Mapping):
            raise RestorationError("groups must be a mapping name -> list of task indices, "
                                   f"got {type(groups).__name__}")
        out: dict[str, list[int]] = {}
        for name, idx in groups.items():
            if not isinstance(name, str) or not name:
                raise RestorationError(f"group names must be non-empty strings, got {name!r}")
            if isinstance(idx, (str, bytes)) or not isinstance(idx, (Sequence, np.ndarray)):
                raise RestorationError(f"groups.{name}: expected a list of task indices")
            clean = []
            for j in idx:
                if isinstance(j, (bool, np.bool_)) or not isinstance(j, (int, np.integer)):
                    raise RestorationError(f"groups.{name}: {j!r} is not a task index")
                if not 0 <= int(j) < n:
                    raise RestorationError(f"groups.{name}: task index {int(j)} is out of range (bank has {n} tasks)")
                clean.append(int(j))
            if len(set(clean)) != len(clean):
                raise RestorationError(f"groups.{name}: a task index appears twice")
            out[name] = clean
        return out

    # ------------------------------------------------------------------ construction
    @classmethod
    def sample(cls, n: int, seed: int, space: DegradationSpace | dict | None = None) -> "TaskBank":
        """``n`` tasks from ``space`` (Real-ESRGAN defaults when None), reproducible from ``seed``."""
        space = space_from_any(space)
        tasks = space.sample_many(n, np.random.default_rng(seed))
        return cls(tasks, meta={"seed": int(seed), "num_tasks": int(n), "space": space.to_opt()})

    @classmethod
    def merge(cls, parts: Sequence[tuple[str, "TaskBank"]]) -> "TaskBank":
        """One bank from several (label, bank): tasks concatenated in order, each part's groups kept under their
        names, a part without groups becoming one group named by its label (e.g. the TG groups of Step B next to a
        bank of light tasks). The first part's meta (its degradation space, hence G0) is kept."""
        if not parts:
            raise RestorationError("no task bank to merge")
        tasks: list[DegradationTask] = []
        groups: dict[str, list[int]] = {}
        for label, bank in parts:
            own = bank.groups or {label: list(range(len(bank)))}
            for name, idx in own.items():
                if name in groups:
                    raise RestorationError(f"task banks to merge: the group name {name!r} appears twice")
                groups[name] = [len(tasks) + i for i in idx]
            tasks.extend(bank.tasks)
        meta = {**parts[0][1].meta, "merged_from": [label for label, _ in parts]}
        return cls(tasks, groups, meta)

    def with_groups(self, groups: Mapping[str, Sequence[int]]) -> "TaskBank":
        """A new bank with the same tasks and meta, and these groups."""
        return TaskBank(self._tasks, groups, self.meta)

    # ------------------------------------------------------------------ access
    @property
    def tasks(self) -> list[DegradationTask]:
        return list(self._tasks)

    @property
    def groups(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self._groups.items()}

    def __len__(self) -> int:
        return len(self._tasks)

    def __getitem__(self, i: int) -> DegradationTask:
        return self._tasks[i]

    def __iter__(self) -> Iterator[DegradationTask]:
        return iter(self._tasks)

    def index(self, task_id: str) -> int:
        """Position of the task with this id (or unique id prefix of 4+ characters)."""
        if task_id in self._by_id:
            return self._by_id[task_id]
        if len(task_id) >= 4:
            hits = sorted({i for tid, i in self._by_id.items() if tid.startswith(task_id)})
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise RestorationError(f"task id prefix {task_id!r} is ambiguous ({len(hits)} tasks match)")
        raise RestorationError(f"no task with id {task_id!r} in this bank ({len(self)} tasks)")

    def resolve(self, key: str | int) -> int:
        """An index (int or decimal string, negative counts from the end) or a task id → the task index."""
        if isinstance(key, (int, np.integer)) or (isinstance(key, str) and key.lstrip("-").isdigit()
                                                  and len(key.lstrip("-")) < 8):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise RestorationError(f"task index {i} is out of range (bank has {len(self)} tasks)")
            return i % len(self)
        return self.index(str(key))

    # ------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        return {
            "format": BANK_FORMAT,
            "version": BANK_VERSION,
            "meta": self.meta,
            "groups": self._groups,
            "tasks": [{"id": t.task_id, **t.to_dict()} for t in self._tasks],
        }

    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write JSON atomically (temp file + rename): a crash or a full disk never leaves half a bank or a temp
        file."""
        from restoration.atomic import write_text

        path = Path(path)
        if path.exists() and not overwrite:
            raise RestorationError(f"{path} already exists (pass overwrite=True or choose another name)")
        d = self.to_dict()

        def line(v: Any) -> str:
            return json.dumps(v, separators=(", ", ": "))

        groups = ",\n".join(f"  {json.dumps(k)}: {line(v)}" for k, v in d["groups"].items())
        tasks = ",\n".join("  " + json.dumps(t, separators=(",", ":")) for t in d["tasks"])
        text = (f'{{\n "format": {json.dumps(d["format"])},\n "version": {d["version"]},\n'
                f' "meta": {line(d["meta"])},\n'
                f' "groups": {{' + (f"\n{groups}\n }}" if groups else "}") + ",\n"
                ' "tasks": [' + (f"\n{tasks}\n ]" if tasks else "]") + "\n}\n")
        return write_text(path, text)  # one task / group per line: readable, diffable, compact

    @classmethod
    def from_dict(cls, d: Any, source: str = "task bank") -> "TaskBank":
        if not isinstance(d, dict):
            raise RestorationError(f"{source}: expected a JSON object at the top level")
        if d.get("format") != BANK_FORMAT:
            raise RestorationError(f"{source}: not a task bank (format is {d.get('format')!r}, "
                                   f"expected {BANK_FORMAT!r})")
        if d.get("version") != BANK_VERSION:
            raise RestorationError(f"{source}: unsupported task bank version {d.get('version')!r} "
                                   f"(this release reads version {BANK_VERSION})")
        unknown = sorted(set(d) - {"format", "version", "meta", "groups", "tasks"})
        if unknown:
            raise RestorationError(f"{source}: unknown top-level key(s) {unknown}")
        tasks_raw = d.get("tasks")
        if not isinstance(tasks_raw, list):
            raise RestorationError(f"{source}: 'tasks' must be a list")
        meta = d.get("meta", {})
        if not isinstance(meta, dict):
            raise RestorationError(f"{source}: 'meta' must be an object")
        try:
            tasks = [DegradationTask.from_dict(t, where=f"tasks[{i}]") for i, t in enumerate(tasks_raw)]
            return cls(tasks, d.get("groups") or {}, meta)
        except RestorationError as exc:
            raise RestorationError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TaskBank":
        path = Path(path)
        if not path.is_file():
            raise RestorationError(f"task bank {path} does not exist")
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except json.JSONDecodeError as exc:
            raise RestorationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RestorationError(f"{path}: cannot read ({exc})") from None
        return cls.from_dict(d, source=str(path))

    @classmethod
    def load_any(cls, spec: "str | os.PathLike | Sequence[str | os.PathLike]") -> "TaskBank":
        """A bank file, or a list of them merged (:meth:`merge`, each part labelled by its file name's stem)."""
        if isinstance(spec, (str, os.PathLike)):
            return cls.load(spec)
        return cls.merge([(Path(p).stem, cls.load(p)) for p in spec])

    def __repr__(self) -> str:
        g = ", ".join(f"{k}:{len(v)}" for k, v in self._groups.items())
        return f"TaskBank({len(self)} tasks" + (f", groups {g})" if g else ")")
