"""Which format a location holds, a zarr store or a FITS file, told without importing zarr.

zarr (and the modules built on it: :mod:`.zarr_store`, :mod:`.integrity`, :mod:`.chunk_decoder`,
:mod:`.gzip_cache`) is imported when a store is first read or written, not by ``import mapds``.
"""

from __future__ import annotations

from .atomic import recover
from .urls import Location, storage_errors

__all__ = ["is_zarr"]

#: Names that are FITS files, never zarr stores (no request needed to tell).
_FITS_SUFFIXES = (".fits", ".fits.gz", ".fit", ".fts", ".fit.gz", ".fts.gz")


def is_zarr(location: Location, must_exist: bool = True) -> bool:
    """Whether a location is (or, for writing, names) a zarr store."""
    if location.path.rstrip("/").endswith(".zarr"):
        return True
    # A FITS name is not a store: on object storage asking would cost two requests per open.
    if not must_exist or location.path.rstrip("/").lower().endswith(_FITS_SUFFIXES):
        return False
    if location.is_local:
        recover(location)  # a store a killed writer moved aside is put back first
    # Only the store's root metadata is asked for: fsspec's HTTP filesystem answers isdir() by
    # downloading the URL to look for links in it (a whole FITS file).
    with storage_errors(location.url):
        return bool(location.fs.exists(f"{location.path.rstrip('/')}/zarr.json"))
