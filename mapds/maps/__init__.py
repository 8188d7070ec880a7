"""Lazy maps: a geometry, a unit and a dask-backed ``xarray.DataArray``."""

from .core import Map
from .region import RegionNDMap

__all__ = ["Map", "RegionNDMap"]
