"""Every SR training goes through one TrainStep: the same seed gives the same losses through ``restoration train``
(the BasicSR model), the probe (loop and batched), the group fine-tune and a TrainStep built by hand."""
from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
import torch
import yaml

import restoration  # noqa: F401  (torchvision compat hook before basicsr)
from restoration.balancers.base import MeanBalancer
from restoration.balancers.weighting import EW
from restoration.competition.probe import ProbeConfig, probe_loop, probe_source, probe_trace, probe_vmap
from restoration.competition.scoring import finetune, finetune_step
from restoration.degradations import TaskBank
from restoration.training import Batch, Ema, PixelLoss, TrainStep
from restoration.training.sources import MixedTaskSource

SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
         "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0, "kernel_range": [7, 7],
         "sinc_prob": 0.0}
NET = {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_conv": 1, "upscale": 4,
       "act_type": "prelu"}


@pytest.fixture(scope="module")
def patches(tiny_patches):
    return tiny_patches


@pytest.fixture(scope="module")
def base(frozen_compact):
    return frozen_compact


def _hand_built(base: torch.nn.Module, lr: float, betas, balancer, num_keys: int) -> TrainStep:
    net = copy.deepcopy(base).train()
    for p in net.parameters():
        p.requires_grad_(True)
    return TrainStep(net, torch.optim.Adam(net.parameters(), lr=lr, betas=betas), PixelLoss(), balancer, num_keys)


