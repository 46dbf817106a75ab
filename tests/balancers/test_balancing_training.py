"""The real cpu_tiny training runs a few iterations with every balancer, chosen on the command line of the grouped
recipe (options/train/cpu_tiny_groups.yml --force_yml train:balancing:type=METHOD)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import restoration  # noqa: F401  (import hook before torchvision/basicsr)
from restoration.balancers.registry import available_balancers

ROOT = Path(__file__).resolve().parents[2]
METHODS = [m for m in available_balancers() if m != "mean"]
TINY = ["train:total_iter=2", "network_g:num_feat=4", "network_g:num_conv=1",
        "logger:use_tb_logger=false", "datasets:train:batch_size_per_gpu=6", "logger:print_freq=1",
        "val:val_freq=1000", "logger:save_checkpoint_freq=1000"]


@pytest.fixture(scope="module")
def grouped_bank_root(tmp_path_factory):
    """A folder holding the grouped bank the recipes point at (relative paths resolve against it)."""
    from restoration.degradations import TaskBank

    root = tmp_path_factory.mktemp("balancing_train")
    space = {"kernel_range": [7, 7], "sinc_prob": 0.0, "second_blur_prob": 0.0, "final_sinc_prob": 0.0}
    bank = TaskBank.sample(6, seed=0, space=space).with_groups({"g1": [0, 1], "g2": [2, 3], "g3": [4, 5]})
    bank.save(root / "experiments" / "tasks" / "cpu_tiny" / "bank_grouped.json")
    return root


GROUPED = ROOT / "options" / "train" / "cpu_tiny_groups.yml"


@pytest.mark.parametrize("method", METHODS)
def test_cpu_tiny_trains_with_balancer(method, grouped_bank_root, monkeypatch):
    from restoration.train import prepare, train_pipeline

    monkeypatch.chdir(grouped_bank_root)  # the recipe's relative bank path, as a user running from a checkout
    opt, resume = prepare(str(GROUPED), force_yml=TINY + [f"name=bal_{method}", f"train:balancing:type={method}"],
                          root=grouped_bank_root)
    assert opt["train"]["balancing"]["type"] == method
    model = train_pipeline(opt, resume)
    assert model.balancer.TYPE == method and model.num_keys == 4  # G0 + 3 bank groups
    losses = [v for _, v in model.history]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert any(k.startswith("l_group/") for k in model.log_dict)


@pytest.mark.parametrize("recipe", ["cpu_tiny_groups.yml", "realesrnet_mtl_x4_compact_groups.yml"])
def test_grouped_recipes_take_every_balancer_from_the_command_line(recipe):
    from restoration.balancers.registry import build_balancer
    from restoration.options import apply_overrides, read_options

    for m in METHODS:
        opt = apply_overrides(read_options(ROOT / "options" / "train" / recipe), [f"train:balancing:type={m}"])
        assert opt["datasets"]["train"]["tasks"]["mode"] == "groups"
        assert opt["train"]["balancing"] == {"type": m, "over": "groups"}
        assert build_balancer(opt["train"]["balancing"]).TYPE == m


@pytest.mark.parametrize("method", ["pcgrad", "graddrop"])
def test_cpu_tiny_trains_at_representation_level(method, grouped_bank_root, monkeypatch):
    """The model's forward runs inside ``balancer.watch``: the representation of SRVGGNetCompact is captured."""
    from restoration.train import prepare, train_pipeline

    monkeypatch.chdir(grouped_bank_root)
    opt, resume = prepare(str(GROUPED), force_yml=TINY + [f"name=bal_rep_{method}", f"train:balancing:type={method}",
                                                           "train:balancing:level=representation"],
                          root=grouped_bank_root)
    assert opt["train"]["balancing"]["level"] == "representation"
    model = train_pipeline(opt, resume)
    assert model.balancer.level == "representation"
    losses = [v for _, v in model.history]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
