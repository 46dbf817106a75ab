"""Console script ``restoration``.

Each subcommand is a module of this package that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Those modules import only argparse-level code at the top; the heavy work (torch,
basicsr, gradio) is imported inside ``run``, so ``restoration --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from types import ModuleType

from restoration import __version__
from restoration.errors import RestorationError
from restoration.threads import prefer_passive_wait


def _commands() -> list[ModuleType]:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (ORDER.index(m.NAME) if m.NAME in ORDER else len(ORDER), m.NAME))


# The order subcommands are listed in; unknown ones follow alphabetically.
ORDER = ("upscale", "models", "export", "train", "tasks", "evaluate", "metrics", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restoration",
        description="Real-world image super-resolution as multi-task learning.",
    )
    parser.add_argument("--version", action="version", version=f"restoration {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. User errors print one line and exit 2; Ctrl-C exits 130."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prefer_passive_wait()  # before any command loads torch
    try:
        return int(args._run(args) or 0)
    except RestorationError as exc:
        print(f"restoration {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"restoration {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
