"""Run a model and the bicubic baseline over a per-group test set and average the metrics per group.

PSNR-Y / SSIM-Y follow BasicSR (crop border = scale by default). LPIPS columns are filled only when the real
backbone weights are on disk; otherwise the column is kept with ``null`` values and the reason, never computed
with random weights.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from restoration.errors import RestorationError
from restoration.evaluation.testset import load_testset

RESULT_FORMAT = "restoration.evaluation"
RESULT_VERSION = 2  # 2: methods are the models' labels (1: "model"), several models per result
BASELINE = "bicubic"
ALL = "all"


def bicubic_upscale(lq: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The baseline: OpenCV bicubic interpolation to ``size`` = (width, height)."""
    import cv2

    return cv2.resize(lq, size, interpolation=cv2.INTER_CUBIC)


def metric_names(lpips_nets: Sequence[str]) -> list[str]:
    return ["psnr_y", "ssim_y"] + [f"lpips_{n}" for n in lpips_nets]


def _lpips_models(nets: Sequence[str], device: str) -> tuple[dict[str, Any], dict[str, str]]:
    from restoration.metrics.lpips_metric import LPIPSMetric, lpips_available

    models, unavailable = {}, {}
    for net in nets:
        ok, reason = lpips_available(net)
        if ok:
            try:
                models[net] = LPIPSMetric(net, device=device)
            except RestorationError as exc:  # a checkpoint that is there but unusable (corrupt, foreign)
                unavailable[f"lpips_{net}"] = str(exc)
        else:
            unavailable[f"lpips_{net}"] = reason
    return models, unavailable


def _score(out: np.ndarray, hr: np.ndarray, crop: int, lpips: dict[str, Any], names: list[str]) -> dict[str, Any]:
    from restoration.metrics import psnr, ssim

    row: dict[str, Any] = {"psnr_y": psnr(out, hr, crop, True), "ssim_y": ssim(out, hr, crop, True)}
    for name in names[2:]:
        net = name[len("lpips_"):]
        row[name] = lpips[net](out, hr) if net in lpips else None
    if np.isinf(row["psnr_y"]):
        row["psnr_y"] = None  # identical images: JSON has no infinity; reported as missing
    return row


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summary_groups(groups: Sequence[str]) -> list[str]:
    """The groups of a summary, then the ``all`` pseudo-group, once: a bank without groups already calls its only
    group ``all``."""
    return list(groups) + ([] if ALL in groups else [ALL])


def aggregate(per_image: list[dict[str, Any]], groups: list[str], methods: list[str], names: list[str]) -> dict:
    """{group: {"images": n, method: {metric: mean}}} plus the ``all`` pseudo-group over every image."""
    out: dict[str, Any] = {}
    for group in summary_groups(groups):
        rows = [r for r in per_image if group == ALL or r["group"] == group]
        out[group] = {"images": len(rows)}
        for m in methods:
            out[group][m] = {k: _mean([r[m][k] for r in rows]) for k in names}
    return out


