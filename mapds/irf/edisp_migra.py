"""Energy dispersion as a migration density (``migra = E_reco / E_true``) and its conversion to
reco-energy bins.  Pure functions on numpy arrays whose first two axes are ``(energy_true, migra)``
(any trailing axes, e.g. IRF pixels, are carried along so the same code runs per dask block).
"""

from __future__ import annotations

import numpy as np
import scipy.special

from ..geom import MapAxis

__all__ = [
    "EDISP_KERNEL_THRESHOLD",
    "diagonal_migra_pdf",
    "gauss_migra_pdf",
    "migra_pdf_to_kernel",
    "normalize_migra_pdf",
]

#: Kernel entries below this are numerical noise of the cumulative-difference method (gammapy).
EDISP_KERNEL_THRESHOLD = 1e-8


def gauss_migra_pdf(migra_edges, sigma, bias, n_energy_true: int, pdf_threshold=1e-6) -> np.ndarray:
    """Gaussian migration density, the Gaussian integrated exactly over each migra bin.

    Parameters
    ----------
    migra_edges : ndarray
        Migra bin edges.
    sigma, bias : float or ndarray of length ``n_energy_true``
        Width and offset (mean migra − 1) of the Gaussian, per true-energy bin.
    n_energy_true : int
        Number of true-energy bins.
    pdf_threshold : float
        Densities below this are set to 0.

    Returns
    -------
    ndarray, shape ``(n_energy_true, n_migra)``
    """
    migra_edges = np.asarray(migra_edges, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (n_energy_true,))[:, np.newaxis]
    bias = np.broadcast_to(np.asarray(bias, dtype=float), (n_energy_true,))[:, np.newaxis]
    lo, hi = migra_edges[:-1], migra_edges[1:]
    s = np.sqrt(2) * sigma
    pdf = (scipy.special.erf((hi - 1 - bias) / s) - scipy.special.erf((lo - 1 - bias) / s)) / 2
    pdf = pdf / (hi - lo)
    pdf[pdf < pdf_threshold] = 0
    return pdf


def normalize_migra_pdf(pdf: np.ndarray, migra_width: np.ndarray) -> np.ndarray:
    """Scale each true-energy row so that its migra integral is 1 (empty rows stay 0)."""
    total = np.sum(pdf * migra_width.reshape((1, -1) + (1,) * (pdf.ndim - 2)), axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(pdf / total)


def diagonal_migra_pdf(migra_axis: MapAxis) -> np.ndarray:
    """Density of a perfect response: unit weight at migra = 1 shared linearly by the two
    nearest migra bins, divided by the bin widths."""
    distance = np.abs(np.arange(migra_axis.nbin) - migra_axis.coord_to_pix(1.0)[0])
    return np.where(distance < 1, 1 - distance, 0) / migra_axis.bin_width.value


def migra_pdf_to_kernel(
    pdf: np.ndarray,
    migra_axis: MapAxis,
    energy_edges,
    energy_true_center,
    threshold=EDISP_KERNEL_THRESHOLD,
) -> np.ndarray:
    """Reco-energy kernel from a migration density.

    The migra integral is accumulated at the migra bin edges, interpolated linearly at
    ``E_reco_edge / E_true_centre`` (constant beyond the first and last edge) and differenced
    across consecutive reco edges.

    Parameters
    ----------
    pdf : ndarray, shape ``(n_energy_true, n_migra, ...)``
        Migration density per unit migra.
    migra_axis : MapAxis
        The migra axis.
    energy_edges, energy_true_center : Quantity
        Reco bin edges and true bin centres.
    threshold : float
        Entries below this are set to 0.

    Returns
    -------
    ndarray, shape ``(n_energy_true, n_energy, ...)``
    """
    trailing = (1,) * (pdf.ndim - 2)
    width = migra_axis.bin_width.value.reshape((1, -1, *trailing))
    cumulative = np.cumsum(pdf * width, axis=1)
    cumulative = np.concatenate([np.zeros_like(cumulative[:, :1]), cumulative], axis=1)
    migra = (energy_edges[np.newaxis, :] / energy_true_center[:, np.newaxis]).to_value("")
    edge_nodes = MapAxis.from_nodes(migra_axis.edges, interp=migra_axis.interp, name="migra")
    pix = edge_nodes.coord_to_pix(migra).reshape(migra.shape)
    n_nodes = cumulative.shape[1]
    i0 = np.clip(np.floor(pix), 0, n_nodes - 2).astype(int)
    t = np.clip(pix - i0, 0.0, 1.0).reshape(migra.shape + trailing)
    i0 = i0.reshape(migra.shape + trailing)
    lower = np.take_along_axis(cumulative, i0, axis=1)
    upper = np.take_along_axis(cumulative, i0 + 1, axis=1)
    values = (1.0 - t) * lower + t * upper
    kernel = np.clip(np.diff(values, axis=1), 0.0, None)
    kernel[kernel < threshold] = 0
    return kernel
