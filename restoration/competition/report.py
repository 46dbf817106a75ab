"""``restoration tasks report``: a figure and a summary of a grouped task bank (Step A + Step B results).

Everything comes from the bank's ``meta.competition`` block written by ``restoration tasks group``: the indicator
of every task, the unsatisfactory selection, each task's PIS and the groups. Given models (``--model
baseline=... --model tg=...``), the report adds bicubic vs each model PSNR-Y per group and one crop grid per group
(:mod:`restoration.competition.report_compare`), and names every model that is below bicubic.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np

from restoration.errors import RestorationError

REPORT_FILES = ("report.png", "report.md", "report.json")


def collect(bank) -> dict:
    """The numbers the report shows, as plain JSON types."""
    comp = bank.meta.get("competition")
    if not isinstance(comp, dict) or "probe" not in comp:
        raise RestorationError("the task bank has no competition results (meta.competition); "
                               "make it with 'restoration tasks group'")
    probe = comp["probe"]
    indicator = [float(v) for v in probe["indicator"]]
    unsat = [int(i) for i in probe["unsatisfactory"]]
    threshold = max(indicator[i] for i in unsat) if unsat else None
    group = comp.get("group", {})
    pis = {int(i): float(v) for i, v in group.get("pis", [])}
    members = {name: list(idx) for name, idx in bank.groups.items()}
    grouped = {i for idx in members.values() for i in idx}
    ungrouped = [i for i in unsat if i not in grouped]
    per_group = {}
    for name, idx in list(members.items()) + [("ungrouped", ungrouped)]:
        vals = [pis[i] for i in idx if i in pis]
        per_group[name] = {"size": len(idx), "pis_mean": float(np.mean(vals)) if vals else None,
                           "pis_min": float(min(vals)) if vals else None,
                           "pis_max": float(max(vals)) if vals else None}
    return {
        "num_tasks": len(indicator), "ratio": probe.get("ratio"), "recipe": probe.get("recipe"),
        "indicator": {"mean": float(np.mean(indicator)), "min": float(min(indicator)), "max": float(max(indicator)),
                      "threshold": threshold},
        "unsatisfactory": len(unsat), "mode": group.get("mode"), "thresholds": group.get("thresholds"),
        "joint_iters": group.get("iters"), "groups": per_group,
        "_indicator": indicator, "_pis": pis, "_members": {**members, "ungrouped": ungrouped},
    }


def _figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.hist(data["_indicator"], bins=min(40, max(5, len(data["_indicator"]) // 4)), color="#4a78b5")
    if data["indicator"]["threshold"] is not None:
        ax.axvline(data["indicator"]["threshold"], color="#c0392b", ls="--",
                   label=f"unsatisfactory: lowest {100 * (data['ratio'] or 0):.0f}%")
        ax.legend(fontsize=8)
    ax.set_title("Step A: indicator (fine-tuned / frozen loss)")
    ax.set_xlabel("indicator")
    ax.set_ylabel("tasks")
    ax = axes[1]
    names = list(data["_members"])
    for k, name in enumerate(names):
        vals = [data["_pis"][i] for i in data["_members"][name] if i in data["_pis"]]
        if vals:
            jitter = (np.arange(len(vals)) % 7 - 3) * 0.04
            ax.scatter(k + jitter, vals, s=10, alpha=0.7)
    for s in data.get("thresholds") or []:
        ax.axhline(s, color="grey", lw=0.6, ls=":")
    ax.set_xticks(range(len(names)), names)
    ax.set_title("Step B: PIS per group (PSNR-Y gain, dB)")
    ax.set_ylabel("PIS (dB)")
    ax = axes[2]
    sizes = [data["groups"][n]["size"] for n in names]
    ax.bar(names, sizes, color="#6a9f58")
    for k, v in enumerate(sizes):
        ax.text(k, v, str(v), ha="center", va="bottom", fontsize=8)
    ax.set_title("group sizes")
    ax.set_ylabel("tasks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(data: dict, bank_path: str) -> str:
    ind = data["indicator"]
    lines = [
        "# Task competition report", "",
        f"Bank: `{bank_path}`: {data['num_tasks']} tasks, probe recipe {data['recipe']}.", "",
        f"- Indicator (fine-tuned / frozen L1, mean of the window): mean {ind['mean']:.4f}, "
        f"min {ind['min']:.4f}, max {ind['max']:.4f}.",
        f"- Unsatisfactory: {data['unsatisfactory']} tasks (the {100 * (data['ratio'] or 0):.0f}% with the smallest "
        f"indicator, <= {ind['threshold']:.4f})." if ind["threshold"] is not None else "- Unsatisfactory: none.",
        f"- Grouping: {data['mode']}, thresholds {data['thresholds']} dB, {data['joint_iters']} joint fine-tune "
        "iterations per round.", "",
        "| group | tasks | mean PIS (dB) | min | max |", "|---|---:|---:|---:|---:|",
    ]

    def fmt(v: float | None) -> str:
        return "–" if v is None else f"{v:+.3f}"

    for name, g in data["groups"].items():
        lines.append(f"| {name} | {g['size']} | {fmt(g['pis_mean'])} | {fmt(g['pis_min'])} | {fmt(g['pis_max'])} |")
    lines += ["", "![report](report.png)", ""]
    return "\n".join(lines)


def write_report(bank_path: str | Path, out_dir: str | Path, overwrite: bool = False,
                 models: Mapping[str, str] | None = None, *, gt: dict | None = None, val_size: int = 128,
                 tasks_per_group: int = 8, device: str = "cpu") -> dict[str, Path]:
    """Write ``report.png``, ``report.md`` and ``report.json`` (and with ``models``, ``crops_<group>.png``) into
    ``out_dir``; returns their paths. ``report.json["comparison"]`` holds the before/after numbers."""
    from restoration.atomic import write_text
    from restoration.degradations import TaskBank

    bank = TaskBank.load(bank_path)
    data = collect(bank)
    out = Path(out_dir)
    paths = {"png": out / "report.png", "md": out / "report.md", "json": out / "report.json"}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise RestorationError(f"{existing[0]} already exists; pass --overwrite to replace the report")
    out.mkdir(parents=True, exist_ok=True)
    comparison = None
    if models:
        from restoration.competition.report_compare import compare_models

        comparison = compare_models(bank, models, out, gt=gt, val_size=val_size, tasks_per_group=tasks_per_group,
                                    device=device)
    _figure(data, paths["png"])
    md = _markdown(data, str(bank_path))
    if comparison is not None:
        from restoration.competition.report_compare import markdown

        md += "\n".join(["", *markdown(comparison)])
    write_text(paths["md"], md)
    public = {k: v for k, v in data.items() if not k.startswith("_")}
    public["members"] = data["_members"]
    if comparison is not None:
        public["comparison"] = {**comparison, "models": dict(models or {}),  # models is set with a comparison
                                "gt_folder": (gt or {}).get("val_folder")}
    write_text(paths["json"], json.dumps(public, indent=1))
    return paths
