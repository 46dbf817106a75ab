"""The heaviest inputs of an evaluation, side by side: where a model invents structure or gives up.

Averages hide what a GAN model does to the hardest inputs (heavy blur, noise and JPEG at once): it may invent
texture that was never there. The heaviest inputs are the degraded test inputs on which bicubic scores the lowest
PSNR-Y, i.e. whose LQ keeps the least of the photo; for each, a per-model table (PSNR-Y, LPIPS) and the crop grid
(LQ | bicubic | models | GT), built from what ``restoration evaluate --save-images`` wrote.
"""
from __future__ import annotations

import os
from pathlib import Path

from restoration.errors import RestorationError
from restoration.evaluation.runner import BASELINE
from restoration.evaluation.testset import CLEAN_GROUP


def heaviest_entries(result: dict, k: int) -> list[dict]:
    """The ``k`` degraded per-image entries with the lowest bicubic PSNR-Y, heaviest first."""
    if BASELINE not in result["methods"]:
        raise RestorationError("the heaviest inputs are ranked by bicubic PSNR-Y: evaluate with the bicubic baseline")
    degraded = [e for e in result["per_image"] if e["group"] != CLEAN_GROUP]
    return sorted(degraded, key=lambda e: (e[BASELINE]["psnr_y"], e["lq"]))[:max(0, k)]


def heaviest_markdown(result: dict, entries: list[dict]) -> str:
    """A table of the entries: one row per input, PSNR-Y and each LPIPS column per method, then their means."""
    methods = [m for m in result["methods"] if m != BASELINE] + [BASELINE]
    metrics = ["psnr_y"] + [m for m in result["metrics"] if m.startswith("lpips")]
    metrics = [m for m in metrics if all(isinstance(e[meth].get(m), (int, float)) for e in entries for meth in methods)]
    head = ["input", "task"] + [f"{meth} {m}" for meth in methods for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for e in entries:
        cells = [Path(e["lq"]).name, str(e.get("task_id", ""))]
        cells += [f"{e[meth][m]:.{2 if m == 'psnr_y' else 3}f}" for meth in methods for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    if entries:
        means = [sum(e[meth][m] for e in entries) / len(entries) for meth in methods for m in metrics]
        lines.append("| **mean** | | " + " | ".join(
            f"{v:.{2 if m == 'psnr_y' else 3}f}" for v, m in zip(means, metrics * len(methods))) + " |")
    title = (f"**The {len(entries)} heaviest degraded inputs** (lowest bicubic PSNR-Y; PSNR-Y in dB, higher is "
             "better; LPIPS lower is better)")
    return title + "\n\n" + "\n".join(lines) + "\n"


def write_heaviest(result: dict, images: str | os.PathLike, out_dir: str | os.PathLike, k: int) -> tuple[Path, Path]:
    """Write ``heaviest.md`` and ``heaviest.png`` (crop grid) into ``out_dir``; returns their paths."""
    from restoration.evaluation.grid import entries_grid

    entries = heaviest_entries(result, k)
    if not entries:
        raise RestorationError("no degraded inputs in this evaluation to rank")
    out_dir = Path(out_dir)
    md = out_dir / "heaviest.md"
    md.write_text(heaviest_markdown(result, entries))
    return md, entries_grid(result, entries, images, out_dir / "heaviest.png")


__all__ = ["heaviest_entries", "heaviest_markdown", "write_heaviest"]
