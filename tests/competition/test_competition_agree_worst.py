"""`restoration tasks agree` (fast vs faithful ranking) and `restoration tasks worst` (table + crops) at toy scale."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import restoration  # noqa: F401

torch = pytest.importorskip("torch")


@pytest.fixture()
def probed(tmp_path, monkeypatch):
    """A toy model probed with both recipes: all 6 tasks fast, every second task faithful."""
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    from restoration.cli import main as cli
    from restoration.inference import save_model

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=2, upscale=4, act_type="prelu")
    save_model(SRVGGNetCompact(**kwargs), "base.safetensors", arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4,
               name="tiny")
    opt = {"name": "toy", "model": "base.safetensors", "device": "cpu", "output": "exp",
           "bank": {"path": "bank.json", "sample": {"num_tasks": 6, "seed": 4, "space": {"kernel_range": [7, 9]}}},
           "gt": {"val_count": 2}, "select": {"ratio": 0.5},
           "probe": {"iters": 4, "window": 2, "batch_size": 2, "patch_size": 16, "degrade_size": 40, "lr": 1e-3,
                     "measure": "holdout", "eval_batch": 2, "execution": "loop"},
           "fast": {"iters": 1, "window": 1}}
    Path("tasks.yml").write_text(yaml.safe_dump(opt))
    assert cli(["tasks", "probe", "-opt", "tasks.yml", "--fast"]) == 0
    assert cli(["tasks", "probe", "-opt", "tasks.yml", "--shard", "0/2"]) == 0
    return tmp_path


def test_agree_compares_the_recipes_on_the_tasks_both_probed(probed, capsys):
    from restoration.cli import main as cli
    from restoration.competition.agreement import spearman
    from restoration.competition.store import read_results

    assert cli(["tasks", "agree", "-opt", "tasks.yml"]) == 0
    res = json.loads(Path("exp/agreement.json").read_text())
    faithful, fast = read_results("exp/probe"), read_results("exp/probe_fast")
    assert sorted(faithful) == [0, 2, 4] and res["tasks"] == 3
    ids = [0, 2, 4]
    assert res["spearman"] == pytest.approx(spearman([faithful[i]["indicator"] for i in ids],
                                                     [fast[i]["indicator"] for i in ids]))
    assert res["top_overlap"] in (0.0, 0.5, 1.0)  # 2 of 3 tasks selected by each recipe (ratio 0.5)
    assert res["work_ratio"] > 2 and res["seconds_per_task"]["faithful"] > 0
    assert "3 tasks probed by both recipes: Spearman" in capsys.readouterr().out
    assert "by_shard" not in res  # one shard of the faithful probe: nothing to break down


def test_agree_reports_each_shard_when_several_were_probed(probed):
    from restoration.cli import main as cli
    from restoration.competition.agreement import spearman
    from restoration.competition.store import read_results

    assert cli(["tasks", "probe", "-opt", "tasks.yml", "--shard", "1/2"]) == 0
    assert cli(["tasks", "agree", "-opt", "tasks.yml"]) == 0
    res = json.loads(Path("exp/agreement.json").read_text())
    faithful, fast = read_results("exp/probe"), read_results("exp/probe_fast")
    assert res["tasks"] == 6 and sorted(res["by_shard"]) == ["0/2", "1/2"]
    for name, ids in (("0/2", [0, 2, 4]), ("1/2", [1, 3, 5])):
        shard = res["by_shard"][name]
        assert shard["tasks"] == 3
        assert shard["spearman"] == pytest.approx(spearman([faithful[i]["indicator"] for i in ids],
                                                           [fast[i]["indicator"] for i in ids]))


def test_agree_needs_both_probes(tmp_path, monkeypatch):
    from restoration.cli import main as cli

    monkeypatch.chdir(tmp_path)
    Path("tasks.yml").write_text(yaml.safe_dump({"name": "x", "bank": {"path": "bank.json"}, "output": "exp"}))
    assert cli(["tasks", "agree", "-opt", "tasks.yml"]) == 2


def test_spearman_is_the_rank_correlation():
    from restoration.competition.agreement import spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_worst_lists_the_lowest_indicators_with_crops(probed):
    from restoration.cli import main as cli
    from restoration.competition.store import read_results

    assert cli(["tasks", "worst", "-opt", "tasks.yml", "--fast", "--num", "3", "--out", "w", "--crop", "48"]) == 0
    res = json.loads(Path("w/worst.json").read_text())
    fast = read_results("exp/probe_fast")
    lowest = sorted(fast, key=lambda i: (fast[i]["indicator"], i))[:3]
    assert [r["index"] for r in res["worst"]] == lowest and res["tasks_probed"] == 6
    assert all(np.isfinite(r["model_psnr_y"]) and np.isfinite(r["bicubic_psnr_y"]) for r in res["worst"])
    assert "| 1 | " in Path("w/worst.md").read_text()
    import cv2

    grid = cv2.imread("w/worst.png")
    assert grid is not None and grid.shape[0] > 3 * 48  # one row of tiles per task
    assert cli(["tasks", "worst", "-opt", "tasks.yml", "--num", "0", "--out", "w2"]) == 2


def test_report_compares_on_a_photo_folder_and_takes_zoo_names(probed, tmp_path):
    """--gt-folder: the held-out photos of the user's choice; a model may be a file or a zoo name."""
    import cv2

    from restoration.cli import main as cli
    from restoration.degradations import TaskBank

    grouped = TaskBank.load("bank.json").with_groups({"G1": [0, 1]})
    grouped.meta["competition"] = {"probe": {"indicator": [1.0] * 6, "unsatisfactory": [0, 1, 2], "ratio": 0.5},
                                   "group": {"pis": [[0, 0.3], [1, 0.2], [2, 0.0]]}}
    grouped.save("grouped.json")
    Path("photos").mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        cv2.imwrite(f"photos/p{k}.png", cv2.GaussianBlur(rng.integers(0, 255, (80, 96, 3), np.uint8), (5, 5), 0))
    args = ["tasks", "report", "--bank", "grouped.json", "--out", "rep", "--model", "toy=base.safetensors",
            "--gt-folder", "photos", "--val-size", "64", "--tasks-per-group", "2", "--device", "cpu"]
    assert cli(args) == 0
    comp = json.loads(Path("rep/report.json").read_text())["comparison"]
    assert comp["images"] == 2 and comp["gt_folder"] == "photos" and set(comp["groups"]) == {"G0", "G1", "ungrouped"}
    assert Path("rep/compare.png").stat().st_size > 1000 and "compare.png" in Path("rep/report.md").read_text()
    assert cli(args[:-6] + ["--gt-folder", "nowhere"]) == 2
    assert cli(["tasks", "report", "--bank", "grouped.json", "--out", "rep2", "--model", "x=no-such-model"]) == 2
