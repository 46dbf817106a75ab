"""``restoration tasks sample | degrade | show``: make a task bank, replay one task on an image, preview many.

Only argparse-level code at import time; numpy/torch/OpenCV load inside the actions.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from restoration.errors import RestorationError

if TYPE_CHECKING:
    import numpy as np


class _DeprecatedForce(argparse.Action):
    """``--force``: the old name of ``--overwrite`` (one flag for every command that replaces files)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: --force is deprecated; use --overwrite", file=sys.stderr)
        namespace.overwrite = True


def _overwrite(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what} if it exists")
    p.add_argument("--force", action=_DeprecatedForce, dest="overwrite")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="sample a bank of degradation tasks (JSON)",
                       description="Sample N degradation tasks from the Real-ESRGAN second-order space (or a space "
                                   "YAML) and save them as a task bank.")
    p.add_argument("--num", type=int, default=4000, help="number of tasks (default 4000, as in TGSR)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (same seed, same bank)")
    p.add_argument("--out", required=True, help="output bank file (.json)")
    p.add_argument("--space", help="degradation space YAML (default: Real-ESRGAN x4 values, "
                                   "options/tasks/space_realesrgan_x4.yml)")
    _overwrite(p, "--out")
    p.set_defaults(_task_run=run_sample)

    p = sub.add_parser("degrade", help="degrade one image with one task (replayable)",
                       description="Synthesise the LQ image of one task. Same task and seed give the same bytes.")
    p.add_argument("--bank", help="task bank (.json); not needed with --task random")
    p.add_argument("--task", required=True, help="task index, task id (or a unique prefix), or 'random'")
    p.add_argument("--input", "-i", required=True, help="HR image")
    p.add_argument("--output", "-o", required=True, help="LQ image to write (.png recommended)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (and task seed for --task random)")
    p.add_argument("--scale", type=int, default=4, help="downscaling factor (default 4)")
    p.add_argument("--space", help="space YAML for --task random")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu: bit-identical output)")
    _overwrite(p, "--output")
    p.set_defaults(_task_run=run_degrade)

    p = sub.add_parser("show", help="contact sheet of one image degraded by several tasks",
                       description="Degrade one image with several tasks of a bank and tile the results, each "
                                   "labelled with its task index and short id.")
    p.add_argument("--bank", required=True, help="task bank (.json)")
    p.add_argument("--input", "-i", required=True, help="HR image")
    p.add_argument("--out", required=True, help="contact sheet to write (.png)")
    p.add_argument("--num", type=int, default=16, help="number of tasks to show (default 16)")
    p.add_argument("--start", type=int, default=0, help="first task index (default 0)")
    p.add_argument("--group", help="show tasks of this bank group instead of a range")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--crop", type=int, default=256, help="centre crop of the input in px (0 = whole image)")
    p.add_argument("--tile", type=int, default=192, help="tile size in px on the sheet")
    p.add_argument("--scale", type=int, default=4, help="downscaling factor (default 4)")
    _overwrite(p, "--out")
    p.set_defaults(_task_run=run_show)


# ----------------------------------------------------------------------------------------------------- helpers
MIN_CROP = 32


def _check_out(path: str, overwrite: bool, image: bool = True) -> Path:
    """Refuse, before any work, an output that exists (without --overwrite), is a folder or cannot be written."""
    from restoration.inference.io import output_extension_problem

    out = Path(path)
    if out.is_dir():
        raise RestorationError(f"{out} is a folder: give a file name")
    if out.exists() and not overwrite:
        raise RestorationError(f"{out} already exists (pass --overwrite to replace it)")
    if image and (problem := output_extension_problem(out)):
        raise RestorationError(problem)
    if out.parent.exists() and not out.parent.is_dir():
        raise RestorationError(f"cannot write {out}: {out.parent} is a file, not a folder")
    return out


def _space(path: str | None):
    from restoration.degradations import DegradationSpace

    return DegradationSpace.from_yaml(path) if path else DegradationSpace()


def _gt_tensor(path: str, scale: int, crop: int = 0):
    """HR file → (1, 3, H, W) float tensor in [0, 1], H and W cut to multiples of ``scale``."""
    import numpy as np
    import torch

    from restoration.inference.io import read_image

    img = read_image(path)
    peak = 65535.0 if img.dtype == np.uint16 else 255.0
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]  # the degradation model has no alpha; the colour channels are degraded
    h, w = img.shape[:2]
    if crop:
        c = min(crop, h, w)
        top, left = (h - c) // 2, (w - c) // 2
        img = img[top:top + c, left:left + c]
        h = w = c
    h, w = h - h % scale, w - w % scale
    if h < scale or w < scale:
        raise RestorationError(f"{path} is smaller than the scale factor {scale}")
    img = np.ascontiguousarray(img[:h, :w]).astype(np.float32) / peak
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0)


