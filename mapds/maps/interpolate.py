"""Map values at arbitrary positions: pixel lookups, nearest and multilinear interpolation.

Semantics follow gammapy (``Map.get_by_*``, ``WcsNDMap.interp_by_*``, ``Map.interp_to_geom``):

- interpolation works on *pixel* coordinates, so the interpolation scale of each axis (log,
  sqrt...) is respected through ``coord_to_pix``; values can be interpolated in a ``log`` or
  ``sqrt`` scale (``values_scale``);
- ``linear`` extrapolates from the outermost cells, ``nearest`` takes the nearest pixel (halves
  round down) clipped to the grid, and dimensions of length one are ignored (as
  ``RegularGridInterpolator`` through gammapy's ``ScaledRegularGridInterpolator``);
- lookups (``get_by_*``) round pixel coordinates half up and flag positions outside the map;
- non-finite map values are treated as 0.

Only the pixels needed are read.  For a set of points, the points are grouped by the dask
chunk their lowest needed pixel falls in and each group reads the bounding window of its
pixels through :meth:`Map._select_data` (so a map opened from storage reads just those
windows).  :func:`interp_to_geom` onto a WCS geometry builds one task per output chunk that
reads only the source window its pixels map to.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import astropy.units as u
import dask
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import MapCoord, WcsGeom
from ..geom.base import pix_tuple_to_idx
from ..geom.scale import scale, scale_inverse
from .chunks import normalize_chunks
from .dataarray import geom_dims

if TYPE_CHECKING:
    from .core import Map

__all__ = [
    "INTERP_METHODS",
    "get_by_idx",
    "get_by_pix",
    "interp_by_pix",
    "interp_to_geom",
    "interp_values",
    "lookup_values",
]

INTERP_METHODS = ("linear", "nearest")
VALUES_SCALES = ("lin", "log", "sqrt")

#: Stride (in output pixels) of the interior samples used to find the source window of an
#: output chunk, and the safety margin (source pixels) added around it.
_FOOTPRINT_STRIDE = 8
_FOOTPRINT_MARGIN = 1


# -- per-dimension interpolation rules (pure) ---------------------------------------------------


def _check(method: str, values_scale: str) -> None:
    if method not in INTERP_METHODS:
        raise InvalidArgumentError(
            f"Invalid interpolation method {method!r}; expected one of {INTERP_METHODS}"
        )
    if values_scale not in VALUES_SCALES:
        raise InvalidArgumentError(f"Invalid values_scale {values_scale!r}; expected one of {VALUES_SCALES}")


def _finite(pix: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(pix), pix, 0.0)


def _cells(pix: np.ndarray, n: int, method: str) -> tuple[np.ndarray, np.ndarray | None]:
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


def _index(pix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest index with halves rounded up, and whether it lies inside ``[0, n)``."""
    (idx,) = pix_tuple_to_idx([pix])
    valid = (idx >= 0) & (idx < n)
    return np.where(valid, idx, 0), valid


def _prepare(values: np.ndarray, values_scale: str) -> np.ndarray:
    """Values as ``RegularGridInterpolator`` sees them: non-finite -> 0, scaled, inexact."""
    if values.dtype.kind in "fc":
        values = np.where(np.isfinite(values), values, 0)
    if values_scale != "lin":
        values = scale(values, values_scale)
    return values if values.dtype.kind in "fc" else values.astype(float)


def _finish(values: np.ndarray, values_scale: str) -> np.ndarray:
    return values if values_scale == "lin" else scale_inverse(values, values_scale)


def _interp_window(values: np.ndarray, cells: list) -> np.ndarray:
    """Evaluate at points given per data dimension as ``(local index, fraction or None)``.

    Index arrays (and fractions) broadcast together.  The arithmetic is scipy's
    ``RegularGridInterpolator`` (dimensions in geometry order, corners in its order, its 2D
    float64 fast path), so results agree with gammapy to the last bit, which matters when
    boolean masks are interpolated and tiny residuals decide True or False.
    """
    index = [idx for idx, _ in cells]
    dims = [d for d in reversed(range(len(cells))) if cells[d][1] is not None]

    def corner(shift: dict) -> np.ndarray:
        return values[tuple(i + shift.get(d, 0) for d, i in enumerate(index))]

    if len(dims) == 2 and values.dtype in (np.float64, np.complex128):
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
    return result


def _evaluate(window: np.ndarray, cells: list, values_scale: str | None, nans=None) -> np.ndarray:
    """Interpolated values (``values_scale`` None: plain lookup of the stored values)."""
    if values_scale is None:
        return window[tuple(idx for idx, _ in cells)]
    values = _finish(_interp_window(_prepare(window, values_scale), cells), values_scale)
    if nans is not None and np.any(nans):
        values = np.array(np.broadcast_to(values, np.broadcast_shapes(values.shape, nans.shape)))
        values[np.broadcast_to(nans, values.shape)] = np.nan
    return values


