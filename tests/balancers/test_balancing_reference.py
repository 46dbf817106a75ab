"""Every gradient-aggregation balancer against independent float64 references and its own optimality condition,
at gradient scales 1e-4, 1 and 1e4, on general, dominant-key, nearly parallel, rank-deficient, K > d and
Pareto-stationary Jacobians (tests/balancers/balancing_reference.py)."""
from __future__ import annotations

import warnings

import balancing_reference as ref  # tests/balancers is on sys.path under pytest
import numpy as np
import pytest
import torch

from restoration.balancers.registry import build_balancer, reduce_losses
from restoration.balancers.solvers import SolverWarning

CASES = ref.jacobians()
GRID = [(name, scale) for name in CASES for scale in ref.SCALES]
IDS = [f"{n}-{s:g}" for n, s in GRID]


def run(opt: dict, J: np.ndarray, record: list | None = None, monkeypatch=None, dtype=torch.float64):
    """One balancer step on losses L_k = g_k . theta (so the per-key gradients are exactly J's rows); returns
    (update, info). With ``record``, every ``torch.randperm`` the step draws is appended to it."""
    if record is not None:
        real = torch.randperm

        def spy(n, *a, **kw):
            out = real(n, *a, **kw)
            record.append(out.tolist())
            return out
        monkeypatch.setattr(torch, "randperm", spy)
    G = torch.tensor(J, dtype=dtype)
    theta = torch.nn.Parameter(torch.zeros(G.shape[1], dtype=dtype))
    sums, counts = reduce_losses(G @ theta + 1.0, torch.arange(len(G)), len(G))
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverWarning)  # a solver that gives up fails the test
        info = build_balancer(opt).backward(sums, counts, [theta])
    return theta.grad.detach().double().numpy(), info


def not_conflicting(J: np.ndarray, upd: np.ndarray, rtol: float = 1e-6) -> bool:
    """``g_jᵀd >= 0`` for every key j, within ``rtol`` × |g_j| × the largest gradient norm (for a non-zero update
    that is cos(g_j, d) >= -rtol, however weak g_j)."""
    norms = np.linalg.norm(J, axis=1)
    return bool((J @ upd >= -rtol * norms * norms.max()).all())


def close(a: np.ndarray, b: np.ndarray, J: np.ndarray, rtol: float) -> bool:
    """Vectors equal within ``rtol`` × the largest gradient norm (the natural unit of an update)."""
    return float(np.linalg.norm(a - b)) <= rtol * float(np.linalg.norm(J, axis=1).max())


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_mgda_is_the_min_norm_point(name, scale):
    J = CASES[name] * scale
    upd, info = run({"type": "mgda"}, J)
    x = ref.min_norm_point(J)
    assert close(upd, x, J, 1e-7), (upd, x)
    # optimality of the min-norm point x: g_i.x >= |x|^2 for every key (so no key conflicts with it)
    unit = float(np.linalg.norm(J, axis=1).max()) ** 2
    assert (J @ upd >= upd @ upd - 1e-8 * unit).all(), J @ upd - upd @ upd
    assert float(info["weights"].sum()) == pytest.approx(1.0)
    loose, _ = run({"type": "mgda", "epsilon": 1e-3, "max_iters": 100}, J)  # the recipes' settings
    assert not_conflicting(J, loose, rtol=1e-12)
    assert np.linalg.norm(loose - x) <= 0.04 * np.linalg.norm(x) + 1e-7 * unit ** 0.5


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_cagrad_maximises_the_worst_key_in_its_ball(name, scale):
    J, c = CASES[name] * scale, 0.4
    upd, info = run({"type": "cagrad", "c": c, "rescale": 0}, J)
    g0 = J.mean(0)
    rho = c * float(np.linalg.norm(g0))
    unit = float(np.linalg.norm(J, axis=1).max()) ** 2
    assert np.linalg.norm(upd - g0) <= rho * (1 + 1e-6) + 1e-12 * unit ** 0.5
    assert (J @ upd).min() >= ref.cagrad_value(J, c) - 1e-6 * unit, ((J @ upd).min(), ref.cagrad_value(J, c))
    # its own certificate: weights 1/K + rho z with z >= 0 are a dual point; zero duality gap at the optimum
    z = (info["weights"].numpy() - 1.0 / len(J)) / rho
    if z.sum() > 0:
        assert (z >= -1e-12 * np.abs(z).max()).all()
        mu = z / z.sum()
        dual = float(mu @ (J @ g0) + rho * np.linalg.norm(mu @ J))
        assert dual - (J @ upd).min() <= 1e-6 * unit
    upd1, _ = run({"type": "cagrad", "c": c}, J)  # rescale: 1 divides the same update by 1 + c^2
    assert close(upd1, upd / (1 + c * c), J, 1e-9)


