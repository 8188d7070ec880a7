"""Interpolation on a regular pixel grid: pure numpy functions, no dask, no maps.

The rules are those gammapy gets from ``ScaledRegularGridInterpolator`` (scipy's
``RegularGridInterpolator`` on pixel coordinates):

- ``linear`` extrapolates from the outermost cells, ``nearest`` takes the nearest pixel (halves
  round down) clipped to the grid, and dimensions of length one take no part;
- values may be interpolated in a ``log`` or ``sqrt`` scale (``values_scale``);
- non-finite values are treated as 0;
- lookups (``get_by_*``) instead round pixel coordinates half up and flag positions outside.

Points are described per data dimension by ``(index, fraction)`` pairs ("cells") whose arrays
broadcast together, so the same code serves scattered points and whole output blocks.
"""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np

from ..errors import InvalidArgumentError
from ..geom.base import pix_tuple_to_idx
from ..geom.scale import scale, scale_inverse

__all__ = [
    "INTERP_METHODS",
    "VALUES_SCALES",
    "check_interp_args",
    "evaluate",
    "finish_values",
    "grid_cells",
    "interp_dtype",
    "lookup_index",
    "prepare_values",
]

INTERP_METHODS = ("linear", "nearest")
VALUES_SCALES = ("lin", "log", "sqrt")


def check_interp_args(method: str, values_scale: str) -> None:
    """Raise :class:`InvalidArgumentError` for an unknown method or values scale."""
    if method not in INTERP_METHODS:
        raise InvalidArgumentError(
            f"Invalid interpolation method {method!r}; expected one of {INTERP_METHODS}"
        )
    if values_scale not in VALUES_SCALES:
        raise InvalidArgumentError(f"Invalid values_scale {values_scale!r}; expected one of {VALUES_SCALES}")


def _finite(pix: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(pix), pix, 0.0)


def grid_cells(pix: np.ndarray, n: int, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Index of the lower cell corner and the fractional offset, or the nearest index.

    ``linear``: corner clipped to ``[0, n - 2]`` so points outside are extrapolated from the
    outermost cell.  ``nearest``: halves round down, clipped to ``[0, n - 1]``.  A dimension
    of length one always gives index 0 (it does not take part in the interpolation).
    """
    pix = np.asarray(pix, dtype=float)
    if n == 1:
        return np.zeros(pix.shape, dtype=int), None
    if method == "linear":
        lo = np.clip(np.floor(_finite(pix)), 0, n - 2).astype(int)
        return lo, pix - lo
    return np.clip(np.ceil(_finite(pix) - 0.5), 0, n - 1).astype(int), None


def lookup_index(pix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest index with halves rounded up, and whether it lies inside ``[0, n)``."""
    (idx,) = pix_tuple_to_idx([pix])
    valid = (idx >= 0) & (idx < n)
    return np.where(valid, idx, 0), valid


def prepare_values(values: np.ndarray, values_scale: str) -> np.ndarray:
    """Values as ``RegularGridInterpolator`` sees them: non-finite -> 0, scaled, inexact."""
    if values.dtype.kind in "fc":
        values = np.where(np.isfinite(values), values, 0)
    if values_scale != "lin":
        values = scale(values, values_scale)
    return values if values.dtype.kind in "fc" else values.astype(float)


def finish_values(values: np.ndarray, values_scale: str) -> np.ndarray:
    """Undo the values scale of :func:`prepare_values`."""
    return values if values_scale == "lin" else scale_inverse(values, values_scale)


def _interp_window(values: np.ndarray, cells: list, values_scale: str | None = None) -> np.ndarray:
    """Evaluate at points given per data dimension as ``(local index, fraction or None)``.

    With ``values_scale``, the values are prepared (:func:`prepare_values`, element by element)
    as they are gathered at the corners; without, they are prepared already.

    Index arrays (and fractions) broadcast together.  The arithmetic is scipy's
    ``RegularGridInterpolator`` (dimensions in geometry order, corners in its order, its 2D
    float64 fast path), so results agree with gammapy to the last bit, which matters when
    boolean masks are interpolated and tiny residuals decide True or False.
    """
    index = [idx for idx, _ in cells]
    dims = [d for d in reversed(range(len(cells))) if cells[d][1] is not None]

    def corner(shift: dict) -> np.ndarray:
        gathered = values[tuple(i + shift.get(d, 0) for d, i in enumerate(index))]
        return gathered if values_scale is None else prepare_values(gathered, values_scale)

    prepared = values.dtype if values.dtype.kind in "fc" else np.dtype(float)
    if len(dims) == 2 and prepared in (np.float64, np.complex128):
        (d0, d1), y0, y1 = dims, cells[dims[0]][1], cells[dims[1]][1]
        return (
            corner({}) * (1 - y0) * (1 - y1)
            + corner({d1: 1}) * (1 - y0) * y1
            + corner({d0: 1}) * y0 * (1 - y1)
            + corner({d0: 1, d1: 1}) * y0 * y1
        )
    result = None
    for bits in itertools.product((0, 1), repeat=len(dims)):
        weight = None
        for d, bit in zip(dims, bits, strict=True):
            w = cells[d][1] if bit else 1 - cells[d][1]
            weight = w if weight is None else weight * w
        term = corner(dict(zip(dims, bits, strict=True)))
        term = term if weight is None else term * weight
        result = term if result is None else result + term
    return cast(np.ndarray, result)  # the product above has at least one term


def evaluate(window: np.ndarray, cells: list, values_scale: str | None, nans=None) -> np.ndarray:
    """Interpolated values (``values_scale`` None: plain lookup of the stored values)."""
    if values_scale is None:
        return window[tuple(idx for idx, _ in cells)]
    corners = 2 ** sum(fraction is not None for _, fraction in cells)
    points = int(np.prod(np.broadcast_shapes(*(np.shape(idx) for idx, _ in cells))))
    # Whichever is fewer values to prepare: the window, or the corners gathered from it (a
    # coarse grid over a large window reads few of its values).
    if window.size <= corners * points:
        values = _interp_window(prepare_values(window, values_scale), cells)
    else:
        values = _interp_window(window, cells, values_scale)
    values = finish_values(values, values_scale)
    if nans is not None and np.any(nans):
        values = np.array(np.broadcast_to(values, np.broadcast_shapes(values.shape, nans.shape)))
        values[np.broadcast_to(nans, values.shape)] = np.nan
    return values


def interp_dtype(dtype, method: str, values_scale: str) -> np.dtype:
    """dtype of interpolated values of a map of ``dtype`` (linear: at least float64)."""
    probe = prepare_values(np.zeros(1, dtype=dtype), values_scale)
    if method == "linear":
        probe = probe * np.float64(0.5)
    return finish_values(probe, values_scale).dtype
