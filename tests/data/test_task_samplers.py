"""Task samplers: random (G0), bank, groups with weights; deterministic per position; position sampler layout."""
from __future__ import annotations

import numpy as np
import pytest

from restoration.data.samplers import PositionSampler, TaskSampler
from restoration.degradations import TaskBank
from restoration.errors import OptionError, RestorationError


@pytest.fixture(scope="module")
def bank():
    return TaskBank.sample(6, seed=0).with_groups({"a": [0, 1], "b": [4]})


def test_random_mode_is_g0():
    s = TaskSampler("random")
    assert s.draw(3) == (-1, 0) and s.num_groups == 1 and s.group_names() == ["G0"]


def test_bank_mode_uniform_with_group_of_task(bank):
    s = TaskSampler("bank", bank, seed=1)
    draws = [s.draw(p) for p in range(3000)]
    tasks = np.bincount([t for t, _ in draws], minlength=6)
    assert tasks.min() > 400  # ~500 each
    assert all(g == {0: 1, 1: 1, 4: 2}.get(t, 0) for t, g in draws)
    assert draws == [TaskSampler("bank", bank, seed=1).draw(p) for p in range(3000)]


def test_groups_mode_group_then_task(bank):
    s = TaskSampler("groups", bank, seed=2)
    draws = [s.draw(p) for p in range(3000)]
    groups = np.bincount([g for _, g in draws], minlength=3) / 3000
    np.testing.assert_allclose(groups, [1 / 3] * 3, atol=0.04)
    assert all((t == -1) == (g == 0) for t, g in draws)
    assert {t for t, g in draws if g == 1} == {0, 1} and {t for t, g in draws if g == 2} == {4}
    w = TaskSampler("groups", bank, group_weights=[0, 3, 1], seed=2)
    groups = np.bincount([w.draw(p)[1] for p in range(2000)], minlength=3) / 2000
    assert groups[0] == 0 and abs(groups[1] - 0.75) < 0.04
    assert s.group_names() == ["G0", "a", "b"]


def test_groups_mode_with_a_groupless_bank_mixes_g0_and_the_bank():
    plain = TaskBank.sample(5, seed=3)
    s = TaskSampler("groups", plain, group_weights=[0.8, 0.2], seed=4)
    draws = [s.draw(p) for p in range(2000)]
    share = np.mean([g == 1 for _, g in draws])
    assert abs(share - 0.2) < 0.03 and s.group_names() == ["G0", "bank"] and s.num_groups == 2
    assert {t for t, g in draws if g == 1} == set(range(5)) and all(t == -1 for t, g in draws if g == 0)


def test_bad_sampler_options(bank):
    with pytest.raises(OptionError, match="needs a task bank"):
        TaskSampler("bank")
    with pytest.raises(OptionError, match="group_weights: need 3"):
        TaskSampler("groups", bank, group_weights=[1, 1])
    with pytest.raises(OptionError, match="mode"):
        TaskSampler("tasks")
    s = TaskSampler("bank", bank, seed=1)
    with pytest.raises(OptionError, match="resume state has seed"):
        s.load_state_dict(dict(s.state_dict(), seed=9))


def test_position_sampler_splits_the_global_batch():
    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    one = take(PositionSampler(4, 1, 0), 8)
    r0, r1 = take(PositionSampler(2, 2, 0), 4), take(PositionSampler(2, 2, 1), 4)
    assert one == list(range(8))
    assert sorted(r0[:2] + r1[:2]) == one[:4] and sorted(r0[2:] + r1[2:]) == one[4:]
    assert take(PositionSampler(4, 1, 0, start_iter=1), 4) == one[4:]


def test_named_group_weights_fix_one_share_and_split_the_rest(bank):
    """{name: share}: the named groups keep their share, the others (G0 included) split the rest uniformly."""
    s = TaskSampler("groups", bank, group_weights={"b": 0.2}, seed=5)
    np.testing.assert_allclose(s.weights, [0.4, 0.4, 0.2])
    draws = np.bincount([s.draw(p)[1] for p in range(3000)], minlength=3) / 3000
    np.testing.assert_allclose(draws, [0.4, 0.4, 0.2], atol=0.04)
    with pytest.raises(OptionError, match="no group 'light'"):
        TaskSampler("groups", bank, group_weights={"light": 0.2})
    with pytest.raises(OptionError, match="sum to at most 1"):
        TaskSampler("groups", bank, group_weights={"a": 0.7, "b": 0.6})


def test_merged_banks_keep_groups_and_name_a_groupless_part(bank):
    """Step B's groups next to a bank of light tasks: one sampler, each part's tasks in their own group."""
    light = TaskBank.sample(3, seed=9)
    merged = TaskBank.merge([("grouped", bank), ("light", light)])
    assert len(merged) == 9 and merged.groups == {"a": [0, 1], "b": [4], "light": [6, 7, 8]}
    assert merged[7].task_id == light[1].task_id and merged.meta["space"] == bank.meta["space"]
    s = TaskSampler("groups", merged, group_weights={"light": 0.25}, seed=1)
    assert s.group_names() == ["G0", "a", "b", "light"]
    assert {t for t, g in (s.draw(p) for p in range(500)) if g == 3} == {6, 7, 8}
    with pytest.raises(RestorationError, match="'a' appears twice"):
        TaskBank.merge([("x", bank), ("y", bank)])


def test_a_list_of_bank_files_loads_merged(tmp_path, bank):
    bank.save(tmp_path / "grouped.json")
    TaskBank.sample(2, seed=1).save(tmp_path / "light.json")
    merged = TaskBank.load_any([tmp_path / "grouped.json", str(tmp_path / "light.json")])
    assert list(merged.groups) == ["a", "b", "light"] and len(merged) == 8
    assert len(TaskBank.load_any(tmp_path / "light.json")) == 2
