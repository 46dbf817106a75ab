"""Seconds per task of an option file's faithful probe against its fast recipe, measured in one run.

``restoration tasks agree`` reports the measured saving from the seconds each probe run recorded, and those runs
may have met different loads (they are often hours apart). Here both recipes probe the same tasks of the same bank
in one process, alternating task by task (faithful, fast, faithful, ...), so machine load affects both alike; the
figure is the ratio of the total seconds. The probes are the product's own (``run_probe`` with the recipes of
``probe_config``), including the synthesis of every pair; no result is written (the bank is, where it is absent).

    .venv/bin/python bench/probe_recipes.py -opt options/tasks/probe_compact_x4_lowvar32_c3p4lr10b16.yml \\
        --tasks 16 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import time

import restoration  # noqa: F401  (compat hook before basicsr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-opt", required=True, help="a probe option file with a fast: block")
    ap.add_argument("--tasks", type=int, default=16, help="tasks timed (every (bank size / tasks)-th of the bank)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one process)")
    args = ap.parse_args()

    from restoration.heap import keep_freed_memory

    keep_freed_memory()  # as `restoration tasks probe` does
    import torch

    from restoration.competition.data import PatchSource, load_gt
    from restoration.competition.options import load_or_sample_bank, load_task_options
    from restoration.competition.probe import run_probe, tuned_share
    from restoration.competition.probe_run import load_base, probe_config

    torch.set_num_threads(args.threads)
    opt = load_task_options(args.opt)
    net, desc = load_base(opt["model"], "cpu")
    bank = load_or_sample_bank(opt["bank"])  # as `restoration tasks probe` does: sampled and saved if absent
    train, _ = load_gt(opt.get("gt"))
    images = [im for _, im in train]
    recipes = {name: probe_config(opt, name == "fast") for name in ("faithful", "fast")}
    sources = {name: PatchSource(images, cfg.patch_size, cfg.degrade_size, cfg.scale) for name, cfg in recipes.items()}
    step = max(1, len(bank) // args.tasks)
    picked = [(i, bank[i]) for i in range(0, len(bank), step)][: args.tasks]
    seconds: dict[str, list[float]] = {name: [] for name in recipes}
    for item in picked:
        for name, cfg in recipes.items():
            t0 = time.perf_counter()
            for _ in run_probe(net, [item], sources[name], cfg):
                pass
            seconds[name].append(time.perf_counter() - t0)
    shares = {name: tuned_share(net, cfg.tune_last) for name, cfg in recipes.items()}
    work = {name: cfg.cost(shares[name]) for name, cfg in recipes.items()}
    total = {name: sum(v) for name, v in seconds.items()}
    print(f"{args.opt}: {desc.summary()}, {len(picked)} tasks, torch threads {torch.get_num_threads()}, "
          "recipes alternated task by task")
    print(f"{'recipe':10s} {'s/task':>8s} {'median':>8s} {'x less (seconds)':>17s} {'x less (recipes)':>17s}")
    for name in recipes:
        print(f"{name:10s} {total[name] / len(picked):8.2f} {statistics.median(seconds[name]):8.2f} "
              f"{total['faithful'] / total[name]:17.2f} {work['faithful'] / work[name]:17.2f}")


if __name__ == "__main__":
    main()