# -- points: group by chunk, read windows -------------------------------------------------------


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
    return _evaluate(window, local, values_scale, nans)


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
    for points, window in _point_groups(m.data.chunks, lo, hi):
        window_data, _ = m._select_data(window)
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


def _interp_dtype(dtype, method: str, values_scale: str) -> np.dtype:
    probe = _prepare(np.zeros(1, dtype=dtype), values_scale)
    if method == "linear":
        probe = probe * np.float64(0.5)
    return _finish(probe, values_scale).dtype


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
    _check(method, values_scale)
    pix = _pix_arrays(m, pix)
    shape = pix[0].shape
    sizes = m.data.shape
    if method == "linear" and all(n == 1 for n in sizes):
        raise InvalidArgumentError("Interpolating scalar values requires using method='nearest' explicitly.")
    cells = [_cells(p.ravel(), n, method) for p, n in zip(pix[::-1], sizes, strict=True)]
    # RegularGridInterpolator gives NaN at non-finite coordinates of interpolated dimensions
    nans = np.any([np.isnan(p.ravel()) for p, n in zip(pix[::-1], sizes, strict=True) if n > 1], axis=0)
    dtype = _interp_dtype(m.dtype, method, values_scale)
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


# -- whole geometries ---------------------------------------------------------------------------


def _axis_pix(source_axis, target_axis, start: int, stop: int) -> np.ndarray:
    """Source pixel coordinates of the target axis bin centres ``start:stop``."""
    coord = target_axis.pix_to_coord(np.arange(start, stop, dtype=float))
    return np.asarray(source_axis.coord_to_pix(coord), dtype=float)


def _spatial_pix(source: WcsGeom, target: WcsGeom, ys: np.ndarray, xs: np.ndarray):
    """Source pixel coordinates of target pixel centres (``ys``/``xs`` broadcastable)."""
    yy, xx = np.broadcast_arrays(ys, xs)
    lon, lat = target.wcs.wcs_pix2world(xx.astype(float), yy.astype(float), 0)
    coords = MapCoord({"lon": lon, "lat": lat}, frame=target.frame)
    if source.frame != target.frame:
        coords = coords.to_frame(source.frame)
    px, py = source.wcs.wcs_world2pix(np.asarray(coords.lon), np.asarray(coords.lat), 0)
    return np.asarray(py, dtype=float), np.asarray(px, dtype=float)


