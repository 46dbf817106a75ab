"""Option files of the competition pipeline (``options/tasks/probe_*.yml``, ``group_*.yml``), checked up front.

Every block is validated by the schema (:mod:`restoration.schema.tasks`); a wrong key or value raises
``OptionError`` naming the file and the key path. Relative paths are resolved against the current directory, as
BasicSR does.
"""
from __future__ import annotations

from pathlib import Path

from restoration.errors import OptionError


def load_task_options(path: str | Path, overrides: dict | None = None) -> dict:
    """Read and validate a probe/group option file (``_base_`` files merged in; the schema is
    :class:`restoration.schema.tasks.TaskFile`). ``overrides`` (a dict of top-level keys) wins. Returns the
    options with every default filled in."""
    from restoration.schema.base import check
    from restoration.schema.tasks import TaskFile
    from restoration.yaml_files import read_options

    path = Path(path)
    raw = {**read_options(path), **(overrides or {})}
    try:
        opt = check(TaskFile, raw).model_dump()
    except OptionError as exc:
        raise OptionError(f"{path}: {exc}") from None
    bank = opt["bank"]
    if bank["sample"] is None:
        del bank["sample"]
        if not Path(bank["path"]).is_file():
            raise OptionError(f"{path}: bank.path {bank['path']} does not exist (add bank.sample to create it)")
    opt["model"] = opt["model"] or ""
    opt["output"] = opt["output"] or str(Path("experiments") / "tasks" / str(opt["name"]))
    opt["probe"] = opt["probe"] or {}
    opt["fast"] = opt["fast"] or {}
    opt["group"]["betas"] = list(opt["group"]["betas"])
    opt["_file"] = str(path)
    return opt


def load_or_sample_bank(bank_opt: dict):
    """The task bank at ``bank.path``; sampled (and saved there) from ``bank.sample`` when the file is absent."""
    from restoration.degradations import TaskBank

    path = Path(bank_opt["path"])
    if path.is_file():
        return TaskBank.load(path)
    s = bank_opt["sample"]
    bank = TaskBank.sample(s["num_tasks"], s.get("seed", 0), s.get("space"))
    bank.save(path)
    return bank
