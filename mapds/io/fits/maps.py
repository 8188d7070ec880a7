"""Maps <-> FITS HDUs in gammapy's layouts (gadf, fgst-ccube, fgst-template).

Reading works on any :class:`HduSource` (an opened :class:`~mapds.io.fits.FitsFile`, whose
image data stay on storage, or an in-memory ``HDUList``); writing produces HDU descriptions
(:class:`LazyImageHDU` for images, whose data stay a dask graph until
:func:`~mapds.io.fits.write_fits` streams them, and astropy HDUs for small tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import dask.array as da
import numpy as np
from astropy.io import fits

from ...errors import CorruptFileError, GeometryMismatchError, InvalidArgumentError, MissingHDUError
from ...geom import RegionGeom, WcsGeom
from ...maps import Map
from ...maps.lazy import WindowedArray
from ...maps.meta import encode_meta
from .bands import (
    FGST_BANDS,
    axes_from_bands,
    bands_hdu_name,
    bands_table,
    format_of_bands,
    meta_from_header,
    unit_from_header,
)
from .cards import check_wcs_cards
from .pixels import PixelCodec
from .region import read_region_map, region_map_hdus
from .source import HduSource
from .sparse import read_sparse_map, sparse_table_hdu

__all__ = ["LazyImageHDU", "map_from_source", "map_to_hdus", "with_primary"]

#: gammapy reads an image as a mask when its HDU name contains one of these.
MASK_NAME_PARTS = ("mask", "is_ul", "success")
MAP_FORMATS = ("gadf", "fgst-ccube", "fgst-template")


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
        Dask chunks (see :func:`mapds.maps.chunks.normalize_chunks`).  ``None`` (default) and
        ``{}`` give the storage's own layout: for an image, slabs of whole rows across all
        planes, sized like mapds' default chunks, each read as one range per plane.
    """
    index = _first_with_data(source) if hdu is None else source.index(hdu)
    header = source.header(index)
    name = source.names[index]
    where = f"{source.url!r}, HDU {name!r}"
    if map_type == "auto":
        map_type = _map_type(header, where)
    if format is not None and format not in MAP_FORMATS:
        raise InvalidArgumentError(f"Unknown map format {format!r}; expected one of {MAP_FORMATS}")
    if map_type == "region":
        return read_region_map(source, index, hdu_bands, where)
    if map_type != "wcs":
        raise InvalidArgumentError(f"Unsupported map_type {map_type!r}; expected 'auto', 'wcs' or 'region'")
    if hdu_bands is None:
        hdu_bands = bands_hdu_name(header, is_table=False, n_columns=0, names=source.names)
    bands = None
    if hdu_bands is not None:
        bands_index = source.index(hdu_bands)
        bands = source.read_hdu(bands_index)
        hdu_bands = source.names[bands_index]
    if format is None:
        format = format_of_bands(hdu_bands)
    check_wcs_cards(header, where)
    try:
        geom = WcsGeom.from_header(header)
    except (ValueError, KeyError) as exc:
        raise CorruptFileError(f"{where}: invalid WCS geometry: {exc}") from exc
    if bands is not None:
        bands_where = f"{source.url!r}, HDU {hdu_bands!r}"
        table = bands_table(bands, bands_where)
        if "NPIX" in table.colnames:
            raise NotImplementedError(f"{where}: multi-resolution (NPIX) geometries are not supported")
        geom = geom.to_cube(axes_from_bands(table, format, bands_where))
    unit = unit_from_header(header, where)
    if format == "fgst-template" and unit.is_equivalent(""):
        # Fermi templates carry no unit; gammapy assumes exposure when a GTI table is present.
        unit = "cm2 s" if "GTI" in source.names else "cm-2 s-1 MeV-1 sr-1"
    meta = meta_from_header(header, where)
    if not source.has_data(index) or header.get("XTENSION", "").strip() == "BINTABLE":
        if "PIX" in source.read_hdu(index).columns.names:
            return read_sparse_map(source, index, geom, unit, meta)
        raise CorruptFileError(f"{where}: a WCS map HDU must hold an image")
    array, token = source.image_array(index, as_bool=is_mask_name(name))
    if tuple(array.shape) != geom.data_shape:
        raise GeometryMismatchError(
            f"{where}: the image has shape {tuple(array.shape)} but its WCS and bands describe "
            f"{geom.data_shape}"
        )
    # Like xarray's readers, default to chunks that follow the storage layout: square tiles
    # of a FITS image would read one short range per row instead of one per plane.
    chunks = {} if chunks is None else chunks
    return Map.from_lazy_array(geom, WindowedArray(array, token), chunks, unit=unit, meta=meta)


def _first_with_data(source: HduSource) -> int:
    for index in range(len(source.names)):
        if source.has_data(index):
            return index
    raise MissingHDUError(f"{source.url!r} has no HDU with data (HDUs: {source.names})")


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
        return region_map_hdus(m, hdu or "SKYMAP", hdu_bands)
    name = ("SKYMAP" if sparse else "PRIMARY") if hdu is None else hdu.upper()
    if sparse and name == "PRIMARY":
        raise ValueError("Sparse maps cannot be written to the PRIMARY HDU")
    axes = m.geom.axes
    if format in FGST_BANDS and (len(axes) != 1 or axes[0].name != "energy"):
        raise ValueError("The 'fgst' formats support a single 'energy' axis and no other axes")
    header = cast(WcsGeom, m.geom).to_header()
    hdus = []
    if len(axes):
        bands = axes.to_table_hdu(
            format=format, hdu_bands=FGST_BANDS.get(format) or hdu_bands or f"{name}_BANDS"
        )
        header["BANDSHDU"] = bands.name
        hdus.append(bands)
    if sparse:
        table = sparse_table_hdu(m, name, header)
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
    return [LazyImageHDU(image.header, m.dask_data, codec), *hdus]


def with_primary(hdus: Sequence) -> list:
    """``hdus`` preceded by an empty primary HDU unless the first one is a primary."""
    hdus = list(hdus)
    first = hdus[0] if hdus else None
    if isinstance(first, fits.PrimaryHDU) or (isinstance(first, LazyImageHDU) and first.is_primary):
        return hdus
    return [fits.PrimaryHDU(), *hdus]
