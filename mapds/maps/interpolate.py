"""Map values at scattered positions: pixel lookups, nearest and multilinear interpolation.

Semantics follow gammapy's ``Map.get_by_*`` and ``WcsNDMap.interp_by_*`` (see
:mod:`mapds.maps.pixel_interp` for the rules).  Only the pixels needed are read: the points are
grouped by the dask chunk their lowest needed pixel falls in, and each group reads the bounding
window of its pixels through :meth:`Map.select_data`, so a map opened from storage reads just
those windows.  Results are dask arrays; the ``Map`` methods compute them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom.base import pix_tuple_to_idx
from . import pixel_interp

if TYPE_CHECKING:
    from .core import Map

__all__ = ["get_by_idx", "get_by_pix", "interp_by_pix", "interp_values", "lookup_values"]


def _point_groups(chunks, lo: list[np.ndarray], hi: list[np.ndarray]):
    """Split points by the chunk of their lowest needed pixel; yield (points, window)."""
    keys = [
        np.searchsorted(np.cumsum((0, *c)), lo_d, side="right") - 1
        for c, lo_d in zip(chunks, lo, strict=True)
    ]
    key = np.ravel_multi_index(keys, [len(c) for c in chunks]) if keys else np.zeros(0, int)
    order = np.argsort(key, kind="stable")
    _, starts = np.unique(key[order], return_index=True)
    for points in np.split(order, starts[1:]):
        if points.size:
            window = tuple(
                slice(int(lo_d[points].min()), int(hi_d[points].max()))
                for lo_d, hi_d in zip(lo, hi, strict=True)
            )
            yield points, window


def _evaluate_points(window, offsets, cells, values_scale, nans):
    local = [(idx - off, frac) for (idx, frac), off in zip(cells, offsets, strict=True)]
    return pixel_interp.evaluate(window, local, values_scale, nans)


def _gather_points(m: Map, cells: list, dtype, values_scale, valid=None, fill=0, nans=None) -> da.Array:
    """Lazy 1D array of values at points given per data dimension as ``(index, frac)``.

    Points where ``valid`` is False read nothing and get ``fill``; points flagged in ``nans``
    (non-finite coordinates) give NaN.
    """
    npts = cells[0][0].size
    keep = np.flatnonzero(valid) if valid is not None else np.arange(npts)
    lo = [idx[keep] for idx, _ in cells]
    hi = [idx[keep] + (1 if frac is None else 2) for idx, frac in cells]
    parts, selections = [], []
    for points, window in _point_groups(m.dask_data.chunks, lo, hi):
        window_data = m.select_data(window)
        offsets = tuple(w.start for w in window)
        points = keep[points]
        sub = [(idx[points], None if frac is None else frac[points]) for idx, frac in cells]
        sub_nans = None if nans is None else nans[points]
        parts.append(dask.delayed(_evaluate_points)(window_data, offsets, sub, values_scale, sub_nans))
        selections.append(points)
    assembled = dask.delayed(_assemble)(parts, selections, npts, dtype, fill)
    return da.from_delayed(assembled, shape=(npts,), dtype=dtype)


def _assemble(parts, selections, npts: int, dtype, fill) -> np.ndarray:
    out = np.full(npts, fill, dtype=dtype)
    for values, points in zip(parts, selections, strict=True):
        out[points] = values
    return out


def _pix_arrays(m: Map, pix) -> list[np.ndarray]:
    pix = [np.asarray(p, dtype=float) for p in np.broadcast_arrays(*pix)]
    if len(pix) != m.data.ndim:
        raise GeometryMismatchError(
            f"Need {m.data.ndim} pixel coordinate arrays (x, y, axes...), got {len(pix)}"
        )
    return pix


def interp_values(m: Map, pix, method="linear", values_scale="lin", valid=None, fill=0) -> da.Array:
    """Lazy interpolated values at pixel coordinates ``pix`` (geometry order), extrapolating.

    Returns a dask array of the broadcast shape of ``pix``.  Points where ``valid`` (same
    shape) is False are not evaluated and get ``fill``.
    """
    pixel_interp.check_interp_args(method, values_scale)
    pix = _pix_arrays(m, pix)
    shape = pix[0].shape
    sizes = m.data.shape
    if method == "linear" and all(n == 1 for n in sizes):
        raise InvalidArgumentError("Interpolating scalar values requires using method='nearest' explicitly.")
    cells = [pixel_interp.grid_cells(p.ravel(), n, method) for p, n in zip(pix[::-1], sizes, strict=True)]
    # RegularGridInterpolator gives NaN at non-finite coordinates of interpolated dimensions
    nans = np.any([np.isnan(p.ravel()) for p, n in zip(pix[::-1], sizes, strict=True) if n > 1], axis=0)
    dtype = pixel_interp.interp_dtype(m.dtype, method, values_scale)
    if valid is not None:
        valid = np.broadcast_to(valid, shape).ravel()
    return _gather_points(m, cells, dtype, values_scale, valid=valid, fill=fill, nans=nans).reshape(shape)


def _outside_map(m: Map, pix: list[np.ndarray]) -> np.ndarray:
    """Whether each position rounds to a pixel outside the map (in any dimension)."""
    return np.any([idx == -1 for idx in np.broadcast_arrays(*m.geom.pix_to_idx(pix))], axis=0)


def interp_by_pix(m: Map, pix, method="linear", fill_value=None, values_scale="lin") -> da.Array:
    """Lazy interpolated values at ``pix`` with gammapy's WCS-map rule for ``fill_value``.

    Positions outside the map and non-finite results get ``fill_value``; with None everything
    is extrapolated.
    """
    pix = _pix_arrays(m, pix)
    if fill_value is None:
        return interp_values(m, pix, method=method, values_scale=values_scale)
    outside = _outside_map(m, pix)
    values = interp_values(m, pix, method, values_scale, valid=~outside, fill=fill_value)
    return da.where(da.isfinite(values), values, np.asarray(fill_value, dtype=values.dtype))


def lookup_values(m: Map, idx, valid=None, fill=0, dtype=None) -> da.Array:
    """Lazy values at integer indices ``idx`` (geometry order; valid ones in range)."""
    idx = np.broadcast_arrays(*[np.asarray(i) for i in idx])
    shape = idx[0].shape
    cells = [(i.ravel().astype(int), None) for i in idx[::-1]]
    if valid is not None:
        valid = np.broadcast_to(valid, shape).ravel()
    dtype = m.dtype if dtype is None else dtype
    return _gather_points(m, cells, dtype, None, valid=valid, fill=fill).reshape(shape)


def get_by_idx(m: Map, idx) -> da.Array:
    """Lazy values at pixel indices (geometry order); negative indices count from the end."""
    idx = pix_tuple_to_idx(idx)
    if len(idx) != m.data.ndim:
        raise GeometryMismatchError(f"Need {m.data.ndim} index arrays (x, y, axes...), got {len(idx)}")
    normalised = []
    for i, n, name in zip(idx, m.data.shape[::-1], m.geom.axes_names, strict=True):
        i = np.where(i < 0, i + n, i)
        if np.any((i < 0) | (i >= n)):
            raise IndexError(f"Index out of range for dimension {name!r} of size {n}")
        normalised.append(i)
    return lookup_values(m, normalised)


def get_by_pix(m: Map, pix, fill_value=np.nan) -> da.Array:
    """Lazy values of the pixels containing ``pix``; positions outside get ``fill_value``.

    As gammapy, the values take the type of ``fill_value`` when some positions are outside.
    """
    pix = np.broadcast_arrays(*[np.asarray(p) for p in pix])
    idx = np.broadcast_arrays(*m.geom.pix_to_idx(pix))
    valid = np.all([i != -1 for i in idx], axis=0)
    if valid.all():
        return lookup_values(m, idx)
    return lookup_values(m, idx, valid=valid, fill=fill_value, dtype=np.dtype(type(fill_value)))
