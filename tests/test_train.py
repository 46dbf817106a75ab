"""End-to-end training loop on tiny configs: loss goes down, exact resume, 2-process gloo DDP parity, CLI."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import restoration
from restoration.train import main, prepare, train_pipeline

# Noise-free, short-kernel space: fast, and the LQ of a sample does not depend on how samples are batched
# (noise realisations are drawn per rank), which the DDP parity check needs.
CHEAP_SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
               "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0,
               "kernel_range": [7, 7], "sinc_prob": 0.0}


def make_folder(root: Path, photos: dict, n: int = 3, size: int = 48) -> Path:
    folder = root / "gt"
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in list(photos.items())[:n]:
        h, w = img.shape[:2]
        crop = img[(h - size) // 2:(h - size) // 2 + size, (w - size) // 2:(w - size) // 2 + size]
        cv2.imwrite(str(folder / f"{name}.png"), crop[:, :, ::-1])
    return folder


def tiny_opt(folder: Path, name: str = "tiny", total: int = 4, batch: int = 2, **extra) -> dict:
    opt = {
        "name": name, "model_type": "RealSRMTLModel", "scale": 4, "num_gpu": 0, "manual_seed": 3,
        "degradation": dict(CHEAP_SPACE),
        "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(folder), "gt_size": 32,
                               "use_hflip": True, "use_rot": True, "batch_size_per_gpu": batch,
                               "num_worker_per_gpu": 0, "tasks": {"mode": "random"}}},
        "network_g": {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2,
                      "upscale": 4, "act_type": "prelu"},
        "train": {"ema_decay": 0.9, "optim_g": {"type": "Adam", "lr": 2e-3, "betas": [0.9, 0.99]},
                  "scheduler": {"type": "MultiStepLR", "milestones": [1000], "gamma": 0.5}, "total_iter": total,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0}},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 1000, "use_tb_logger": False},
    }
    for key, value in extra.items():
        opt[key] = value
    return opt


def write_opt(root: Path, opt: dict, fname: str = "opt.yml") -> Path:
    path = root / fname
    path.write_text(yaml.safe_dump(opt))
    return path


def losses(model) -> list[float]:
    return [v for _, v in model.history]


def test_loss_goes_down(tmp_path, photos):
    """One image, one task, no flips: every step sees the same pair, so the loss must fall."""
    from restoration.degradations import TaskBank

    folder = make_folder(tmp_path, photos, n=1, size=48)
    TaskBank.sample(1, seed=0, space=CHEAP_SPACE).save(tmp_path / "bank.json")
    opt = tiny_opt(folder, total=10, batch=2)
    opt["train"]["optim_g"]["lr"] = 5e-3
    opt["datasets"]["train"].update(gt_size=48, use_hflip=False, use_rot=False,
                                    tasks={"mode": "bank", "bank": str(tmp_path / "bank.json")})
    o, resume = prepare(str(write_opt(tmp_path, opt)), root=tmp_path)
    model = train_pipeline(o, resume)
    ls = losses(model)
    assert len(ls) == 10
    assert np.mean(ls[-3:]) < 0.8 * ls[0], ls
    exp = tmp_path / "experiments" / "tiny"
    assert (exp / "models" / "net_g_latest.pth").is_file()
    state = torch.load(exp / "models" / "net_g_latest.pth", weights_only=True)
    assert set(state) == {"params", "params_ema"}


def test_resume_gives_the_same_next_losses(tmp_path, photos):
    folder = make_folder(tmp_path, photos)
    full = tiny_opt(folder, name="full", total=6, queue_size=4)
    o, r = prepare(str(write_opt(tmp_path, full, "full.yml")), root=tmp_path)
    straight = losses(train_pipeline(o, r))

    part = tiny_opt(folder, name="part", total=6, queue_size=4)
    path = write_opt(tmp_path, part, "part.yml")
    o, r = prepare(str(path), root=tmp_path)
    first = losses(train_pipeline(o, r, stop_at=3))
    assert (tmp_path / "experiments/part/training_states/3.state").is_file()
    with pytest.raises(restoration.errors.OptionError, match="already exists"):
        prepare(str(path), root=tmp_path)  # never reuse or rename a folder silently
    o, r = prepare(str(path), auto_resume=True, root=tmp_path)
    assert r["iter"] == 3
    rest = losses(train_pipeline(o, r))
    assert first == straight[:3]
    assert rest == straight[3:], (rest, straight)


def test_resume_of_a_run_started_from_params_ema_loads_its_own_generator(tmp_path, photos):
    """``param_key_g: params_ema`` names the entry of the initial weights; a resume must load the run's own
    generator (``params``), not its moving average, or the losses after the resume change."""
    from restoration.models.nets import build_net

    folder = make_folder(tmp_path, photos)
    torch.manual_seed(0)
    start = build_net(tiny_opt(folder)["network_g"]).state_dict()
    torch.save({"params": {k: v + 0.01 for k, v in start.items()}, "params_ema": start}, tmp_path / "init.pth")
    runs = []
    for name, stop in (("full", None), ("part", 3)):
        opt = tiny_opt(folder, name=name, total=6)
        opt["path"] = {"pretrain_network_g": str(tmp_path / "init.pth"), "param_key_g": "params_ema"}
        path = write_opt(tmp_path, opt, f"{name}.yml")
        o, r = prepare(str(path), root=tmp_path)
        ls = losses(train_pipeline(o, r, stop_at=stop))
        if stop:
            o, r = prepare(str(path), auto_resume=True, root=tmp_path)
            ls += losses(train_pipeline(o, r))
        runs.append(ls)
    assert runs[0] == runs[1], runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, opt_path: str, root: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from restoration import dist as rdist

    o, r = prepare(opt_path, launcher="pytorch", root=root)
    model = train_pipeline(o, r)
    torch.save({k: v.detach().clone() for k, v in model.net_g.state_dict().items()},
               Path(root) / f"rank{rank}.pt")
    rdist.destroy()


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(tmp_path, photos):
    import torch.multiprocessing as mp

    folder = make_folder(tmp_path, photos)
    total = 3
    ddp = tiny_opt(folder, name="ddp", total=total, batch=2)
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(write_opt(tmp_path, ddp, "ddp.yml")), str(tmp_path)),
             nprocs=2, join=True)
    p0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    p1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    single = tiny_opt(folder, name="single", total=total, batch=4)  # same global batch
    o, r = prepare(str(write_opt(tmp_path, single, "single.yml")), root=tmp_path)
    ref = train_pipeline(o, r).net_g.state_dict()
    init = train_pipeline(*prepare(str(write_opt(tmp_path, dict(single, name="init", train=dict(
        single["train"], total_iter=1)), "init.yml")), root=tmp_path)).net_g.state_dict()
    for k in ref:
        assert torch.equal(p0[k], p1[k]), k
        torch.testing.assert_close(p0[k], ref[k], rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(ref[k], init[k]) for k in ref)  # training moved the weights


def test_cli_reports_bad_options_in_one_line(tmp_path, photos, capsys):
    folder = make_folder(tmp_path, photos, n=1)
    opt = tiny_opt(folder)
    opt["train"]["optim_g"]["lr"] = "2e-4"
    code = main(["-opt", str(write_opt(tmp_path, opt))])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "train.optim_g.lr" in err[0] and "!!float" in err[0]
    assert not (tmp_path / "experiments").exists()


def test_force_yml_overrides_are_yaml_values_not_code(tmp_path, photos):
    folder = make_folder(tmp_path, photos, n=1)
    path = write_opt(tmp_path, tiny_opt(folder))
    o, _ = prepare(str(path), force_yml=["train:total_iter=2", "train.ema_decay=0.5", "name=__import__('os')"],
                   root=tmp_path)
    assert o["train"]["total_iter"] == 2 and o["train"]["ema_decay"] == 0.5
    assert o["name"] == "__import__('os')"


def test_restoration_train_subcommand_and_debug_mode(tmp_path, photos, monkeypatch, capsys):
    from restoration.cli import main as cli_main

    folder = make_folder(tmp_path, photos, n=1)
    opt = tiny_opt(folder, total=1)
    opt["datasets"]["train"]["dataroot_gt"] = str(tmp_path / "missing")
    assert cli_main(["train", "-opt", str(write_opt(tmp_path, opt, "bad.yml"))]) == 2
    assert "datasets.train.dataroot_gt" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", "-opt", str(write_opt(tmp_path, tiny_opt(folder, total=1))), "--debug"]) == 0
    assert (tmp_path / "experiments/debug_tiny/models/net_g_latest.pth").is_file()


def test_failed_start_leaves_nothing_and_the_corrected_command_runs(tmp_path, photos, monkeypatch, capsys):
    """A balancer typo fails before any folder or work; the corrected command then needs no --auto_resume."""
    folder = make_folder(tmp_path, photos, n=1)
    path = write_opt(tmp_path, tiny_opt(folder, total=1))
    monkeypatch.chdir(tmp_path)
    assert main(["-opt", str(path), "--force_yml", "name=x", "train:balancing:type=pcgradd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.balancing.type: unknown balancer 'pcgradd'" in err[0]
    assert not (tmp_path / "experiments").exists()
    assert main(["-opt", str(path), "--force_yml", "name=x", "train:balancing:type=pcgrad"]) == 0
    assert (tmp_path / "experiments/x/models/net_g_latest.pth").is_file()


@pytest.mark.parametrize("auto_resume", [False, True])
def test_folder_without_checkpoint_is_reused_keeping_old_logs(tmp_path, photos, auto_resume):
    """A run killed before its first checkpoint leaves a log and option files only: not an experiment to protect."""
    folder = make_folder(tmp_path, photos, n=1)
    path = write_opt(tmp_path, tiny_opt(folder, name="k", total=2))
    exp = tmp_path / "experiments/k"
    (exp / "models").mkdir(parents=True)
    (exp / "training_states").mkdir()
    (exp / "train_k_20260101_000000.log").write_text("old log\n")
    (exp / "opt.yml").write_text("old copy\n")
    o, resume = prepare(str(path), auto_resume=auto_resume, root=tmp_path)
    assert resume is None
    train_pipeline(o, resume, str(path))
    assert (exp / "train_k_20260101_000000.log").read_text() == "old log\n"
    assert (exp / "models/net_g_latest.pth").is_file()
    with pytest.raises(restoration.errors.OptionError, match="already exists: pass --auto_resume"):
        prepare(str(path), root=tmp_path)  # now it has results
    with pytest.raises(restoration.errors.OptionError, match="no training state to resume"):
        prepare(str(path), auto_resume=True, root=tmp_path)  # finished without a training state


def test_resolved_options_are_stored_and_export_reads_them(tmp_path, photos, monkeypatch, capsys):
    """--force_yml changes the network: the experiment keeps the resolved options, and export builds from them."""
    from safetensors import safe_open

    from restoration.cli import main as cli_main
    from restoration.options import RESOLVED_OPTIONS

    folder = make_folder(tmp_path, photos, n=1)
    path = write_opt(tmp_path, tiny_opt(folder, name="r", total=1))
    monkeypatch.chdir(tmp_path)
    assert main(["-opt", str(path), "--force_yml", "network_g:num_feat=6", "train:total_iter=2"]) == 0
    exp = tmp_path / "experiments/r"
    resolved = yaml.safe_load((exp / RESOLVED_OPTIONS).read_text())
    assert resolved["network_g"]["num_feat"] == 6 and resolved["train"]["total_iter"] == 2
    assert "rank" not in resolved and "experiments_root" not in (resolved.get("path") or {})
    assert yaml.safe_load((exp / "opt.yml").read_text())["network_g"]["num_feat"] == 8  # the original, as given
    out = tmp_path / "r.safetensors"
    capsys.readouterr()
    assert cli_main(["export", "--checkpoint", str(exp / "models/net_g_latest.pth"), "--out", str(out)]) == 0, \
        capsys.readouterr().err
    with safe_open(str(out), "pt") as f:
        assert '"num_feat": 6' in f.metadata()["arch_kwargs"]


def test_curves_file_and_plot_follow_validation_and_resume(tmp_path, photos):
    from restoration.train_log import read_curves

    folder = make_folder(tmp_path, photos, n=3, size=48)
    opt = tiny_opt(folder, name="c", total=6)
    opt["datasets"]["val"] = {"name": "v", "type": "DegradedValDataset", "dataroot_gt": str(folder), "crop_size": 32,
                              "tasks": {"num_tasks": 1, "seed": 0}}
    opt["val"] = {"val_freq": 3, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 4,
                                                      "test_y_channel": True}}}
    opt["logger"].update(print_freq=1, save_checkpoint_freq=2)
    path = write_opt(tmp_path, opt)
    o, r = prepare(str(path), root=tmp_path)
    train_pipeline(o, r, stop_at=4)
    exp = tmp_path / "experiments/c"
    assert (exp / "curves.png").is_file()
    recs = read_curves(exp / "curves.jsonl")
    assert [x["iter"] for x in recs if x["kind"] == "train"] == [1, 2, 3, 4]
    val = [x for x in recs if x["kind"] == "val"]
    assert val[0]["iter"] == 3 and "psnr" in val[0]["metrics"] and "psnr" in val[0]["bicubic"]
    (exp / "curves.png").unlink()
    o, r = prepare(str(path), auto_resume=True, root=tmp_path)
    assert r["iter"] == 4
    train_pipeline(o, r)
    recs = read_curves(exp / "curves.jsonl")
    assert [x["iter"] for x in recs if x["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [x["iter"] for x in recs if x["kind"] == "val"] == [3, 6]
    assert (exp / "curves.png").is_file()


def test_eta_is_right_after_a_resume_and_across_pauses():
    from restoration.train_log import Clock, format_eta

    clock = Clock(total=1000)  # resumed at 900: only this process's iterations count
    for _ in range(10):
        clock.add_iteration(0.5)
    assert clock.eta(910, {}) == pytest.approx(90 * 0.5)
    clock.add_pause("validation", 20.0)  # one validation every 50 iterations: 950 and 1000 are still to come
    assert clock.eta(910, {"validation": 50}) == pytest.approx(90 * 0.5 + 2 * 20.0)
    assert clock.eta(1000, {"validation": 50}) == 0.0 and format_eta(-3) == "0:00:00"


def test_progress_line_after_resume_shows_a_positive_eta(tmp_path, photos, caplog):
    import logging

    folder = make_folder(tmp_path, photos, n=1)
    opt = tiny_opt(folder, name="e", total=6)
    opt["logger"].update(print_freq=1, save_checkpoint_freq=3)
    path = write_opt(tmp_path, opt)
    o, r = prepare(str(path), root=tmp_path)
    train_pipeline(o, r, stop_at=3)
    o, r = prepare(str(path), auto_resume=True, root=tmp_path)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="basicsr"):
        logging.getLogger("basicsr").addHandler(caplog.handler)
        try:
            train_pipeline(o, r)
        finally:
            logging.getLogger("basicsr").removeHandler(caplog.handler)
    lines = [m for m in caplog.messages if "[eta:" in m]
    assert len(lines) == 3 and not any("day" in m for m in lines), lines  # iterations 4, 5, 6 of the resumed run


def test_tensorboard_logger_and_command_work(tmp_path, photos):
    """The event files are written, and the venv's `tensorboard` command starts (it imports pkg_resources)."""
    import subprocess
    import sys

    folder = make_folder(tmp_path, photos, n=1)
    opt = tiny_opt(folder, name="tb", total=2)
    opt["logger"]["use_tb_logger"] = True
    o, r = prepare(str(write_opt(tmp_path, opt)), root=tmp_path)
    train_pipeline(o, r)
    assert list((tmp_path / "experiments/tb/tb_logger").glob("events.out.tfevents.*"))
    tb = Path(sys.executable).with_name("tensorboard")
    if not tb.is_file():
        pytest.skip("no tensorboard command next to this Python")
    out = subprocess.run([str(tb), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage" in out.stdout.lower(), out.stderr[-1500:]


def test_a_fresh_process_logs_progress_to_the_log_file_and_stderr(tmp_path, photos):
    """The datasets are built before the log file exists: the progress lines must still reach both."""
    import subprocess
    import sys

    folder = make_folder(tmp_path, photos, n=1)
    write_opt(tmp_path, tiny_opt(folder, name="fresh", total=2))
    out = subprocess.run([sys.executable, "-m", "restoration.train", "-opt", "opt.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    log = next((tmp_path / "experiments/fresh").glob("train_fresh_*.log")).read_text()
    assert "iter:       2" in log and "Torch threads" in log and "iter:       2" in out.stderr


def test_plot_command_redraws_the_curves(tmp_path, capsys, monkeypatch):
    import json

    from restoration.cli import main as cli_main

    exp = tmp_path / "experiments/p"
    exp.mkdir(parents=True)
    recs = [{"kind": "train", "iter": i, "values": {"l_pix": 1.0 / i, "l_g_total": 1.0 / i}} for i in range(1, 5)]
    recs.append({"kind": "val", "iter": 4, "dataset": "v", "metrics": {"psnr": 25.0}, "bicubic": {"psnr": 24.0}})
    (exp / "curves.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"torn')
    monkeypatch.chdir(tmp_path)
    assert cli_main(["plot", "p"]) == 0 and (exp / "curves.png").stat().st_size > 1000
    assert cli_main(["plot", "nothing"]) == 2
    assert "curves.jsonl does not exist" in capsys.readouterr().err


def test_restoration_train_asks_openmp_to_sleep_before_torch_loads(monkeypatch):
    """Spinning OpenMP threads make a second thread 4-15x slower on a busy 2-core machine (measured)."""
    import argparse

    import restoration.train as train_module
    from restoration.cli import train as cli_train

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    seen = {}
    monkeypatch.setattr(train_module, "run", lambda args: seen.setdefault("policy", os.environ.get("OMP_WAIT_POLICY")))
    cli_train.run(argparse.Namespace())
    assert seen["policy"] == "PASSIVE"


def test_export_reads_the_network_an_option_file_inherits(tmp_path, photos, monkeypatch, capsys):
    """A second-stage recipe names only what changes (``_base_``): export finds the network in the base file."""
    from safetensors import safe_open

    from restoration.cli import main as cli_main

    folder = make_folder(tmp_path, photos, n=1)
    base = write_opt(tmp_path, tiny_opt(folder, name="b", total=1))
    child = tmp_path / "child.yml"
    child.write_text(f"_base_: {base.name}\nname: child\n")
    monkeypatch.chdir(tmp_path)
    assert main(["-opt", str(base), "--force_yml", "train:total_iter=1"]) == 0
    out = tmp_path / "c.safetensors"
    capsys.readouterr()
    ckpt = tmp_path / "experiments/b/models/net_g_latest.pth"
    assert cli_main(["export", "--checkpoint", str(ckpt), "--opt", str(child), "--out", str(out)]) == 0, \
        capsys.readouterr().err
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["arch"] == yaml.safe_load(base.read_text())["network_g"]["type"]
        assert '"experiment": "child"' in f.metadata()["extra"]
