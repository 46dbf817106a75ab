"""Canvas-batched blur (strips, mixed sizes, separable isotropic Gaussians) equals basicsr's filter2D per item."""
from __future__ import annotations

import pytest
import torch

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.utils.img_process_util import filter2D

from restoration.degradations import Kernel, kernel_array
from restoration.degradations.blur import blur_many, filter2d
from restoration.errors import RestorationError


def test_blur_many_equals_filter2d_item_by_item():
    torch.manual_seed(0)
    items = [torch.rand(1, 3, 200, 180), torch.rand(2, 3, 64, 64), torch.rand(1, 3, 150, 150),
             torch.rand(1, 3, 40, 50), torch.rand(4, 3, 32, 32), torch.rand(1, 3, 97, 131)]
    kernels = [Kernel("aniso", 21, sigma_x=2.0, sigma_y=1.0, theta=0.3), Kernel("iso", 7, sigma_x=1.0, sigma_y=1.0),
               Kernel("iso", 19, sigma_x=2.5, sigma_y=2.5), Kernel("sinc", 11, omega=1.2),
               Kernel("plateau_iso", 9, sigma_x=1.3, sigma_y=1.3, beta=1.5),
               Kernel("iso", 15, sigma_x=1.7, sigma_y=1.7)]
    outs = blur_many(items, kernels)
    for x, k, y in zip(items, kernels, outs):
        ref = filter2D(x, torch.FloatTensor(kernel_array(k, pad_to=21))[None].expand(x.shape[0], 21, 21))
        assert y.shape == x.shape
        assert float((y - ref).abs().max()) < 1e-5


def test_shared_and_per_sample_kernels_and_size_errors():
    x = torch.rand(3, 3, 40, 40)
    k = Kernel("aniso", 9, sigma_x=1.0, sigma_y=2.0, theta=1.0)
    ref = filter2D(x, torch.FloatTensor(kernel_array(k))[None])
    assert torch.allclose(filter2d(x, torch.FloatTensor(kernel_array(k))[None]), ref, atol=1e-6)
    with pytest.raises(RestorationError, match="too small for the 21x21 kernel at the second blur step"):
        blur_many([torch.rand(1, 3, 10, 40)], [Kernel("iso", 21, sigma_x=1.0, sigma_y=1.0)], "second blur")


def test_fft_path_equals_filter2d_for_large_kernels_on_large_images():
    from restoration.degradations import blur

    torch.manual_seed(1)
    x = torch.rand(2, 3, 131, 157)  # odd sizes: padded 151 x 177 -> FFT lengths 160 x 180
    for k in (Kernel("aniso", 21, sigma_x=2.5, sigma_y=0.8, theta=-1.1),
              Kernel("generalized_aniso", 15, sigma_x=1.5, sigma_y=2.2, theta=0.4, beta=3.0)):
        assert k.size >= blur.FFT_MIN_SIZE and blur.kernel_vector(k) is None  # takes the FFT path
        ref = filter2D(x, torch.FloatTensor(kernel_array(k, pad_to=21))[None].expand(2, 21, 21))
        assert float((blur._fft_blur(x, k) - ref).abs().max()) < 1e-5
        assert float((blur_many([x], [k])[0] - ref).abs().max()) < 1e-5
    assert [blur._fast_len(n) for n in (151, 177, 262, 7)] == [160, 180, 270, 8]
