"""Gradient-aggregation balancers: combine the K×d matrix J of per-key gradients of the shared parameters.

Each step does one ``autograd.grad`` per present key (K backward passes through the trunk), all-reduces J
(SUM of each rank's ``grad(local_sum_k / global_count_k)``, i.e. the global per-key mean gradients), and
aggregates it identically on every rank. Most methods only need the K×K Gramian ``J Jᵀ`` and give weights
``w`` with update ``wᵀJ``; those come from ``torchjd.aggregation`` where it has them (PCGrad, MGDA, IMTL-G,
Aligned-MTL, UPGrad, GradDrop) and are written here otherwise (CAGrad and Nash-MTL without cvxpy, GradVac
with per-key state that survives absent keys).

Memory: J holds K×d floats (d = number of shared parameters), so K is capped by ``max_tasks`` (default 16):
use ``over: groups`` for large task banks. Sum-style methods (PCGrad, GradVac, GradDrop) divide by the
number of present keys (``reduction: mean``, the batch-mean scale) unless ``reduction: sum``.
Random choices (PCGrad/GradVac orders, GradDrop masks) come from the balancer's own seeded generator so
every rank draws the same.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from restoration.errors import OptionError
from restoration.mtl.balancing import DEFAULT_MAX_TASKS, Balancer, all_reduce_


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


def cosine_summary(gram: Tensor) -> dict:
    """Conflict statistics of the per-key gradients from their Gramian (for logging)."""
    k = gram.shape[0]
    norms = gram.diagonal().clamp_min(0).sqrt()
    if k < 2:
        return {"grad_norms_present": norms, "cos_mean_neg": 0.0, "cos_min": 1.0, "conflict_frac": 0.0}
    cos = gram / (norms[:, None] * norms[None, :]).clamp_min(1e-30)
    off = cos[~torch.eye(k, dtype=torch.bool, device=cos.device)]
    return {"grad_norms_present": norms, "cos_mean_neg": float(off.clamp(max=0).mean()),
            "cos_min": float(off.min()), "conflict_frac": float((off < 0).float().mean())}


class GradientBalancer(Balancer):
    """Base: per-key gradient matrix, then :meth:`aggregate` -> (update [d], weights [Kp] or None)."""

    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS}
    SUM_STYLE = False

    def __init__(self, opt: dict | None = None) -> None:
        if self.SUM_STYLE:
            self.DEFAULTS = {**self.DEFAULTS, "reduction": "mean"}
        super().__init__(opt)
        self.gen = torch.Generator().manual_seed(int(self.opt.get("seed", 0)))

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

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
        J = per_key_grads(sums, counts, gcnt, idx, params)
        gram = J @ J.T
        update, w = self.aggregate(J, gram, losses[idx], idx)
        off = 0
        for p in params:
            g = update[off:off + p.numel()].view_as(p).to(p.dtype)
            p.grad = g.clone() if p.grad is None else p.grad.add_(g)
            off += p.numel()
        weights = torch.zeros_like(losses)
        weights[idx] = w.to(weights) if w is not None else float("nan")  # NaN: the method has no weights
        summary = cosine_summary(gram)
        norms = torch.zeros_like(losses)
        norms[idx] = summary.pop("grad_norms_present").to(norms)
        return {"weights": weights, "losses": losses, "counts": gcnt, "grad_norms": norms, **summary,
                "update_norm": float(update.norm())}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("gen") is not None:
            self.gen.set_state(d["gen"])


class _GramianWeighted(GradientBalancer):
    """Methods whose weights come from a torchjd ``*Weighting`` on the Gramian."""

    def weighting(self):
        raise NotImplementedError

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        with self._seeded(J.device):
            w = self.weighting()(gram) * self._scale(len(idx))
        return w @ J, w


class PCGrad(_GramianWeighted):
    """PCGrad (torchjd): each g_i is projected off every conflicting g_j in random order, then summed."""

    TYPE = "pcgrad"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "seed": 0}
    SUM_STYLE = True

    def weighting(self):
        from torchjd.aggregation import PCGradWeighting

        return PCGradWeighting()


class MGDA(_GramianWeighted):
    """MGDA (torchjd Frank-Wolfe): the min-norm point of the convex hull of the per-key gradients."""

    TYPE = "mgda"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "epsilon": 1e-3, "max_iters": 100}

    def weighting(self):
        from torchjd.aggregation import MGDAWeighting

        return MGDAWeighting(epsilon=float(self.opt["epsilon"]), max_iters=int(self.opt["max_iters"]))


class IMTLG(_GramianWeighted):
    """IMTL-G (torchjd): weights (summing to 1) whose update has equal projections on every unit g_k."""

    TYPE = "imtl_g"

    def weighting(self):
        from torchjd.aggregation import IMTLGWeighting

        return IMTLGWeighting()


class AlignedMTL(_GramianWeighted):
    """Aligned-MTL (torchjd): eigen-rescaling of the gradient system to condition number 1, mean preference."""

    TYPE = "aligned_mtl"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "scale_mode": "min"}

    def weighting(self):
        from torchjd.aggregation import AlignedMTLWeighting

        return AlignedMTLWeighting(scale_mode=self.opt["scale_mode"])


class UPGrad(_GramianWeighted):
    """UPGrad (torchjd + quadprog): mean of each g_k projected onto the dual cone of all per-key gradients."""

    TYPE = "upgrad"

    def weighting(self):
        from torchjd.aggregation import UPGradWeighting

        return UPGradWeighting()


def _simplex_min(fun, jac, k: int) -> np.ndarray:
    """Minimise a smooth function over the probability simplex (SLSQP, K tiny)."""
    from scipy.optimize import minimize

    x0 = np.full(k, 1.0 / k)
    res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                   constraints=({"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones_like(x)},),
                   options={"ftol": 1e-12, "maxiter": 200})
    x = np.clip(res.x, 0.0, None)
    return x / x.sum() if x.sum() > 0 else x0


class CAGrad(GradientBalancer):
    """CAGrad: ``d = g0 + (c ||g0|| / ||G w||) G w`` with ``w = argmin_simplex wᵀGᵀg0 + c ||g0|| ||G w||``,
    ``g0`` the mean gradient, divided by ``1 + c²`` (``rescale: 1``). Solved on the Gramian with SLSQP."""

    TYPE = "cagrad"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "c": 0.4, "rescale": 1}


    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        k, c = len(idx), float(self.opt["c"])
        A = gram.detach().double().cpu().numpy()
        b = A.mean(axis=1)  # Gᵀg0 for every key
        g0n = float(np.sqrt(max(b.mean(), 0.0)))
        phi = c * g0n

        def fun(x):
            return float(x @ b + phi * np.sqrt(max(x @ A @ x, 1e-20)))

        def jac(x):
            return b + phi * (A @ x) / np.sqrt(max(x @ A @ x, 1e-20))

        x = _simplex_min(fun, jac, k) if k > 1 else np.ones(1)
        gwn = float(np.sqrt(max(x @ A @ x, 1e-20)))
        weights = np.full(k, 1.0 / k) + (phi / gwn) * x
        rescale = int(self.opt["rescale"])
        if rescale == 1:
            weights = weights / (1 + c * c)
        elif rescale == 2:
            weights = weights / (1 + c)
        w = torch.as_tensor(weights, dtype=J.dtype, device=J.device)
        return w @ J, w


class NashMTL(GradientBalancer):
    """Nash-MTL: bargaining weights ``alpha > 0`` solving ``(GᵀG / ||GᵀG||) alpha = 1 / alpha`` (scipy
    least squares instead of the paper's cvxpy CCCP), recomputed every ``update_every`` steps; the update
    ``Σ alpha_k g_k`` is clipped to ``max_norm`` (0 = off), as in the official code."""

    TYPE = "nash_mtl"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "update_every": 1, "max_norm": 1.0}

    def __init__(self, opt: dict | None = None) -> None:
        super().__init__(opt)
        self.step = 0
        self.alpha: dict[int, float] = {}

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        from scipy.optimize import least_squares

        keys = idx.tolist()
        if self.step % int(self.opt["update_every"]) == 0 or any(k not in self.alpha for k in keys):
            A = gram.detach().double().cpu().numpy()
            A = A / max(np.linalg.norm(A), 1e-20)
            x0 = np.array([self.alpha.get(k, 1.0) for k in keys])
            res = least_squares(lambda a: A @ a - 1.0 / a, x0, bounds=(1e-8, np.inf), xtol=1e-12, ftol=1e-12)
            self.alpha.update({k: float(a) for k, a in zip(keys, res.x)})
        self.step += 1
        w = torch.tensor([self.alpha[k] for k in keys], dtype=J.dtype, device=J.device)
        update = w @ J
        max_norm = float(self.opt["max_norm"])
        n = float(update.norm())
        if max_norm > 0 and n > max_norm:
            w = w * (max_norm / n)
            update = update * (max_norm / n)
        return update, w

    def state_dict(self) -> dict:
        return {**super().state_dict(), "step": self.step, "alpha": dict(self.alpha)}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.step, self.alpha = int(d.get("step", 0)), {int(k): float(v) for k, v in d.get("alpha", {}).items()}


class GradVac(GradientBalancer):
    """Gradient vaccine: like PCGrad but raises cos(g_i', g_j) to an EMA target ``phi_ij`` (``beta``) whenever
    it is below it. The target matrix is kept for all K keys, so absent keys keep theirs."""

    TYPE = "gradvac"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "beta": 0.5, "seed": 0}
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
                if ni < 1e-20 or nj < 1e-20:
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
    """GradDrop (torchjd) on the *parameter* gradients (there is no task-specific head here, so the paper's
    activation-level variant does not apply): per coordinate, keep the gradients whose sign is drawn with
    probability given by the sign purity ``0.5 (1 + Σg / Σ|g|)``; ``leak`` keeps a fraction of the rest."""

    TYPE = "graddrop"
    DEFAULTS = {"max_tasks": DEFAULT_MAX_TASKS, "leak": 0.0, "seed": 0}
    SUM_STYLE = True

    def aggregate(self, J: Tensor, gram: Tensor, losses: Tensor, idx: Tensor) -> tuple[Tensor, Tensor | None]:
        from torchjd.aggregation import GradDrop as _TJDGradDrop

        leak = torch.full((len(idx),), float(self.opt["leak"]), dtype=J.dtype, device=J.device)
        with self._seeded(J.device):
            update = _TJDGradDrop(leak=leak)(J)
        return update * self._scale(len(idx)), None


CLASSES = [PCGrad, MGDA, IMTLG, AlignedMTL, UPGrad, CAGrad, NashMTL, GradVac, GradDrop]
