"""PSF containment: the enclosed fraction within a radius, and the radius enclosing a fraction.

Pure functions on small numpy arrays: a PSF profile ``psf[..., rad]`` (already reduced to one sky
position) and its ``rad`` axis.  gammapy has two code paths with slightly different conventions and
both are reproduced because both are visible to users:

- :func:`containment_fraction` (``PSFMap.containment``): the cumulative integral is known at the
  ``rad`` bin edges (0 at the first edge) and interpolated linearly, constant beyond the ends;
- :func:`containment_radius` (``PSFMap.containment_radius`` and the kernel size): the cumulative
  integral is known at the upper bin edges, interpolated linearly (extrapolated, clipped at 0) and
  set to 0 outside the axis' range; the radius is the sample of the ×20 upsampled ``rad`` axis
  whose containment is closest to the fraction.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from ..geom import MapAxis
from ..geom.scale import scale
from .grid_interp import node_neighbours, pixel_neighbours

__all__ = ["RAD_UPSAMPLING", "containment_fraction", "containment_radius", "radial_cumsum"]

#: Upsampling of the ``rad`` axis on which containment radii are searched (gammapy's precision).
RAD_UPSAMPLING = 20


def radial_cumsum(psf: np.ndarray, rad_axis: MapAxis, psf_unit="sr-1") -> np.ndarray:
    """Enclosed fraction at the upper edge of every ``rad`` bin (midpoint rule per bin).

    Parameters
    ----------
    psf : ndarray, shape ``(..., n_rad)``
        PSF density (``psf_unit``) per ``rad`` bin, ``rad`` last.
    rad_axis : MapAxis
        The ``rad`` axis.
    psf_unit : str or Unit
        Unit of ``psf``, a density per solid angle.

    Returns
    -------
    ndarray, shape ``(..., n_rad)``
        Dimensionless ``Σ_k≤j 2π r_k PSF_k Δr_k``.
    """
    to_dimensionless = (u.Unit(psf_unit) * rad_axis.unit**2).to("")
    center = rad_axis.center.value
    width = rad_axis.bin_width.value
    return np.cumsum(2 * np.pi * center * (psf * width), axis=-1) * to_dimensionless


def _bilinear(table: np.ndarray, e_i0, e_t, r_i0, r_t) -> np.ndarray:
    """Bilinear interpolation of ``table[energy, rad]`` with broadcast neighbour arrays."""
    e_i1 = np.minimum(e_i0 + 1, table.shape[0] - 1)
    r_i1 = np.minimum(r_i0 + 1, table.shape[1] - 1)
    lower = (1.0 - r_t) * table[e_i0, r_i0] + r_t * table[e_i0, r_i1]
    upper = (1.0 - r_t) * table[e_i1, r_i0] + r_t * table[e_i1, r_i1]
    return (1.0 - e_t) * lower + e_t * upper


def containment_fraction(cumsum: np.ndarray, rad_axis: MapAxis, rad, energy_i0, energy_t) -> np.ndarray:
    """Fraction of the PSF within ``rad`` (gammapy's ``PSFMap.containment``).

    Parameters
    ----------
    cumsum : ndarray, shape ``(n_energy, n_rad)``
        Output of :func:`radial_cumsum` for every energy node.
    rad_axis : MapAxis
        The ``rad`` axis.
    rad : Quantity
        Radii (broadcast against the energy neighbours).
    energy_i0, energy_t : ndarray
        Energy neighbours and weights (see :mod:`mapds.irf.grid_interp`).
    """
    table = np.concatenate([np.zeros((cumsum.shape[0], 1)), cumsum], axis=1)
    edge_nodes = MapAxis.from_nodes(rad_axis.edges, interp=rad_axis.interp, name="rad")
    r_i0, r_t = pixel_neighbours(edge_nodes.coord_to_pix(rad).reshape(np.shape(rad)), table.shape[1])
    # Beyond the first and last edge the cumulative integral is constant (gammapy pads the
    # axis with the edge values before interpolating).
    return _bilinear(table, energy_i0, energy_t, r_i0, np.clip(r_t, 0.0, 1.0))


def containment_radius(
    cumsum: np.ndarray, rad_axis: MapAxis, fraction, energy_i0, energy_t, valid, factor=RAD_UPSAMPLING
) -> u.Quantity:
    """Radius enclosing ``fraction`` of the PSF (gammapy's ``PSFMap.containment_radius``).

    Parameters
    ----------
    cumsum : ndarray, shape ``(n_energy, n_rad)``
        Output of :func:`radial_cumsum` for every energy node.
    rad_axis : MapAxis
        The ``rad`` axis.
    fraction : float or ndarray
        Containment fraction(s), broadcast against the energy neighbours.
    energy_i0, energy_t : ndarray
        Energy neighbours and weights.
    valid : bool ndarray
        False where the energy or the position lies outside the IRF (containment 0 there, so
        the smallest sampled radius is returned).
    factor : int
        Upsampling of the ``rad`` axis for the radius search.
    """
    samples = rad_axis.upsample(factor).center
    upper_edges = rad_axis.edges[1:]
    r_i0, r_t = node_neighbours(
        scale(samples.value, rad_axis.interp), scale(upper_edges.value, rad_axis.interp)
    )
    r_i1 = np.minimum(r_i0 + 1, cumsum.shape[1] - 1)
    # Interpolating along rad first, then energy, is the bilinear formula term by term.
    along_rad = (1.0 - r_t) * cumsum[:, r_i0] + r_t * cumsum[:, r_i1]
    e_i0, e_t = np.asarray(energy_i0), np.asarray(energy_t)[..., np.newaxis]
    e_i1 = np.minimum(e_i0 + 1, cumsum.shape[0] - 1)
    values = (1.0 - e_t) * along_rad[e_i0] + e_t * along_rad[e_i1]
    in_range = MapAxis.from_nodes(upper_edges, interp=rad_axis.interp).coord_to_idx(samples) != -1
    values = np.nan_to_num(np.clip(values, 0.0, None))
    values = np.where(in_range & np.asarray(valid)[..., np.newaxis], values, 0.0)
    idx = np.argmin(np.abs(values - np.asarray(fraction)[..., np.newaxis]), axis=-1)
    return samples[idx]
