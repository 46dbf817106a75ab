"""datasets/make_testset.py: deterministic per-group LQ sets with a manifest naming every file's task."""
import hashlib
import importlib.util
import json
from pathlib import Path

import cv2
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "make_testset.py"


def _load():
    spec = importlib.util.spec_from_file_location("make_testset_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, photos):
    from restoration.degradations import TaskBank

    root = tmp_path_factory.mktemp("ts_inputs")
    hr = root / "hr"
    hr.mkdir()
    for name, img in list(photos.items())[:3]:
        cv2.imwrite(str(hr / f"{name}.png"), img[:70, :90, ::-1])  # 70x90: not a multiple of 4 on purpose
    bank = TaskBank.sample(6, seed=3).with_groups({"easy": [0, 1, 2], "hard": [3, 4, 5]})
    bank.save(root / "bank.json")
    return hr, root / "bank.json", bank


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_outputs(inputs, tmp_path):
    hr, bank_path, bank = inputs
    mod = _load()
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert mod.main(["--hr", str(hr), "--bank", str(bank_path), "-o", str(out), "--seed", "7",
                         "--random-group", "-q"]) == 0
        runs.append(_digests(out))
    assert runs[0] == runs[1]
    assert len([k for k in runs[0] if k.startswith("LQ/")]) == 9  # 3 images x (G0_random, easy, hard)

    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["group_order"] == ["G0_random", "easy", "hard"] and manifest["scale"] == 4
    listed = {e["lq"] for e in manifest["files"]}
    assert listed == {k for k in runs[0] if k.startswith("LQ/")}  # every LQ file is in the manifest
    for e in manifest["files"]:
        assert e["task_id"] and isinstance(e["seed"], int)
        lq = cv2.imread(str(tmp_path / "a" / e["lq"]))
        hr_img = cv2.imread(str(tmp_path / "a" / e["hr"]))
        assert hr_img.shape[:2] == (68, 88)  # cropped to a multiple of the scale
        assert lq.shape[:2] == (17, 22)
        if e["group"] == "G0_random":
            assert e["task_index"] == -1 and e["task"]
            from restoration.degradations import DegradationTask

            assert DegradationTask.from_dict(e["task"]).task_id == e["task_id"]
        else:
            assert e["task_index"] in manifest["groups"][e["group"]]
            assert bank[e["task_index"]].task_id == e["task_id"]


def test_other_seed_changes_lq_and_errors_are_clear(inputs, tmp_path, capsys):
    hr, bank_path, _ = inputs
    mod = _load()
    args = ["--hr", str(hr), "--bank", str(bank_path), "--groups", "easy", "--max-images", "1", "-q"]
    assert mod.main(args + ["-o", str(tmp_path / "s1"), "--seed", "1"]) == 0
    assert mod.main(args + ["-o", str(tmp_path / "s2"), "--seed", "2"]) == 0
    d1, d2 = _digests(tmp_path / "s1"), _digests(tmp_path / "s2")
    assert d1[next(k for k in d1 if k.startswith("LQ/"))] != d2[next(k for k in d2 if k.startswith("LQ/"))]
    assert mod.main(args + ["-o", str(tmp_path / "s1")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert mod.main(["--hr", str(hr), "--bank", str(bank_path), "--groups", "nope", "-o", str(tmp_path / "x"),
                     "-q"]) == 2
    assert "no group 'nope'" in capsys.readouterr().err


def test_group_name_all_is_reserved_next_to_other_groups(inputs, tmp_path, capsys):
    from restoration.degradations import TaskBank

    hr, _, bank = inputs
    clash = tmp_path / "clash.json"
    TaskBank(list(bank)).with_groups({"all": [0, 1], "hard": [3]}).save(clash)
    assert _load().main(["--hr", str(hr), "--bank", str(clash), "-o", str(tmp_path / "x"), "-q"]) == 2
    assert "'all' is reserved" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_clean_group_is_a_plain_bicubic_downscale(inputs, tmp_path):
    import numpy as np
    import torch

    from restoration.degradations import TaskBank

    hr, _, _ = inputs
    plain = tmp_path / "plain.json"
    TaskBank.sample(4, seed=1).save(plain)  # no groups: one group, named 'bank' beside the clean one
    out = tmp_path / "clean"
    assert _load().main(["--hr", str(hr), "--bank", str(plain), "-o", str(out), "--clean-group", "-q"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["group_order"] == ["clean_bicubic", "bank"]
    entry = next(e for e in manifest["files"] if e["group"] == "clean_bicubic")
    gt = cv2.imread(str(out / entry["hr"]))[..., ::-1].copy()
    lq = cv2.imread(str(out / entry["lq"]))[..., ::-1]
    ref = torch.nn.functional.interpolate(torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255, scale_factor=0.25,
                                          mode="bicubic", antialias=True)
    ref8 = (ref[0].permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(lq, ref8)
