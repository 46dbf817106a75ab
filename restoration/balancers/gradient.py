"""Gradient-aggregation balancers: combine the K per-key gradients of the shared parameters (or representation).

``level: parameters`` (default): one ``autograd.grad`` per present key (K backward passes through the trunk); the
K×d matrix J of global per-key mean gradients (each rank's rows all-reduced) is aggregated identically on every
rank. ``level: representation``: the per-key gradients are taken w.r.t. the input of the network's tail, the
method turns them into per-key weights, and the network takes one backward of ``Σ w_k L_k``
(:mod:`restoration.balancers.representation`; the training loop runs its forward inside ``balancer.watch``).

Where each method comes from, checked against independent float64 solutions at gradient scales 1e-4..1e4 with a
dominant key, nearly parallel keys, rank-deficient J and K > d (tests/balancers/test_balancing_reference.py):

- torchjd (0.18): PCGrad, UPGrad (with ``reg_eps`` exposed, default 1e-10 instead of torchjd's 1e-4, which
  bends the update against weak keys when one key dominates; the Gramian is normalised first, as torchjd's
  absolute ``norm_eps`` would zero a Gramian of small gradients), GradDrop at ``level: parameters``.
- ours (:mod:`restoration.balancers.solvers`): MGDA (Wolfe's exact min-norm-point algorithm; torchjd's
  Frank-Wolfe stops on an absolute step size and returned updates 3× longer than the min-norm point), CAGrad (a
  certified primal solve; torchjd's needs cvxpy + Clarabel and zeroes its update for small Gramians),
  Nash-MTL (Newton on the paper's equation, update norm √K; torchjd copies the official code, which solves a
  normalised equation and needs cvxpy + ECOS, about 20 conic solves per step), IMTL-G and Aligned-MTL (the
  torchjd formulas with a relative rank tolerance of 1e-10: torchjd's machine-epsilon cut-off takes rounding
  noise of a singular Gramian for a direction and returns a zero or garbage update), GradVac (per-key targets
  that survive absent keys), GradDrop at ``level: representation`` (per-key masks applied per sample).

The Gramian is accumulated in float64 (:func:`gramian64`) so float32 gradients keep their weights accurate.
Memory: J holds K×d floats, so K is capped by ``max_tasks`` (default 16): use ``over: groups`` for large banks.
Sum-style methods (PCGrad, GradVac, GradDrop) divide by the number of present keys (``reduction: mean``) unless
``reduction: sum``. Random choices come from the balancer's own seeded generator, so every rank draws the same.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from restoration.balancers import solvers as solve
from restoration.balancers.gradient_base import (
    GradientBalancer,
    _np,
    _weights,
    cosine_summary,
    gramian64,
    per_key_grads,
)
from restoration.balancers.gradient_stateful import CAGrad, GradDrop, GradVac, NashMTL

__all__ = ["CLASSES", "AlignedMTL", "CAGrad", "GradDrop", "GradVac", "GradientBalancer", "IMTLG", "MGDA", "NashMTL",
           "PCGrad", "UPGrad", "cosine_summary", "gramian64", "per_key_grads"]


class _GramianWeighted(GradientBalancer):
    """Methods whose weights are a function of the Gramian alone (scale-invariant: given the normalised one)."""

    def weights_of(self, A: np.ndarray) -> np.ndarray | Tensor:
        raise NotImplementedError

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        A, s = solve.normalise(_np(gram))
        if s == 0.0:  # every gradient is zero: any weights give the zero update
            w = torch.full((len(idx),), 1.0 / max(len(idx), 1), dtype=J.dtype, device=J.device)
        else:
            with self._seeded(J.device):
                w = _weights(self.weights_of(A), J) * self._scale(len(idx))
        return w @ J, w


class PCGrad(_GramianWeighted):
    """PCGrad (torchjd): each g_i is projected off every conflicting g_j in random order, then summed."""

    TYPE = "pcgrad"
    DEFAULTS = {"seed": 0}
    SUM_STYLE = True

    def weights_of(self, A: np.ndarray) -> Tensor:
        from torchjd.aggregation import PCGradWeighting

        return PCGradWeighting()(torch.from_numpy(A))


class MGDA(_GramianWeighted):
    """MGDA: the min-norm point x of the convex hull of the per-key gradients, by Wolfe's exact algorithm, which
    stops once ``g_kᵀx ≥ (1 - epsilon) ‖x‖²`` for every key: relative, so no key conflicts with x for any
    ``epsilon < 1`` (the old absolute Frank-Wolfe step threshold 1e-3 did, with one dominant key)."""

    TYPE = "mgda"
    DEFAULTS = {"epsilon": 1e-14, "max_iters": 1000}

    def weights_of(self, A: np.ndarray) -> np.ndarray:
        return solve.min_norm_weights(A, tol=float(self.opt["epsilon"]), max_iter=int(self.opt["max_iters"]))


class IMTLG(_GramianWeighted):
    """IMTL-G: weights (summing to 1) whose update has equal projections on every unit g_k; the pseudo-inverse
    generalisation (torchjd's) for dependent gradients, with a relative rank tolerance; 0 when no such weights
    sum to a non-zero value (the gradients' hull holds 0 in that sense)."""

    TYPE = "imtl_g"

    def weights_of(self, A: np.ndarray) -> np.ndarray:
        v = np.linalg.pinv(A, rcond=1e-10, hermitian=True) @ np.sqrt(np.clip(np.diag(A), 0, None))
        total = float(v.sum())
        return np.zeros_like(v) if abs(total) <= 1e-9 * float(np.abs(v).sum()) else v / total


class AlignedMTL(_GramianWeighted):
    """Aligned-MTL: the gradient system rescaled to equal singular values (``scale_mode``: the smallest, median or
    mean eigenvalue of the Gramian's non-zero part), mean preference."""

    TYPE = "aligned_mtl"
    DEFAULTS = {"scale_mode": "min"}

    def weights_of(self, A: np.ndarray) -> np.ndarray:
        lam, V = np.linalg.eigh(A)
        keep = lam > 1e-10 * lam.max()
        lam, V = lam[keep], V[:, keep]
        scale = {"min": lam.min(), "median": np.median(lam), "rmse": lam.mean()}[self.opt["scale_mode"]]
        B = np.sqrt(scale) * (V / np.sqrt(lam)) @ V.T
        return B @ np.full(A.shape[0], 1.0 / A.shape[0])


class UPGrad(_GramianWeighted):
    """UPGrad (torchjd + quadprog): mean of each g_k projected onto the dual cone of all per-key gradients.
    ``reg_eps`` is added to the diagonal of the trace-normalised Gramian so quadprog sees a definite matrix."""

    TYPE = "upgrad"
    DEFAULTS = {"reg_eps": 1e-10}

    def weights_of(self, A: np.ndarray) -> Tensor:
        from torchjd.aggregation import UPGradWeighting
        from torchjd.linalg import QuadprogProjector

        projector = QuadprogProjector(norm_eps=0.0, reg_eps=float(self.opt["reg_eps"]))
        return UPGradWeighting(projector=projector)(torch.from_numpy(A))


CLASSES = [PCGrad, MGDA, IMTLG, AlignedMTL, UPGrad, CAGrad, NashMTL, GradVac, GradDrop]