def _needed(pix: np.ndarray, n: int, method: str, margin: int = 0) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of the pixels needed to evaluate ``pix`` along a dimension."""
    pix = pix[np.isfinite(pix)]
    if n == 1 or pix.size == 0:
        return 0, 1
    if method == "index":
        lo, hi = np.floor(pix.min() + 0.5), np.floor(pix.max() + 0.5) + 1
    elif method == "linear":
        lo, hi = np.floor(pix.min()), np.floor(pix.max()) + 2
    else:
        lo, hi = np.ceil(pix.min() - 0.5), np.ceil(pix.max() - 0.5) + 1
    lo, hi = lo - margin, hi + margin
    if method != "index":  # extrapolation and clipping use the outermost pixels
        lo, hi = min(lo, n - (2 if method == "linear" else 1)), max(hi, 2 if method == "linear" else 1)
    return int(np.clip(lo, 0, n - 1)), int(np.clip(hi, 1, n))


def _footprint_samples(y0: int, y1: int, x0: int, x1: int):
    """Pixel positions on the border and on a coarse interior grid of an image block."""
    ys = np.unique(np.r_[np.arange(y0, y1, _FOOTPRINT_STRIDE), y1 - 1])
    xs = np.unique(np.r_[np.arange(x0, x1, _FOOTPRINT_STRIDE), x1 - 1])
    border_y = np.r_[np.arange(y0, y1), np.arange(y0, y1), np.full(x1 - x0, y0), np.full(x1 - x0, y1 - 1)]
    border_x = np.r_[np.full(y1 - y0, x0), np.full(y1 - y0, x1 - 1), np.arange(x0, x1), np.arange(x0, x1)]
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    return np.r_[border_y, grid_y.ravel()], np.r_[border_x, grid_x.ravel()]


class _GridPlan:
    """How each target dimension relates to the source (shared by all output blocks)."""

    def __init__(self, source: WcsGeom, target: WcsGeom):
        self.source = source
        self.target = target
        target_names = [ax.name for ax in target.axes.reverse]
        self.source_names = [ax.name for ax in source.axes.reverse]
        missing = set(self.source_names) - set(target_names)
        if missing:
            raise GeometryMismatchError(
                f"interp_to_geom: target geometry lacks the axes {sorted(missing)} of the map "
                f"(target axes: {target.axes.names})"
            )
        # Position of each source axis among the target data dimensions.
        self.target_dim = [target_names.index(name) for name in self.source_names]
        self.n_target = len(target_names)


def _grid_block(
    window, offsets, plan: _GridPlan, block, method, values_scale, fill_value, solid_source, solid_target
):
    """Values of one output block (``block``: target data-order slices)."""
    source = plan.source
    ys = np.arange(block[-2].start, block[-2].stop)[:, None]
    xs = np.arange(block[-1].start, block[-1].stop)[None, :]
    py, px = _spatial_pix(source, plan.target, ys, xs)
    if solid_source is not None:
        # gammapy divides in place, so the density keeps the map's dtype.
        window = (window / solid_source).astype(window.dtype)
    axes = [
        (
            source.axes[name].nbin,
            _axis_pix(source.axes[name], plan.target.axes[name], block[d].start, block[d].stop),
        )
        for name, d in zip(plan.source_names, plan.target_dim, strict=True)
    ]
    cells, invalid, nans = _block_cells(source.data_shape, window.shape, offsets, py, px, axes, method)
    values = _evaluate(window, cells, None if method == "index" else values_scale, nans)
    values = np.array(_to_target_order(values, plan, block))
    if method == "index" or fill_value is not None:
        values[np.broadcast_to(_to_target_order(invalid, plan, block, broadcast=False), values.shape)] = (
            fill_value
        )
    if method != "index" and fill_value is not None:
        values[~np.isfinite(values)] = fill_value
    if solid_target is not None:
        values = (values * solid_target).astype(values.dtype)
    return values


def _block_cells(shape, window_shape, offsets, py, px, axes, method):
    """Per source dimension: window-local index and fraction, broadcast over the block.

    Also returns where positions fall outside the map (rounded to a pixel) and where the
    spatial coordinates are not finite.
    """
    n_axes = len(axes)
    ndim = n_axes + 2
    cells, outside = [], []
    dims = [(pix, n, _along(slice(None), d, ndim)) for d, (n, pix) in enumerate(axes)]
    lead = (np.newaxis,) * n_axes
    dims += [
        (py, shape[-2], (*lead, slice(None), slice(None))),
        (px, shape[-1], (*lead, slice(None), slice(None))),
    ]
    for d, (pix, n, expand) in enumerate(dims):
        if method == "index":
            idx, frac = _index(pix, n)[0], None
        else:
            idx, frac = _cells(pix, n, method)
        size = window_shape[d] - (0 if frac is None else 1)
        cells.append((_local(idx, offsets[d], size)[expand], None if frac is None else frac[expand]))
        outside.append(_outside(pix, n)[expand])
    nans = (np.isnan(py) | np.isnan(px))[(*lead, slice(None), slice(None))]
    invalid = outside[0]
    for flag in outside[1:]:
        invalid = invalid | flag
    return cells, invalid, nans


def _local(idx: np.ndarray, offset: int, size: int) -> np.ndarray:
    """Indices relative to a window; positions that get filled anyway are clipped into it."""
    return np.clip(idx - offset, 0, max(size - 1, 0))


def _along(index, dim: int, ndim: int) -> tuple:
    """Indexing tuple placing a 1D array along dimension ``dim`` of ``ndim``."""
    return tuple(index if d == dim else np.newaxis for d in range(ndim))


def _outside(pix: np.ndarray, n: int) -> np.ndarray:
    """Whether pixel coordinates round to an index outside ``[0, n)`` (or are not finite)."""
    return ~_index(pix, n)[1]


def _to_target_order(values: np.ndarray, plan: _GridPlan, block, broadcast=True) -> np.ndarray:
    """Rearrange source-axis dims into the target's data order, broadcasting extra target axes."""
    n_src = len(plan.source_names)
    full = [1] * plan.n_target + list(values.shape[n_src:])
    order = np.argsort(plan.target_dim)
    values = np.transpose(values, [*order, *range(n_src, values.ndim)]) if n_src else values
    for rank, d in enumerate(sorted(plan.target_dim)):
        full[d] = values.shape[rank]
    values = values.reshape(full)
    if not broadcast:
        return values
    shape = tuple(s.stop - s.start for s in block)
    return np.broadcast_to(values, shape)


