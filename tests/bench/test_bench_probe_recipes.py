"""bench/probe_recipes.py on a toy model: both recipes of an option file timed on the same tasks, one table."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_probe_recipes_bench_times_both_recipes_and_writes_no_result(tmp_path):
    torch = pytest.importorskip("torch")
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.inference import save_model

    torch.manual_seed(0)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=2, upscale=4, act_type="prelu")
    save_model(SRVGGNetCompact(**kwargs), tmp_path / "base.safetensors", arch="SRVGGNetCompact",
               arch_kwargs=kwargs, scale=4, name="tiny")
    opt = {"name": "toy", "model": str(tmp_path / "base.safetensors"), "device": "cpu", "output": str(tmp_path / "exp"),
           "bank": {"path": str(tmp_path / "bank.json"), "sample": {"num_tasks": 6, "seed": 4,
                                                                    "space": {"kernel_range": [7, 9]}}},
           "gt": {"val_count": 2}, "select": {"ratio": 0.5},
           "probe": {"iters": 4, "window": 2, "batch_size": 2, "patch_size": 16, "degrade_size": 40, "lr": 1e-3,
                     "measure": "holdout", "eval_batch": 2, "execution": "loop"},
           "fast": {"iters": 4, "window": 1, "tune_last": 1, "pool": 2}}
    (tmp_path / "tasks.yml").write_text(yaml.safe_dump(opt))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "bench" / "probe_recipes.py"), "-opt", str(tmp_path / "tasks.yml"),
           "--tasks", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "3 tasks, torch threads 1, recipes alternated" in proc.stdout
    rows = {m[1]: [float(v) for v in m.groups()[1:]] for m in re.finditer(
        r"^(faithful|fast)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", proc.stdout, re.M)}
    assert set(rows) == {"faithful", "fast"}, proc.stdout
    assert rows["faithful"][2:] == [1.0, 1.0]  # the reference of both ratio columns
    assert rows["fast"][0] > 0 and rows["fast"][3] > 1  # the fast recipe costs less by its count
    assert not (tmp_path / "exp").exists()  # no probe result is written
