"""`Map`: a geometry, a unit and an ``xarray.DataArray`` whose data is a dask array.

The dask array is the single source of truth.  Operations build graphs; nothing is computed until
the caller asks (:meth:`Map.compute`, :meth:`Map.persist`, :meth:`Map.write`, :attr:`Map.quantity`
or ``np.asarray(map)``).  Class and method names follow gammapy's ``Map``/``WcsNDMap``.
"""

from __future__ import annotations

import copy as _copy
import operator
from collections.abc import Iterator

import astropy.units as u
import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..errors import GeometryMismatchError, UnitMismatchError
from ..geom import RegionGeom, WcsGeom
from ..geom.base import Geom
from . import convolution, cutout, interpolate, padding, regrid, resample, stacking
from .chunks import normalize_chunks
from .dataarray import geom_coords, geom_dims, geom_from_dataarray, unit_from_attrs
from .lazy import WindowedArray

__all__ = ["Map"]

# Operators whose second operand is converted to the unit of the first (gammapy semantics).
_SAME_UNIT_OPS = {operator.add, operator.sub, np.add, np.subtract}
_COMPARISONS = {operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne}
_LOGICAL = {operator.and_, operator.or_, operator.xor}


def _as_unit(unit) -> u.Unit:
    try:
        return u.Unit(unit)
    except (ValueError, TypeError) as exc:
        raise UnitMismatchError(f"Unknown unit {unit!r}") from exc


