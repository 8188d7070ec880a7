"""Maps <-> FITS HDUs in gammapy's layouts (gadf, fgst-ccube, fgst-template, region maps).

Reading works on any :class:`HduSource` (an opened :class:`~mapds.io.fits.FitsFile`, whose
image data stay on storage, or an in-memory ``HDUList``); writing produces HDU descriptions
(:class:`LazyImageHDU` for images, whose data stay a dask graph until
:func:`~mapds.io.fits.write_fits` streams them, and astropy HDUs for small tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import dask
import dask.array as da
import numpy as np
from astropy.io import fits
from astropy.table import Table
from regions import Regions

from ...errors import CorruptFileError, GeometryMismatchError, MissingHDUError
from ...geom import RegionGeom, WcsGeom
from ...geom.region import compound_region_to_regions
from ...maps import Map
from ...maps.lazy import LazyArray, WindowedArray
from .bands import (
    FGST_BANDS,
    axes_from_bands,
    bands_hdu_name,
    decode_meta,
    encode_meta,
    format_of_bands,
    unit_from_header,
)
from .pixels import PixelCodec

__all__ = ["HduSource", "LazyImageHDU", "map_from_source", "map_to_hdus"]

#: gammapy reads an image as a mask when its HDU name contains one of these.
MASK_NAME_PARTS = ("mask", "is_ul", "success")
MAP_FORMATS = ("gadf", "fgst-ccube", "fgst-template")


class HduSource(Protocol):
    """What map reading needs from a FITS file: headers, small tables, lazy images."""

    url: str

    @property
    def names(self) -> list[str]: ...

    def index(self, hdu) -> int: ...

    def header(self, hdu) -> fits.Header: ...

    def has_data(self, index: int) -> bool: ...

    def read_hdu(self, hdu) -> fits.hdu.base.ExtensionHDU: ...

    def image_array(self, hdu, as_bool: bool = False) -> tuple[LazyArray, str]: ...


def is_mask_name(name: str) -> bool:
    return any(part in name.lower() for part in MASK_NAME_PARTS)


def _map_type(header: fits.Header, where: str) -> str:
    if header.get("PIXTYPE") == "HEALPIX":
        raise NotImplementedError(f"{where}: HEALPix maps are not supported by mapds")
    return "wcs" if "CTYPE1" in header else "region"


def map_from_source(
    source: HduSource, hdu=None, hdu_bands=None, map_type="auto", format=None, *, chunks=None
) -> Map:
    """Read one map from a FITS source, as ``gammapy.maps.Map.from_hdulist`` does.

    Parameters
    ----------
    source : HduSource
        Opened FITS file or in-memory HDU list.
    hdu : str or int, optional
        Map HDU; default: the first HDU with data.
    hdu_bands : str or int, optional
        Bands table; default: from ``BANDSHDU`` (or Fermi ``EBOUNDS``/``ENERGIES``).
    map_type : {"auto", "wcs", "region"}
        Map type; ``auto`` decides from the header (``CTYPE1`` -> wcs, else region).
    format : {None, "gadf", "fgst-ccube", "fgst-template"}
        Convention; default from the bands table name.
    chunks : optional
        Dask chunks (see :func:`mapds.maps.chunks.normalize_chunks`).
    """
    index = _first_with_data(source) if hdu is None else source.index(hdu)
    header = source.header(index)
    name = source.names[index]
    where = f"{source.url!r}, HDU {name!r}"
    if map_type == "auto":
        map_type = _map_type(header, where)
    if format is not None and format not in MAP_FORMATS:
        raise ValueError(f"Unknown map format {format!r}; expected one of {MAP_FORMATS}")
    if map_type == "region":
        return _read_region_map(source, index, hdu_bands, where)
    if map_type != "wcs":
        raise ValueError(f"Unsupported map_type {map_type!r}; expected 'auto', 'wcs' or 'region'")
    if hdu_bands is None:
        hdu_bands = bands_hdu_name(header, is_table=False, n_columns=0, names=source.names)
    bands = None
    if hdu_bands is not None:
        bands_index = source.index(hdu_bands)
        bands = source.read_hdu(bands_index)
        hdu_bands = source.names[bands_index]
    if format is None:
        format = format_of_bands(hdu_bands)
    try:
        geom = WcsGeom.from_header(header)
    except (ValueError, KeyError) as exc:
        raise CorruptFileError(f"{where}: invalid WCS geometry: {exc}") from exc
    if bands is not None:
        if "NPIX" in bands.columns.names:
            raise NotImplementedError(f"{where}: multi-resolution (NPIX) geometries are not supported")
        geom = geom.to_cube(axes_from_bands(Table.read(bands), format, f"{source.url!r}, HDU {hdu_bands!r}"))
    unit = unit_from_header(header, where)
    if format == "fgst-template" and unit.is_equivalent(""):
        # Fermi templates carry no unit; gammapy assumes exposure when a GTI table is present.
        unit = "cm2 s" if "GTI" in source.names else "cm-2 s-1 MeV-1 sr-1"
    meta = decode_meta(header.get("META"))
    if not source.has_data(index) or header.get("XTENSION", "").strip() == "BINTABLE":
        if "PIX" in source.read_hdu(index).columns.names:
            return _read_sparse_map(source, index, geom, unit, meta)
        raise CorruptFileError(f"{where}: a WCS map HDU must hold an image")
    array, token = source.image_array(index, as_bool=is_mask_name(name))
    if tuple(array.shape) != geom.data_shape:
        raise GeometryMismatchError(
            f"{where}: the image has shape {tuple(array.shape)} but its WCS and bands describe "
            f"{geom.data_shape}"
        )
    return Map._from_source(geom, WindowedArray(array, token), chunks, unit=unit, meta=meta)


def _first_with_data(source: HduSource) -> int:
    for index in range(len(source.names)):
        if source.has_data(index):
            return index
    raise MissingHDUError(f"{source.url!r} has no HDU with data (HDUs: {source.names})")


def _read_sparse_map(source: HduSource, index: int, geom: WcsGeom, unit, meta) -> Map:
    """gammapy's sparse layout: ``PIX`` (flat pixel), optional ``CHANNEL``, ``VALUE``."""
    table = source.read_hdu(index).data
    data = np.zeros(geom.data_shape, dtype="f4")
    pix = np.asarray(table["PIX"], dtype=np.int64)
    n_image = geom.data_shape[-1] * geom.data_shape[-2]
    channel = np.asarray(table["CHANNEL"], dtype=np.int64) if "CHANNEL" in table.names else 0
    data.reshape(-1)[channel * n_image + pix] = table["VALUE"]
    return Map.from_geom(geom, data=data, unit=unit, meta=meta)


