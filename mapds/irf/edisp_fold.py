"""Applying an energy dispersion matrix, and the matrix of a perfect (diagonal) response.

``R[i, k]`` is the probability that a photon of true-energy bin ``i`` is reconstructed in reco bin
``k``; predicted counts in reco energy are ``npred_true @ R`` along the true-energy axis.  Both
functions accept numpy or dask arrays and stay lazy on dask input.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

__all__ = ["fold_edisp", "overlap_fraction"]


def fold_edisp(npred_true, pdf_matrix, axis: int = 0):
    """Fold true-energy counts with an energy dispersion matrix.

    Parameters
    ----------
    npred_true : array-like, true energy along ``axis``
        E.g. a ``(n_true, ny, nx)`` cutout of predicted counts.
    pdf_matrix : array-like, shape ``(n_true, n_reco)``
        Energy dispersion matrix (rows true, columns reco).
    axis : int
        Position of the true-energy axis in ``npred_true``; the reco axis takes its place.

    Returns
    -------
    array
        ``npred_true`` with the true-energy axis replaced by the reco-energy axis.
    """
    if npred_true.shape[axis] != pdf_matrix.shape[0]:
        raise ValueError(
            f"EDisp matrix has {pdf_matrix.shape[0]} true-energy rows but the array has "
            f"{npred_true.shape[axis]} bins along axis {axis}"
        )
    folded = np.tensordot(npred_true, pdf_matrix, axes=([axis], [0]))
    return np.moveaxis(folded, -1, axis)


def overlap_fraction(energy_edges, energy_true_edges) -> np.ndarray:
    """Diagonal response: fraction of each true bin's (linear) width inside each reco bin.

    Parameters
    ----------
    energy_edges, energy_true_edges : Quantity
        Reco and true energy bin edges.

    Returns
    -------
    ndarray, shape ``(n_true, n_reco)``
    """
    unit = energy_true_edges.unit
    reco = u.Quantity(energy_edges).to_value(unit)
    true = u.Quantity(energy_true_edges).value
    reco_lo, reco_hi = reco[:-1], reco[1:]
    true_lo, true_hi = true[:-1, np.newaxis], true[1:, np.newaxis]
    overlap = np.fmin(reco_hi, true_hi) - np.fmax(reco_lo, true_lo)
    return np.clip(overlap, 0, None) / (true_hi - true_lo)
