"""Every shipped option file follows its schema, and every section reports a mistake the same way: one line
naming the dotted key, a string never accepted as a number."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import restoration  # noqa: F401  (import hook before torchvision/basicsr)
from restoration.errors import OptionError
from restoration.schema.files import KINDS, check_option_file, json_schema

ROOT = Path(__file__).resolve().parents[2]
OPTION_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "options").rglob("*.yml"))
EXPECTED_KIND = {"train": "train", "test": "evaluate"}


@pytest.mark.parametrize("name", OPTION_FILES)
def test_every_option_file_follows_its_schema(name):
    """Parsed and checked without opening the files it names or building a network."""
    folder = Path(name).parts[1]
    kind = check_option_file(ROOT / name)
    assert kind == EXPECTED_KIND.get(folder, "space" if "space" in name else "tasks")


def test_no_more_than_twenty_training_recipes():
    assert len(list((ROOT / "options" / "train").glob("*.yml"))) <= 20


def _write(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("kind, data, message", [
    ("train", {"train": {"optim_g": {"lr": "2e-4"}}},
     r"train\.optim_g\.lr: expected a number, got '2e-4' \(PyYAML reads 2e-4 as a string: write !!float 2e-4"),
    ("train", {"train": {"balancing": {"type": "famo", "lr": "1e-3"}}},
     r"train\.balancing\.lr: expected a number, got '1e-3' \(PyYAML"),
    ("train", {"degradation": {"sinc_prob": "0.1"}}, r"degradation\.sinc_prob: expected a number, got '0\.1'"),
    ("train", {"datasets": {"train": {"gt_size": 96.0}}},
     r"datasets\.train\.gt_size: expected an integer, got float 96\.0"),
    ("train", {"datasets": {"test": {"type": "DegradedValDataset", "dataroot_gt": "x"}}},
     r"datasets\.test: phase must be 'train' or start with 'val'"),
    ("train", {"num_gpu": "two"}, r"num_gpu: expected an integer or 'auto', got 'two'"),
    ("train", {"name": "../x"}, r"name: '\.\./x' is not a plain folder name"),
    ("train", {"logger": {"use_tb_loger": True}}, r"logger\.use_tb_loger: unknown key \(known keys: print_freq"),
    ("tasks", {"probe": {"lr": "2e-4"}}, r"probe\.lr: expected a number, got '2e-4' \(PyYAML"),
    ("tasks", {"group": {"iters": "100"}}, r"group\.iters: expected an integer, got '100' \(PyYAML"),
    ("tasks", {"select": {"ratio": 1.5}}, r"select\.ratio: must be <= 1\.0, got 1\.5"),
    ("space", {"noise_range": [30, 1]}, r"noise_range: range is reversed \(30 > 1\)"),
    ("evaluate", {"tile": "256"}, r"tile: expected an integer, got '256' \(PyYAML"),
])
def test_every_section_reports_one_line_naming_the_key(tmp_path, kind, data, message):
    base = {"train": "options/train/cpu_tiny.yml", "tasks": "options/tasks/probe_cpu_tiny.yml",
            "space": "options/tasks/space_realesrgan_x4.yml", "evaluate": "options/test/evaluate_offline_x4.yml"}[kind]
    path = _write(tmp_path, "child.yml", {"_base_": str(ROOT / base), **data})
    with pytest.raises(OptionError, match=message) as info:
        check_option_file(path, kind)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_base_files_merge_deeply_and_the_including_file_wins(tmp_path):
    from restoration.yaml_files import read_options

    (tmp_path / "sub").mkdir()
    _write(tmp_path, "a.yml", {"name": "a", "train": {"total_iter": 5, "optim_g": {"type": "Adam", "lr": 0.1}}})
    _write(tmp_path, "b.yml", {"name": "b", "val": {"val_freq": 3}})
    child = _write(tmp_path / "sub", "c.yml", {"_base_": ["../a.yml", "../b.yml"], "train": {"optim_g": {"lr": 0.2}}})
    assert read_options(child) == {"name": "b", "val": {"val_freq": 3},
                                   "train": {"total_iter": 5, "optim_g": {"type": "Adam", "lr": 0.2}}}


def test_base_cycles_and_missing_bases_are_one_error(tmp_path):
    from restoration.yaml_files import read_options

    _write(tmp_path, "a.yml", {"_base_": "b.yml", "name": "a"})
    _write(tmp_path, "b.yml", {"_base_": "a.yml"})
    with pytest.raises(OptionError, match=r"a\.yml: _base_ files include each other \(a\.yml -> b\.yml -> a\.yml\)"):
        read_options(tmp_path / "a.yml")
    _write(tmp_path, "c.yml", {"_base_": "nowhere.yml"})
    with pytest.raises(OptionError, match=r"c\.yml: _base_: file .*nowhere\.yml does not exist"):
        read_options(tmp_path / "c.yml")
    _write(tmp_path, "d.yml", {"_base_": 3})
    with pytest.raises(OptionError, match=r"d\.yml: _base_: expected a file name or a list of file names, got 3"):
        read_options(tmp_path / "d.yml")


def test_grouped_recipe_is_the_old_per_method_recipe_with_the_method_from_the_command_line():
    """What --force_yml train:balancing:type=pcgrad gives: the grouped sampler, EMA 0.999, lr 1e-3, pcgrad."""
    from restoration.options import apply_overrides, read_options

    opt = apply_overrides(read_options(ROOT / "options/train/cpu_tiny_groups.yml"),
                          ["train:balancing:type=pcgrad", "name=cpu_tiny_x4_pcgrad"])
    tiny = read_options(ROOT / "options/train/cpu_tiny.yml")
    assert opt["train"]["balancing"] == {"type": "pcgrad", "over": "groups"}
    assert opt["train"]["optim_g"] == {**tiny["train"]["optim_g"], "lr": 1e-3}
    assert opt["datasets"]["train"]["tasks"]["mode"] == "groups"
    assert opt["network_g"] == tiny["network_g"] and opt["name"] == "cpu_tiny_x4_pcgrad"


@pytest.mark.parametrize("kind", KINDS)
def test_json_schema_describes_the_keys_and_the_types(kind):
    schema = json_schema(kind)
    json.dumps(schema)  # plain JSON
    assert schema["type"] == "object" and "_base_" in schema["properties"]
    assert schema["additionalProperties"] is False  # unknown keys are errors, in editors too
    if kind == "train":
        optim = schema["$defs"]["Optimizer"]["properties"]
        assert optim["lr"]["type"] == "number" and optim["lr"]["exclusiveMinimum"] == 0
        assert set(schema["required"]) >= {"name", "model_type", "scale", "datasets", "network_g", "train"}
    if kind == "tasks":
        probe = schema["$defs"]["ProbeConfig"]["properties"]
        assert probe["execution"]["enum"] == ["auto", "loop", "vmap"]


def test_union_keys_say_what_they_accept_or_what_is_wrong_inside():
    from restoration.schema.base import check
    from restoration.schema.train import TrainOptions
    from restoration.yaml_files import read_options

    opt = read_options(ROOT / "options/train/cpu_tiny.yml")
    for key, value, message in (("num_gpu", "two", "num_gpu: expected an integer or 'auto', got 'two'"),
                                ("num_gpu", -1, "num_gpu: must be >= 0, got -1")):
        with pytest.raises(OptionError, match=f"^{message}$"):
            check(TrainOptions, {**opt, key: value})
    bad = {**opt, "datasets": {**opt["datasets"], "train": {**opt["datasets"]["train"], "dataroot_gt": ["a", 3]}}}
    with pytest.raises(OptionError, match=r"^datasets\.train\.dataroot_gt\[1\]: expected a string, got int 3$"):
        check(TrainOptions, bad)
