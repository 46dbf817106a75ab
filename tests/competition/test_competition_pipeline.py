"""The whole TGSR pipeline at toy scale through the CLI and the training engine:
probe (Step A) → group (Step B) → TG fine-tune with the groups sampler (Step C) → report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import restoration  # noqa: F401

torch = pytest.importorskip("torch")

ROOT = Path(__file__).parents[2]




@pytest.mark.slow
def test_probe_group_tg_finetune_report(tmp_path, monkeypatch, capsys):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.cli import main as cli
    from restoration.degradations import TaskBank
    from restoration.inference import save_model

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=2, upscale=4, act_type="prelu")
    save_model(SRVGGNetCompact(**kwargs), "base.safetensors", arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4,
               name="tiny")
    space = {"kernel_range": [7, 9]}
    tasks_opt = {
        "name": "toy", "model": "base.safetensors", "device": "cpu", "output": "exp",
        "bank": {"path": "bank.json", "sample": {"num_tasks": 5, "seed": 4, "space": space}},
        "gt": {"val_count": 2}, "select": {"ratio": 0.6},
        "probe": {"iters": 3, "window": 2, "batch_size": 2, "patch_size": 16, "degrade_size": 40, "lr": 1e-3},
        "group": {"mode": "iterative", "thresholds": [1e9, -1e9], "iters": 3, "batch_size": 2, "patch_size": 16,
                  "degrade_size": 40, "val_size": 48, "val_per_image": 1},
    }
    Path("tasks.yml").write_text(yaml.safe_dump(tasks_opt))
    assert cli(["tasks", "probe", "-opt", "tasks.yml", "--execution", "vmap"]) == 0
    assert cli(["tasks", "group", "-opt", "tasks.yml"]) == 0
    bank = TaskBank.load("exp/bank_grouped.json")
    assert list(bank.groups) == ["G2"] and len(bank.groups["G2"]) == 3

    # Step C: the shipped TG recipe, shrunk (toy network, 3 iterations, no validation)
    tg = yaml.safe_load((ROOT / "options" / "train" / "tg_cpu_tiny.yml").read_text())
    assert tg["datasets"]["train"]["tasks"]["mode"] == "groups"
    tg["name"] = "tg_toy"
    tg["degradation"] = space
    tg["network_g"] = {"type": "SRVGGNetCompact", **kwargs}
    tg["path"]["pretrain_network_g"] = str(tmp_path / "base.safetensors")
    tg["path"]["param_key_g"] = "params"
    tg["datasets"]["train"].update(gt_size=40, batch_size_per_gpu=2,
                                   tasks={"mode": "groups", "bank": str(tmp_path / "exp" / "bank_grouped.json")})
    tg["datasets"].pop("val", None)
    tg.pop("val", None)
    tg["train"].update(total_iter=3, scheduler={"type": "MultiStepLR", "milestones": [100], "gamma": 0.5})
    tg["logger"] = {"print_freq": 1, "save_checkpoint_freq": 100, "use_tb_logger": False}
    Path("tg.yml").write_text(yaml.safe_dump(tg))
    assert cli(["train", "-opt", "tg.yml"]) == 0
    tuned = tmp_path / "experiments" / "tg_toy" / "models" / "net_g_latest.pth"
    assert tuned.is_file()
    from restoration.inference import load_model

    net, _ = load_model(tuned)
    base, _ = load_model(tmp_path / "base.safetensors")
    moved = max((a - b).abs().max().item() for a, b in zip(net.state_dict().values(), base.state_dict().values()))
    assert moved > 0  # the TG fine-tune started from the baseline and changed it

    assert cli(["tasks", "report", "--bank", "exp/bank_grouped.json", "--out", "report"]) == 0
    summary = json.loads(Path("report/report.json").read_text())
    assert summary["groups"]["G2"]["size"] == 3 and Path("report/report.png").stat().st_size > 1000
    # resuming a finished step redoes nothing
    assert cli(["tasks", "probe", "-opt", "tasks.yml", "--resume"]) == 0
    assert "probed 0 task(s), 5 already done" in capsys.readouterr().out
    assert cli(["tasks", "group", "-opt", "tasks.yml", "--resume"]) == 0
    assert cli(["tasks", "report", "--bank", "exp/bank_grouped.json", "--out", "report", "--resume"]) == 0
    assert "up to date" in capsys.readouterr().out
