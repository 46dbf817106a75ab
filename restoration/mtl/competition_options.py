"""Option files of the competition pipeline (``options/tasks/probe_*.yml``, ``group_*.yml``), checked up front.

Every block is validated against the keys it may hold; a wrong key or value raises ``OptionError`` naming the file
and the key path. Relative paths are resolved against the current directory, as BasicSR does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from restoration.errors import OptionError

TOP_KEYS = {"name", "model", "device", "bank", "output", "gt", "probe", "fast", "select", "group", "probe_results",
            "output_bank", "seed"}
BANK_KEYS = {"path", "sample"}
SAMPLE_KEYS = {"num_tasks", "seed", "space"}
GT_KEYS = {"folder", "val_folder", "val_count"}
SELECT_KEYS = {"ratio"}
GROUP_KEYS = {"mode", "thresholds", "iters", "batch_size", "lr", "betas", "patch_size", "degrade_size", "val_size",
              "val_per_image", "seed", "min_group_size"}
GROUP_MODES = ("iterative", "one_shot")

GROUP_DEFAULTS: dict[str, Any] = {
    "mode": "iterative", "thresholds": [0.8, 0.6, 0.4, 0.2], "iters": 10000, "batch_size": 4, "lr": 2e-4,
    "betas": [0.9, 0.99], "patch_size": 64, "degrade_size": 0, "val_size": 128, "val_per_image": 2, "seed": 0,
    "min_group_size": 1,
}


def _check(block: Any, keys: set[str], where: str) -> dict:
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise OptionError(f"{where}: expected a mapping, got {type(block).__name__}")
    unknown = sorted(set(block) - keys)
    if unknown:
        raise OptionError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(keys))}")
    return dict(block)


def load_task_options(path: str | Path, overrides: dict | None = None) -> dict:
    """Read and validate a probe/group option file. ``overrides`` (a dict of top-level keys) wins."""
    from restoration.options import read_yaml

    path = Path(path)
    opt = read_yaml(path)
    opt = _check(opt, TOP_KEYS, str(path))
    opt.update(overrides or {})
    where = str(path)
    if not opt.get("name"):
        raise OptionError(f"{where}: name is required")
    bank = opt.get("bank")
    if isinstance(bank, str):
        bank = {"path": bank}
    bank = _check(bank, BANK_KEYS, f"{where}: bank")
    if not bank.get("path"):
        raise OptionError(f"{where}: bank.path is required")
    if bank.get("sample") is not None:
        bank["sample"] = _check(bank["sample"], SAMPLE_KEYS, f"{where}: bank.sample")
        n = bank["sample"].get("num_tasks")
        if not isinstance(n, int) or n < 1:
            raise OptionError(f"{where}: bank.sample.num_tasks must be a positive integer, got {n!r}")
    elif not Path(bank["path"]).is_file():
        raise OptionError(f"{where}: bank.path {bank['path']} does not exist (add bank.sample to create it)")
    opt["bank"] = bank
    opt["gt"] = _check(opt.get("gt"), GT_KEYS, f"{where}: gt")
    opt["select"] = {"ratio": 0.4, **_check(opt.get("select"), SELECT_KEYS, f"{where}: select")}
    ratio = opt["select"]["ratio"]
    if not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise OptionError(f"{where}: select.ratio must be in (0, 1], got {ratio!r}")
    opt["device"] = opt.get("device") or "auto"
    if not opt.get("output"):
        opt["output"] = str(Path("experiments") / "tasks" / str(opt["name"]))
    group = {**GROUP_DEFAULTS, **_check(opt.get("group"), GROUP_KEYS, f"{where}: group")}
    if group["mode"] not in GROUP_MODES:
        raise OptionError(f"{where}: group.mode must be one of {GROUP_MODES}, got {group['mode']!r}")
    th = group["thresholds"]
    if (not isinstance(th, list) or not th or not all(isinstance(x, (int, float)) for x in th)
            or sorted(th, reverse=True) != th):
        raise OptionError(f"{where}: group.thresholds must be a non-empty list of numbers in decreasing order, "
                          f"got {th!r}")
    for key in ("iters", "batch_size", "patch_size", "val_size", "val_per_image", "min_group_size"):
        if not isinstance(group[key], int) or group[key] < 1:
            raise OptionError(f"{where}: group.{key} must be a positive integer, got {group[key]!r}")
    opt["group"] = group
    opt.setdefault("probe", {})
    opt.setdefault("fast", {})
    opt["_file"] = str(path)
    return opt


def load_or_sample_bank(bank_opt: dict):
    """The task bank at ``bank.path``; sampled (and saved there) from ``bank.sample`` when the file is absent."""
    from restoration.degradations import TaskBank

    path = Path(bank_opt["path"])
    if path.is_file():
        return TaskBank.load(path)
    s = bank_opt["sample"]
    bank = TaskBank.sample(int(s["num_tasks"]), int(s.get("seed", 0)), s.get("space"))
    bank.save(path)
    return bank
