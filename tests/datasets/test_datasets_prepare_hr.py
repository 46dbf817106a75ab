"""datasets/prepare_hr.py on tiny archives and folders made here."""
import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "prepare_hr.py"


def _load():
    spec = importlib.util.spec_from_file_location("prepare_hr", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


prepare_hr = _load()


@pytest.fixture
def sources(tmp_path, photos):
    """A folder with two photos crops, a zip (nested folder, like DIV2K_train_HR.zip) and a tar with one each."""
    imgs = [img[:150, :210] for img in list(photos.values())[:4]]
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i}.png"), imgs[i][..., ::-1])
    (folder / "notes.txt").write_text("not an image")
    with zipfile.ZipFile(tmp_path / "div.zip", "w") as zf:
        zf.writestr("DIV2K_train_HR/", "")
        zf.writestr("DIV2K_train_HR/0001.png", cv2.imencode(".png", imgs[2][..., ::-1])[1].tobytes())
    png = tmp_path / "x.png"
    cv2.imwrite(str(png), imgs[3][..., ::-1])
    with tarfile.open(tmp_path / "flickr.tar", "w") as tf:
        tf.add(png, arcname="Flickr2K/Flickr2K_HR/000001.png")
    return [folder, tmp_path / "div.zip", tmp_path / "flickr.tar"], imgs


def test_crop_starts_cover_the_image():
    assert prepare_hr.crop_starts(1000, 400, 200, 0) == [0, 200, 400, 600]
    assert prepare_hr.crop_starts(1010, 400, 200, 0) == [0, 200, 400, 600, 610]  # edge-flush last crop
    assert prepare_hr.crop_starts(1010, 400, 200, 20) == [0, 200, 400, 600]  # rest 10 <= thresh
    assert prepare_hr.crop_starts(300, 400, 200, 0) == [0]


def test_multiscale_sizes_like_real_esrgan(photos):
    from PIL import Image

    img = Image.fromarray(next(iter(photos.values()))[:300, :480])
    sizes = [im.size for im in prepare_hr.multiscale(img, (0.75, 0.5, 1 / 3), 200)]
    assert sizes == [(360, 225), (240, 150), (160, 100), (320, 200)]
    assert len(prepare_hr.multiscale(img, (0.5,), 400)) == 1  # never upscales to reach the shortest edge


def test_prepare_all_outputs(sources, tmp_path):
    inputs, imgs = sources
    out = tmp_path / "out"
    argv = ["-i", *map(str, inputs), "-o", str(out), "--crop-size", "64", "--step", "32",
            "--scales", "0.75", "0.5", "--shortest-edge", "60", "--lmdb", "-q", "--workers", "2"]
    assert prepare_hr.main(argv) == 0
    hr = sorted(p.name for p in (out / "HR").iterdir())
    assert hr == ["000001.png", "0001.png", "f0.png", "f1.png"]
    back = cv2.imread(str(out / "HR" / "0001.png"))[..., ::-1]
    np.testing.assert_array_equal(back, imgs[2])  # originals kept losslessly
    ms = sorted(p.name for p in (out / "multiscale").iterdir())
    assert [m for m in ms if m.startswith("0001T")] == ["0001T0.png", "0001T1.png", "0001T2.png"] and len(ms) == 12
    assert cv2.imread(str(out / "multiscale" / "0001T0.png")).shape == (112, 157, 3)  # int(150*.75), int(210*.75)
    assert cv2.imread(str(out / "multiscale" / "0001T2.png")).shape == (60, 84, 3)  # shortest edge 60
    meta = (out / "meta_info" / "meta_info_sub.txt").read_text().splitlines()
    subs = sorted("sub/" + p.name for p in (out / "sub").iterdir())
    assert meta == subs and len(meta) > 40
    # HR 150x210 with crop 64 step 32: rows 0,32,64,86 x cols 0,32,...,128,146 = 4 x 6 crops
    assert sum(1 for m in meta if m.startswith("sub/0001_s")) == 24
    crop = cv2.imread(str(out / "sub" / "0001_s002.png"))[..., ::-1]
    np.testing.assert_array_equal(crop, imgs[2][0:64, 32:96])
    # LMDB in BasicSR's format, readable by BasicSR's own LMDB file client
    lmdb_meta = (out / "sub.lmdb" / "meta_info.txt").read_text().splitlines()
    assert len(lmdb_meta) == len(meta) and lmdb_meta[0].endswith("(64,64,3) 3")
    import restoration  # noqa: F401
    # isort: split
    from basicsr.utils import FileClient, imfrombytes

    client = FileClient("lmdb", db_paths=[str(out / "sub.lmdb")], client_keys=["gt"])
    got = imfrombytes(client.get("0001_s002", "gt"), float32=False)
    np.testing.assert_array_equal(got[..., ::-1], imgs[2][0:64, 32:96])


def test_refuses_non_empty_output_and_name_clashes(sources, tmp_path, capsys):
    inputs, _ = sources
    out = tmp_path / "busy"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    assert prepare_hr.main(["-i", str(inputs[0]), "-o", str(out), "-q"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "user data"
    assert prepare_hr.main(["-i", str(inputs[0]), str(inputs[0]), "-o", str(tmp_path / "o2"), "-q"]) == 2
    assert "two inputs are named" in capsys.readouterr().err
    assert prepare_hr.main(["-i", str(tmp_path / "missing.zip"), "-o", str(tmp_path / "o3"), "-q"]) == 2
    assert "not found" in capsys.readouterr().err


def test_help_runs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--crop-size" in out and "--lmdb" in out and "meta_info" in out