def _read_region_map(source: HduSource, index: int, hdu_bands, where: str) -> Map:
    """Region map: a ``CHANNEL``/``DATA`` table, ``<HDU>_BANDS`` and optional ``<HDU>_REGION``."""
    name = source.names[index]
    table = Table.read(source.read_hdu(index))
    if "DATA" not in table.colnames:
        raise CorruptFileError(f"{where}: a region map table needs a DATA column, found {table.colnames}")
    bands_name = source.names[source.index(hdu_bands if hdu_bands is not None else f"{name}_BANDS")]
    axes = axes_from_bands(
        Table.read(source.read_hdu(bands_name)), "gadf", f"{source.url!r}, HDU {bands_name!r}"
    )
    region, wcs = None, None
    if f"{name}_REGION" in source.names:
        region_hdu = source.read_hdu(f"{name}_REGION")
        wcs = WcsGeom.from_header(region_hdu.header).wcs
        parts = []
        for pixel_region in Regions.parse(Table.read(region_hdu), format="fits"):
            pixel_region.meta["include"] = True
            parts.append(pixel_region.to_sky(wcs))
        region = parts[0]
        for part in parts[1:]:
            region = region | part
    geom = RegionGeom(region, axes=axes, wcs=wcs)
    column = table["DATA"]
    data = np.asarray(column).reshape(geom.data_shape)
    return Map.from_geom(geom, data=data, unit=column.unit or "", meta=dict(table.meta))


@dataclass
class LazyImageHDU:
    """An image HDU whose data are a dask array, to be streamed into a file.

    Attributes
    ----------
    header : `~astropy.io.fits.Header`
        Complete header (mandatory cards included), exactly as it will be written.
    data : dask.array.Array
        Values (bool values are stored as int64, as gammapy does).
    codec : PixelCodec
        Values -> stored pixels.
    """

    header: fits.Header
    data: da.Array
    codec: PixelCodec

    @property
    def name(self) -> str:
        return "PRIMARY" if self.is_primary else str(self.header.get("EXTNAME", "")).strip().upper()

    @property
    def is_primary(self) -> bool:
        return "SIMPLE" in self.header

    def to_astropy(self):
        """An astropy HDU holding the computed data (memory: the whole image)."""
        values = np.asarray(self.data.compute())
        if self.codec.kind == "bool":
            values = values.astype(np.int64)
        cls = fits.PrimaryHDU if self.is_primary else fits.ImageHDU
        return cls(values, header=self.header.copy())


