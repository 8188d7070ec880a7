"""The ``mapds`` xarray backend engine: gammapy map and dataset files as lazy ``xarray.Dataset``.

``xr.open_dataset(url, engine="mapds", chunks={})`` opens

- gammapy "gadf" FITS files (a map, or a dataset with ``COUNTS``, ``EXPOSURE``, ``BACKGROUND``,
  ``MASK_SAFE``, ``MASK_FIT``, ``PSF``, ``EDISP``... and their ``_BANDS`` tables), plain or
  gzip-compressed (streamed once into mapds' zarr cache, see :mod:`mapds.io.gzip_cache`);
- mapds zarr stores: a single map (``Map.write("m.zarr")``) or a dataset group
  (``MapDataset.write("d.zarr")``),

locally or at any fsspec URL (``storage_options=``).  Opening reads headers and small tables only.

The Dataset
-----------
One data variable per map, named after its lower-cased HDU (``counts``, ``exposure``,
``background``, ``mask_safe``, ``mask_fit``, ``psf``, ``psf_exposure``, ``edisp``,
``edisp_exposure``) or zarr group/variable, each the DataArray of :meth:`Map.to_xarray` (axes as
dimensions with ``<axis>_min``/``<axis>_max`` edges, ``y``/``x``, a scalar ``spatial_ref``
coordinate holding the WCS, units in ``attrs["units"]``).  Maps on another sky grid than the first
map (the PSF and EDisp maps usually are coarser) and axes that differ from an axis of the same name
already present get suffixed names (``y_psf``, ``x_psf``, ``spatial_ref_psf``,
``energy_true_psf``), recorded in each variable's ``attrs["mapds_rename"]`` so that
``ds.psf.mapds.to_map()`` and ``ds.mapds.to_dataset()`` restore them (see
:mod:`mapds.maps.dataset_layout`).

Tables that are not part of a map (``GTI``, ``META_TABLE``) become Dataset attributes holding the
table as ECSV text (a netCDF-safe string that keeps units and header cards; listed in
``attrs["mapds_tables"]``); larger tables are skipped and named in ``attrs["mapds_skipped"]``.
The dataset name and creation cards are ``attrs["name"]``, ``attrs["creator"]``,
``attrs["created"]``.

Chunks
------
Each map is exposed to xarray as a lazily indexed backend array whose ``preferred_chunks`` are
mapds' chunks for that storage (whole-row slabs for FITS, the stored chunks for zarr), so xarray's
``chunks=`` has its usual meaning: ``{}`` gives those chunks, ``"auto"`` multiples of them, a dict
what it says (xarray warns when it splits them), ``None`` no dask at all (indexing reads only the
selected rows).  Each read, from a dask task or from indexing, goes through
:meth:`Map.slice_by_idx`, so it requests only the bytes of its window.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Hashable, Iterable

import dask
import numpy as np
import xarray as xr
from astropy.table import Table
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from ..errors import CorruptFileError
from ..maps import Map
from ..maps.dataset_layout import combine_dataarrays
from .fits import FitsFile
from .formats import is_zarr
from .urls import Location, resolve

__all__ = [
    "MapBackendArray",
    "MapdsBackendEntrypoint",
    "open_mapds_dataset",
    "table_from_text",
    "table_to_text",
]

#: File name endings the engine claims when xarray guesses (``engine=None``).
SUFFIXES = (".fits", ".fits.gz", ".fit", ".fit.gz", ".fts", ".zarr")
#: Tables larger than this (bytes of table data) are not copied into the Dataset attributes.
MAX_TABLE_BYTES = 1 * 2**20
#: Dataset attribute listing the attributes that hold tables (as ECSV text).
TABLES_ATTR = "mapds_tables"
#: Dataset attribute naming what was not opened, and why.
SKIPPED_ATTR = "mapds_skipped"
_AUX_SUFFIXES = ("_BANDS", "_REGION")
_AUX_NAMES = ("EBOUNDS", "ENERGIES")
_CARDS = ("NAME", "CREATOR", "CREATED")


# -- tables as netCDF-safe text ----------------------------------------------------------------------


def table_to_text(table: Table) -> str:
    """A table as ECSV text: columns, units and header cards (``meta``) in one string."""
    buf = io.StringIO()
    table.write(buf, format="ascii.ecsv")
    return buf.getvalue()


def table_from_text(text: str) -> Table:
    """Inverse of :func:`table_to_text`."""
    return Table.read(text, format="ascii.ecsv")


# -- lazily indexed map data -------------------------------------------------------------------------


def _scheduler() -> str | None:
    # A read inside a dask task (a chunk of xarray's array) runs its small graph on the spot;
    # one from the user's thread (indexing without dask) uses the configured scheduler.
    return None if threading.current_thread() is threading.main_thread() else "synchronous"


class MapBackendArray(BackendArray):
    """A map's data for xarray: basic indexing pushed down to storage reads.

    Parameters
    ----------
    m : Map
        A lazy map (typically just opened from storage).
    dims : tuple of str
        Its dimension names (axis names, then ``y``, ``x``).
    """

    def __init__(self, m: Map, dims: tuple[Hashable, ...]):
        self.map = m
        self.dims = tuple(dims)
        self.shape = tuple(m.data.shape)
        self.dtype = np.dtype(m.dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        indices = [np.arange(n)[k] for n, k in zip(self.shape, key, strict=True)]
        if any(index.size == 0 for index in indices):
            return np.empty(tuple(index.size for index in indices if np.ndim(index)), dtype=self.dtype)
        windows, local = {}, []
        for dim, index, n in zip(self.dims, indices, self.shape, strict=True):
            lo, hi = int(np.min(index)), int(np.max(index)) + 1
            if (lo, hi) != (0, n):
                windows[dim] = slice(lo, hi)
            local.append(int(index) - lo if np.ndim(index) == 0 else index - lo)
        window = self.map.slice_by_idx(windows) if windows else self.map
        (values,) = dask.compute(window.data, scheduler=_scheduler())
        out = np.asarray(values)
        # Integer indices and steps are applied in memory, last dimension first.
        for axis in reversed(range(len(local))):
            index = local[axis]
            contiguous = not isinstance(index, int) and (index.size < 2 or bool(np.all(np.diff(index) == 1)))
            if not contiguous:
                out = np.take(out, index, axis=axis)
        return out


class _DaskBackendArray(BackendArray):
    """A dask-backed coordinate (e.g. lazy 2-D sky coordinates) as a lazily indexed array."""

    def __init__(self, array):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        (values,) = dask.compute(self.array[key], scheduler=_scheduler())
        return np.asarray(values)


def _preferred_chunks(dims, chunks) -> dict:
    """xarray's ``preferred_chunks`` encoding: a size per dimension (tuples when irregular)."""
    out = {}
    for dim, c in zip(dims, chunks, strict=True):
        regular = len(c) == 1 or (len(set(c[:-1])) == 1 and c[-1] <= c[0])
        out[dim] = int(c[0]) if regular else tuple(int(n) for n in c)
    return out


