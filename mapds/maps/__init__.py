"""Lazy maps: a geometry, a unit and a dask-backed ``xarray.DataArray``.

The geometry classes are re-exported here as in ``gammapy.maps``, so that
``from gammapy.maps import Map, MapAxis, WcsGeom`` becomes ``from mapds.maps import ...``.
"""

from ..geom import Geom, LabelMapAxis, MapAxes, MapAxis, MapCoord, RegionGeom, WcsGeom
from . import (
    accessor,  # noqa: F401  (registers the DataArray ``.mapds`` accessor)
    geom_maps,  # noqa: F401  (registers the maps gammapy's geometry methods return)
)
from .core import Map
from .region import RegionNDMap

__all__ = [
    "Geom",
    "LabelMapAxis",
    "Map",
    "MapAxes",
    "MapAxis",
    "MapCoord",
    "RegionGeom",
    "RegionNDMap",
    "WcsGeom",
]
