"""The batched pipeline against a plain per-sample implementation built from basicsr's own ops (filter2D,
F.interpolate, its noise functions, DiffJPEG) fed with the same noise tensors; plus determinism, batching
invariance and input errors."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.data import degradations as bd
from basicsr.utils.diffjpeg import DiffJPEG
from basicsr.utils.img_process_util import filter2D
from basicsr_reference import basicsr_kernel

from restoration.degradations import DegradationSpace, Kernel, Noise, Resize, TaskBank, degrade
from restoration.degradations import pipeline as pl
from restoration.degradations.task import FINAL_ORDERS, RESIZE_MODES
from restoration.errors import RestorationError


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
    real_randn = torch.randn

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


_CODEC: list = []


def _diffjpeg():
    if not _CODEC:
        _CODEC.append(DiffJPEG(differentiable=False))
    return _CODEC[0]


@torch.no_grad()
def _reference(gt: torch.Tensor, task, draws: list[torch.Tensor], scale: int, monkeypatch) -> torch.Tensor:
    """One sample, the Real-ESRGAN feed_data sequence written with basicsr ops and 21x21 padded kernels."""
    jpeger = _diffjpeg()
    H, W = gt.shape[-2:]

    def kern(k):
        return torch.FloatTensor(np.pad(basicsr_kernel(k), (21 - k.size) // 2))[None]

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


def _parity(photos, monkeypatch, tasks, size=96, seed=11):
    """Run the batched pipeline, replay its noise through the per-sample reference; return comparison figures."""
    gt = _gt_batch(photos, len(tasks), size)
    rec = _Recorder()
    with monkeypatch.context() as m:
        rec.install(m)
        ours = degrade(gt, tasks, torch.Generator().manual_seed(seed))
    # Draw order in the batched path: stage-1 noise per group, then stage-2 noise per group (first-seen order).
    groups: dict = {}
    for i, t in enumerate(tasks):
        groups.setdefault(t, []).append(i)
    keys = list(groups)
    assert len(rec.draws) == 2 * len(keys)
    per_sample: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(tasks))}
    for stage in range(2):
        for gi, t in enumerate(keys):
            z = rec.draws[stage * len(keys) + gi]
            for j, i in enumerate(groups[t]):
                per_sample[i].append(z[j:j + 1])
    bad, exact, affected, control = 0, 0, 0, 0.0
    for i, t in enumerate(tasks):
        ref = _reference(gt[i:i + 1], t, list(per_sample[i]), 4, monkeypatch)
        diff = (ours[i:i + 1] - ref).abs()
        exact += int((diff == 0).sum())
        n_bad = int((diff > 1 / 255 + 1e-6).sum())
        bad += n_bad
        affected += n_bad > 0
        if i >= 3:
            continue
        # control: the same reference with other noise must not match (the replay is what makes them agree)
        other = [torch.zeros_like(z) if t.noise1.kind == "gaussian" else z * 0 + z.mean() for z in per_sample[i]]
        control = max(control, float((ours[i:i + 1] - _reference(gt[i:i + 1], t, other, 4, monkeypatch)).abs().max()))
    return {"values": ours.numel(), "bad": bad, "exact": exact, "affected": affected, "control": control}


def test_batched_pipeline_matches_per_sample_basicsr_reference(photos, monkeypatch):
    bank = TaskBank.sample(12, seed=7)
    tasks = bank.tasks + [bank[0], bank[3]]  # repeated tasks share one group in the batched path
    r = _parity(photos, monkeypatch, tasks)
    print(f"parity (sampled tasks): {r}")
    # Within 1/255 everywhere except where float-order effects flip a JPEG coefficient's rounding.
    assert r["bad"] / r["values"] < 2e-3 and r["affected"] <= 2, r
    assert r["exact"] / r["values"] > 0.99, r
    assert r["control"] > 2 / 255


def _branch_tasks() -> list:
    """Hand-made tasks that together take every branch: each blur family and sinc, each resize direction and
    mode, Gaussian/Poisson x colour/gray noise, second blur on/off, both final orders, final sinc on/off."""
    base = TaskBank.sample(1, seed=3)[0]
    kinds = [Kernel("iso", 7, sigma_x=1.1, sigma_y=1.1), Kernel("aniso", 21, sigma_x=2.5, sigma_y=0.4, theta=0.8),
             Kernel("generalized_iso", 13, sigma_x=1.5, sigma_y=1.5, beta=0.6),
             Kernel("generalized_aniso", 15, sigma_x=0.5, sigma_y=2.0, theta=-2.0, beta=3.1),
             Kernel("plateau_iso", 9, sigma_x=1.0, sigma_y=1.0, beta=1.4),
             Kernel("plateau_aniso", 17, sigma_x=2.2, sigma_y=1.3, theta=2.9, beta=1.0),
             Kernel("sinc", 11, omega=1.3), Kernel("sinc", 21, omega=0.7)]
    resizes = [Resize("up", 1.37, "bicubic"), Resize("down", 0.41, "area"), Resize("keep", 1.0, "bilinear"),
               Resize("down", 0.83, "bilinear")]
    resizes2 = [Resize("up", 1.15, "area"), Resize("down", 0.55, "bicubic"), Resize("keep", 1.0, "bilinear")]
    noises = [Noise("gaussian", 12.0, False), Noise("gaussian", 25.0, True), Noise("poisson", 2.2, False),
              Noise("poisson", 1.1, True)]
    out = []
    for i, k in enumerate(kinds):
        out.append(dataclasses.replace(
            base, blur1=k, resize1=resizes[i % 4], noise1=noises[i % 4], jpeg1=30.0 + 8 * i,
            blur2=None if i % 3 == 0 else kinds[(i + 3) % len(kinds)], resize2=resizes2[i % 3],
            noise2=noises[(i + 1) % 4], final_order=FINAL_ORDERS[i % 2], final_mode=RESIZE_MODES[i % 3],
            final_sinc=None if i % 4 == 1 else Kernel("sinc", 7 + 2 * (i % 8), omega=1.0 + 0.2 * i),
            jpeg2=95.0 - 7 * i))
    return out


def test_every_branch_matches_the_basicsr_reference(photos, monkeypatch):
    tasks = _branch_tasks()
    r = _parity(photos, monkeypatch, tasks, seed=5)
    print(f"parity (branch tasks): {r}")
    assert r["bad"] / r["values"] < 2e-3 and r["affected"] <= 2, r
    assert r["exact"] / r["values"] > 0.99, r


def test_same_seed_same_lq_and_output_is_8bit(photos):
    tasks = TaskBank.sample(6, seed=1).tasks
    gt = _gt_batch(photos, 6, 96)
    a = degrade(gt, tasks, torch.Generator().manual_seed(3))
    b = degrade(gt, tasks, torch.Generator().manual_seed(3))
    c = degrade(gt, tasks, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)  # bit-identical on CPU
    assert not torch.equal(a, c)  # the noise realisation follows the seed
    assert a.shape == (6, 3, 24, 24) and a.dtype == gt.dtype and a.device == gt.device
    assert torch.equal(a * 255, (a * 255).round()) and a.min() >= 0 and a.max() <= 1
    other = degrade(gt, TaskBank.sample(6, seed=2).tasks, torch.Generator().manual_seed(3))
    assert (other - a).abs().mean() > 1 / 255  # different tasks, different images


def test_batching_does_not_change_results_without_noise(photos):
    """With zero noise, each sample's LQ is the same in any batch composition (canvas blur, bucketed JPEG)."""
    tasks = [dataclasses.replace(t, noise1=Noise("gaussian", 0.0, False), noise2=Noise("gaussian", 0.0, True))
             for t in _branch_tasks()[:6]]
    tasks = tasks + [tasks[2]]
    gt = _gt_batch(photos, len(tasks), 96)
    together = degrade(gt, tasks)
    for i, t in enumerate(tasks):
        alone = degrade(gt[i:i + 1], [t])
        diff = (together[i:i + 1] - alone).abs()
        assert float(diff.max()) <= 1 / 255 + 1e-6
        assert float((diff == 0).float().mean()) > 0.99


