"""``restoration train``: the same as ``python -m restoration.train`` (BasicSR-style option files)."""
from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a model from a YAML option file (BasicSR keys; -opt FILE.yml)"
DESCRIPTION = (
    "Train from a BasicSR-style option file. Experiments go to experiments/<name>/ (models, training_states, log, "
    "tb_logger). An existing experiment folder is only continued with --auto_resume. Distributed: "
    "torchrun --nproc_per_node N -m restoration.train -opt FILE.yml --launcher pytorch (gloo on CPU, NCCL on CUDA)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from restoration.train import add_arguments as train_arguments  # light: no torch at import

    train_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from restoration.heap import keep_freed_memory
    from restoration.threads import prefer_passive_wait

    prefer_passive_wait()  # before torch loads: OpenMP threads sleep instead of spinning while they wait
    keep_freed_memory()  # every step allocates the same tensors: reuse their pages
    from restoration.train import run as train_run

    return train_run(args)
