"""The exposure-weighted mean of two IRF maps, one block at a time (the arithmetic of
:meth:`mapds.irf.IRFMap.stack`)."""

from __future__ import annotations

import numpy as np

__all__ = ["exposure_weighted_mean"]


def exposure_weighted_mean(
    irf: np.ndarray,
    exposure: np.ndarray,
    irf_other: np.ndarray,
    exposure_other: np.ndarray,
    weights: np.ndarray,
    exposure_sum: np.ndarray,
    *,
    nan_to_num: bool = True,
    result_dtype=None,
) -> np.ndarray:
    """``(irf·X + irf_o·X_o·w) / S`` of one block, 0 where ``S == 0`` or the result is not finite.

    Parameters
    ----------
    irf, irf_other : numpy.ndarray
        IRF values of the two maps on the same block.
    exposure, exposure_other : numpy.ndarray
        Their IRF exposures (broadcastable to the IRF block; ``exposure_other`` finite).
    weights : numpy.ndarray
        Stacking weights of ``irf_other`` (broadcastable).
    exposure_sum : numpy.ndarray
        ``S``, the stacked exposure ``X + X_o·w'`` (broadcastable).
    nan_to_num : bool, keyword-only
        Replace non-finite values of ``irf_other`` first, as :func:`numpy.nan_to_num` does.
    result_dtype : numpy dtype, optional, keyword-only
        Dtype of the result (default: that of the arithmetic).

    Returns
    -------
    numpy.ndarray
        A new array; the same values, bit for bit, as the expression evaluated one numpy
        operation at a time, with two block-sized arrays made instead of eight (IRF blocks are
        tens of MB, and every fresh array costs page faults).
    """
    other = _finite(irf_other, owned=False) if nan_to_num else irf_other
    product = _apply(np.multiply, other, exposure_other, owned=other is not irf_other)
    product = _apply(np.multiply, product, weights, owned=product is not irf_other)
    out = _apply(np.add, irf * exposure, product, owned=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _apply(np.divide, out, exposure_sum, owned=True)
    zero = exposure_sum == 0
    if np.any(zero):
        out[np.broadcast_to(zero, out.shape)] = 0
    out = _finite(out, owned=True)
    return out if result_dtype is None else out.astype(result_dtype, copy=False)


def _finite(values: np.ndarray, *, owned: bool) -> np.ndarray:
    """``numpy.nan_to_num(values)``, in place when ``values`` may be overwritten.

    A finite sum proves every value finite (NaN and ±inf propagate): one pass, where
    ``nan_to_num`` makes three masks.
    """
    if np.isfinite(values.sum()):
        return values
    return np.nan_to_num(values, copy=not owned)


def _apply(ufunc: np.ufunc, a: np.ndarray, b, *, owned: bool) -> np.ndarray:
    """``ufunc(a, b)``, written into ``a`` when ``a`` may be overwritten and holds the result's
    shape and dtype (numpy's promotion is kept, so the values are those of ``ufunc(a, b)``)."""
    fits = np.result_type(a, b) == a.dtype and np.broadcast_shapes(a.shape, np.shape(b)) == a.shape
    return ufunc(a, b, out=a) if owned and fits else ufunc(a, b)
