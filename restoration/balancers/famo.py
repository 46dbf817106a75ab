"""FAMO (fast adaptive multitask optimisation): a loss weighting whose state is updated after the optimiser step,
from the losses of the same samples re-evaluated with the updated network."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from restoration.balancers.weighting import KeyAdam, WeightingBalancer, _masked_softmax
from restoration.errors import OptionError


class FAMO(WeightingBalancer):
    """Fast adaptive multitask optimisation. Weights ``w_k = z_k / (c D_k)``, ``z = softmax(xi)`` over present
    keys, ``D_k = L_k - L*_k + eps``, ``c = sum z_k / D_k`` (the gradient of ``sum z_k log D_k / c``).
    After the optimiser step the losses are re-evaluated on samples of the same batch:
    ``delta_k = log D_k(before) - log D_k(after)`` on those samples, and ``xi`` takes an Adam step (L2 ``gamma``)
    on ``J_softmax^T delta = z * (delta - z.delta)`` over the keys they cover.

    ``reevaluate`` is the share of the batch re-evaluated: 1 = the whole batch (the paper's code, one extra
    no-grad forward: about 1.3x an EW step), the default 0.25 = a random quarter drawn per step (same rule on
    fewer samples, about 1.1x), 0 = no extra forward, the next batch's losses stand in (not the paper's rule)."""

    TYPE = "famo"
    DEFAULTS = {"lr": 0.025, "gamma": 1e-3, "min_loss": 0.0, "eps": 1e-8, "reevaluate": 0.25}

    def __init__(self, opt: dict | None = None) -> None:
        opt = dict(opt or {})
        if isinstance(opt.get("reevaluate"), bool):  # true / false: the whole batch / none
            opt["reevaluate"] = float(opt["reevaluate"])
        super().__init__(opt)
        share = float(self.opt["reevaluate"])
        if not 0.0 <= share <= 1.0:
            raise OptionError(f"train.balancing.reevaluate: a share of the batch in [0, 1], got {share!r}")
        self.share = share
        self.needs_after_step = share > 0
        self.prev: Tensor | None = None
        self.steps = 0

    def after_step_samples(self, batch_size: int) -> Tensor:
        """``ceil(share * batch)`` sample indices drawn from a generator seeded by the step count (the same on
        every rank, replayed on resume)."""
        n = min(batch_size, max(1, math.ceil(self.share * batch_size - 1e-9)))
        if n == batch_size:
            return torch.arange(batch_size)
        gen = torch.Generator().manual_seed(self.steps)
        return torch.randperm(batch_size, generator=gen)[:n].sort().values

    def _init_state(self, K: int, like: Tensor) -> None:
        self.xi = torch.zeros(K, dtype=like.dtype)
        self.adam = KeyAdam(self.opt["lr"], weight_decay=self.opt["gamma"])
        self.prev: Tensor | None = None
        self.prev_present: Tensor | None = None

    def _d(self, losses: Tensor) -> Tensor:
        return losses.cpu() - float(self.opt["min_loss"]) + float(self.opt["eps"])

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        p = present.cpu()
        z = _masked_softmax(self.xi, p)
        d = self._d(losses).clamp_min(float(self.opt["eps"]))
        c = (z[p] / d[p]).sum()
        w = torch.zeros_like(z)
        w[p] = z[p] / (c * d[p])
        return w.to(losses.device)

    def update(self, losses: Tensor, present: Tensor, counts: Tensor) -> None:
        self.prev, self.prev_present = self._d(losses).clamp_min(float(self.opt["eps"])), present.cpu()

    def after_step(self, sums_after: Tensor, counts_after: Tensor, sums_before: Tensor | None = None,
                   counts_before: Tensor | None = None) -> None:
        if self.prev is None:
            raise RuntimeError("famo: after_step called before backward")
        if (sums_before is None) != (counts_before is None):
            raise TypeError("famo: after_step takes sums_before and counts_before together")
        if sums_before is not None and counts_before is not None:  # a subset of the batch: its losses before the step
            before, _, present = self._means(sums_before.detach(), counts_before)
            self.prev, self.prev_present = self._d(before).clamp_min(float(self.opt["eps"])), present.cpu()
        losses, _, present = self._means(sums_after.detach(), counts_after)
        self._xi_step(losses, present)

    def _weighted_step(self, sums: Tensor, losses: Tensor, gcnt: Tensor, present: Tensor,
                       shared_params: Sequence[Tensor]) -> dict:
        if not self.needs_after_step and self.prev is not None:  # reevaluate: false -> this batch is "after"
            self._xi_step(losses, present)
        return super()._weighted_step(sums, losses, gcnt, present, shared_params)

    def _xi_step(self, losses: Tensor, present: Tensor) -> None:
        prev, prev_present = self.prev, self.prev_present
        if prev is None or prev_present is None:
            raise RuntimeError("famo: no losses of a previous step to compare with")
        p = prev_present & present.cpu()
        if bool(p.any()):
            after = self._d(losses).clamp_min(float(self.opt["eps"]))
            delta = torch.zeros_like(self.xi)
            delta[p] = torch.log(prev[p]) - torch.log(after[p])
            z = _masked_softmax(self.xi, p)
            grad = z * (delta - (z * delta).sum())
            self.adam.step(self.xi, grad, p)
        self.prev = None
        self.steps += 1

    def state_dict(self) -> dict:
        if self.K is None:
            return super().state_dict()
        return {**super().state_dict(), "xi": self.xi, "adam": self.adam.state_dict(), "steps": self.steps}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("xi") is not None:
            self._init_state(len(d["xi"]), d["xi"])
            self.xi = d["xi"].clone()
            self.adam.load_state_dict(d["adam"])
        self.steps = int(d.get("steps", 0))


CLASSES = [FAMO]
