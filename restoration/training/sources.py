"""Task sources: the seeded batch streams a :class:`~restoration.training.step.TrainStep` trains on.

``source(t)`` returns step ``t``'s :class:`Batch`. Sources hold ``torch.Generator`` state, so they are streams: call
them for t = 0, 1, 2, ... in order (a fresh source with the same seeds replays the same batches). The batch
synthesis of ``restoration train`` is the BasicSR model's ``feed_data`` (data loader + on-device degradation); the
sources here serve the competition pipeline and the benchmarks, on a :class:`PatchSource` of GT images.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from restoration.degradations import DegradationTask, degrade
from restoration.training.batch import Batch

if TYPE_CHECKING:
    from restoration.competition.data import PatchSource


class SharedCropSource:
    """``batch_size`` pairs of each of ``tasks`` per step, keyed by the task's position: every task draws its noise
    from its own generator (``noise_seeds``), and all tasks get the same GT crops at step t (a generator seeded by
    ``crop_seed(t)``), so their losses differ by the degradation only. With one task: the probe's single-task
    stream; with several: the stacked copies of the batched probe."""

    def __init__(self, patches: "PatchSource", tasks: Sequence[DegradationTask], batch_size: int,
                 noise_seeds: Sequence[int], crop_seed: Callable[[int], int]) -> None:
        if len(noise_seeds) != len(tasks):
            raise ValueError("one noise seed per task")
        self.patches, self.tasks, self.batch_size, self.crop_seed = patches, list(tasks), int(batch_size), crop_seed
        self.gens = [torch.Generator(device=patches.device).manual_seed(int(s)) for s in noise_seeds]

    def __call__(self, t: int) -> Batch:
        lqs, gts = [], []
        for task, gen in zip(self.tasks, self.gens):
            crops = torch.Generator(device=self.patches.device).manual_seed(int(self.crop_seed(t)))
            lq, gt = self.patches.batch(task, self.batch_size, gen, crops)
            lqs.append(lq)
            gts.append(gt)
        keys = torch.arange(len(self.tasks), device=self.patches.device).repeat_interleave(self.batch_size)
        return Batch(torch.cat(lqs), torch.cat(gts), keys)


class MixedTaskSource:
    """Each sample draws one of ``tasks`` uniformly; one generator seeded by ``seed`` drives task choice, crops and
    noise; the batch is degraded task by task (keys = task position). The joint fine-tune of the grouping step."""

    def __init__(self, patches: "PatchSource", tasks: Sequence[DegradationTask], batch_size: int, seed: int) -> None:
        self.patches, self.tasks, self.batch_size = patches, list(tasks), int(batch_size)
        self.gen = torch.Generator(device=patches.device).manual_seed(int(seed))

    def __call__(self, t: int) -> Batch:
        gen = self.gen
        pick = torch.randint(0, len(self.tasks), (self.batch_size,), generator=gen, device=gen.device).tolist()
        lqs, gts, keys = [], [], []
        for k in sorted(set(pick)):
            lq, gt = self.patches.batch(self.tasks[k], pick.count(k), gen)
            lqs.append(lq)
            gts.append(gt)
            keys += [k] * pick.count(k)
        return Batch(torch.cat(lqs), torch.cat(gts), torch.tensor(keys, device=self.patches.device))


class RegionSource:
    """``batch_size`` GT regions of the patch source, degraded with the tasks ``draw_tasks(batch_size)`` returns
    (a fresh random task per sample, or a TG mixture), then one aligned crop of ``patch_size`` GT px whose offset
    (the same on both axes and for the whole batch) comes from ``gen``, like regions and noise. The benchmarks'
    base training and Step C arms."""

    def __init__(self, patches: "PatchSource", draw_tasks: Callable[[int], list[DegradationTask]], batch_size: int,
                 patch_size: int, gen: torch.Generator) -> None:
        self.patches, self.draw_tasks, self.gen = patches, draw_tasks, gen
        self.batch_size, self.patch_size = int(batch_size), int(patch_size)

    def __call__(self, t: int) -> Batch:
        s = self.patches.scale
        gt = self.patches.gt_regions(self.batch_size, self.gen)
        lq = degrade(gt, self.draw_tasks(self.batch_size), generator=self.gen, scale=s)
        p = self.patch_size // s
        y = int(torch.randint(0, lq.shape[-1] - p + 1, (1,), generator=self.gen))
        return Batch(lq[..., y:y + p, y:y + p], gt[..., s * y:s * (y + p), s * y:s * (y + p)])
