"""Run a model and the bicubic baseline over a per-group test set and average the metrics per group.

PSNR-Y / SSIM-Y follow BasicSR (crop border = scale by default). LPIPS columns are filled only when the real
backbone weights are on disk; otherwise the column is kept with ``null`` values and the reason, never computed
with random weights.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from restoration.errors import RestorationError
from restoration.evaluation.testset import load_testset

RESULT_FORMAT = "restoration.evaluation"
RESULT_VERSION = 1
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


def evaluate(model: str | os.PathLike, testset: str | os.PathLike, *, groups: Sequence[str] | None = None,
             lpips_nets: Sequence[str] = ("alex",), crop_border: int | None = None, device: str = "auto",
             tile: int = 0, tile_pad: int = 16, max_images: int = 0, models_dir: str | os.PathLike | None = None,
             save_images: str | os.PathLike | None = None, baseline: bool = True,
             progress: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate ``model`` (a zoo name or weight file) on ``testset``; returns the result dictionary."""
    from restoration.inference import Upscaler, read_image, write_image
    from restoration.metrics.images import to_rgb8

    ts = load_testset(testset)
    wanted = list(groups) if groups else ts.groups
    for g in wanted:
        if g not in ts.groups:
            raise RestorationError(f"{ts.root}: no group {g!r}; groups: {', '.join(ts.groups)}")
    entries = [e for e in ts.entries if e["group"] in wanted]
    if max_images:
        entries = [e for g in wanted for e in [x for x in entries if x["group"] == g][:max_images]]
    crop = ts.scale if crop_border is None else int(crop_border)
    up = Upscaler(model, device=device, tile=tile, tile_pad=tile_pad, models_dir=models_dir)
    lpips, unavailable = _lpips_models(lpips_nets, up.device)
    names = metric_names(lpips_nets)
    methods = ["model"] + ([BASELINE] if baseline else [])
    hr_cache: dict[str, np.ndarray] = {}
    per_image = []
    for i, e in enumerate(entries):
        if e["hr"] not in hr_cache:
            hr_cache.clear()  # manifests are sorted by group; keep memory flat
            hr_cache[e["hr"]] = to_rgb8(read_image(ts.root / e["hr"]), e["hr"])
        hr = hr_cache[e["hr"]]
        lq = to_rgb8(read_image(ts.root / e["lq"]), e["lq"])
        h, w = hr.shape[:2]
        if lq.shape[0] * ts.scale != h or lq.shape[1] * ts.scale != w:
            raise RestorationError(f"{e['lq']}: {lq.shape[1]}x{lq.shape[0]} times scale {ts.scale} does not give "
                                   f"the HR size {w}x{h}")
        sr = up.upscale(lq, outscale=None if up.scale == ts.scale else float(ts.scale))
        if sr.shape != hr.shape:
            raise RestorationError(f"{e['lq']}: the model output is {sr.shape[1]}x{sr.shape[0]}, HR is {w}x{h}")
        row = {"lq": e["lq"], "hr": e["hr"], "group": e["group"], "task_id": e.get("task_id"),
               "model": _score(sr, hr, crop, lpips, names)}
        if baseline:
            row[BASELINE] = _score(bicubic_upscale(lq, (w, h)), hr, crop, lpips, names)
        if save_images:
            write_image(Path(save_images) / e["group"] / Path(e["lq"]).name, sr)
        per_image.append(row)
        if progress:
            progress(i + 1, len(entries))
    return {
        "format": RESULT_FORMAT, "version": RESULT_VERSION,
        "model": up.name, "model_arch": up.descriptor.summary(), "testset": str(ts.root), "scale": ts.scale,
        "crop_border": crop, "metrics": names, "methods": methods, "groups": wanted,
        "unavailable": unavailable,
        "summary": aggregate(per_image, wanted, methods, names),
        "per_image": per_image,
    }
