"""zarr (v3) stores of maps, laid out so that ``xarray.open_zarr`` opens them directly.

A map is stored as an xarray Dataset with one data variable (its values, named after the map)
and the coordinates of :mod:`mapds.maps.dataarray` (``<axis>``, ``<axis>_min``, ``<axis>_max``
and the scalar ``spatial_ref`` carrying the WCS), units in ``attrs["units"]``, map metadata in
``attrs["meta"]`` (quantities as strings, as in FITS ``META`` cards).

- A single map (``Map.write("m.zarr")``) is such a Dataset at the root of the store.
- A dataset (:func:`write_zarr_group`) is a group whose attributes hold free metadata and
  whose subgroups hold one map (or one table) each, e.g. ``xr.open_zarr(url, group="counts")``;
  different maps may have different grids (a PSF map next to counts).

Reading builds the geometry from the coordinates and wraps the data array in
:class:`ZarrLazyArray`, so a map opened from zarr reads no array bytes until computed and
cutouts read only the zarr chunks they touch.  Writing streams dask chunks straight into zarr
chunks (xarray ``to_zarr``), into a temporary store that replaces the target when complete.

Every store written here records what it holds (every chunk written, each with a crc32c
checksum, and a manifest written last), and stores are read through
:class:`~mapds.io.integrity.VerifiedStore`: a chunk missing or damaged is an error naming it,
never zarr's fill value (see :mod:`mapds.io.integrity`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import warnings
from collections.abc import Iterator
from typing import cast

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr
from astropy.table import Table
from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
from zarr.abc.store import Store
from zarr.codecs import BloscCodec

from ..errors import CorruptFileError, MapdsError, MissingHDUError, StorageError
from ..maps import Map
from ..maps.dataarray import SKY_COORDS, SPATIAL_DIMS, geom_from_dataarray, meta_from_attrs, unit_from_attrs
from ..maps.lazy import WindowedArray
from ..maps.meta import encode_meta
from .atomic import atomic_directory, recover
from .chunk_decoder import ChunkDecoder
from .formats import is_zarr
from .integrity import (
    MANIFEST_GROUP,
    MARKER_ATTR,
    VerifiedStore,
    checked_codecs,
    checksum_error,
    open_verified,
    write_manifest,
)
from .urls import Location, resolve, storage_errors

__all__ = [
    "ZarrGroup",
    "ZarrLazyArray",
    "is_zarr",
    "open_zarr_group",
    "read_zarr_map",
    "write_zarr_group",
    "write_zarr_map",
]

#: Name of the data variable of a single-map store written without a name.
DEFAULT_NAME = "data"
#: Compression of map arrays: byte-shuffled LZ4 decodes at several GB/s (zstd, zarr's default,
#: compresses counts ~2x better but reads ~3x slower), so reading stays close to disk speed.
MAP_COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)
#: What every array mapds writes is encoded with: MAP_COMPRESSORS, then zarr's crc32c codec (each
#: chunk carries its checksum; see :mod:`mapds.io.integrity`).
STORE_COMPRESSORS = checked_codecs(MAP_COMPRESSORS)
_GROUP_KEY = "mapds"
#: Maps of event counts: whole numbers, stored as :data:`COUNTS_STORAGE_DTYPE` (see
#: :func:`_counts_storage`).
COUNTS_MAPS = frozenset({"counts", "counts_off"})
#: Integers of counts on disk: byte-shuffled LZ4 decodes these 4-7x faster than the float64 values
#: they stand for (blosc's 8-byte shuffle runs at ~300 MB/s), and they take half the space.
COUNTS_STORAGE_DTYPE = np.dtype("uint16")
#: Variable attribute naming the dtype a variable stored as integers is read back as.
DECODED_DTYPE_ATTR = "mapds_dtype"


def zarr_store(location: Location, read_only: bool = True):
    """A zarr store for a location (``LocalStore`` for local paths, else ``FsspecStore``).

    Read-only stores are a :class:`~mapds.io.integrity.VerifiedStore`: its manifest is read now
    (one small request) and every key read is checked against it.
    """
    store: Store
    if location.is_local:
        if read_only:
            recover(location)  # one stat; repairs a store a killed writer moved aside
        store = zarr.storage.LocalStore(location.path, read_only=read_only)
    else:
        fs = location.fs
        if not fs.async_impl:
            fs = AsyncFileSystemWrapper(fs, asynchronous=True)
        elif not fs.asynchronous:
            # zarr drives the filesystem from its own event loop.  s3fs asks for an object's size
            # (a HEAD) before every whole-object GET unless it may not split the download:
            # chunks are small, so one GET each.
            options = dict(location.options)
            if "s3" in fs.protocol:
                options.setdefault("max_concurrency", 1)
            fs = type(fs)(asynchronous=True, **options)
        store = zarr.storage.FsspecStore(fs, path=location.path, read_only=read_only)
    return open_verified(location, store) if read_only else store


class ZarrLazyArray:
    """A zarr array as a :class:`~mapds.maps.lazy.LazyArray` (native chunks = zarr chunks).

    Parameters
    ----------
    array : zarr.Array
        The stored array.
    as_bool : bool
        Return ``values != 0`` (masks stored as integers).
    """

    def __init__(
        self, array: zarr.Array, as_bool: bool = False, url: str | None = None, decoded_dtype=None
    ):
        self.array = array
        self.as_bool = as_bool
        self.decoded_dtype = None if decoded_dtype is None else np.dtype(decoded_dtype)
        store = array.store_path.store
        # How messages name the store
        self.name = store.name if isinstance(store, VerifiedStore) else repr(url or str(array.store_path))
        self.decoder = ChunkDecoder.for_array(array, self.name)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        if self.as_bool:
            return np.dtype(bool)
        return self.decoded_dtype or np.dtype(self.array.dtype)

    @property
    def native_chunks(self) -> tuple[tuple[int, ...], ...]:
        return da.core.normalize_chunks(self.array.chunks, self.shape)

    def as_stored(self) -> ZarrLazyArray | None:
        """This array without the conversion to ``decoded_dtype``, or None without one."""
        if self.decoded_dtype is None or self.as_bool:
            return None
        stored = copy.copy(self)
        stored.decoded_dtype = None
        return stored

    def __getitem__(self, key) -> np.ndarray:
        try:
            values = self._read(key)
        except ValueError as exc:
            if "checksum" not in str(exc):  # zarr's crc32c codec: a chunk's content is damaged
                raise
            selection = key if isinstance(key, tuple) else (key,)
            raise checksum_error(self.array, selection, self.name, exc) from exc
        if self.as_bool:
            return values != 0
        return values if self.decoded_dtype is None else values.astype(self.decoded_dtype)

    def _read(self, key) -> np.ndarray:
        # One whole chunk (what a task of the default chunking asks for): decoded directly.
        coords = None if self.decoder is None else self.decoder.whole_chunk(key)
        if self.decoder is not None and coords is not None:
            values = self.decoder.read(coords)
            if values is not None:
                return values
        return np.asarray(self.array[key])


def _jsonable_meta(meta: dict) -> dict:
    return json.loads(encode_meta(meta))


class _NotWholeNumbers(Exception):
    """A chunk of a counts map holds values its integer storage cannot represent exactly."""


def _as_counts_storage(values: np.ndarray) -> np.ndarray:
    stored = values.astype(COUNTS_STORAGE_DTYPE)
    # exact round trip only: fractions, negatives, NaN or values past the integer range fall back
    if not np.array_equal(stored, values):
        raise _NotWholeNumbers
    return stored


def _counts_storage(data_array: xr.DataArray) -> xr.DataArray:
    """A float counts map as whole numbers (checked in each chunk's writing task), read back as
    its own dtype (attribute :data:`DECODED_DTYPE_ATTR`)."""
    data = data_array.data
    name = f"counts-storage-{data.name}"
    stored = data.map_blocks(_as_counts_storage, dtype=COUNTS_STORAGE_DTYPE, name=name)
    attrs = {**data_array.attrs, DECODED_DTYPE_ATTR: data.dtype.str}
    return data_array.copy(data=stored).assign_attrs(attrs)


def _dataset_of(m: Map, name: str, whole_counts: bool = False) -> xr.Dataset:
    # lon/lat are computed from the WCS whenever asked for: storing them would triple the store.
    data_array = m.to_xarray(name).drop_vars(list(SKY_COORDS), errors="ignore")
    if not isinstance(data_array.data, da.Array):  # a computed map: written in mapds' default chunks
        data_array = data_array.copy(data=m.dask_data)
    if whole_counts and data_array.dtype.kind == "f":
        data_array = _counts_storage(data_array)
    data = data_array.data
    # zarr chunks must be regular: every dask chunk but the last of each dimension equal.
    if any(len(set(c[:-1])) > 1 or (len(c) > 1 and c[-1] > c[0]) for c in data.chunks):
        data_array = data_array.chunk(dict(zip(data_array.dims, (c[0] for c in data.chunks), strict=True)))
    return data_array.to_dataset()


def _write_dataset(ds: xr.Dataset, store, group: str | None, compute: bool):
    # Coordinates too: every array of the store carries checksums.
    encoding = {str(name): {"compressors": STORE_COMPRESSORS} for name in ds.variables}
    # Every chunk is written, even one of fill values only, so that a missing chunk is an error
    # (mapds.io.integrity) rather than zarr's fill value.
    # xarray's overloads type compute as Literal[True] or Literal[False], not bool
    return ds.to_zarr(  # type: ignore[call-overload]
        store,
        group=group,
        mode="w",
        zarr_format=3,
        consolidated=False,
        compute=compute,
        encoding=encoding,
        write_empty_chunks=True,
    )


def _consolidate(store) -> None:
    """Consolidated metadata, so that ``xarray.open_zarr`` opens the store with one read and
    no warning (zarr warns that consolidation is not yet in the v3 specification)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=zarr.errors.ZarrUserWarning)
        zarr.consolidate_metadata(store)