@pytest.mark.parametrize("name,scale", [g for g in GRID if g[0] != "pareto_stationary"],
                         ids=[i for i in IDS if not i.startswith("pareto")])
def test_nash_mtl_solves_the_bargaining_equation_at_the_papers_scale(name, scale):
    J = CASES[name] * scale
    upd, info = run({"type": "nash_mtl", "max_norm": 0.0}, J)
    a = info["weights"].numpy()
    A = J @ J.T
    assert (a > 0).all()
    assert np.allclose(a * (A @ a), 1.0, rtol=0, atol=1e-6), a * (A @ a)  # (GᵀG α)_i = 1/α_i
    assert np.linalg.norm(upd) == pytest.approx(np.sqrt(len(J)), rel=1e-6)  # hence |d|^2 = Σ α_i (Aα)_i = K
    clipped, _ = run({"type": "nash_mtl", "max_norm": 1.0}, J)
    assert np.linalg.norm(clipped) == pytest.approx(1.0, rel=1e-9) and close(clipped, upd / np.sqrt(len(J)), J, 1e-9)


def test_nash_mtl_without_solution_warns_and_keeps_the_last_weights():
    J = CASES["pareto_stationary"]
    G = torch.tensor(J)
    theta = torch.nn.Parameter(torch.zeros(G.shape[1], dtype=torch.float64))
    sums, counts = reduce_losses(G @ theta + 1.0, torch.arange(len(G)), len(G))
    with pytest.warns(SolverWarning, match="Nash-MTL"):
        build_balancer({"type": "nash_mtl"}).backward(sums, counts, [theta])
    assert torch.isfinite(theta.grad).all() and float(theta.grad.norm()) <= 1.0 + 1e-9


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_upgrad_is_the_mean_of_dual_cone_projections(name, scale):
    J = CASES[name] * scale
    upd, _ = run({"type": "upgrad"}, J)
    assert close(upd, ref.upgrad_update(J), J, 1e-6), (upd, ref.upgrad_update(J))
    assert not_conflicting(J, upd)  # no key conflicts with the update, however weak its gradient


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_imtl_g_and_aligned_mtl_match_their_formulas(name, scale):
    J = CASES[name] * scale
    upd, info = run({"type": "imtl_g"}, J)
    assert close(upd, ref.imtl_g_update(J), J, 1e-6), (upd, ref.imtl_g_update(J))
    if np.linalg.matrix_rank(J) == len(J):  # independent gradients: equal projections on every unit g_i
        proj = (J @ upd) / np.linalg.norm(J, axis=1)
        assert np.allclose(proj, proj[0], rtol=1e-6, atol=0)
    upd, _ = run({"type": "aligned_mtl"}, J)
    assert close(upd, ref.aligned_mtl_update(J), J, 1e-6), (upd, ref.aligned_mtl_update(J))


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_pcgrad_and_gradvac_project_in_their_drawn_order(name, scale, monkeypatch):
    J = CASES[name] * scale
    orders: list = []
    upd, _ = run({"type": "pcgrad", "reduction": "sum"}, J, orders, monkeypatch)
    assert len(orders) == len(J)
    assert close(upd, ref.pcgrad_update(J, orders), J, 1e-9)
    orders = []  # GradVac's first step (targets 0) raises every negative cosine to 0: PCGrad's projection
    upd, _ = run({"type": "gradvac", "reduction": "sum"}, J, orders, monkeypatch)
    assert close(upd, ref.pcgrad_update(J, orders), J, 1e-9)


