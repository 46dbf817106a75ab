"""The distillation cache: deterministic for a seed, keyed by its inputs, a stale or foreign file refused."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from restoration.errors import OptionError, RestorationError

SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
         "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0, "kernel_range": [7, 7]}


def tiny_teacher(path: Path, seed: int = 1) -> Path:
    """A random SRVGGNetCompact x4 (4 features) saved as a model file: the stand-in for realesrgan-x4plus."""
    import torch

    from restoration.inference.descriptor import ModelDescriptor
    from restoration.inference.files import save_model

    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=1, upscale=4, act_type="prelu")
    torch.manual_seed(seed)
    net = ModelDescriptor.create("SRVGGNetCompact", kwargs).build()
    return save_model(net, path, arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4, name=f"teacher{seed}")


def corpus(folder: Path, photos: dict, size: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, img in list(photos.items())[:2]:
        cv2.imwrite(str(folder / f"{n}.png"), img[100:100 + size, 100:100 + size, ::-1])
    return folder


def options(tmp_path: Path, photos: dict, **distill) -> dict:
    """The parts of a training option file the cache reads."""
    teacher = tmp_path / "teacher.safetensors"
    if not teacher.is_file():
        tiny_teacher(teacher)
    d = {"teacher": str(teacher), "num_samples": 5, "seed": 0, "per_batch": 2, "cache_dir": str(tmp_path / "cache")}
    d.update(distill)
    return {"scale": 4, "degradation": SPACE, "manual_seed": 0,
            "datasets": {"train": {"name": "t", "type": "GTImageDataset", "dataroot_gt": str(corpus(tmp_path / "gt",
                                                                                                     photos)),
                                   "gt_size": 32, "use_hflip": True, "use_rot": True, "batch_size_per_gpu": 2,
                                   "tasks": {"mode": "random"}}},
            "train": {"distill_opt": d}}


def spec_of(opt: dict):
    from restoration.data.distill_cache import CacheSpec

    return CacheSpec.from_options(opt)


def test_same_seed_same_cache_other_seed_other_cache(tmp_path, photos, one_torch_thread):
    from safetensors.numpy import load_file

    from restoration.data.distill_cache import build_cache, load_cache

    a = build_cache(spec_of(options(tmp_path, photos, cache_dir=str(tmp_path / "a"))), device="cpu")
    b = build_cache(spec_of(options(tmp_path, photos, cache_dir=str(tmp_path / "b"))), device="cpu")
    c = build_cache(spec_of(options(tmp_path, photos, cache_dir=str(tmp_path / "c"), seed=1)), device="cpu")
    assert a.name == b.name != c.name
    ta, tb, tc = load_file(a), load_file(b), load_file(c)
    assert set(ta) == {"lq", "gt", "teacher", "task_seed", "task", "group"}
    assert (ta["task"] == -1).all() and (ta["group"] == 0).all()  # tasks: space, a fresh G0 task each
    assert ta["lq"].shape == (5, 3, 8, 8) and ta["gt"].shape == ta["teacher"].shape == (5, 3, 32, 32)
    assert all(ta[k].dtype == np.uint8 for k in ("lq", "gt", "teacher"))
    for k in ta:
        assert np.array_equal(ta[k], tb[k]), k
    assert not np.array_equal(ta["gt"], tc["gt"]) and not np.array_equal(ta["task_seed"], tc["task_seed"])
    # the stored teacher output is the teacher run on the stored LQ patch
    from restoration.inference import Upscaler

    up = Upscaler(str(tmp_path / "teacher.safetensors"), device="cpu", tile=0)
    assert np.array_equal(up.upscale(ta["lq"][3].transpose(1, 2, 0)), ta["teacher"][3].transpose(1, 2, 0))
    cache = load_cache(spec_of(options(tmp_path, photos, cache_dir=str(tmp_path / "a"))))
    draw = cache.draw(np.random.default_rng(0), 2, "cpu")
    assert draw["lq"].shape == (2, 3, 8, 8) and float(draw["gt"].max()) <= 1.0


def test_context_shows_the_teacher_the_patch_inside_its_image(tmp_path, photos, one_torch_thread):
    """With ``context`` the stored samples keep their sizes, but the teacher saw 8 more LQ px on every side: its
    output matches a run on the bare LQ patch only farther than its receptive field (3 px) from the border."""
    from safetensors.numpy import load_file

    from restoration.data.distill_cache import build_cache
    from restoration.inference import Upscaler

    opt = options(tmp_path, photos, context=8)
    corpus(tmp_path / "gt", photos, size=128)  # 32 px patches + 2 x 8 x 4 px of context fit in
    spec = spec_of(opt)
    assert spec.dataset_opt()["gt_size"] == 96
    plain = spec_of(options(tmp_path, photos))
    assert spec.key_of(spec.fields()) != plain.key_of(plain.fields())
    t = load_file(build_cache(spec, device="cpu"))
    assert t["lq"].shape == (5, 3, 8, 8) and t["gt"].shape == t["teacher"].shape == (5, 3, 32, 32)
    up = Upscaler(str(tmp_path / "teacher.safetensors"), device="cpu", tile=0)
    bare = np.stack([up.upscale(lq.transpose(1, 2, 0)).transpose(2, 0, 1) for lq in t["lq"]]).astype(int)
    inner = (slice(None), slice(None), slice(12, 20), slice(12, 20))  # LQ px 3..4: 3 px from every border
    assert np.abs(bare[inner] - t["teacher"][inner]).max() <= 1  # the same pixels up to rounding
    assert np.abs(bare - t["teacher"]).max() > 8  # the border: zero padding in the bare run, image in the cache
    with pytest.raises(OptionError, match="train.distill_opt.context"):
        spec_of(options(tmp_path, photos, context=4))


def test_dataset_tasks_degrade_the_bank_share_with_bank_tasks(tmp_path, photos, one_torch_thread):
    """``tasks: dataset``: each patch gets the task the training sampler assigns it; the bank share is labelled
    with its bank index and group, degraded by that bank task, and appended to a batch with those labels."""
    import torch
    from basicsr.utils.img_process_util import USMSharp

    from restoration.data.distill_cache import build_cache, load_cache
    from restoration.degradations import TaskBank, degrade
    from restoration.losses.distill import DistillTarget

    bank = TaskBank.sample(3, seed=5, space=SPACE).with_groups({"light": [0, 1, 2]})
    bank.save(tmp_path / "bank.json")
    opt = options(tmp_path, photos, num_samples=8, tasks="dataset")
    opt["datasets"]["train"]["tasks"] = {"mode": "groups", "bank": str(tmp_path / "bank.json"),
                                         "group_weights": [0.5, 0.5]}
    spec = spec_of(opt)
    key = spec.key_of(spec.fields())
    plain = spec_of(options(tmp_path, photos, num_samples=8))
    assert key != plain.key_of(plain.fields())
    build_cache(spec, device="cpu")
    cache = load_cache(spec)
    task, group = cache.task.numpy(), cache.group.numpy()
    assert set(group) == {0, 1} and ((task >= 0) == (group == 1)).all()
    i = int(np.flatnonzero(task >= 0)[0])
    gt = cache.gt[i:i + 1].float() / 255
    gen = torch.Generator().manual_seed(int(np.random.default_rng([0, i, 3]).integers(2 ** 62)))
    lq = degrade(USMSharp()(gt), [bank[int(task[i])]], generator=gen, scale=4)
    assert np.array_equal((lq.clamp(0, 1) * 255).round().byte().numpy(), cache.lq[i:i + 1].numpy())
    # the bank file is part of the key: another bank under the same path is another cache
    TaskBank.sample(3, seed=6, space=SPACE).with_groups({"light": [0, 1, 2]}).save(tmp_path / "bank.json")
    assert spec.key_of(spec.fields()) != key
    # appended to a batch with their labels
    target = DistillTarget(opt, cache, torch.device("cpu"))
    batch = {"lq": torch.zeros(1, 3, 8, 8), "gt": torch.zeros(1, 3, 32, 32), "gt_usm": torch.zeros(1, 3, 32, 32),
             "task": torch.tensor([-1]), "group": torch.tensor([0])}
    out = next(o for o in (target.append(batch, p) for p in range(50)) if (o["task"][1:] >= 0).any())
    drawn = [int(np.flatnonzero((cache.lq.float() / 255 == x).flatten(1).all(1))[0]) for x in out["lq"][1:]]
    assert out["task"][1:].tolist() == task[drawn].tolist() and out["group"][1:].tolist() == group[drawn].tolist()


def test_stale_or_foreign_cache_is_refused_with_one_error(tmp_path, photos, one_torch_thread):
    from restoration.data.distill_cache import build_cache, load_cache

    built = build_cache(spec_of(options(tmp_path, photos)), device="cpu")
    # another seed: its file does not exist; the one there is named as stale
    with pytest.raises(RestorationError, match=r"does not exist; 1 cache\(s\) there were built from other inputs.*"
                                               r"make distill-cache"):
        load_cache(spec_of(options(tmp_path, photos, seed=3)))
    # a file copied under the name another recipe expects: its stored key says what differs
    wanted = spec_of(options(tmp_path, photos, num_samples=4))
    shutil.copy(built, wanted.path_for(wanted.key_of(wanted.fields())))
    with pytest.raises(RestorationError, match=r"built from other inputs \(differs in: num_samples \(5 there, 4 now\)"):
        load_cache(wanted)
    # a retrained teacher (same path, other weights) invalidates the cache
    tiny_teacher(tmp_path / "teacher.safetensors", seed=2)
    with pytest.raises(RestorationError, match="does not exist; 2 cache"):
        load_cache(spec_of(options(tmp_path, photos)))
    # a damaged file under the right name
    spec = spec_of(options(tmp_path, photos))
    spec.path_for(spec.key_of(spec.fields())).write_bytes(b"not a safetensors file")
    with pytest.raises(RestorationError, match="cannot be read.*delete it and rebuild"):
        load_cache(spec)


def test_command_builds_once_and_names_bad_options(tmp_path, photos, capsys, one_torch_thread):
    import yaml

    from restoration.data.build_distill_cache import main

    opt = options(tmp_path, photos, num_samples=2)
    opt.update(name="distill", model_type="RealSRGANMTLModel", num_gpu=0,
               network_g={"type": "SRVGGNetCompact", "num_feat": 4, "num_conv": 1, "upscale": 4},
               network_d={"type": "UNetDiscriminatorSN", "num_feat": 4})
    opt["train"].update(total_iter=1, optim_g={"type": "Adam", "lr": 1e-3}, optim_d={"type": "Adam", "lr": 1e-3})
    path = tmp_path / "distill.yml"
    path.write_text(yaml.safe_dump(opt))
    assert main(["-opt", str(path)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert first.startswith("distillation cache: ") and first.endswith(".safetensors")
    mtime = Path(first.split(": ", 1)[1]).stat().st_mtime_ns
    assert main(["-opt", str(path)]) == 0  # up to date: kept, not rebuilt
    assert capsys.readouterr().out.strip().splitlines()[-1] == first
    assert Path(first.split(": ", 1)[1]).stat().st_mtime_ns == mtime
    opt["train"]["distill_opt"]["per_batch"] = 9
    path.write_text(yaml.safe_dump(opt))
    assert main(["-opt", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.distill_opt.per_batch: 9 is more than num_samples (2)" in err[0]


def test_distill_options_are_checked():
    from restoration.losses.distill import check_distill_opt

    assert check_distill_opt({"teacher": "t", "num_samples": 8})["per_batch"] == 2
    with pytest.raises(OptionError, match="train.distill_opt.num_samples: missing"):
        check_distill_opt({"teacher": "t"})
    with pytest.raises(OptionError, match="train.distill_opt.type"):
        check_distill_opt({"teacher": "t", "num_samples": 8, "type": "MSELoss"})
