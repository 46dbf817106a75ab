"""Training models on tiny configs: per-group losses + balancer over groups, bank tasks, GAN stage, state files."""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch
import yaml

from restoration.degradations import TaskBank
from restoration.errors import RestorationError
from restoration.train import prepare, train_pipeline

SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
         "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0, "kernel_range": [7, 7]}


def setup(tmp_path: Path, photos: dict, name: str, **over) -> tuple[dict, dict | None]:
    gt = tmp_path / "gt"
    gt.mkdir(exist_ok=True)
    for n, img in list(photos.items())[:2]:
        cv2.imwrite(str(gt / f"{n}.png"), img[100:148, 100:148, ::-1])
    opt = {
        "name": name, "model_type": "RealSRMTLModel", "scale": 4, "num_gpu": 0, "manual_seed": 1,
        "degradation": SPACE,
        "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(gt), "gt_size": 32,
                               "batch_size_per_gpu": 4, "tasks": {"mode": "random"}}},
        "network_g": {"type": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1, "upscale": 4},
        "train": {"optim_g": {"type": "Adam", "lr": 1e-3}, "total_iter": 2},
        "logger": {"print_freq": 1, "save_checkpoint_freq": 2},
    }
    for key, value in over.items():
        node = opt
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(opt))
    return prepare(str(path), root=tmp_path)


def test_groups_mode_logs_per_group_and_per_task_losses(tmp_path, photos):
    bank = TaskBank.sample(4, seed=0, space=SPACE).with_groups({"hard": [0, 1], "soft": [2]})
    bank.save(tmp_path / "bank.json")
    opt, resume = setup(tmp_path, photos, "groups", **{
        "datasets.train.tasks": {"mode": "groups", "bank": str(tmp_path / "bank.json")},
        "train.balancing": {"type": "mean", "over": "groups"}})
    model = train_pipeline(opt, resume)
    log = model.get_current_log()
    groups = [k for k in log if k.startswith("l_group/")]
    assert groups and set(groups) <= {"l_group/G0", "l_group/hard", "l_group/soft"}
    assert any(k.startswith("l_task/") for k in log)
    assert model.num_keys == 3 and model.task_stats[1].sum() == 2 * 4  # every sample of 2 iterations counted
    state = torch.load(tmp_path / "experiments/groups/training_states/2.state", weights_only=False)
    assert {"balancer", "rng", "task_sampler", "task_stats"} <= set(state["extra"])


def test_tasks_balancing_with_a_gradient_method(tmp_path, photos):
    bank = TaskBank.sample(3, seed=1, space=SPACE)
    bank.save(tmp_path / "bank.json")
    opt, resume = setup(tmp_path, photos, "pcg", **{
        "datasets.train.tasks": {"mode": "bank", "bank": str(tmp_path / "bank.json")},
        "train.balancing": {"type": "pcgrad", "over": "tasks"}})
    model = train_pipeline(opt, resume)
    assert model.num_keys == 4 and len(model.history) == 2
    assert all(torch.isfinite(torch.tensor(v)) for _, v in model.history)


def test_gan_stage_updates_generator_and_discriminator(tmp_path, photos):
    opt, resume = setup(tmp_path, photos, "gan", **{
        "model_type": "RealSRGANMTLModel", "network_d": {"type": "UNetDiscriminatorSN", "num_feat": 4},
        "train.optim_d": {"type": "Adam", "lr": 1e-3}, "train.pixel_opt": {"type": "L1Loss", "loss_weight": 1.0},
        "train.gan_opt": {"type": "GANLoss", "gan_type": "vanilla", "loss_weight": 0.1}, "train.ema_decay": 0.9,
        "queue_size": 8})
    model = train_pipeline(opt, resume)
    log = model.get_current_log()
    assert {"l_g_pix", "l_g_gan", "l_d_real", "l_d_fake"} <= set(log)
    models = tmp_path / "experiments/gan/models"
    assert (models / "net_d_2.pth").is_file() and (models / "net_g_2.pth").is_file()
    state = torch.load(tmp_path / "experiments/gan/training_states/2.state", weights_only=False)
    assert len(state["optimizers"]) == 2 and state["extra"]["queue"]["ptr"] == 8
    # resume picks up both networks
    opt2, resume2 = prepare(str(tmp_path / "gan.yml"), auto_resume=True, force_yml=["train:total_iter=3"],
                            root=tmp_path)
    assert opt2["path"]["pretrain_network_d"].endswith("net_d_2.pth")
    m2 = train_pipeline(opt2, resume2)
    assert [i for i, _ in m2.history] == [3]


def test_perceptual_loss_names_the_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from restoration.losses.perceptual_loss import PerceptualLossPerSample

    with pytest.raises(RestorationError, match=r"vgg19 ImageNet weights not found at .*vgg19-dcbb9e9d\.pth"):
        PerceptualLossPerSample({"type": "PerceptualLoss", "vgg_type": "vgg19"})
