"""Step A as a job: load the model, the bank and the GT images from an option file, probe this shard's tasks,
append each result to the shard's JSONL file, and write ``summary.json`` once every task of the bank is done.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from restoration.competition.options import load_or_sample_bank
from restoration.competition.probe import ProbeConfig, run_probe, select_unsatisfactory, tuned_share
from restoration.competition.store import ShardWriter, read_header, read_results
from restoration.devices import resolve_device
from restoration.errors import OptionError, RestorationError

# The fast recipe when the option file has no ``fast:`` block: a fifth of the faithful steps at the same learning
# rate, scored on the last step only. On the CPU benchmark (docs/BENCHMARKS.md, "Task competition": Compact 64/16,
# 50 tasks, 100 -> 20 steps) it ranked tasks like the faithful probe for 5.1x less work; ``tune_last`` (fine-tune
# only the output end) buys more steps for the same work. Check the agreement at your scale with bench/probe.py.
FAST_STEP_SHARE = 5


def probe_config(opt: dict, fast: bool) -> ProbeConfig:
    """The faithful recipe from ``probe:``; with ``fast`` the ``fast:`` block on top of our fast defaults."""
    base = dict(opt.get("probe") or {})
    if fast:
        faithful = ProbeConfig.from_opt(base, "probe")
        base.update({"iters": max(1, round(faithful.iters / FAST_STEP_SHARE)), "window": 1})
        base.update(opt.get("fast") or {})
    return ProbeConfig.from_opt(base, "fast" if fast else "probe")


def probe_dir(opt: dict, fast: bool) -> Path:
    return Path(opt["output"]) / ("probe_fast" if fast else "probe")


def bank_digest(bank) -> str:
    return hashlib.sha256("\n".join(t.task_id for t in bank).encode()).hexdigest()[:16]


def load_base(model: str, device: str):
    """(net, descriptor) from a model file or zoo name (safetensors or BasicSR .pth, loaded safely)."""
    from restoration.inference import load_model

    if not model:
        raise OptionError("model: a trained model file is required (safetensors or BasicSR .pth)")
    if Path(model).suffix.lower() in (".pth", ".safetensors") and not Path(model).is_file():
        from restoration.options_checks import missing_weights_hint

        raise OptionError(f"model: {model} does not exist: {missing_weights_hint(model)}")
    return load_model(model, device=device)


def summarise(out_dir: Path, n_tasks: int, ratio: float) -> dict | None:
    """Write ``summary.json`` (indicator per task, the unsatisfactory set) when all tasks are probed."""
    results = read_results(out_dir)
    if len(results) < n_tasks:
        return None
    indicator = {i: float(results[i]["indicator"]) for i in range(n_tasks)}
    summary = {"header": read_header(out_dir), "ratio": ratio, "indicator": [indicator[i] for i in range(n_tasks)],
               "unsatisfactory": select_unsatisfactory(indicator, ratio),
               "seconds_per_task": sum(float(r.get("seconds", 0.0)) for r in results.values()) / n_tasks}
    tmp = out_dir / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out_dir / "summary.json")
    return summary


def run_probe_job(opt: dict, *, fast: bool = False, shard: tuple[int, int] = (0, 1), resume: bool = False,
                  execution: str | None = None,
                  progress: Callable[[int, int], Callable[[], None]] | None = None) -> dict:
    """Probe this shard's unfinished tasks. ``progress(total, done)`` returns a per-task tick callback.

    Returns ``{"probed": n, "skipped": n, "summary": dict | None, "dir": Path}``.
    """
    import torch

    from restoration.competition.data import PatchSource, load_gt
    from restoration.inference.files import sha256_file

    cfg = probe_config(opt, fast)
    if execution:
        cfg.execution = execution
    device = resolve_device(opt["device"])
    net, desc = load_base(opt.get("model", ""), device)  # before the bank is sampled and saved
    bank = load_or_sample_bank(opt["bank"])
    model_hash = sha256_file(desc.path)[:16] if desc.path and Path(desc.path).is_file() else desc.name
    header = {"fingerprint": hashlib.sha256(
        f"{cfg.fingerprint()}:{bank_digest(bank)}:{model_hash}:{json.dumps(opt.get('gt'), sort_keys=True)}"
        .encode()).hexdigest()[:16],
        "recipe": "fast" if fast else "faithful", "config": {k: v for k, v in vars(cfg).items()},
        "bank": str(opt["bank"]["path"]), "num_tasks": len(bank), "model": desc.path, "arch": desc.summary(),
        "tuned_share": tuned_share(net, cfg.tune_last)}
    out_dir = probe_dir(opt, fast)
    writer = ShardWriter(out_dir, shard, header, resume)
    mine = [i for i in range(len(bank)) if i % shard[1] == shard[0]]
    todo = [(i, bank[i]) for i in mine if i not in writer.done]
    train, _ = load_gt(opt.get("gt"))
    if desc.scale != cfg.scale:
        raise RestorationError(f"the model upscales x{desc.scale}, the probe recipe says scale {cfg.scale}")
    source = PatchSource([im for _, im in train], cfg.patch_size, cfg.degrade_size, cfg.scale, device)
    tick = progress(len(mine), len(mine) - len(todo)) if progress else None
    torch.backends.cudnn.benchmark = device.startswith("cuda")

    def store(res) -> None:
        writer.append(res.to_json())
        if tick:
            tick()

    for _ in run_probe(net, todo, source, cfg, on_result=store):
        pass
    summary = summarise(out_dir, len(bank), opt["select"]["ratio"])
    return {"probed": len(todo), "skipped": len(mine) - len(todo), "summary": summary, "dir": out_dir}
