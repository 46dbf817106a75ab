"""Helpers for the web demo tests: a tiny random model in a temporary model folder, and a demo server
started as a real subprocess (``python -m restoration demo``) on a free localhost port."""
from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_KW = dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4, act_type="prelu")
START_TIMEOUT_S = 90.0


def write_tiny_zoo(folder: Path, name: str = "tiny") -> Path:
    """A random SRVGGNetCompact x4 saved with ``save_model`` and listed in a manifest (schema 1) as the default."""
    import restoration  # noqa: F401  (torchvision hook before basicsr)
    # isort: split
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    net = SRVGGNetCompact(**TINY_KW)
    with torch.no_grad():  # small random weights: the output stays an image, close to the nearest-upsampled input
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    path = save_model(net, folder / f"{name}.safetensors", arch="SRVGGNetCompact", arch_kwargs=TINY_KW,
                      scale=4, name=name)
    manifest = {"schema": 1, "default": name, "models": {name: {
        "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "arch": "SRVGGNetCompact",
        "scale": 4, "description": "tiny random SRVGGNetCompact (test model)",
        "trained_on": "nothing (random weights)"}}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DemoServer:
    proc: subprocess.Popen
    url: str
    port: int
    ready_line: str
    log: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (the CLI closes the server cleanly), then kill if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def start_demo(models_dir: Path, tmp: Path, *args: str) -> DemoServer:
    """``python -m restoration demo --port FREE ...`` in a subprocess; returns once it prints its ready line."""
    port = free_port()
    env = dict(os.environ)
    env.update({
        "RESTORATION_MODELS_DIR": str(models_dir),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
        "PYTHONUNBUFFERED": "1",
    })
    cmd = [sys.executable, "-m", "restoration", "demo", "--host", "127.0.0.1", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def pump() -> None:  # keep reading so the server never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"demo did not start in {START_TIMEOUT_S:.0f} s:\n{''.join(log)}") from None
        if line is None:
            raise AssertionError(f"demo exited with {proc.wait()} before it was ready:\n{''.join(log)}")
        if "restoration demo ready on" in line:
            return DemoServer(proc, f"http://127.0.0.1:{port}/", port, line.strip(), log)
