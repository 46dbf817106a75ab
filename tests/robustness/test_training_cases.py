"""Training: option values, experiment folders and checkpoints.

Each case runs ``restoration train`` (in process, or as a subprocess where the process itself is killed) on a
tiny configuration. Option problems must fail before anything is created; checkpoint problems must leave the
previous checkpoint intact and no temp file behind.
"""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import pytest
import torch
import yaml
from robust_cases import Case, params

SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
         "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0, "kernel_range": [7, 7],
         "sinc_prob": 0.0}


def tiny(folder: Path, name: str = "t", total: int = 4, ckpt: int = 2) -> dict:
    return {
        "name": name, "model_type": "RealSRMTLModel", "scale": 4, "num_gpu": 0, "manual_seed": 5, "num_threads": 1,
        "degradation": dict(SPACE),
        "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(folder), "gt_size": 32,
                               "use_hflip": True, "use_rot": True, "batch_size_per_gpu": 2, "num_worker_per_gpu": 0,
                               "tasks": {"mode": "random"}}},
        "network_g": {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2,
                      "upscale": 4, "act_type": "prelu"},
        "train": {"ema_decay": 0.9, "optim_g": {"type": "Adam", "lr": 2e-3, "betas": [0.9, 0.99]},
                  "total_iter": total, "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": ckpt, "use_tb_logger": False},
    }