def map_to_hdus(m: Map, hdu=None, hdu_bands=None, sparse=False, format="gadf") -> list:
    """The HDUs that represent ``m`` in a FITS file, as gammapy writes them.

    WCS maps give a :class:`LazyImageHDU` (a primary HDU when ``hdu`` is None or ``"PRIMARY"``)
    followed, when the map has non-spatial axes, by its bands table (``<HDU>_BANDS``, or
    ``EBOUNDS``/``ENERGIES`` for the Fermi formats).  Region maps give a ``CHANNEL``/``DATA``
    table (default name ``SKYMAP``), ``<HDU>_BANDS`` and, with a region, ``<HDU>_REGION``.

    Parameters
    ----------
    m : Map
        The map.
    hdu : str, optional
        Name of the map HDU.
    hdu_bands : str, optional
        Name of the bands table.
    sparse : bool
        Write only non-zero pixels, as a ``PIX``/``CHANNEL``/``VALUE`` table (default name
        ``SKYMAP``; computes the map, chunk by chunk, and keeps the non-zero values).
    format : {"gadf", "fgst-ccube", "fgst-template"}
        FITS convention.
    """
    if format not in MAP_FORMATS:
        raise ValueError(f"Unknown map format {format!r}; expected one of {MAP_FORMATS}")
    if isinstance(m.geom, RegionGeom):
        return _region_map_hdus(m, hdu or "SKYMAP", hdu_bands)
    name = ("SKYMAP" if sparse else "PRIMARY") if hdu is None else hdu.upper()
    if sparse and name == "PRIMARY":
        raise ValueError("Sparse maps cannot be written to the PRIMARY HDU")
    axes = m.geom.axes
    if format in FGST_BANDS and (len(axes) != 1 or axes[0].name != "energy"):
        raise ValueError("The 'fgst' formats support a single 'energy' axis and no other axes")
    header = m.geom.to_header()
    hdus = []
    if len(axes):
        bands = axes.to_table_hdu(
            format=format, hdu_bands=FGST_BANDS.get(format) or hdu_bands or f"{name}_BANDS"
        )
        header["BANDSHDU"] = bands.name
        hdus.append(bands)
    if sparse:
        table = _sparse_table_hdu(m, name, header)
        table.header["META"] = encode_meta(m.meta)
        table.header["BUNIT"] = m.unit.to_string("fits")
        return [table, *hdus]
    codec = PixelCodec.for_values(m.dtype, where=f"HDU {name!r}")
    placeholder = codec.placeholder(m.geom.data_shape)
    if name == "PRIMARY":
        image = fits.PrimaryHDU(placeholder, header=header)
    else:
        image = fits.ImageHDU(placeholder, header=header, name=name)
    image.header["META"] = encode_meta(m.meta)
    image.header["BUNIT"] = m.unit.to_string("fits")
    return [LazyImageHDU(image.header, m.data, codec), *hdus]


def _nonzero_block(block: np.ndarray, offsets: tuple[int, ...], shape: tuple[int, ...]) -> tuple:
    """Flat indices (into the whole map) and values of the non-zero pixels of one chunk."""
    local = np.nonzero(block)
    flat = np.ravel_multi_index(tuple(i + o for i, o in zip(local, offsets, strict=True)), shape)
    return flat, block[local]


def _sparse_table_hdu(m: Map, name: str, header: fits.Header) -> fits.BinTableHDU:
    """gammapy's sparse layout: ``PIX`` (flat pixel in the image), ``CHANNEL`` (flat index of
    the non-spatial bins, when there are any) and ``VALUE``, in C order of the data."""
    shape = m.geom.data_shape
    starts = [np.cumsum((0, *c[:-1])) for c in m.data.chunks]
    parts = [
        dask.delayed(_nonzero_block)(block, tuple(int(starts[d][i]) for d, i in enumerate(index)), shape)
        for index, block in zip(np.ndindex(*m.data.numblocks), m.data.to_delayed().ravel(), strict=True)
    ]
    found = dask.compute(*parts)
    flat = np.concatenate([f for f, _ in found])
    order = np.argsort(flat, kind="stable")
    flat, values = flat[order], np.concatenate([v for _, v in found])[order].astype(float)
    n_image = shape[-1] * shape[-2]
    columns = [fits.Column("PIX", "J", array=flat % n_image)]
    if len(shape) > 2:
        columns.append(fits.Column("CHANNEL", "I", array=flat // n_image))
    columns.append(fits.Column("VALUE", "E", array=values))
    return fits.BinTableHDU.from_columns(columns, header=header, name=name)


def _region_map_hdus(m: Map, name: str, hdu_bands) -> list:
    geom: RegionGeom = m.geom
    name = name.upper()
    values = m.quantity
    table = Table()
    table["CHANNEL"] = np.arange(len(values), dtype=np.int16)
    table["DATA"] = values
    table.meta.update(geom.axes.to_header())
    hdus = [
        fits.BinTableHDU(table, name=name),
        geom.axes.to_table_hdu(hdu_bands=hdu_bands or f"{name}_BANDS"),
    ]
    if geom.region is not None:
        pixel_regions = [part.to_pixel(geom.wcs) for part in compound_region_to_regions(geom.region)]
        region_table = Regions(pixel_regions).serialize(format="fits")
        region_table.meta.update(WcsGeom(geom.wcs).to_header())
        hdus.append(fits.BinTableHDU(region_table, name=f"{name}_REGION"))
    return hdus


def with_primary(hdus: Sequence) -> list:
    """``hdus`` preceded by an empty primary HDU unless the first one is a primary."""
    hdus = list(hdus)
    first = hdus[0] if hdus else None
    if isinstance(first, fits.PrimaryHDU) or (isinstance(first, LazyImageHDU) and first.is_primary):
        return hdus
    return [fits.PrimaryHDU(), *hdus]
