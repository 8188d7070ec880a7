"""Poisson fit statistics (gammapy's ``cash`` and ``cstat``) and their sums over chunks.

The functions take plain numpy arrays (one dask chunk at a time); :func:`cash_sum_blocks` builds the
dask graph that sums a whole cube chunk by chunk in float64.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

__all__ = ["TRUNCATION_VALUE", "cash", "cash_sum", "cash_sum_blocks", "cstat"]

#: Predicted counts at or below this value are replaced by it, so that ``ln(mu)`` stays finite.
TRUNCATION_VALUE = 1e-25


def _truncate(values, truncation_value: float) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.where(values <= truncation_value, truncation_value, values)


def cash(n_on, mu_on, truncation_value: float = TRUNCATION_VALUE) -> np.ndarray:
    """Cash statistic per bin, ``2 (mu − n ln mu)``, with ``mu`` floored at ``truncation_value``.

    This is gammapy's form (no ``n ln n − n`` term): bins with ``n = 0`` contribute ``2 mu``.
    """
    n_on = np.asarray(n_on, dtype=np.float64)
    mu_on = _truncate(mu_on, truncation_value)
    return 2 * (mu_on - n_on * np.log(mu_on))


def cstat(n_on, mu_on, truncation_value: float = TRUNCATION_VALUE) -> np.ndarray:
    """Goodness-of-fit Cash statistic ``2 (mu − n + n (ln n − ln mu))``; ``n`` and ``mu`` floored."""
    n_on = _truncate(n_on, truncation_value)
    mu_on = _truncate(mu_on, truncation_value)
    return 2 * (mu_on - n_on + n_on * (np.log(n_on) - np.log(mu_on)))


def cash_sum(n_on, mu_on, mask=None, truncation_value: float = TRUNCATION_VALUE) -> float:
    """``Σ cash(n, mu)`` over the bins where ``mask`` is true (or weighted by a float ``mask``).

    Accumulates in float64 and takes the logarithm only where ``n > 0``: survey cubes are mostly
    empty bins, where the statistic is just ``2 mu``.
    """
    n_on = np.asarray(n_on)
    mu_on = _truncate(mu_on, truncation_value)
    weights = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == bool:
            n_on, mu_on = n_on[mask], mu_on[mask]
        else:
            weights = np.broadcast_to(mask, n_on.shape).astype(np.float64)
    positive = n_on > 0
    n_pos = n_on[positive].astype(np.float64)
    log_term = n_pos * np.log(mu_on[positive])
    if weights is None:
        return float(2 * (mu_on.sum(dtype=np.float64) - log_term.sum()))
    return float(2 * ((weights * mu_on).sum() - (weights[positive] * log_term).sum()))


def _cash_sum_block(n_on, mu_on, *mask, truncation_value: float) -> np.ndarray:
    value = cash_sum(n_on, mu_on, mask[0] if mask else None, truncation_value)
    return np.full((1,) * n_on.ndim, value)


def cash_sum_blocks(
    n_on: da.Array, mu_on: da.Array, mask: da.Array | None = None, truncation_value: float = TRUNCATION_VALUE
) -> da.Array:
    """Lazy ``Σ cash`` of dask arrays: one float64 partial sum per chunk, then a tree reduction.

    Returns a 0-d dask array.  ``n_on``, ``mu_on`` and ``mask`` must share their chunks.
    """
    arrays = [n_on, mu_on] if mask is None else [n_on, mu_on, mask]
    partial = da.map_blocks(
        _cash_sum_block,
        *arrays,
        truncation_value=truncation_value,
        chunks=tuple((1,) * len(c) for c in n_on.chunks),
        dtype=np.float64,
        meta=np.empty((0,) * n_on.ndim, dtype=np.float64),
    )
    return partial.sum(dtype=np.float64)
