"""The xarray form of a map: dimension names, coordinates and attributes (DESIGN.md "Data model").

- Dimensions are the non-spatial axes in data (reverse geometry) order, then ``("y", "x")``.
- A numeric axis carries its bin centres as the dimension coordinate and its edges as
  ``<axis>_min``/``<axis>_max`` coordinates; interpolation and node type live in the coordinate's
  attributes.  For an ``edges`` axis the min/max coordinates hold the nodes exactly, so the
  ``MapAxis`` round-trips bit for bit.
- The spatial grid travels as metadata on the scalar ``spatial_ref`` coordinate (WCS header
  cards or a DS9 region), like rioxarray's ``spatial_ref``; no lon/lat arrays are stored.
- Units are in ``attrs["units"]`` (astropy unit strings); map metadata in ``attrs["meta"]``.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import xarray as xr

from ..errors import GeometryMismatchError
from ..geom import LabelMapAxis, MapAxes, MapAxis, RegionGeom, WcsGeom
from ..geom.base import Geom

__all__ = ["SPATIAL_DIMS", "SPATIAL_REF", "geom_coords", "geom_dims", "geom_from_dataarray"]

SPATIAL_DIMS = ("y", "x")
SPATIAL_REF = "spatial_ref"
GEOM_TYPES = {"wcs": WcsGeom, "region": RegionGeom}


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


def geom_coords(geom: Geom) -> dict:
    """Coordinates that describe ``geom`` on a DataArray."""
    coords = {}
    for axis in geom.axes:
        coords.update(_axis_coords(axis))
    coords[SPATIAL_REF] = xr.Variable((), 0, geom.to_spatial_attrs())
    return coords


def _axis_from_coords(da: xr.DataArray, name: str):
    coord = da.coords[name]
    node_type = coord.attrs.get("node_type", "edges")
    if node_type == "label":
        return LabelMapAxis(np.asarray(coord.values).astype(str), name=name)
    unit = coord.attrs.get("units", "")
    interp = coord.attrs.get("interp", "lin")
    if node_type == "edges" and f"{name}_min" in da.coords:
        lo = np.asarray(da.coords[f"{name}_min"].values, dtype=float)
        hi = np.asarray(da.coords[f"{name}_max"].values, dtype=float)
        nodes = np.append(lo, hi[-1])
    else:
        node_type = "center"
        nodes = np.asarray(coord.values, dtype=float)
    return MapAxis(nodes, interp=interp, name=name, node_type=node_type, unit=unit)


def geom_from_dataarray(da: xr.DataArray) -> Geom:
    """Rebuild the geometry described by a DataArray's coordinates."""
    if da.dims[-2:] != SPATIAL_DIMS:
        raise GeometryMismatchError(f"A map DataArray must end with dimensions {SPATIAL_DIMS}, got {da.dims}")
    if SPATIAL_REF not in da.coords:
        raise GeometryMismatchError(
            f"DataArray has no {SPATIAL_REF!r} coordinate: cannot rebuild the sky geometry"
        )
    axes = MapAxes([_axis_from_coords(da, name) for name in da.dims[:-2][::-1]], n_spatial_axes=2)
    attrs = da.coords[SPATIAL_REF].attrs
    geom_type = attrs.get("geom_type", "wcs")
    if geom_type not in GEOM_TYPES:
        raise GeometryMismatchError(f"Unknown geometry type {geom_type!r} on {SPATIAL_REF}")
    return GEOM_TYPES[geom_type].from_spatial_attrs(attrs, axes)


def unit_from_attrs(attrs: dict) -> u.Unit:
    """The astropy unit stored in ``attrs["units"]`` (dimensionless if absent)."""
    from ..errors import UnitMismatchError

    try:
        return u.Unit(attrs.get("units", ""))
    except ValueError as exc:
        raise UnitMismatchError(f"Unknown unit {attrs.get('units')!r} in map attributes") from exc
