"""``python -m restoration.data.build_distill_cache -opt FILE.yml`` (``make distill-cache``): build the
distillation cache of a training option file (:mod:`restoration.data.distill_cache`).

A command of its own, apart from the cache: it loads the option files (which registers the models, and a model
reads the cache), so keeping it in the cache module would close an import cycle.
"""
from __future__ import annotations

import argparse
import sys

from restoration.data.distill_cache import CacheSpec, build_cache
from restoration.errors import OptionError, RestorationError


def main(argv: list[str] | None = None) -> int:
    """``python -m restoration.data.build_distill_cache -opt FILE.yml [--force_yml K=V ...] [--device auto]``."""
    parser = argparse.ArgumentParser(prog="python -m restoration.data.build_distill_cache",
                                     description="Build the distillation cache of a training option file.")
    parser.add_argument("-opt", "--opt", required=True, help="training option file with train.distill_opt")
    parser.add_argument("--force_yml", nargs="+", default=None, metavar="KEY=VALUE", help="override options")
    parser.add_argument("--device", default="auto", help="teacher device: auto, cpu, cuda")
    args = parser.parse_args(argv)
    try:
        import restoration
        from restoration.job_threads import job_threads
        from restoration.options import load_options
        from restoration.threads import torch_threads

        restoration.register()
        opt = load_options(args.opt, args.force_yml)
        if not (opt.get("train") or {}).get("distill_opt"):
            raise OptionError(f"{args.opt}: train.distill_opt: missing (nothing to build)")
        spec = CacheSpec.from_options(opt)
        threads, why = job_threads(opt.get("num_threads", "auto"))
        print(f"distillation cache: {spec.num_samples} samples, teacher {spec.teacher}, seed {spec.seed}; "
              f"torch threads {threads} ({why})", flush=True)
        every = max(1, spec.num_samples // 20)

        def progress(done: int, total: int, seconds: float) -> None:
            if done % every == 0 or done == total:
                eta = seconds / done * (total - done)
                print(f"  teacher {done}/{total}: {seconds / done:.2f} s per patch, {eta / 60:.1f} min left",
                      flush=True)

        with torch_threads(threads):
            path = build_cache(spec, args.device, progress)
        print(f"distillation cache: {path}")
        return 0
    except RestorationError as exc:
        print(f"distill-cache: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
