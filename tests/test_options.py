"""Option files are validated up front: one OptionError naming the key path, before anything is created."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from restoration.errors import OptionError
from restoration.options import apply_overrides, load_options, read_options

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
    with pytest.raises(OptionError, match=r"train\.optim_g\.lr_rate: unknown key \(known keys: betas, eps"):
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
    message = r"opt\.yml: train\.optim_g\.lr: expected a number, got '2e-4' \(.*!!float 2e-4"
    with pytest.raises(OptionError, match=message):
        load_options(path, base=tmp_path)


def test_missing_dataset_folder(tmp_path, folder):
    opt = base_opt(folder)
    opt["datasets"]["train"]["dataroot_gt"] = str(tmp_path / "nowhere")
    with pytest.raises(OptionError, match=r"datasets\.train\.dataroot_gt: folder .*nowhere does not exist"):
        load(tmp_path, opt)


def test_a_list_of_task_banks_is_checked_file_by_file(tmp_path, folder):
    from restoration.degradations import TaskBank

    TaskBank.sample(2, seed=0).save(tmp_path / "light.json")
    opt = base_opt(folder)
    opt["datasets"]["train"]["tasks"] = {"mode": "groups", "bank": [str(tmp_path / "light.json")],
                                         "group_weights": {"light": 0.2}}
    assert load(tmp_path, opt)["datasets"]["train"]["tasks"]["bank"] == [str(tmp_path / "light.json")]
    opt["datasets"]["train"]["tasks"]["bank"].append(str(tmp_path / "grouped.json"))
    with pytest.raises(OptionError, match=r"datasets\.train\.tasks\.bank\[1\]: file .*grouped\.json does not exist"):
        load(tmp_path, opt)


def test_missing_pretrain_file(tmp_path, folder):
    opt = base_opt(folder)
    opt["path"] = {"pretrain_network_g": "experiments/x/net_g_5.pth"}
    with pytest.raises(OptionError, match=r"path\.pretrain_network_g: file .*net_g_5\.pth does not exist"):
        load(tmp_path, opt)


def test_pretrain_by_model_name(tmp_path, folder, monkeypatch):
    """A zoo name stands for its weight file; an unknown name is one error naming the key and the known models."""
    monkeypatch.setenv("RESTORATION_USER_MODELS_DIR", str(tmp_path / "user_models"))
    opt = base_opt(folder)
    opt["path"] = {"pretrain_network_g": "realsr-mtl-compact-x4-cpu"}
    loaded = load(tmp_path, opt)
    assert Path(loaded["path"]["pretrain_network_g"]).name == "realsr-mtl-compact-x4-cpu.safetensors"
    opt["path"] = {"pretrain_network_g": "no-such-model"}
    with pytest.raises(OptionError, match=r"path\.pretrain_network_g: 'no-such-model' is neither a file nor an "
                                          r"installed model .*realsr-mtl-compact-x4-cpu"):
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


def test_an_inheriting_file_switches_scheduler_by_unsetting_the_base_keys(tmp_path, folder):
    base = base_opt(folder)
    base["train"]["scheduler"] = {"type": "MultiStepLR", "milestones": [10], "gamma": 0.5}
    (tmp_path / "base.yml").write_text(yaml.safe_dump(base))
    cosine = {"type": "CosineAnnealingRestartLR", "periods": [4], "restart_weights": [1], "eta_min": 1e-6}
    child = {"_base_": "base.yml", "train": {"scheduler": cosine}}
    (tmp_path / "child.yml").write_text(yaml.safe_dump(child))
    with pytest.raises(OptionError, match=r"train\.scheduler: CosineAnnealingRestartLR refuses these options: .*"
                                          r"unexpected keyword argument '(gamma|milestones)'"):
        load_options(tmp_path / "child.yml", base=tmp_path)  # the base's milestones are inherited
    child["train"]["scheduler"].update(milestones=None, gamma=None)
    (tmp_path / "child.yml").write_text(yaml.safe_dump(child))
    assert load_options(tmp_path / "child.yml", base=tmp_path)["train"]["scheduler"]["periods"] == [4]


def test_a_scheduler_key_set_to_null_is_left_out():
    import torch

    from restoration.training.optim import build_scheduler

    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = build_scheduler(opt, {"type": "CosineAnnealingRestartLR", "periods": [4], "restart_weights": [1],
                                  "eta_min": 0.0, "milestones": None, "gamma": None})
    for _ in range(2):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)  # halfway down the cosine
    with pytest.raises(OptionError, match="unknown scheduler 'Step'"):
        build_scheduler(opt, {"type": "Step"})


def test_overrides_are_parsed_as_yaml(tmp_path, folder):
    opt = load(tmp_path, base_opt(folder), ["train:total_iter=7", "train.optim_g.lr=!!float 1e-3"])
    assert opt["train"]["total_iter"] == 7 and opt["train"]["optim_g"]["lr"] == 1e-3
    raw = {"a": {"b": 1}}
    assert apply_overrides(raw, ["a:c=[1, 2]"]) == {"a": {"b": 1, "c": [1, 2]}}


DATA_ROOTS = ("datasets/DF2K_OST", "datasets/DIV2K_valid")  # what README's "Training data" has prepare_hr.py write


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A root holding the one data layout, written by datasets/prepare_hr.py itself from a few small images."""
    import subprocess
    import sys

    import cv2
    import numpy as np

    root = tmp_path_factory.mktemp("prepared")
    src = root / "downloads"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(src / f"08{i:02d}.png"), rng.integers(0, 256, (72, 96, 3), dtype=np.uint8))
    script = str(ROOT / "datasets/prepare_hr.py")
    for args in (["-o", "datasets/DF2K_OST", "--crop-size", "48", "--step", "24", "--shortest-edge", "0"],
                 ["-o", "datasets/DIV2K_valid", "--scales", "--crop-size", "0"]):
        subprocess.run([sys.executable, script, "-i", str(src), "-q", *args], cwd=root, check=True,
                       capture_output=True)
    return root


