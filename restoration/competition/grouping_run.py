"""Step B as a job: read the finished probe of an experiment, take the unsatisfactory tasks, group them, and write
the task bank with groups (its ``meta.competition`` keeps the indicator, the selection and every round's PIS, so
``restoration tasks report`` needs nothing else).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from restoration.competition.grouping import group_tasks, pis_table
from restoration.competition.options import load_or_sample_bank
from restoration.competition.probe import select_unsatisfactory
from restoration.competition.probe_run import load_base
from restoration.competition.store import read_header, read_results
from restoration.devices import resolve_device
from restoration.errors import RestorationError


def probe_results_dir(opt: dict) -> Path:
    if opt.get("probe_results"):
        return Path(opt["probe_results"])
    return Path(opt["output"]) / "probe"


def output_bank_path(opt: dict) -> Path:
    return Path(opt.get("output_bank") or Path(opt["output"]) / "bank_grouped.json")


def run_group_job(opt: dict, *, resume: bool = False, overwrite: bool = False,
                  progress: Callable[[str, int], Callable[[int], None]] | None = None) -> dict:
    """Group the unsatisfactory tasks and save the grouped bank. Returns a summary dict."""
    from restoration.competition.data import PatchSource, load_gt, validation_crops

    out_bank = output_bank_path(opt)
    state = out_bank.with_name(out_bank.stem + ".state.json")
    if resume and not overwrite and out_bank.exists() and not state.exists():  # finished before: nothing to redo
        from restoration.degradations import TaskBank

        done = TaskBank.load(out_bank)
        unsat = done.meta.get("competition", {}).get("probe", {}).get("unsatisfactory", [])
        return {"bank": out_bank, "unsatisfactory": len(unsat), "groups": {k: len(v) for k, v in done.groups.items()},
                "ungrouped": len(unsat) - sum(len(v) for v in done.groups.values()), "resumed": True}
    if out_bank.exists() and not overwrite and not resume:
        raise RestorationError(f"{out_bank} already exists; pass --overwrite to replace it or --resume to finish it")
    bank = load_or_sample_bank(opt["bank"])
    pdir = probe_results_dir(opt)
    results = read_results(pdir)
    missing = [i for i in range(len(bank)) if i not in results]
    if missing:
        raise RestorationError(f"probe results in {pdir} cover {len(bank) - len(missing)} of {len(bank)} tasks; "
                               f"finish the probe first (restoration tasks probe ... --resume)")
    header = read_header(pdir) or {}
    for i in (0, len(bank) - 1):
        if results[i]["task_id"] != bank[i].task_id:
            raise RestorationError(f"probe results in {pdir} were made for another task bank than "
                                   f"{opt['bank']['path']}")
    indicator = {i: float(results[i]["indicator"]) for i in range(len(bank))}
    ratio = opt["select"]["ratio"]
    unsat = select_unsatisfactory(indicator, ratio)

    gopt = opt["group"]
    device = resolve_device(opt["device"])
    net, desc = load_base(opt.get("model", ""), device)
    train, val = load_gt(opt.get("gt"))
    source = PatchSource([im for _, im in train], gopt["patch_size"], gopt["degrade_size"], desc.scale,
                         device)
    val_gt = validation_crops([im for _, im in val], gopt["val_size"], gopt["val_per_image"]).to(device)
    fingerprint = hashlib.sha256(json.dumps(
        [header.get("fingerprint"), unsat, gopt, desc.path, opt.get("gt")], sort_keys=True, default=str
    ).encode()).hexdigest()[:16]
    groups, rounds = group_tasks(net, bank, unsat, source, val_gt, gopt, state_path=state, resume=resume,
                                 fingerprint=fingerprint, progress=progress)
    pis = pis_table(rounds)
    meta = dict(bank.meta)
    meta["competition"] = {
        "probe": {"dir": str(pdir), "recipe": header.get("recipe"), "config": header.get("config"),
                  "indicator": [indicator[i] for i in range(len(bank))], "ratio": ratio, "unsatisfactory": unsat},
        "group": {"mode": gopt["mode"], "thresholds": list(gopt["thresholds"]), "iters": gopt["iters"],
                  "model": desc.path, "pis": [[i, pis[i]] for i in sorted(pis)], "rounds": rounds},
    }
    grouped = bank.with_groups(groups)
    grouped.meta = meta
    grouped.save(out_bank)
    if state.exists():
        state.unlink()
    return {"bank": out_bank, "unsatisfactory": len(unsat), "groups": {k: len(v) for k, v in groups.items()},
            "ungrouped": len(unsat) - sum(len(v) for v in groups.values())}
