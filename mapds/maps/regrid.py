"""Evaluating a map on another geometry (``Map.interp_to_geom``), as a lazy graph.

Onto a WCS geometry the graph has one task per output chunk.  At graph-building time the
source window each output chunk needs is found from a sample of its pixels (the border and a
coarse interior grid) mapped into the source, plus a margin; the task receives that window only
(through :meth:`Map.select_data`, so storage reads stay narrow) and evaluates the whole block
with the rules of :mod:`mapds.maps.pixel_interp`.  Onto a region geometry the point machinery of
:mod:`mapds.maps.interpolate` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import astropy.units as u
import dask
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError
from ..geom import MapCoord, WcsGeom
from . import interpolate, pixel_interp
from .chunks import normalize_chunks
from .dataarray import geom_dims

if TYPE_CHECKING:
    from .core import Map

__all__ = ["interp_to_geom", "reproject_to_geom"]

#: Stride (in output pixels) of the interior samples used to find the source window of an
#: output chunk, and the safety margin (source pixels) added around it.
_FOOTPRINT_STRIDE = 8
_FOOTPRINT_MARGIN = 1


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
    values = pixel_interp.evaluate(window, cells, None if method == "index" else values_scale, nans)
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
            idx, frac = pixel_interp.lookup_index(pix, n)[0], None
        else:
            idx, frac = pixel_interp.grid_cells(pix, n, method)
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
    return ~pixel_interp.lookup_index(pix, n)[1]


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
    pixel_interp.check_interp_args(method, values_scale)
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
        dtype = pixel_interp.interp_dtype(m.dtype, method, values_scale)
    out_chunks = normalize_chunks(chunks, geom.data_shape, geom_dims(geom), dtype)
    # dask arrays of solid angles (sr), used only when preserving counts
    solid_source: Any = None
    solid_target: Any = None
    if preserve_counts:
        solid_source = m.geom.to_image().solid_angle(chunks=m.dask_data.chunks[-2:])
        solid_target = geom.to_image().solid_angle(chunks=out_chunks[-2:])
    deg2 = float((1 * u.sr).to_value("deg2"))
    bounds = [np.cumsum((0, *c)) for c in out_chunks]
    blocks = np.empty(tuple(len(c) for c in out_chunks), dtype=object)
    for block_idx in np.ndindex(blocks.shape):
        block = tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(bounds, block_idx, strict=True))
        window = _source_window(plan, block, mode)
        window_data = m.select_data(window)
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
    return m.copy(geom=geom, data=data, meta=dict(m.meta))


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
        density = m.dask_data / m.geom.solid_angle().to_value("deg2")
        source = m.copy(data=density.astype(m.dtype))
    pix = source.geom.coord_to_pix(geom.get_coord())
    if mode == "index":
        idx = np.broadcast_arrays(*source.geom.pix_to_idx(pix))
        valid = np.all([i != -1 for i in idx], axis=0)
        data = interpolate.lookup_values(source, idx, valid=valid, fill=bool(fill_value), dtype=bool)
    else:
        kwargs = {"method": mode, "fill_value": fill_value, "values_scale": values_scale}
        data = source.interp_by_pix(pix, **kwargs, compute=False)
        if m.is_mask:
            data = data.astype(bool)
    if preserve_counts:
        data = (data * geom.solid_angle().to_value("deg2")).astype(data.dtype)
    data = da.broadcast_to(data, geom.data_shape)
    return m.copy(geom=geom, data=data, meta=dict(m.meta))


# -- reprojection: bin-averaging oversampled source pixels into the target pixels -------------------


def reproject_to_geom(m: Map, geom, preserve_counts: bool = False, precision_factor: int = 10) -> Map:
    """The map reprojected onto another WCS geometry, as gammapy's ``reproject_to_geom``.

    Each source pixel is split into ``factor × factor`` sub-pixels (``factor`` making the target
    pixels at least ``precision_factor`` sub-pixels wide), each sub-pixel is assigned to the
    target pixel containing its centre, and a target pixel gets the mean of its sub-pixels;
    target pixels no sub-pixel reaches are 0.  With ``preserve_counts`` the sub-pixels carry
    their share of the pixel's content (by solid angle) and the means are scaled by one factor
    so that the total is conserved (gammapy's "smooth" resampling): the result then depends on
    a sum over the whole map.

    Parameters
    ----------
    m : Map
        Input WCS map.
    geom : WcsGeom
        Target geometry: an image (the map's non-spatial axes are kept), or a cube with the same
        non-spatial axes as the map.
    preserve_counts : bool
        Conserve the total (integral quantities such as counts) rather than the mean.
    precision_factor : int
        Smallest number of sub-pixels per target pixel side.

    Returns
    -------
    Map
        One task per output chunk, reading only the source window that chunk covers.
    """
    if not (isinstance(geom, WcsGeom) and isinstance(m.geom, WcsGeom)):
        raise GeometryMismatchError(
            f"reproject_to_geom works between WCS geometries, got {type(m.geom).__name__} -> "
            f"{type(geom).__name__}; use interp_to_geom"
        )
    if not geom.is_image and geom.axes != m.geom.axes:
        raise GeometryMismatchError(
            "reproject_to_geom: the target's non-spatial axes must be the map's "
            f"({m.geom.axes.names}); reproject onto the image geometry, then use interp_to_geom or "
            "resample_axis for the other axes"
        )
    image = m.geom.to_image()
    target = geom.to_image().to_cube(list(m.geom.axes)) if m.geom.axes else geom.to_image()
    base_factor = float(np.min(target.pixel_scales.deg) / np.min(image.pixel_scales.deg))
    factor = 1 if base_factor >= precision_factor else int(np.ceil(precision_factor / base_factor))
    out_chunks = normalize_chunks(None, target.data_shape, geom_dims(target), m.dtype)
    if preserve_counts:
        solid = image.solid_angle(chunks=m.dask_data.chunks[-2:])
        sub_chunks = tuple(tuple(c * factor for c in cs) for cs in m.dask_data.chunks[-2:])
        solid_sub = image.upsample(factor).solid_angle(chunks=sub_chunks)
    bounds = [np.cumsum((0, *c)) for c in out_chunks]
    means = np.empty(tuple(len(c) for c in out_chunks), dtype=object)
    totals = []
    for block_idx in np.ndindex(means.shape):
        block = tuple(slice(int(b[i]), int(b[i + 1])) for b, i in zip(bounds, block_idx, strict=True))
        ys, xs = _covered_source_window(image, target, block[-2], block[-1])
        share = None
        if preserve_counts:
            share = solid_sub[ys.start * factor : ys.stop * factor, xs.start * factor : xs.stop * factor]
            share = share / da.repeat(da.repeat(solid[ys, xs], factor, axis=0), factor, axis=1)
        window = m.select_data((*block[:-2], ys, xs))
        task = dask.delayed(_reproject_block, nout=2)(
            window, (ys.start, xs.start), image, target, block[-2:], factor, share
        )
        shape = tuple(s.stop - s.start for s in block)
        means[block_idx] = da.from_delayed(task[0], shape=shape, dtype=np.float64)
        totals.append(da.from_delayed(task[1], shape=(), dtype=np.float64))
    data = da.block(means.tolist())
    if preserve_counts:
        scale = da.stack(totals).sum() / da.nansum(data)
        data = data * da.where(da.isfinite(scale), scale, 0.0)
    return m.copy(geom=target, data=data.astype(m.dtype), meta=dict(m.meta))


def _covered_source_window(source: WcsGeom, target: WcsGeom, ys: slice, xs: slice) -> tuple[slice, slice]:
    """Source pixels that may have a sub-pixel inside the target pixels ``ys × xs``: the target
    block's outline (pixel edges) and a coarse interior grid mapped into the source, one pixel
    of margin."""
    edge_y = np.linspace(ys.start - 0.5, ys.stop - 0.5, 2 * (ys.stop - ys.start) + 1)
    edge_x = np.linspace(xs.start - 0.5, xs.stop - 0.5, 2 * (xs.stop - xs.start) + 1)
    samples = [
        np.meshgrid(edge_y, edge_x[[0, -1]], indexing="ij"),
        np.meshgrid(edge_y[[0, -1]], edge_x, indexing="ij"),
        np.meshgrid(edge_y[::_FOOTPRINT_STRIDE], edge_x[::_FOOTPRINT_STRIDE], indexing="ij"),
    ]
    sample_y = np.concatenate([y.ravel() for y, _ in samples])
    sample_x = np.concatenate([x.ravel() for _, x in samples])
    py, px = _spatial_pix(source, target, sample_y, sample_x)
    ny, nx = source.data_shape[-2:]
    window = []
    for pix, n in ((py, ny), (px, nx)):
        pix = pix[np.isfinite(pix)]
        if pix.size == 0:
            window.append(slice(0, 1))
            continue
        lo = int(np.clip(np.floor(pix.min() + 0.5) - 1, 0, n - 1))
        hi = int(np.clip(np.floor(pix.max() + 0.5) + 2, lo + 1, n))
        window.append(slice(lo, hi))
    return window[0], window[1]


def _reproject_block(window, origin, source: WcsGeom, target: WcsGeom, block, factor: int, share):
    """One output block: the means of the window's sub-pixels in the block's target pixels, and
    the sum of the sub-pixel values that landed there.  ``share``: each sub-pixel's fraction of
    its pixel (None: sub-pixels take their pixel's value)."""
    window = np.asarray(window, dtype=np.float64)
    wy, wx = window.shape[-2:]
    # sub-pixel centres in source pixel coordinates (pixel centres at integers)
    sub = (np.arange(factor) + 0.5) / factor - 0.5
    sub_y = (origin[0] + np.arange(wy))[:, None] + sub[None, :]
    sub_x = (origin[1] + np.arange(wx))[:, None] + sub[None, :]
    ty, tx = _spatial_pix(target, source, sub_y.reshape(-1, 1), sub_x.reshape(1, -1))
    ty, tx = np.floor(ty + 0.5) - block[0].start, np.floor(tx + 0.5) - block[1].start
    ny, nx = block[0].stop - block[0].start, block[1].stop - block[1].start
    inside = np.isfinite(ty) & np.isfinite(tx) & (ty >= 0) & (ty < ny) & (tx >= 0) & (tx < nx)
    pixel = np.where(inside, ty * nx + tx, 0).astype(np.int64)[inside]
    values = np.repeat(np.repeat(window, factor, axis=-2), factor, axis=-1)
    if share is not None:
        values = values * np.asarray(share)
    values = values.reshape(-1, wy * factor * wx * factor)[:, inside.ravel()]
    sums = np.stack([np.bincount(pixel, weights=plane, minlength=ny * nx) for plane in values])
    hits = np.bincount(pixel, minlength=ny * nx)
    means = np.divide(sums, hits, out=np.zeros_like(sums), where=hits > 0)
    return means.reshape((*window.shape[:-2], ny, nx)), np.asarray(np.nansum(sums))
