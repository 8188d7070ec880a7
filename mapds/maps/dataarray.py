"""The xarray form of a map: dimension names, coordinates and attributes.

- Dimensions are the non-spatial axes in data (reverse geometry) order, then ``("y", "x")``.
- A numeric axis carries its bin centres as the dimension coordinate and its edges as
  ``<axis>_min``/``<axis>_max`` coordinates; interpolation and node type live in the coordinate's
  attributes.  For an ``edges`` axis the min/max coordinates hold the nodes exactly, so the
  ``MapAxis`` round-trips bit for bit.
- ``x`` and ``y`` are the pixel coordinates of the pixel centres in the WCS kept on the scalar
  ``spatial_ref`` coordinate (0, 1, 2... for a map's own grid).  They are what lets a DataArray
  survive xarray's own selections: after ``isel``, ``sel``, ``coarsen`` or ``pad`` they say which
  pixels of that WCS the result holds, and :func:`geom_from_dataarray` rebuilds the geometry
  from them (shifted reference pixel, scaled pixel size).
- ``spatial_ref`` carries the grid as netCDF-safe metadata (the WCS header as a string, like
  rioxarray's ``spatial_ref`` carries ``crs_wkt``), plus CF grid-mapping attributes where the
  projection has a CF name.  No sky-coordinate arrays are stored: ``lon``/``lat`` are 2-D dask
  coordinates computed chunk by chunk from the WCS, only when asked for.
- Units are in ``attrs["units"]`` (astropy unit strings); map metadata in ``attrs["meta"]`` as the
  JSON text gammapy writes into a FITS ``META`` card.  Every attribute is a string or a number,
  so ``to_netcdf`` works.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from functools import lru_cache, partial

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.io import fits
from astropy.wcs import WCS

from ..errors import GeometryMismatchError, UnitMismatchError
from ..geom import LabelMapAxis, MapAxes, MapAxis, RegionGeom, WcsGeom
from ..geom.base import Geom
from ..geom.pixel_grid import lonlat_dask
from .meta import decode_meta, encode_meta

__all__ = [
    "SKY_COORDS",
    "SPATIAL_DIMS",
    "SPATIAL_REF",
    "geom_coords",
    "geom_dims",
    "geom_from_dataarray",
    "sky_coords",
    "to_dataarray",
    "unit_from_attrs",
]

SPATIAL_DIMS = ("y", "x")
SPATIAL_REF = "spatial_ref"
#: Names of the lazy 2-D sky-coordinate coordinates of a WCS map.
SKY_COORDS = ("lon", "lat")
GEOM_TYPES: dict[str, type[Geom]] = {"wcs": WcsGeom, "region": RegionGeom}

#: CF ``grid_mapping_name`` of the FITS projections that CF names, and the CF attributes holding
#: the WCS reference point (``CRVAL1``, ``CRVAL2``).
_AZIMUTHAL = ("longitude_of_projection_origin", "latitude_of_projection_origin")
CF_GRID_MAPPINGS = {
    "ZEA": ("lambert_azimuthal_equal_area", *_AZIMUTHAL),
    "ARC": ("azimuthal_equidistant", *_AZIMUTHAL),
    "SIN": ("orthographic", *_AZIMUTHAL),
    "STG": ("stereographic", *_AZIMUTHAL),
    "MER": ("mercator", "longitude_of_projection_origin", None),
    "CEA": ("lambert_cylindrical_equal_area", "longitude_of_central_meridian", None),
    "SFL": ("sinusoidal", "longitude_of_central_meridian", None),
    "CAR": ("latitude_longitude", None, None),
}


def geom_dims(geom: Geom) -> tuple[str, ...]:
    """Dimension names of a map of this geometry."""
    return (*[ax.name for ax in geom.axes.reverse], *SPATIAL_DIMS)


def _axis_coords(axis) -> dict:
    if isinstance(axis, LabelMapAxis):
        return {axis.name: xr.Variable(axis.name, axis.center, {"node_type": "label"})}
    attrs = {"units": axis.unit.to_string(), "interp": axis.interp, "node_type": axis.node_type}
    if axis.node_type == "edges":
        lo, hi = axis.nodes[:-1], axis.nodes[1:]
        center = axis.center.value
    else:
        edges = axis.edges.value
        lo, hi = edges[:-1], edges[1:]
        center = axis.nodes
    bound_attrs = {"units": attrs["units"]}
    return {
        axis.name: xr.Variable(axis.name, center, attrs),
        f"{axis.name}_min": xr.Variable(axis.name, lo, bound_attrs),
        f"{axis.name}_max": xr.Variable(axis.name, hi, bound_attrs),
    }


def cf_grid_mapping(geom: Geom) -> dict:
    """CF grid-mapping attributes of a WCS projection CF has a name for (else empty)."""
    if not isinstance(geom, WcsGeom) or geom.projection not in CF_GRID_MAPPINGS:
        return {}
    name, lon_key, lat_key = CF_GRID_MAPPINGS[geom.projection]
    lon_ref, lat_ref = (float(v) for v in geom.wcs.wcs.crval)
    attrs: dict[str, str | float] = {"grid_mapping_name": name}
    if lon_key:
        attrs[lon_key] = lon_ref
    if lat_key:
        attrs[lat_key] = lat_ref
    return attrs


def _spatial_ref(geom: Geom) -> xr.Variable:
    return xr.Variable((), 0, {**geom.to_spatial_attrs(), **cf_grid_mapping(geom)})


def _pixel_coords(geom: Geom) -> dict:
    ny, nx = geom.data_shape[-2:]
    attrs = {"units": "pix", "long_name": f"pixel coordinate in the WCS of {SPATIAL_REF}"}
    return {
        "y": xr.Variable("y", np.arange(ny, dtype=float), attrs),
        "x": xr.Variable("x", np.arange(nx, dtype=float), attrs),
    }


@lru_cache(maxsize=256)
def _lonlat(header: str, shape: tuple[int, int], chunks: tuple, frame: str) -> tuple:
    wcs = WCS(fits.Header.fromstring(header), naxis=2)
    return lonlat_dask(wcs, shape, chunks, frame=frame)


def sky_coords(geom: Geom, spatial_chunks) -> dict:
    """Lazy ``lon``/``lat`` coordinates (deg) of a WCS map's pixel centres, chunked like the map.

    One task per chunk computes both from the WCS when asked; the dask arrays are shared by all
    maps on the same grid and chunking (their names derive from the WCS and the chunks).
    """
    if not isinstance(geom, WcsGeom):
        return {}
    shape = tuple(int(n) for n in geom.data_shape[-2:])
    header = geom.to_spatial_attrs()["wcs"]
    lon, lat = _lonlat(header, shape, tuple(map(tuple, spatial_chunks)), geom.frame)
    attrs = {"units": "deg", "frame": geom.frame}
    return {
        "lon": xr.Variable(SPATIAL_DIMS, lon, {**attrs, "long_name": f"{geom.frame} longitude"}),
        "lat": xr.Variable(SPATIAL_DIMS, lat, {**attrs, "long_name": f"{geom.frame} latitude"}),
    }


def geom_coords(geom: Geom, spatial_chunks=None) -> dict:
    """Coordinates that describe ``geom`` on a DataArray (``lon``/``lat`` when chunks are given)."""
    coords = {}
    for axis in geom.axes:
        coords.update(_axis_coords(axis))
    coords.update(_pixel_coords(geom))
    coords[SPATIAL_REF] = _spatial_ref(geom)
    if spatial_chunks is not None:
        coords.update(sky_coords(geom, spatial_chunks))
    return coords


#: Per geometry (by identity, dropped with it) and spatial chunking: an empty DataArray with the
#: geometry's coordinates.  Building xarray coordinates and indexes costs ~1 ms; maps derived
#: from one another mostly share their geometry, so a map costs a shallow copy instead.
_TEMPLATES: dict[int, tuple[weakref.ref, dict]] = {}


def _forget(key: int, ref: weakref.ref) -> None:
    entry = _TEMPLATES.get(key)
    if entry is not None and entry[0] is ref:
        del _TEMPLATES[key]


def _template(geom: Geom, spatial_chunks: tuple) -> xr.DataArray:
    key = id(geom)
    entry = _TEMPLATES.get(key)
    if entry is None or entry[0]() is not geom:
        entry = (weakref.ref(geom, partial(_forget, key)), {})
        _TEMPLATES[key] = entry
    templates = entry[1]
    if spatial_chunks not in templates:
        placeholder = np.broadcast_to(np.zeros((), dtype=np.int8), geom.data_shape)  # no memory
        variable = xr.Variable(geom_dims(geom), placeholder)
        templates[spatial_chunks] = xr.DataArray(variable, coords=geom_coords(geom, spatial_chunks))
    return templates[spatial_chunks]


def to_dataarray(geom: Geom, data, unit: u.UnitBase, meta: dict | None = None, name=None) -> xr.DataArray:
    """The DataArray of a map: ``data`` (numpy or dask) with ``geom``'s dims and coordinates."""
    chunks = getattr(data, "chunks", None)
    spatial_chunks = chunks[-2:] if chunks is not None else tuple((n,) for n in data.shape[-2:])
    attrs = {"units": unit.to_string()}
    if isinstance(geom, WcsGeom) and geom.projection in CF_GRID_MAPPINGS:
        attrs["grid_mapping"] = SPATIAL_REF
    if meta:
        attrs["meta"] = encode_meta(meta)
    out = _template(geom, tuple(spatial_chunks)).copy(deep=False, data=data)
    out.attrs = attrs
    out.name = name
    return out


