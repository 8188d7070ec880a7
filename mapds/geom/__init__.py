"""Map geometries and axes: pure metadata, cheap to copy, no array data."""

from .axes import INVALID_INDEX, LabelMapAxis, MapAxes, MapAxis
from .base import Geom
from .coord import MapCoord
from .region import RegionGeom
from .wcs import WcsGeom

__all__ = [
    "INVALID_INDEX",
    "Geom",
    "LabelMapAxis",
    "MapAxes",
    "MapAxis",
    "MapCoord",
    "RegionGeom",
    "WcsGeom",
]
