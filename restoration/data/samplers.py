"""Task samplers and the position sampler of the training loader.

Every training sample has a global *position* (iteration × global batch + rank × local batch + slot). All its
random choices (which image, where to crop, flips, which task) are drawn from a generator seeded with
(seed, position). So the data stream depends only on the seed, never on the number of loader workers or on
where a run was interrupted: resuming at iteration k replays exactly what an uninterrupted run would see, and
N ranks with batch B see together what one process with batch N×B sees.

Task sampler modes (``datasets.train.tasks.mode``):
- ``random``: G0, a fresh task from the degradation space for every sample (Real-ESRGAN); task = -1, group = 0.
- ``bank``: a task drawn uniformly from a TaskBank file; group = 1 + the first bank group holding the task, or
  0 when no group holds it.
- ``groups``: TGSR step C: draw a group (G0 = the random space, then the bank groups in order; uniform or
  ``group_weights``: one weight per group, G0 first, or {name: share} with the other groups sharing the rest),
  then a task uniformly within it. A bank without groups is
  one group named ``bank`` (G0 mixed with a share of the bank's tasks, e.g. light degradations).
"""
from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import torch

from restoration.errors import OptionError

MODES = ("random", "bank", "groups")
_TASK_STREAM = 0x7A5C  # separates the task draws from the crop/flip draws of the same position


def position_rng(seed: int, position: int, stream: int = 0) -> np.random.Generator:
    """The generator of one sample position (and stream)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(position), int(stream)])


def task_of(index: int, task_seed: int, bank, space):
    """The DegradationTask of a sample labelled ``index`` by a sampler: that bank task, or (-1, G0) a fresh task of
    ``space`` drawn from the sample's own ``task_seed``; training and the distillation cache both degrade this way."""
    if index >= 0:
        assert bank is not None  # bank indices come only from a bank's sampler
        return bank[index]
    return space.sample(np.random.default_rng(int(task_seed)))


class TaskSampler:
    """Assigns (task index, group index) to a sample position; deterministic in (seed, position)."""

    def __init__(self, mode: str = "random", bank=None,
                 group_weights: Sequence[float] | Mapping[str, float] | None = None,
                 seed: int = 0) -> None:
        if mode not in MODES:
            raise OptionError(f"datasets.train.tasks.mode: expected one of {MODES}, got {mode!r}")
        if mode != "random" and bank is None:
            raise OptionError(f"datasets.train.tasks.bank: mode {mode!r} needs a task bank file")
        self.mode, self.bank, self.seed = mode, bank, int(seed)
        groups = list(bank.groups.values()) if bank is not None else []
        self._names = list(bank.groups) if bank is not None else []
        if mode == "groups" and not groups and bank is not None:  # (bank is None was refused above)
            groups, self._names = [list(range(len(bank)))], ["bank"]  # a groupless bank is one group
        self.group_tasks: list[list[int]] = groups
        self.num_groups = 1 + len(groups)
        self.num_tasks = len(bank) if bank is not None else 0
        self._group_of = np.zeros(self.num_tasks, dtype=np.int64)
        for g in reversed(range(len(groups))):  # the first group holding a task wins
            self._group_of[groups[g]] = g + 1
        if group_weights is not None:
            if mode != "groups":
                raise OptionError("datasets.train.tasks.group_weights: only used with mode 'groups'")
            if isinstance(group_weights, Mapping):
                group_weights = self._named_weights(group_weights)
            w = np.asarray(group_weights, dtype=np.float64)
            if w.shape != (self.num_groups,) or (w < 0).any() or w.sum() <= 0:
                raise OptionError(
                    f"datasets.train.tasks.group_weights: need {self.num_groups} non-negative weights (G0 first, "
                    f"then the bank groups {self._names}), got {list(group_weights)}")
            self.weights = w / w.sum()
        else:
            self.weights = np.full(self.num_groups, 1.0 / self.num_groups)

    def _named_weights(self, named: Mapping[str, float]) -> list[float]:
        """{group name: share}: the groups not named share what is left uniformly (e.g. ``{light: 0.2}`` keeps a
        fixed share of light tasks whatever the number of TG groups Step B formed)."""
        names = self.group_names()
        unknown = sorted(set(named) - set(names))
        if unknown:
            raise OptionError(f"datasets.train.tasks.group_weights: no group {unknown[0]!r} (groups: {names})")
        given = sum(float(v) for v in named.values())
        rest = [n for n in names if n not in named]
        if any(float(v) < 0 for v in named.values()) or given > 1 + 1e-9 or (given <= 0 and not rest):
            raise OptionError(f"datasets.train.tasks.group_weights: named shares must be >= 0 and sum to at most 1, "
                              f"got {dict(named)}")
        left = max(0.0, 1.0 - given) / len(rest) if rest else 0.0
        return [float(named[n]) if n in named else left for n in names]

    def draw(self, position: int) -> tuple[int, int]:
        """(task index in the bank or -1 for a fresh G0 task, group index) of a sample position."""
        if self.mode == "random":
            return -1, 0
        rng = position_rng(self.seed, position, _TASK_STREAM)
        if self.mode == "bank":
            i = int(rng.integers(self.num_tasks))
            return i, int(self._group_of[i])
        g = int(rng.choice(self.num_groups, p=self.weights))
        if g == 0:
            return -1, 0
        members = self.group_tasks[g - 1]
        return int(members[int(rng.integers(len(members)))]), g

    def group_names(self) -> list[str]:
        """Names of the group keys, in key order."""
        return ["G0"] + self._names

    def state_dict(self) -> dict:
        return {"mode": self.mode, "seed": self.seed, "num_tasks": self.num_tasks, "num_groups": self.num_groups,
                "weights": self.weights.tolist()}

    def load_state_dict(self, d: dict) -> None:
        """Stateless by design (positions carry the state); refuse a resume state from a different set-up."""
        mine = self.state_dict()
        for k in ("mode", "seed", "num_tasks", "num_groups"):
            if k in d and d[k] != mine[k]:
                raise OptionError(f"datasets.train.tasks: resume state has {k}={d[k]!r}, options give {mine[k]!r}")


class PositionSampler(torch.utils.data.Sampler):
    """Yields the sample positions of one rank, iteration after iteration, from ``start_iter`` (0-based) on.

    Iteration ``it`` of rank ``r`` takes positions ``it·B·W + r·B + j`` for ``j < B``; the dataset turns a
    position into (image, crop, task). Endless: the training loop decides when to stop.
    """

    def __init__(self, batch_size: int, world_size: int = 1, rank: int = 0, start_iter: int = 0) -> None:
        self.batch_size, self.world_size, self.rank = int(batch_size), int(world_size), int(rank)
        self.start_iter = int(start_iter)

    def __iter__(self) -> Iterator[int]:
        it = self.start_iter
        b, w = self.batch_size, self.world_size
        while True:
            base = it * b * w + self.rank * b
            yield from range(base, base + b)
            it += 1

    def __len__(self) -> int:  # DataLoader asks; the stream is endless
        return 2 ** 62

    def set_start_iter(self, start_iter: int) -> None:
        self.start_iter = int(start_iter)

    def state_dict(self) -> dict:
        return {"start_iter": self.start_iter, "batch_size": self.batch_size, "world_size": self.world_size}
