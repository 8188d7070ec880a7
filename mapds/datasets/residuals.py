"""Residuals of counts against predicted counts (gammapy's ``residuals`` and the reductions
behind the residual plots), as lazy maps.
"""

from __future__ import annotations

import dask.array as da
import numpy as np

from ..errors import InvalidArgumentError
from ..maps import Map

__all__ = [
    "RESIDUAL_LABELS",
    "check_method",
    "masked_residuals",
    "residual_values",
    "smoothed_residuals",
]

#: Residual methods and their axis labels (gammapy's ``_residuals_labels``).
RESIDUAL_LABELS = {
    "diff": "data - model",
    "diff/model": "(data - model) / model",
    "diff/sqrt(model)": "(data - model) / sqrt(model)",
}


def check_method(method: str) -> None:
    """Raise :class:`~mapds.errors.InvalidArgumentError` for an unknown residual method."""
    if method not in RESIDUAL_LABELS:
        raise InvalidArgumentError(
            f"Invalid method: {method!r} for computing residuals; use one of {list(RESIDUAL_LABELS)}"
        )


def residual_values(data, model, method: str = "diff"):
    """``data − model``, ``(data − model) / model`` or ``(data − model) / sqrt(model)``.

    Works on numpy arrays, dask arrays and maps alike; divisions by zero give inf/NaN.
    """
    check_method(method)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "diff":
            return data - model
        if method == "diff/model":
            return (data - model) / model
        return (data - model) / np.sqrt(model)


def _quiet(func, *args):
    """``func`` per block without floating-point warnings (0/0 where a smoothed mask is 0)."""

    def block(*values):
        with np.errstate(invalid="ignore", divide="ignore"):
            return func(*values)

    return da.map_blocks(block, *args, dtype=np.float64)


def _residual_map(counts: Map, npred: Map, method: str) -> Map:
    check_method(method)  # now, not when the graph is computed
    values = _quiet(lambda c, n: residual_values(c.astype(np.float64), n, method), counts.data, npred.data)
    return npred.copy(data=values)


def _nan_outside(residuals: Map, mask: Map | None) -> Map:
    if mask is None:
        return residuals
    return residuals.copy(data=da.where(mask.data.astype(bool), residuals.data, np.nan))


def masked_residuals(counts: Map, npred: Map, mask: Map | None, method: str = "diff") -> Map:
    """Residual map of ``counts`` and ``npred`` multiplied by ``mask``, NaN outside it."""
    if mask is not None:
        counts, npred = counts * mask, npred * mask
    return _nan_outside(_residual_map(counts, npred, method), mask)


def smoothed_residuals(counts: Map, npred: Map, mask: Map | None, method: str = "diff", **kwargs) -> Map:
    """Residuals of smoothed maps (gammapy's ``residuals(**smooth_kwargs)``).

    counts and npred are multiplied by the mask, smoothed (``mode="constant"``,
    ``width="0.1 deg"``, ``kernel="gauss"`` unless given) and divided by the smoothed mask;
    pixels outside the mask are NaN.
    """
    kwargs.setdefault("mode", "constant")
    kwargs.setdefault("width", "0.1 deg")
    kwargs.setdefault("kernel", "gauss")
    if mask is not None:
        counts, npred = counts * mask, npred * mask
    counts, npred = counts.smooth(**kwargs), npred.smooth(**kwargs)
    if mask is not None:
        smoothed_mask = mask.astype(np.float64).smooth(**kwargs)
        counts = counts.copy(data=_quiet(np.divide, counts.data, smoothed_mask.data))
        npred = npred.copy(data=_quiet(np.divide, npred.data, smoothed_mask.data))
    return _nan_outside(_residual_map(counts, npred, method), mask)
