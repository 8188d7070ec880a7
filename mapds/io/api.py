"""Entry points used by :class:`mapds.maps.Map`: pick the storage back end for a URL.

FITS (gammapy's "gadf" layout and the Fermi-LAT ``fgst-ccube``/``fgst-template`` layouts,
plain or gzip-compressed) is handled by :mod:`mapds.io.fits`; zarr stores (a ``.zarr`` URL or
``format="zarr"``) by :mod:`mapds.io.zarr_store`, imported when a store is first read or written
(zarr is not imported by ``import mapds``).
"""

from __future__ import annotations

from astropy.io import fits

from .fits import FitsFile, map_to_hdus, write_fits
from .fits.maps import LazyImageHDU, map_from_source, with_primary
from .fits.source import HDUListSource
from .formats import is_zarr
from .urls import resolve

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
    """Open a map lazily from FITS (plain or gzip) or zarr, local or any fsspec URL.

    Only headers, bands tables and coordinates are read; the array is read chunk by chunk
    when computed, each chunk requesting only its own bytes.

    Parameters
    ----------
    filename : str or os.PathLike
        Path or URL (``s3://``, ``gs://``, ``https://``, ``memory://``...).
    hdu : str or int, optional
        FITS HDU (or zarr array/group name); default: the first HDU with data.
    hdu_bands : str, optional
        Bands table; default from the map header.
    map_type : {"auto", "wcs", "region"}
        Map type (FITS).
    format : {None, "gadf", "fgst-ccube", "fgst-template", "zarr"}
        File convention; default from the URL suffix and the bands table.
    colname : str, optional
        Accepted for gammapy compatibility (HEALPix tables only; unused).
    checksum : bool
        Verify FITS checksums (reads the whole file; warns on mismatch).
    chunks : optional, keyword-only
        Dask chunks.  ``None`` (default) and ``{}`` follow the storage layout: whole-row slabs
        of all planes for FITS images (~64 MiB, one contiguous range per plane), the stored
        chunks for zarr.  Anything else as in :func:`mapds.maps.chunks.normalize_chunks`.
    storage_options : dict, optional, keyword-only
        fsspec options (credentials, endpoint...).
    cache_dir : str, optional, keyword-only
        Cache for gzip-compressed FITS (default ``$MAPDS_CACHE_DIR`` or ``~/.cache/mapds``).
    """
    location = resolve(filename, storage_options)
    if format == "zarr" or (format is None and is_zarr(location)):
        from .zarr_store import read_zarr_map

        return read_zarr_map(location, name=hdu, chunks=chunks)
    fits_file = FitsFile.open(location, cache_dir=cache_dir, checksum=checksum)
    return fits_file.read_map(hdu=hdu, hdu_bands=hdu_bands, map_type=map_type, format=format, chunks=chunks)


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
    """Write a map to FITS (gadf) or zarr, streaming chunk by chunk, atomically.

    The target is replaced only once complete; with ``overwrite=False`` an existing target
    raises :class:`~mapds.errors.OverwriteError`.  ``format`` defaults to ``"zarr"`` for a
    ``.zarr`` URL and ``"gadf"`` otherwise.
    """
    location = resolve(filename, storage_options)
    if format is None:
        format = "zarr" if is_zarr(location, must_exist=False) else "gadf"
    if format == "zarr":
        if sparse:
            raise ValueError("sparse=True is a FITS layout; zarr stores are chunked and compressed already")
        from .zarr_store import write_zarr_map

        write_zarr_map(m, location, name=hdu, overwrite=overwrite)
        return
    hdus = map_to_hdus(m, hdu=hdu, hdu_bands=hdu_bands, sparse=sparse, format=format)
    write_fits(location, hdus, overwrite=overwrite, checksum=checksum)


def map_to_hdulist(m, hdu=None, hdu_bands=None, sparse=False, format="gadf") -> fits.HDUList:
    """The map as an in-memory ``astropy.io.fits.HDUList``, as gammapy builds it (computes)."""
    hdus = with_primary(map_to_hdus(m, hdu=hdu, hdu_bands=hdu_bands, sparse=sparse, format=format))
    return fits.HDUList([h.to_astropy() if isinstance(h, LazyImageHDU) else h for h in hdus])


def map_from_hdulist(hdulist, hdu=None, hdu_bands=None, format=None, colname=None, *, chunks=None):
    """Map from an in-memory ``HDUList`` (same rules as :func:`read_map`)."""
    return map_from_source(HDUListSource(hdulist), hdu=hdu, hdu_bands=hdu_bands, format=format, chunks=chunks)
