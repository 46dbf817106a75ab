"""``restoration options``: the JSON schema of the option files, and checking option files against it."""
from __future__ import annotations

import argparse
import sys

NAME = "options"
HELP = "print the JSON schema of the option files, or check option files against it"
DESCRIPTION = (
    "The schema subcommand prints (or writes with -o) the JSON schema of one kind of option file: train, tasks, "
    "space or evaluate (e.g. `restoration options schema tasks`), for editors and other tools. The check "
    "subcommand validates option files against their schema, _base_ files included, without opening the files "
    "they name or building models (restoration train does both)."
)
KINDS = ("train", "tasks", "space", "evaluate")  # restoration.schema.files.KINDS (kept here: no pydantic at --help)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="options_command", metavar="SUBCOMMAND", required=True)
    sch = sub.add_parser("schema", help="print the JSON schema of one kind of option file")
    sch.add_argument("kind", nargs="?", default="train", choices=KINDS, help="kind of option file (default: train)")
    sch.add_argument("-o", "--out", default=None, help="write the schema to this file instead of printing it")
    chk = sub.add_parser("check", help="check option files against their schema (one line per file)")
    chk.add_argument("files", nargs="+", metavar="FILE", help="option files (YAML)")
    chk.add_argument("--kind", default=None, choices=KINDS, help="kind of the files (default: guessed from the keys)")


def run(args: argparse.Namespace) -> int:
    if args.options_command == "schema":
        import json

        from restoration.atomic import write_text
        from restoration.schema.files import json_schema

        text = json.dumps(json_schema(args.kind), indent=2) + "\n"
        if args.out:
            write_text(args.out, text)
        else:
            sys.stdout.write(text)
        return 0
    from restoration.errors import RestorationError
    from restoration.schema.files import check_option_file

    failed = 0
    for path in args.files:
        try:
            print(f"{path}: ok ({check_option_file(path, args.kind)})")
        except RestorationError as exc:
            print(f"restoration options check: error: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0
