"""``restoration metrics``: full-reference quality of one image against its reference, as one JSON object."""
from __future__ import annotations

import argparse
import json
import math

NAME = "metrics"
HELP = "PSNR/SSIM (Y channel) and LPIPS of an image against its reference, as JSON"
DESCRIPTION = (
    "Compare IMG with REF (same size). PSNR and SSIM follow BasicSR (Y channel of BT.601 YCbCr, CROP pixels removed "
    "from every edge); LPIPS uses the lpips package with its real ImageNet backbones. A metric that cannot be "
    "computed (backbone weights missing, identical images for PSNR) is null, with the reason under \"reasons\"."
)
NETS = ("alex", "vgg")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help="reference (ground-truth) image")
    p.add_argument("img", metavar="IMG", help="image to score (e.g. a super-resolved output)")
    p.add_argument("--crop-border", type=int, default=4, help="pixels removed from each edge (default: 4, the scale)")
    p.add_argument("--no-y", action="store_true", help="PSNR/SSIM on RGB instead of the Y channel")
    p.add_argument("--no-lpips", action="store_true", help="skip LPIPS (faster)")
    p.add_argument("--device", default="cpu", help="device for LPIPS: cpu, cuda, auto (default: cpu)")
    p.add_argument("--indent", type=int, default=None, help="pretty-print the JSON with this indent")


def compute(ref_path: str, img_path: str, crop_border: int = 4, y_channel: bool = True, lpips: bool = True,
            device: str = "cpu") -> dict:
    """The metrics dictionary the command prints."""
    from restoration.errors import RestorationError
    from restoration.inference import read_image
    from restoration.metrics import psnr, ssim
    from restoration.metrics.images import to_rgb8

    ref = to_rgb8(read_image(ref_path), ref_path)
    img = to_rgb8(read_image(img_path), img_path)
    if ref.shape != img.shape:
        raise RestorationError(f"{img_path} is {img.shape[1]}x{img.shape[0]} but {ref_path} is "
                               f"{ref.shape[1]}x{ref.shape[0]}: the images must have the same size")
    suffix = "_y" if y_channel else ""
    out: dict = {"ref": str(ref_path), "img": str(img_path), "crop_border": crop_border, "y_channel": y_channel}
    reasons: dict[str, str] = {}
    value = psnr(img, ref, crop_border, y_channel)
    if math.isinf(value):
        out[f"psnr{suffix}"] = None
        reasons[f"psnr{suffix}"] = "identical images (infinite PSNR)"
    else:
        out[f"psnr{suffix}"] = value
    out[f"ssim{suffix}"] = ssim(img, ref, crop_border, y_channel)
    for net in NETS:
        key = f"lpips_{net}"
        if not lpips:
            out[key], reasons[key] = None, "skipped (--no-lpips)"
            continue
        from restoration.metrics.lpips_metric import LPIPSMetric, lpips_available

        ok, why = lpips_available(net)
        if not ok:
            out[key], reasons[key] = None, why
            continue
        try:
            metric = LPIPSMetric(net, device=_device(device))
        except RestorationError as exc:  # weights present but unusable (corrupt or foreign file)
            out[key], reasons[key] = None, str(exc)
            continue
        out[key] = metric(img, ref)
    out["reasons"] = reasons
    return out


def _device(device: str) -> str:
    if device != "auto":
        return device
    from restoration.devices import resolve_device

    return resolve_device("auto")


def run(args: argparse.Namespace) -> int:
    result = compute(args.ref, args.img, args.crop_border, not args.no_y, not args.no_lpips, args.device)
    print(json.dumps(result, indent=args.indent, allow_nan=False))
    return 0