def model_label(model: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> str:
    """What a model is called in tables and output names, known before it is loaded: its zoo name (aliases
    resolved), the name stored in a .safetensors file, ``NAME@5000`` for a bare BasicSR checkpoint
    ``experiments/NAME/models/net_g_5000.pth`` (whose file name says nothing), else the file name."""
    from restoration.inference.zoo import resolve_model

    path, info = resolve_model(model, models_dir, verify=False)
    if info is not None:
        return info.name
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                name = (f.metadata() or {}).get("name", "")
        except (SafetensorError, OSError, ValueError):
            name = ""  # loading it reports the problem
        if name:
            return name
    if path.parent.name == "models" and path.parent.parent.name and path.stem.startswith("net_g"):
        return f"{path.parent.parent.name}@{path.stem[len('net_g'):].lstrip('_') or 'final'}"
    return path.stem


def _unique(label: str, taken: set[str]) -> str:
    out, k = label, 2
    while out in taken or out == BASELINE:
        out, k = f"{label}#{k}", k + 1
    return out


def evaluate(model: str | os.PathLike | Sequence[str | os.PathLike], testset: str | os.PathLike, *,
             groups: Sequence[str] | None = None, lpips_nets: Sequence[str] = ("alex",),
             crop_border: int | None = None, device: str = "auto", tile: int = 0, tile_pad: int = 16,
             max_images: int = 0, models_dir: str | os.PathLike | None = None,
             save_images: str | os.PathLike | None = None, baseline: bool = True,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate one model or several (zoo names, aliases or weight files) on ``testset``, side by side with bicubic.

    Models run one after the other (one loaded at a time); every model sees the same LQ images. In the result,
    ``methods`` lists each model's label then ``bicubic``; per-image and summary rows are keyed by those labels.
    """
    from restoration.inference import Upscaler, read_image, write_image
    from restoration.metrics.images import to_rgb8

    models = [model] if isinstance(model, (str, os.PathLike)) else list(model)
    if not models:
        raise RestorationError("no model to evaluate")
    ts = load_testset(testset)
    wanted = list(groups) if groups else ts.groups
    for g in wanted:
        if g not in ts.groups:
            raise RestorationError(f"{ts.root}: no group {g!r}; groups: {', '.join(ts.groups)}")
    entries = [e for e in ts.entries if e["group"] in wanted]
    if max_images:
        entries = [e for g in wanted for e in [x for x in entries if x["group"] == g][:max_images]]
    crop = ts.scale if crop_border is None else int(crop_border)
    names = metric_names(lpips_nets)
    per_image: list[dict[str, Any]] = [{"lq": e["lq"], "hr": e["hr"], "group": e["group"],
                                        "task_id": e.get("task_id")} for e in entries]
    labels: list[str] = []
    described: list[dict[str, Any]] = []
    lpips, unavailable = None, {}
    total, done = len(entries) * len(models), 0
    for index, arg in enumerate(models):
        label = _unique(model_label(arg, models_dir), set(labels))
        up = Upscaler(arg, device=device, tile=tile, tile_pad=tile_pad, models_dir=models_dir)
        labels.append(label)
        described.append({"name": label, "arch": up.descriptor.summary(), "model": str(arg)})
        if lpips is None:
            lpips, unavailable = _lpips_models(lpips_nets, up.device)
        hr_cache: dict[str, np.ndarray] = {}
        wall = cpu = pixels = 0.0
        for e, row in zip(entries, per_image):
            if e["hr"] not in hr_cache:
                hr_cache.clear()  # manifests are sorted by group; keep memory flat
                hr_cache[e["hr"]] = to_rgb8(read_image(ts.root / e["hr"]), e["hr"])
            hr = hr_cache[e["hr"]]
            lq = to_rgb8(read_image(ts.root / e["lq"]), e["lq"])
            h, w = hr.shape[:2]
            if lq.shape[0] * ts.scale != h or lq.shape[1] * ts.scale != w:
                raise RestorationError(f"{e['lq']}: {lq.shape[1]}x{lq.shape[0]} times scale {ts.scale} does not "
                                       f"give the HR size {w}x{h}")
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            sr = up.upscale(lq, outscale=None if up.scale == ts.scale else float(ts.scale))
            wall, cpu = wall + time.perf_counter() - t_wall, cpu + time.process_time() - t_cpu
            pixels += sr.shape[0] * sr.shape[1]
            if sr.shape != hr.shape:
                raise RestorationError(f"{e['lq']}: the output of {label} is {sr.shape[1]}x{sr.shape[0]}, "
                                       f"HR is {w}x{h}")
            row[label] = _score(sr, hr, crop, lpips, names)
            if baseline and index == 0:
                row[BASELINE] = _score(bicubic_upscale(lq, (w, h)), hr, crop, lpips, names)
            if save_images:
                sub = Path(save_images) / label if len(models) > 1 else Path(save_images)
                write_image(sub / e["group"] / Path(e["lq"]).name, sr)
            done += 1
            if progress:
                progress(done, total)
        # cost of the upscale alone (not metrics or I/O), with the threads this process has
        described[-1].update(seconds_per_mp=wall / max(pixels, 1) * 1e6, cpu_seconds_per_mp=cpu / max(pixels, 1) * 1e6)
        del up
    methods = labels + ([BASELINE] if baseline else [])
    return {
        "format": RESULT_FORMAT, "version": RESULT_VERSION,
        "model": labels[0], "model_arch": described[0]["arch"], "models": described,
        "testset": str(ts.root), "scale": ts.scale,
        "crop_border": crop, "metrics": names, "methods": methods, "groups": wanted,
        "unavailable": unavailable,
        "summary": aggregate(per_image, wanted, methods, names),
        "per_image": per_image,
    }