def _to_uint8(t) -> np.ndarray:
    import numpy as np

    return np.clip((t.squeeze(0).permute(1, 2, 0).cpu().numpy() * 255.0).round(), 0, 255).astype(np.uint8)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise RestorationError(f"unknown device {name!r} (cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RestorationError("--device cuda was requested but CUDA is not available")
    return dev


# ----------------------------------------------------------------------------------------------------- actions
def run_sample(args: argparse.Namespace) -> int:
    from restoration.degradations import TaskBank

    if args.num < 1:
        raise RestorationError(f"--num must be at least 1, got {args.num}")
    out = _check_out(args.out, args.overwrite, image=False)
    bank = TaskBank.sample(args.num, args.seed, _space(args.space))
    bank.save(out)
    print(f"wrote {len(bank)} tasks to {out} (seed {args.seed})")
    return 0


def run_degrade(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from restoration.degradations import TaskBank, degrade
    from restoration.inference.io import write_image

    out = _check_out(args.output, args.overwrite)
    if args.scale < 1:
        raise RestorationError(f"--scale must be a positive integer, got {args.scale}")
    if args.task == "random":
        task = _space(args.space).sample(np.random.default_rng(args.seed))
        label = "random"
    else:
        if not args.bank:
            raise RestorationError("--bank is required unless --task random")
        bank = TaskBank.load(args.bank)
        i = bank.resolve(args.task)
        task, label = bank[i], f"#{i}"
    device = _device(args.device)
    gt = _gt_tensor(args.input, args.scale).to(device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    lq = degrade(gt, [task], gen, scale=args.scale)
    write_image(out, _to_uint8(lq))
    print(f"task {label}: {task.describe()}")
    print(f"wrote {out} ({lq.shape[-1]}x{lq.shape[-2]})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    import torch

    from restoration.degradations import TaskBank, degrade
    from restoration.inference.io import write_image

    out = _check_out(args.out, args.overwrite)
    if args.tile < 32 or args.tile > 1024:
        raise RestorationError(f"--tile must be 32..1024 px, got {args.tile}")
    if args.scale < 1:
        raise RestorationError(f"--scale must be a positive integer, got {args.scale}")
    if args.crop and args.crop < MIN_CROP:
        raise RestorationError(f"--crop must be 0 (the whole image) or at least {MIN_CROP} px, got {args.crop}")
    if args.num < 1:
        raise RestorationError(f"--num must be at least 1, got {args.num}")
    bank = TaskBank.load(args.bank)
    if args.group is not None:
        groups = bank.groups
        if args.group not in groups:
            raise RestorationError(f"no group {args.group!r} in {args.bank} (groups: {', '.join(groups) or 'none'})")
        indices = groups[args.group][: args.num]
    else:
        if not 0 <= args.start < len(bank):
            raise RestorationError(f"--start {args.start} is out of range (bank has {len(bank)} tasks)")
        indices = list(range(args.start, min(len(bank), args.start + args.num)))
    if not indices:
        raise RestorationError("no tasks to show")
    gt = _gt_tensor(args.input, args.scale, crop=args.crop)
    gen = torch.Generator().manual_seed(args.seed)
    lq = degrade(gt.expand(len(indices), -1, -1, -1), [bank[i] for i in indices], gen, scale=args.scale)

    def tile(img: np.ndarray, text: str) -> np.ndarray:
        t = cv2.resize(img, (args.tile, args.tile), interpolation=cv2.INTER_NEAREST)
        cv2.rectangle(t, (0, 0), (args.tile, 18), (0, 0, 0), thickness=-1)
        cv2.putText(t, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        return t

    tiles = [tile(_to_uint8(gt), "GT")] + [tile(_to_uint8(lq[k:k + 1]), f"{i} {bank[i].short_id}")
                                           for k, i in enumerate(indices)]
    cols = int(np.ceil(np.sqrt(len(tiles))))
    rows = int(np.ceil(len(tiles) / cols))
    sheet = np.full((rows * args.tile + (rows + 1) * 4, cols * args.tile + (cols + 1) * 4, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = 4 + r * (args.tile + 4), 4 + c * (args.tile + 4)
        sheet[y:y + args.tile, x:x + args.tile] = t
    write_image(out, sheet)
    print(f"wrote {out}: {len(indices)} tasks ({indices[0]}..{indices[-1]}) on {gt.shape[-1]}x{gt.shape[-2]} input")
    return 0