def _lazy(variable: xr.Variable, data) -> xr.Variable:
    encoding = dict(variable.encoding)
    encoding["preferred_chunks"] = _preferred_chunks(variable.dims, variable.chunks)
    return xr.Variable(variable.dims, indexing.LazilyIndexedArray(data), variable.attrs, encoding)


def map_dataarray_lazy(m: Map, name: str) -> xr.DataArray:
    """``m.to_xarray(name)`` with its dask data (and dask coordinates) replaced by lazily
    indexed backend arrays, so that xarray's ``chunks=`` decides the chunking."""
    arr = m.to_xarray(name)
    coords = {}
    for coord, value in arr.coords.items():
        variable = value.variable
        if variable.chunks is not None and variable.ndim and coord not in arr.dims:
            variable = _lazy(variable, _DaskBackendArray(variable.data))
        coords[coord] = variable
    data = _lazy(arr.variable, MapBackendArray(m, arr.dims))
    out = xr.DataArray(data, coords=coords, name=name)
    out.encoding = data.encoding
    return out


# -- what a file holds -------------------------------------------------------------------------------


class _Contents:
    def __init__(self) -> None:
        self.maps: dict[str, Map] = {}
        self.attrs: dict = {}
        self.tables: list[str] = []
        self.skipped: list[str] = []

    def add_table(self, name: str, read) -> None:
        self.attrs[name] = table_to_text(read())
        self.tables.append(name)


def _is_auxiliary(name: str, names: list[str]) -> bool:
    """A table that belongs to a map (its bands, its region, Fermi energies)."""
    return name in _AUX_NAMES or any(name.endswith(s) and name[: -len(s)] in names for s in _AUX_SUFFIXES)


def _fits_contents(fits_file: FitsFile, drop: set[str]) -> _Contents:
    contents = _Contents()
    names = fits_file.names
    primary = fits_file.header(0)
    contents.attrs.update({card.lower(): str(primary[card]) for card in _CARDS if card in primary})
    for index, hdu in enumerate(names):
        info = fits_file.info_of(index)
        key = (hdu or f"hdu{index}").lower()
        if key in drop or _is_auxiliary(hdu, names):
            continue
        header = info.header
        if info.is_image:
            if fits_file.has_data(index):
                contents.maps[key] = fits_file.read_map(hdu=index)
        elif not info.is_table:
            continue  # an empty primary HDU
        elif "BANDSHDU" in header or f"{hdu}_REGION" in names or f"{hdu}_BANDS" in names:
            contents.maps[key] = fits_file.read_map(hdu=index)  # a region map (small, read eagerly)
        elif info.data_size <= MAX_TABLE_BYTES:
            contents.add_table(key, lambda index=index: fits_file.read_table(index))
        else:
            contents.skipped.append(f"table HDU {hdu!r} ({info.data_size} bytes, above {MAX_TABLE_BYTES})")
    return contents


