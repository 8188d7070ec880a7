"""Spatial profiles of sky models as pure array functions, and their integration over pixels.

Every function takes plain arrays (numpy, or dask: only ufuncs and ``where`` are used on the
coordinate arrays) with angles in **radians**, and returns plain arrays; profiles are surface
brightnesses in sr⁻¹, normalised to one over the sphere.  The formulas, normalisations and
oversampling rules are gammapy's (``gammapy.modeling.models.spatial``), so values agree with
gammapy to rounding.  The model classes in :mod:`mapds.modeling.models.spatial` turn their
parameters into these arguments; the dataset layer can map the same functions over dask chunks
of coordinates.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from ..geom.scale import scale, scale_inverse
from ..geom.spherical import position_angle, separation

__all__ = [
    "EDGE_WIDTH_95",
    "MAX_OVERSAMPLING",
    "block_sum",
    "disk",
    "disk_norm",
    "effective_radius",
    "gaussian",
    "generalized_gaussian",
    "integrate_pixels",
    "interpolate_grid",
    "normalize_template",
    "oversampling_factor",
    "point_source_weights",
    "shell",
]

#: Largest factor by which a pixel is split per side when integrating a small source.
MAX_OVERSAMPLING = 200

#: ``erf`` argument scale making a disk edge fall from 95 % to 5 % over ``edge_width``:
#: ``2 × erfinv(0.9)``.
EDGE_WIDTH_95 = 2.326174307353347


def effective_radius(lon, lat, lon_0, lat_0, major_axis, e, phi):
    """Radius of an ellipse on the sky in the direction of each point.

    Parameters
    ----------
    lon, lat : array-like
        Points (rad).
    lon_0, lat_0 : float
        Ellipse centre (rad).
    major_axis : float
        Semi-major axis (rad).
    e : float
        Eccentricity, ``minor = major × sqrt(1 − e²)``.
    phi : float
        Position angle of the major axis, east of north (rad).

    Returns
    -------
    array
        Distance (rad) from the centre to the ellipse boundary along the direction of each point.
    """
    minor_axis = major_axis * np.sqrt(1 - e**2)
    d_phi = phi - position_angle(lon_0, lat_0, lon, lat)
    denominator = np.sqrt((major_axis * np.sin(d_phi)) ** 2 + (minor_axis * np.cos(d_phi)) ** 2)
    return major_axis * minor_axis / denominator


def gaussian(lon, lat, lon_0, lat_0, sigma, e=0.0, phi=0.0):
    """Gaussian surface brightness (sr⁻¹).

    For ``e = 0`` this is the normalised spherical Gaussian
    ``exp(−(1 − cos θ) / 2a) / (4π a (1 − exp(−1/a)))`` with ``a = 1 − cos σ``.  For ``e > 0``
    the width follows the ellipse (``σ_eff`` from :func:`effective_radius`) and the
    normalisation is the flat-sky one, ``1 / (2π σ σ_minor)``.
    """
    sep = separation(lon, lat, lon_0, lat_0)
    if e == 0:
        a = 1.0 - np.cos(sigma)
        norm = 1.0 / (4 * np.pi * a * (1.0 - np.exp(-1.0 / a)))
    else:
        a = 1.0 - np.cos(effective_radius(lon, lat, lon_0, lat_0, sigma, e, phi))
        norm = 1.0 / (2 * np.pi * sigma * sigma * np.sqrt(1 - e**2))
    return norm * np.exp(-0.5 * (1 - np.cos(sep)) / a)


def generalized_gaussian(lon, lat, lon_0, lat_0, r_0, eta, e=0.0, phi=0.0):
    """Generalized Gaussian ``exp(−(θ / r_eff)^(1/η))`` normalised on the flat sky (sr⁻¹)."""
    sep = separation(lon, lat, lon_0, lat_0)
    r_eff = effective_radius(lon, lat, lon_0, lat_0, r_0, e, phi)
    minor_axis = r_0 * np.sqrt(1 - e**2)
    norm = 1.0 / (2 * np.pi * minor_axis * r_0 * eta * scipy.special.gamma(2 * eta))
    return norm * np.exp(-((sep / r_eff) ** (1 / eta)))


def disk_norm(r_0, e=0.0):
    """Inverse solid angle (sr⁻¹) of an elliptical cap of semi-major axis ``r_0`` (rad).

    The cap is bounded by ``sin⁻² ρ(x) = B + (A − B) cos² x`` with ``A = sin⁻² r_0`` and
    ``B = sin⁻² r_minor``; its area ``2 ∫₀^π (1 − cos ρ) dx`` is integrated numerically
    (``scipy.integrate.quad``), as gammapy does.  ``1 − cos ρ`` is evaluated as
    ``s / (1 + sqrt(1 − s))`` with ``s = sin² ρ`` to avoid cancellation for small disks.
    """
    import scipy.integrate  # deferred (as scipy.interpolate below): not needed at import time

    inv_sin2_major = 1.0 / np.sin(r_0) ** 2
    inv_sin2_minor = 1.0 / np.sin(r_0 * np.sqrt(1 - e**2)) ** 2

    def one_minus_cos(x):
        sin2 = 1.0 / (inv_sin2_minor + (inv_sin2_major - inv_sin2_minor) * np.cos(x) ** 2)
        return sin2 / (1.0 + np.sqrt(1.0 - sin2))

    area, _ = scipy.integrate.quad(one_minus_cos, 0, np.pi)
    return 1.0 / (2 * area)


def disk(lon, lat, lon_0, lat_0, r_0, e=0.0, phi=0.0, edge_width=0.01, norm=None):
    """Uniform (elliptical) disk with a smooth edge (sr⁻¹).

    The edge is ``½ (1 − erf(2.326… (θ − r_eff) / (r_eff × edge_width)))``: it falls from 95 %
    to 5 % over ``edge_width × r_eff``.  ``norm`` (from :func:`disk_norm`) may be passed to
    avoid recomputing the quadrature for every chunk of coordinates.
    """
    sep = separation(lon, lat, lon_0, lat_0)
    r_eff = r_0 if e == 0 else effective_radius(lon, lat, lon_0, lat_0, r_0, e, phi)
    norm = disk_norm(r_0, e) if norm is None else norm
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (sep - r_eff) / (r_eff * edge_width)
    return norm * 0.5 * (1 - scipy.special.erf(scaled * EDGE_WIDTH_95))


def shell(lon, lat, lon_0, lat_0, radius_in, radius_out):
    """Projected homogeneous spherical shell between ``radius_in`` and ``radius_out`` (sr⁻¹).

    ``3 / (2π (r_out³ − r_in³))`` times the chord length through the shell:
    ``sqrt(r_out² − θ²) − sqrt(r_in² − θ²)`` inside, ``sqrt(r_out² − θ²)`` in the shell, 0 outside.
    """
    sep = separation(lon, lat, lon_0, lat_0)
    norm = 3 / (2 * np.pi * (radius_out**3 - radius_in**3))
    with np.errstate(invalid="ignore"):
        outer = np.sqrt(radius_out**2 - sep**2)
        inner = np.sqrt(radius_in**2 - sep**2)
    value = np.where(sep < radius_in, outer - inner, np.where(sep > radius_out, 0.0, outer))
    return norm * value


def point_source_weights(x, y, x0, y0):
    """Bilinear weights of the (up to) four pixels around the pixel position ``(x0, y0)``.

    ``w = max(0, 1 − |x − x0|) × max(0, 1 − |y − y0|)``: the weights sum to one when all four
    pixels exist and preserve the centroid.  Pixels with NaN coordinates get weight 0.
    """
    dx = np.abs(x - x0)
    dy = np.abs(y - y0)
    return np.where(dx < 1, 1 - dx, 0.0) * np.where(dy < 1, 1 - dy, 0.0)


def oversampling_factor(pixel_scale: float, bin_size_min: float | None) -> int:
    """Per-side pixel split used to integrate a model with the given smallest scale (both deg).

    ``min(ceil(pixel_scale / bin_size_min), 200)``; 200 when ``bin_size_min`` is 0 and 1 when
    the model defines no smallest scale (``None``).
    """
    if bin_size_min is None:
        return 1
    if bin_size_min > 0:
        return int(min(np.ceil(pixel_scale / bin_size_min), MAX_OVERSAMPLING))
    return MAX_OVERSAMPLING


def block_sum(values, factor: int):
    """Sum ``factor × factor`` blocks of the last two axes, NaN counted as zero."""
    if factor == 1:
        return values
    *lead, ny, nx = values.shape
    blocks = values.reshape((*lead, ny // factor, factor, nx // factor, factor))
    return np.nansum(blocks, axis=(-3, -1))


def integrate_pixels(values, solid_angle, factor: int = 1):
    """Integral of a surface brightness over pixels by the (oversampled) rectangle rule.

    Parameters
    ----------
    values : array, shape ``(..., ny × factor, nx × factor)``
        Surface brightness (sr⁻¹) at the centres of the sub-pixels.
    solid_angle : array, shape ``(ny, nx)`` (or broadcastable)
        Solid angle (sr) of the coarse pixels.
    factor : int
        Number of sub-pixels per coarse pixel and side.

    Returns
    -------
    array, shape ``(..., ny, nx)``
        Mean sub-pixel value times the coarse pixel solid angle (dimensionless fraction).
    """
    return block_sum(values, factor) / factor**2 * solid_angle


def normalize_template(data, sums, solid_angle):
    """Template slices divided by their sums and by the pixel solid angle (sr⁻¹).

    ``data / sums / solid_angle`` where the slice sum is non-zero, 0 elsewhere; numpy or dask
    arrays (``sums`` broadcast over the spatial dimensions).
    """
    nonzero = sums != 0
    return np.where(nonzero, data / np.where(nonzero, sums, 1), 0.0) / solid_angle


def interpolate_grid(data, pix, method: str = "linear", values_scale: str = "lin"):
    """Interpolate an array given on integer pixel positions, extrapolating beyond its edges.

    Parameters
    ----------
    data : ndarray, shape ``(..., n1, n0)``
        Values at the pixel centres (numpy order: last axis is pixel coordinate ``pix[0]``).
        Non-finite values count as 0.
    pix : tuple of arrays
        Pixel coordinates ``(p0, p1, ...)`` in reverse array order (``x``, ``y``, axes...);
        they broadcast together.
    method : {"linear", "nearest"}
        Interpolation method.
    values_scale : {"lin", "log", "sqrt"}
        Scale in which values are interpolated (``log``: geometric interpolation).

    Returns
    -------
    ndarray
        Interpolated values, of the broadcast shape of ``pix``.  Dimensions of length one are
        ignored (their pixel coordinate does not matter), as in gammapy's interpolator.
    """
    import scipy.interpolate

    data = np.where(np.isfinite(data), data, 0).astype(data.dtype, copy=False)
    pix = np.broadcast_arrays(*pix)
    shape = pix[0].shape
    keep = [n > 1 for n in data.shape[::-1]]
    scaled = scale(data, values_scale)
    if not any(keep):
        return np.broadcast_to(_unscale(scaled.reshape(()), values_scale), shape).copy()
    grid = tuple(np.arange(n, dtype=float) for n, k in zip(data.shape[::-1], keep, strict=True) if k)
    points = np.stack([p.ravel() for p, k in zip(pix, keep, strict=True) if k], axis=-1)
    interpolator = scipy.interpolate.RegularGridInterpolator(
        grid, np.squeeze(scaled).T, method=method, bounds_error=False, fill_value=None
    )
    return _unscale(interpolator(points).reshape(shape), values_scale)


def _unscale(values, values_scale: str):
    with np.errstate(over="ignore"):  # far extrapolation in log scale; such points are usually filled
        return scale_inverse(values, values_scale)
