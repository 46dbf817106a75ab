"""Before/after part of the task-competition report: bicubic vs each model, per group, with example crops.

A model trained for a few hundred CPU iterations can be worse than plain bicubic upscaling; a report that only
shows the grouping would hide it. For every group (G0 = fresh tasks from the bank's space, then the bank's groups
and the ungrouped unsatisfactory tasks) the same held-out GT crops are degraded with up to ``tasks_per_group``
tasks of the group (noise seeded by task and seed, as in Step B), and PSNR-Y (BasicSR definition, crop border 4) is
measured for bicubic and every model. One crop grid per group shows LQ | bicubic | models | GT for a few tasks.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np

from restoration.errors import RestorationError

GRID_ROWS = 3  # tasks shown per group
LABEL_H = 18


def parse_models(items: list[str] | None) -> dict[str, str]:
    """``NAME=PATH`` (or a bare path, named after its file) -> {name: path}; names must be unique."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if not name or not path:
            raise RestorationError(f"--model {item!r}: expected NAME=PATH, "
                                   "e.g. baseline=experiments/x/models/net_g_latest.pth")
        if name in out or name == "bicubic":
            raise RestorationError(f"--model {item!r}: the name {name!r} is taken")
        out[name] = path
    return out


def group_tasks(bank, tasks_per_group: int, seed: int) -> dict[str, list]:
    """{group: tasks}: G0 draws fresh tasks from the bank's space; each group takes evenly spaced members."""
    from restoration.degradations import DegradationSpace

    space = DegradationSpace.from_opt(dict(bank.meta["space"]) if isinstance(bank.meta.get("space"), dict) else None)
    out = {"G0": space.sample_many(tasks_per_group, np.random.default_rng(seed + 104729))}
    comp = bank.meta.get("competition") or {}
    grouped = {i for idx in bank.groups.values() for i in idx}
    ungrouped = [int(i) for i in (comp.get("probe") or {}).get("unsatisfactory", []) if int(i) not in grouped]
    for name, idx in list(bank.groups.items()) + [("ungrouped", ungrouped)]:
        if not idx:
            continue
        picks = np.unique(np.linspace(0, len(idx) - 1, min(tasks_per_group, len(idx))).round().astype(int))
        out[name] = [bank[idx[k]] for k in picks]
    return out


