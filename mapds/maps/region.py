"""`RegionNDMap`: a map on a `RegionGeom` (one spatial bin per non-spatial bin)."""

from __future__ import annotations

from .core import Map

__all__ = ["RegionNDMap"]


class RegionNDMap(Map):
    """Map whose geometry is a :class:`~mapds.geom.RegionGeom` (data shape ``(..., 1, 1)``)."""
