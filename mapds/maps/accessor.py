"""The ``.mapds`` accessor of ``xarray.DataArray``: a map's geometry, the map, sky selections.

Registered when :mod:`mapds` (or :mod:`mapds.maps`) is imported, and so whenever xarray loads the
``mapds`` engine::

    ds = xr.open_dataset("dataset.fits", engine="mapds", chunks={})
    ds.counts.mapds.geom                      # WcsGeom, from the coordinates only
    ds.psf.mapds.to_map()                     # a lazy Map (the psf's y_psf/x_psf named back)
    ds.counts.mapds.sel_sky(position)         # the spectrum in the pixel holding `position`
    ds.counts.mapds.sel_sky(position, width="1 deg")   # a cutout, still a map

Variables of a Dataset that combines several grids (see :mod:`mapds.maps.dataset_layout`) are
handled in their map's own names and given back in the Dataset's names.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.wcs.utils import skycoord_to_pixel

from ..errors import GeometryMismatchError
from ..geom import WcsGeom
from ..geom.base import Geom
from .chunks import normalize_chunks
from .core import Map
from .dataset_layout import RENAME_ATTR, SPATIAL_DIMS, map_dataarray, parse_renames, renamed

__all__ = ["MapDataArrayAccessor", "as_map_dataarray", "sel_sky", "to_map"]


def _check_dims(arr: xr.DataArray) -> None:
    if tuple(arr.dims[-2:]) != SPATIAL_DIMS:
        raise GeometryMismatchError(
            f"DataArray {arr.name!r} with dimensions {arr.dims} is not a map: a map's last two "
            f"dimensions are {SPATIAL_DIMS}"
        )
    bare = [d for d in arr.dims[:-2] if d not in arr.coords]
    if bare:
        raise GeometryMismatchError(
            f"DataArray {arr.name!r} has dimensions {bare} without coordinates, which are not map axes "
            f"(e.g. the dimension open_mfdataset concatenated along): select along them first, "
            f"e.g. .isel({bare[0]}=0)"
        )


def _small_coords_loaded(arr: xr.DataArray) -> xr.DataArray:
    """``arr`` with its scalar and 1-D dask coordinates (axis edges...) in memory.

    ``open_dataset(..., chunks=...)`` turns every non-index coordinate into a dask array; the
    geometry needs the values of the small ones.  They come from the file's headers, so this
    computes tiny in-memory graphs (synchronously) and reads nothing; 2-D coordinates (lazy
    sky coordinates) stay lazy.
    """
    lazy = [name for name, c in arr.coords.items() if c.ndim <= 1 and c.chunks is not None]
    if not lazy:
        return arr
    values = dask.compute(*(arr.coords[name].variable for name in lazy), scheduler="synchronous")
    return arr.assign_coords(dict(zip(lazy, values, strict=True)))


def as_map_dataarray(arr: xr.DataArray) -> xr.DataArray:
    """``arr`` in the layout of :meth:`Map.to_xarray` (renamed dimensions named back) and
    dask-backed: lazily indexed data (``open_dataset(..., chunks=None)``) are chunked with the
    storage's preferred chunks, in-memory data with mapds' default chunks; nothing is read."""
    arr = _small_coords_loaded(map_dataarray(arr))
    _check_dims(arr)
    if arr.chunks is None:
        preferred = arr.encoding.get("preferred_chunks") or {}
        default = normalize_chunks(None, arr.shape, arr.dims, arr.dtype)
        chunks = {d: preferred.get(d, c) for d, c in zip(arr.dims, default, strict=True)}
        arr = arr.chunk(chunks)
    return arr


def to_map(arr: xr.DataArray) -> Map:
    """The lazy :class:`Map` of a map DataArray (see :func:`as_map_dataarray`)."""
    return Map.from_xarray(as_map_dataarray(arr))


def _geom(arr: xr.DataArray) -> Geom:
    """The geometry described by the coordinates of a map DataArray (no data touched)."""
    arr = _small_coords_loaded(map_dataarray(arr))
    _check_dims(arr)
    # Map.from_xarray on a placeholder holding the same coordinates: only the geometry is used.
    placeholder = xr.DataArray(
        da.zeros(arr.shape, dtype=arr.dtype, chunks=-1),
        dims=arr.dims,
        coords=arr.coords,
        attrs=arr.attrs,
        name=arr.name,
    )
    return Map.from_xarray(placeholder).geom


def _pixel_of(geom: WcsGeom, position: SkyCoord) -> tuple[int, int]:
    x, y = skycoord_to_pixel(position, geom.wcs, origin=0)
    ix, iy = int(np.floor(float(x) + 0.5)), int(np.floor(float(y) + 0.5))
    ny, nx = geom.data_shape[-2:]
    if not (0 <= ix < nx and 0 <= iy < ny):
        raise KeyError(
            f"Sky position {position} is outside the map (pixel x={x:.1f}, y={y:.1f} of {nx} x {ny})"
        )
    return iy, ix


def _cutout(arr: xr.DataArray, geom: WcsGeom, position: SkyCoord, width, mode: str) -> xr.DataArray:
    cut = geom.to_image().cutout(position, width, mode=mode)
    ys, xs = cut.cutout_slices(geom.to_image(), mode="trim")["parent-slices"]
    out = arr.isel(y=ys, x=xs)
    # The spatial coordinates of the cutout's own grid replace the sliced ones, so the result
    # describes its geometry whatever coordinates a map DataArray carries.
    template = Map.from_geom(cut, dtype=bool).to_xarray()
    spatial = {name: c.variable for name, c in template.coords.items() if set(c.dims) <= set(SPATIAL_DIMS)}
    stale = [
        name for name, c in out.coords.items() if set(c.dims) & set(SPATIAL_DIMS) and name not in spatial
    ]
    return out.drop_vars(stale).assign_coords(spatial)


def sel_sky(arr: xr.DataArray, position: SkyCoord, width=None, *, mode: str = "trim") -> xr.DataArray:
    """Select a map DataArray around a sky position.

    Parameters
    ----------
    arr : xarray.DataArray
        A map variable (also one with renamed dimensions, ``y_psf``/``x_psf``).
    position : `~astropy.coordinates.SkyCoord`
        Sky position (any frame).
    width : angle or (lon, lat) angles, optional
        Without it, the pixel whose centre is nearest to ``position`` (its spatial dimensions
        dropped, as ``isel(y=i, x=j)``).  With it, the cutout of that width around ``position``
        (as :meth:`Map.cutout`), still a map: its ``spatial_ref`` describes the cutout.
    mode : {"trim", "strict"}
        Cutout mode: ``trim`` clips at the map edges, ``strict`` raises unless the cutout fits
        (``partial`` would need padding and is not offered on a view).

    Returns
    -------
    xarray.DataArray
        A view (nothing read), with the names ``arr`` had.

    Raises
    ------
    KeyError
        ``position`` is outside the map (no ``width``).
    """
    if mode not in ("trim", "strict"):
        raise ValueError(f"sel_sky mode must be 'trim' or 'strict', got {mode!r}")
    pairs = parse_renames(arr.attrs.get(RENAME_ATTR))
    canonical = map_dataarray(arr)
    geom = _geom(canonical)
    if not isinstance(geom, WcsGeom):
        raise GeometryMismatchError(f"sel_sky needs a WCS map, not a {type(geom).__name__}")
    position = SkyCoord(position)
    if width is None:
        iy, ix = _pixel_of(geom, position)
        out = canonical.isel(y=iy, x=ix)
    else:
        out = _cutout(canonical, geom, position, width, mode)
    out.attrs = dict(canonical.attrs)
    return renamed(out, {old: new for new, old in pairs.items()})


@xr.register_dataarray_accessor("mapds")
class MapDataArrayAccessor:
    """``da.mapds``: the map behind a DataArray in mapds' layout.

    Parameters
    ----------
    data_array : xarray.DataArray
        A map variable: dimensions named after the axes then ``y``, ``x`` (or the suffixed
        names of a combined Dataset), axis coordinates and a ``spatial_ref`` coordinate.
    """

    def __init__(self, data_array: xr.DataArray):
        self._obj = data_array
        self._geom: Geom | None = None

    @property
    def geom(self) -> Geom:
        """The map geometry (`~mapds.geom.WcsGeom` or `~mapds.geom.RegionGeom`), from the
        coordinates only."""
        if self._geom is None:
            self._geom = _geom(self._obj)
        return self._geom

    def to_map(self) -> Map:
        """The lazy :class:`~mapds.maps.Map` (dask-backed; nothing is read)."""
        return to_map(self._obj)

    def sel_sky(self, position: SkyCoord, width=None, *, mode: str = "trim") -> xr.DataArray:
        """The pixel nearest to ``position``, or a cutout of ``width`` around it (see
        :func:`mapds.maps.accessor.sel_sky`)."""
        return sel_sky(self._obj, position, width, mode=mode)
