"""Aggregation, table/compare formatting and test-set loading without torch models."""
import json

import cv2
import numpy as np
import pytest

from restoration.errors import RestorationError
from restoration.evaluation import load_testset, report
from restoration.evaluation.runner import aggregate


def _result(psnrs, model="m"):
    per = [{"group": g, "model": {"psnr_y": p, "ssim_y": 0.5, "lpips_alex": None},
            "bicubic": {"psnr_y": p - 1, "ssim_y": 0.4, "lpips_alex": None}} for g, p in psnrs]
    groups = list(dict.fromkeys(g for g, _ in psnrs))
    names = ["psnr_y", "ssim_y", "lpips_alex"]
    return {"format": "restoration.evaluation", "version": 1, "model": model, "testset": "ts", "scale": 4,
            "crop_border": 4, "metrics": names, "methods": ["model", "bicubic"], "groups": groups,
            "unavailable": {"lpips_alex": "weights missing"},
            "summary": aggregate(per, groups, ["model", "bicubic"], names), "per_image": per}


def test_aggregate_means_per_group_and_all():
    r = _result([("a", 20.0), ("a", 22.0), ("b", 30.0)])
    assert r["summary"]["a"]["model"]["psnr_y"] == 21.0
    assert r["summary"]["all"]["model"]["psnr_y"] == pytest.approx(24.0)
    assert r["summary"]["b"]["bicubic"]["psnr_y"] == 29.0
    assert r["summary"]["a"]["model"]["lpips_alex"] is None
    md = report.to_markdown(r)
    assert "| a | m | 2 | 21.00 | 0.5000 | n/a |" in md and "LPIPS-alex: unavailable (weights missing)" in md
    assert report.to_csv(r).splitlines()[1] == "a,m,2,21.000000,0.500000,"


def test_a_single_group_named_all_is_reported_once():
    r = _result([("all", 20.0), ("all", 22.0)])  # a test set built from a bank without groups
    assert list(r["summary"]) == ["all"] and r["summary"]["all"]["images"] == 2
    assert [(row["group"], row["method"]) for row in report.table_rows(r)] == [("all", "m"), ("all", "bicubic")]
    assert [row["group"] for row in report.compare(r, r)["rows"]] == ["all"]


def test_compare_diff_and_disjoint_groups():
    a, b = _result([("a", 20.0), ("b", 30.0)], "A"), _result([("a", 21.5), ("b", 29.0)], "B")
    cmp = report.compare(a, b)
    assert [r["group"] for r in cmp["rows"]] == ["a", "b", "all"]
    assert cmp["rows"][0]["psnr_y_diff"] == pytest.approx(1.5) and cmp["rows"][1]["psnr_y_diff"] == pytest.approx(-1)
    assert "| a | 1/1 | 20.00 | 21.50 | +1.50 |" in report.compare_markdown(cmp)
    with pytest.raises(RestorationError, match="share no group"):
        report.compare(a, _result([("z", 1.0)]))


def test_write_all_and_load_result(tmp_path):
    r = _result([("a", 20.0), ("b", 30.0)])
    paths = report.write_all(r, tmp_path)
    assert report.load_result(tmp_path)["summary"]["a"]["model"]["psnr_y"] == 20.0
    assert paths["png"].stat().st_size > 1000
    (tmp_path / "x.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(RestorationError, match="not an evaluation result"):
        report.load_result(tmp_path / "x.json")


def test_load_testset_infers_layout_without_manifest(tmp_path):
    (tmp_path / "HR").mkdir()
    (tmp_path / "LQ" / "g1").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "HR" / "a.png"), np.zeros((32, 48, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "LQ" / "g1" / "a.png"), np.zeros((8, 12, 3), np.uint8))
    ts = load_testset(tmp_path)
    assert ts.scale == 4 and ts.groups == ["g1"] and ts.entries[0]["hr"] == "HR/a.png"
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "restoration.testset", "version": 1, "scale": 4,
                                                        "files": [{"lq": "LQ/g1/b.png", "hr": "HR/a.png",
                                                                   "group": "g1"}]}))
    with pytest.raises(RestorationError, match=r"files\[0\].lq = LQ/g1/b.png does not exist"):
        load_testset(tmp_path)
    with pytest.raises(RestorationError, match="not found"):
        load_testset(tmp_path / "nope")


def test_per_photo_shows_a_photo_the_model_makes_worse():
    r = _result([("a", 20.0), ("a", 22.0), ("b", 30.0)])
    for item, photo in zip(r["per_image"], ["HR/x.png", "HR/y.png", "HR/x.png"]):
        item["hr"] = photo
    r["per_image"][1]["model"]["psnr_y"] = 20.0  # y: model 20.0 vs bicubic 21.0
    rows = {(row["group"], row["photo"]): row for row in report.per_photo(r)}
    assert rows[("a", "y")]["model"] == 20.0 and rows[("a", "y")]["bicubic"] == 21.0
    assert rows[("a", "x")]["images"] == 1 and ("b", "x") in rows
    md = report.to_markdown(r)
    assert "| a | y | 1 | 21.00 | 20.00 (-1.00) |" in md and "| a | x | 1 | 19.00 | 20.00 (+1.00) |" in md