def bicubic_up(lq, size: tuple[int, int]):
    """The bicubic row of every comparison: LQ upscaled to ``size``, clamped to [0, 1]."""
    import torch.nn.functional as F

    return F.interpolate(lq, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _labelled(img: np.ndarray, text: str) -> np.ndarray:
    """The tile under a two-line label (``name\\nvalue``), the font shrunk to the tile's width."""
    import cv2

    lines = text.split("\n")[:2]
    strip = np.full((2 * LABEL_H, img.shape[1], 3), 255, np.uint8)
    for k, line in enumerate(lines):
        scale = 0.4
        while scale > 0.25 and cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > img.shape[1] - 4:
            scale -= 0.03
        cv2.putText(strip, line, (2, (k + 1) * LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([strip, img], 0)


def grid_png(rows: list[list[tuple[str, np.ndarray]]], path: Path) -> Path:
    """Rows of labelled RGB tiles -> one PNG (written atomically)."""
    import cv2

    from restoration.atomic import write_bytes

    pad = 4
    lines = []
    for row in rows:
        tiles = [_labelled(img, text) for text, img in row]
        gap = np.full((tiles[0].shape[0], pad, 3), 255, np.uint8)
        lines.append(np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], 1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, pad), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    ok, buf = cv2.imencode(".png", np.concatenate(lines, 0)[:, :, ::-1])
    if not ok:
        raise RestorationError(f"cannot encode {path}")
    return write_bytes(path, buf.tobytes())


def compare_models(bank, models: Mapping[str, str], out_dir: str | os.PathLike, *, gt: dict | None = None,
                   val_size: int = 128, tasks_per_group: int = 8, seed: int = 0, device: str = "cpu") -> dict:
    """PSNR-Y per group for bicubic and each model, and ``crops_<group>.png`` in ``out_dir``.

    Returns ``{"val_size", "images", "tasks_per_group", "methods", "groups": {group: {"tasks": n, method: dB}},
    "below_bicubic": [(model, group, model_dB, bicubic_dB)], "grids": {group: file name}}``.
    """
    import torch

    from restoration.competition.data import load_gt, validation_crops
    from restoration.competition.scoring import psnr_y, to_uint8, validation_lq
    from restoration.inference import load_model
    from restoration.metrics import psnr

    nets = {}
    scale = None
    for name, path in models.items():
        net, desc = load_model(path, device=device)
        if scale is not None and desc.scale != scale:
            raise RestorationError(f"--model {name}: upscales x{desc.scale}, the other models x{scale}")
        nets[name], scale = net, desc.scale
    scale = scale or 4
    _, val = load_gt(gt)
    val_gt = validation_crops([im for _, im in val], val_size, 1).to(device)
    gt_u8 = to_uint8(val_gt)
    out = Path(out_dir)
    result = {"val_size": val_size, "images": len(val), "tasks_per_group": tasks_per_group,
              "methods": ["bicubic", *nets], "groups": {}, "below_bicubic": [], "grids": {}}
    for group, tasks in group_tasks(bank, tasks_per_group, seed).items():
        scores: dict[str, list[float]] = {m: [] for m in result["methods"]}
        rows = []
        for t, task in enumerate(tasks):
            lq = validation_lq(val_gt, task, seed, scale)
            up = bicubic_up(lq, (val_gt.shape[-2], val_gt.shape[-1]))
            bic_u8 = to_uint8(up)
            scores["bicubic"].append(float(np.mean([psnr(a, b, crop_border=4, y_channel=True)
                                                    for a, b in zip(bic_u8, gt_u8)])))
            shown = {}
            for name, net in nets.items():
                scores[name].append(psnr_y(net, lq, gt_u8))
                if t < GRID_ROWS:
                    with torch.no_grad():
                        shown[name] = to_uint8(net(lq[:1]))[0]
            if t < GRID_ROWS:
                lq_big = np.repeat(np.repeat(to_uint8(lq[:1])[0], scale, 0), scale, 1)
                rows.append([(f"LQ\ntask {task.task_id[:6]}", lq_big),
                             (f"bicubic\n{scores['bicubic'][-1]:.2f} dB", bic_u8[0])]
                            + [(f"{n}\n{scores[n][-1]:.2f} dB", img) for n, img in shown.items()] + [("GT", gt_u8[0])])
        means = {m: float(np.mean(v)) for m, v in scores.items()}
        result["groups"][group] = {"tasks": len(tasks), **means}
        for name in nets:
            if means[name] < means["bicubic"]:
                result["below_bicubic"].append([name, group, means[name], means["bicubic"]])
        grid = out / f"crops_{group}.png"
        grid_png(rows, grid)
        result["grids"][group] = grid.name
    if nets:
        result["chart"] = bar_chart(result, out / "compare.png").name
    return result


def bar_chart(result: dict, path: Path) -> Path:
    """Per group, one bar per model: PSNR-Y gain over bicubic (dB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups, models = list(result["groups"]), result["methods"][1:]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) * max(1, len(models)) ** 0.5 + 2), 3.8))
    for k, m in enumerate(models):
        gains = [result["groups"][g][m] - result["groups"][g]["bicubic"] for g in groups]
        ax.bar(np.arange(len(groups)) + (k - (len(models) - 1) / 2) * width, gains, width, label=m)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("PSNR-Y gain over bicubic (dB)")
    ax.set_title("per group: held-out photos degraded by the group's tasks (G0: fresh random tasks)")
    ax.legend(fontsize=8, ncol=min(4, len(models)))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def warnings(result: dict) -> list[str]:
    """One plain line per model and group where the model is below bicubic."""
    return [f"warning: {m} is below bicubic on {g}: {v:.2f} dB vs {b:.2f} dB PSNR-Y ({v - b:+.2f} dB)"
            for m, g, v, b in result.get("below_bicubic", [])]


def markdown(result: dict) -> list[str]:
    """The report's before/after section."""
    methods = result["methods"]
    lines = ["## Before / after: PSNR-Y per group (dB)", "",
             f"{result['images']} held-out crop(s) of {result['val_size']} px per task, up to "
             f"{result['tasks_per_group']} tasks per group (G0: fresh tasks from the whole space).", "",
             "| group | tasks | " + " | ".join(methods) + " |", "|---|---:|" + "---:|" * len(methods)]
    for group, row in result["groups"].items():
        cells = [f"{row[methods[0]]:.2f}"] + [f"{row[m]:.2f} ({row[m] - row['bicubic']:+.2f})" for m in methods[1:]]
        lines.append(f"| {group} | {row['tasks']} | " + " | ".join(cells) + " |")
    lines.append("")
    if result.get("chart"):
        lines += [f"![PSNR-Y gain over bicubic per group]({result['chart']})", ""]
    lines += [f"**{w}**" for w in warnings(result)]
    if result.get("below_bicubic"):
        lines.append("")
    for group, name in result["grids"].items():
        lines += [f"### {group}: LQ | bicubic | {' | '.join(methods[1:])} | GT", "", f"![{group}]({name})", ""]
    return lines
