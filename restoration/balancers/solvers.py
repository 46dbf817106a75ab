"""Small, exact float64 solvers behind the gradient-aggregation balancers (K ≤ a few dozen keys).

Why our own: the per-step problems are tiny (K×K Gramians) but must be right at *every* gradient scale, and the
generic solvers they were first written with were not: a Frank-Wolfe whose stopping rule is an absolute step size
(MGDA), SLSQP on the raw Gramian, which returns its start point when the objective is ~1e-8 or ~1e8 (CAGrad), and
a least-squares fit of a normalised Gramian (Nash-MTL). Every solver here

- works on the Gramian divided by its mean diagonal (:func:`normalise`), so its tolerances are relative;
- solves its problem to optimality (Wolfe's active-set algorithm, bisection over exact QPs, damped Newton) and
  checks the method's own optimality condition, not a fixed iteration budget;
- says when it did not converge (:class:`SolverWarning`) instead of returning a start point silently.

Conventions: ``A`` is the K×K Gramian ``J Jᵀ`` of the per-key gradients (rows of ``J``), as a float64 numpy array;
solvers return weights ``w`` whose update is ``wᵀ J``.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["SolverWarning", "normalise", "reduced_rows", "min_norm_weights", "cagrad_weights", "nash_weights"]


class SolverWarning(RuntimeWarning):
    """A balancing solver did not reach its optimality condition; the fallback it used is in the message."""


def normalise(A: np.ndarray) -> tuple[np.ndarray, float]:
    """(A / s, s) with ``s`` the mean squared gradient norm; ``s = 0`` (all gradients zero) gives (A, 0)."""
    A = 0.5 * (np.asarray(A, dtype=np.float64) + np.asarray(A, dtype=np.float64).T)
    s = float(np.trace(A)) / max(A.shape[0], 1)
    return (A / s, s) if s > 0 and np.isfinite(s) else (A, 0.0)


def reduced_rows(A: np.ndarray, rtol: float = 1e-14) -> np.ndarray:
    """K×r matrix ``R`` with ``R Rᵀ = A``: row i holds gradient i in an orthonormal basis of the gradients' span.
    Factored through the cosine matrix ``D⁻¹AD⁻¹`` (D = gradient norms), so a gradient 1e-6 times shorter than
    the others keeps its direction to full relative precision; directions below ``rtol`` are dropped."""
    n = np.sqrt(np.clip(np.diag(A), 0.0, None))
    d = np.where(n > 0, n, 1.0)
    C = A / d[:, None] / d[None, :]
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    keep = lam > rtol * max(float(lam.max(initial=0.0)), 0.0)
    if not keep.any():
        return np.zeros((A.shape[0], 1))
    return (V[:, keep] * np.sqrt(lam[keep])) * n[:, None]


# ----------------------------------------------------------------------------------------------------------
# MGDA: the min-norm point of the convex hull of the gradients (Wolfe's algorithm, on the Gramian)
def _affine_min_norm(A_SS: np.ndarray) -> np.ndarray:
    """Weights μ (Σμ = 1) of the min-norm point of the affine hull of the points whose Gramian is ``A_SS``."""
    n = A_SS.shape[0]
    M = np.zeros((n + 1, n + 1))
    M[:n, :n], M[:n, n], M[n, :n] = A_SS, 1.0, 1.0
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    sol = np.linalg.lstsq(M, rhs, rcond=None)[0]
    mu = sol[:n]
    return mu / mu.sum() if abs(mu.sum()) > 1e-300 else np.full(n, 1.0 / n)


def min_norm_weights(A: np.ndarray, tol: float = 1e-14, max_iter: int | None = None) -> np.ndarray:
    """Simplex weights of the min-norm point of conv{g_1..g_K} (MGDA), exactly, by Wolfe's (1976) algorithm.

    Stops when ``g_jᵀx ≥ (1 - tol) ‖x‖²`` holds for every key (up to a rounding floor of 1e-14 × the largest
    squared gradient norm). The test is relative to ‖x‖², so even a loose ``tol`` (< 1) never returns an
    update that conflicts with a key, however weak its gradient; ``‖x - x*‖² ≤ tol ‖x‖²``. Warns if the iteration
    cap is hit."""
    A, s = normalise(A)
    K = A.shape[0]
    if K == 1 or s == 0.0:
        return np.full(K, 1.0 / K)
    iterations = max_iter or 50 * K + 50
    top = float(np.diag(A).max())
    S = [int(np.argmin(np.diag(A)))]
    lam = np.ones(1)
    for _ in range(iterations):
        Ax = A[:, S] @ lam
        xx = float(lam @ Ax[S])
        j = int(np.argmin(Ax))
        if Ax[j] >= (1.0 - tol) * xx - 1e-14 * top or j in S:
            break
        S.append(j)
        lam = np.append(lam, 0.0)
        for _minor in range(len(S) + 1):
            mu = _affine_min_norm(A[np.ix_(S, S)])
            if (mu > 1e-14).all():
                lam = mu
                break
            neg = (mu <= 1e-14) & (lam - mu > 0)
            theta = float(np.min(lam[neg] / (lam[neg] - mu[neg]))) if neg.any() else 0.0
            lam = lam + theta * (mu - lam)
            keep = lam > 1e-14
            if keep.all():  # numerical tie: drop the most negative affine coordinate
                keep[int(np.argmin(mu))] = False
            S = [k for k, kk in zip(S, keep) if kk]
            lam = lam[keep] / lam[keep].sum()
    else:
        warnings.warn("MGDA: Wolfe's min-norm-point iteration hit its cap; using the last iterate", SolverWarning,
                      stacklevel=2)
    w = np.zeros(K)
    w[S] = lam
    return w


# ----------------------------------------------------------------------------------------------------------
# CAGrad: maximise the worst key's improvement within a ball around the mean gradient
def _ball_step(R: np.ndarray, n: np.ndarray, a: np.ndarray, rho: float,
               t: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Shortest ``u`` with ``a_i + rho R_i·u >= t`` for every row (rows scaled to unit norm), and its multipliers
    as non-negative row weights ``z`` with ``u = Rᵀz``; None when no ``u`` exists (quadprog, identity Hessian)."""
    import quadprog

    C = (rho * R / n[:, None]).T
    try:
        u, _, _, _, lagr, _ = quadprog.solve_qp(np.eye(R.shape[1]), np.zeros(R.shape[1]), C, (t - a) / n)
    except ValueError:  # constraints inconsistent
        return None
    return u, rho * lagr / n


