"""Parity with the reference ops: kernels equal basicsr's kernel functions; for fixed tasks, the batched pipeline
equals a plain per-sample implementation built from basicsr's own ops fed with the same noise tensors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import restoration  # noqa: F401  (compat hook before basicsr)
from basicsr.data import degradations as bd
from basicsr.utils.diffjpeg import DiffJPEG
from basicsr.utils.img_process_util import filter2D

from restoration.degradations import DegradationSpace, Kernel, TaskBank, degrade, kernel_array
from restoration.degradations import pipeline as pl


def _basicsr_kernel(k: Kernel) -> np.ndarray:
    iso = not k.kind.endswith("aniso")
    if k.kind == "sinc":
        return bd.circular_lowpass_kernel(k.omega, k.size, pad_to=False)
    if k.kind in ("iso", "aniso"):
        return bd.bivariate_Gaussian(k.size, k.sigma_x, k.sigma_y, k.theta, isotropic=iso)
    if k.kind.startswith("generalized"):
        return bd.bivariate_generalized_Gaussian(k.size, k.sigma_x, k.sigma_y, k.theta, k.beta, isotropic=iso)
    return bd.bivariate_plateau(k.size, k.sigma_x, k.sigma_y, k.theta, k.beta, isotropic=iso)


def test_kernels_equal_basicsr_for_every_kind():
    space = DegradationSpace()
    rng = np.random.default_rng(3)
    seen = set()
    worst = 0.0
    for _ in range(600):
        k = space._blur(rng, "")
        seen.add(k.kind)
        ours, ref = kernel_array(k), _basicsr_kernel(k)
        assert ours.shape == ref.shape == (k.size, k.size)
        worst = max(worst, float(np.abs(ours - ref).max()))
    assert seen == {"iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"}
    assert worst < 1e-6


def test_hand_picked_kernels_equal_basicsr():
    cases = [
        Kernel("aniso", 21, sigma_x=3.0, sigma_y=0.2, theta=-math.pi),
        Kernel("generalized_aniso", 7, sigma_x=0.2, sigma_y=3.0, theta=1.0, beta=0.5),
        Kernel("plateau_iso", 15, sigma_x=2.0, sigma_y=2.0, beta=2.0),
        Kernel("sinc", 7, omega=math.pi),
        Kernel("sinc", 21, omega=math.pi / 5),
    ]
    for k in cases:
        np.testing.assert_allclose(kernel_array(k), _basicsr_kernel(k), rtol=0, atol=1e-6)
    padded = kernel_array(Kernel("sinc", 9, omega=1.0), pad_to=21)
    np.testing.assert_allclose(padded, bd.circular_lowpass_kernel(1.0, 9, pad_to=21), rtol=0, atol=1e-6)


class _Recorder:
    """Wraps the pipeline's noise draws and keeps what they returned, in order."""

    def __init__(self):
        self.draws: list[torch.Tensor] = []

    def install(self, monkeypatch):
        randn, poisson = pl._randn, pl._poisson

        def rec_randn(shape, like, gen):
            z = randn(shape, like, gen)
            self.draws.append(z.clone())
            return z

        def rec_poisson(rate, gen):
            z = poisson(rate, gen)
            self.draws.append(z.clone())
            return z

        monkeypatch.setattr(pl, "_randn", rec_randn)
        monkeypatch.setattr(pl, "_poisson", rec_poisson)


def _replayed_noise(monkeypatch, recorded: torch.Tensor, fn, *args, **kwargs):
    """Call a basicsr noise function with torch.randn/torch.poisson replaying ``recorded``.

    basicsr always draws colour noise too and mixes it with weight 0 for gray noise; that unused draw gets zeros.
    """
    real_randn, real_poisson = torch.randn, torch.poisson

    def fake_randn(*size, dtype=None, device=None, **_):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else size
        if math.prod(shape) == recorded.numel():
            return recorded.reshape(shape).to(dtype or recorded.dtype)
        return real_randn(*shape, dtype=dtype, device=device).zero_()

    def fake_poisson(rate, *a, **k):
        if rate.numel() == recorded.numel():
            return recorded.reshape(rate.shape)
        return rate.clone()

    with monkeypatch.context() as m:
        m.setattr(torch, "randn", fake_randn)
        m.setattr(torch, "poisson", fake_poisson)
        return fn(*args, **kwargs)


