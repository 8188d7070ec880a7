"""Exposure in reconstructed energy for an assumed spectrum: the predicted counts of a spatially
constant flux (gammapy's ``estimate_exposure_reco_energy``)."""

from __future__ import annotations

import dask.array as da
import numpy as np

from ..errors import InvalidArgumentError
from ..maps import Map
from ..modeling.models import PowerLawSpectralModel

__all__ = ["estimate_exposure_reco_energy", "fold_flux_exposure"]


def fold_flux_exposure(exposure, flux, pdf_matrix) -> np.ndarray:
    """``Σ_true exposure × flux × pdf``: predicted counts per reco bin (true axis first).

    Parameters
    ----------
    exposure : ndarray, shape ``(n_true, ...)``
        Exposure (already in the unit making ``exposure × flux`` dimensionless).
    flux : ndarray, shape ``(n_true,)``
        Integral flux of each true-energy bin.
    pdf_matrix : ndarray, shape ``(n_true, n_reco)``
        Energy dispersion matrix.

    Returns
    -------
    ndarray
        ``(n_reco, ...)`` predicted counts.
    """
    npred_true = exposure * flux.reshape((-1,) + (1,) * (exposure.ndim - 1))
    return np.moveaxis(np.tensordot(npred_true, pdf_matrix, axes=([0], [0])), -1, 0)


def estimate_exposure_reco_energy(dataset, spectral_model=None, normalize=True) -> Map:
    """Exposure map in reconstructed energy for the spectral shape ``spectral_model``.

    The true-energy exposure times the model's integral flux per true bin, folded with the
    dataset's energy dispersion at the map centre (one task per spatial chunk, nothing computed).

    Parameters
    ----------
    dataset : `~mapds.datasets.MapDataset`
        Dataset with exposure and energy dispersion.
    spectral_model : SpectralModel, optional
        Assumed shape (default: a power law of index 2, gammapy's default).
    normalize : bool
        Divide by the model's integral flux in each reco bin (exposure in cm2 s); otherwise the
        map is the predicted counts of the model.

    Returns
    -------
    Map
        On the counts geometry.
    """
    if spectral_model is None:
        spectral_model = PowerLawSpectralModel()
    if dataset.edisp is None:
        raise InvalidArgumentError("estimate_exposure_reco_energy needs a dataset with energy dispersion")
    geom = dataset.counts.geom
    energy_axis = geom.axes["energy"]
    exposure = dataset.exposure
    energy_true = exposure.geom.axes["energy_true"]
    flux = spectral_model.integral(energy_true.edges[:-1], energy_true.edges[1:])
    scale = (flux.unit * exposure.unit).to("")
    flux_values = np.asarray(flux.value, dtype=np.float64) * scale
    kernel = dataset.edisp.get_edisp_kernel(position=None, energy_axis=energy_axis)
    pdf = np.asarray(kernel.pdf_matrix)
    data = exposure.dask_data
    if exposure.geom.axes.names != ["energy_true"]:
        raise InvalidArgumentError(f"exposure axes must be ['energy_true'], got {exposure.geom.axes.names}")
    data = data.rechunk({0: -1})
    chunks = ((pdf.shape[1],), *data.chunks[1:])
    folded = da.map_blocks(
        fold_flux_exposure, data, flux=flux_values, pdf_matrix=pdf, chunks=chunks, dtype=np.float64
    )
    if normalize:
        ref = spectral_model.integral(energy_axis.edges[:-1], energy_axis.edges[1:])
        folded = folded / ref.value.reshape(-1, 1, 1)
        return Map.from_geom(geom, data=folded, unit=1 / ref.unit)
    return Map.from_geom(geom, data=folded)