def test_restoration_train_losses_are_those_of_a_train_step(tmp_path, photos, one_torch_thread):
    """``restoration train`` (prepare + train_pipeline, RealSRMTLModel, EMA) against a TrainStep fed the same
    synthesised batches: identical losses, weights and EMA weights."""
    from basicsr.models import build_model

    from restoration.models.nets import build_net
    from restoration.threads import torch_threads
    from restoration.train import _loaders, prepare, train_pipeline

    gt = tmp_path / "gt"
    gt.mkdir()
    for name, img in list(photos.items())[:2]:
        cv2.imwrite(str(gt / f"{name}.png"), img[100:148, 100:148, ::-1])
    torch.manual_seed(5)
    init = build_net(NET)
    torch.save({"params": init.state_dict()}, tmp_path / "init.pth")
    # one thread on both paths: a convolution's float sums depend on how many threads share them
    opt = {"name": "tiny", "model_type": "RealSRMTLModel", "scale": 4, "num_gpu": 0, "manual_seed": 2, "num_threads": 1,
           "degradation": SPACE, "path": {"pretrain_network_g": str(tmp_path / "init.pth")},
           "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(gt), "gt_size": 32,
                                  "batch_size_per_gpu": 3, "tasks": {"mode": "random"}}},
           "network_g": NET, "train": {"optim_g": {"type": "Adam", "lr": 2e-3, "betas": [0.9, 0.99]},
                                       "ema_decay": 0.9, "total_iter": 4},
           "logger": {"print_freq": 100, "save_checkpoint_freq": 100}}
    (tmp_path / "tiny.yml").write_text(yaml.safe_dump(opt))
    o, resume = prepare(str(tmp_path / "tiny.yml"), root=tmp_path)
    model = train_pipeline(o, resume)
    through_train = [v for _, v in model.history]
    assert [i for i, _ in model.history] == [1, 2, 3, 4]

    # the same batch stream (data loader + the model's LQ synthesis), trained by a TrainStep built here
    o2, _ = prepare(str(tmp_path / "tiny.yml"), force_yml=["name=synth"], root=tmp_path)
    train_set, loader, _ = _loaders(o2, 0)
    synth = build_model(o2)
    synth.attach_training_data(train_set)
    net, average = build_net(NET), build_net(NET)
    net.load_state_dict(init.state_dict())
    average.load_state_dict(init.state_dict())
    step = TrainStep(net, torch.optim.Adam(net.parameters(), lr=2e-3, betas=(0.9, 0.99)), PixelLoss(),
                     MeanBalancer(), ema=Ema(net, average, 0.9))
    direct = []
    with torch_threads(1):
        for _, data in zip(range(4), loader):
            synth.feed_data(data)
            direct.append(step.step(Batch(synth.lq, synth.gt)).loss)
    assert direct == through_train
    for a, b in zip(net.state_dict().values(), model.net_g.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(average.state_dict().values(), model.net_g_ema.state_dict().values()):
        assert torch.equal(a, b)


def _cfg(**kw) -> ProbeConfig:
    return ProbeConfig(**{**dict(iters=4, window=2, batch_size=2, patch_size=16, degrade_size=40, lr=1e-3, seed=0,
                                 measure="after"), **kw})


@pytest.mark.parametrize("tune_last", [0, 2])
def test_probe_loop_and_vmap_reproduce_the_train_step_losses(base, patches, tune_last, one_torch_thread):
    cfg = _cfg(tune_last=tune_last)
    bank = TaskBank.sample(3, seed=3, space={"kernel_range": [7, 9]})
    loop = probe_trace(base, [bank[0]], patches, cfg)[0]
    batched = probe_trace(base, list(bank), patches, cfg, batched=True)
    # by hand: a copy of the network (the probe's tuned layers), Adam, L1, the probe's task source
    from restoration.competition.probe import tuned_names

    step = _hand_built(base, cfg.lr, cfg.betas, EW({"reduction": "sum"}), 1)
    keep = tuned_names(base, tune_last)
    for n, p in step.net.named_parameters():
        p.requires_grad_(n in keep)
    step.optimizer = torch.optim.Adam([p for p in step.net.parameters() if p.requires_grad], lr=cfg.lr,
                                      betas=cfg.betas)
    source = probe_source(patches, [bank[0]], cfg)
    by_hand = [step.step(source(t)).loss for t in range(cfg.iters)]
    assert loop.losses == pytest.approx(by_hand, rel=1e-6)  # float32 rounding of the per-key mean at most
    assert loop.ratios == probe_loop(base, bank[0], patches, cfg)
    assert len(loop.losses) == cfg.iters and len(loop.ratios) == cfg.window
    # the batched probe gives every task the losses of its own single-task run
    for task, trace in zip(bank, batched):
        alone = probe_trace(base, [task], patches, cfg)[0]
        np.testing.assert_allclose(trace.losses, alone.losses, rtol=1e-5)
        np.testing.assert_allclose(trace.ratios, alone.ratios, rtol=1e-5)
    assert [t.ratios for t in batched] == probe_vmap(base, list(bank), patches, cfg)
    assert batched[0].losses[-1] < batched[0].losses[0] or batched[1].losses[-1] < batched[1].losses[0]


def test_group_finetune_reproduces_the_train_step(base, patches, one_torch_thread):
    bank = TaskBank.sample(3, seed=4, space={"kernel_range": [7, 9]})
    tasks = list(bank)
    step = _hand_built(base, 1e-3, (0.9, 0.99), MeanBalancer(), len(tasks))
    source = MixedTaskSource(patches, tasks, batch_size=4, seed=11)
    by_hand = [step.step(source(t)).loss for t in range(5)]
    ft_step, ft_source = finetune_step(base, tasks, patches, batch_size=4, lr=1e-3, seed=11)
    seen: list[float] = []
    ft_step.run(ft_source, 5, on_step=lambda t, r: seen.append(r.loss))
    assert seen == by_hand
    counted: list[int] = []
    tuned = finetune(base, tasks, patches, 5, batch_size=4, lr=1e-3, seed=11, progress=counted.append)
    assert counted == [1, 2, 3, 4, 5] and not tuned.training
    for a, b in zip(tuned.state_dict().values(), step.net.state_dict().values()):
        assert torch.equal(a, b)
    assert any(not torch.equal(a, c) for a, c in zip(tuned.state_dict().values(), base.state_dict().values()))
    assert all(not p.requires_grad for p in base.parameters())
