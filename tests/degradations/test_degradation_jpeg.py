"""Our batched JPEG codec against basicsr's DiffJPEG(differentiable=False), the codec Real-ESRGAN trains with."""
from __future__ import annotations

import numpy as np
import torch

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.utils.diffjpeg import DiffJPEG

from restoration.degradations.jpeg import jpeg


def _batch(photos, sizes):
    imgs = list(photos.values())
    out = []
    for i, (h, w) in enumerate(sizes):
        a = imgs[i % len(imgs)][:h, :w]
        out.append(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0)
    return out


def test_matches_diffjpeg_on_photos_with_per_sample_quality(photos):
    ref_codec = DiffJPEG(differentiable=False)
    worst, identical, total = 0.0, 0, 0
    for h, w in [(96, 128), (83, 121), (64, 64)]:  # odd sizes exercise the zero padding to 16
        x = torch.stack(_batch(photos, [(h, w)] * 4))
        q = torch.tensor([30.0, 47.5, 71.3, 95.0])
        with torch.no_grad():
            ref = ref_codec(x, quality=q.clone())
        ours = jpeg(x, q)
        assert ours.shape == x.shape
        d = (ours - ref).abs()
        worst = max(worst, float(d.max()))
        identical += int((d == 0).sum())
        total += d.numel()
    print(f"jpeg vs DiffJPEG: max |diff| {worst * 255:.2e}/255, {identical / total:.1%} bit-identical")
    assert worst < 0.5 / 255  # float-order effects only, no rounding flip on these photos


def test_quality_matters_and_batch_equals_single(photos):
    x = torch.stack(_batch(photos, [(64, 80)] * 2))
    lo, hi = jpeg(x, 30.0), jpeg(x, 95.0)
    assert (lo - x).abs().mean() > (hi - x).abs().mean()
    both = jpeg(x, torch.tensor([30.0, 95.0]))
    assert torch.allclose(both[0], lo[0], atol=1e-6) and torch.allclose(both[1], hi[1], atol=1e-6)


def test_differentiable_mode_passes_gradients(photos):
    x = torch.stack(_batch(photos, [(32, 32)])).requires_grad_(True)
    jpeg(x, 50.0, differentiable=True).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