def cagrad_weights(A: np.ndarray, c: float, tol: float = 1e-9) -> np.ndarray:
    """Weights of CAGrad's update ``d = g0 + c‖g0‖ u``, ``u`` maximising ``min_i g_iᵀd`` over the unit ball
    (Liu et al. 2021, eq. 2), before the ``1/(1 + c²)`` rescaling.

    Solved in its primal form on the normalised Gramian, in the gradients' span (:func:`reduced_rows`): bisection
    on the worst improvement ``t``, each step a small exact QP (the shortest ``u`` reaching ``t``; feasible iff
    ``‖u‖ ≤ 1``). The QP's multipliers write ``u`` as a non-negative combination of the gradients, which is a dual
    point: the duality gap ``wᵀa + c‖g0‖ ‖Gw‖ - t`` certifies the result. A gap above ``tol`` (relative to the
    mean squared gradient norm) warns and falls back to the mean gradient (weights 1/K)."""
    A, s = normalise(A)
    K = A.shape[0]
    mean = np.full(K, 1.0 / K)
    if K == 1 or s == 0.0 or c == 0.0:
        return mean
    R = reduced_rows(A)
    r0 = R.mean(axis=0)
    rho = c * float(np.linalg.norm(r0))
    n = np.linalg.norm(R, axis=1)
    if rho <= 1e-12:  # g0 = 0: the ball is a point
        return mean
    live = n > 1e-12 * n.max()  # zero gradients: g_i·d = 0 whatever d
    R, n, a = R[live], n[live], R[live] @ r0
    lo, hi = float(a.min()), float((a + rho * n).min())
    if not live.all():
        hi = min(hi, 0.0)
        lo = min(lo, 0.0)
    best = _ball_step(R, n, a, rho, lo)
    for _ in range(200):
        if hi - lo <= 1e-13 * max(1.0, abs(lo)):
            break
        mid = 0.5 * (lo + hi)
        step = _ball_step(R, n, a, rho, mid)
        if step is not None and float(np.linalg.norm(step[0])) <= 1.0:
            lo, best = mid, step
        else:
            hi = mid
    if best is None:
        warnings.warn("CAGrad: no feasible step found; using the mean gradient", SolverWarning, stacklevel=2)
        return mean
    u, z = best
    value = float((a + rho * (R @ u)).min())
    if not live.all():
        value = min(value, 0.0)
    gap = 0.0
    if z.sum() > 0:
        mu = z / z.sum()
        gap = float(mu @ a + rho * np.linalg.norm(R.T @ mu)) - value
    elif value < -tol:  # u = 0 and no multiplier: only right when t = min(a) cannot be raised at all
        gap = np.inf
    if gap > tol:
        warnings.warn(f"CAGrad: solver did not certify optimality (duality gap {gap:.2e}); using the mean gradient",
                      SolverWarning, stacklevel=2)
        return mean
    weights = mean.copy()
    weights[live] += rho * z
    return weights


