"""``restoration tasks ...``: degradation tasks and task banks (sample, degrade, show) and the
task-competition pipeline (probe, agree, group, worst, report).

The sub-subcommands live in ``restoration/cli/_tasks_*.py`` modules; each defines
``register(subparsers) -> None`` that adds its parsers and sets ``_task_run`` (the function to call with the parsed
args) on them.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

NAME = "tasks"
HELP = "degradation tasks: sample a bank, degrade an image, probe and group tasks"


def _modules():
    here = [str(Path(__file__).resolve().parent)]  # this folder, without importing the parent package back
    names = sorted(m.name for m in pkgutil.iter_modules(here) if m.name.startswith("_tasks_"))
    return [importlib.import_module(f"restoration.cli.{n}") for n in names]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tasks_command", metavar="ACTION")
    for mod in _modules():
        mod.register(sub)
    parser.set_defaults(_tasks_parser=parser)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "_task_run", None)
    if action is None:
        args._tasks_parser.print_help()
        return 0
    return int(action(args) or 0)
