"""`Map`: one ``xarray.DataArray`` — dask-backed values with the map's axes, WCS and unit.

The DataArray (see :mod:`mapds.maps.dataarray` for its layout) is the single source of truth:
``Map.data`` is its dask array, ``Map.to_xarray()`` returns it, and the geometry and unit are
read from its coordinates and attributes.  Operations build graphs; nothing is computed until the
caller asks (:meth:`Map.compute`, :meth:`Map.persist`, ``dask.compute(map)``, :meth:`Map.write`,
:attr:`Map.quantity` or ``np.asarray(map)``).  A computed map holds a numpy array instead.
Class and method names follow gammapy's ``Map``/``WcsNDMap``.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterator

import astropy.units as u
import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..errors import GeometryMismatchError, UnitMismatchError
from ..geom import RegionGeom, WcsGeom
from ..geom.base import Geom
from . import (
    convolution,
    cutout,
    interpolate,
    padding,
    plotting,
    region_reduction,
    regrid,
    resample,
    stacking,
)
from .annotations import annotated
from .arithmetic import ufunc_units
from .chunks import normalize_chunks
from .dataarray import (
    geom_dims,
    geom_from_dataarray,
    meta_from_attrs,
    to_dataarray,
    unit_from_attrs,
)
from .lazy import WindowedArray
from .meta import encode_meta

__all__ = ["Map"]


def _as_unit(unit) -> u.UnitBase:
    try:
        return u.Unit(unit)
    except (ValueError, TypeError) as exc:
        raise UnitMismatchError(f"Unknown unit {unit!r}") from exc


def _own(data):
    """A dask array object of its own (same graph): ``__setitem__`` on it changes no other map."""
    if isinstance(data, da.Array):
        return da.Array(data.dask, data.name, data.chunks, meta=data)
    return data


#: Operand types map arithmetic accepts besides maps (anything else: NotImplemented).
_OPERANDS = (u.Quantity, np.ndarray, np.generic, da.Array, int, float, complex, bool)


class Map(NDArrayOperatorsMixin):
    """A lazily evaluated map: an ``xarray.DataArray`` of dask chunks with a geometry and a unit.

    Parameters
    ----------
    geom : `WcsGeom` or `RegionGeom`
        Geometry.
    data : array-like, optional
        numpy or dask array of shape ``geom.data_shape``; zeros when omitted.  numpy data are
        wrapped in dask chunks.
    dtype : str, optional
        Data type when ``data`` is omitted (gammapy's default ``float32``) or to cast to.
    meta : dict, optional
        Free metadata (e.g. ``{"livetime": <Quantity>}``).
    unit : str or `~astropy.units.Unit`
        Unit of the values.
    chunks : optional, keyword-only
        Dask chunking (see :func:`mapds.maps.chunks.normalize_chunks`); existing dask data keep
        their chunks unless ``chunks`` is given.

    Notes
    -----
    Operators and numpy ufuncs share one implementation (:meth:`__array_ufunc__`) with
    astropy's unit rules.  A map is a dask collection: ``dask.compute(m)``, ``dask.persist(m)``
    and ``dask.visualize(m)`` work on it.
    """

    __hash__ = None  # type: ignore[assignment]  # maps compare element-wise, like arrays

    def __init_subclass__(cls, geom_type: type | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if geom_type is not None:
            _CLASS_BY_GEOM[geom_type] = cls

    def __init__(self, geom: Geom, data=None, dtype=None, meta=None, unit="", *, chunks=None):
        unit = _as_unit(unit)
        shape = geom.data_shape
        dims = geom_dims(geom)
        if data is None:
            dtype = np.dtype(dtype or "float32")
            data = da.zeros(shape, dtype=dtype, chunks=normalize_chunks(chunks, shape, dims, dtype))
        else:
            if isinstance(data, u.Quantity):
                unit = data.unit if unit == u.dimensionless_unscaled else unit
                data = data.to_value(unit)
            if not isinstance(data, da.Array):
                data = np.asarray(data)
                if data.shape != shape:
                    data = np.broadcast_to(data, shape) if data.ndim <= len(shape) else data
                data = da.from_array(data, chunks=normalize_chunks(chunks, shape, dims, data.dtype))
            elif chunks is not None:
                data = data.rechunk(normalize_chunks(chunks, shape, dims, data.dtype))
            if data.shape != shape:
                raise GeometryMismatchError(
                    f"Data shape {data.shape} does not match geometry data shape {shape}"
                )
            if dtype is not None and data.dtype != np.dtype(dtype):
                data = data.astype(dtype)
        self._set(geom, to_dataarray(geom, _own(data), unit), unit)
        self.meta = dict(meta) if meta else {}

    def _set(self, geom: Geom, dataarray: xr.DataArray, unit: u.UnitBase) -> None:
        """Hold ``dataarray``; ``geom`` and ``unit`` are what it describes (kept at hand)."""
        self._dataarray = dataarray
        self._geom = geom
        self._unit = unit
        self._source: WindowedArray | None = None

    @classmethod
    def _wrap(cls, geom: Geom, data, unit: u.UnitBase, meta: dict) -> Map:
        """A map over ``data`` as it is (numpy or dask), without the constructor's conversions."""
        cls = _class_for(geom, cls)
        if data.shape != geom.data_shape:
            raise GeometryMismatchError(
                f"Data shape {data.shape} does not match geometry data shape {geom.data_shape}"
            )
        out = cls.__new__(cls)
        out._set(geom, to_dataarray(geom, _own(data), unit), unit)
        out.meta = meta
        return out

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geom(
        cls, geom: Geom, meta=None, data=None, unit="", dtype="float32", map_type="auto", *, chunks=None
    ) -> Map:
        """Map of the given geometry (zeros unless ``data`` is given); gammapy's signature."""
        cls = _class_for(RegionGeom if map_type == "region" else geom, cls)
        if data is not None and dtype == "float32" and not isinstance(data, u.Quantity):
            dtype = None  # keep the dtype of the data given, as gammapy does
        return cls(geom, data=data, dtype=dtype, meta=meta, unit=unit, chunks=chunks)

    @classmethod
    def create(
        cls, *, chunks=None, dtype="float32", data=None, meta=None, unit="", map_type="wcs", **kwargs
    ) -> Map:
        """Map on ``WcsGeom.create(**kwargs)`` (``npix``, ``binsz``, ``width``, ``skydir``...)."""
        return cls.from_geom(
            WcsGeom.create(**kwargs), meta=meta, data=data, unit=unit, dtype=dtype, chunks=chunks
        )

    @classmethod
    def from_xarray(cls, data_array: xr.DataArray) -> Map:
        """Map from a DataArray in mapds' layout, or what xarray's selections make of one.

        ``isel``/``sel``/``coarsen``/``pad`` results are accepted: the geometry is rebuilt from
        the ``x``/``y`` pixel coordinates and the axis bin edges (see
        :func:`mapds.maps.dataarray.geom_from_dataarray`).  The data are kept as they are
        (dask or numpy); units and metadata come from the attributes.
        """
        geom = geom_from_dataarray(data_array)
        dims = geom_dims(geom)
        data = data_array.transpose(*dims).data if data_array.dims != dims else data_array.data
        if not isinstance(data, (da.Array, np.ndarray)):
            data = np.asarray(data)
        out = cls._wrap(geom, data, unit_from_attrs(data_array.attrs), meta_from_attrs(data_array.attrs))
        out._dataarray.name = data_array.name
        return out

    @classmethod
    def from_lazy_array(cls, geom: Geom, source: WindowedArray, chunks=None, unit="", meta=None) -> Map:
        """Map over a storage array (what a storage back end opens); selections of the map
        (``slice_by_idx``, ``cutout``...) are pushed down to narrower storage reads.

        Parameters
        ----------
        geom : Geom
            Geometry of the stored values.
        source : `~mapds.maps.lazy.WindowedArray`
            The stored array and its identity token.
        chunks : optional
            As in the constructor; ``{}`` follows the storage's own chunks.
        unit, meta : optional
            Unit and metadata.
        """
        dims = geom_dims(geom)
        chunks = normalize_chunks(
            chunks, geom.data_shape, dims, source.dtype, native=getattr(source.base, "native_chunks", None)
        )
        out = cls.from_geom(geom, data=source.to_dask(chunks), unit=unit, meta=meta)
        out._source = source
        return out

    def _new(self, geom: Geom | None = None, data=None, unit=None, meta=None) -> Map:
        """A map like this one with some parts replaced (no storage window)."""
        return Map._wrap(
            self._geom if geom is None else geom,
            self.data if data is None else data,
            self._unit if unit is None else _as_unit(unit),
            _copy.deepcopy(self.meta) if meta is None else meta,
        )

    # -- storage --------------------------------------------------------------------------------

    @classmethod
    def read(
        cls,
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
    ) -> Map:
        """Open a map lazily from a FITS file or zarr store, local or any fsspec URL.

        Only headers / metadata are read here; array bytes are read chunk by chunk when the
        data are computed.  See :func:`mapds.io.read_map` for the parameters.
        """
        from ..io import read_map

        return read_map(
            filename,
            hdu=hdu,
            hdu_bands=hdu_bands,
            map_type=map_type,
            format=format,
            colname=colname,
            checksum=checksum,
            chunks=chunks,
            storage_options=storage_options,
            cache_dir=cache_dir,
        )

    def write(
        self,
        filename,
        overwrite=False,
        hdu=None,
        hdu_bands=None,
        sparse=False,
        format=None,
        checksum=False,
        *,
        storage_options=None,
    ) -> None:
        """Write to FITS (gammapy "gadf" layout) or zarr, streaming chunk by chunk.

        The format follows ``format`` (``"gadf"``, ``"fgst-ccube"``, ``"fgst-template"``,
        ``"zarr"``) or the file suffix.  With ``overwrite=False`` an existing target raises
        :class:`~mapds.errors.OverwriteError`.  See :func:`mapds.io.write_map`.
        """
        from ..io import write_map

        write_map(
            self,
            filename,
            overwrite=overwrite,
            hdu=hdu,
            hdu_bands=hdu_bands,
            sparse=sparse,
            format=format,
            checksum=checksum,
            storage_options=storage_options,
        )

    @classmethod
    def from_hdulist(
        cls, hdulist, hdu=None, hdu_bands=None, format=None, colname=None, *, chunks=None
    ) -> Map:
        """Map from an in-memory ``astropy.io.fits.HDUList`` (gammapy's signature)."""
        from ..io import map_from_hdulist

        return map_from_hdulist(
            hdulist, hdu=hdu, hdu_bands=hdu_bands, format=format, colname=colname, chunks=chunks
        )

    def to_hdulist(self, hdu=None, hdu_bands=None, sparse=False, format="gadf"):
        """The map as an in-memory HDUList, as gammapy writes it (computes the data)."""
        from ..io import map_to_hdulist

        return map_to_hdulist(self, hdu=hdu, hdu_bands=hdu_bands, sparse=sparse, format=format)

    # -- properties -----------------------------------------------------------------------------

    @property
    def geom(self) -> Geom:
        """The geometry (described by the DataArray's coordinates)."""
        return self._geom

    @property
    def data(self):
        """The values: a dask array (a numpy array once computed), shape ``geom.data_shape``.

        Assigning into it (``m.data[m.data > 100] = 0``) changes this map only.
        """
        return self._dataarray.data

    @data.setter
    def data(self, value) -> None:
        if isinstance(value, u.Quantity):
            raise UnitMismatchError("Set map.quantity, not map.data, to assign a Quantity")
        new = Map.from_geom(self._geom, data=value, dtype=None)
        self._set(self._geom, to_dataarray(self._geom, new.data, self._unit), self._unit)

    @property
    def dask_data(self) -> da.Array:
        """The values as a dask array (in-memory values are wrapped in mapds' default chunks)."""
        data = self.data
        if isinstance(data, da.Array):
            return data
        chunks = normalize_chunks(None, data.shape, self._dataarray.dims, data.dtype)
        return da.from_array(data, chunks=chunks)

    @property
    def unit(self) -> u.UnitBase:
        """Unit of the values (``attrs["units"]`` of the DataArray)."""
        return self._unit

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...] | None:
        """Dask chunks of :attr:`data` (None once computed)."""
        return self._dataarray.chunks

    @property
    def quantity(self) -> u.Quantity:
        """Values as an astropy Quantity (computes the map)."""
        return u.Quantity(np.asarray(self), self._unit, copy=False)

    @quantity.setter
    def quantity(self, value) -> None:
        value = u.Quantity(value)
        new = Map.from_geom(self._geom, data=value.value, dtype=None)
        self._set(self._geom, to_dataarray(self._geom, new.data, value.unit), value.unit)

    @property
    def lon(self) -> xr.DataArray:
        """Longitude (deg) of every pixel centre, a lazy 2-D coordinate computed per chunk."""
        return self._sky_coord("lon")

    @property
    def lat(self) -> xr.DataArray:
        """Latitude (deg) of every pixel centre, a lazy 2-D coordinate computed per chunk."""
        return self._sky_coord("lat")

    def _sky_coord(self, name: str) -> xr.DataArray:
        if name not in self._dataarray.coords:
            raise GeometryMismatchError(f"A {type(self._geom).__name__} map has no {name!r} coordinate")
        return self._dataarray.coords[name]

    @property
    def is_mask(self) -> bool:
        """Whether the data are boolean."""
        return self.dtype == bool

    @property
    def tag(self) -> str:
        return "map"

    def to_xarray(self, name: str | None = None) -> xr.DataArray:
        """The DataArray this map holds (no copy; renamed when ``name`` is given).

        Dimensions, coordinates and attributes are those of :mod:`mapds.maps.dataarray`;
        ``attrs["meta"]`` is refreshed from :attr:`meta`.
        """
        attrs = self._dataarray.attrs
        if self.meta:
            attrs["meta"] = encode_meta(self.meta)
        else:
            attrs.pop("meta", None)
        if name is None or name == self._dataarray.name:
            return self._dataarray
        return self._dataarray.rename(name)

    # -- the dask collection protocol ------------------------------------------------------------

    def _lazy(self) -> bool:
        return isinstance(self.data, da.Array)

    def __dask_graph__(self):
        return self.data.__dask_graph__() if self._lazy() else None

    def __dask_keys__(self):
        return self.data.__dask_keys__()

    def __dask_layers__(self):
        return self.data.__dask_layers__()

    def __dask_tokenize__(self):
        data = self.data.name if self._lazy() else tokenize(self.data)
        return type(self).__name__, data, self._geom.data_shape, str(self._geom), self._unit.to_string()

    __dask_optimize__ = staticmethod(da.Array.__dask_optimize__)
    __dask_scheduler__ = staticmethod(da.Array.__dask_scheduler__)

    def __dask_postcompute__(self):
        finalize, args = self.data.__dask_postcompute__()
        return _computed_map, (self, finalize, args)

    def __dask_postpersist__(self):
        rebuild, args = self.data.__dask_postpersist__()
        return _persisted_map, (self, rebuild, args)

    def compute(self, **kwargs) -> Map:
        """A copy holding the computed values as a numpy array (``dask.compute`` keywords)."""
        if not self._lazy():
            return self.copy()
        (out,) = dask.compute(self, **kwargs)
        return out

    def persist(self, **kwargs) -> Map:
        """A copy whose chunks are computed and kept (in memory or on the cluster)."""
        if not self._lazy():
            return self.copy()
        (out,) = dask.persist(self, **kwargs)
        return out

    def rechunk(self, chunks) -> Map:
        """A copy with other dask chunks (``chunks`` as in the constructor).

        In-memory values are cut straight into the new chunks (no rechunking graph).
        """
        chunks = normalize_chunks(chunks, self.data.shape, self._dataarray.dims, self.dtype)
        if not self._lazy():
            return self._new(data=da.from_array(self.data, chunks=chunks))
        return self._new(data=self.data.rechunk(chunks))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        data = self.data.compute() if self._lazy() else self.data
        return np.asarray(data, dtype=dtype)

    def with_annotations(self, **annotations) -> Map:
        """Copy whose dask graph carries ``annotations`` on every layer (see :func:`dask.annotate`);
        the data, their graph names and the storage window are the same."""
        if not self._lazy():
            return self.copy()
        out = self._new(data=annotated(self.data, annotations))
        out._source = self._source
        return out

    def copy(self, **kwargs) -> Map:
        """Copy, replacing any of ``geom``, ``data``, ``unit``, ``meta``.

        The copy shares no mutable state with this map: assigning into its data leaves this
        map unchanged (a dask array is a new object over the same graph, numpy data are copied).
        """
        geom = kwargs.pop("geom", None)
        data = kwargs.pop("data", None)
        unit = kwargs.pop("unit", None)
        meta = kwargs.pop("meta", None)
        if kwargs:
            raise TypeError(f"Unexpected arguments to Map.copy: {sorted(kwargs)}")
        if data is None and not self._lazy():
            data = self.data.copy()
        out = self._new(geom=geom, data=data, unit=unit, meta=meta)
        if data is None and geom is None:
            out._source = self._source
        return out

    def as_stored_dtype(self) -> Map:
        """This map in the dtype its store holds, when reading it converts the stored values
        (whole-number counts are stored as integers and read as float64); otherwise itself.

        The values are equal; kernels that accept integers (the Cash statistic's tiles) read
        and hold 4× fewer bytes and skip the conversion.
        """
        data = self.data
        if self._source is None or not isinstance(data, da.Array):
            return self
        cached = self.__dict__.get("_stored_view")
        if cached is not None and cached[0] == data.name:  # a fit asks at every evaluation
            return cached[1]
        stored = self._source.as_stored()
        if stored is None or data.name != self._source.to_dask(data.chunks).name:
            return self  # nothing converted on reading, or not a plain read any more
        out = self._new(data=stored.to_dask(data.chunks))
        out._source = stored
        self._stored_view = (data.name, out)
        return out

    def astype(self, dtype) -> Map:
        """Copy with another data type."""
        return self._new(data=self.data.astype(dtype))

    def to_unit(self, unit) -> Map:
        """Copy converted to ``unit``."""
        unit = _as_unit(unit)
        try:
            scale = self._unit.to(unit)
        except u.UnitConversionError as exc:
            raise UnitMismatchError(f"Cannot convert map in {self._unit!r} to {unit!r}") from exc
        data = self.data if scale == 1 else self.data * scale
        return self._new(data=data, unit=unit)

    # -- arithmetic: one path for operators and ufuncs ----------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        """Apply a numpy ufunc lazily with astropy's unit rules; operators come here too.

        Maps must share the geometry, or differ only by axes the other has (broadcast by axis
        name, through xarray).  Quantities and plain numbers or arrays combine as with a
        ``Quantity``: converted to the unit the rule needs, comparisons give boolean maps,
        products and powers combine units; incompatible units raise
        :class:`~mapds.errors.UnitMismatchError`.
        """
        out = out if out is None or isinstance(out, tuple) else (out,)
        if method != "__call__" or any(not isinstance(x, (Map, *_OPERANDS)) for x in inputs + (out or ())):
            return NotImplemented
        if out is not None and not all(isinstance(x, Map) for x in out):
            return NotImplemented
        template, arrays = _aligned(inputs)
        units = [x.unit if isinstance(x, (Map, u.Quantity)) else None for x in inputs]
        values = [_known_value(x) for x in inputs]
        rule = ufunc_units(ufunc, units, values)
        operands = [a if scale is None else a * scale for a, scale in zip(arrays, rule.scales, strict=True)]
        result = ufunc(*operands, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        result_units = rule.unit if isinstance(rule.unit, tuple) else (rule.unit,)
        maps = [template._new(data=r, unit=unit) for r, unit in zip(results, result_units, strict=True)]
        if out is not None:
            for target, new in zip(out, maps, strict=True):
                if target._geom.data_shape != new._geom.data_shape:
                    raise GeometryMismatchError("In-place map arithmetic cannot change the map's shape")
                target._set(target._geom, new._dataarray, new._unit)
            maps = list(out)
        return tuple(maps) if isinstance(result, tuple) else maps[0]

    def is_allclose(self, other: Map, rtol_axes=1e-3, atol_axes=1e-6, **kwargs) -> bool:
        """Same geometry (within tolerance), unit and values (``np.allclose``); computes."""
        if not isinstance(other, Map) or self._geom.data_shape != other._geom.data_shape:
            return False
        if self._unit != other._unit or not self._geom.is_allclose(
            other._geom, rtol_axes=rtol_axes, atol_axes=atol_axes
        ):
            return False
        return bool(da.allclose(self.dask_data, other.dask_data, **kwargs).compute())

    # -- selections -----------------------------------------------------------------------------

    def _selected(self, index: tuple) -> tuple:
        """Values (and storage window, if any) of a basic selection of the data."""
        if self._source is not None and self._lazy():
            try:
                source, data = self._source.sliced_dask(index, self.data.chunks)
            except IndexError:
                pass
            else:
                return data, source
        return self.data[index], None

    def select_data(self, index: tuple):
        """Values of a basic selection (an int or a step-1 slice per data dimension), lazily.

        When this map is a view of storage the selection narrows the storage window, so
        computing the result reads only the selected bytes.
        """
        return self._selected(index)[0]

    def _select(self, index: tuple, geom: Geom) -> Map:
        """Basic selection of the data; pushed down to storage when this map is a storage view."""
        data, source = self._selected(index)
        out = self._new(geom=geom, data=data)
        out._source = source
        return out

    def slice_by_idx(self, slices: dict) -> Map:
        """Select non-spatial bins by axis name (int drops the axis) or pixels with ``x``/``y``.

        Parameters
        ----------
        slices : dict
            Axis name -> int or slice (step 1).  ``"x"``/``"y"`` keys slice the image too: the
            selection is xarray's ``isel`` of :meth:`to_xarray`, and the geometry is rebuilt from
            the selected pixel coordinates (shifted WCS reference pixel).
        """
        slices = dict(slices)
        unknown = set(slices) - {*self._geom.axes.names, "x", "y"}
        if unknown:
            raise KeyError(f"slice_by_idx: unknown axes {sorted(unknown)}; map has {self._geom.axes.names}")
        if {"x", "y"} & set(slices):
            if not isinstance(self._geom, WcsGeom):
                raise GeometryMismatchError("Only WCS maps can be sliced spatially")
            geom = geom_from_dataarray(self._dataarray.isel(slices))
        else:
            geom = self._geom.slice_by_idx(slices)
        index = tuple(slices.get(dim, slice(None)) for dim in self._dataarray.dims)
        return self._select(index, geom)

    def get_image_by_idx(self, idx) -> Map:
        """The image at non-spatial indices ``idx`` (geometry order)."""
        if len(idx) != len(self._geom.axes):
            raise ValueError(f"Need {len(self._geom.axes)} indices, got {len(idx)}")
        return self.slice_by_idx({ax.name: int(i) for ax, i in zip(self._geom.axes, idx, strict=True)})

    def get_image_by_coord(self, coords: dict) -> Map:
        """The image containing the given non-spatial coordinates (by axis name)."""
        idx = [int(ax.coord_to_idx(coords[ax.name])[0]) for ax in self._geom.axes]
        return self.get_image_by_idx(idx)

    def get_image_by_pix(self, pix) -> Map:
        """The image at (rounded) non-spatial pixel coordinates."""
        return self.get_image_by_idx([int(np.floor(p + 0.5)) for p in pix])

    def iter_by_image_data(self) -> Iterator[tuple[da.Array, tuple]]:
        """Yield ``(image dask array, index)`` for every non-spatial bin."""
        for idx in np.ndindex(self._geom.data_shape[:-2]):
            yield self.data[idx], idx

    def iter_by_image(self, keepdims=False) -> Iterator[Map]:
        """Yield one image map per non-spatial bin."""
        for idx in np.ndindex(self._geom.data_shape[:-2]):
            geom_idx = idx[::-1]
            if keepdims:
                yield self.slice_by_idx(
                    {ax.name: slice(i, i + 1) for ax, i in zip(self._geom.axes, geom_idx, strict=True)}
                )
            else:
                yield self.get_image_by_idx(geom_idx)

    # -- reductions -----------------------------------------------------------------------------

    def reduce(self, axis_name: str, func=np.add, keepdims=False, weights=None) -> Map:
        """Reduce along one non-spatial axis with a numpy ufunc (or a dask-aware function).

        Parameters
        ----------
        axis_name : str
            Axis to reduce.
        func : ufunc or callable
            ``np.add``, ``np.logical_or``, ``np.maximum``... (``ufunc.reduce`` is used), or a
            reduction such as ``np.nansum`` accepting ``axis=`` and ``keepdims=``.
        keepdims : bool
            Keep the axis, squashed to one bin.
        weights : Map, optional
            Multiplied into the data before reducing.
        """
        data = self.data if weights is None else self.data * _map_data(weights, self._geom)
        reducer = _ufunc_reduction(func) if isinstance(func, np.ufunc) else func
        # xarray finds the dimension by name (and keeps it as size one with keepdims).
        variable = xr.Variable(self._dataarray.dims, data)
        reduced = variable.reduce(reducer, dim=axis_name, keepdims=keepdims)
        geom = self._geom.squash(axis_name) if keepdims else self._geom.drop(axis_name)
        return self._new(geom=geom, data=reduced.data)

    def reduce_over_axes(self, func=np.add, keepdims=False, axes_names=None, weights=None) -> Map:
        """Reduce over several (default: all) non-spatial axes; see :meth:`reduce`."""
        names = self._geom.axes.names if axes_names is None else list(axes_names)
        out = self
        for name in names:
            out = out.reduce(name, func=func, keepdims=keepdims, weights=weights)
            weights = None
        return out

    def sum_over_axes(self, axes_names=None, keepdims=True, weights=None) -> Map:
        """Sum over non-spatial axes (default all; ``keepdims=True`` keeps them as single bins)."""
        return self.reduce_over_axes(np.add, keepdims=keepdims, axes_names=axes_names, weights=weights)

    def to_cube(self, axes) -> Map:
        """Append non-spatial axes of length one (data broadcast, no copy)."""
        for axis in axes:
            if axis.nbin != 1:
                raise GeometryMismatchError(
                    f"to_cube needs single-bin axes, axis {axis.name!r} has {axis.nbin} bins"
                )
        geom = self._geom.to_cube(axes)
        data = self.data.reshape((1,) * len(axes) + self.data.shape)
        return self._new(geom=geom, data=data)

    # -- binning and geometry changes ----------------------------------------------------------

    def downsample(self, factor, preserve_counts=True, axis_name=None, weights=None) -> Map:
        """Merge ``factor × factor`` pixels (or ``factor`` bins of ``axis_name``).

        Block ``nansum`` of ``data × weights``, divided by the block sum of the weights when
        not ``preserve_counts``, cast back to the map's dtype (masks: OR of each block).
        Streams chunk by chunk.  See :func:`mapds.maps.resample.downsample`.
        """
        return resample.downsample(
            self,
            factor,
            preserve_counts=preserve_counts,
            axis_name=axis_name,
            weights=_map_data(weights, self._geom),
        )

    def upsample(self, factor, order=0, preserve_counts=True, axis_name=None) -> Map:
        """Split every pixel into ``factor × factor`` (or every bin of ``axis_name`` into ``factor``).

        Spline interpolation of ``order`` (0: nearest) on the pixel grid, edge values beyond
        the border; ``preserve_counts`` interpolates the density and conserves sums.  See
        :func:`mapds.maps.resample.upsample`.
        """
        return resample.upsample(
            self, factor, order=order, preserve_counts=preserve_counts, axis_name=axis_name
        )

    def resample_axis(self, axis, weights=None, ufunc=np.add) -> Map:
        """Regroup a non-spatial axis into the coarser ``axis`` (its edges must be existing edges).

        Bins of each group are reduced with ``ufunc`` (``np.add``, ``np.logical_or``...), after
        multiplying by ``weights``.  See :func:`mapds.maps.resample.resample_axis`.
        """
        return resample.resample_axis(self, axis, weights=_map_data(weights, self._geom), ufunc=ufunc)

    def cutout(self, position, width, mode="trim", odd_npix=False, min_npix=1) -> Map:
        """Cut out ``width`` (lon, lat) around ``position`` (``Cutout2D`` modes trim/partial/strict).

        A pure selection: a map opened from storage reads only the cutout.  See
        :func:`mapds.maps.cutout.cutout`.
        """
        return cutout.cutout(self, position, width, mode=mode, odd_npix=odd_npix, min_npix=min_npix)

    def crop(self, crop_width) -> Map:
        """Remove ``crop_width`` pixels (int, (lon, lat) or angle) from each side of the image."""
        return cutout.crop(self, crop_width)

    def pad(self, pad_width, axis_name=None, mode="constant", cval=0, method="linear") -> Map:
        """Pad the image by ``pad_width`` pixels per side, or the ends of ``axis_name``.

        Unlike gammapy 2.1, which pads images with ``cval`` whatever ``mode`` says, ``mode``
        (``constant``, ``edge``, ``reflect``, ``symmetric``, ``wrap``) is honoured spatially
        too.  ``method`` is accepted for gammapy compatibility; it only served gammapy's
        ``interp`` mode, which mapds does not offer.  See :func:`mapds.maps.padding.pad`.
        """
        return padding.pad(self, pad_width, axis_name=axis_name, mode=mode, cval=cval)

    # -- values at positions --------------------------------------------------------------------

    def get_by_coord(self, coords, fill_value=np.nan) -> np.ndarray:
        """Values of the pixels containing ``coords`` (``fill_value`` outside the map).

        Reads only the pixels needed.  ``coords``: MapCoord, dict or tuple ``(lon, lat, ...)``.
        """
        return self.get_by_pix(self._geom.coord_to_pix(coords), fill_value=fill_value)

    def get_by_pix(self, pix, fill_value=np.nan) -> np.ndarray:
        """Values of the pixels containing pixel coordinates ``pix`` (``fill_value`` outside)."""
        return np.asarray(interpolate.get_by_pix(self, pix, fill_value=fill_value).compute())

    def get_by_idx(self, idx) -> np.ndarray:
        """Values at integer pixel indices ``(x, y, ...)`` (negative indices count from the end)."""
        return np.asarray(interpolate.get_by_idx(self, idx).compute())

    def interp_by_coord(self, coords, method="linear", fill_value=None, values_scale="lin") -> np.ndarray:
        """Interpolate at map coordinates (see :meth:`interp_by_pix`)."""
        return self.interp_by_pix(
            self._geom.coord_to_pix(coords), method=method, fill_value=fill_value, values_scale=values_scale
        )

    def interp_by_pix(self, pix, method="linear", fill_value=None, values_scale="lin", *, compute=True):
        """Interpolate at pixel coordinates ``(x, y, ...)`` on the regular pixel grid.

        Parameters
        ----------
        pix : tuple of array-like
            Pixel coordinates in geometry order.
        method : {"linear", "nearest"}
            Multilinear (extrapolating from the outermost cells) or nearest pixel.
        fill_value : float, optional
            Value for positions outside the map and for non-finite results; None extrapolates.
        values_scale : {"lin", "log", "sqrt"}
            Scale in which values are interpolated.
        compute : bool, keyword-only
            False returns the values as a lazy dask array.

        Returns
        -------
        ndarray
            Values (only the pixels around the points are read).
        """
        values = self._interp_values(pix, method=method, fill_value=fill_value, values_scale=values_scale)
        return np.asarray(values.compute()) if compute else values

    def _interp_values(self, pix, method="linear", fill_value=None, values_scale="lin") -> da.Array:
        """Lazy values of :meth:`interp_by_pix` (the fill rule is the geometry type's)."""
        return interpolate.interp_by_pix(
            self, pix, method=method, fill_value=fill_value, values_scale=values_scale
        )

    def interp_to_geom(
        self, geom, preserve_counts=False, fill_value=0, method="linear", values_scale="lin", *, chunks=None
    ) -> Map:
        """The map interpolated onto ``geom`` (a lazy graph with one task per output chunk).

        Masks use a nearest-pixel lookup (``fill_value`` outside).  With ``preserve_counts`` the
        density per deg² is interpolated and multiplied by the target pixel solid angle.
        ``method`` and ``values_scale`` are those of :meth:`interp_by_coord` (gammapy passes
        them through ``**kwargs``); ``chunks`` sets the output chunking.  See
        :func:`mapds.maps.regrid.interp_to_geom`.
        """
        return regrid.interp_to_geom(
            self,
            geom,
            preserve_counts=preserve_counts,
            fill_value=fill_value,
            method=method,
            values_scale=values_scale,
            chunks=chunks,
        )

    def reproject_to_geom(self, geom, preserve_counts=False, precision_factor=10) -> Map:
        """The map reprojected onto another WCS geometry by bin-averaging oversampled pixels,
        as gammapy (``preserve_counts`` sums instead, for counts).  A lazy graph with one task
        per output chunk; see :func:`mapds.maps.regrid.reproject_to_geom`."""
        return regrid.reproject_to_geom(
            self, geom, preserve_counts=preserve_counts, precision_factor=precision_factor
        )

    # -- combining maps -------------------------------------------------------------------------

    def stack(self, other: Map, weights=None, nan_to_num=True) -> None:
        """Add ``other`` (same geometry or an aligned cutout of it) into this map, in place.

        ``other`` is converted to this map's unit and dtype; non-finite values are zeroed when
        ``nan_to_num``; ``weights`` (on ``other``'s grid) multiply it.  See
        :func:`mapds.maps.stacking.stack`.
        """
        stacking.stack(self, other, weights=weights, nan_to_num=nan_to_num)

    @classmethod
    def from_stack(cls, maps, axis=None, axis_name=None) -> Map:
        """Join maps along a new ``axis`` or their existing axis ``axis_name`` (lazy concatenation)."""
        return stacking.from_stack(maps, axis=axis, axis_name=axis_name)

    def split_by_axis(self, axis_name: str) -> list[Map]:
        """One map per bin of ``axis_name``."""
        return stacking.split_by_axis(self, axis_name)

    # -- convolution ----------------------------------------------------------------------------

    def convolve(self, kernel, method="fft", mode="same") -> Map:
        """Convolve each image plane with ``kernel`` (float32 result, as gammapy).

        ``kernel`` is a kernel map (an image, or a cube with this map's non-spatial axes), an
        object with a ``psf_kernel_map`` (``PSFKernel``) or a numpy array.  Map and kernel
        pixel sizes must agree (rtol 1e-5).  An image convolved with a kernel cube becomes a
        cube.  Streams by tiles extended by the kernel half-size.  See
        :func:`mapds.maps.convolution.convolve`.
        """
        return convolution.convolve(self, kernel, method=method, mode=mode)

    def smooth(self, width, kernel="gauss", **kwargs) -> Map:
        """Smooth each image plane with a ``gauss``, ``disk`` or ``box`` kernel (float64 result).

        ``width`` is an angle or a number of pixels: the Gaussian sigma, the disk radius or the
        box side.  ``kwargs`` go to the ``scipy.ndimage`` filter (``mode`` default ``reflect``,
        ``cval``, ``truncate``...).  See :func:`mapds.maps.convolution.smooth`.
        """
        return convolution.smooth(self, width, kernel=kernel, **kwargs)

    def to_region_nd_map(self, region=None, func=np.nansum, weights=None, method="nearest"):
        """Reduce the spatial dimensions inside ``region`` to a :class:`RegionNDMap`.

        See :func:`mapds.maps.region_reduction.to_region_nd_map`.
        """
        kwargs = {"func": func, "weights": weights, "method": method}
        return region_reduction.to_region_nd_map(self, region=region, **kwargs)

    def get_spectrum(self, region=None, func=np.nansum, weights=None):
        """Spectrum in ``region``: :meth:`to_region_nd_map` with ``func`` (default ``nansum``)."""
        return self.to_region_nd_map(region=region, func=func, weights=weights)

    # -- plots (matplotlib, imported when a plot is drawn) ------------------------------------

    def plot(
        self,
        ax=None,
        fig=None,
        add_cbar=False,
        stretch="linear",
        axes_loc=None,
        kwargs_colorbar=None,
        **kwargs,
    ):
        """Draw the image of a WCS map on WCSAxes, as gammapy's ``WcsNDMap.plot``.

        Only what is drawn is computed, in one pass: the image reduced by block means to about
        the pixel resolution of the axes (a 20 000-pixel-wide survey drawn on a 500-pixel axes
        computes a 500-pixel-wide image, the blocks drawn over the pixels they cover), and the
        finite minimum and maximum of the full-resolution values, which set the colour scale as
        in gammapy.

        Parameters
        ----------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`, optional
            Axes to draw on; default new WCSAxes of the map's WCS in ``fig`` (an elliptical frame
            for the Aitoff projection).
        fig : `~matplotlib.figure.Figure`, optional
            Figure of the new axes (default: the current figure).
        add_cbar : bool
            Add a colour bar labelled with the unit.
        stretch : str
            ``astropy.visualization.simple_norm`` stretch ("linear", "sqrt", "log"...).
        axes_loc : dict, optional
            Where the colour bar goes (``AxesDivider.append_axes`` arguments).
        kwargs_colorbar : dict, optional
            ``matplotlib.pyplot.colorbar`` arguments.
        **kwargs
            ``imshow`` arguments (defaults ``cmap="afmhot"``, ``interpolation="nearest"``,
            ``origin="lower"``; ``vmin``/``vmax`` bound the stretch).

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`

        Raises
        ------
        GeometryError
            The map is not a WCS map, or has a non-spatial axis of more than one bin (use
            :meth:`plot_grid` or :meth:`plot_interactive`).
        """
        return plotting.plot_map(
            self,
            ax=ax,
            fig=fig,
            add_cbar=add_cbar,
            stretch=stretch,
            axes_loc=axes_loc,
            kwargs_colorbar=kwargs_colorbar,
            **kwargs,
        )

    def plot_mask(self, ax=None, **kwargs):
        """Shade the False pixels of a boolean WCS image (``contourf`` arguments; default white,
        alpha 0.5), as gammapy's ``WcsNDMap.plot_mask``; computed at display resolution.

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`
        """
        return plotting.plot_mask(self, ax=ax, **kwargs)

    def plot_grid(self, figsize=None, ncols=3, **kwargs):
        """One WCSAxes panel per bin of the map's single non-spatial axis, titled with the bin.

        Every panel's image is computed at display resolution, all in one pass.

        Parameters
        ----------
        figsize : tuple, optional
            Figure size (default 12 inches wide, square panels).
        ncols : int
            Number of columns.
        **kwargs
            Arguments of :meth:`plot` for every panel.

        Returns
        -------
        axes : `~numpy.ndarray` of `~astropy.visualization.wcsaxes.WCSAxes`
            The panels (those past the last bin are hidden).
        """
        return plotting.plot_grid(self, figsize=figsize, ncols=ncols, **kwargs)

    def plot_interactive(self, rc_params=None, **kwargs) -> None:
        """Explore the non-spatial axes with ipywidgets sliders and a stretch selector.

        Each choice draws one image with :meth:`plot` (default stretch "sqrt").

        Parameters
        ----------
        rc_params : dict, optional
            ``matplotlib.rc_context`` settings of the plots.
        **kwargs
            Arguments of :meth:`plot`.

        Raises
        ------
        MissingDependencyError
            ipywidgets is not installed.
        """
        plotting.plot_interactive(self, rc_params=rc_params, **kwargs)

    def _chunks_repr(self) -> str:
        if not self._lazy():
            return "in memory"
        return f"{self.data.chunksize} x {self.data.npartitions}"

    def __repr__(self) -> str:
        geom_type = "region" if isinstance(self._geom, RegionGeom) else "wcs"
        return (
            f"{type(self).__name__}\n\n"
            f"\tgeom  : {type(self._geom).__name__} ({geom_type})\n"
            f"\taxes  : {self._geom.axes_names}\n"
            f"\tshape : {self._geom.data_shape[::-1]}\n"
            f"\tndim  : {self._geom.ndim}\n"
            f"\tunit  : {self._unit}\n"
            f"\tdtype : {self.dtype}\n"
            f"\tchunks: {self._chunks_repr()}\n"
        )


def _map_data(value, geom: Geom):
    if isinstance(value, Map):
        if value.geom.data_shape != geom.data_shape and not _broadcastable(value.geom, geom):
            raise GeometryMismatchError(
                f"Weights of shape {value.geom.data_shape} do not match {geom.data_shape}"
            )
        return value.data
    return value


def _broadcastable(small: Geom, large: Geom) -> bool:
    try:
        np.broadcast_shapes(small.data_shape, large.data_shape)
    except ValueError:
        return False
    return True


def _ufunc_chunk(func: np.ufunc):
    def chunk(x, axis, keepdims, **kwargs):
        for ax in sorted(axis, reverse=True):
            # NaN values are skipped, as gammapy's ``Map.reduce`` does (``where=~isnan``);
            # that needs an identity element to start from.
            where = ~np.isnan(x) if func.identity is not None and x.dtype.kind in "fc" else True
            x = func.reduce(x, axis=ax, keepdims=True, where=where)
        return x if keepdims else np.squeeze(x, axis=axis)

    return chunk


def _ufunc_reduction(func: np.ufunc):
    """``func.reduce`` over one axis of a numpy or dask array, skipping NaNs (gammapy's rule)."""
    chunk = _ufunc_chunk(func)

    def reduction(data, axis):
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        if isinstance(data, da.Array):
            dtype = func.reduce(np.zeros((1,), dtype=data.dtype)).dtype
            return da.reduction(data, chunk=chunk, aggregate=chunk, axis=axes, keepdims=False, dtype=dtype)
        return chunk(data, axes, keepdims=False)

    return reduction


def _known_value(operand):
    """An operand's value where it is known without computing (None for maps and dask arrays)."""
    if isinstance(operand, (Map, da.Array)):
        return None
    return operand.value if isinstance(operand, u.Quantity) else operand


def _aligned(inputs) -> tuple[Map, list]:
    """The map whose geometry the result has, and every input's values aligned to it.

    Maps on the same geometry are used as they are; a map lacking some of the template's axes
    (an image against a cube) is broadcast by axis name through xarray.
    """
    maps = [x for x in inputs if isinstance(x, Map)]
    template = max(maps, key=lambda m: len(m.geom.axes))
    arrays = []
    for x in inputs:
        if isinstance(x, Map):
            arrays.append(_broadcast_like(x, template))
        elif isinstance(x, da.Array):
            arrays.append(x)
        else:
            # Numbers become (0-d) arrays, as gammapy's Quantity conversion makes them: a float32
            # map times 2 is float64 there, and here.
            arrays.append(np.asarray(x.value if isinstance(x, u.Quantity) else x))
    return template, arrays


def _broadcast_like(m: Map, template: Map):
    if m is template or m.geom == template.geom:
        return m.data
    axes = template.geom.axes
    if not m.geom.to_image() == template.geom.to_image() or any(
        ax.name not in axes.names or not axes[ax.name] == ax for ax in m.geom.axes
    ):
        raise GeometryMismatchError(
            f"Map arithmetic: inconsistent geometries ({m.geom.data_shape} vs {template.geom.data_shape})"
        )
    sizes = dict(template.to_xarray().sizes)
    return m.to_xarray().variable.set_dims(sizes).data


#: Map class of each geometry type that has its own (`RegionNDMap` for `RegionGeom`), registered
#: by the subclass's definition (``class RegionNDMap(Map, geom_type=RegionGeom)``).
_CLASS_BY_GEOM: dict[type, type] = {}


def _class_for(geom, cls: type) -> type:
    """The map class for ``geom`` (a geometry or a geometry type): ``cls`` unless the geometry
    type has its own subclass of it."""
    geom_type = geom if isinstance(geom, type) else type(geom)
    special = _CLASS_BY_GEOM.get(geom_type)
    return special if special is not None and not issubclass(cls, special) else cls


def _computed_map(results, template: Map, finalize, args) -> Map:
    return template._new(data=np.asarray(finalize(results, *args)))


def _persisted_map(dsk, template: Map, rebuild, args, rename=None) -> Map:
    return template._new(data=rebuild(dsk, *args, rename=rename))
