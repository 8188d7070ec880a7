"""Storage back ends: lazy gadf FITS over fsspec, zarr stores, atomic writes.

- :func:`read_map` / :func:`write_map` (what ``Map.read`` / ``Map.write`` call);
- :class:`FitsFile` (open once, read any HDU lazily) and :func:`write_fits` (many HDUs,
  streamed, atomic), with :func:`map_to_hdus` giving a map's HDUs;
- :func:`write_zarr_group` / :func:`open_zarr_group` for datasets stored as zarr groups.

Remote reads and writes have timeouts and bounded retries, and remote reads are conditional on
the version of the file opened: dask config ``mapds.storage.*`` (:mod:`.remote_options`),
:mod:`.remote_reads`, :mod:`.versions`.
"""

from typing import TYPE_CHECKING

from .api import map_from_hdulist, map_to_hdulist, read_map, write_map
from .fits import FitsFile, LazyImageHDU, map_to_hdus, write_fits

if TYPE_CHECKING:
    from .zarr_store import ZarrGroup, open_zarr_group, read_zarr_map, write_zarr_group, write_zarr_map

#: Names of :mod:`.zarr_store`, imported on first use: zarr is not imported by ``import mapds``.
_ZARR_NAMES = frozenset(
    {"ZarrGroup", "open_zarr_group", "read_zarr_map", "write_zarr_group", "write_zarr_map"}
)

__all__ = [
    "FitsFile",
    "LazyImageHDU",
    "ZarrGroup",
    "map_from_hdulist",
    "map_to_hdulist",
    "map_to_hdus",
    "open_zarr_group",
    "read_map",
    "read_zarr_map",
    "write_fits",
    "write_map",
    "write_zarr_group",
    "write_zarr_map",
]


def __getattr__(name: str):
    if name in _ZARR_NAMES:
        from . import zarr_store

        return getattr(zarr_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
