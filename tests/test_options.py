"""Option files are validated up front: one OptionError naming the key path, before anything is created."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from restoration.errors import OptionError
from restoration.options import apply_overrides, load_options

ROOT = Path(__file__).resolve().parents[1]


def base_opt(folder: Path) -> dict:
    return {
        "name": "t", "model_type": "RealSRMTLModel", "scale": 4, "num_gpu": 0,
        "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(folder), "gt_size": 96,
                               "batch_size_per_gpu": 2}},
        "network_g": {"type": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1, "upscale": 4},
        "train": {"total_iter": 2, "optim_g": {"type": "Adam", "lr": 2e-4}},
    }


def load(tmp_path: Path, opt: dict, overrides=None) -> dict:
    path = tmp_path / "opt.yml"
    path.write_text(yaml.safe_dump(opt))
    return load_options(path, overrides, base=tmp_path)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "gt").mkdir()
    return tmp_path / "gt"


def test_valid_file_loads(tmp_path, folder):
    opt = load(tmp_path, base_opt(folder))
    assert opt["train"]["optim_g"]["lr"] == 2e-4


def test_unknown_key_names_its_path(tmp_path, folder):
    opt = base_opt(folder)
    opt["train"]["optim_g"]["lr_rate"] = 1e-3
    with pytest.raises(OptionError, match=r"train\.optim_g\.lr_rate: unknown option"):
        load(tmp_path, opt)
    opt = base_opt(folder)
    opt["network_g"]["num_feats"] = 8  # checked against the architecture's arguments
    with pytest.raises(OptionError, match=r"network_g\.num_feats: not an argument of SRVGGNetCompact"):
        load(tmp_path, opt)


def test_float_read_as_string_is_a_type_error(tmp_path, folder):
    path = tmp_path / "opt.yml"
    text = yaml.safe_dump(base_opt(folder)).replace("lr: 0.0002", "lr: 2e-4")
    assert "lr: 2e-4" in text
    path.write_text(text)
    with pytest.raises(OptionError, match=r"train\.optim_g\.lr: expected float, got the string '2e-4'.*!!float"):
        load_options(path, base=tmp_path)


def test_missing_dataset_folder(tmp_path, folder):
    opt = base_opt(folder)
    opt["datasets"]["train"]["dataroot_gt"] = str(tmp_path / "nowhere")
    with pytest.raises(OptionError, match=r"datasets\.train\.dataroot_gt: folder .*nowhere does not exist"):
        load(tmp_path, opt)


def test_missing_pretrain_file(tmp_path, folder):
    opt = base_opt(folder)
    opt["path"] = {"pretrain_network_g": "experiments/x/net_g_5.pth"}
    with pytest.raises(OptionError, match=r"path\.pretrain_network_g: file .*net_g_5\.pth does not exist"):
        load(tmp_path, opt)


def test_patch_too_small_for_the_degradation_space(tmp_path, folder):
    opt = base_opt(folder)
    opt["datasets"]["train"]["gt_size"] = 64
    with pytest.raises(OptionError, match=r"datasets\.train\.gt_size: 64 px is too small"):
        load(tmp_path, opt)


def test_unknown_model_dataset_and_balancer_type(tmp_path, folder):
    for path, value, pattern in ((("model_type",), "RealESRGANModel2", "model_type: unknown model"),
                                 (("datasets", "train", "type"), "Nope", r"datasets\.train\.type: unknown dataset"),
                                 (("network_g", "type"), "Nope", r"network_g\.type: unknown architecture")):
        opt = base_opt(folder)
        node = opt
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        with pytest.raises(OptionError, match=pattern):
            load(tmp_path, opt)


def test_overrides_are_parsed_as_yaml(tmp_path, folder):
    opt = load(tmp_path, base_opt(folder), ["train:total_iter=7", "train.optim_g.lr=!!float 1e-3"])
    assert opt["train"]["total_iter"] == 7 and opt["train"]["optim_g"]["lr"] == 1e-3
    raw = {"a": {"b": 1}}
    assert apply_overrides(raw, ["a:c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}


@pytest.mark.parametrize("name", ["realesrnet_mtl_x4_compact", "realesrgan_mtl_x4_compact", "cpu_tiny", "cpu_default"])
def test_shipped_recipes_validate(tmp_path, name):
    """The GPU recipes validate once their data exists (a fake DF2K_OST tree here)."""
    meta = tmp_path / "datasets/DF2K_OST/meta_info"
    meta.mkdir(parents=True)
    (meta / "meta_info_sub.txt").write_text("a.png\n")
    pre = tmp_path / "experiments/realesrnet_mtl_x4_compact/models"
    pre.mkdir(parents=True)
    (pre / "net_g_1000000.pth").write_bytes(b"")
    opt = load_options(ROOT / "options/train" / f"{name}.yml", base=tmp_path)
    assert opt["scale"] == 4