def test_bank_indices_and_random_tasks(photos):
    bank = TaskBank.sample(5, seed=0)
    gt = _gt_batch(photos, 3, 64 + 32)
    by_task = degrade(gt, [bank[4], bank[0], bank[4]], torch.Generator().manual_seed(0))
    by_index = degrade(gt, torch.tensor([4, 0, 4]), torch.Generator().manual_seed(0), bank=bank)
    assert torch.equal(by_task, by_index)
    fresh = DegradationSpace().sample_many(3, np.random.default_rng(0))  # group G0: a fresh task per sample
    assert degrade(gt, fresh, torch.Generator().manual_seed(0)).shape == (3, 3, 24, 24)
    r1 = degrade(gt, "random", torch.Generator().manual_seed(9))
    r2 = degrade(gt, "random", torch.Generator().manual_seed(9))
    r3 = degrade(gt, "random", torch.Generator().manual_seed(10))
    assert torch.equal(r1, r2) and not torch.equal(r1, r3)


def test_input_errors_are_one_clear_message():
    t = TaskBank.sample(1, seed=0)[0]
    big = dataclasses.replace(t, blur1=Kernel("iso", 21, sigma_x=1.0, sigma_y=1.0))
    with pytest.raises(RestorationError, match=r"too small for the 21x21 kernel at the first blur step"):
        degrade(torch.rand(1, 3, 8, 8), [big], scale=2)
    with pytest.raises(RestorationError, match=r"expected a \(B, 3, H, W\) tensor"):
        degrade(torch.rand(3, 32, 32), [t])
    with pytest.raises(RestorationError, match="2 task"):
        degrade(torch.rand(1, 3, 64, 64), [t, t])
    with pytest.raises(RestorationError, match="without a task bank"):
        degrade(torch.rand(1, 3, 64, 64), torch.tensor([0]))
    with pytest.raises(RestorationError, match="float"):
        degrade(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), [t])