class Map:
    """A lazily evaluated map: geometry + unit + dask-backed data.

    Parameters
    ----------
    geom : `WcsGeom` or `RegionGeom`
        Geometry.
    data : array-like, optional
        numpy or dask array of shape ``geom.data_shape``; zeros when omitted.
    dtype : str, optional
        Data type when ``data`` is omitted (gammapy's default ``float32``) or to cast to.
    meta : dict, optional
        Free metadata (e.g. ``{"livetime": <Quantity>}``).
    unit : str or `~astropy.units.Unit`
        Unit of the values.
    chunks : optional, keyword-only
        Dask chunking (see :func:`mapds.maps.chunks.normalize_chunks`); existing dask data keep
        their chunks unless ``chunks`` is given.
    """

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
                data = da.from_array(
                    data, chunks=normalize_chunks(chunks, shape, dims, data.dtype), name=False
                )
            elif chunks is not None:
                data = data.rechunk(normalize_chunks(chunks, shape, dims, data.dtype))
            if data.shape != shape:
                raise GeometryMismatchError(
                    f"Data shape {data.shape} does not match geometry data shape {shape}"
                )
            if dtype is not None and data.dtype != np.dtype(dtype):
                data = data.astype(dtype)
        self._geom = geom
        self._unit = unit
        self.meta = dict(meta) if meta else {}
        self._data = data
        self._source: WindowedArray | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geom(
        cls, geom: Geom, meta=None, data=None, unit="", dtype="float32", map_type="auto", *, chunks=None
    ) -> Map:
        """Map of the given geometry (zeros unless ``data`` is given); gammapy's signature."""
        if isinstance(geom, RegionGeom) or map_type == "region":
            from .region import RegionNDMap

            cls = RegionNDMap
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
        """Map from a DataArray in mapds' layout (see :mod:`mapds.maps.dataarray`)."""
        geom = geom_from_dataarray(data_array)
        data = data_array.data
        if not isinstance(data, da.Array):
            data = da.from_array(
                np.asarray(data), chunks=normalize_chunks(None, data.shape, data_array.dims, data.dtype)
            )
        meta = data_array.attrs.get("meta") or {}
        return cls.from_geom(geom, data=data, unit=unit_from_attrs(data_array.attrs), meta=meta)

    @classmethod
    def _from_source(cls, geom: Geom, source: WindowedArray, chunks, unit="", meta=None) -> Map:
        """Map over a storage array; selections will be pushed down to storage reads."""
        dims = geom_dims(geom)
        chunks = normalize_chunks(
            chunks, geom.data_shape, dims, source.dtype, native=getattr(source.base, "native_chunks", None)
        )
        out = cls.from_geom(geom, data=source.to_dask(chunks), unit=unit, meta=meta)
        out._source = source
        return out

    def _new(self, geom: Geom | None = None, data=None, unit=None, meta=None) -> Map:
        """A map like this one with some parts replaced (no storage window)."""
        geom = self._geom if geom is None else geom
        return Map.from_geom(
            geom,
            data=self._data if data is None else data,
            unit=self._unit if unit is None else unit,
            meta=_copy.deepcopy(self.meta) if meta is None else meta,
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
        """The geometry."""
        return self._geom

    @property
    def data(self) -> da.Array:
        """The dask array (shape ``geom.data_shape``)."""
        return self._data

    @data.setter
    def data(self, value) -> None:
        if isinstance(value, u.Quantity):
            raise UnitMismatchError("Set map.quantity, not map.data, to assign a Quantity")
        new = Map.from_geom(self._geom, data=value, dtype=None)
        self._data = new._data
        self._source = None

    @property
    def unit(self) -> u.Unit:
        """Unit of the values."""
        return self._unit

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def chunks(self) -> tuple[tuple[int, ...], ...]:
        """Dask chunks of :attr:`data`."""
        return self._data.chunks

    @property
    def quantity(self) -> u.Quantity:
        """Values as an astropy Quantity (computes the map)."""
        return u.Quantity(self._data.compute(), self._unit, copy=False)

    @quantity.setter
    def quantity(self, value) -> None:
        value = u.Quantity(value)
        self._unit = value.unit
        self.data = value.value

    @property
    def is_mask(self) -> bool:
        """Whether the data are boolean."""
        return self._data.dtype == bool

    @property
    def tag(self) -> str:
        return "map"

    def to_xarray(self, name: str | None = None) -> xr.DataArray:
        """The map as a DataArray (dask-backed; coordinates and attrs as in DESIGN.md)."""
        attrs = {"units": self._unit.to_string()}
        if self.meta:
            attrs["meta"] = self.meta
        out = xr.DataArray(
            self._data, dims=geom_dims(self._geom), coords=geom_coords(self._geom), attrs=attrs
        )
        out.name = name
        return out

    # -- evaluation -----------------------------------------------------------------------------

    def compute(self, **kwargs) -> Map:
        """A copy whose data are computed (held as one in-memory chunk per dask chunk)."""
        (data,) = dask.compute(self._data, **kwargs)
        return self._new(data=da.from_array(data, chunks=self._data.chunks, name=False))

    def persist(self, **kwargs) -> Map:
        """A copy whose chunks are computed and kept (in memory or on the cluster)."""
        (data,) = dask.persist(self._data, **kwargs)
        return self._new(data=data)

    def rechunk(self, chunks) -> Map:
        """A copy with other dask chunks (``chunks`` as in the constructor)."""
        dims = geom_dims(self._geom)
        return self._new(
            data=self._data.rechunk(normalize_chunks(chunks, self._data.shape, dims, self.dtype))
        )

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self._data.compute(), dtype=dtype)

    def copy(self, **kwargs) -> Map:
        """Copy, replacing any of ``geom``, ``data``, ``unit``, ``meta``.

        Dask arrays are immutable, so the copy shares the graph: no data are copied.
        """
        out = self._new(
            geom=kwargs.pop("geom", None),
            data=kwargs.pop("data", None),
            unit=kwargs.pop("unit", None),
            meta=kwargs.pop("meta", None),
        )
        if kwargs:
            raise TypeError(f"Unexpected arguments to Map.copy: {sorted(kwargs)}")
        out._source = self._source if out._data is self._data else None
        return out

    def astype(self, dtype) -> Map:
        """Copy with another data type."""
        return self._new(data=self._data.astype(dtype))

    def to_unit(self, unit) -> Map:
        """Copy converted to ``unit``."""
        unit = _as_unit(unit)
        try:
            scale = self._unit.to(unit)
        except u.UnitConversionError as exc:
            raise UnitMismatchError(f"Cannot convert map in {self._unit!r} to {unit!r}") from exc
        data = (
            self._data
            if scale == 1
            else self._data * np.asarray(scale, self.dtype if self.dtype.kind == "f" else float)
        )
        return self._new(data=data, unit=unit)

    # -- arithmetic -----------------------------------------------------------------------------

    def _other_data(self, other, op):
        """Data and unit of the second operand of a binary operation (geometry checked)."""
        if isinstance(other, Map):
            if not self._geom == other._geom:
                raise GeometryMismatchError(
                    "Map arithmetic: inconsistent geometries "
                    f"({self._geom.data_shape} vs {other._geom.data_shape})"
                )
            return other._data, other._unit
        if isinstance(other, u.Quantity):
            return np.asarray(other.value), other.unit
        if isinstance(other, (da.Array, np.ndarray)):
            return other, u.dimensionless_unscaled
        return np.asarray(other), u.dimensionless_unscaled

    def _arithmetic(self, op, other, reflected=False) -> Map:
        data, unit = self._other_data(other, op)
        if op in _LOGICAL:
            result = op(data, self._data) if reflected else op(self._data, data)
            return self._new(data=result)
        if op in (operator.mul, operator.truediv):
            new_unit = op(unit, self._unit) if reflected else op(self._unit, unit)
        elif op is operator.pow:
            if reflected:
                if self._unit != u.dimensionless_unscaled:
                    raise UnitMismatchError(f"Exponent must be dimensionless, got {self._unit}")
                new_unit = unit**self._data
            else:
                if unit != u.dimensionless_unscaled or isinstance(other, Map):
                    raise UnitMismatchError("Maps can only be raised to dimensionless scalars")
                new_unit = self._unit ** float(np.asarray(data))
        else:
            try:
                scale = unit.to(self._unit)
            except u.UnitConversionError as exc:
                raise UnitMismatchError(
                    f"Cannot combine map in {self._unit!r} with operand in {unit!r}"
                ) from exc
            if scale != 1:
                data = data * scale
            new_unit = u.dimensionless_unscaled if op in _COMPARISONS else self._unit
        result = op(data, self._data) if reflected else op(self._data, data)
        return self._new(data=result, unit=new_unit)

    def __add__(self, other):
        return self._arithmetic(operator.add, other)

    def __radd__(self, other):
        return self._arithmetic(operator.add, other, reflected=True)

    def __sub__(self, other):
        return self._arithmetic(operator.sub, other)

    def __rsub__(self, other):
        return self._arithmetic(operator.sub, other, reflected=True)

    def __mul__(self, other):
        return self._arithmetic(operator.mul, other)

    def __rmul__(self, other):
        return self._arithmetic(operator.mul, other, reflected=True)

    def __truediv__(self, other):
        return self._arithmetic(operator.truediv, other)

    def __rtruediv__(self, other):
        return self._arithmetic(operator.truediv, other, reflected=True)

    def __pow__(self, other):
        return self._arithmetic(operator.pow, other)

    def __lt__(self, other):
        return self._arithmetic(operator.lt, other)

    def __le__(self, other):
        return self._arithmetic(operator.le, other)

    def __gt__(self, other):
        return self._arithmetic(operator.gt, other)

    def __ge__(self, other):
        return self._arithmetic(operator.ge, other)

    def __eq__(self, other):
        return self._arithmetic(operator.eq, other)

    def __ne__(self, other):
        return self._arithmetic(operator.ne, other)

    def __and__(self, other):
        return self._arithmetic(operator.and_, other)

    def __rand__(self, other):
        return self._arithmetic(operator.and_, other, reflected=True)

    def __or__(self, other):
        return self._arithmetic(operator.or_, other)

    def __ror__(self, other):
        return self._arithmetic(operator.or_, other, reflected=True)

    def __xor__(self, other):
        return self._arithmetic(operator.xor, other)

    def __invert__(self):
        return self._new(data=~self._data)

    def __neg__(self):
        return self._new(data=-self._data)

    def __pos__(self):
        return self.copy()

    def __abs__(self):
        return self._new(data=abs(self._data))

    def _inplace(self, op, other) -> Map:
        result = self._arithmetic(op, other)
        self._data, self._unit, self._source = result._data, result._unit, None
        return self

    def __iadd__(self, other):
        return self._inplace(operator.add, other)

    def __isub__(self, other):
        return self._inplace(operator.sub, other)

    def __imul__(self, other):
        return self._inplace(operator.mul, other)

    def __itruediv__(self, other):
        return self._inplace(operator.truediv, other)

    def __iand__(self, other):
        return self._inplace(operator.and_, other)

    def __ior__(self, other):
        return self._inplace(operator.or_, other)

    __hash__ = None  # maps compare element-wise, like arrays

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Apply numpy ufuncs lazily (``np.log(map)``, ``np.sqrt(map)``, ``np.isfinite(map)``...).

        Units follow astropy's rules (computed on unit Quantities); Map inputs must share the
        geometry.
        """
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        arrays, units = [], []
        for value in inputs:
            if isinstance(value, Map):
                if not value._geom == self._geom:
                    raise GeometryMismatchError("ufunc on maps with inconsistent geometries")
                arrays.append(value._data)
                units.append(value._unit)
            elif isinstance(value, u.Quantity):
                arrays.append(np.asarray(value.value))
                units.append(value.unit)
            else:
                arrays.append(value)
                units.append(None)
        probes = [u.Quantity(1.0, unit) if unit is not None else 1.0 for unit in units]
        try:
            result_unit = getattr(ufunc(*probes, **kwargs), "unit", u.dimensionless_unscaled)
        except u.UnitsError as exc:
            raise UnitMismatchError(f"{ufunc.__name__} on maps with units {units}: {exc}") from exc
        if ufunc in (np.add, np.subtract, np.maximum, np.minimum, np.hypot):
            target = next(unit for unit in units if unit is not None)
            arrays = [
                a if unit in (None, target) else a * unit.to(target)
                for a, unit in zip(arrays, units, strict=True)
            ]
        result = ufunc(*arrays, **kwargs)
        if isinstance(result, tuple):
            return tuple(self._new(data=r, unit=result_unit) for r in result)
        return self._new(data=result, unit=result_unit)

    def is_allclose(self, other: Map, rtol_axes=1e-3, atol_axes=1e-6, **kwargs) -> bool:
        """Same geometry (within tolerance), unit and values (``np.allclose``); computes."""
        if not isinstance(other, Map) or self._geom.data_shape != other._geom.data_shape:
            return False
        if self._unit != other._unit or not self._geom.is_allclose(
            other._geom, rtol_axes=rtol_axes, atol_axes=atol_axes
        ):
            return False
        return bool(da.allclose(self._data, other._data, **kwargs).compute())

    # -- selections -----------------------------------------------------------------------------

    def _select_data(self, index: tuple) -> tuple[da.Array, WindowedArray | None]:
        """Dask array (and storage window, if any) of a basic selection of the data.

        When this map is a storage view the selection narrows the storage window, so computing
        the result reads only the selected bytes.
        """
        if self._source is not None:
            try:
                source, data = self._source.sliced_dask(index, self._data.chunks)
            except IndexError:
                pass
            else:
                return data, source
        return self._data[index], None

    def _select(self, index: tuple, geom: Geom) -> Map:
        """Basic selection of the data; pushed down to storage when this map is a storage view."""
        data, source = self._select_data(index)
        out = self._new(geom=geom, data=data)
        out._source = source
        return out

    def slice_by_idx(self, slices: dict) -> Map:
        """Select non-spatial bins by axis name (int drops the axis) or pixels with ``x``/``y``.

        Parameters
        ----------
        slices : dict
            Axis name -> int or slice (step 1).  ``"x"``/``"y"`` keys slice the image too (the
            WCS reference pixel is shifted accordingly).
        """
        slices = dict(slices)
        spatial = {k: slices.pop(k) for k in ("x", "y") if k in slices}
        unknown = set(slices) - set(self._geom.axes.names)
        if unknown:
            raise KeyError(f"slice_by_idx: unknown axes {sorted(unknown)}; map has {self._geom.axes.names}")
        geom = self._geom.slice_by_idx(slices)
        index = [slices.get(ax.name, slice(None)) for ax in self._geom.axes.reverse]
        for dim in ("y", "x"):
            index.append(spatial.get(dim, slice(None)))
        if spatial:
            if not isinstance(geom, WcsGeom):
                raise GeometryMismatchError("Only WCS maps can be sliced spatially")
            ys = slice(*spatial.get("y", slice(None)).indices(geom.data_shape[-2])[:2])
            xs = slice(*spatial.get("x", slice(None)).indices(geom.data_shape[-1])[:2])
            wcs = geom.wcs.deepcopy()
            wcs.wcs.crpix -= (xs.start, ys.start)
            npix = (xs.stop - xs.start, ys.stop - ys.start)
            wcs.array_shape = npix[::-1]
            geom = geom._init_copy(wcs=wcs, npix=npix, crpix=None)
        return self._select(tuple(index), geom)

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
            yield self._data[idx], idx

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
        idx = self._geom.axes.index_data(axis_name)
        data = self._data if weights is None else self._data * _map_data(weights, self._geom)
        if isinstance(func, np.ufunc):
            reduced = da.reduction(
                data,
                chunk=_ufunc_chunk(func),
                aggregate=_ufunc_chunk(func),
                axis=idx,
                keepdims=keepdims,
                dtype=_reduce_dtype(func, data.dtype),
            )
        else:
            reduced = func(data, axis=idx, keepdims=keepdims)
        geom = self._geom.squash(axis_name) if keepdims else self._geom.drop(axis_name)
        return self._new(geom=geom, data=reduced)

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
        data = self._data.reshape((1,) * len(axes) + self._data.shape)
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

    def interp_by_pix(self, pix, method="linear", fill_value=None, values_scale="lin") -> np.ndarray:
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

        Returns
        -------
        ndarray
            Values (only the pixels around the points are read).
        """
        values = self._interp_by_pix_lazy(
            pix, method=method, fill_value=fill_value, values_scale=values_scale
        )
        return np.asarray(values.compute())

    def _interp_by_pix_lazy(self, pix, method="linear", fill_value=None, values_scale="lin") -> da.Array:
        """:meth:`interp_by_pix` as a dask array (the fill rule is the geometry type's)."""
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

        See :func:`mapds.maps.region.to_region_nd_map`.
        """
        from .region import to_region_nd_map

        return to_region_nd_map(self, region=region, func=func, weights=weights, method=method)

    def get_spectrum(self, region=None, func=np.nansum, weights=None):
        """Spectrum in ``region``: :meth:`to_region_nd_map` with ``func`` (default ``nansum``)."""
        return self.to_region_nd_map(region=region, func=func, weights=weights)

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
            f"\tchunks: {self._data.chunksize} x {self._data.npartitions}\n"
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


def _reduce_dtype(func: np.ufunc, dtype: np.dtype) -> np.dtype:
    return func.reduce(np.zeros((1,), dtype=dtype)).dtype
