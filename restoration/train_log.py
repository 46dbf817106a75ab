"""What a training run reports while it runs: the progress line, the curves file and its plot.

BasicSR's ``MessageLogger`` divides the wall time since the start by the iterations done since the *start
iteration*, and multiplies by ``total - current - 1``: after a resume, at the last iteration, or with validation
pauses in the wall time, its ETA is wrong (``-1 day, 23:59:59``). :class:`Clock` keeps the time of training
iterations apart from the pauses (validation, checkpoints) and predicts both for what is left.

Losses (at every progress line) and validation metrics (with the bicubic baseline) are appended to
``experiments/<name>/curves.jsonl``; :func:`plot_curves` draws them into ``curves.png`` next to the log, at every
validation and checkpoint, so the curves can be seen without TensorBoard (``restoration plot`` redraws it).
"""
from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

CURVES = "curves.jsonl"
PLOT = "curves.png"


class Clock:
    """Seconds per training iteration and per pause kind, measured in this process only."""

    def __init__(self, total: int) -> None:
        self.total = int(total)
        self.iters, self.iter_seconds = 0, 0.0
        self.pauses: dict[str, list[float]] = {}  # kind -> [count, seconds]

    def add_iteration(self, seconds: float) -> None:
        self.iters += 1
        self.iter_seconds += seconds

    def add_pause(self, kind: str, seconds: float) -> None:
        n_s = self.pauses.setdefault(kind, [0, 0.0])
        n_s[0] += 1
        n_s[1] += seconds

    def eta(self, current_iter: int, every: Mapping[str, int]) -> float:
        """Seconds left: the remaining iterations at this run's mean, plus the pauses still to come
        (``every``: pause kind -> its period in iterations)."""
        left = max(0, self.total - int(current_iter))
        if self.iters == 0:
            return 0.0
        eta = left * self.iter_seconds / self.iters
        for kind, (n, seconds) in self.pauses.items():
            freq = int(every.get(kind) or 0)
            if freq > 0 and n:
                eta += (self.total // freq - int(current_iter) // freq) * seconds / n
        return max(0.0, eta)


def format_eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


def progress_line(name: str, epoch: int, current_iter: int, lrs: list[float], eta: float, iter_time: float,
                  data_time: float, values: Mapping[str, float]) -> str:
    """BasicSR's progress line, with a correct ETA."""
    lr = "".join(f"{v:.3e}," for v in lrs)
    msg = (f"[{name[:5]}..][epoch:{epoch:3d}, iter:{current_iter:8,d}, lr:({lr})] "
           f"[eta: {format_eta(eta)}, time (data): {iter_time:.3f} ({data_time:.3f})] ")
    return msg + "".join(f"{k}: {v:.4e} " for k, v in values.items())


def tb_scalars(tb_logger, values: Mapping[str, float], current_iter: int) -> None:
    """Losses under ``losses/`` as BasicSR names them, everything else under its own key."""
    if tb_logger is None:
        return
    for k, v in values.items():
        tb_logger.add_scalar(f"losses/{k}" if k.startswith("l_") else k, v, current_iter)


class CurveLog:
    """``curves.jsonl``: one JSON record per progress line (``kind: train``) or validation (``kind: val``)."""

    def __init__(self, folder: str | os.PathLike, start_iter: int) -> None:
        self.path = Path(folder) / CURVES
        self.plot_path = Path(folder) / PLOT
        # a fresh start begins a new file; a resume keeps what the checkpoint had seen and drops the rest
        kept = [r for r in read_curves(self.path) if int(r.get("iter", 0)) <= start_iter] if start_iter else []
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=float) + "\n")

    def plot(self) -> Path | None:
        return plot_curves(self.path, self.plot_path)


def read_curves(path: str | os.PathLike) -> list[dict]:
    """Records of a curves file (a torn last line, from a killed run, is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "iter" in rec:
            out.append(rec)
    return out


def _series(records: list[dict]) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, float]], dict[str, float]]:
    """(losses, validation metrics, bicubic baselines), each key -> {iter: value}; a later record of an
    iteration replaces an earlier one (a resumed run repeats the iterations after its checkpoint)."""
    losses: dict[str, dict[int, float]] = {}
    metrics: dict[str, dict[int, float]] = {}
    bicubic: dict[str, float] = {}
    for rec in records:
        it = int(rec["iter"])
        if rec.get("kind") == "train":
            for k, v in (rec.get("values") or {}).items():
                if k.startswith("l_") and isinstance(v, (int, float)) and math.isfinite(v):
                    losses.setdefault(k, {})[it] = float(v)
        elif rec.get("kind") == "val":
            ds = rec.get("dataset", "val")
            for k, v in (rec.get("metrics") or {}).items():
                metrics.setdefault(f"{ds}/{k}", {})[it] = float(v)
            for k, v in (rec.get("bicubic") or {}).items():
                bicubic[f"{ds}/{k}"] = float(v)
    return losses, metrics, bicubic


def plot_curves(curves: str | os.PathLike, out: str | os.PathLike) -> Path | None:
    """Draw losses (log scale) and validation metrics against iterations; None when there is nothing yet."""
    losses, metrics, bicubic = _series(read_curves(curves))
    if not losses and not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(metrics)
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(5.5 * (1 + len(names)), 3.8), squeeze=False)
    ax = axes[0][0]
    for k in sorted(losses, key=lambda k: (k != "l_g_total", k))[:12]:
        xs = sorted(losses[k])
        ax.plot(xs, [losses[k][x] for x in xs], label=k, lw=1.4 if k == "l_g_total" else 0.9)
    if losses:
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    ax.set_title("training losses")
    ax.set_xlabel("iteration")
    for ax, k in zip(axes[0][1:], names):
        xs = sorted(metrics[k])
        ax.plot(xs, [metrics[k][x] for x in xs], marker="o", ms=3, label="model")
        if k in bicubic:
            ax.axhline(bicubic[k], color="#c0392b", ls="--", lw=1, label="bicubic")
        ax.legend(fontsize=7)
        ax.set_title(f"validation {k}")
        ax.set_xlabel("iteration")
    fig.tight_layout()
    out = Path(out)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
    return out
