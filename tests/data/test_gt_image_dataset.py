"""GT dataset: folder / meta_info / LMDB / offline sources, position-determinism, padding, validation pairs."""
from __future__ import annotations

import cv2
import pytest
import torch

import restoration

restoration.register()
from restoration.data.degraded_val_dataset import DegradedValDataset  # noqa: E402
from restoration.data.gt_image_dataset import GTImageDataset  # noqa: E402
from restoration.errors import OptionError  # noqa: E402


@pytest.fixture
def folder(tmp_path, photos):
    d = tmp_path / "hr"
    d.mkdir()
    for i, (name, img) in enumerate(list(photos.items())[:3]):
        cv2.imwrite(str(d / f"{name}.png"), img[:60 + 10 * i, :70, ::-1])
    return d


def test_items_depend_only_on_position(folder):
    opt = {"name": "t", "dataroot_gt": str(folder), "gt_size": 32, "use_rot": True, "seed": 5}
    a, b = GTImageDataset(opt), GTImageDataset(dict(opt))
    for pos in (0, 7, 12345):
        x, y = a[pos], b[pos]
        assert torch.equal(x["gt"], y["gt"]) and x["gt_path"] == y["gt_path"] and x["task_seed"] == y["task_seed"]
        assert x["gt"].shape == (3, 32, 32) and x["task"] == -1 and x["group"] == 0
    epoch0 = sorted(a[p]["gt_path"] for p in range(3))  # every image once per epoch
    assert epoch0 == sorted(a.source.paths)
    assert not torch.equal(a[0]["gt"], GTImageDataset(dict(opt, seed=6))[0]["gt"])


def test_small_images_are_padded(folder):
    ds = GTImageDataset({"name": "t", "dataroot_gt": str(folder), "gt_size": 96})
    assert all(ds[p]["gt"].shape == (3, 96, 96) for p in range(3))


def test_meta_info_and_lmdb_sources(folder, tmp_path):
    meta = tmp_path / "meta.txt"
    names = sorted(p.name for p in folder.iterdir())
    meta.write_text("".join(f"{n} (60,70,3)\n" for n in names[:2]))
    ds = GTImageDataset({"name": "t", "dataroot_gt": str(folder), "meta_info": str(meta), "gt_size": 32})
    assert len(ds) == 2
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    lmdb_path = tmp_path / "hr.lmdb"
    keys = [n.rsplit(".", 1)[0] for n in names]
    make_lmdb_from_imgs(str(folder), str(lmdb_path), names, keys, multiprocessing_read=False)
    db = GTImageDataset({"name": "t", "dataroot_gt": str(lmdb_path), "io_backend": {"type": "lmdb"}, "gt_size": 32})
    disk = GTImageDataset({"name": "t", "dataroot_gt": str(folder), "gt_size": 32})
    assert len(db) == 3 and torch.equal(db[4]["gt"], disk[4]["gt"])  # same image, same crop (PNG is lossless)


def test_offline_photos_hold_out_validation_images():
    train = GTImageDataset({"name": "t", "dataroot_gt": "offline", "gt_size": 32, "offline_val_count": 2})
    val = DegradedValDataset({"name": "v", "dataroot_gt": "offline", "offline_val_count": 2, "crop_size": 64,
                              "tasks": {"num_tasks": 2, "seed": 1}})
    assert len(val) == 2 and not set(train.source.paths) & {v["gt_path"] for v in val.items}
    again = DegradedValDataset({"name": "v", "dataroot_gt": "offline", "offline_val_count": 2, "crop_size": 64,
                                "tasks": {"num_tasks": 2, "seed": 1}})
    for x, y in zip(val.items, again.items):  # fixed tasks, fixed noise: identical every time
        assert torch.equal(x["lq"], y["lq"]) and x["lq"].shape == (3, 16, 16)


def test_empty_folder_is_an_option_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionError, match="no images"):
        GTImageDataset({"name": "t", "dataroot_gt": str(tmp_path / "empty"), "gt_size": 32})