@torch.no_grad()
def _reference(gt: torch.Tensor, task, draws: list[torch.Tensor], scale: int, monkeypatch) -> torch.Tensor:
    """One sample, the Real-ESRGAN feed_data sequence written with basicsr ops and 21x21 padded kernels."""
    jpeger = DiffJPEG(differentiable=False)
    H, W = gt.shape[-2:]

    def kern(k):
        return torch.FloatTensor(np.pad(_basicsr_kernel(k), (21 - k.size) // 2))[None]

    def noise(x, spec):
        z = draws.pop(0)
        gray = torch.tensor([1.0 if spec.gray else 0.0])
        lvl = torch.tensor([spec.level])
        if spec.kind == "gaussian":
            return _replayed_noise(monkeypatch, z, bd.add_gaussian_noise_pt, x, sigma=lvl, gray_noise=gray,
                                   clip=True, rounds=False)
        return _replayed_noise(monkeypatch, z, bd.add_poisson_noise_pt, x, scale=lvl, gray_noise=gray,
                               clip=True, rounds=False)

    def jpeg(x, q):
        return jpeger(torch.clamp(x, 0, 1), quality=x.new_tensor([q]))

    out = filter2D(gt, kern(task.blur1))
    out = F.interpolate(out, scale_factor=task.resize1.scale, mode=task.resize1.mode)
    out = jpeg(noise(out, task.noise1), task.jpeg1)
    if task.blur2 is not None:
        out = filter2D(out, kern(task.blur2))
    s2 = task.resize2.scale
    out = F.interpolate(out, size=(int(H / scale * s2), int(W / scale * s2)), mode=task.resize2.mode)
    out = noise(out, task.noise2)
    sinc = kern(task.final_sinc) if task.final_sinc is not None else None

    def resize_sinc(x):
        x = F.interpolate(x, size=(H // scale, W // scale), mode=task.final_mode)
        return filter2D(x, sinc) if sinc is not None else x

    if task.final_order == "resize_sinc_jpeg":
        out = jpeg(resize_sinc(out), task.jpeg2)
    else:
        out = resize_sinc(jpeg(out, task.jpeg2))
    return torch.clamp((out * 255.0).round(), 0, 255) / 255.0


def _gt_batch(photos, n: int, size: int) -> torch.Tensor:
    imgs = list(photos.values())
    crops = []
    for i in range(n):
        img = imgs[i % len(imgs)]
        y = (i * 37) % max(1, img.shape[0] - size)
        x = (i * 53) % max(1, img.shape[1] - size)
        crops.append(torch.from_numpy(np.ascontiguousarray(img[y:y + size, x:x + size])).permute(2, 0, 1))
    return torch.stack(crops).float() / 255.0


def test_batched_pipeline_matches_per_sample_basicsr_reference(photos, monkeypatch):
    bank = TaskBank.sample(12, seed=7)
    tasks = bank.tasks + [bank[0], bank[3]]  # repeated tasks share one group in the batched path
    gt = _gt_batch(photos, len(tasks), 128)
    rec = _Recorder()
    rec.install(monkeypatch)
    ours = degrade(gt, tasks, torch.Generator().manual_seed(11))
    monkeypatch.undo()

    # Draw order in the batched path: stage-1 noise per group, stage-2 noise per group (groups in first-seen order).
    groups: dict = {}
    for i, t in enumerate(tasks):
        groups.setdefault(t, []).append(i)
    keys = list(groups)
    per_sample: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(tasks))}
    for stage in range(2):
        for t in keys:
            z = rec.draws[stage * len(keys) + keys.index(t)]
            for j, i in enumerate(groups[t]):
                per_sample[i].append(z[j:j + 1])
    assert len(rec.draws) == 2 * len(keys)

    total_bad, worst_tasks, exact, control = 0, 0, 0, 0.0
    for i, t in enumerate(tasks):
        zeros = [torch.zeros_like(z) if t.noise1.kind == "gaussian" else z for z in per_sample[i]]
        ref = _reference(gt[i:i + 1], t, list(per_sample[i]), 4, monkeypatch)
        diff = (ours[i:i + 1] - ref).abs()
        exact += int((diff == 0).sum())
        if t.noise1.kind == "gaussian":  # control: the same reference without our noise must not match
            control = max(control, float((ours[i:i + 1] - _reference(gt[i:i + 1], t, zeros, 4, monkeypatch)).abs().max()))
        bad = int((diff > 1 / 255 + 1e-6).sum())
        total_bad += bad
        worst_tasks += bad > 0
    n_pix = ours.numel()
    # Everything agrees to 1/255 except where float-level differences flip a JPEG coefficient's rounding.
    print(f"parity: {total_bad} of {n_pix} values differ by more than 1/255 ({exact} identical); "
          f"tasks affected: {worst_tasks}; control without the noise differs by {control * 255:.0f}/255")
    assert control > 2 / 255
    assert total_bad / n_pix < 2e-3, (total_bad, n_pix)
    assert worst_tasks <= 3