def write_zarr_map(m: Map, url, name=None, *, overwrite=False, storage_options=None) -> None:
    """Write one map as a zarr store (streamed chunk by chunk, atomically).

    Parameters
    ----------
    m : Map
        The map.
    url : str, os.PathLike or Location
        Target store (``*.zarr``).
    name : str, optional
        Name of the data variable (lower-cased); default ``"data"``.
    overwrite : bool
        Replace an existing store; otherwise :class:`~mapds.errors.OverwriteError`.
    """
    target = resolve(url, storage_options)
    name = (name or DEFAULT_NAME).lower()
    with atomic_directory(target, overwrite=overwrite) as tmp, storage_errors(target.url):
        store = zarr_store(tmp, read_only=False)
        ds = _dataset_of(m, name).assign_attrs({MARKER_ATTR: MANIFEST_GROUP})
        _write_dataset(ds, store, None, compute=True)
        _consolidate(store)
        write_manifest(tmp)  # last: the store is complete


def _table_dataset(table: Table) -> xr.Dataset:
    variables = {}
    for column in table.itercols():
        values = np.asarray(column)
        if values.dtype.kind in "US":
            # Variable-length strings have a zarr v3 data type; fixed-width unicode has not.
            values = values.astype(str).astype(object)
        dims = ("row", *(f"{column.name}_dim{i}" for i in range(1, values.ndim)))
        attrs = {"units": column.unit.to_string()} if column.unit is not None else {}
        variables[column.name] = xr.Variable(dims, values, attrs)
    meta = {str(k): v for k, v in table.meta.items() if k not in ("comments", "history")}
    # Column order is kept in attrs: zarr lists the arrays of a group alphabetically.
    attrs = {"meta": _jsonable_meta(meta), "columns": list(table.colnames), _GROUP_KEY: "table"}
    return xr.Dataset(variables, attrs=attrs)


