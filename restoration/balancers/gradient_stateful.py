"""Gradient-aggregation balancers that need more than a function of the normalised Gramian: a solved problem
with its own scale (CAGrad's ball, Nash-MTL's fixed update norm), per-key state (Nash-MTL's warm start, GradVac's
targets) or per-coordinate masks (GradDrop). See :mod:`restoration.balancers.gradient_base` for the common
base and :mod:`restoration.balancers.gradient` for why each method is ours or torchjd's."""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from restoration.balancers import solvers as solve
from restoration.balancers.gradient_base import GradientBalancer, _np, _weights


class CAGrad(GradientBalancer):
    """CAGrad: ``d = g0 + c‖g0‖ u``, ``u`` maximising the worst key's ``g_iᵀd`` over the unit ball (``g0`` = mean
    gradient), divided by ``1 + c²`` (``rescale: 1``), ``1 + c`` (``2``) or not (``0``). Solved and certified by
    :func:`restoration.balancers.solvers.cagrad_weights`, which warns and uses the mean when it cannot."""

    TYPE = "cagrad"
    DEFAULTS = {"c": 0.4, "rescale": 1}

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        c = float(self.opt["c"])
        weights = solve.cagrad_weights(_np(gram), c)
        rescale = int(self.opt["rescale"])
        if rescale == 1:
            weights = weights / (1 + c * c)
        elif rescale == 2:
            weights = weights / (1 + c)
        w = _weights(weights, J)
        return w @ J, w


class NashMTL(GradientBalancer):
    """Nash-MTL: bargaining weights ``α > 0`` with ``(GᵀG α)_i = 1/α_i`` (the paper's equation, not a normalised
    one, so the update ``Σ α_k g_k`` has norm √K at any gradient scale), recomputed every ``update_every`` steps
    (warm-started from the last α), then clipped to ``max_norm`` (0 = off) as in the official code. At
    ``level: representation`` the clip applies to the final parameter gradient. When no α exists (a convex
    combination of the gradients is zero) it warns and keeps the previous α (or equal α scaled to norm √K)."""

    TYPE = "nash_mtl"
    DEFAULTS = {"update_every": 1, "max_norm": 1.0}

    def __init__(self, opt: dict | None = None) -> None:
        super().__init__(opt)
        self.step = 0
        self.alpha: dict[int, float] = {}

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        keys = idx.tolist()
        known = all(k in self.alpha for k in keys)
        if self.step % int(self.opt["update_every"]) == 0 or not known:
            A = _np(gram)
            prev = np.array([self.alpha[k] for k in keys]) if known else None
            alpha, ok = solve.nash_weights(A, prev)
            if not ok:
                if prev is not None:
                    alpha = prev
                else:
                    n = float(np.sqrt(max(np.ones(len(keys)) @ A @ np.ones(len(keys)), 0.0)))
                    alpha = np.full(len(keys), np.sqrt(len(keys)) / n if n > 0 else 0.0)
                warnings.warn("Nash-MTL: (GᵀG α)_i = 1/α_i has no solution (a convex combination of the per-key "
                              "gradients is zero); keeping the previous weights", solve.SolverWarning, stacklevel=2)
            self.alpha.update({k: float(a) for k, a in zip(keys, alpha)})
        self.step += 1
        w = torch.tensor([self.alpha[k] for k in keys], dtype=J.dtype, device=J.device)
        update = w @ J
        max_norm = float(self.opt["max_norm"])
        n = float(update.norm())
        if self.level == "parameters" and max_norm > 0 and n > max_norm:
            w = w * (max_norm / n)
            update = update * (max_norm / n)
        return update, w

    def _clip(self, params: list[Tensor]) -> None:
        max_norm = float(self.opt["max_norm"])
        if max_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, max_norm)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "step": self.step, "alpha": dict(self.alpha)}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.step, self.alpha = int(d.get("step", 0)), {int(k): float(v) for k, v in d.get("alpha", {}).items()}


class GradVac(GradientBalancer):
    """Gradient vaccine: like PCGrad but raises cos(g_i', g_j) to an EMA target ``phi_ij`` (``beta``) whenever
    it is below it. The target matrix is kept for all K keys, so absent keys keep theirs."""

    TYPE = "gradvac"
    DEFAULTS = {"beta": 0.5, "seed": 0}
    SUM_STYLE = True

    def __init__(self, opt: dict | None = None) -> None:
        super().__init__(opt)
        self.phi: Tensor | None = None

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        K = int(self.opt["max_tasks"]) if self.phi is None else self.phi.shape[0]
        if self.phi is None:
            self.phi = torch.zeros(K, K, dtype=torch.float64)
        G = gram.detach().double().cpu()
        beta, keys, n = float(self.opt["beta"]), idx.tolist(), len(idx)
        W = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            c = torch.zeros(n, dtype=torch.float64)
            c[i] = 1.0
            for j in torch.randperm(n, generator=self.gen).tolist():
                if j == i:
                    continue
                gi_gj = float(c @ G[:, j])
                ni = float(c @ G @ c) ** 0.5
                nj = float(G[j, j]) ** 0.5
                if ni <= 0.0 or nj <= 0.0:
                    continue
                cos = gi_gj / (ni * nj)
                target = float(self.phi[keys[i], keys[j]])
                if cos < target:
                    coef = ni * (target * (1 - cos ** 2) ** 0.5 - cos * (1 - target ** 2) ** 0.5) / (
                        nj * max((1 - target ** 2) ** 0.5, 1e-12))
                    c[j] += coef
                self.phi[keys[i], keys[j]] = (1 - beta) * target + beta * cos
            W[i] = c
        w = (W.sum(0) * self._scale(n)).to(dtype=J.dtype, device=J.device)
        return w @ J, w

    def state_dict(self) -> dict:
        return {**super().state_dict(), "phi": self.phi}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.phi = d.get("phi")


class GradDrop(GradientBalancer):
    """GradDrop: per coordinate, keep the gradients whose sign is drawn with probability given by the sign purity
    ``0.5 (1 + Σg / Σ|g|)``; ``leak`` keeps a share of the rest. ``level: parameters``: torchjd's, on the
    parameter gradients; ``level: representation``: the paper's activation-level form, masks drawn on the
    batch-summed representation rows and applied to each sample's gradient by its key (no per-key weights)."""

    TYPE = "graddrop"
    DEFAULTS = {"leak": 0.0, "seed": 0}
    SUM_STYLE = True
    rep_masks_only = True

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        from torchjd.aggregation import GradDrop as _TJDGradDrop

        leak = torch.full((len(idx),), float(self.opt["leak"]), dtype=J.dtype, device=J.device)
        with self._seeded(J.device):
            update = _TJDGradDrop(leak=leak)(J)
        return update * self._scale(len(idx)), None
