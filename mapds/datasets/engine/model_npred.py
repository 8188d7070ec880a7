"""Predicted counts of one sky model on a small grid: pure numpy functions.

These are the steps of gammapy's ``MapEvaluator``, in its order and with its
number types, applied to arrays that fit in memory (a model's cutout, or one chunk of the counts
grid for models without a bounded extent):

    flux_i(p) = Φ_i · [K_i ⊛ s](p)          (spectral integral × PSF-convolved spatial integral)
    npred_i(p) = flux_i(p) · X_i(p)          (× exposure, as a dimensionless number)
    npred_k(p) = Σ_i npred_i(p) · R_ik       (energy dispersion, true → reco)

With a PSF in reconstructed energy the PSF is applied last, on ``npred_k``.  The classes that hold
state (:class:`~mapds.datasets.evaluator.MapEvaluator`) and build graphs
(:mod:`~mapds.datasets.npred_graph`) call these functions.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from ...geom import MapAxis, WcsGeom
from ...irf.edisp_fold import fold_edisp, overlap_fraction
from ...maps.convolution import fft_convolve

__all__ = [
    "apply_exposure",
    "apply_psf",
    "diagonal_edisp",
    "fold",
    "spatial_integral",
    "spectral_flux",
    "stackable",
]


def spectral_flux(spectral_model, energy_axis_true: MapAxis) -> u.Quantity:
    """Φ_i: the spectral model integrated over each true-energy bin, shape ``(n_true, 1, 1)``."""
    edges = energy_axis_true.edges
    return spectral_model.integral(edges[:-1], edges[1:]).reshape((-1, 1, 1))


def spatial_integral(spatial_model, geom: WcsGeom) -> np.ndarray:
    """Fraction of the model's flux in each pixel of ``geom`` (gammapy's ``integrate_geom``).

    An image ``(ny, nx)`` unless the model is energy dependent (then ``geom``'s true-energy
    cube).  ``geom`` is small (a cutout or one chunk): the lazy result is computed here, on the
    synchronous scheduler.
    """
    if not spatial_model.is_energy_dependent:
        geom = geom.to_image()
    values = spatial_model.integrate_geom(geom).data
    return np.asarray(values.compute(scheduler="sync"))


def apply_psf(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve with a PSF kernel ``(n_energy, ky, kx)``, as gammapy's ``WcsNDMap.convolve``.

    An image is cast to float32 and convolved with every kernel plane (giving a cube); a cube
    is convolved plane by plane with its own dtype.  The result is float32.
    """
    if values.ndim == 2:
        values = np.broadcast_to(values.astype(np.float32), kernel.shape[:1] + values.shape)
    return fft_convolve(values, kernel.astype(np.float32, copy=False))


def apply_exposure(flux: u.Quantity, spatial: np.ndarray | None, exposure: u.Quantity | None) -> np.ndarray:
    """Predicted counts ``Φ × spatial × exposure`` as dimensionless numbers (``cm-2`` × ``m2``
    handled; ``spatial`` or ``exposure`` None: left out).

    The unit conversion is folded into the per-energy ``Φ`` before it meets the cube, saving a
    pass over the cube at every evaluation of a fit (the product differs from gammapy's order
    of operations by round-off only).
    """
    unit = flux.unit if exposure is None else flux.unit * exposure.unit
    npred = flux.value * unit.to(u.dimensionless_unscaled)
    if spatial is not None:
        npred = npred * spatial
    return npred if exposure is None else npred * exposure.value


def fold(npred: np.ndarray, pdf_matrix: np.ndarray) -> np.ndarray:
    """``npred`` (true energy first) folded with the EDisp matrix ``(n_true, n_reco)``."""
    return fold_edisp(npred, pdf_matrix, axis=0)


def diagonal_edisp(energy_axis_true: MapAxis, energy_axis: MapAxis) -> np.ndarray:
    """Perfect energy response between two axes (fraction of each true bin in each reco bin)."""
    return overlap_fraction(energy_axis.edges, energy_axis_true.edges)


def stackable(npred: np.ndarray) -> np.ndarray:
    """``npred`` with non-finite values set to 0, as gammapy's ``Map.stack`` adds cutouts."""
    finite = np.isfinite(npred)
    if finite.all():
        return npred
    return np.where(finite, npred, 0.0)
