"""Where map reading gets HDUs from: the :class:`HduSource` protocol and its in-memory
implementation for ``astropy.io.fits.HDUList`` (files are opened as
:class:`~mapds.io.fits.FitsFile`, which implements it too)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from astropy.io import fits
from dask.base import tokenize

from ...errors import MissingHDUError
from ...maps.lazy import LazyArray

__all__ = ["HDUListSource", "HduSource"]


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


class HDUListSource:
    """Adapter so that maps are read from an ``HDUList`` exactly as from a file."""

    def __init__(self, hdulist: fits.HDUList):
        self.hdulist = hdulist
        self.url = hdulist.filename() or "<HDUList>"

    @property
    def names(self) -> list[str]:
        return [hdu.name.upper() if i else "PRIMARY" for i, hdu in enumerate(self.hdulist)]

    def index(self, hdu) -> int:
        if isinstance(hdu, (int, np.integer)) and -len(self.hdulist) <= hdu < len(self.hdulist):
            return int(hdu) % len(self.hdulist)
        if isinstance(hdu, str) and hdu.strip().upper() in self.names:
            return self.names.index(hdu.strip().upper())
        raise MissingHDUError(f"{self.url!r} has no HDU {hdu!r}; available HDUs: {self.names}")

    def header(self, hdu) -> fits.Header:
        return self.hdulist[self.index(hdu)].header

    def has_data(self, index: int) -> bool:
        return self.hdulist[index].data is not None

    def read_hdu(self, hdu):
        return self.hdulist[self.index(hdu)]

    def image_array(self, hdu, as_bool: bool = False):
        data = np.asarray(self.hdulist[self.index(hdu)].data)
        data = data.astype(bool) if as_bool else data.astype(data.dtype.newbyteorder("="))
        return data, "hdulist-" + tokenize(data)
