"""The one optimiser step of every SR training in the project: ``restoration train`` (through the BasicSR models),
the task probe, the group fine-tune and the benchmarks.

A step: forward (inside ``balancer.watch``, which records the representation for ``level: representation``),
per-sample loss, per-key sums and counts, ``balancer.backward`` (which leaves the combined, globally synchronised
gradient in ``.grad``), the optimiser step, the balancer's post-step hook (FAMO re-evaluates the samples it names
with the updated network), an optional scheduler step and the EMA update. A fix to any of these lands in every
training at once.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from restoration.balancers.base import Balancer, MeanBalancer, reduce_losses
from restoration.training.batch import Batch, StepResult
from restoration.training.losses import PerSampleLoss, PixelLoss
from restoration.training.optim import Ema, adam


class TaskSource(Protocol):
    """Training batches by step index: ``source(t)`` is the batch of step ``t`` (a seeded, replayable stream)."""

    def __call__(self, t: int) -> Batch: ...


@dataclass
class TrainStep:
    """Network, optimiser, per-sample loss, balancer over ``num_keys`` keys, and optionally a scheduler stepped
    after each update and an EMA of the weights. ``step(batch)`` is one update; ``run(source, iters)`` many."""

    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss: PerSampleLoss
    balancer: Balancer = field(default_factory=MeanBalancer)
    num_keys: int = 1
    ema: Ema | None = None
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    @classmethod
    def adam(cls, net: torch.nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.99), *,
             loss: PerSampleLoss | None = None, balancer: Balancer | None = None, num_keys: int = 1) -> "TrainStep":
        """L1 + Adam over the parameters that require a gradient, batch mean unless a balancer is given: the
        recipe of the probe, the group fine-tune and the benchmarks."""
        return cls(net, adam(trainable(net), lr, betas), loss or PixelLoss(), balancer or MeanBalancer(), num_keys)

    def params(self) -> list[Tensor]:
        return trainable(self.net)

    def step(self, batch: Batch) -> StepResult:
        """One optimiser update on ``batch``."""
        self.optimizer.zero_grad(set_to_none=False)
        keys = batch.key_tensor()
        with self.balancer.watch(self.net, keys):
            output = self.net(batch.lq)
        per_sample, parts = self.loss(output, batch)
        sums, counts = reduce_losses(per_sample, keys, self.num_keys)
        info = self.balancer.backward(sums, counts, self.params())
        self.optimizer.step()
        per_sample = per_sample.detach()
        if self.balancer.needs_after_step:
            self._after_step(batch, per_sample, keys)
        if self.scheduler is not None:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update()
        return StepResult(output, per_sample, keys, sums.detach(), counts, parts, info)

    def _after_step(self, batch: Batch, per_sample: Tensor, keys: Tensor) -> None:
        """The balancer's post-step hook: the samples it names, re-evaluated with the updated network, and their
        losses from the step itself."""
        idx = self.balancer.after_step_samples(per_sample.shape[0]).to(per_sample.device)
        sub = batch.select(idx)
        with torch.no_grad():
            after, _ = self.loss(self.net(sub.lq), sub)
        self.balancer.after_step(*reduce_losses(after.detach(), keys[idx], self.num_keys),
                                 *reduce_losses(per_sample[idx], keys[idx], self.num_keys))

    @torch.no_grad()
    def evaluate(self, batch: Batch, net: torch.nn.Module | None = None) -> StepResult:
        """The loss of ``net`` (default: the trained network) on ``batch``, without a gradient or an update."""
        keys = batch.key_tensor()
        output = (net or self.net)(batch.lq)
        per_sample, parts = self.loss(output, batch)
        sums, counts = reduce_losses(per_sample, keys, self.num_keys)
        return StepResult(output, per_sample, keys, sums, counts, parts)

    def run(self, source: TaskSource, iters: int, *, start: int = 0, threads: int | None = None,
            on_step: Callable[[int, StepResult], None] | None = None) -> None:
        """Steps ``start .. start + iters - 1`` on ``source(t)``, with ``threads`` torch threads (None: as set)."""
        from restoration.threads import torch_threads

        with torch_threads(threads) if threads else contextlib.nullcontext():
            for t in range(start, start + int(iters)):
                result = self.step(source(t))
                if on_step is not None:
                    on_step(t, result)


def trainable(net: torch.nn.Module) -> list[Tensor]:
    """The parameters an optimiser updates: those that require a gradient."""
    return [p for p in net.parameters() if p.requires_grad]
