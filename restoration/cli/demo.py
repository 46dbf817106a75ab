"""``restoration demo``: the Gradio web demo (upscale with a before/after slider; degradation lab)."""
from __future__ import annotations

import argparse
import time

NAME = "demo"
HELP = "web demo: upscale in the browser, explore degradation tasks"
DESCRIPTION = (
    "Serve the Gradio web demo on HOST:PORT (localhost only by default). Models come from the model folder "
    "($RESTORATION_MODELS_DIR or pretrained/) and from --model FILE; each is loaded once per device. "
    "Requests queue; --concurrency sets how many run at once."
)
DEFAULT_MAX_PIXELS = 4_000_000  # same value as restoration.app.service (not imported: --help stays light)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _port(value: str) -> int:
    n = _positive(value)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {n}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes the demo to the network)")
    parser.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    parser.add_argument("--concurrency", type=_positive, default=1,
                        help="requests processed at the same time; the rest wait in the queue (default 1)")
    parser.add_argument("--max-pixels", type=_positive, default=DEFAULT_MAX_PIXELS,
                        help=f"largest upload accepted, in pixels (default {DEFAULT_MAX_PIXELS:,})")
    parser.add_argument("--model", action="append", default=[], metavar="FILE",
                        help="also offer this weight file (.safetensors or BasicSR .pth); repeatable")
    parser.add_argument("--models-dir", default=None, metavar="DIR",
                        help="model folder with manifest.json (default $RESTORATION_MODELS_DIR or pretrained/)")
    parser.add_argument("--bank", default=None, metavar="FILE",
                        help="task bank for the degradation lab (default: 64 tasks sampled with seed 0)")
    parser.add_argument("--samples", default=None, metavar="DIR",
                        help="folder of example photos (default datasets/samples, else bundled test photos)")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    import os
    import signal

    from restoration.errors import RestorationError

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio's first import: no phoning home
    try:
        import gradio  # noqa: F401
    except ImportError as exc:
        raise RestorationError(f"the web demo needs gradio ({exc}): pip install 'restoration[demo]'") from None
    from restoration.app import DemoConfig, launch

    config = DemoConfig(
        max_pixels=args.max_pixels, concurrency=args.concurrency, models_dir=args.models_dir,
        model_files=tuple(args.model), bank=args.bank, samples_dir=args.samples,
    )

    def _stop(signum, frame):  # SIGTERM closes the server like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    launch(config, host=args.host, port=args.port, block=True, t_start=t0)
    return 0
