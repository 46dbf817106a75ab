"""Evaluation results as Markdown, CSV, JSON and a bar chart; and the per-group difference of two results."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from restoration.errors import RestorationError
from restoration.evaluation.runner import ALL, BASELINE, RESULT_FORMAT, summary_groups

LABELS = {"psnr_y": "PSNR-Y (dB)", "ssim_y": "SSIM-Y", "lpips_alex": "LPIPS-alex", "lpips_vgg": "LPIPS-vgg"}
LOWER_IS_BETTER = {"lpips_alex", "lpips_vgg"}
DIGITS = {"psnr_y": 2, "ssim_y": 4, "lpips_alex": 4, "lpips_vgg": 4}


def _fmt(value: Any, metric: str, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.{DIGITS.get(metric, 4)}f}" if signed else f"{value:.{DIGITS.get(metric, 4)}f}"


def label(result: dict, method: str) -> str:
    """The name shown for a method: a model's label (``model`` in results of version 1), or ``bicubic``."""
    return result["model"] if method == "model" else method


def model_methods(result: dict) -> list[str]:
    """The methods that are models (every one but the baseline), in the order they were evaluated."""
    return [m for m in result["methods"] if m != BASELINE]


def table_rows(result: dict) -> list[dict[str, Any]]:
    """One row per (group, method): the models side by side, then the baseline, group by group, ``all`` last."""
    rows = []
    for group in summary_groups(result["groups"]):
        s = result["summary"][group]
        for method in result["methods"]:
            name = label(result, method)
            rows.append({"group": group, "method": name, "images": s["images"], **s[method]})
    return rows


def per_photo(result: dict, metric: str = "psnr_y") -> list[dict[str, Any]]:
    """Mean ``metric`` per (group, HR photo, method): an average over photos can hide one photo a model makes worse."""
    sums: dict[tuple[str, str], dict[str, list[float]]] = {}
    for item in result.get("per_image", []):
        if "hr" not in item:
            continue
        cell = sums.setdefault((item["group"], Path(item["hr"]).stem), {})
        for method in result["methods"]:
            value = item.get(method, {}).get(metric)
            if value is not None:
                cell.setdefault(method, []).append(value)
    rows = []
    for (group, photo), values in sums.items():
        rows.append({"group": group, "photo": photo, "images": max(len(v) for v in values.values()),
                     **{m: sum(v) / len(v) for m, v in values.items()}})
    return rows


