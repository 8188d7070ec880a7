"""Map geometries and axes: pure metadata, cheap to copy, no array data."""

from .axes import MapAxes
from .axis import INVALID_INDEX, MapAxis
from .base import Geom
from .coord import MapCoord
from .label_axis import LabelMapAxis
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