@pytest.mark.parametrize("name,scale", GRID, ids=IDS)
def test_graddrop_keeps_one_sign_per_coordinate(name, scale):
    J = CASES[name] * scale
    upd, _ = run({"type": "graddrop", "reduction": "sum"}, J)
    pos, neg = np.clip(J, 0, None).sum(0), np.clip(J, None, 0).sum(0)
    tol = 1e-12 * np.abs(J).sum(0)
    assert (np.minimum(np.abs(upd - pos), np.abs(upd - neg)) <= tol).all()


@pytest.mark.parametrize("name", ["general", "dominant", "rank_deficient"])
@pytest.mark.parametrize("method", ["mgda", "cagrad", "upgrad", "imtl_g", "aligned_mtl"])
def test_float32_gradients_give_the_float64_update(name, method):
    """Training runs in float32: the Gramian is accumulated in float64, so the weights keep their accuracy."""
    J = CASES[name].astype(np.float32).astype(np.float64)
    u64, _ = run({"type": method}, J)
    u32, _ = run({"type": method}, J, dtype=torch.float32)
    assert close(u32, u64, J, 1e-4), (method, u32, u64)


def test_random_spread_problems_never_conflict():
    """Random problems with gradient norms spread over four decades: MGDA and UPGrad never conflict with a key."""
    rng = np.random.default_rng(1)
    for _ in range(30):
        K = int(rng.integers(2, 7))
        J = rng.standard_normal((K, 6)) * 10.0 ** rng.uniform(-2, 2, size=(K, 1))
        for method in ("mgda", "upgrad"):
            upd, _ = run({"type": method}, J)
            assert not_conflicting(J, upd), (method, J @ upd)


def test_solvers_on_random_problems_with_spread_norms():
    """Random J (K 2..7, d 2..9, row norms spread over four decades, overall scale 1e-4..1e4, some with a
    duplicated or nearly parallel row): MGDA is the min-norm point, CAGrad reaches the reference value inside its
    ball, Nash-MTL solves its equation whenever some direction improves every key. No solver warns."""
    from restoration.balancers import solvers as solve

    rng = np.random.default_rng(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SolverWarning)
        for _ in range(40):
            K, d = int(rng.integers(2, 8)), int(rng.integers(2, 10))
            J = rng.standard_normal((K, d)) * 10.0 ** rng.uniform(-2, 2, (K, 1)) * 10.0 ** rng.uniform(-4, 4)
            if rng.random() < 0.3:
                J[-1] = J[0] * rng.uniform(0.5, 2.0)
            A, top = J @ J.T, float(np.linalg.norm(J, axis=1).max())
            x = ref.min_norm_point(J)
            assert np.linalg.norm(solve.min_norm_weights(A) @ J - x) <= 1e-7 * top
            d_ca, g0 = solve.cagrad_weights(A, 0.4) @ J, J.mean(0)
            assert np.linalg.norm(d_ca - g0) <= 0.4 * np.linalg.norm(g0) * (1 + 1e-6)
            assert (J @ d_ca).min() >= ref.cagrad_value(J, 0.4) - 1e-6 * top ** 2
            alpha, ok = solve.nash_weights(A)
            assert ok == bool(np.linalg.norm(x) > 1e-6 * top)  # solvable iff 0 is outside the gradients' hull
            if ok:
                assert np.allclose(alpha * (A @ alpha), 1.0, atol=1e-6)
