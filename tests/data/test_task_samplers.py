"""Task samplers: random (G0), bank, groups with weights; deterministic per position; position sampler layout."""
from __future__ import annotations

import numpy as np
import pytest

from restoration.data.samplers import PositionSampler, TaskSampler
from restoration.degradations import TaskBank
from restoration.errors import OptionError


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
