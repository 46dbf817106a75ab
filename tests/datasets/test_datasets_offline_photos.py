"""datasets/offline_photos.py copies the catalogue photos with a licence list."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2

from restoration.data.offline_photos import list_offline_photos

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "offline_photos.py"


def _load():
    spec = importlib.util.spec_from_file_location("offline_photos_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_collect_writes_photos_and_licences(tmp_path, photo_paths):
    mod = _load()
    out = tmp_path / "hr"
    assert mod.main(["-o", str(out), "--lossless-only", "-q"]) == 0
    expected = [p for p in list_offline_photos(lossless_only=True)]
    files = sorted(out.glob("*.png"))
    assert len(files) == len(expected) >= 3
    licences = (out / "LICENCES.md").read_text()
    for photo in expected:
        assert f"| {photo.name}.png | {photo.source} | {photo.licence} |" in licences
        src = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
        assert (cv2.imread(str(out / f"{photo.name}.png")) == src).all()  # lossless PNG copy
    # never replaces files silently
    assert mod.main(["-o", str(out), "--lossless-only", "-q"]) == 2


def test_help_runs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True).stdout
    assert "--lossless-only" in out


def test_download_lists_official_urls_without_network():
    script = SCRIPT.with_name("download.py")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip" in out
    assert "https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar" in out
    assert "prepare_hr.py" in out