def _dataset_table(ds: xr.Dataset) -> Table:
    table = Table(meta=dict(ds.attrs.get("meta", {})))
    for name in ds.attrs.get("columns", list(ds.data_vars)):
        variable = ds.data_vars[name]
        values = np.asarray(variable.values)
        # Strings come back as objects or numpy StringDType ("T"): give astropy fixed-width ones.
        table[name] = np.array(values.tolist(), dtype=str) if values.dtype.kind in "OT" else values
        if "units" in variable.attrs:
            table[name].unit = variable.attrs["units"]
    return table


def write_zarr_group(
    url, maps: dict, *, attrs=None, tables=None, overwrite=False, storage_options=None
) -> None:
    """Write several maps and tables into one zarr group (a dataset), atomically.

    All maps are computed and written in one dask computation, chunk by chunk.

    Parameters
    ----------
    url : str, os.PathLike or Location
        Target store.
    maps : dict of str -> Map
        One subgroup per map, named by the key (e.g. ``"counts"``, ``"exposure"``).
    attrs : dict, optional
        JSON-serialisable attributes of the root group (name, creation info...).
    tables : dict of str -> `~astropy.table.Table`, optional
        Small tables (GTI, meta table), one subgroup each.
    overwrite : bool
        Replace an existing store; otherwise :class:`~mapds.errors.OverwriteError`.
    """
    tables = tables or {}
    clash = set(maps) & set(tables)
    if clash:
        raise ValueError(f"Names used for both a map and a table: {sorted(clash)}")
    target = resolve(url, storage_options)
    with atomic_directory(target, overwrite=overwrite) as tmp, storage_errors(target.url):
        store = zarr_store(tmp, read_only=False)
        root = zarr.open_group(store, mode="w", zarr_format=3)
        contents = {"maps": list(maps), "tables": list(tables)}
        root.attrs.update({**(attrs or {}), _GROUP_KEY: contents, MARKER_ATTR: MANIFEST_GROUP})
        for name, table in tables.items():
            _write_dataset(_table_dataset(table), store, name, compute=True)
        try:
            _write_maps(maps, store, whole_counts=True)
        except _NotWholeNumbers:  # counts that are not whole numbers: all maps again, as they are
            _write_maps(maps, store, whole_counts=False)
        _consolidate(store)
        write_manifest(tmp)  # last: the store is complete