def _axis_from_coords(array: xr.DataArray, name: Hashable):
    coord = array.coords[name]
    node_type = coord.attrs.get("node_type", "edges")
    if node_type == "label":
        return LabelMapAxis(np.asarray(coord.values).astype(str), name=name)
    unit = coord.attrs.get("units", "")
    interp = coord.attrs.get("interp", "lin")
    if node_type == "edges" and f"{name}_min" in array.coords:
        lo = np.atleast_1d(np.asarray(array.coords[f"{name}_min"].values, dtype=float))
        hi = np.atleast_1d(np.asarray(array.coords[f"{name}_max"].values, dtype=float))
        if not np.allclose(lo[1:], hi[:-1], rtol=1e-10, atol=0):
            raise GeometryMismatchError(
                f"The bins of axis {name!r} are not contiguous ({name}_min/{name}_max): a map axis "
                "needs adjacent bins. After coarsen along an axis pass "
                f"coord_func={{'{name}_min': 'min', '{name}_max': 'max'}}; select contiguous bins."
            )
        nodes = np.append(lo, hi[-1])
    else:
        node_type = "center"
        nodes = np.atleast_1d(np.asarray(coord.values, dtype=float))
    return MapAxis(nodes, interp=interp, name=name, node_type=node_type, unit=unit)


