"""The K×K solvers behind MGDA, CAGrad, Nash-MTL and UPGrad: ours against torchjd's, on the fixed Jacobians of
tests/balancers/balancing_reference.py (general, dominant key, nearly parallel, rank-deficient, K > d,
Pareto-stationary) at gradient scales 1e-4, 1, 1e4, scored against the independent references there. Why the balancers
use ours for MGDA/CAGrad/Nash-MTL and torchjd's UPGrad with a smaller ``reg_eps``.

Columns per solver: ``fail`` = cases that miss the method's own condition (MGDA: distance to the min-norm point
> 1e-6 of the largest gradient; CAGrad: worst-key value below the reference by > 1e-6 or outside its ball;
Nash-MTL: max |α_i (GᵀGα)_i - 1| > 1e-6 or |d| != √K; UPGrad: distance to the reference > 1e-6 or a key with
cos(g_k, d) < -1e-6), ``worst`` = the largest such error, ``ms`` = median time per solve.
torchjd's CAGrad and NashMTL need cvxpy, Clarabel and ECOS, which this project does not install: put them on a
separate path, e.g. ``pip install --no-deps --target /tmp/cvx cvxpy clarabel ecos osqp scs qdldl`` and run with
``PYTHONPATH=/tmp/cvx``; without them those rows are skipped.

    .venv/bin/python bench/balancing_solvers.py
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "balancers"))
import balancing_reference as ref  # noqa: E402

from restoration.balancers import solvers as solve  # noqa: E402


def _unit(J: np.ndarray) -> float:
    return float(np.linalg.norm(J, axis=1).max())


def mgda_err(J: np.ndarray, d: np.ndarray) -> float:
    return float(np.linalg.norm(d - ref.min_norm_point(J))) / _unit(J)


def cagrad_err(J: np.ndarray, d: np.ndarray, c: float = 0.4) -> float:
    g0 = J.mean(0)
    rho = c * float(np.linalg.norm(g0))
    short = max(0.0, ref.cagrad_value(J, c) - float((J @ d).min())) / _unit(J) ** 2
    outside = max(0.0, float(np.linalg.norm(d - g0)) - rho * (1 + 1e-6) - 1e-12 * _unit(J)) / max(rho, 1e-300)
    return max(short, outside)


def nash_err(J: np.ndarray, alpha: np.ndarray) -> float:
    A = J @ J.T
    return max(float(np.abs(alpha * (A @ alpha) - 1).max()),
               abs(float(np.linalg.norm(alpha @ J)) / np.sqrt(len(J)) - 1))


def upgrad_err(J: np.ndarray, d: np.ndarray) -> float:
    norms = np.linalg.norm(J, axis=1)
    conflict = max(0.0, float((-(J @ d) / (norms * norms.max())).max()))
    return max(float(np.linalg.norm(d - ref.upgrad_update(J))) / _unit(J), conflict)


def torchjd_nash(J: np.ndarray) -> np.ndarray:
    from torchjd.aggregation import NashMTL

    d = NashMTL(n_tasks=len(J), max_norm=0.0)(torch.tensor(J)).numpy()
    return np.linalg.lstsq(J.T, d, rcond=None)[0]  # its weights, from its update


def upgrad_weights(A: np.ndarray, reg_eps: float, ours: bool) -> np.ndarray:
    from torchjd.aggregation import UPGradWeighting
    from torchjd.linalg import QuadprogProjector

    if ours:  # what the balancer does: trace-normalised Gramian, no absolute norm_eps
        A, _ = solve.normalise(A)
        return UPGradWeighting(projector=QuadprogProjector(norm_eps=0.0, reg_eps=reg_eps))(torch.from_numpy(A)).numpy()
    return UPGradWeighting()(torch.from_numpy(A)).numpy()


def main() -> None:
    torch.set_num_threads(1)
    from torchjd.aggregation import MGDAWeighting

    solvers = {
        "mgda ours (Wolfe)": ("mgda", lambda J: solve.min_norm_weights(J @ J.T) @ J),
        "mgda torchjd (FW, eps 1e-3)": ("mgda", lambda J: MGDAWeighting()(torch.from_numpy(J @ J.T)).numpy() @ J),
        "cagrad ours (bisection+QP)": ("cagrad", lambda J: solve.cagrad_weights(J @ J.T, 0.4) @ J),
        "cagrad torchjd (cvxpy)": ("cagrad", lambda J: __import__("torchjd.aggregation", fromlist=["CAGrad"])
                                   .CAGrad(c=0.4)(torch.tensor(J)).numpy()),
        "nash_mtl ours (Newton)": ("nash", lambda J: solve.nash_weights(J @ J.T)[0]),
        "nash_mtl torchjd (cvxpy)": ("nash", torchjd_nash),
        "upgrad torchjd reg_eps 1e-4": ("upgrad", lambda J: upgrad_weights(J @ J.T, 1e-4, False) @ J),
        "upgrad ours reg_eps 1e-10": ("upgrad", lambda J: upgrad_weights(J @ J.T, 1e-10, True) @ J),
    }
    errs = {"mgda": mgda_err, "cagrad": cagrad_err, "nash": nash_err, "upgrad": upgrad_err}
    cases = ref.jacobians()
    n_cases = sum(len(ref.SCALES) for _ in cases)
    print(f"# {len(cases)} Jacobians x scales {ref.SCALES} = {n_cases} cases (Nash-MTL: the Pareto-stationary one "
          "has no solution and is left out)")
    print(f"{'solver':30s} {'cases':>5s} {'fail':>5s} {'worst':>9s} {'ms':>7s}  failing cases")
    for label, (kind, fn) in solvers.items():
        worst, fails, times, n, failing = 0.0, 0, [], 0, []
        try:
            for name, J0 in cases.items():
                if kind == "nash" and name == "pareto_stationary":
                    continue
                for scale in ref.SCALES:
                    J = J0 * scale
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t = time.perf_counter()
                        out = fn(J)
                        times.append(time.perf_counter() - t)
                    e = errs[kind](J, out)
                    n += 1
                    worst = max(worst, e) if np.isfinite(e) else np.inf
                    if not e <= 1e-6:
                        fails += 1
                        failing.append(f"{name}@{scale:g}")
        except ImportError as exc:
            print(f"{label:30s} skipped ({str(exc).splitlines()[0]})")
            continue
        print(f"{label:30s} {n:5d} {fails:5d} {worst:9.1e} {statistics.median(times) * 1e3:7.2f}  "
              + ", ".join(failing[:6]) + (" ..." if len(failing) > 6 else ""), flush=True)


if __name__ == "__main__":
    main()
