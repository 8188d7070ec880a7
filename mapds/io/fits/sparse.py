"""gammapy's sparse WCS maps: only non-zero pixels, as a ``PIX``/``CHANNEL``/``VALUE`` table.

``PIX`` is the flat pixel index in the image (C order), ``CHANNEL`` the flat index of the
non-spatial bins (absent for 2D maps), ``VALUE`` the value (float32).
"""

from __future__ import annotations

import dask
import numpy as np
from astropy.io import fits

from ...geom import WcsGeom
from ...maps import Map
from .source import HduSource

__all__ = ["read_sparse_map", "sparse_table_hdu"]


def read_sparse_map(source: HduSource, index: int, geom: WcsGeom, unit, meta) -> Map:
    """gammapy's sparse layout: ``PIX`` (flat pixel), optional ``CHANNEL``, ``VALUE``."""
    table = source.read_hdu(index).data
    data = np.zeros(geom.data_shape, dtype="f4")
    pix = np.asarray(table["PIX"], dtype=np.int64)
    n_image = geom.data_shape[-1] * geom.data_shape[-2]
    channel = np.asarray(table["CHANNEL"], dtype=np.int64) if "CHANNEL" in table.names else 0
    data.reshape(-1)[channel * n_image + pix] = table["VALUE"]
    return Map.from_geom(geom, data=data, unit=unit, meta=meta)


def _nonzero_block(block: np.ndarray, offsets: tuple[int, ...], shape: tuple[int, ...]) -> tuple:
    """Flat indices (into the whole map) and values of the non-zero pixels of one chunk."""
    local = np.nonzero(block)
    flat = np.ravel_multi_index(tuple(i + o for i, o in zip(local, offsets, strict=True)), shape)
    return flat, block[local]


def sparse_table_hdu(m: Map, name: str, header: fits.Header) -> fits.BinTableHDU:
    """gammapy's sparse layout: ``PIX`` (flat pixel in the image), ``CHANNEL`` (flat index of
    the non-spatial bins, when there are any) and ``VALUE``, in C order of the data."""
    shape = m.geom.data_shape
    data = m.dask_data
    starts = [np.cumsum((0, *c[:-1])) for c in data.chunks]
    parts = [
        dask.delayed(_nonzero_block)(block, tuple(int(starts[d][i]) for d, i in enumerate(index)), shape)
        for index, block in zip(np.ndindex(*data.numblocks), data.to_delayed().ravel(), strict=True)
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
