"""The tasks a model serves worst, by its probe (``restoration tasks worst``): a table and crops.

Step A's indicator (fine-tuned / frozen loss on held-out pairs of the task) is lowest where a few steps on that task
alone help most, i.e. where the shared model leaves the most on the table. This lists the ``num`` lowest, with what
each task does to an image, and shows each on held-out photos: LQ | bicubic | the model | GT, PSNR-Y per tile.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from restoration.errors import RestorationError


def worst_tasks(opt: dict, out_dir: str | Path, *, fast: bool = False, num: int = 10, gt_folder: str | None = None,
                crop: int = 192, seed: int = 0, device: str = "cpu") -> dict:
    """Write ``worst.md``, ``worst.json`` and ``worst.png`` into ``out_dir``; returns the JSON content."""
    import torch

    from restoration.atomic import write_text
    from restoration.competition.data import load_folder, load_gt, validation_crops
    from restoration.competition.options import load_or_sample_bank
    from restoration.competition.probe_run import load_base, probe_dir
    from restoration.competition.report_compare import bicubic_up, grid_png
    from restoration.competition.scoring import psnr_y, to_uint8, validation_lq
    from restoration.competition.store import read_results
    from restoration.metrics import psnr

    pdir = probe_dir(opt, fast)
    results = read_results(pdir)
    if not results:
        raise RestorationError(f"no probe results in {pdir}: run restoration tasks probe{' --fast' if fast else ''} "
                               "first")
    if num < 1:
        raise RestorationError(f"--num must be at least 1, got {num}")
    bank = load_or_sample_bank(opt["bank"])
    net, desc = load_base(opt.get("model", ""), device)
    net.eval()
    photos = load_folder(gt_folder) if gt_folder else load_gt(opt.get("gt"))[1]
    gt = validation_crops([im for _, im in photos], crop, 1).to(device)
    gt_u8 = to_uint8(gt)
    ranked = sorted(results, key=lambda i: (float(results[i]["indicator"]), i))[:num]
    rows, table = [], []
    for rank, i in enumerate(ranked, 1):
        task = bank[i]
        if task.task_id != results[i]["task_id"]:
            raise RestorationError(f"probe results in {pdir} were made for another task bank than "
                                   f"{opt['bank']['path']}")
        lq = validation_lq(gt, task, seed, desc.scale)
        bic = to_uint8(bicubic_up(lq, (gt.shape[-2], gt.shape[-1])))
        bic_db = float(np.mean([psnr(a, b, crop_border=4, y_channel=True) for a, b in zip(bic, gt_u8)]))
        model_db = psnr_y(net, lq, gt_u8, batch=1)
        with torch.no_grad():
            shown = to_uint8(net(lq[:1]))[0]
        lq_big = np.repeat(np.repeat(to_uint8(lq[:1])[0], desc.scale, 0), desc.scale, 1)
        rows.append([(f"#{rank} task {i}\nindicator {float(results[i]['indicator']):.3f}", lq_big),
                     (f"bicubic\n{bic_db:.2f} dB", bic[0]), (f"{desc.name or 'model'}\n{model_db:.2f} dB", shown),
                     ("GT", gt_u8[0])])
        table.append({"rank": rank, "index": i, "task_id": task.task_id, "indicator": float(results[i]["indicator"]),
                      "bicubic_psnr_y": bic_db, "model_psnr_y": model_db, "task": task.describe()})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid_png(rows, out / "worst.png")
    all_ind = np.array([float(r["indicator"]) for r in results.values()])
    summary = {"model": desc.name or desc.path, "probe": str(pdir), "tasks_probed": len(results),
               "indicator_median": float(np.median(all_ind)), "photos": [n for n, _ in photos], "crop": crop,
               "worst": table}
    write_text(out / "worst.json", json.dumps(summary, indent=1) + "\n")
    lines = [f"# The {len(table)} tasks {summary['model']} serves worst", "",
             f"Lowest probe indicator of {len(results)} tasks (`{pdir}`; median {summary['indicator_median']:.3f}). "
             f"PSNR-Y on {len(photos)} held-out {crop} px crop(s), crop border 4.", "",
             "| # | task | indicator | bicubic | model | degradation |", "|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['rank']} | {r['index']} | {r['indicator']:.3f} | {r['bicubic_psnr_y']:.2f} | "
              f"{r['model_psnr_y']:.2f} | {r['task']} |" for r in table]
    lines += ["", "LQ | bicubic | model | GT, first photo:", "", "![worst tasks](worst.png)", ""]
    write_text(out / "worst.md", "\n".join(lines))
    return summary
