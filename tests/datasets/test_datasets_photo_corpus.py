"""datasets/photo_corpus.py on a fake unpacked package tree made here (no apt-get): licences, selection, split,
downscale, texture filter."""
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "photo_corpus.py"
spec = importlib.util.spec_from_file_location("photo_corpus", SCRIPT)
corpus = importlib.util.module_from_spec(spec)
sys.modules["photo_corpus"] = corpus  # dataclasses look their module up there
spec.loader.exec_module(corpus)

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2014 Group
License: GPL-2+

Files: nature/A.jpg
       nature/B.jpg
Copyright: 2008, Someone <a@b.c>
License: CC-BY-3.0
"""


def test_dep5_last_matching_stanza_wins(tmp_path):
    f = tmp_path / "copyright"
    f.write_text(COPYRIGHT)
    stanzas = corpus.dep5_licences(f)
    assert corpus._dep5_for(stanzas, "nature/B.jpg") == ("2008, Someone <a@b.c>", "CC-BY-3.0")
    assert corpus._dep5_for(stanzas, "desktop/C.png") == ("2014 Group", "GPL-2+")


def test_plasma_picks_largest_image_and_reads_metadata(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "PLASMA_PHOTOS", ("Kite",))
    doc = tmp_path / "usr/share/doc" / corpus.PLASMA
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    folder = tmp_path / "usr/share/wallpapers/Kite"
    images = folder / "contents/images"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "64x40.png"), np.zeros((40, 64, 3), np.uint8) + 7)
    cv2.imwrite(str(images / "640x400.png"), np.random.default_rng(0).integers(0, 255, (400, 640, 3), np.uint8))
    (images / "1x1.png").write_bytes(b"")  # placeholder sizes are empty files
    (folder / "metadata.json").write_text(json.dumps(
        {"KPlugin": {"Authors": [{"Name": "R. S."}], "License": "LGPLv3", "Name": "Kite"}}))
    (photo,) = corpus.plasma_photos(tmp_path)
    assert photo.path.name == "640x400.png" and photo.author == "R. S." and photo.licence == "LGPLv3"
    assert photo.split == "train"


def test_split_is_disjoint_and_names_exist():
    test, val = set(corpus.SPLIT["test"]), set(corpus.SPLIT["val"])
    assert not test & val
    every = set(corpus.PLASMA_PHOTOS) | set(corpus.MATE_PHOTOS) | set(corpus.PACKAGE_PHOTOS)
    assert test | val <= every


def test_downscale_washes_out_jpeg_and_keeps_lossless():
    assert corpus.downscale_factor(1600, 2560, lossless=False) == pytest.approx(0.5)
    assert corpus.downscale_factor(2880, 5120, lossless=False) == pytest.approx(1280 / 5120)
    assert corpus.downscale_factor(512, 768, lossless=True) == 1.0


def test_texture_ranks_flat_below_detailed(tmp_path):
    flat, busy = tmp_path / "flat.png", tmp_path / "busy.png"
    ramp = np.tile(np.linspace(0, 60, 64, dtype=np.float32), (64, 1))
    cv2.imwrite(str(flat), np.repeat(ramp[..., None], 3, 2).astype(np.uint8))
    cv2.imwrite(str(busy), np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    assert corpus.texture(flat) < 2.0 < corpus.texture(busy)


def test_subimages_come_from_train_photos_only(tmp_path):
    rng = np.random.default_rng(2)
    for split, name in (("train", "a"), ("train", "b"), ("test", "t")):
        d = tmp_path / "HR" / split
        d.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (420, 500, 3), np.uint8) if name != "b" else np.full((420, 500, 3), 90, np.uint8)
        cv2.imwrite(str(d / f"{name}.png"), img)
    summary = corpus.make_subimages(tmp_path, min_texture=2.0, workers=1)
    every = (tmp_path / "train/meta_info/meta_info_sub.txt").read_text().split()
    kept = (tmp_path / "train/meta_info/meta_info_textured.txt").read_text().split()
    assert every and all(Path(r).name.startswith(("a", "b")) for r in every)
    assert kept and all(Path(r).name.startswith("a") for r in kept)  # the flat photo is left out
    assert summary["sub_images"] == len(every) and summary["textured"] == len(kept)
