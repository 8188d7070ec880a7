"""Storage back ends: lazy gadf FITS over fsspec, zarr stores, atomic writes."""

from .api import map_from_hdulist, map_to_hdulist, read_map, write_map

__all__ = ["map_from_hdulist", "map_to_hdulist", "read_map", "write_map"]
