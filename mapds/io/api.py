"""Entry points used by :class:`mapds.maps.Map`: pick the storage back end for a URL."""

from __future__ import annotations

__all__ = ["map_from_hdulist", "map_to_hdulist", "read_map", "write_map"]


def read_map(
    filename,
    hdu=None,
    hdu_bands=None,
    map_type="auto",
    format=None,
    colname=None,
    checksum=False,
    *,
    chunks=None,
    storage_options=None,
    cache_dir=None,
):
    """Open a map lazily from FITS (plain or gzip) or zarr, local or any fsspec URL."""
    raise NotImplementedError


def write_map(
    m,
    filename,
    overwrite=False,
    hdu=None,
    hdu_bands=None,
    sparse=False,
    format=None,
    checksum=False,
    *,
    storage_options=None,
):
    """Write a map to FITS (gadf) or zarr, streaming chunk by chunk, atomically."""
    raise NotImplementedError


def map_to_hdulist(m, hdu=None, hdu_bands=None, sparse=False, format="gadf"):
    """The map as an in-memory ``astropy.io.fits.HDUList`` (computes the data)."""
    raise NotImplementedError


def map_from_hdulist(hdulist, hdu=None, hdu_bands=None, format=None, colname=None, *, chunks=None):
    """Map from an in-memory HDUList."""
    raise NotImplementedError
