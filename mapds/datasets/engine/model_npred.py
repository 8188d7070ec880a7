"""Predicted counts of one sky model on a small grid: pure numpy functions.

These are the steps of gammapy's ``MapEvaluator`` with its number types, applied to arrays that
fit in memory (a model's cutout, or one chunk of the counts grid for models without a bounded
extent):

    W_i(p) = [K_i ⊛ s](p) · X_i(p)           (PSF-convolved spatial integral × exposure)
    npred_k(p) = Σ_i (Φ_i R_ik) · W_i(p)     (spectral integral Φ, energy dispersion R)

gammapy multiplies ``Φ_i`` into the cube before folding; combining ``Φ`` and ``R`` first gives the
same numbers up to round-off with one pass over the cube, and ``W`` is kept while only spectral
parameters change.

With a PSF in reconstructed energy the PSF is applied last, on ``npred_k``.  The classes that hold
state (:class:`~mapds.datasets.evaluator.MapEvaluator`) and build graphs
(:mod:`~mapds.datasets.npred_graph`) call these functions.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from ...geom import MapAxis, WcsGeom
from ...irf.edisp_fold import overlap_fraction
from ...maps.convolution import fft_convolve

__all__ = [
    "apply_psf",
    "diagonal_edisp",
    "flux_weights",
    "predicted_counts",
    "spatial_integral",
    "spectral_flux",
    "stackable",
]


def spectral_flux(spectral_model, energy_axis_true: MapAxis) -> u.Quantity:
    """Φ_i: the spectral model integrated over each true-energy bin, shape ``(n_true, 1, 1)``."""
    edges = energy_axis_true.edges
    return spectral_model.integral(edges[:-1], edges[1:]).reshape((-1, 1, 1))


def spatial_integral(spatial_model, geom: WcsGeom) -> np.ndarray:
    """Fraction of the model's flux in each pixel of ``geom`` (gammapy's ``integrate_geom``), in
    the unit ``spatial_model.unit × sr`` (dimensionless but for templates in flux units).

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


def flux_weights(spatial, exposure: u.Quantity | None, spatial_unit=u.dimensionless_unscaled) -> u.Quantity:
    """``W_i(p)``, what multiplies the spectral flux ``Φ_i`` in each pixel: the spatial integral
    (in ``spatial_unit``: dimensionless, or a flux density per energy for a template in flux
    units) times the exposure (either None: left out), float64.

    It depends on the spatial parameters and the exposure only, so a fit keeps it while only
    spectral parameters change.
    """
    weights = u.Quantity(1.0) if exposure is None else exposure
    if spatial is not None:
        # float32 × float32 products are exact in float64, as gammapy's float64 ``Φ × s × X``
        weights = weights * u.Quantity(np.asarray(spatial, dtype=np.float64), spatial_unit, copy=False)
    return weights


def predicted_counts(
    flux: u.Quantity, weights: u.Quantity, pdf_matrix: np.ndarray, image_shape
) -> np.ndarray:
    """``npred_k(p) = Σ_i Φ_i R_ik W_i(p)`` ``(n_reco, ny, nx)`` as dimensionless float64.

    ``Φ`` (with the unit conversion) and the EDisp matrix ``R`` are combined first, a
    ``(n_true, n_reco)`` product, so the cube is touched by a single contraction; gammapy
    computes ``(Φ × W)`` on the cube and then folds it (the same numbers up to round-off).
    """
    scale = (flux.unit * weights.unit).to(u.dimensionless_unscaled)
    combined = (np.reshape(flux.value, (-1, 1)) * scale) * pdf_matrix
    values = np.broadcast_to(weights.value, (len(combined), *image_shape))
    return np.tensordot(combined, values, axes=([0], [0]))


def diagonal_edisp(energy_axis_true: MapAxis, energy_axis: MapAxis) -> np.ndarray:
    """Perfect energy response between two axes (fraction of each true bin in each reco bin)."""
    return overlap_fraction(energy_axis.edges, energy_axis_true.edges)


def stackable(npred: np.ndarray) -> np.ndarray:
    """``npred`` with non-finite values set to 0, as gammapy's ``Map.stack`` adds cutouts."""
    finite = np.isfinite(npred)
    if finite.all():
        return npred
    return np.where(finite, npred, 0.0)
