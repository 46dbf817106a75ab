"""The common base of gradient-aggregation balancers: per-key gradient rows (all-reduced), their float64 Gramian,
conflict statistics and :class:`GradientBalancer`, which applies an ``aggregate``d update or representation-level
weights. The methods are in :mod:`restoration.balancers.gradient` (whose docstring says where each comes from)
and :mod:`restoration.balancers.gradient_stateful`; both import this module, never each other's base.
"""
from __future__ import annotations

import contextlib
import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from restoration.balancers.base import DEFAULT_MAX_TASKS, Balancer, all_reduce_, sync_grads
from restoration.balancers.representation import LEVELS, Capture, graddrop_masks, rep_rows
from restoration.errors import OptionError


def per_key_grads(sums: Tensor, counts: Tensor, gcnt: Tensor, idx: Tensor, params: list[Tensor]) -> Tensor:
    """[len(idx), d] rows ``grad(sums_k / gcnt_k)`` over ``params`` (zeros for keys with no local sample),
    all-reduced over ranks. The graph is released by the last call."""
    d = sum(p.numel() for p in params)
    J = sums.new_zeros(len(idx), d).detach()
    todo = [(row, k) for row, k in enumerate(idx.tolist()) if int(counts[k]) > 0]
    for n, (row, k) in enumerate(todo):
        grads = torch.autograd.grad(sums[k] / gcnt[k], params, retain_graph=n < len(todo) - 1, allow_unused=True)
        off = 0
        for g, p in zip(grads, params):
            if g is not None:
                J[row, off:off + p.numel()] = g.reshape(-1)
            off += p.numel()
    return all_reduce_(J)


def gramian64(J: Tensor, chunk: int = 1 << 20) -> Tensor:
    """``J Jᵀ`` accumulated in float64 over column chunks (bounded extra memory), on J's device."""
    gram = torch.zeros(J.shape[0], J.shape[0], dtype=torch.float64, device=J.device)
    for start in range(0, J.shape[1], chunk):
        block = J[:, start:start + chunk].to(torch.float64)
        gram += block @ block.T
    return gram


def cosine_summary(gram: Tensor) -> dict:
    """Conflict statistics of the per-key gradients from their Gramian (for logging)."""
    k = gram.shape[0]
    norms = gram.diagonal().clamp_min(0).sqrt()
    if k < 2:
        return {"grad_norms_present": norms, "cos_mean_neg": 0.0, "cos_min": 1.0, "conflict_frac": 0.0}
    cos = gram / (norms[:, None] * norms[None, :]).clamp_min(1e-300)
    off = cos[~torch.eye(k, dtype=torch.bool, device=cos.device)]
    return {"grad_norms_present": norms, "cos_mean_neg": float(off.clamp(max=0).mean()),
            "cos_min": float(off.min()), "conflict_frac": float((off < 0).float().mean())}


def _grad_norm(params: Sequence[Tensor]) -> float:
    return math.sqrt(sum(float(p.grad.detach().double().pow(2).sum()) for p in params if p.grad is not None))