def _write_maps(maps: dict, store, whole_counts: bool) -> None:
    """Every map of a group in one dask computation, chunk by chunk."""
    delayed = [
        _write_dataset(_dataset_of(m, name, whole_counts and name in COUNTS_MAPS), store, name, compute=False)
        for name, m in maps.items()
    ]
    dask.compute(*delayed)


def _data_variable(ds: xr.Dataset, name: str | None, url: str) -> str:
    # zarr names its arrays with strings
    candidates = cast("list[str]", [v for v, var in ds.data_vars.items() if var.dims[-2:] == SPATIAL_DIMS])
    if name is None:
        if not candidates:
            raise MissingHDUError(f"{url!r} holds no map (no variable with dimensions {SPATIAL_DIMS})")
        return candidates[0]
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    raise MissingHDUError(f"{url!r} has no map {name!r}; available: {candidates}")


@contextlib.contextmanager
def damaged_metadata(url: str, group: str | None = None) -> Iterator[None]:
    """Report damaged ``zarr.json`` metadata as :class:`~mapds.errors.CorruptFileError`.

    zarr and xarray parse metadata with no file name in their errors: ``JSONDecodeError`` for
    text that is not JSON, ``TypeError``/``ValueError`` for JSON of the wrong shape (a list
    where an object belongs, an unknown data type, array shapes that disagree).
    """
    try:
        yield
    except (MapdsError, FileNotFoundError):  # zarr's "node not found" errors are FileNotFoundErrors
        raise
    except (ValueError, TypeError, AttributeError) as exc:
        where = f"group {group!r} of " if group else ""
        raise CorruptFileError(
            f"{where}zarr store {url!r} has damaged metadata (zarr.json): {type(exc).__name__}: {exc}"
        ) from exc


def _open_dataset(store, group: str | None, url: str) -> xr.Dataset:
    try:
        with damaged_metadata(url, group):
            return xr.open_zarr(store, group=group, chunks=None, consolidated=False, zarr_format=3)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError) as exc:
        where = f"group {group!r} of " if group else ""
        raise MissingHDUError(f"No zarr {where}store at {url!r}") from exc


def _check_coordinates(array: xr.DataArray, variable: str, url: str) -> None:
    """Refuse a map whose store lacks coordinate arrays it was written with.

    xarray opens a store whose coordinate arrays were deleted without a word, and the map
    would then be rebuilt from what is left (an energy axis from bin centres instead of its
    edges): a wrong answer.  The data variable's ``coordinates`` attribute lists the
    coordinates written with it; each non-spatial dimension needs its own; ``x`` and ``y`` go
    together (stores older than the pixel coordinates have neither).
    """
    expected = str(array.encoding.get("coordinates", "")).split()
    expected += [str(dim) for dim in array.dims if dim not in SPATIAL_DIMS]
    if any(dim in array.coords for dim in SPATIAL_DIMS):
        expected += list(SPATIAL_DIMS)
    missing = [name for name in dict.fromkeys(expected) if name not in array.coords]
    if missing:
        raise CorruptFileError(
            f"{url!r}: map {variable!r} lacks its coordinate array(s) {missing}; the store is incomplete"
        )


def _read_map(store, group: str | None, name: str | None, location: Location, chunks) -> Map:
    ds = _open_dataset(store, group, location.url)
    variable = _data_variable(ds, name, location.url)
    _check_coordinates(ds[variable], variable, location.url)
    try:
        geom = geom_from_dataarray(ds[variable])
    except (KeyError, ValueError) as exc:
        raise CorruptFileError(f"{location.url!r}: map {variable!r} has invalid coordinates: {exc}") from exc
    attrs = ds[variable].attrs
    with damaged_metadata(location.url, group):
        meta = meta_from_attrs(attrs)
        decoded_dtype = attrs.get(DECODED_DTYPE_ATTR)
        decoded_dtype = None if decoded_dtype is None else np.dtype(decoded_dtype)
        array = cast(zarr.Array, zarr.open_group(store, mode="r", zarr_format=3, path=group or "")[variable])
    key = f"{group}/{variable}" if group else variable
    if isinstance(store, VerifiedStore) and store.commit:
        # Unique to the write, and known without a request.
        token = f"{location.fs.unstrip_protocol(location.path)}/{key}|commit={store.commit}"
    else:
        token = location.child(f"{key}/zarr.json").identity()
    # Default chunks follow the zarr chunks (as in xarray.open_zarr): tasks never split or
    # re-read a stored chunk.
    chunks = {} if chunks is None else chunks
    lazy = WindowedArray(ZarrLazyArray(array, url=location.url, decoded_dtype=decoded_dtype), token)
    return Map.from_lazy_array(geom, lazy, chunks, unit=unit_from_attrs(attrs), meta=meta)


