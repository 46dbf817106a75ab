"""Start-up time of the web demo: from launching ``python -m restoration demo`` to a server that answers.

Usage: .venv/bin/python bench/demo_startup.py [--runs 3]

Each run starts a fresh server process on a free port with a small model folder and records, from the spawn:
  ready line   the CLI prints "restoration demo ready" (imports + page build + server up; the server's own
               breakdown of that line is printed below it)
  first page   GET / returns 200
  first result the first 64x64 upscale answered through gradio_client (includes loading the model)
and, as the floor no demo can beat, a fresh ``python -c "import torch, gradio"``. Figures are medians over the runs,
printed in seconds and as a ratio of that floor measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the realesr-general-x4v3 size
SMALL_KW = dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type="prelu")


def _zoo(folder: Path) -> Path:
    """A model folder with one SRVGGNetCompact x4 of the realesr-general-x4v3 size (random weights: timing only)."""
    import restoration  # noqa: F401
    # isort: split
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    path = save_model(SRVGGNetCompact(**SMALL_KW), folder / "bench.safetensors", arch="SRVGGNetCompact",
                      arch_kwargs=SMALL_KW, scale=4, name="bench-x4")
    manifest = {"schema": 1, "default": "bench-x4", "models": {"bench-x4": {
        "file": path.name, "arch": "SRVGGNetCompact", "scale": 4, "description": "timing model"}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (Linux /proc), which a busy machine inflates far less
    than wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _floor() -> tuple[float, float]:
    """(wall s, cpu s) of a fresh ``python -c "import torch, gradio"``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "import torch, gradio"],
                            env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError("python -c 'import torch, gradio' failed")
    return wall, usage.ru_utime + usage.ru_stime


def _one_run(zoo: Path, tmp: Path, image: Path) -> dict[str, float]:
    from gradio_client import Client, handle_file

    port = _free_port()
    env = {**os.environ, "RESTORATION_MODELS_DIR": str(zoo), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "restoration", "demo", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out: dict[str, float] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "restoration demo ready" in line:
                out["ready line"] = time.perf_counter() - t0
                out["ready line, cpu s"] = _cpu_seconds(proc.pid)
                # the server's own breakdown: "(imports X s, build Y s, server Z s)"
                for part in ("imports", "build", "server"):
                    out[f"  of which {part}"] = float(line.split(f"{part} ")[1].split(" s")[0])
                break
        else:
            raise RuntimeError(f"demo exited with {proc.wait()} before it was ready")
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=60) as r:
            assert r.status == 200
        out["first page"] = time.perf_counter() - t0
        client = Client(url, verbose=False, download_files=str(tmp / "dl"))
        client.predict(handle_file(str(image)), "bench-x4", 4, 0, "cpu", api_name="/upscale")
        out["first result"] = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    import cv2
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="demo-bench-") as d:
        tmp = Path(d)
        zoo = _zoo(tmp)
        image = tmp / "in.png"
        cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        runs, floors, floor_cpus = [], [], []
        for _ in range(args.runs):
            wall, cpu = _floor()
            floors.append(wall)
            floor_cpus.append(cpu)
            runs.append(_one_run(zoo, tmp, image))
    floor, floor_cpu = statistics.median(floors), statistics.median(floor_cpus)
    print(f"{'case':40s} {'median s':>9s} {'x floor':>8s}")
    label = 'python -c "import torch, gradio" (floor)'
    print(f"{label:40s} {floor:9.2f} {1.0:8.2f}")
    print(f"{label[:-8] + ' cpu s':40s} {floor_cpu:9.2f} {1.0:8.2f}")
    for key in ("ready line", "  of which imports", "  of which build", "  of which server", "first page",
                "first result"):
        v = statistics.median(r[key] for r in runs)
        print(f"{'demo: ' + key:40s} {v:9.2f} {v / floor:8.2f}")
    v = statistics.median(r["ready line, cpu s"] for r in runs)
    print(f"{'demo: ready line, cpu s':40s} {v:9.2f} {v / floor_cpu:8.2f}  (x floor cpu s)")
    print(f"runs: {args.runs}; ready line per run: " + ", ".join(f"{r['ready line']:.2f}" for r in runs)
          + "; floor per run: " + ", ".join(f"{f:.2f}" for f in floors))


if __name__ == "__main__":
    main()
