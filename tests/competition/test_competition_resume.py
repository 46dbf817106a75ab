"""Probe jobs: interrupted by SIGINT and SIGKILL then resumed (subprocess), shards merged, damaged tails cut."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import restoration  # noqa: F401

torch = pytest.importorskip("torch")

from restoration.competition.store import ShardWriter, parse_shard, read_results, shard_path  # noqa: E402
from restoration.errors import RestorationError  # noqa: E402

NUM_TASKS = 6




def make_experiment(tmp_path: Path, iters: int = 8, num_tasks: int = NUM_TASKS) -> Path:
    """A tiny model file and a probe option file in ``tmp_path``; returns the option file."""
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.competition.data import load_offline
    from restoration.inference import save_model, write_image

    gt = tmp_path / "gt"  # small crops of the offline photos: a subprocess reads them in no time
    if not gt.is_dir():
        gt.mkdir()
        train, val = load_offline(2)
        for name, img in train[:3] + val[:2]:
            write_image(gt / f"{len(list(gt.iterdir())):02d}_{name}.png", img[:96, :96])
    torch.manual_seed(0)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=2, upscale=4, act_type="prelu")
    save_model(SRVGGNetCompact(**kwargs), tmp_path / "base.safetensors", arch="SRVGGNetCompact", arch_kwargs=kwargs,
               scale=4, name="tiny")
    opt = {
        "name": "tiny", "model": str(tmp_path / "base.safetensors"), "device": "cpu",
        "bank": {"path": str(tmp_path / "bank.json"),
                 "sample": {"num_tasks": num_tasks, "seed": 1, "space": {"kernel_range": [7, 9]}}},
        "output": str(tmp_path / "exp"), "gt": {"folder": str(gt), "val_count": 2},
        "probe": {"iters": iters, "window": 2, "batch_size": 2, "patch_size": 16, "degrade_size": 40,
                  "lr": 1e-3, "execution": "loop"},
        "fast": {"iters": 2, "window": 1},
        "select": {"ratio": 0.5},
        "group": {"mode": "iterative", "thresholds": [1e9, -1e9], "iters": 3, "batch_size": 2, "patch_size": 16,
                  "degrade_size": 40, "val_size": 48, "val_per_image": 1},
    }
    path = tmp_path / "probe_tiny.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


def _records(path: Path) -> list[dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [r for r in lines if "header" not in r]


def _start(opt: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # preexec_fn: a suite run from a background job inherits an ignored SIGINT, and Python then never raises
    # KeyboardInterrupt in the child; restore the default so the interrupt reaches the probe
    return subprocess.Popen([sys.executable, "-m", "restoration", "tasks", "probe", "-opt", str(opt), *extra],
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _wait_for(path: Path, n: int, proc: subprocess.Popen, timeout: float = 150.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists() and len(_records(path)) >= n:
            return
        if proc.poll() is not None:
            return
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no {n} results in {path} after {timeout} s")


@pytest.mark.slow
def test_interrupt_then_resume_loses_and_redoes_nothing(tmp_path):
    opt = make_experiment(tmp_path, iters=10)
    results = shard_path(tmp_path / "exp" / "probe", (0, 1))

    proc = _start(opt)
    _wait_for(results, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    first = _records(results)
    assert 1 <= len(first) < NUM_TASKS, err
    assert proc.returncode == 130 and "--resume" in err

    proc = _start(opt, "--resume")
    _wait_for(results, len(first) + 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    second = _records(results)
    assert second[: len(first)] == first
    with open(results, "a") as f:  # a line half-written when the process died
        f.write('{"execution": "loop", "index": 9')

    proc = _start(opt, "--resume")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = _records(results)
    assert final[: len(second)] == second            # nothing finished before was redone or changed
    indices = [r["index"] for r in final]
    assert sorted(indices) == list(range(NUM_TASKS))  # nothing lost, nothing twice
    summary = json.loads((tmp_path / "exp" / "probe" / "summary.json").read_text())
    assert len(summary["indicator"]) == NUM_TASKS and len(summary["unsatisfactory"]) == NUM_TASKS // 2
    assert f"probed {NUM_TASKS - len(second)} task(s), {len(second)} already done" in out


def test_shards_merge_and_match_a_single_run(tmp_path):
    from restoration.competition.options import load_task_options
    from restoration.competition.probe_run import run_probe_job

    opt = load_task_options(make_experiment(tmp_path, iters=3, num_tasks=4))
    a = run_probe_job(opt, shard=(0, 2))
    assert a["summary"] is None and a["probed"] == 2
    b = run_probe_job(opt, shard=(1, 2))
    assert b["summary"] is not None and b["probed"] == 2
    merged = read_results(tmp_path / "exp" / "probe")
    assert sorted(merged) == [0, 1, 2, 3]
    single = load_task_options(make_experiment(tmp_path, iters=3, num_tasks=4),
                               {"output": str(tmp_path / "single"), "probe": {**opt["probe"], "execution": "vmap"}})
    ref = run_probe_job(single)["summary"]["indicator"]
    assert ref == pytest.approx(b["summary"]["indicator"], rel=1e-4)


def test_store_cuts_partial_line_and_checks_recipe(tmp_path):
    w = ShardWriter(tmp_path, (0, 1), {"fingerprint": "abc"}, resume=False)
    w.append({"index": 0, "indicator": 0.9})
    with open(w.path, "a") as f:
        f.write('{"index": 1, "indic')
    w2 = ShardWriter(tmp_path, (0, 1), {"fingerprint": "abc"}, resume=True)
    assert w2.done == {0}
    w2.append({"index": 1, "indicator": 0.8})
    assert sorted(read_results(tmp_path)) == [0, 1]
    with pytest.raises(RestorationError, match="different probe recipe"):
        ShardWriter(tmp_path, (0, 1), {"fingerprint": "xyz"}, resume=True)
    with pytest.raises(RestorationError, match="--resume"):
        ShardWriter(tmp_path, (0, 1), {"fingerprint": "abc"}, resume=False)


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    assert parse_shard(None) == (0, 1)
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(RestorationError, match="--shard"):
            parse_shard(bad)
