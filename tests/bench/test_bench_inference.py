"""bench/inference.py at tiny size: every float32 path runs in its own process and the table says how they compare."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_inference_bench_quick_run():
    pytest.importorskip("realesrgan", reason="Real-ESRGAN's package (make assets installs it)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "inference.py"), "--quick", "--threads", "1"],
                          capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    limit = re.search(r"-> ([\d.]+) GFLOP/s", out)
    assert limit and float(limit.group(1)) > 0
    rows = {m.group(1): m.groups() for m in re.finditer(
        r"^\S+\s+32 (ours|realesrganer)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)", out, re.M)}
    assert set(rows) == {"ours", "realesrganer"}, out
    assert float(rows["realesrganer"][2]) == 1.0  # the reference of the ratio column
    for path, mps, _ratio, rss, diff, gflops in rows.values():
        assert float(mps) > 0 and 0 < float(rss) < 4 and float(gflops) > 0
        assert int(diff) <= 1, (path, diff)  # RealESRGANer's output is ours to rounding
