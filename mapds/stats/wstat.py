"""The WStat statistic: Poisson on counts with a Poisson-measured background (gammapy's ``wstat``).

On counts ``n_on`` are predicted by ``mu_sig + alpha b`` and off counts ``n_off`` by ``b``, where
``alpha`` is the ratio of the on to the off acceptance.  The unknown off expectation ``b`` is
profiled out: it is the positive root of the quadratic that makes the likelihood stationary in
``b``,

    b = (C + sqrt(C² + 4 α (α + 1) n_off mu_sig)) / (2 α (α + 1)),   C = α (n_on + n_off) − (1 + α) mu_sig,

and the statistic per bin is

    2 (mu_sig + (1 + α) b − n_on ln(mu_sig + α b) − n_off ln b)
      + 2 (n_on ln n_on − n_on + n_off ln n_off − n_off)          (goodness-of-fit terms),

where a logarithm term whose count is zero is left out (``0 ln 0 = 0``).  With these terms a
perfect prediction has statistic 0.  The functions take numpy arrays (one dask chunk at a time);
:func:`wstat_sum_blocks` builds the graph of the masked sum over a whole cube.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

__all__ = ["wstat", "wstat_gof_terms", "wstat_mu_bkg", "wstat_sum", "wstat_sum_blocks"]


def _as_float(*arrays) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def wstat_mu_bkg(n_on, n_off, alpha, mu_sig) -> np.ndarray:
    """Profiled expected off counts ``b`` given the signal ``mu_sig`` (float64).

    The background expected in the on region is ``alpha · b``.  Where ``alpha`` is 0 the
    division by ``2 α (α + 1)`` gives NaN or inf, as in gammapy (callers replace them).
    """
    n_on, n_off, alpha, mu_sig = _as_float(n_on, n_off, alpha, mu_sig)
    c = alpha * (n_on + n_off) - (1 + alpha) * mu_sig
    # C² + 4α(α+1)·n_off·mu_sig is a quadratic in mu_sig with a non-positive discriminant
    # (−16 α² (1+α)² n_on n_off): it never goes negative, so the root is always real.
    d = np.sqrt(c**2 + 4 * alpha * (alpha + 1) * n_off * mu_sig)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c + d) / (2 * alpha * (alpha + 1))


def _x_log_y(x: np.ndarray, y) -> np.ndarray:
    """``x ln y`` where ``x != 0``, else 0 (a log of a non-positive ``y`` gives NaN or -inf)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        values = x * np.log(y)
    return np.where(x == 0, 0.0, values)


def _gof_term(n: np.ndarray) -> np.ndarray:
    """``−n (1 − ln n)`` (``= n ln n − n``), 0 where ``n`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        values = -n * (1 - np.log(n))
    return np.where(n == 0, 0.0, values)


def wstat_gof_terms(n_on, n_off) -> np.ndarray:
    """Goodness-of-fit terms ``2 (n ln n − n)`` of the on and off counts (0 for a zero count)."""
    n_on, n_off = _as_float(n_on, n_off)
    return 2 * (_gof_term(n_on) + _gof_term(n_off))


def wstat(n_on, n_off, alpha, mu_sig, mu_bkg=None, extra_terms: bool = True) -> np.ndarray:
    """WStat per bin (float64), gammapy's ``wstat``.

    Parameters
    ----------
    n_on, n_off : array-like
        On and off counts.
    alpha : array-like
        On over off acceptance.
    mu_sig : array-like
        Predicted signal counts in the on region.
    mu_bkg : array-like, optional
        Expected off counts; default: profiled (:func:`wstat_mu_bkg`).
    extra_terms : bool
        Add the goodness-of-fit terms (:func:`wstat_gof_terms`).

    Returns
    -------
    ndarray
        The statistic; NaN or inf where ``alpha`` is 0 or the prediction of a bin with counts is 0.
    """
    n_on, n_off, alpha, mu_sig = _as_float(n_on, n_off, alpha, mu_sig)
    if mu_bkg is None:
        mu_bkg = wstat_mu_bkg(n_on, n_off, alpha, mu_sig)
    mu_bkg = np.asarray(mu_bkg, dtype=np.float64)
    predicted = mu_sig + (1 + alpha) * mu_bkg
    stat = 2 * (predicted + -_x_log_y(n_on, mu_sig + alpha * mu_bkg) + -_x_log_y(n_off, mu_bkg))
    if extra_terms:
        stat = stat + wstat_gof_terms(n_on, n_off)
    return stat


def wstat_sum(n_on, n_off, alpha, mu_sig, mask=None) -> float:
    """``Σ wstat`` over the bins where ``mask`` is true, with NaN counted as 0 and ±inf as the
    largest finite float (gammapy's ``nan_to_num`` of the statistic array); float64."""
    values = np.nan_to_num(wstat(n_on, n_off, alpha, mu_sig))
    if mask is not None:
        values = values[np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)]
    return float(values.sum(dtype=np.float64))


def _wstat_sum_block(n_on, n_off, alpha, mu_sig, *mask) -> np.ndarray:
    value = wstat_sum(n_on, n_off, alpha, mu_sig, mask[0] if mask else None)
    return np.full((1,) * n_on.ndim, value)


def wstat_sum_blocks(
    n_on: da.Array, n_off: da.Array, alpha: da.Array, mu_sig: da.Array, mask: da.Array | None = None
) -> da.Array:
    """Lazy ``Σ wstat`` of dask arrays sharing their chunks: one float64 partial sum per chunk
    (:func:`wstat_sum`), then a tree reduction.  Returns a 0-d dask array."""
    arrays = [n_on, n_off, alpha, mu_sig] + ([] if mask is None else [mask])
    partial = da.map_blocks(
        _wstat_sum_block,
        *arrays,
        chunks=tuple((1,) * len(c) for c in n_on.chunks),
        dtype=np.float64,
        meta=np.empty((0,) * n_on.ndim, dtype=np.float64),
    )
    return partial.sum(dtype=np.float64)
