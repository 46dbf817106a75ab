"""grid_score: about 1 on photos and their bicubic upscales, far above 1 when a 4-periodic pattern is added."""
import cv2
import numpy as np
import pytest

from restoration.metrics.periodic import grid_score


def test_photo_and_bicubic_score_near_one(photos):
    img = next(iter(photos.values()))[:256, :256]
    lq = cv2.resize(img, (64, 64), interpolation=cv2.INTER_AREA)
    bicubic = cv2.resize(lq, (256, 256), interpolation=cv2.INTER_CUBIC)
    assert 0.3 < grid_score(img) < 2.0
    assert 0.3 < grid_score(bicubic) < 2.0


def test_a_faint_block_pattern_stands_out(photos):
    img = next(iter(photos.values()))[:256, :256].astype(np.float64)
    tile = np.random.default_rng(0).normal(0, 2.0, (4, 4))  # +-2 levels, repeated every 4 px
    gridded = img + np.tile(tile, (64, 64))[..., None]
    assert grid_score(gridded) > 3 * grid_score(img)
    assert grid_score(gridded, period=4) > grid_score(gridded, period=3)


def test_too_small_is_refused():
    with pytest.raises(ValueError, match="too small"):
        grid_score(np.zeros((16, 16)))