def _files_outside_data(opt_path: Path, base: Path) -> None:
    """Create empty stand-ins for the weights and banks an option file names (not its data), as a run would have."""
    for _ in range(6):
        try:
            load_options(opt_path, base=base)
            return
        except OptionError as exc:
            missing = re.search(r"(?:file|folder) (\S+) does not exist", str(exc))
            if not missing or "/datasets/" in missing.group(1):
                raise
            Path(missing.group(1)).parent.mkdir(parents=True, exist_ok=True)
            Path(missing.group(1)).write_bytes(b"")
    load_options(opt_path, base=base)


TRAIN_FILES = sorted(p.name for p in (ROOT / "options/train").glob("*.yml"))


@pytest.mark.parametrize("name", TRAIN_FILES)
def test_every_training_recipe_finds_its_data_where_prepare_hr_writes_it(prepared, name):
    path = ROOT / "options/train" / name
    text = yaml.safe_dump(read_options(path))  # with its _base_ files merged in
    if "datasets/corpus" in text:
        pytest.skip("photo-corpus recipe: its data comes from `make data` (datasets/photo_corpus.py)")
    _files_outside_data(path, prepared)
    roots = re.findall(r"(?:dataroot_gt|meta_info|dataroot_lq):\s*(datasets/\S+)", text)
    assert all(r.startswith(DATA_ROOTS) for r in roots), roots


@pytest.mark.parametrize("name", ["probe_rrdb_paper.yml", "group_rrdb_paper.yml"])
def test_task_recipes_read_the_same_layout(prepared, name):
    opt = yaml.safe_load((ROOT / "options/tasks" / name).read_text())
    for key in ("folder", "val_folder"):
        assert opt["gt"][key].startswith(DATA_ROOTS) and (prepared / opt["gt"][key]).is_dir(), opt["gt"][key]


def test_missing_released_weights_say_where_to_get_them(tmp_path, folder):
    opt = base_opt(folder)
    opt["path"] = {"pretrain_network_g": "pretrained/RealESRNet_x4plus.pth"}
    with pytest.raises(OptionError, match=r"path\.pretrain_network_g: file .*RealESRNet_x4plus\.pth does not exist: "
                                          r"download it from Real-ESRGAN's releases \(https://github\.com/xinntao/"
                                          r"Real-ESRGAN/releases/download/v0\.1\.1/RealESRNet_x4plus\.pth\) to .*"
                                          r"`make assets`"):
        load(tmp_path, opt)
