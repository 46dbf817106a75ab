"""Step B of TGSR: group the unsatisfactory tasks by their performance improvement score (PIS).

The frozen model is fine-tuned on all unsatisfactory tasks jointly (each sample draws one task uniformly); a task's
PIS is the PSNR-Y of the fine-tuned model minus that of the frozen model on held-out validation crops degraded with
that task. Tasks that gain the most dominate the joint fine-tune, so they conflict little and form a group.

``iterative`` (our reading of the paper's method figure, reference/tgsr.md §1.5): for each threshold s (paper:
0.8, 0.6, 0.4, 0.2 dB) fine-tune from the frozen model on the remaining tasks, put every task with PIS > s into the
next group and remove it. ``one_shot``: one fine-tune, tasks binned by PIS into (t0, inf), (t1, t0], ...
Tasks below the last threshold stay ungrouped (they belong to G0, the whole space). Each round's result is saved,
so a resumed run continues after the last finished round.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from restoration.competition.data import PatchSource
from restoration.competition.scoring import finetune, psnr_y, to_uint8, validation_lq


class PISScorer:
    """PSNR-Y of a network on each task's validation set; the frozen model's values are computed once."""

    def __init__(self, base: torch.nn.Module, bank, val_gt: torch.Tensor, seed: int, scale: int = 4) -> None:
        self.base, self.bank, self.val_gt, self.seed, self.scale = base, bank, val_gt, seed, scale
        self.gt_u8 = to_uint8(val_gt)
        self._lq: dict[int, torch.Tensor] = {}
        self._base: dict[int, float] = {}

    def lq(self, i: int) -> torch.Tensor:
        if i not in self._lq:
            self._lq[i] = validation_lq(self.val_gt, self.bank[i], self.seed, self.scale)
        return self._lq[i]

    def base_psnr(self, i: int) -> float:
        if i not in self._base:
            self._base[i] = psnr_y(self.base, self.lq(i), self.gt_u8)
        return self._base[i]

    def pis(self, net: torch.nn.Module, tasks: Sequence[int]) -> dict[int, float]:
        return {i: psnr_y(net, self.lq(i), self.gt_u8) - self.base_psnr(i) for i in tasks}


def bin_by_pis(pis: dict[int, float], thresholds: Sequence[float]) -> list[list[int]]:
    """One-shot binning: group k holds tasks with thresholds[k] < PIS <= thresholds[k-1]."""
    bins: list[list[int]] = [[] for _ in thresholds]
    for i in sorted(pis):
        for k, s in enumerate(thresholds):
            if pis[i] > s:
                bins[k].append(i)
                break
    return bins


def group_tasks(base: torch.nn.Module, bank, unsatisfactory: Sequence[int], source: PatchSource,
                val_gt: torch.Tensor, gopt: dict, *, state_path: str | Path | None = None, resume: bool = False,
                fingerprint: str = "", progress: Callable[[str, int], Callable[[int], None]] | None = None
                ) -> tuple[dict[str, list[int]], list[dict]]:
    """Return (groups name → task indices, rounds). ``progress(label, total)`` returns a per-iteration callback.

    ``rounds``: one dict per fine-tune: threshold(s), the tasks it trained on, their PIS, the group(s) formed.
    """
    from restoration.schema.base import check
    from restoration.schema.tasks import Group

    gopt = check(Group, dict(gopt), "group").model_dump()  # typed and complete: no casts below
    thresholds = gopt["thresholds"]
    scorer = PISScorer(base, bank, val_gt, gopt["seed"], source.scale)
    state_path = Path(state_path) if state_path else None
    rounds: list[dict] = []
    if resume and state_path is not None and state_path.is_file():
        state = json.loads(state_path.read_text())
        if state.get("fingerprint") == fingerprint:
            rounds = state["rounds"]

    def save() -> None:
        if state_path is not None:
            tmp = state_path.with_name(state_path.name + ".tmp")
            tmp.write_text(json.dumps({"fingerprint": fingerprint, "rounds": rounds}, indent=1))
            tmp.replace(state_path)

    def tune(tasks: list[int], k: int) -> dict[int, float]:
        cb = progress(f"joint fine-tune {k + 1} ({len(tasks)} tasks)", gopt["iters"]) if progress else None
        net = finetune(base, [bank[i] for i in tasks], source, gopt["iters"], batch_size=gopt["batch_size"],
                       lr=gopt["lr"], betas=gopt["betas"], seed=gopt["seed"] + 1 + k,
                       progress=cb)
        return scorer.pis(net, tasks)

    remaining = sorted(int(i) for i in unsatisfactory)
    groups: dict[str, list[int]] = {}
    min_size = gopt["min_group_size"]
    if gopt["mode"] == "one_shot":
        if not rounds:
            pis = tune(remaining, 0)
            rounds.append({"thresholds": thresholds, "tasks": remaining, "pis": [[i, pis[i]] for i in remaining]})
            save()
        pis = {int(i): float(v) for i, v in rounds[0]["pis"]}
        for k, members in enumerate(bin_by_pis(pis, thresholds)):
            if len(members) >= min_size:
                groups[f"G{k + 1}"] = members
        rounds[0]["groups"] = {name: len(m) for name, m in groups.items()}
        return groups, rounds
    for k, s in enumerate(thresholds):
        if not remaining:
            break
        if k < len(rounds):  # finished before an interruption
            rec = rounds[k]
        else:
            pis = tune(remaining, k)
            members = [i for i in remaining if pis[i] > s]
            rec = {"threshold": s, "tasks": remaining, "pis": [[i, pis[i]] for i in remaining],
                   "group": f"G{k + 1}" if len(members) >= min_size else None,
                   "members": members if len(members) >= min_size else []}
            rounds.append(rec)
            save()
        if rec["group"]:
            groups[rec["group"]] = list(rec["members"])
            remaining = [i for i in remaining if i not in set(rec["members"])]
    return groups, rounds


def pis_table(rounds: list[dict]) -> dict[int, float]:
    """Each task's PIS from the round in which it was last scored (the one that grouped it, or the last)."""
    out: dict[int, float] = {}
    for rec in rounds:
        for i, v in rec["pis"]:
            out[int(i)] = float(v)
    return out


def summary_stats(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(list(values), dtype=float)
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}
