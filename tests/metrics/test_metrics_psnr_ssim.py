"""PSNR/SSIM must equal BasicSR's calculate_psnr/ssim (which read BGR) on real photos."""
import math

import numpy as np
import pytest

import restoration  # noqa: F401  (torchvision compat hook before basicsr)
from restoration.errors import RestorationError
from restoration.metrics import psnr, rgb_to_y, ssim


def _pairs(photos):
    rng = np.random.default_rng(0)
    for name, img in list(photos.items())[:3]:
        ref = img[:120, :160]
        noisy = np.clip(ref.astype(np.int16) + rng.integers(-20, 21, ref.shape), 0, 255).astype(np.uint8)
        shifted = np.roll(ref, 1, axis=1)
        yield name, noisy, ref
        yield name + "-shift", shifted, ref


@pytest.mark.parametrize("crop_border,y_channel", [(4, True), (0, True), (4, False), (2, False)])
def test_matches_basicsr(photos, crop_border, y_channel):
    from basicsr.metrics import calculate_psnr, calculate_ssim

    for _name, img, ref in _pairs(photos):
        bgr_img, bgr_ref = img[..., ::-1], ref[..., ::-1]
        want_p = calculate_psnr(bgr_img, bgr_ref, crop_border, test_y_channel=y_channel)
        want_s = calculate_ssim(bgr_img, bgr_ref, crop_border, test_y_channel=y_channel)
        assert abs(psnr(img, ref, crop_border, y_channel) - want_p) < 1e-6
        assert abs(ssim(img, ref, crop_border, y_channel) - want_s) < 1e-6


def test_y_channel_matches_basicsr_conversion(photos):
    from basicsr.metrics.metric_util import to_y_channel

    img = next(iter(photos.values()))[:64, :64]
    np.testing.assert_array_equal(rgb_to_y(img), to_y_channel(img[..., ::-1]))
    assert rgb_to_y(img).dtype == np.float32


def test_identical_and_ordering(photos):
    ref = next(iter(photos.values()))[:96, :96]
    assert math.isinf(psnr(ref, ref))
    assert ssim(ref, ref) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    mild = np.clip(ref + rng.normal(0, 3, ref.shape), 0, 255).astype(np.uint8)
    strong = np.clip(ref + rng.normal(0, 25, ref.shape), 0, 255).astype(np.uint8)
    assert psnr(mild, ref) > psnr(strong, ref) > 0
    assert ssim(mild, ref) > ssim(strong, ref)


def test_gray_images_are_supported(photos):
    from basicsr.metrics import calculate_psnr

    g = next(iter(photos.values()))[:64, :64, 1]
    h = np.roll(g, 2, axis=0)
    assert psnr(h, g) == pytest.approx(calculate_psnr(h[..., None], g[..., None], 4, test_y_channel=True), abs=1e-9)


def test_bad_inputs_raise_clear_errors():
    a = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(RestorationError, match="differs"):
        psnr(a, np.zeros((32, 30, 3), np.uint8))
    with pytest.raises(RestorationError, match="uint8"):
        psnr(a.astype(np.float32), a.astype(np.float32))
    with pytest.raises(RestorationError, match="crop_border"):
        ssim(a, a, crop_border=16)
    with pytest.raises(RestorationError, match="11x11"):
        ssim(a[:16, :16], a[:16, :16], crop_border=4)


def test_to_rgb8_normalises_layouts():
    from restoration.metrics.images import to_rgb8

    gray16 = np.full((4, 5), 65535, np.uint16)
    assert to_rgb8(gray16).shape == (4, 5, 3) and to_rgb8(gray16).max() == 255
    rgba = np.zeros((4, 5, 4), np.uint8)
    assert to_rgb8(rgba).shape == (4, 5, 3)
    with pytest.raises(RestorationError, match="float32"):
        to_rgb8(np.zeros((4, 5, 3), np.float32))
