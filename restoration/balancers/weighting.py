"""Loss-weighting balancers: one backward of ``sum_k w_k L_k`` with weights from the per-key losses.

Conventions (documented in docs/BENCHMARKS.md and the option files):
- ``L_k`` are the *global* per-key mean losses; keys absent from the global batch (count 0) get weight 0 and
  their state (log-variances, logits, loss history, optimiser moments) is left untouched.
- Weights that come from a softmax (DWA, RLW, FAMO, GradNorm) sum to 1 over the present keys, i.e. the scale of
  ``ew`` with ``reduction: mean`` and of the plain batch mean, so a recipe's learning rate carries over.
  (LibMTL multiplies the softmax by K for DWA and GradNorm only — its RLW and FAMO weights sum to 1 as here —
  so our DWA and GradNorm steps are 1/K of LibMTL's; scale the learning rate by K to match.)
- Learnable weights (UW, IMTL-L, GradNorm, FAMO) live in the balancer with their own per-key Adam
  (:class:`KeyAdam`, option ``lr``), not in the network optimiser; they are saved by ``state_dict``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from restoration.balancers.base import Balancer, all_reduce_, sync_grads


class KeyAdam:
    """Adam over a [K] vector that only steps the keys of ``mask`` (per-key step counts), so absent keys keep
    their moments. With every key present it equals ``torch.optim.Adam`` (L2 ``weight_decay`` added to the grad)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        self.m: Tensor | None = None
        self.v: Tensor | None = None
        self.t: Tensor | None = None

    def step(self, param: Tensor, grad: Tensor, mask: Tensor) -> None:
        if self.m is None or self.v is None or self.t is None or self.m.shape != param.shape:
            self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)
            self.t = torch.zeros(param.shape, dtype=torch.long)
        b1, b2 = self.betas
        idx = mask.nonzero().squeeze(1).cpu()
        g = grad[idx] + self.weight_decay * param[idx] if self.weight_decay else grad[idx]
        self.t[idx] += 1
        t = self.t[idx].to(param.dtype)
        self.m[idx] = self.m[idx] * b1 + (1 - b1) * g
        self.v[idx] = self.v[idx] * b2 + (1 - b2) * g * g
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        denom = self.v[idx].sqrt() / bc2.sqrt() + self.eps
        param[idx] = param[idx] - (self.lr / bc1) * self.m[idx] / denom

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, d: dict) -> None:
        self.m, self.v, self.t = d["m"], d["v"], d["t"]


class WeightingBalancer(Balancer):
    """Base: weights from the detached global losses, one backward, then a state update."""

    def __init__(self, opt: dict | None = None) -> None:
        super().__init__(opt)
        self.K: int | None = None

    def _init_state(self, K: int, like: Tensor) -> None:
        """Create per-key state on first use (K is known only then)."""

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, losses: Tensor, present: Tensor, counts: Tensor) -> None:
        """Update learnable / running state after the weights were used."""

    def _ensure(self, K: int, like: Tensor) -> None:
        if self.K is None:
            self.K = K
            self._init_state(K, like)
        elif self.K != K:
            raise ValueError(f"{self.TYPE}: number of keys changed from {self.K} to {K}")

    def backward(self, sums: Tensor, counts: Tensor, shared_params: Sequence[Tensor]) -> dict:
        losses, gcnt, present = self._means(sums, counts)
        self._ensure(sums.numel(), losses)
        return self._weighted_step(sums, losses, gcnt, present, shared_params)

    def _weighted_step(self, sums: Tensor, losses: Tensor, gcnt: Tensor, present: Tensor,
                       shared_params: Sequence[Tensor]) -> dict:
        """Backward of this rank's share of ``sum_k w_k L_k``, gradient all-reduce, state update."""
        w = self.weights(losses, present).detach()
        w = torch.where(present, w, torch.zeros_like(w))
        idx = present.nonzero().squeeze(1)
        ((sums[idx] / gcnt[idx]) * w[idx]).sum().backward()
        sync_grads(shared_params)
        self.update(losses, present, gcnt)
        return {"weights": w, "losses": losses, "counts": gcnt}

    def state_dict(self) -> dict:
        return {**super().state_dict(), "K": self.K}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        self.K = d.get("K")


def _masked_softmax(x: Tensor, present: Tensor) -> Tensor:
    out = torch.zeros_like(x)
    out[present] = torch.softmax(x[present], dim=0)
    return out


