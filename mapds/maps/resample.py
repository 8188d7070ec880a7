"""Changing the binning of a map: block down-sampling, up-sampling and regrouping an axis.

Every function builds a dask graph that works chunk by chunk:

- :func:`downsample` rechunks so that chunk sizes are multiples of the factor, then reduces
  each block with :func:`dask.array.coarsen` (gammapy's ``block_reduce`` with ``np.nansum``);
- :func:`upsample` repeats pixels (order 0) or evaluates ``scipy.ndimage.map_coordinates`` on
  each chunk extended by a one-pixel halo (order 1); higher spline orders need whole planes,
  because the spline pre-filter couples all pixels of a plane;
- :func:`resample_axis` reduces groups of bins with ``ufunc.reduceat`` on blocks that hold the
  whole axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask.array as da
import numpy as np

from ..errors import AxisError, InvalidArgumentError
from .chunks import multiple_chunks

if TYPE_CHECKING:
    from .core import Map

__all__ = ["check_factor", "downsample", "resample_axis", "upsample"]


def check_factor(factor) -> int:
    """``factor`` as a positive integer (``None`` means 1, as in gammapy)."""
    if factor is None:
        return 1
    if isinstance(factor, (bool, np.bool_)) or not float(factor).is_integer() or factor < 1:
        raise InvalidArgumentError(f"Resampling factor must be a positive integer, got {factor!r}")
    return int(factor)


def _block_dims(m: Map, axis_name: str | None) -> tuple[int, ...]:
    """Data dimensions that a resampling acts on: the image, or one named axis."""
    if axis_name is None:
        return (m.data.ndim - 2, m.data.ndim - 1)
    return (m.geom.axes.index_data(axis_name),)


def downsample(m: Map, factor, preserve_counts=True, axis_name=None, weights=None) -> Map:
    """Merge blocks of ``factor`` pixels (per spatial dimension) or bins of ``axis_name``.

    Parameters
    ----------
    m : Map
        Input map.
    factor : int
        Down-sampling factor; the spatial shape (or the axis length) must be divisible by it.
    preserve_counts : bool
        Sum the block values (integral quantities such as counts); otherwise take their
        (weighted) mean.
    axis_name : str, optional
        Non-spatial axis to down-sample instead of the image.
    weights : array-like, optional
        numpy or dask array broadcastable to the data, multiplied into the values (and
        normalising the mean when ``preserve_counts`` is False).

    Returns
    -------
    Map
        Down-sampled map with the dtype of ``m``: block ``nansum`` of ``data × weights``
        (÷ ``nansum(weights)``, 0 where that is 0, when not ``preserve_counts``), cast back to
        the input dtype, so boolean masks become the OR of their blocks (gammapy semantics).
    """
    factor = check_factor(factor)
    if factor == 1:
        return m.copy()
    geom = m.geom.downsample(factor, axis_name=axis_name)
    dims = _block_dims(m, axis_name)
    data = m.dask_data
    chunks = tuple(multiple_chunks(c, factor) if i in dims else c for i, c in enumerate(data.chunks))
    data = data.rechunk(chunks)
    if weights is not None:
        weights = da.broadcast_to(da.asarray(weights), data.shape).rechunk(chunks)
        data = data * weights
    blocks = dict.fromkeys(dims, factor)
    summed = da.coarsen(np.nansum, data, blocks)
    if not preserve_counts:
        if weights is None:
            norm = float(factor ** len(dims))
            summed = summed / norm
        else:
            norm = da.coarsen(np.nansum, weights, blocks)
            summed = da.where(norm != 0, summed / da.where(norm != 0, norm, 1), 0.0)
    return m.copy(geom=geom, data=summed.astype(m.dtype))


def _upsample_coords(n_in: int, factor: int, halo: int) -> np.ndarray:
    """Input pixel coordinates of the up-sampled pixel centres of a (halo-extended) block."""
    return (np.arange((n_in - 2 * halo) * factor) - 0.5 * (factor - 1)) / factor + halo


def _upsample_block(block: np.ndarray, factor: int, order: int, dims: tuple[int, ...], halo: int):
    """``map_coordinates`` of a (halo-extended) block on the up-sampled pixel grid."""
    if order == 1 and block.dtype.kind == "f":
        # Linear interpolation is separable: one 1D pass per dimension gives what
        # map_coordinates computes, without building coordinate arrays for every pixel.
        out = block.astype(np.float64)
        for d in dims:
            coords = _upsample_coords(block.shape[d], factor, halo)
            lo = np.clip(np.floor(coords).astype(int), 0, block.shape[d] - 2)
            frac = (coords - lo).reshape([-1 if i == d else 1 for i in range(block.ndim)])
            out = np.take(out, lo, axis=d) * (1 - frac) + np.take(out, lo + 1, axis=d) * frac
        return out.astype(block.dtype)
    import scipy.ndimage as ndi  # deferred: not needed at import time

    grid = [
        _upsample_coords(n, factor, halo) if i in dims else np.arange(n, dtype=float)
        for i, n in enumerate(block.shape)
    ]
    return ndi.map_coordinates(block, np.meshgrid(*grid, indexing="ij"), order=order, mode="nearest")


def upsample(m: Map, factor, order=0, preserve_counts=True, axis_name=None) -> Map:
    """Split every pixel (or every bin of ``axis_name``) into ``factor`` parts.

    Values at the new pixel centres come from ``scipy.ndimage.map_coordinates`` of the
    input (spline ``order``, edge values beyond the border), as in gammapy.  Order 0 repeats
    values; order 1 streams by chunk with a one-pixel halo; orders 2–5 need whole image planes
    (or the whole axis) in one chunk, because the spline pre-filter is global.

    Parameters
    ----------
    m : Map
        Input map.
    factor : int
        Up-sampling factor.
    order : int
        Spline order, 0 (nearest) to 5.
    preserve_counts : bool
        Interpolate the density (value ÷ pixel solid angle, or ÷ bin width for an axis) and
        multiply by the new pixel size, so that sums are conserved.
    axis_name : str, optional
        Non-spatial axis to up-sample instead of the image.

    Returns
    -------
    Map
        Up-sampled map with the dtype of ``m``.
    """
    factor = check_factor(factor)
    if factor == 1:
        return m.copy()
    if order not in range(6):
        raise InvalidArgumentError(f"Spline order must be an integer in 0..5, got {order!r}")
    geom = m.geom.upsample(factor, axis_name=axis_name)
    dims = _block_dims(m, axis_name)
    data = m.dask_data
    # Keep the output chunks near the input chunk size: shrink input chunks by the factor.
    chunks = {i: max(1, -(-max(data.chunks[i]) // factor)) for i in dims}
    data = data.rechunk(chunks)
    if preserve_counts:
        data = data / _pixel_size(m.geom, data.chunks, axis_name)
    if order == 0:
        for i in dims:
            data = da.repeat(data, factor, axis=i)
    else:
        halo = 1 if order == 1 else 0
        if halo == 0:
            data = data.rechunk(dict.fromkeys(dims, -1))
        extended = da.overlap.overlap(data, dict.fromkeys(dims, halo), boundary="nearest") if halo else data
        out_chunks = tuple(
            tuple(c * factor for c in cs) if i in dims else cs for i, cs in enumerate(data.chunks)
        )
        data = extended.map_blocks(
            _upsample_block,
            factor=factor,
            order=order,
            dims=dims,
            halo=halo,
            chunks=out_chunks,
            dtype=data.dtype,
        )
    if preserve_counts:
        data = data * _pixel_size(geom, data.chunks, axis_name)
    return m.copy(geom=geom, data=data.astype(m.dtype))


def _pixel_size(geom, chunks, axis_name):
    """Solid angle of each pixel (dask, chunked like the data) or widths of the axis bins."""
    if axis_name is None:
        return geom.to_image().solid_angle(chunks=chunks[-2:])
    shape = [1] * len(geom.data_shape)
    shape[geom.axes.index_data(axis_name)] = -1
    return geom.axes[axis_name].bin_width.value.reshape(shape)


def _reduceat_block(block: np.ndarray, ufunc, starts, axis: int) -> np.ndarray:
    return ufunc.reduceat(block, starts, axis=axis)


def resample_axis(m: Map, axis, weights=None, ufunc=np.add) -> Map:
    """Regroup the bins of a non-spatial axis into the coarser ``axis``.

    Parameters
    ----------
    m : Map
        Input map.
    axis : MapAxis
        New axis; its edges are snapped to existing edges of the axis of the same name, bins
        outside it are dropped.
    weights : array-like, optional
        numpy or dask array broadcastable to the data, multiplied into the values.
    ufunc : numpy.ufunc
        Reduction of the bins of each group (``np.add``, ``np.logical_or``...).

    Returns
    -------
    Map
        As in gammapy the values (``data × weights``) are promoted to at least float64 before
        reducing, so a sum is float64 and a logical reduction is boolean.
    """
    if axis.name not in m.geom.axes.names:
        raise AxisError(f"Cannot resample axis {axis.name!r}: map axes are {m.geom.axes.names}")
    geom = m.geom.resample_axis(axis)
    old_axis, new_axis = m.geom.axes[axis.name], geom.axes[axis.name]
    # Index of the old edge each new edge falls on (edges sit at half-integer pixels).
    edges_idx = np.rint(old_axis.coord_to_pix(new_axis.edges) + 0.5).astype(int)
    idx = m.geom.axes.index_data(axis.name)
    data = m.dask_data if weights is None else m.dask_data * weights
    data = data.astype(np.promote_types(data.dtype, np.float64))
    index = [slice(None)] * data.ndim
    index[idx] = slice(edges_idx[0], edges_idx[-1])
    data = data[tuple(index)].rechunk({idx: -1})
    chunks = list(data.chunks)
    chunks[idx] = (new_axis.nbin,)
    out_dtype = ufunc.reduce(np.zeros(1, dtype=data.dtype)).dtype
    reduced = data.map_blocks(
        _reduceat_block,
        ufunc=ufunc,
        starts=edges_idx[:-1] - edges_idx[0],
        axis=idx,
        chunks=tuple(chunks),
        dtype=out_dtype,
    )
    return m.copy(geom=geom, data=reduced)
