"""Representation-level gradient balancing (``train.balancing.level: representation``, MGDA-UB style).

Why: a gradient method at ``level: parameters`` back-propagates every key through the whole network (K backward
passes: 3.7–4.4× an EW step at K = 5). At ``level: representation`` the per-key gradients are taken w.r.t. the
*representation* ``z``, the input of the network's tail, which costs one backward through the tail only; the
method turns their Gramian into per-key weights ``w`` and the network takes one ordinary backward of
``Σ_k w_k L_k`` (Sener & Koltun's MGDA-UB; LibMTL's ``rep_grad``).

The representation (:func:`representation_module`, or ``rep_module:`` by name):

- SRVGGNetCompact: the input of ``body[-1]``, its last conv (LR-resolution features; the tail is that conv,
  the pixel shuffle and the upsampled-input skip);
- RRDBNet: the input of ``conv_up1``, the LR-resolution trunk output (after ``conv_body`` + the residual), so the
  tail is the upsampler + ``conv_hr`` + ``conv_last``; the input of ``conv_last`` would be a 16× larger HR tensor;
- anything else: the input of the last module (in registration order) that owns parameters.

Batch-summed rows. With degradation keys every sample belongs to one key and the tail treats samples
independently, so the per-sample gradient of key k w.r.t. ``z`` is zero outside key k's samples: kept per
sample, the K rows would be orthogonal and every method would reduce to a per-key rescaling. As in LibMTL's
``rep_grad``, each row is therefore summed over the batch — the gradient of ``L_k`` w.r.t. one shift of ``z``
shared by all samples — and these rows do conflict. Since the tail is per-sample, a single backward of
``Σ_k L_k`` gives every sample's gradient, and rows are scatter-summed by key (:func:`rep_rows`); without the
per-sample keys it falls back to K backward passes through the tail.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from restoration.balancers.base import all_reduce_
from restoration.errors import OptionError

LEVELS = ("parameters", "representation")


def representation_module(net: nn.Module, name: str = "") -> nn.Module:
    """The module whose input is the representation (see the module docstring); ``name`` overrides."""
    net = getattr(net, "module", net)  # a DDP / DataParallel wrapper
    if name:
        mods = dict(net.named_modules())
        if name not in mods:
            raise OptionError(f"train.balancing.rep_module: {type(net).__name__} has no submodule {name!r}")
        return mods[name]
    cls = type(net).__name__
    body, up = getattr(net, "body", None), getattr(net, "conv_up1", None)
    if cls.startswith("SRVGGNetCompact") and isinstance(body, (nn.ModuleList, nn.Sequential)):
        return body[-1]
    if cls.startswith("RRDBNet") and isinstance(up, nn.Module):
        return up
    owners = [m for m in net.modules() if any(True for _ in m.parameters(recurse=False))]
    if not owners:
        raise OptionError(f"train.balancing.level: representation: {cls} has no module with parameters")
    return owners[-1]


class Capture:
    """Holds the representation of the last forward pass run under :meth:`watch` and its per-sample keys."""

    def __init__(self) -> None:
        self.z: Tensor | None = None
        self.keys: Tensor | None = None
        self.calls = 0

    @contextlib.contextmanager
    def watch(self, net: nn.Module, keys: Tensor | None, name: str = "") -> Iterator[None]:
        """Record the input of the representation module during the forward pass in the ``with`` block."""
        self.z, self.keys, self.calls = None, keys, 0

        def hook(_module: nn.Module, args: tuple) -> None:
            self.calls += 1
            self.z = args[0]

        handle = representation_module(net, name).register_forward_pre_hook(hook)
        try:
            yield
        finally:
            handle.remove()
        if self.calls > 1:
            raise OptionError("train.balancing.level: representation: the representation module ran "
                              f"{self.calls} times in one forward pass; name another one with rep_module")

    def take(self) -> tuple[Tensor, Tensor | None]:
        """The captured representation (once), or an error saying how to capture one."""
        if self.z is None or not self.z.requires_grad:
            raise RuntimeError("level: representation needs the forward pass inside `with balancer.watch(net, "
                               "keys):` (with gradients enabled)")
        z, keys = self.z, self.keys
        self.z = self.keys = None
        return z, keys


def rep_rows(z: Tensor, sums: Tensor, counts: Tensor, gcnt: Tensor, idx: Tensor, keys: Tensor | None) -> Tensor:
    """[len(idx), numel(z[0])] batch-summed gradients of ``sums_k / gcnt_k`` w.r.t. ``z``, all-reduced over
    ranks. The graph is kept for the network's backward that follows."""
    flat = z.shape[0], z[0].numel()
    rows = z.new_zeros(len(idx), flat[1])
    if keys is not None:
        keys = keys.to(z.device).long()
        row_of = torch.full((sums.numel(),), -1, dtype=torch.long, device=z.device)
        row_of[idx] = torch.arange(len(idx), device=z.device)
        local = row_of[keys] >= 0
        if local.any():
            total = (sums[idx] / gcnt[idx]).sum()
            (gz,) = torch.autograd.grad(total, z, retain_graph=True, allow_unused=True)
            if gz is not None:
                rows.index_add_(0, row_of[keys][local], gz.reshape(flat)[local])
    else:
        for row, k in [(row, k) for row, k in enumerate(idx.tolist()) if int(counts[k]) > 0]:
            (gz,) = torch.autograd.grad(sums[k] / gcnt[k], z, retain_graph=True, allow_unused=True)
            if gz is not None:
                rows[row] = gz.reshape(flat).sum(0)
    return all_reduce_(rows)


def graddrop_masks(rows: Tensor, leak: float, gen: torch.Generator) -> Tensor:
    """GradDrop's (Chen et al. 2020) per-coordinate keep factors for each row: sign purity
    ``P = ½(1 + Σg / Σ|g|)``, one uniform draw ``U`` per coordinate; a row keeps its coordinate when it is positive
    and ``U < P`` or negative and ``U > P``; ``leak`` keeps that share of every row regardless."""
    P = 0.5 * (1.0 + rows.sum(0) / rows.abs().sum(0).clamp_min(1e-30))
    U = torch.rand(P.shape, generator=gen, dtype=torch.float64).to(device=rows.device, dtype=rows.dtype)
    keep = ((rows > 0) & (U < P)) | ((rows < 0) & (U > P))
    return leak + (1.0 - leak) * keep.to(rows.dtype)