class EW(WeightingBalancer):
    """Equal weights on the per-key mean losses: ``reduction: mean`` -> 1/K_present (batch-mean scale),
    ``reduction: sum`` -> 1 (LibMTL's EW, the plain summed loss)."""

    TYPE = "ew"
    DEFAULTS = {"reduction": "mean"}

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        if self.opt["reduction"] == "sum":
            return present.to(losses.dtype)
        return present.to(losses.dtype) / present.sum().clamp_min(1)


class UW(WeightingBalancer):
    """Kendall et al. uncertainty weighting: minimise ``L_k / (2 e^{s_k}) + s_k / 2`` over the net and the
    log-variances ``s``; the net sees weights ``0.5 e^{-s_k}``, ``s`` takes an Adam step on
    ``0.5 - 0.5 L_k e^{-s_k}``."""

    TYPE = "uw"
    DEFAULTS = {"lr": 0.01, "init": -0.5}

    def _init_state(self, K: int, like: Tensor) -> None:
        self.s = torch.full((K,), float(self.opt["init"]), dtype=like.dtype)
        self.adam = KeyAdam(self.opt["lr"])

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        return 0.5 * torch.exp(-self.s).to(losses.device)

    def update(self, losses: Tensor, present: Tensor, counts: Tensor) -> None:
        grad = 0.5 - 0.5 * losses.cpu() * torch.exp(-self.s)
        self.adam.step(self.s, grad, present.cpu())

    def state_dict(self) -> dict:
        adam = getattr(self, "adam", KeyAdam(0))
        return {**super().state_dict(), "s": getattr(self, "s", None), "adam": adam.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("s") is not None:
            self._init_state(len(d["s"]), d["s"])
            self.s = d["s"].clone()
            self.adam.load_state_dict(d["adam"])


class IMTLL(UW):
    """IMTL-L: minimise ``e^{s_k} L_k - s_k``; the net sees weights ``e^{s_k}``, ``s`` steps on ``e^{s_k} L_k - 1``."""

    TYPE = "imtl_l"
    DEFAULTS = {"lr": 0.01, "init": 0.0}

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        return torch.exp(self.s).to(losses.device)

    def update(self, losses: Tensor, present: Tensor, counts: Tensor) -> None:
        grad = torch.exp(self.s) * losses.cpu() - 1.0
        self.adam.step(self.s, grad, present.cpu())


class DWA(WeightingBalancer):
    """Dynamic weight average: ``w = softmax(r / T)`` with ``r_k = Lbar_k(e-1) / Lbar_k(e-2)``.

    Training here is iteration-based and keys may be absent, so an "epoch" is a window of ``period``
    iterations and ``Lbar_k`` is key k's mean loss over the samples it had in that window (count-weighted).
    A key absent from a whole window keeps its previous two means; a key with fewer than two windows gets
    ``r_k = 1``."""

    TYPE = "dwa"
    DEFAULTS = {"temperature": 2.0, "period": 100}

    def _init_state(self, K: int, like: Tensor) -> None:
        self.acc_sum = torch.zeros(K, dtype=torch.float64)
        self.acc_cnt = torch.zeros(K, dtype=torch.float64)
        self.prev1 = torch.full((K,), float("nan"), dtype=torch.float64)
        self.prev2 = torch.full((K,), float("nan"), dtype=torch.float64)
        self.step = 0

    def ratios(self) -> Tensor:
        r = self.prev1 / self.prev2
        return torch.where(torch.isfinite(r), r, torch.ones_like(r))

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        r = self.ratios().to(losses.dtype).to(losses.device)
        return _masked_softmax(r / float(self.opt["temperature"]), present)

    def update(self, losses: Tensor, present: Tensor, counts: Tensor) -> None:
        self.acc_sum += (losses * counts).cpu().double()
        self.acc_cnt += counts.cpu().double()
        self.step += 1
        if self.step % int(self.opt["period"]) == 0:
            seen = self.acc_cnt > 0
            self.prev2 = torch.where(seen, self.prev1, self.prev2)
            self.prev1 = torch.where(seen, self.acc_sum / self.acc_cnt.clamp_min(1), self.prev1)
            self.acc_sum.zero_()
            self.acc_cnt.zero_()

    def state_dict(self) -> dict:
        keys = ("acc_sum", "acc_cnt", "prev1", "prev2", "step")
        return {**super().state_dict(), **{k: getattr(self, k, None) for k in keys}}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        for k in ("acc_sum", "acc_cnt", "prev1", "prev2", "step"):
            if d.get(k) is not None:
                setattr(self, k, d[k])


class RLW(WeightingBalancer):
    """Random loss weighting: ``w = softmax(z)``, ``z ~ N(0, I)`` redrawn every step from the balancer's own
    seeded generator (the same seed on every rank gives the same weights)."""

    TYPE = "rlw"
    DEFAULTS = {"seed": 0}

    def _init_state(self, K: int, like: Tensor) -> None:
        self.gen = torch.Generator().manual_seed(int(self.opt["seed"]))

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        z = torch.randn(losses.numel(), generator=self.gen, dtype=losses.dtype).to(losses.device)
        return _masked_softmax(z, present)

    def state_dict(self) -> dict:
        gen = getattr(self, "gen", None)
        return {**super().state_dict(), "gen": gen.get_state() if gen is not None else None}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("gen") is not None:
            self._init_state(0, torch.zeros(1))
            self.gen.set_state(d["gen"])


class GLS(WeightingBalancer):
    """Geometric loss strategy: minimise ``(prod_k L_k)^(1/K)`` over present keys; its gradient is
    ``sum_k GM / (K L_k) grad L_k`` (GM = geometric mean), so those are the weights."""

    TYPE = "gls"
    DEFAULTS = {"eps": 1e-12}

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        lp = losses[present].clamp_min(float(self.opt["eps"]))
        gm = torch.exp(torch.log(lp).mean())
        w = torch.zeros_like(losses)
        w[present] = gm / (lp.numel() * lp)
        return w


class GradNorm(WeightingBalancer):
    """GradNorm: ``w = softmax(s)`` over present keys; ``s`` takes an Adam step on
    ``sum_k | w_k ||g_k|| - mean_j(w_j ||g_j||) r_k^alpha |`` (target detached), ``g_k`` = gradient of ``L_k``
    w.r.t. the last shared weight tensor (``layer: last``, the paper's choice, cheap) or all shared params
    (``layer: all``), ``r_k = (L_k / L_k(0)) / mean_j(L_j / L_j(0))`` with ``L_k(0)`` the key's first loss."""

    TYPE = "gradnorm"
    DEFAULTS = {"alpha": 1.5, "lr": 0.025, "layer": "last"}

    def _init_state(self, K: int, like: Tensor) -> None:
        self.s = torch.zeros(K, dtype=like.dtype)
        self.l0 = torch.full((K,), float("nan"), dtype=like.dtype)
        self.adam = KeyAdam(self.opt["lr"])

    def weights(self, losses: Tensor, present: Tensor) -> Tensor:
        return _masked_softmax(self.s, present.cpu()).to(losses.device)

    def backward(self, sums: Tensor, counts: Tensor, shared_params: Sequence[Tensor]) -> dict:
        losses, gcnt, present = self._means(sums, counts)
        self._ensure(sums.numel(), losses)
        params = [p for p in shared_params if p.requires_grad]
        if self.opt["layer"] == "last":
            params = [p for p in params if p.dim() >= 2][-1:] or params[-1:]
        idx = present.nonzero().squeeze(1)
        rows = []
        for k in idx.tolist():
            g = torch.autograd.grad(sums[k] / gcnt[k], params, retain_graph=True, allow_unused=True)
            rows.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                                   for gi, p in zip(g, params)]))
        norms = all_reduce_(torch.stack(rows)).norm(dim=1).detach().cpu() if rows else torch.zeros(0)
        info = self._weighted_step(sums, losses, gcnt, present, shared_params)
        p = present.cpu()
        lc = losses.detach().cpu()
        self.l0 = torch.where(p & torch.isnan(self.l0), lc, self.l0)
        if idx.numel() > 1:
            s = self.s[p].clone().requires_grad_(True)
            with torch.enable_grad():
                w = torch.softmax(s, 0)
                gw = w * norms
                ratio = lc[p] / self.l0[p]
                r = ratio / ratio.mean()
                target = (gw.mean() * r ** float(self.opt["alpha"])).detach()
                (gs,) = torch.autograd.grad((gw - target).abs().sum(), s)
            grad = torch.zeros_like(self.s)
            grad[p] = gs
            self.adam.step(self.s, grad, p)
        info["grad_norms"] = torch.zeros_like(losses).index_put_((idx,), norms.to(losses.device))
        return info

    def state_dict(self) -> dict:
        if self.K is None:
            return super().state_dict()
        return {**super().state_dict(), "s": self.s, "l0": self.l0, "adam": self.adam.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        super().load_state_dict(d)
        if d.get("s") is not None:
            self._init_state(len(d["s"]), d["s"])
            self.s, self.l0 = d["s"].clone(), d["l0"].clone()
            self.adam.load_state_dict(d["adam"])


CLASSES = [EW, UW, IMTLL, DWA, RLW, GLS, GradNorm]