# ----------------------------------------------------------------------------------------------------------
# Nash-MTL: the bargaining weights, GᵀG α = 1/α
def nash_weights(A: np.ndarray, alpha0: np.ndarray | None = None, tol: float = 1e-12,
                 max_iter: int = 100) -> tuple[np.ndarray, bool]:
    """Solve ``(A α)_i = 1/α_i``, α > 0 (Navon et al. 2022, eq. 4) on the *un-normalised* Gramian, so the update
    ``Σ α_k g_k`` has norm √K whatever the gradients' scale, as in the paper.

    ``A α - 1/α`` is the gradient of the strictly convex ``½ αᵀAα - Σ log α_i``: damped Newton finds its unique
    minimiser (on the normalised Gramian; α is rescaled after). It has none when a convex combination of the
    gradients is zero (no direction improves every key): then it returns (last iterate, False)."""
    An, s = normalise(A)
    K = A.shape[0]
    if s == 0.0:
        return np.zeros(K), False
    d = np.sqrt(np.maximum(np.diag(An), 1e-300))
    a = 1.0 / d if alpha0 is None else np.maximum(np.asarray(alpha0, dtype=np.float64) * np.sqrt(s), 1e-12)

    def f(x: np.ndarray) -> float:
        return 0.5 * float(x @ An @ x) - float(np.log(x).sum())

    for _ in range(max_iter):
        g = An @ a - 1.0 / a
        if np.max(np.abs(g * a)) < tol:  # relative residual of α_i (Aα)_i = 1
            break
        H = An + np.diag(1.0 / (a * a))
        try:
            p = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            p = -g * a * a
        t = 1.0
        neg = p < 0
        if neg.any():
            t = min(1.0, 0.99 * float(np.min(-a[neg] / p[neg])))
        decrement = -float(g @ p)
        if decrement > 1e-12:  # far from the optimum: Armijo backtracking on f (near it, f's rounding would stall it)
            fa = f(a)
            while t > 1e-12 and f(a + t * p) > fa - 1e-4 * t * decrement:
                t *= 0.5
            if t <= 1e-12:
                break
        a = a + t * p
        if a.max() > 1e12:  # diverging: f is unbounded below, there is no solution
            break
    ok = bool(np.max(np.abs((An @ a) * a - 1.0)) < 1e-8)
    return a / np.sqrt(s), ok
