"""TaskBank: sampling, groups, lookup, JSON save/load, and validation of bad bank files."""
from __future__ import annotations

import json
import os

import pytest

from restoration.degradations import DegradationSpace, TaskBank
from restoration.errors import RestorationError


def test_sample_is_reproducible_and_round_trips(tmp_path):
    bank = TaskBank.sample(50, seed=3)
    assert bank.tasks == TaskBank.sample(50, seed=3).tasks
    assert bank.tasks != TaskBank.sample(50, seed=4).tasks
    grouped = bank.with_groups({"G1": [5, 2], "G2": [49]})
    assert grouped is not bank and bank.groups == {} and grouped.groups == {"G1": [5, 2], "G2": [49]}
    path = grouped.save(tmp_path / "bank.json")
    back = TaskBank.load(path)
    assert back.tasks == grouped.tasks and back.groups == grouped.groups and back.meta["seed"] == 3
    assert list(back.groups) == ["G1", "G2"]  # group order is kept
    assert DegradationSpace.from_opt(back.meta["space"]) == DegradationSpace()
    assert len(back) == 50 and back[7] == bank[7] and list(back)[0] == bank[0]


def test_lookup_by_index_id_and_prefix():
    bank = TaskBank.sample(20, seed=0)
    t = bank[13]
    assert bank.index(t.task_id) == 13 and bank.index(t.task_id[:8]) == 13
    assert bank.resolve("13") == 13 and bank.resolve(-1) == 19 and bank.resolve(t.task_id) == 13
    with pytest.raises(RestorationError, match="no task with id"):
        bank.index("ffffffffffffffff")
    with pytest.raises(RestorationError, match="out of range"):
        bank.resolve("20")


def test_bad_groups_are_refused():
    bank = TaskBank.sample(3, seed=0)
    with pytest.raises(RestorationError, match=r"groups.G1: task index 3 is out of range"):
        bank.with_groups({"G1": [0, 3]})
    with pytest.raises(RestorationError, match="appears twice"):
        bank.with_groups({"G1": [1, 1]})


def _write(tmp_path, doc) -> str:
    p = tmp_path / "bad.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


def test_bad_bank_files_fail_with_the_file_and_field_named(tmp_path):
    good = TaskBank.sample(3, seed=0).to_dict()
    cases = [
        ("{not json", "not valid JSON"),
        ({**good, "format": "something"}, "not a task bank"),
        ({**good, "version": 99}, "unsupported task bank version 99"),
        ({k: v for k, v in good.items() if k != "tasks"}, "'tasks' must be a list"),
        ({**good, "tasks": [{**good["tasks"][0], "jpeg1": "x"}]}, r"tasks\[0\].jpeg1: expected a number, got 'x'"),
        ({**good, "tasks": good["tasks"][:1] + [{**good["tasks"][1], "blur1": {"kind": "box", "size": 7}}]},
         r"tasks\[1\].blur1: unknown kernel type 'box'"),
        ({**good, "groups": {"G1": [7]}}, "task index 7 is out of range"),
        ({**good, "tasks": [{**good["tasks"][0], "jpeg1": 50.5}]}, r"tasks\[0\]: id .* does not match"),
        ({**good, "extra": 1}, "unknown top-level key"),
    ]
    for doc, message in cases:
        path = _write(tmp_path, doc)
        with pytest.raises(RestorationError, match=message) as info:
            TaskBank.load(path)
        assert "bad.json" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(RestorationError, match="does not exist"):
        TaskBank.load(tmp_path / "missing.json")


def test_save_is_atomic_on_a_full_disk(tmp_path, monkeypatch):
    import errno

    import restoration.atomic as atomic

    path = tmp_path / "bank.json"
    path.write_text("previous bank")

    def full(fd, data):
        os.write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write", full)
    with pytest.raises(RestorationError, match=r"cannot write .*bank.json: No space left on device"):
        TaskBank.sample(3, seed=0).save(path)
    assert path.read_text() == "previous bank" and sorted(p.name for p in tmp_path.iterdir()) == ["bank.json"]


def test_hand_edited_values_are_refused_with_the_file_named(tmp_path):
    d = TaskBank.sample(2, seed=0).to_dict()
    del d["tasks"][1]["id"]
    d["tasks"][1]["resize1"]["scale"] = 1e6
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(d))
    with pytest.raises(RestorationError, match=r"edited.json: tasks\[1\].*resize scale"):
        TaskBank.load(path)
