"""The web demo (Gradio): ``restoration demo`` or ``python app/main.py``.

It lives inside the package so that an installed wheel has it too; the top-level ``app/`` folder of the
checkout is only a launcher. Gradio is imported by :mod:`restoration.app.ui` and :func:`launch`, never by
``import restoration``.
"""
from __future__ import annotations

import os
import sys
import time

from restoration.app.service import DEFAULT_MAX_PIXELS, DemoConfig, DemoService
from restoration.errors import RestorationError

__all__ = ["DemoConfig", "DemoService", "DEFAULT_MAX_PIXELS", "build_demo", "launch"]


def build_demo(service: DemoService):
    """The Gradio Blocks serving ``service`` (not queued, not launched); ``DemoService.create(config)`` makes one."""
    from restoration.app.ui import build_demo as _build

    return _build(service)


def _log_to_stderr() -> None:
    """Model loads and failed requests go to stderr (once; an application that configured logging keeps its own)."""
    import logging

    logger = logging.getLogger("restoration")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def launch(config: DemoConfig, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
           t_start: float | None = None):
    """Build, queue and serve the demo on ``host:port``; prints one ``ready`` line with the start-up times.

    With ``block=False`` the server runs in a background thread and the Blocks object is returned
    (``demo.close()`` stops it). The demo's state (models, results, examples) is one :class:`DemoService`, made
    here and passed to the page.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    _log_to_stderr()
    t0 = time.perf_counter() if t_start is None else t_start
    import gradio  # noqa: F401  (timed separately from the build)

    from restoration.app.ui import CSS

    t_import = time.perf_counter()
    service = DemoService.create(config)
    demo = build_demo(service)
    t_build = time.perf_counter()
    demo.queue(default_concurrency_limit=max(1, int(config.concurrency)))
    folders = sorted({os.path.dirname(p) for p in service.samples})
    try:
        demo.launch(
            server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
            show_error=False, quiet=True, allowed_paths=folders, css=CSS,  # gradio 6 takes css here
            max_file_size=int(config.max_pixels) * 16 + (16 << 20),  # 16 bytes/px covers 16-bit RGBA raw formats
        )
    except OSError as exc:
        if "empty port" in str(exc):  # gradio's wording for "address in use"
            raise RestorationError(f"port {port} on {host} is in use: choose another with --port") from None
        raise RestorationError(f"cannot serve the demo on {host}:{port}: {exc}") from None
    t_ready = time.perf_counter()
    import threading

    threading.Thread(target=service.cache.warm_up, name="demo-warm-up", daemon=True).start()
    print(f"restoration demo ready on {demo.local_url} in {t_ready - t0:.2f} s (imports {t_import - t0:.2f} s, "
          f"build {t_build - t_import:.2f} s, server {t_ready - t_build:.2f} s); "
          f"{len(service.cache.names)} model(s), concurrency {config.concurrency}, "
          f"max {config.max_pixels:,} px per upload", flush=True)
    if not block:
        return demo
    try:
        demo.block_thread()
    finally:
        print("restoration demo stopped", file=sys.stderr, flush=True)
    return demo
