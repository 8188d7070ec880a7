"""Building PSF kernels from radial profiles: pure functions on small numpy arrays.

A kernel plane is the PSF sampled on a sub-grid of the target pixels (upsampled by a factor
``f``), summed back into target pixels and normalised to 1.  gammapy chooses, per energy plane,
``f = min(ceil(precision_factor / (2 R68 / pixel)), PSF_MAX_OVERSAMPLING)`` and a square sub-grid
of odd size ``round_up_to_odd(2 r / pixel)`` around the centre, ``r`` being the plane's 99.9 %
containment radius; pixels outside the square stay 0.
"""

from __future__ import annotations

import numpy as np

from .grid_interp import interp_on_grid, pixel_neighbours

__all__ = [
    "PSF_MAX_OVERSAMPLING",
    "block_sum",
    "flat_gauss_density",
    "normalize_planes",
    "paste_centred",
    "sample_radial_profile",
    "spherical_gauss_shape",
    "upsampling_factors",
]

#: Largest per-plane oversampling of the kernel sub-grid (gammapy's ``PSF_MAX_OVERSAMPLING``).
PSF_MAX_OVERSAMPLING = 4


def upsampling_factors(r68, pixel_size, precision_factor=12, max_factor=PSF_MAX_OVERSAMPLING) -> np.ndarray:
    """Oversampling factor per energy plane: pixels are refined until a 68 % containment
    diameter spans about ``precision_factor`` sub-pixels, at most ``max_factor`` times.

    ``r68`` and ``pixel_size`` in the same unit.
    """
    with np.errstate(divide="ignore"):
        wanted = np.ceil(precision_factor / (2 * np.asarray(r68, dtype=float) / pixel_size))
    return np.minimum(wanted, max_factor).astype(int)


def sample_radial_profile(profile: np.ndarray, rad_pix: np.ndarray) -> np.ndarray:
    """PSF values at fractional ``rad`` pixel coordinates, linear (extrapolated) and clipped at 0.

    Parameters
    ----------
    profile : ndarray, shape ``(n_rad,)``
        PSF density at the ``rad`` axis pixels.
    rad_pix : ndarray
        ``rad`` pixel coordinate of every sub-pixel.
    """
    i0, t = pixel_neighbours(rad_pix, profile.size)
    return np.clip(interp_on_grid(profile, i0, t, axis=0), 0.0, None)


def block_sum(image: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``factor × factor`` blocks of the last two axes (sub-pixels back into pixels)."""
    if factor == 1:
        return image
    *lead, ny, nx = image.shape
    return image.reshape(*lead, ny // factor, factor, nx // factor, factor).sum(axis=(-3, -1))


def paste_centred(planes, npix: int, dtype="float32") -> np.ndarray:
    """Stack odd-sized square images centred in ``npix × npix`` planes (zeros around them).

    ``planes`` holds one image per output plane, or None for a plane left empty.
    """
    out = np.zeros((len(planes), npix, npix), dtype=dtype)
    for idx, image in enumerate(planes):
        if image is None:
            continue
        start = (npix - image.shape[-1]) // 2
        out[idx, start : start + image.shape[-2], start : start + image.shape[-1]] = image
    return out


def normalize_planes(data: np.ndarray) -> np.ndarray:
    """Divide every image (last two axes) by its sum; empty or non-finite planes become 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(data / data.sum(axis=(-2, -1), keepdims=True))


def flat_gauss_density(rad, sigma):
    """2D Gaussian probability density per unit area in the flat-sky approximation.

    ``rad`` and ``sigma`` broadcast; the result is in ``1 / unit(sigma)**2``.
    """
    return np.exp(-0.5 * (rad / sigma) ** 2) / (2 * np.pi * sigma**2)


def spherical_gauss_shape(separation_rad, sigma_rad):
    """Unnormalised spherical Gaussian ``exp(-(1 - cos θ) / (2 (1 - cos σ)))`` (angles in radians).

    Same shape as gammapy's ``GaussianSpatialModel`` (its normalisation cancels in a kernel).
    """
    a = 1.0 - np.cos(sigma_rad)
    return np.exp(-(1.0 - np.cos(separation_rad)) / (2 * a))