def _per_photo_markdown(result: dict) -> list[str]:
    rows = per_photo(result)
    models = model_methods(result)
    if not rows or BASELINE not in result["methods"]:
        return []
    head = ["group", "photo", "images", "bicubic"] + [f"{label(result, m)} (vs bicubic)" for m in models]
    lines = ["", "PSNR-Y (dB) per test photo:", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        base = row.get(BASELINE)
        cells = [row["group"], row["photo"], str(row["images"]), _fmt(base, "psnr_y")]
        for m in models:
            v = row.get(m)
            gain = None if v is None or base is None else v - base
            cells.append(f"{_fmt(v, 'psnr_y')} ({_fmt(gain, 'psnr_y', signed=True)})")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(result: dict) -> str:
    metrics: list[str] = result["metrics"]
    head = ["group", "method", "images"] + [LABELS.get(m, m) for m in metrics]
    names = ", ".join(label(result, m) for m in model_methods(result))
    lines = [f"# Evaluation of {names} on {result['testset']}", "",
             f"x{result['scale']}, metrics on the Y channel with a {result['crop_border']}-pixel border crop "
             f"(BasicSR definitions); baseline: bicubic interpolation. Higher is better except LPIPS.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table_rows(result):
        cells = [row["group"], row["method"], str(row["images"])] + [_fmt(row[m], m) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    for metric, reason in result.get("unavailable", {}).items():
        lines.append(f"\n{LABELS.get(metric, metric)}: unavailable ({reason})")
    lines += _per_photo_markdown(result)
    timed = [m for m in result.get("models", []) if "seconds_per_mp" in m]
    if timed:
        lines += ["", "| model | architecture | s per output MP (wall) | CPU s per output MP |", "|---|---|---|---|"]
        lines += [f"| {m['name']} | {m['arch']} | {m['seconds_per_mp']:.2f} | {m['cpu_seconds_per_mp']:.2f} |"
                  for m in timed]
    return "\n".join(lines) + "\n"


def to_csv(result: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["group", "method", "images"] + result["metrics"])
    for row in table_rows(result):
        writer.writerow([row["group"], row["method"], row["images"]]
                        + ["" if row[m] is None else f"{row[m]:.6f}" for m in result["metrics"]])
    return buf.getvalue()


def bar_chart(result: dict, path: str | os.PathLike) -> Path:
    """One panel per available metric; bars per group for the model and the baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    metrics: list[str] = [m for m in result["metrics"] if m not in result.get("unavailable", {})]
    groups = summary_groups(result["groups"])
    methods = result["methods"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(4.0, 1.2 * len(groups)) * len(metrics), 3.6),
                             squeeze=False)
    width = 0.8 / len(methods)
    x = np.arange(len(groups))
    for ax, metric in zip(axes[0], metrics):
        for j, method in enumerate(methods):
            vals = [result["summary"][g][method][metric] for g in groups]
            vals = [np.nan if v is None else v for v in vals]
            ax.bar(x + (j - (len(methods) - 1) / 2) * width, vals, width, label=label(result, method))
        ax.set_xticks(x, groups, rotation=30, ha="right")
        ax.set_title(LABELS.get(metric, metric) + (" (lower is better)" if metric in LOWER_IS_BETTER else ""))
        finite = [v for m in methods for g in groups
                  if (v := result["summary"][g][m][metric]) is not None]
        if metric == "psnr_y" and finite:
            ax.set_ylim(max(0.0, min(finite) - 2.0), max(finite) + 1.0)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_all(result: dict, out_dir: str | os.PathLike, stem: str = "results") -> dict[str, Path]:
    """results.md / .csv / .json / .png in ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "csv": out / f"{stem}.csv", "json": out / f"{stem}.json",
             "png": out / f"{stem}.png"}
    paths["md"].write_text(to_markdown(result))
    paths["csv"].write_text(to_csv(result))
    paths["json"].write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    bar_chart(result, paths["png"])
    return paths


def load_result(path: str | os.PathLike) -> dict:
    """A results.json, or a folder holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise RestorationError(f"no evaluation results at {path} (expected a results.json or a folder with one)")
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise RestorationError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT or "summary" not in data:
        raise RestorationError(f"{p}: not an evaluation result of `restoration evaluate`")
    return data


def compare(a: dict, b: dict) -> dict:
    """B minus A per common group and metric (each result's first model), with both values; positive PSNR/SSIM
    = B better."""
    groups = [g for g in summary_groups(a["groups"]) if g in b["summary"]]
    if groups == [ALL] and set(a["groups"]) != set(b["groups"]):
        raise RestorationError("the two results share no group: were they run on the same test set?")
    metrics = [m for m in a["metrics"] if m in b["metrics"]]
    rows = []
    for g in groups:
        row: dict[str, Any] = {"group": g, "images_a": a["summary"][g]["images"],
                               "images_b": b["summary"][g]["images"]}
        for m in metrics:
            va, vb = a["summary"][g][model_methods(a)[0]][m], b["summary"][g][model_methods(b)[0]][m]
            row[f"{m}_a"], row[f"{m}_b"] = va, vb
            row[f"{m}_diff"] = None if va is None or vb is None else vb - va
        rows.append(row)
    return {"a": a["model"], "b": b["model"], "testset_a": a["testset"], "testset_b": b["testset"],
            "metrics": metrics, "rows": rows}


def compare_markdown(cmp: dict) -> str:
    metrics = cmp["metrics"]
    head = ["group", "images A/B"] + [f"{LABELS.get(m, m)} {x}" for m in metrics for x in ("A", "B", "B-A")]
    lines = [f"# {cmp['b']} (B) vs {cmp['a']} (A)", "",
             "B-A > 0 means B is better for PSNR/SSIM; for LPIPS lower is better (B-A < 0 means B is better).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in cmp["rows"]:
        cells = [row["group"], f"{row['images_a']}/{row['images_b']}"]
        for m in metrics:
            cells += [_fmt(row[f"{m}_a"], m), _fmt(row[f"{m}_b"], m), _fmt(row[f"{m}_diff"], m, signed=True)]
        lines.append("| " + " | ".join(cells) + " |")
    if cmp["testset_a"] != cmp["testset_b"]:
        lines.append(f"\nNote: different test sets ({cmp['testset_a']} vs {cmp['testset_b']}).")
    return "\n".join(lines) + "\n"


def compare_csv(cmp: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = ["group", "images_a", "images_b"] + [f"{m}_{x}" for m in cmp["metrics"] for x in ("a", "b", "diff")]
    writer.writerow(cols)
    for row in cmp["rows"]:
        writer.writerow(["" if row[c] is None else (f"{row[c]:.6f}" if isinstance(row[c], float) else row[c])
                         for c in cols])
    return buf.getvalue()
