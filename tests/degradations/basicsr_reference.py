"""Shared by the degradation tests: basicsr's own kernel functions, the reference our kernels must equal."""
import numpy as np

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.data import degradations as bd

from restoration.degradations import Kernel


def basicsr_kernel(k: Kernel) -> np.ndarray:
    iso = not k.kind.endswith("aniso")
    if k.kind == "sinc":
        return bd.circular_lowpass_kernel(k.omega, k.size, pad_to=False)
    if k.kind in ("iso", "aniso"):
        return bd.bivariate_Gaussian(k.size, k.sigma_x, k.sigma_y, k.theta, isotropic=iso)
    if k.kind.startswith("generalized"):
        return bd.bivariate_generalized_Gaussian(k.size, k.sigma_x, k.sigma_y, k.theta, k.beta, isotropic=iso)
    return bd.bivariate_plateau(k.size, k.sigma_x, k.sigma_y, k.theta, k.beta, isotropic=iso)