def test_results_do_not_depend_on_torch_threads_and_the_count_is_left_alone(photos, monkeypatch):
    """degrade never changes the process's torch thread count, not even for a while (a library call: other threads
    of the process would see it; the job's entry point chooses the count), and its output is the same under one
    or two threads."""
    tasks = _branch_tasks()
    gt = _gt_batch(photos, len(tasks), 96)
    before = torch.get_num_threads()
    set_threads = torch.set_num_threads
    out = {}
    try:
        for n in (1, 2):
            set_threads(n)
            with monkeypatch.context() as m:
                m.setattr(torch, "set_num_threads", lambda _: pytest.fail("degrade changed torch's thread count"))
                out[n] = degrade(gt, tasks, torch.Generator().manual_seed(11))
    finally:
        set_threads(before)
    assert torch.equal(out[1], out[2])


def test_cutting_large_groups_into_chunks_changes_no_value(photos, monkeypatch):
    """The resizes, blurs, JPEG and shot noise run large groups in chunks (to stay in cache): every value must be
    what one pass over the whole group gives, noise included (the draws stay in the same order)."""
    from restoration.degradations import blur, chunks

    tasks = _branch_tasks()
    gt = _gt_batch(photos, 10, 96)
    whole, cut = [], []
    for chunk, out in ((1000, whole), (3, cut)):
        with monkeypatch.context() as m:
            m.setattr(chunks, "CHUNK", chunk)
            m.setattr(blur, "CANVAS_CHANNELS_MAX", 3 * chunk)
            for k, t in enumerate(tasks):  # one task per batch: a group of 10 samples, cut into 4 chunks
                out.append(degrade(gt, [t] * 10, torch.Generator().manual_seed(k)))
            out.append(degrade(gt, tasks[:5] + tasks[:5], torch.Generator().manual_seed(99)))  # groups of 2
    for k, (a, b) in enumerate(zip(whole, cut)):
        assert torch.equal(a, b), f"batch {k} changed when cut into chunks"
