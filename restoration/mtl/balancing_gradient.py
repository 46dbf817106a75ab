"""Gradient-aggregation balancers: combine the K per-key gradients of the shared parameters (or representation).

``level: parameters`` (default): one ``autograd.grad`` per present key (K backward passes through the trunk); the
K×d matrix J of global per-key mean gradients (each rank's rows all-reduced) is aggregated identically on every
rank. ``level: representation``: the per-key gradients are taken w.r.t. the input of the network's tail, the
method turns them into per-key weights, and the network takes one backward of ``Σ w_k L_k``
(:mod:`restoration.mtl.balancing_representation`; the training loop runs its forward inside ``balancer.watch``).

Where each method comes from, checked against independent float64 solutions at gradient scales 1e-4..1e4 with a
dominant key, nearly parallel keys, rank-deficient J and K > d (tests/mtl/test_balancing_reference.py):

- torchjd (0.18): PCGrad, UPGrad (with ``reg_eps`` exposed, default 1e-10 instead of torchjd's 1e-4, which
  bends the update against weak keys when one key dominates; the Gramian is normalised first, as torchjd's
  absolute ``norm_eps`` would zero a Gramian of small gradients), GradDrop at ``level: parameters``.
- ours (:mod:`restoration.mtl.balancing_solvers`): MGDA (Wolfe's exact min-norm-point algorithm; torchjd's
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

import contextlib
import math
import warnings
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from restoration.errors import OptionError
from restoration.mtl import balancing_solvers as solve
from restoration.mtl.balancing import DEFAULT_MAX_TASKS, Balancer, all_reduce_, sync_grads
from restoration.mtl.balancing_representation import LEVELS, Capture, graddrop_masks, rep_rows


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


from restoration.mtl.balancing_gradient_stateful import CAGrad, GradDrop, GradVac, NashMTL  # noqa: E402

CLASSES = [PCGrad, MGDA, IMTLG, AlignedMTL, UPGrad, CAGrad, NashMTL, GradVac, GradDrop]
