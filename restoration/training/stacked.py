"""Many copies of one network trained at once: the parameters of N copies stacked, one ``torch.func.vmap``ed
forward. Sample block k of the batch (``B = N * b`` samples, the copies' batches concatenated) goes through copy k.
With keys = copy index and a balancer that sums the per-key means (``ew``, ``reduction: sum``), copy k's gradient
is that of its own mean loss, and Adam, being elementwise, updates each copy as it would alone: N single-task
fine-tunes in one :class:`~restoration.training.step.TrainStep`."""
from __future__ import annotations

import copy
from collections.abc import Collection

import torch
from torch import Tensor


class StackedCopies(torch.nn.Module):
    """``copies`` copies of ``base``; only parameters named in ``trainable`` (default: all) require a gradient."""

    def __init__(self, base: torch.nn.Module, copies: int, trainable: Collection[str] | None = None) -> None:
        super().__init__()
        from torch.func import stack_module_state

        self.copies = int(copies)
        params, buffers = stack_module_state([copy.deepcopy(base) for _ in range(self.copies)])
        self._names = list(params)
        self.stacked = torch.nn.ParameterList(
            torch.nn.Parameter(params[n].detach().clone(), requires_grad=trainable is None or n in trainable)
            for n in self._names)
        self._buffers_stacked = buffers
        self._skeleton = [copy.deepcopy(base).to("meta")]  # a list: not registered as a submodule

    def forward(self, x: Tensor) -> Tensor:
        from torch.func import functional_call, vmap

        skeleton = self._skeleton[0]
        params = dict(zip(self._names, self.stacked))

        def one(p, b, xi):
            return functional_call(skeleton, (p, b), (xi,))

        out = vmap(one)(params, self._buffers_stacked, x.unflatten(0, (self.copies, -1)))
        return out.flatten(0, 1)
