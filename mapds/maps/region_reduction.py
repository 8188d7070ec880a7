"""Reducing a WCS map inside a sky region to a region map: gammapy's ``to_region_nd_map``.

The result is a `RegionNDMap` (the map class registered for region geometries) that stays lazy: a
spectrum extracted from a large cube is still a graph that reads only the region's cutout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import RegionGeom, WcsGeom
from . import interpolate, pixel_interp

if TYPE_CHECKING:
    from .core import Map

__all__ = ["to_region_nd_map"]


def _reduce_planes(block: np.ndarray, mask: np.ndarray, reduction, out_dtype) -> np.ndarray:
    """``func`` of the masked pixels of every image plane of a block."""
    out = np.empty((*block.shape[:-2], 1, 1), dtype=out_dtype)
    for idx in np.ndindex(block.shape[:-2]):
        out[idx] = np.asarray(reduction(block[idx][mask[idx]])).astype(out_dtype)
    return out


def to_region_nd_map(m: Map, region=None, func=np.nansum, weights=None, method="nearest") -> Map:
    """Reduce the pixels of ``m`` inside ``region`` into a :class:`RegionNDMap` (lazy).

    Parameters
    ----------
    m : Map
        WCS map.
    region : `~regions.SkyRegion`, str, `~astropy.coordinates.SkyCoord` or list, optional
        Region; default: the whole map footprint.
    func : callable
        Reduction applied, per non-spatial bin, to the 1D array of the values of the pixels
        whose centre is inside the region (``np.nansum``, ``np.sum``, ``np.mean``, ``np.any``...).
    weights : Map, optional
        Map on the same geometry: a mask restricts the pixels, other maps multiply the values.
    method : {"nearest", "linear"}
        For point regions: how the value at the point is taken.

    Returns
    -------
    RegionNDMap
        Lazy region map with ``m``'s axes, unit, dtype and metadata.  Only the cutout around the
        region is read (for point regions, the pixels around the point).
    """
    if not isinstance(m.geom, WcsGeom):
        raise GeometryMismatchError(f"to_region_nd_map needs a WCS map, got {type(m.geom).__name__}")
    if region is None:
        region = m.geom.footprint_rectangle_sky_region
    if weights is not None and not m.geom == weights.geom:
        raise GeometryMismatchError(
            "Incompatible spatial geoms between map and weights: "
            f"data shapes {m.geom.data_shape} and {weights.geom.data_shape}"
        )
    geom = RegionGeom.from_regions(region, axes=m.geom.axes, wcs=m.geom.wcs)
    if geom.is_all_point_sky_regions:
        if method not in pixel_interp.INTERP_METHODS:
            raise InvalidArgumentError(
                f"Invalid method {method!r}; expected one of {pixel_interp.INTERP_METHODS}"
            )
        pix = m.geom.coord_to_pix(geom.get_coord())
        data = interpolate.interp_values(m, pix, method=method)
        if weights is not None:
            data = data * interpolate.interp_values(weights, pix, method=method)
        data = data.astype(m.dtype).reshape(geom.data_shape)
    else:
        cutout = m.cutout(position=geom.center_skydir, width=geom.width)
        mask = cast(WcsGeom, cutout.geom.to_image()).region_mask([geom.region]).data
        values = cutout.dask_data
        if weights is not None:
            weights_cutout = weights.cutout(position=geom.center_skydir, width=geom.width)
            if weights_cutout.is_mask:
                mask = mask & weights_cutout.data
            else:
                values = values * weights_cutout.data
        spatial = {values.ndim - 2: -1, values.ndim - 1: -1}
        values = values.rechunk(spatial)
        mask = da.broadcast_to(mask, values.shape).rechunk(values.chunks)
        chunks = (*values.chunks[:-2], (1,), (1,))
        data = da.map_blocks(
            _reduce_planes,
            values,
            mask,
            reduction=func,
            out_dtype=m.dtype,
            dtype=m.dtype,
            chunks=chunks,
            meta=np.empty((0,) * values.ndim, m.dtype),
        )
    return type(m).from_geom(geom, data=data, unit=m.unit, meta=dict(m.meta))
