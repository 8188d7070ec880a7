"""Rectangular spatial selections: cutouts around a sky position and crops.

Both are pure selections: they go through :meth:`Map.slice_by_idx`, so a map opened from storage
reads only the bytes of the selected window when computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import WcsGeom

if TYPE_CHECKING:
    from .core import Map

__all__ = ["CUTOUT_MODES", "crop", "cutout"]

#: ``astropy.nddata.Cutout2D`` modes.
CUTOUT_MODES = ("trim", "partial", "strict")


def _require_wcs(m: Map, operation: str) -> WcsGeom:
    if not isinstance(m.geom, WcsGeom):
        raise GeometryMismatchError(f"{operation} needs a WCS map, got a {type(m.geom).__name__}")
    return m.geom


def cutout(m: Map, position, width, mode="trim", odd_npix=False, min_npix=1) -> Map:
    """The part of ``m`` within ``width`` (lon, lat) around ``position`` (``Cutout2D`` rules).

    Parameters
    ----------
    m : Map
        WCS map.
    position : `~astropy.coordinates.SkyCoord`
        Centre of the cutout.
    width : angle or (angle, angle)
        Size in (lon, lat); a single value gives a square.
    mode : {"trim", "partial", "strict"}
        ``trim`` keeps the overlap with the map, ``partial`` keeps the requested shape and
        fills pixels outside the map with 0 (False for masks), ``strict`` raises unless the
        cutout lies fully inside the map.
    odd_npix : bool
        Round the width up to an odd number of pixels.
    min_npix : int
        Minimum width in pixels.

    Returns
    -------
    Map
        Cutout on the geometry of :meth:`WcsGeom.cutout`; a pure selection of ``m``'s data
        (plus zero padding in ``partial`` mode).
    """
    geom = _require_wcs(m, "cutout")
    if mode not in CUTOUT_MODES:
        raise InvalidArgumentError(f"Invalid cutout mode {mode!r}; expected one of {CUTOUT_MODES}")
    geom_cutout = geom.cutout(position=position, width=width, mode=mode, odd_npix=odd_npix, min_npix=min_npix)
    slices = geom_cutout.cutout_slices(geom, mode=mode)
    parent_y, parent_x = slices["parent-slices"]
    inner_y, inner_x = slices["cutout-slices"]
    ny, nx = geom_cutout.data_shape[-2:]
    overlap = m.slice_by_idx({"y": parent_y, "x": parent_x})
    if (inner_y.start, inner_y.stop, inner_x.start, inner_x.stop) == (0, ny, 0, nx):
        return overlap
    widths = [(0, 0)] * len(geom.axes) + [
        (inner_y.start, ny - inner_y.stop),
        (inner_x.start, nx - inner_x.stop),
    ]
    data = da.pad(overlap.dask_data, widths, mode="constant", constant_values=0)
    return m.copy(geom=geom_cutout, data=data)


def crop(m: Map, crop_width) -> Map:
    """Remove ``crop_width`` pixels (int, (lon, lat) pair or angle) from each side of the image."""
    geom = _require_wcs(m, "crop")
    if isinstance(crop_width, (u.Quantity, str)):
        widths = np.broadcast_to(u.Quantity(crop_width).to_value("deg").ravel(), (2,))
        crop_x, crop_y = (int(np.round(w)) for w in widths / geom.pixel_scales.deg)
    elif np.isscalar(crop_width):
        crop_x = crop_y = int(crop_width)  # type: ignore[arg-type]  # np.isscalar: any scalar
    else:
        crop_x, crop_y = int(crop_width[0]), int(crop_width[1])
    ny, nx = geom.data_shape[-2:]
    if min(crop_x, crop_y) < 0 or 2 * crop_x >= nx or 2 * crop_y >= ny:
        raise InvalidArgumentError(
            f"Cannot crop ({crop_x}, {crop_y}) pixels from each side of a {nx} x {ny} image"
        )
    return m.slice_by_idx({"y": slice(crop_y, ny - crop_y), "x": slice(crop_x, nx - crop_x)})