def read_zarr_map(url, name=None, *, chunks=None, storage_options=None) -> Map:
    """Open a map from a zarr store lazily (no array bytes are read).

    Parameters
    ----------
    url : str, os.PathLike or Location
        The store.
    name : str, optional
        A data variable at the root, or a subgroup of a dataset group; default: the first map.
    chunks : optional
        Dask chunks; ``None`` (default) and ``{}`` give the zarr chunks.
    """
    location = resolve(url, storage_options)
    store = zarr_store(location)
    with storage_errors(location.url):
        with damaged_metadata(location.url):
            root = zarr.open_group(store, mode="r", zarr_format=3)
            groups = {g.lower(): g for g in root.group_keys() if g != MANIFEST_GROUP}
            is_group = name is None and _GROUP_KEY in root.attrs
            group_maps = _group_contents(root, location.url)[0] if is_group else []
        if name is not None and name.lower() in groups:
            return _read_map(store, groups[name.lower()], None, location, chunks)
        if group_maps:
            return _read_map(store, group_maps[0], None, location, chunks)
        return _read_map(store, None, name, location, chunks)


def _group_contents(root: zarr.Group, url: str) -> tuple[list[str], list[str]]:
    """The map and table names a dataset group lists in its ``mapds`` attribute, checked.

    Raises
    ------
    CorruptFileError
        The attribute is missing or not ``{"maps": [names], "tables": [names]}``, or it lists a
        subgroup that is not in the store (the dataset would silently lose that member).
    """
    contents = root.attrs.get(_GROUP_KEY)
    if not isinstance(contents, dict):
        raise CorruptFileError(f"{url!r} is not a mapds zarr group (no {_GROUP_KEY!r} attribute)")
    lists: list[list[str]] = []
    for key in ("maps", "tables"):
        names = contents.get(key)
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise CorruptFileError(
                f"{url!r}: the {_GROUP_KEY!r} attribute of the root zarr.json must list {key!r} as "
                f"subgroup names, got {names!r:.80}"
            )
        lists.append(names)
    maps, tables = lists
    missing = sorted(set(maps + tables) - set(root.group_keys()))
    if missing:
        raise CorruptFileError(f"{url!r}: the store lacks the subgroup(s) {missing} its root attributes list")
    return maps, tables


class ZarrGroup:
    """A dataset stored as a zarr group: maps and tables by name, plus attributes.

    Use :func:`open_zarr_group`.
    """

    def __init__(self, location: Location):
        self.location = location
        self.url = location.url
        self._store = zarr_store(location)
        with storage_errors(location.url), damaged_metadata(location.url):
            self._root = zarr.open_group(self._store, mode="r", zarr_format=3)
            self.map_names, self.table_names = _group_contents(self._root, self.url)

    @property
    def attrs(self) -> dict:
        """Attributes given when the group was written."""
        return {k: v for k, v in self._root.attrs.items() if k not in (_GROUP_KEY, MARKER_ATTR)}

    def __contains__(self, name: str) -> bool:
        return name in self.map_names or name in self.table_names

    def read_map(self, name: str, *, chunks=None) -> Map:
        """A map of the group, lazily."""
        if name not in self.map_names:
            raise MissingHDUError(f"{self.url!r} has no map {name!r}; maps: {self.map_names}")
        return _read_map(self._store, name, None, self.location, chunks)

    def read_table(self, name: str) -> Table:
        """A table of the group."""
        if name not in self.table_names:
            raise MissingHDUError(f"{self.url!r} has no table {name!r}; tables: {self.table_names}")
        return _dataset_table(_open_dataset(self._store, name, self.url).load())


def open_zarr_group(url, *, storage_options=None) -> ZarrGroup:
    """Open a dataset group written by :func:`write_zarr_group` (reads metadata only)."""
    location = resolve(url, storage_options)
    if location.is_local:
        recover(location)  # a store a killed writer moved aside is put back first
    if not location.exists():
        raise StorageError(f"No zarr store at {location.url!r}")
    return ZarrGroup(location)