@pytest.fixture()
def work(tmp_path, photos, monkeypatch) -> Path:
    """A working folder (the current directory) with 3 GT crops in gt/ and an option file opt.yml."""
    gt = tmp_path / "work" / "gt"
    gt.mkdir(parents=True)
    for name, img in list(photos.items())[:3]:
        h, w = img.shape[:2]
        cv2.imwrite(str(gt / f"{name}.png"), img[h // 2 - 24:h // 2 + 24, w // 2 - 24:w // 2 + 24, ::-1])
    (tmp_path / "work" / "opt.yml").write_text(yaml.safe_dump(tiny(gt)))
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path / "work"


# ------------------------------------------------------------------------------------------------ bad options
ABS = f"/tmp/restoration-escape-{uuid.uuid4().hex[:8]}"
OPTION_CASES = [
    Case("train-name-escapes-up-two", "CLI", "name: ../../etc/x", "refused at validation, nothing created",
         data={"set": "name=../../etc/x", "key": "name:", "escape": "../../etc/x"}),
    Case("train-name-escapes-up-one", "CLI", "name: ../x", "refused at validation, nothing created",
         data={"set": "name=../x", "key": "name:", "escape": "../x"}),
    Case("train-name-absolute", "CLI", "name: an absolute path", "refused at validation, nothing created",
         data={"set": f"name={ABS}", "key": "name:", "escape": ABS}),
    Case("train-name-empty", "CLI", 'name: "" (experiments/ itself would be the experiment)',
         "refused at validation, nothing created", data={"set": 'name=""', "key": "name:"}),
    Case("train-lr-nan", "CLI", "train.optim_g.lr: .nan", "refused at validation: must be a finite number",
         data={"set": "train:optim_g:lr=.nan", "key": "train.optim_g.lr: must be a finite number"}),
    Case("train-batch-zero", "CLI", "datasets.train.batch_size_per_gpu: 0", "refused at validation: must be >= 1",
         data={"set": "datasets:train:batch_size_per_gpu=0", "key": "batch_size_per_gpu: must be >= 1"}),
    Case("train-total-iter-negative", "CLI", "train.total_iter: -1 (exited 0 with an untrained model)",
         "refused at validation: must be >= 1", data={"set": "train:total_iter=-1", "key": "total_iter: must be >= 1"}),
    Case("train-balancer-typo", "CLI", "train.balancing.type: pcgradd", "refused before any folder or data is made",
         data={"set": "train:balancing:type=pcgradd", "key": "train.balancing.type: unknown balancer"}),
    Case("train-network-bad-value", "CLI", "network_g.num_feat: -3", "refused at validation (network built on meta)",
         data={"set": "network_g:num_feat=-3", "key": "network_g: cannot build SRVGGNetCompact"}),
]


@pytest.mark.parametrize("case", params(OPTION_CASES))
def test_bad_option_is_refused_before_anything_is_created(case, work, cli):
    res = cli("train", "-opt", "opt.yml", "--force_yml", case.data["set"])
    res.one_error_line("train", case.data["key"])
    assert not (work / "experiments").exists()
    if "escape" in case.data:  # where BasicSR would have made the experiment (and copied the YAML)
        assert not (work / "experiments" / case.data["escape"]).resolve().exists()


# ------------------------------------------------------------------------------------------------ checkpoints
def _empty_state(work: Path, cli) -> None:
    assert cli("train", "-opt", "opt.yml", "--force_yml", "train:total_iter=2").rc == 0
    states = work / "experiments/t/training_states"
    (work / "experiments/t/models/net_g_4.pth").write_bytes((work / "experiments/t/models/net_g_2.pth").read_bytes())
    (states / "4.state").write_bytes(b"")
    res = cli("train", "-opt", "opt.yml", "--auto_resume")
    res.one_error_line("train", "4.state", "empty")


def _disk_full(work: Path, cli, monkeypatch) -> None:
    real_save = torch.save

    def full_disk(obj, f, *a, **kw):
        if "_4" in Path(f).name or "4.state" in Path(f).name:  # checkpoint 4: the disk fills mid-write
            Path(f).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", full_disk)
    res = cli("train", "-opt", "opt.yml", "--force_yml", "train:total_iter=6")
    res.one_error_line("train", "No space left on device", "net_g_4.pth")
    exp = work / "experiments/t"
    assert not [p for p in exp.rglob("*") if p.name.endswith(".tmp")]
    assert not (exp / "models/net_g_4.pth").exists() and not (exp / "training_states/4.state").exists()
    monkeypatch.setattr(torch, "save", real_save)
    assert set(torch.load(exp / "models/net_g_2.pth", weights_only=True)) == {"params", "params_ema"}
    res = cli("train", "-opt", "opt.yml", "--force_yml", "train:total_iter=6", "--auto_resume")  # space is back
    assert res.rc == 0, res.err
    assert (exp / "models/net_g_latest.pth").is_file()


CHECKPOINT_CASES = [
    Case("train-resume-empty-state", "CLI", "--auto_resume with a zero-byte latest training state",
         "one error line naming the file (was an IndexError inside the error handler)", run=_empty_state),
    Case("train-checkpoint-disk-full", "CLI", "the disk fills while a checkpoint is written (ENOSPC)",
         "one error line; temp file removed; the previous checkpoint intact; --auto_resume continues from it",
         run=_disk_full),
]


@pytest.mark.parametrize("case", params(CHECKPOINT_CASES))
def test_checkpoint_problem_is_one_line_and_keeps_the_previous_one(case, work, cli, monkeypatch):
    if case.id == "train-checkpoint-disk-full":
        case.run(work, cli, monkeypatch)
    else:
        case.run(work, cli)


# ------------------------------------------------------------------------------------------------ kill -9
def _train_process(work: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "restoration.train", "-opt", "opt.yml", *extra], cwd=work,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_then_resume(work: Path) -> None:
    total, ckpt = 60, 10
    over = ["--force_yml", f"train:total_iter={total}", f"logger:save_checkpoint_freq={ckpt}"]
    straight = _train_process(work, *over, "name=straight")
    assert straight.wait(timeout=600) == 0, straight.stderr.read()[-2000:]
    proc = _train_process(work, *over, "name=killed")
    states = work / "experiments/killed/training_states"
    deadline = time.monotonic() + 300
    while not (states / f"{ckpt}.state").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (work / "experiments/killed/models/net_g_latest.pth").exists()
    resumed = _train_process(work, *over, "name=killed", "--auto_resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    a = torch.load(work / "experiments/straight/models/net_g_latest.pth", weights_only=True)
    b = torch.load(work / "experiments/killed/models/net_g_latest.pth", weights_only=True)
    for key in ("params", "params_ema"):
        assert a[key].keys() == b[key].keys()
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)


KILL_CASES = [
    Case("train-sigkill-then-auto-resume", "CLI", "kill -9 mid-training, then the same command with --auto_resume",
         "final weights bit-identical to an uninterrupted run", run=_kill_then_resume),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", params(KILL_CASES))
def test_killed_run_resumes_to_identical_weights(case, work):
    case.run(work)


CASES = OPTION_CASES + CHECKPOINT_CASES + KILL_CASES
