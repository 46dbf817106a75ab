"""Console script ``restoration``.

Each subcommand is a module of this package that defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Those modules import only argparse-level code at the top; the heavy work (torch,
basicsr, gradio) is imported inside ``run``, so ``restoration --help`` stays fast. A module may also define
``UNSUPPORTED_OPTIONS`` ({option: why}) for options users bring from other tools.

Errors: a ``RestorationError`` is one line ``restoration CMD: error: ...`` and exit 2; file-system errors, out of
memory and bugs are one line too (exit 1). ``--debug`` (any command) or ``$RESTORATION_DEBUG=1`` adds the traceback.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import pkgutil
import sys
import traceback
from types import ModuleType

from restoration import __version__
from restoration.errors import RestorationError


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


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``restoration CMD: error: MESSAGE (see restoration CMD --help)``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _walk(parser: argparse.ArgumentParser):
    """The parser and every subparser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _walk(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="restoration",
        description="Real-world image super-resolution as multi-task learning.",
    )
    parser.add_argument("--version", action="version", version=f"restoration {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _module=mod)
    for p in _walk(parser):
        p.set_defaults(_parser=p)
        if "--debug" not in p._option_string_actions:
            p.add_argument("--debug", dest="_traceback", action="store_true", default=argparse.SUPPRESS,
                           help="on an error, also print the Python traceback")
    return parser


def _unknown_arguments(extras: list[str], parser: argparse.ArgumentParser, module: ModuleType | None) -> str:
    """One message for arguments argparse did not recognise, with the equivalent or closest option when known."""
    unsupported = getattr(module, "UNSUPPORTED_OPTIONS", {}) if module is not None else {}
    visible = sorted(opt for action in parser._actions if action.help != argparse.SUPPRESS
                     for opt in action.option_strings)
    everything = set(parser._option_string_actions)
    parts = []
    after_option = False
    for extra in extras:
        name = extra.split("=", 1)[0]
        if not name.startswith("-") or name == "-":
            if not after_option:  # else most likely the value of the unknown option before it
                parts.append(f"unexpected argument {extra!r}")
            after_option = False
            continue
        after_option = "=" not in extra
        if name in unsupported:
            parts.append(f"{name} is not supported: {unsupported[name]}")
            continue
        spelled = name.replace("_", "-")
        close = [spelled] if spelled in everything else difflib.get_close_matches(spelled, visible, n=1, cutoff=0.6)
        parts.append(f"unrecognized option {name}" + (f" (did you mean {close[0]}?)" if close else ""))
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Entry point. User errors print one line and exit 2; other failures one line and exit 1; Ctrl-C exits 130."""
    parser = build_parser()
    args, extras = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    sub = getattr(args, "_parser", parser)
    if extras:
        print(f"{sub.prog}: error: {_unknown_arguments(extras, sub, getattr(args, '_module', None))} "
              f"(see `{sub.prog} --help`)", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 0
    debug = bool(getattr(args, "_traceback", False) or getattr(args, "debug", False)
                 or os.environ.get("RESTORATION_DEBUG", "") not in ("", "0"))
    prefix = f"restoration {args.command}"

    def fail(message: str, code: int) -> int:
        if debug:
            traceback.print_exc()
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return code

    hint = "" if debug else " (run with --debug for the traceback)"
    try:
        return int(args._run(args) or 0)
    except RestorationError as exc:
        return fail(str(exc), 2)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        from restoration.atomic import os_reason

        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{os_reason(exc)}", 1)
    except MemoryError:
        return fail("out of memory (try --tile, a smaller image or a smaller output scale)", 1)
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback with --debug
        return fail(f"internal error ({type(exc).__name__}: {exc}){hint}", 1)


if __name__ == "__main__":
    sys.exit(main())