class GradientBalancer(Balancer):
    """Base: per-key gradient rows, then :meth:`aggregate` -> (update [d], weights [Kp] or None)."""

    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "level": "parameters", "rep_module": ""}
    CHOICES = {**Balancer.CHOICES, "level": LEVELS}
    SUM_STYLE = False

    def __init__(self, opt: dict | None = None) -> None:
        self.DEFAULTS = {**GradientBalancer.DEFAULTS, **self.DEFAULTS}
        if self.SUM_STYLE:
            self.DEFAULTS = {**self.DEFAULTS, "reduction": "mean"}
        super().__init__(opt)
        self.level = str(self.opt["level"])
        self.gen = torch.Generator().manual_seed(int(self.opt.get("seed", 0)))
        self.capture = Capture()

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def watch(self, net: torch.nn.Module, keys: Tensor | None = None):
        """Context for the forward pass: at ``level: representation`` it records the tail's input (and the
        per-sample ``keys``, which make the per-key rows one backward instead of K); otherwise nothing."""
        if self.level != "representation":
            return contextlib.nullcontext()
        return self.capture.watch(net, keys, str(self.opt["rep_module"]))

    def _scale(self, n: int) -> float:
        return 1.0 / max(n, 1) if self.SUM_STYLE and self.opt["reduction"] == "mean" else 1.0

    @contextlib.contextmanager
    def _seeded(self, device: torch.device):
        """Run library code that draws from the global RNG with a seed from our own generator."""
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.gen))
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def backward(self, sums: Tensor, counts: Tensor, shared_params: Sequence[Tensor]) -> dict:
        K, limit = sums.numel(), int(self.opt["max_tasks"])
        if K > limit:
            raise OptionError(
                f"train.balancing: {self.TYPE} needs one gradient row per key, a {K}×d matrix (d = shared "
                f"parameters, 4 bytes each) and {K} backward passes per step; K={K} exceeds max_tasks={limit}. "
                f"Use over: groups, a loss-weighting method (famo, uw, dwa...), or raise train.balancing.max_tasks.")
        losses, gcnt, present = self._means(sums, counts)
        idx = present.nonzero().squeeze(1)
        params = [p for p in shared_params if p.requires_grad]
        if self.level == "representation":
            w, gram, update_norm = self._backward_representation(sums, counts, gcnt, idx, losses, params)
        else:
            J = per_key_grads(sums, counts, gcnt, idx, params)
            gram = gramian64(J)
            update, w = self.aggregate(J, gram, losses[idx], idx)
            off = 0
            for p in params:
                g = update[off:off + p.numel()].view_as(p).to(p.dtype)
                p.grad = g.clone() if p.grad is None else p.grad.add_(g)
                off += p.numel()
            update_norm = float(update.norm())
        weights = torch.zeros_like(losses)
        weights[idx] = w.to(weights) if w is not None else float("nan")  # NaN: the method has no weights
        summary = cosine_summary(gram)
        norms = torch.zeros_like(losses)
        norms[idx] = summary.pop("grad_norms_present").to(norms)
        return {"weights": weights, "losses": losses, "counts": gcnt, "grad_norms": norms, **summary,
                "update_norm": update_norm}

    def _backward_representation(self, sums: Tensor, counts: Tensor, gcnt: Tensor, idx: Tensor, losses: Tensor,
                                 params: list[Tensor]) -> tuple[Tensor | None, Tensor, float]:
        """Weights from the representation rows, then one backward of the weighted loss through the network."""
        z, keys = self.capture.take()
        rows = rep_rows(z, sums, counts, gcnt, idx, keys)
        gram = gramian64(rows)
        mean_losses = sums[idx] / gcnt[idx]
        if self.rep_masks_only:  # GradDrop: masks on the representation gradient, no per-key weights
            if keys is None:
                raise RuntimeError(f"{self.TYPE} at level: representation needs the per-sample keys in watch()")
            masks = graddrop_masks(rows, float(self.opt["leak"]), self.gen)
            row_of = torch.full((sums.numel(),), 0, dtype=torch.long, device=z.device)
            row_of[idx] = torch.arange(len(idx), device=z.device)
            per_sample = masks[row_of[keys.to(z.device).long()]].view_as(z)
            handle = z.register_hook(lambda g: g * per_sample.to(g.dtype))
            try:
                (mean_losses.sum() * self._scale(len(idx))).backward()
            finally:
                handle.remove()
            w = None
        else:
            _, w = self.aggregate(rows, gram, losses[idx], idx)
            if w is None:
                raise RuntimeError(f"{self.TYPE}: no per-key weights to apply at level: representation")
            (mean_losses * w.detach().to(mean_losses)).sum().backward()
        sync_grads(params)
        self._clip(params)
        return w, gram, _grad_norm(params)

    rep_masks_only = False

    def _clip(self, params: list[Tensor]) -> None:
        """Hook for methods that bound the norm of the final parameter update (Nash-MTL)."""

    def state_dict(self) -> dict:
        return {**super().state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("gen") is not None:
            self.gen.set_state(d["gen"])


def _np(gram: Tensor) -> np.ndarray:
    return gram.detach().to("cpu", torch.float64).numpy()


def _weights(w: np.ndarray | Tensor, like: Tensor) -> Tensor:
    return torch.as_tensor(w, dtype=torch.float64).to(device=like.device, dtype=like.dtype)
