"""Independent float64 reference solutions for the gradient-aggregation balancers, on an explicit Jacobian J
(K rows = per-key gradients, d columns), and the fixed Jacobians they are checked on.

The references share no code with ``restoration.balancers``: exhaustive active-set enumeration for the min-norm point,
bisection over QP feasibility (quadprog, identity Hessian) for CAGrad, QPs in parameter space for UPGrad's
dual-cone projections, plain numpy for the projection methods.
"""
from __future__ import annotations

import itertools

import numpy as np
import quadprog

SCALES = (1e-4, 1.0, 1e4)


def _half_space(rows: np.ndarray) -> np.ndarray:
    """Make the first coordinate of every row positive, so some direction improves every key."""
    rows = rows.copy()
    rows[:, 0] = np.abs(rows[:, 0]) + 0.3
    return rows


def jacobians() -> dict[str, np.ndarray]:
    """Named Jacobians at scale 1: general position, one dominant key, nearly parallel keys, a rank-deficient J,
    K > d, and a Pareto-stationary J (a convex combination of the gradients is zero)."""
    rng = np.random.default_rng(0)
    out = {"general": rng.standard_normal((4, 8))}
    dom = rng.standard_normal((4, 8))
    dom[1] -= 1.5 * dom[0] / np.linalg.norm(dom[0]) * np.linalg.norm(dom[1])  # keys 0 and 1 conflict
    dom[0] *= 100.0 / np.linalg.norm(dom[0]) * np.linalg.norm(dom[1:], axis=1).mean()
    out["dominant"] = dom
    v = rng.standard_normal(8)
    out["near_parallel"] = v + 1e-3 * np.linalg.norm(v) * rng.standard_normal((3, 8))
    base = _half_space(rng.standard_normal((3, 8)))
    out["rank_deficient"] = np.vstack([base, base[0] + base[1]])
    out["k_gt_d"] = _half_space(rng.standard_normal((6, 3)))
    g = rng.standard_normal((2, 5))
    out["pareto_stationary"] = np.vstack([g, -(g[0] + g[1])])
    return out


# ---- MGDA: min-norm point of the convex hull --------------------------------------------------------------
def _unit(J: np.ndarray) -> tuple[np.ndarray, float]:
    """J divided by its largest row norm (every reference below is positively homogeneous in J)."""
    s = float(np.linalg.norm(J, axis=1).max())
    return J / s, s


def min_norm_point(J: np.ndarray) -> np.ndarray:
    """Min-norm point of conv(rows of J): the smallest of the affine min-norm points of every subset of rows
    that lie inside the hull (the optimum is the affine min-norm point of the face it lies in)."""
    J, scale = _unit(J)
    K = J.shape[0]
    best, best_n = J[int(np.argmin((J * J).sum(1)))], np.inf
    for size in range(1, K + 1):
        for S in itertools.combinations(range(K), size):
            P = J[list(S)]
            M = np.zeros((size + 1, size + 1))
            M[:size, :size], M[:size, size], M[size, :size] = P @ P.T, 1.0, 1.0
            rhs = np.zeros(size + 1)
            rhs[size] = 1.0
            mu = np.linalg.lstsq(M, rhs, rcond=None)[0][:size]
            if (mu >= -1e-12).all() and abs(mu.sum() - 1) < 1e-9:
                x = mu @ P
                if np.linalg.norm(x) < best_n:
                    best, best_n = x, float(np.linalg.norm(x))
    return best * scale


# ---- CAGrad: max_{‖d-g0‖ <= c‖g0‖} min_i g_i.d --------------------------------------------------------------
def _ball_feasible(J: np.ndarray, g0: np.ndarray, rho: float, t: float) -> bool:
    """Is there d with ‖d - g0‖ <= rho and J d >= t?  Smallest ‖u‖ with J (g0 + u) >= t, by quadprog."""
    d = J.shape[1]
    try:
        u = quadprog.solve_qp(np.eye(d), np.zeros(d), J.T, t - J @ g0)[0]
    except ValueError:  # constraints inconsistent
        return False
    return float(np.linalg.norm(u)) <= rho


def cagrad_value(J: np.ndarray, c: float) -> float:
    """CAGrad's optimal worst-key improvement ``max min_i g_iᵀd`` over the ball, by bisection."""
    J, scale = _unit(J)
    g0 = J.mean(0)
    rho = c * float(np.linalg.norm(g0))
    lo = float((J @ g0).min())
    hi = float((J @ g0 + rho * np.linalg.norm(J, axis=1)).min())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _ball_feasible(J, g0, rho, mid):
            lo = mid
        else:
            hi = mid
    return lo * scale * scale


# ---- UPGrad: mean of the projections of each g_i onto the dual cone {x : J x >= 0} ---------------------------
def upgrad_update(J: np.ndarray) -> np.ndarray:
    J, scale = _unit(J)
    d = J.shape[1]
    proj = []
    for g in J:
        proj.append(quadprog.solve_qp(np.eye(d), g, J.T, np.zeros(J.shape[0]))[0])
    return np.mean(proj, axis=0) * scale


# ---- projection methods with given orders ------------------------------------------------------------------
def pcgrad_update(J: np.ndarray, orders: list[list[int]]) -> np.ndarray:
    """PCGrad (Yu et al. 2020, Alg. 1) summed: g_i is projected off each conflicting original g_j, in
    ``orders[i]``."""
    out = np.zeros(J.shape[1])
    for i, order in enumerate(orders):
        gi = J[i].copy()
        for j in order:
            if j != i and gi @ J[j] < 0:
                gi = gi - (gi @ J[j]) / (J[j] @ J[j]) * J[j]
        out += gi
    return out


def imtl_g_update(J: np.ndarray) -> np.ndarray:
    """IMTL-G's update as generalised with a pseudo-inverse (equal projections on every unit g_i); zero when the
    solution's weights sum to zero (torchjd's convention for that degenerate case)."""
    A = J @ J.T
    w = np.linalg.pinv(A, rcond=1e-10, hermitian=True) @ np.sqrt(np.diag(A))
    if abs(w.sum()) <= 1e-9 * np.abs(w).sum():
        return np.zeros(J.shape[1])
    return (w / w.sum()) @ J


def aligned_mtl_update(J: np.ndarray) -> np.ndarray:
    """Aligned-MTL (scale 'min'): rescale the gradient system to equal singular values sigma_min, then mean."""
    A = J @ J.T
    lam, V = np.linalg.eigh(A)
    keep = lam > 1e-10 * lam.max()
    lam, V = lam[keep], V[:, keep]
    B = np.sqrt(lam.min()) * V @ np.diag(lam ** -0.5) @ V.T
    return (B @ np.full(J.shape[0], 1.0 / J.shape[0])) @ J
