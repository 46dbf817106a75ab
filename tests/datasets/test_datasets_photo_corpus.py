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
    assert not set(corpus.ADDED) & every and len(set(corpus.ADDED)) == len(corpus.LOMIRI_PHOTOS)  # all train


def test_lomiri_reads_the_release_stanza(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "LOMIRI_PHOTOS", (("16.04", "life_by_A_B"), ("20.04", "Bark_by_C")))
    for release, text in (("16.04", "Files: 16.04/life_by_A_B.jpg\nCopyright: A B, 2018\nLicense: CC-BY-4.0\n"),
                          ("20.04", "Files: 20.04/Bark_by_C.jpg\nCopyright: 2021, C\nLicense: CC-BY-SA-3.0\n")):
        doc = tmp_path / f"usr/share/doc/lomiri-wallpapers-{release}"
        doc.mkdir(parents=True)
        (doc / "copyright").write_text("Files: warty.png\nCopyright: X\nLicense: GPL\n\n" + text)
    backgrounds = tmp_path / "usr/share/backgrounds"
    backgrounds.mkdir(parents=True)
    for stem in ("life_by_A_B", "Bark_by_C"):
        cv2.imwrite(str(backgrounds / f"{stem}.jpg"), np.zeros((8, 8, 3), np.uint8))
    life, bark = corpus.lomiri_photos(tmp_path)
    assert (life.name, life.author, life.licence, life.split) == ("life", "A B, 2018", "CC-BY-4.0", "train")
    monkeypatch.setattr(corpus, "ADDED", ("life", "Bark"))
    assert life.folder == "train_added"  # apart from HR/train, which the task probes read
    assert (bark.name, bark.licence) == ("Bark", "CC-BY-SA-3.0")
    assert bark.source == "lomiri-wallpapers-20.04:usr/share/backgrounds/Bark_by_C.jpg"
    (backgrounds / "life_by_A_B.jpg").unlink()
    with pytest.raises(corpus.RestorationError, match="life_by_A_B.jpg is missing"):
        corpus.lomiri_photos(tmp_path)


def test_photo_of_reads_prepare_hr_names():
    assert corpus.photo_of("sub/AquaT1_s012.png") == "Aqua"
    assert corpus.photo_of("sub/summer_1am_s003.png") == "summer_1am"
    assert corpus.photo_of("Picture_0BT2_s001.png") == "Picture_0B"


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


def test_subimages_come_from_train_photos_only(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "ADDED", ("c",))
    rng = np.random.default_rng(2)
    for split, name in (("train", "a"), ("train", "b"), ("train_added", "c"), ("test", "t")):
        d = tmp_path / "HR" / split
        d.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (420, 500, 3), np.uint8) if name != "b" else np.full((420, 500, 3), 90, np.uint8)
        cv2.imwrite(str(d / f"{name}.png"), img)
    summary = corpus.make_subimages(tmp_path, min_texture=2.0, workers=1)
    every = (tmp_path / "train/meta_info/meta_info_sub.txt").read_text().split()
    kept = (tmp_path / "train/meta_info/meta_info_textured_v2.txt").read_text().split()
    first = (tmp_path / "train/meta_info/meta_info_textured.txt").read_text().split()
    assert every and {corpus.photo_of(r) for r in every} == {"a", "b", "c"}
    assert {corpus.photo_of(r) for r in kept} == {"a", "c"}  # the flat photo is left out
    assert first == [r for r in kept if corpus.photo_of(r) == "a"]  # the first corpus: without the added photo
    assert summary["sub_images"] == len(every) and summary["textured"] == len(kept)
    assert summary["textured_first_corpus"] == len(first)