def _zarr_contents(location: Location, drop: set[str]) -> _Contents:
    from .zarr_store import open_zarr_group, read_zarr_map, zarr_store  # deferred: zarr is imported on use

    contents = _Contents()
    try:
        group = open_zarr_group(location)
    except CorruptFileError:  # no dataset-group attribute: a single-map store
        group = None
    if group is None:
        ds = xr.open_zarr(zarr_store(location), chunks=None, consolidated=False, zarr_format=3)
        for name, variable in ds.data_vars.items():
            if str(name).lower() in drop:
                continue
            if tuple(variable.dims[-2:]) == ("y", "x"):
                contents.maps[str(name)] = read_zarr_map(location, name=str(name))
            else:
                contents.skipped.append(f"variable {name!r} (not a map)")
        return contents
    for key, value in group.attrs.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            contents.attrs[key] = value
    for name in group.map_names:
        if name.lower() not in drop:
            contents.maps[name] = group.read_map(name)
    for name in group.table_names:
        if name.lower() not in drop:
            contents.add_table(name, lambda name=name: group.read_table(name))
    return contents


def open_mapds_dataset(
    filename_or_obj,
    *,
    drop_variables: Iterable[str] | str | None = None,
    storage_options=None,
    cache_dir=None,
) -> xr.Dataset:
    """Open a gammapy map/dataset file or mapds zarr store as a lazy Dataset (see module doc).

    Parameters
    ----------
    filename_or_obj : str or os.PathLike
        Local path or fsspec URL of a FITS file (``.fits``, ``.fits.gz``) or zarr store.
    drop_variables : str or iterable of str, optional
        Maps or tables not to open (lower-case names, e.g. ``["psf", "psf_exposure", "gti"]``).
    storage_options : dict, optional
        fsspec options (credentials, endpoint...).
    cache_dir : str, optional
        Cache of gzip-compressed FITS (default ``$MAPDS_CACHE_DIR`` or ``~/.cache/mapds``).

    Returns
    -------
    xarray.Dataset
        Data variables backed by lazily indexed arrays (xarray's ``open_dataset`` then applies
        ``chunks=``); only headers and small tables were read.
    """
    if not isinstance(filename_or_obj, str | os.PathLike):
        raise TypeError(
            "The mapds engine opens paths and URLs (str or os.PathLike), "
            f"not {type(filename_or_obj).__name__}"
        )
    if isinstance(drop_variables, str):
        drop_variables = [drop_variables]
    drop = {str(v).lower() for v in drop_variables or ()}
    location = resolve(filename_or_obj, storage_options)
    if is_zarr(location):
        contents = _zarr_contents(location, drop)
    else:
        contents = _fits_contents(FitsFile.open(location, cache_dir=cache_dir), drop)
    attrs = dict(contents.attrs)
    if contents.tables:
        attrs[TABLES_ATTR] = " ".join(contents.tables)
    if contents.skipped:
        attrs[SKIPPED_ATTR] = "; ".join(contents.skipped)
    arrays = {name: map_dataarray_lazy(m, name) for name, m in contents.maps.items()}
    return combine_dataarrays(arrays, attrs=attrs)


class MapdsBackendEntrypoint(BackendEntrypoint):
    """xarray backend ``engine="mapds"``: gammapy FITS maps and datasets (plain or gzip) and
    mapds zarr stores, opened lazily through mapds' readers (see :mod:`mapds.io.xarray_backend`).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.open_dataset("dataset.fits", engine="mapds", chunks={})  # doctest: +SKIP
    >>> ds.counts.sel(energy=0.1, method="nearest")  # doctest: +SKIP
    >>> dataset = ds.mapds.to_dataset()  # a mapds.datasets.MapDataset  # doctest: +SKIP
    """

    description = (
        "gammapy maps and datasets (gadf FITS, gzip FITS) and mapds zarr stores, read lazily by mapds"
    )
    url = "mapds README, section 'Opening gammapy files with xarray'"
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "storage_options", "cache_dir")

    def open_dataset(
        self,
        filename_or_obj,
        *,
        drop_variables: Iterable[str] | str | None = None,
        storage_options=None,
        cache_dir=None,
    ) -> xr.Dataset:
        """See :func:`open_mapds_dataset`."""
        return open_mapds_dataset(
            filename_or_obj,
            drop_variables=drop_variables,
            storage_options=storage_options,
            cache_dir=cache_dir,
        )

    def guess_can_open(self, filename_or_obj) -> bool:
        """Paths and URLs ending in ``.fits``, ``.fits.gz`` (``.fit``, ``.fts``) or ``.zarr``."""
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        name = os.fspath(filename_or_obj).rstrip("/").lower()
        return name.endswith(SUFFIXES)
