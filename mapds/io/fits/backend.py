"""`FitsBackend`: where the data of an opened FITS file come from (the file itself, read by ranges,
or the zarr cache of a gzip-compressed file)."""

from __future__ import annotations

from ...maps.lazy import LazyArray
from .headers import HduInfo

__all__ = ["FitsBackend"]


class FitsBackend:
    """Where the data of a :class:`FitsFile` come from."""

    def data_bytes(self, info: HduInfo) -> bytes:
        """The data section of an HDU (no padding)."""
        raise NotImplementedError

    def image(self, info: HduInfo, as_bool: bool, where: str) -> LazyArray:
        """The image of an HDU, read lazily."""
        raise NotImplementedError