def interp_to_geom(
    m: Map, geom, preserve_counts=False, fill_value=0, method="linear", values_scale="lin", *, chunks=None
) -> Map:
    """The map evaluated on another geometry, as a lazy graph.

    Parameters
    ----------
    m : Map
        Input map.
    geom : WcsGeom or RegionGeom
        Target geometry; it must have (by name) every non-spatial axis of ``m``, and may have
        more (values are broadcast along them).
    preserve_counts : bool
        Interpolate the density per deg² and multiply by the target pixel solid angle.
    fill_value : float or None
        Value outside ``m`` (None extrapolates).
    method : {"linear", "nearest"}
        Interpolation method (masks with a ``fill_value`` use a nearest-pixel lookup).
    values_scale : {"lin", "log", "sqrt"}
        Scale in which values are interpolated.
    chunks : optional
        Chunks of the result (:func:`mapds.maps.chunks.normalize_chunks`).

    Returns
    -------
    Map
        On a WCS target: one task per output chunk, reading only the source window its pixels
        map to.  On a region target: one task per group of needed source pixels.
    """
    _check(method, values_scale)
    if preserve_counts and geom.ndim > 2 and len(m.geom.axes) and geom.axes[0] != m.geom.axes[0]:
        raise GeometryMismatchError(
            f"Energy axes do not match, expected:\n {m.geom.axes[0]},\n but got:\n {geom.axes[0]}."
        )
    mode = "index" if m.is_mask and fill_value is not None else method
    if not (isinstance(geom, WcsGeom) and isinstance(m.geom, WcsGeom)):
        return _interp_to_geom_points(m, geom, preserve_counts, fill_value, mode, values_scale)
    plan = _GridPlan(m.geom, geom)
    if mode == "index":
        dtype = np.dtype(bool)
    else:
        dtype = _interp_dtype(m.dtype, method, values_scale)
    out_chunks = normalize_chunks(chunks, geom.data_shape, geom_dims(geom), dtype)
    solid_source = m.geom.to_image().solid_angle(chunks=m.data.chunks[-2:]) if preserve_counts else None
    solid_target = geom.to_image().solid_angle(chunks=out_chunks[-2:]) if preserve_counts else None
    deg2 = float((1 * u.sr).to_value("deg2"))
    bounds = [np.cumsum((0, *c)) for c in out_chunks]
    blocks = np.empty(tuple(len(c) for c in out_chunks), dtype=object)
    for block_idx in np.ndindex(blocks.shape):
        block = tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(bounds, block_idx, strict=True))
        window = _source_window(plan, block, mode)
        window_data, _ = m._select_data(window)
        offsets = tuple(w.start for w in window)
        sa_source = solid_source[window[-2:]] * deg2 if preserve_counts else None
        sa_target = solid_target[block[-2:]] * deg2 if preserve_counts else None
        task = dask.delayed(_grid_block)(
            window_data, offsets, plan, block, mode, values_scale, fill_value, sa_source, sa_target
        )
        shape = tuple(s.stop - s.start for s in block)
        blocks[block_idx] = da.from_delayed(task, shape=shape, dtype=dtype)
    data = da.block(blocks.tolist())
    if m.is_mask:
        data = data.astype(bool)
    return m._new(geom=geom, data=data, meta=dict(m.meta))


def _source_window(plan: _GridPlan, block, method: str) -> tuple[slice, ...]:
    """Source index window an output block needs."""
    source = plan.source
    window = []
    for name, t_dim in zip(plan.source_names, plan.target_dim, strict=True):
        src_axis = source.axes[name]
        pix = _axis_pix(src_axis, plan.target.axes[name], block[t_dim].start, block[t_dim].stop)
        window.append(slice(*_needed(pix, src_axis.nbin, method)))
    sy, sx = _footprint_samples(block[-2].start, block[-2].stop, block[-1].start, block[-1].stop)
    py, px = _spatial_pix(source, plan.target, sy, sx)
    ny, nx = source.data_shape[-2:]
    window.append(slice(*_needed(py, ny, method, _FOOTPRINT_MARGIN)))
    window.append(slice(*_needed(px, nx, method, _FOOTPRINT_MARGIN)))
    return tuple(window)


def _interp_to_geom_points(m: Map, geom, preserve_counts, fill_value, mode, values_scale) -> Map:
    """interp_to_geom through the point machinery (region geometries)."""
    source = m
    if preserve_counts:
        density = m.data / m.geom.solid_angle().to_value("deg2")
        source = m._new(data=density.astype(m.dtype))
    pix = source.geom.coord_to_pix(geom.get_coord())
    if mode == "index":
        idx = np.broadcast_arrays(*source.geom.pix_to_idx(pix))
        valid = np.all([i != -1 for i in idx], axis=0)
        data = lookup_values(source, idx, valid=valid, fill=bool(fill_value), dtype=bool)
    else:
        data = source._interp_by_pix_lazy(pix, method=mode, fill_value=fill_value, values_scale=values_scale)
        if m.is_mask:
            data = data.astype(bool)
    if preserve_counts:
        data = (data * geom.solid_angle().to_value("deg2")).astype(data.dtype)
    data = da.broadcast_to(data, geom.data_shape)
    return m._new(geom=geom, data=data, meta=dict(m.meta))
