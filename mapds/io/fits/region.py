"""Region maps in gammapy's gadf layout: one spatial bin (a sky region) times axes.

The map HDU is a table with ``CHANNEL`` and ``DATA`` columns (one row per bin of the last
axis, ``DATA`` holding the remaining bins), ``<HDU>_BANDS`` describes the axes and, when the
map has a region, ``<HDU>_REGION`` holds it as a FITS region table in the pixels of the WCS in
its header.  Region maps are small: they are read and written eagerly.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ...errors import CorruptFileError
from ...geom import RegionGeom, WcsGeom
from ...geom.region import compound_region_to_regions
from ...maps import Map
from .bands import axes_from_bands
from .source import HduSource

__all__ = ["read_region_map", "region_map_hdus"]


def read_region_map(source: HduSource, index: int, hdu_bands, where: str) -> Map:
    """Region map: a ``CHANNEL``/``DATA`` table, ``<HDU>_BANDS`` and optional ``<HDU>_REGION``."""
    from regions import Regions  # deferred: regions imports matplotlib

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
    data = data.astype(data.dtype.newbyteorder("="))  # FITS is big-endian; maps hold native values
    return Map.from_geom(geom, data=data, unit=column.unit or "", meta=dict(table.meta))


def region_map_hdus(m: Map, name: str, hdu_bands=None) -> list:
    """``<NAME>`` (``CHANNEL``/``DATA``), ``<NAME>_BANDS`` and, with a region, ``<NAME>_REGION``."""
    from regions import Regions

    geom = cast(RegionGeom, m.geom)
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
