"""``restoration tasks probe | agree | group | worst | report``: the TGSR task-competition pipeline (Step A, its
recipe check, Step B, the worst-served tasks, summary).

Heavy imports (torch, basicsr, matplotlib) happen inside the actions.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restoration.errors import RestorationError


def _bar(desc: str, total: int, initial: int = 0, unit: str = "it"):
    """A bar on a terminal; in a log file or a pipe, a line with rate and ETA every 30 s
    (``RESTORATION_PROGRESS_EVERY``)."""
    from restoration.progress import Progress

    return Progress(desc, total, initial, unit, stream=sys.stderr)


def threaded(action):
    """Run a task action with the thread count a training job would take (fewer on a busy machine)."""
    def run(args: argparse.Namespace) -> int:
        from restoration.heap import keep_freed_memory
        from restoration.threads import prefer_passive_wait

        prefer_passive_wait()  # before torch loads
        keep_freed_memory()  # the synthesis makes the same large stacks at every step
        from restoration.job_threads import job_threads
        from restoration.threads import torch_threads

        with torch_threads(job_threads("auto")[0]):
            return action(args)

    run.__name__ = action.__name__
    return run


def _overrides(args: argparse.Namespace) -> dict:
    out = {}
    if getattr(args, "model", None):
        out["model"] = args.model
    if getattr(args, "device", None):
        out["device"] = args.device
    return out


def _probe(args: argparse.Namespace) -> int:
    from restoration.competition.options import load_task_options
    from restoration.competition.probe_run import run_probe_job
    from restoration.competition.store import parse_shard

    opt = load_task_options(args.opt, _overrides(args))
    shard = parse_shard(args.shard)
    bars = []

    def progress(total: int, done: int):
        bar = _bar(f"probe{' (fast)' if args.fast else ''} shard {shard[0]}/{shard[1]}", total, done, "task")
        bars.append(bar)
        return lambda: bar.update(1)

    try:
        res = run_probe_job(opt, fast=args.fast, shard=shard, resume=args.resume, execution=args.execution,
                            progress=progress)
    except KeyboardInterrupt:
        for b in bars:
            b.close()
        print("restoration tasks probe: interrupted; finished tasks are saved, re-run with --resume", file=sys.stderr)
        return 130
    for b in bars:
        b.close()
    print(f"probed {res['probed']} task(s), {res['skipped']} already done; results in {res['dir']}")
    if res["summary"] is not None:
        s = res["summary"]
        print(f"all {len(s['indicator'])} tasks probed: {len(s['unsatisfactory'])} unsatisfactory "
              f"(ratio {s['ratio']}); summary in {res['dir'] / 'summary.json'}")
    else:
        print("other shards are not finished yet; the summary is written when the last one finishes")
    return 0


def _group(args: argparse.Namespace) -> int:
    from restoration.competition.grouping_run import run_group_job
    from restoration.competition.options import load_task_options

    opt = load_task_options(args.opt, _overrides(args))
    bars = []

    def progress(label: str, total: int):
        if bars:
            bars[-1].close()
        bar = _bar(label, total)
        bars.append(bar)

        def tick(i: int) -> None:
            bar.set(i)

        return tick

    try:
        res = run_group_job(opt, resume=args.resume, overwrite=args.overwrite, progress=progress)
    except KeyboardInterrupt:
        print("restoration tasks group: interrupted; finished rounds are saved, re-run with --resume", file=sys.stderr)
        return 130
    finally:
        for b in bars:
            b.close()
    groups = ", ".join(f"{k}: {v}" for k, v in res["groups"].items()) or "none"
    print(f"{res['unsatisfactory']} unsatisfactory task(s) -> groups {groups}; {res['ungrouped']} left in G0")
    print(f"grouped task bank: {res['bank']}")
    return 0


def _agree(args: argparse.Namespace) -> int:
    from restoration.competition.agreement import probe_agreement
    from restoration.competition.options import load_task_options

    res = probe_agreement(load_task_options(args.opt, {}))
    print(f"{res['tasks']} tasks probed by both recipes: Spearman {res['spearman']:.3f}, top-{res['ratio']:.0%} "
          f"overlap {res['top_overlap']:.0%}, {res['work_ratio']:.1f}x less work by the recipes "
          f"({res['seconds_ratio'] or float('nan'):.1f}x measured); written to {res['file']}")
    return 0


def _worst(args: argparse.Namespace) -> int:
    from restoration.competition.options import load_task_options
    from restoration.competition.worst import worst_tasks
    from restoration.devices import resolve_device

    opt = load_task_options(args.opt, _overrides(args))
    if args.gt_folder and not Path(args.gt_folder).is_dir():
        raise RestorationError(f"--gt-folder {args.gt_folder} is not a folder")
    res = worst_tasks(opt, args.out, fast=args.fast, num=args.num, gt_folder=args.gt_folder, crop=args.crop,
                      device=resolve_device(opt["device"]))
    print(f"the {len(res['worst'])} lowest indicators of {res['tasks_probed']} probed tasks: {args.out}/worst.md, "
          "worst.png, worst.json")
    return 0


def _report(args: argparse.Namespace) -> int:
    import json

    from restoration.competition.report import REPORT_FILES, write_report
    from restoration.competition.report_compare import parse_models, warnings
    from restoration.inference.zoo import resolve_model

    models = parse_models(args.model)
    files = {}
    for name, path in models.items():
        try:
            files[name] = resolve_model(path)[0]  # a weight file or a zoo name
        except RestorationError as exc:
            raise RestorationError(f"--model {name}: {exc}") from None
    if args.gt_folder and not Path(args.gt_folder).is_dir():
        raise RestorationError(f"--gt-folder {args.gt_folder} is not a folder")
    out = Path(args.out)
    done = [out / f for f in REPORT_FILES]
    inputs = [Path(args.bank), *files.values()]

    def previous() -> dict:
        try:
            return json.loads((out / "report.json").read_text(encoding="utf-8")).get("comparison") or {}
        except (OSError, ValueError):
            return {}

    if args.resume and inputs[0].is_file() and all(p.is_file() for p in done) and \
            min(p.stat().st_mtime for p in done) >= max(p.stat().st_mtime for p in inputs) and \
            previous().get("models", {}) == models and (not models or (
                previous().get("gt_folder") == args.gt_folder and previous().get("val_size") == args.val_size
                and previous().get("tasks_per_group") == args.tasks_per_group)):
        print(f"report in {out} is up to date with {args.bank}")
    else:
        from restoration.devices import resolve_device

        steps = _bar("report", 1, 0, "file")
        gt = {"folder": args.gt_folder, "val_folder": args.gt_folder} if args.gt_folder else None
        paths = write_report(args.bank, args.out, overwrite=args.overwrite or args.resume, models=models, gt=gt,
                             val_size=args.val_size, tasks_per_group=args.tasks_per_group,
                             device=resolve_device(args.device))
        steps.update(1)
        steps.close()
        for kind, path in paths.items():
            print(f"{kind}: {path}")
    for line in warnings(previous()):
        print(line, file=sys.stderr)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("probe", help="Step A: score every task of a bank with a short single-task fine-tune",
                              description="Fine-tune a copy of the model on each task alone and record the "
                                          "indicator (fine-tuned / frozen L1); results are appended per task.")
    p.add_argument("-opt", "--opt", required=True, help="option file (options/tasks/probe_*.yml)")
    p.add_argument("--fast", action="store_true", help="the cheap recipe (option block 'fast:') instead of the "
                                                       "faithful probe; check its agreement at your scale first")
    p.add_argument("--shard", default=None, metavar="I/N", help="probe tasks with index %% N == I (0-based)")
    p.add_argument("--resume", action="store_true", help="continue: skip tasks already in the results")
    p.add_argument("--execution", choices=("auto", "loop", "vmap"), default=None,
                   help="override probe.execution (auto: time both on the first chunk)")
    p.add_argument("--model", default=None, help="override the option file's model")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p.set_defaults(_task_run=threaded(_probe))

    g = subparsers.add_parser("group", help="Step B: group the unsatisfactory tasks by PSNR gain (PIS)",
                              description="Fine-tune on the unsatisfactory tasks jointly, score each task's PSNR-Y "
                                          "gain and form groups by thresholds; writes the task bank with groups.")
    g.add_argument("-opt", "--opt", required=True, help="option file (options/tasks/group_*.yml)")
    g.add_argument("--resume", action="store_true", help="continue after the last finished round")
    g.add_argument("--overwrite", action="store_true", help="replace an existing grouped bank")
    g.add_argument("--model", default=None, help="override the option file's model")
    g.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    g.set_defaults(_task_run=threaded(_group))

    a = subparsers.add_parser("agree", help="does the fast probe rank tasks like the faithful one?",
                              description="Compare the faithful and the fast probe results of one option file on "
                                          "the tasks both probed: Spearman of the indicators, overlap of the "
                                          "unsatisfactory sets, work per task; writes agreement.json.")
    a.add_argument("-opt", "--opt", required=True, help="the probe option file both probes ran with")
    a.set_defaults(_task_run=_agree)

    w = subparsers.add_parser("worst", help="the tasks a probed model serves worst: table and crops",
                              description="The tasks with the lowest probe indicator (where fine-tuning on the task "
                                          "alone helps most), each shown on held-out photos: LQ | bicubic | model | "
                                          "GT with PSNR-Y; writes worst.md, worst.png, worst.json.")
    w.add_argument("-opt", "--opt", required=True, help="the probe option file (its model and results)")
    w.add_argument("--out", required=True, help="output folder")
    w.add_argument("--fast", action="store_true", help="rank by the fast probe's results")
    w.add_argument("--num", type=int, default=10, help="number of tasks (default 10)")
    w.add_argument("--gt-folder", default=None, help="photos to show (default: the option file's held-out photos)")
    w.add_argument("--crop", type=int, default=192, help="GT crop per photo in px (default 192)")
    w.add_argument("--model", default=None, help="override the option file's model")
    w.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    w.set_defaults(_task_run=threaded(_worst))

    r = subparsers.add_parser("report", help="figure + Markdown/JSON summary of a grouped task bank")
    r.add_argument("--bank", required=True, help="task bank written by 'restoration tasks group'")
    r.add_argument("--out", required=True, help="output folder for report.png, report.md, report.json")
    r.add_argument("--overwrite", action="store_true", help="replace an existing report")
    r.add_argument("--resume", action="store_true",
                   help="keep a report newer than the bank and the models; rewrite a stale one")
    r.add_argument("--model", action="append", metavar="NAME=PATH",
                   help="a model (file or zoo name) to compare with bicubic per group (repeat: --model baseline=A.pth "
                        "--model tg=B.pth); "
                        "adds PSNR-Y per group, crop grids, and a warning for a model below bicubic")
    r.add_argument("--gt-folder", default=None,
                   help="photos to degrade for --model, one centre-diagonal crop each (default: the bank's held-out "
                        "photos, i.e. the offline photos' last two)")
    r.add_argument("--val-size", type=int, default=128, help="held-out GT crop size for --model (default: 128)")
    r.add_argument("--tasks-per-group", type=int, default=8, help="tasks scored per group for --model (default: 8)")
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (for --model)")
    r.set_defaults(_task_run=threaded(_report))
