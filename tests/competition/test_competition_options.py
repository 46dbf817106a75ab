"""The shipped Step C recipes (options/train/tg_*.yml) validate once the files they name exist."""
from __future__ import annotations

from pathlib import Path

import pytest

import restoration  # noqa: F401

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "options" / "train").glob("tg_*.yml")))
def test_tg_recipes_validate_and_use_the_groups_sampler(tmp_path, name):
    from restoration.degradations import TaskBank
    from restoration.options import load_options, read_options

    raw = read_options(ROOT / "options" / "train" / name)  # with the files it inherits from
    bank = raw["datasets"]["train"]["tasks"]["bank"]
    TaskBank.sample(3, seed=0).with_groups({"G1": [0], "G2": [2]}).save(tmp_path / bank)
    for key in ("dataroot_gt", "meta_info"):  # dataset files of a real run (paper recipe)
        for phase in ("train", "val"):
            value = raw["datasets"].get(phase, {}).get(key)
            if isinstance(value, str) and value != "offline":
                target = tmp_path / value
                if key == "meta_info":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text("x.png\n")
                else:
                    target.mkdir(parents=True, exist_ok=True)
    pretrain = raw["path"]["pretrain_network_g"]
    (tmp_path / pretrain).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / pretrain).write_bytes(b"weights of a real run")
    opt = load_options(ROOT / "options" / "train" / name, None, base=tmp_path)
    assert opt["datasets"]["train"]["tasks"]["mode"] == "groups"
    assert opt["path"]["pretrain_network_g"]  # Step C starts from the baseline
    assert opt["path"]["param_key_g"] == "params_ema"