def _pixel_offset(array: xr.DataArray, dim: str) -> tuple[float, float]:
    """(position of the first pixel, step) in the ``spatial_ref`` WCS, from the ``x``/``y`` coordinate.

    Pixels added by ``pad`` have NaN coordinates: they continue the grid of the others.
    """
    if dim not in array.coords:  # stores written before the pixel coordinates existed
        return 0.0, 1.0
    values = np.atleast_1d(np.asarray(array.coords[dim].values, dtype=float))
    index = np.flatnonzero(np.isfinite(values))
    if index.size == 0:
        raise GeometryMismatchError(f"The {dim!r} pixel coordinate holds no finite value")
    if index.size == 1:
        return float(values[index[0]] - index[0]), 1.0
    steps = np.diff(values[index]) / np.diff(index)
    step = float(steps[0])
    if step == 0 or not np.allclose(steps, step, rtol=1e-9, atol=1e-9):
        raise GeometryMismatchError(
            f"The {dim!r} pixel coordinates are not evenly spaced: a WCS map needs a regular grid"
        )
    return float(values[index[0]] - index[0] * step), step


def _regridded_wcs(wcs: WCS, start: tuple[float, float], step: tuple[float, float]) -> WCS:
    """The WCS whose pixel ``i`` is pixel ``start + step * i`` of ``wcs`` (per axis x, y)."""
    out = wcs.deepcopy()
    offset, scale = np.asarray(start), np.asarray(step)
    out.wcs.crpix = (out.wcs.crpix - 1 - offset) / scale + 1
    if out.wcs.has_cd():
        out.wcs.cd = out.wcs.cd * scale[np.newaxis, :]
    else:
        out.wcs.cdelt = out.wcs.cdelt * scale
    out.wcs.set()
    return out


def geom_from_dataarray(array: xr.DataArray) -> Geom:
    """Rebuild the geometry described by a DataArray's coordinates.

    Accepts what xarray's ``isel``, ``sel``, ``coarsen`` and ``pad`` make of a map's DataArray:
    the WCS of ``spatial_ref`` is shifted and scaled to the pixels the ``x``/``y`` coordinates
    name, and the axes are rebuilt from their bin edges.
    """
    if array.dims[-2:] != SPATIAL_DIMS:
        raise GeometryMismatchError(
            f"A map DataArray must end with dimensions {SPATIAL_DIMS}, got {array.dims}"
        )
    if SPATIAL_REF not in array.coords:
        raise GeometryMismatchError(
            f"DataArray has no {SPATIAL_REF!r} coordinate: cannot rebuild the sky geometry"
        )
    axes = MapAxes([_axis_from_coords(array, name) for name in array.dims[:-2][::-1]], n_spatial_axes=2)
    attrs = array.coords[SPATIAL_REF].attrs
    geom_type = attrs.get("geom_type", "wcs")
    if geom_type not in GEOM_TYPES:
        raise GeometryMismatchError(f"Unknown geometry type {geom_type!r} on {SPATIAL_REF}")
    geom = GEOM_TYPES[geom_type].from_spatial_attrs(attrs, axes)
    if not isinstance(geom, WcsGeom):  # geom_type != "wcs"
        return geom
    (y0, ystep), (x0, xstep) = (_pixel_offset(array, dim) for dim in SPATIAL_DIMS)
    npix = (array.sizes["x"], array.sizes["y"])
    if (x0, y0, xstep, ystep) == (0, 0, 1, 1) and npix == geom.data_shape[-2:][::-1]:
        return geom
    wcs = _regridded_wcs(geom.wcs, (x0, y0), (xstep, ystep))
    wcs.array_shape = npix[::-1]
    return WcsGeom(wcs, npix, axes=axes)


def unit_from_attrs(attrs: dict) -> u.UnitBase:
    """The astropy unit stored in ``attrs["units"]`` (dimensionless if absent)."""
    try:
        return u.Unit(attrs.get("units", ""))
    except ValueError as exc:
        raise UnitMismatchError(f"Unknown unit {attrs.get('units')!r} in map attributes") from exc


def meta_from_attrs(attrs: dict) -> dict:
    """Map metadata stored in ``attrs["meta"]`` (JSON text, or a mapping from older stores)."""
    meta = attrs.get("meta")
    if not meta:
        return {}
    return decode_meta(meta if isinstance(meta, str) else encode_meta(dict(meta)))
