"""`FitsFile`: a FITS file opened once, its HDUs available as lazy maps, tables or headers.

Opening scans the headers with ranged reads (:func:`~mapds.io.fits.headers.scan_hdus`) and
reads nothing else but small tables.  Every HDU is then available without rescanning:
:meth:`FitsFile.read_map` gives a lazy :class:`~mapds.maps.Map` whose chunks read their own
bytes, :meth:`FitsFile.read_table` an astropy Table, :meth:`FitsFile.header` the header.
Gzip-compressed files are decompressed once into a zarr cache (:mod:`mapds.io.gzip_cache`)
that then serves the same interface.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ...errors import CorruptFileError, MissingHDUError, StorageError
from ...maps import Map
from ...maps.lazy import LazyArray
from ..ranged import RangeReader, range_reader
from ..urls import Location, resolve
from .backend import FitsBackend
from .checksum import verify_checksums
from .headers import BLOCK, HduInfo, scan_hdus
from .image import FitsImageArray
from .maps import map_from_source
from .pixels import PixelCodec

__all__ = ["GZIP_MAGIC", "FitsBackend", "FitsFile", "RangedBackend"]

GZIP_MAGIC = b"\x1f\x8b"
# Lets astropy parse an extension HDU on its own.
_EMPTY_PRIMARY = fits.PrimaryHDU().header.tostring(endcard=True, padding=True).encode("ascii")


class FitsFile:
    """An opened FITS file: headers parsed, data left on storage.

    Use :meth:`open`.  HDUs are addressed by name (case-insensitive, as in astropy) or index.

    Examples
    --------
    >>> f = FitsFile.open("s3://bucket/dataset.fits")          # doctest: +SKIP
    >>> f.names                                                # doctest: +SKIP
    ['PRIMARY', 'COUNTS', 'COUNTS_BANDS', 'EXPOSURE', ...]
    >>> counts = f.read_map("COUNTS")       # lazy: 0 array bytes read   # doctest: +SKIP
    >>> gti = f.read_table("GTI")                              # doctest: +SKIP
    """

    def __init__(self, location: Location, hdus: list[HduInfo], token: str, backend: FitsBackend):
        self.location = location
        self.url = location.url
        self._hdus = hdus
        self._token = token
        self._backend = backend

    @classmethod
    def open(cls, url, *, storage_options=None, cache_dir=None, checksum=False) -> FitsFile:
        """Open a FITS file (plain or gzip-compressed), reading headers only.

        Parameters
        ----------
        url : str or os.PathLike
            Local path or fsspec URL.
        storage_options : dict, optional
            fsspec options (credentials, endpoint...).
        cache_dir : str, optional
            Where gzip-compressed files are decompressed (default ``$MAPDS_CACHE_DIR`` or
            ``~/.cache/mapds``).
        checksum : bool
            Verify ``CHECKSUM``/``DATASUM`` cards (reads the whole file; warns on mismatch).
        """
        location = url if isinstance(url, Location) else resolve(url, storage_options)
        info = location.info()
        if info.get("type") == "directory":
            raise CorruptFileError(f"{location.url!r} is a directory, not a FITS file")
        if info.get("size") is None:
            raise StorageError(f"{location.url!r}: the server does not report the file size")
        size = int(info["size"])
        token = location.identity(info)
        # The reader records the version opened (ETag, size, mtime): reads of another one fail.
        reader = range_reader(location, info)
        # On object storage the first request takes more than a block: the headers of the
        # first HDUs (and small tables) usually come with it, and a file smaller than a
        # request's worth of bytes (merge_gap) comes whole.
        first = size if size <= reader.merge_gap else max(BLOCK, reader.read_ahead)
        head = reader.read(0, min(size, first))
        if head.startswith(GZIP_MAGIC):
            from ..gzip_cache import open_cached  # deferred: the cache is a zarr store

            hdus, backend = open_cached(location, token, cache_dir=cache_dir, checksum=checksum)
            return cls(location, hdus, token, backend)
        hdus = scan_hdus(reader.read, size, location.url, head=head, read_ahead=reader.read_ahead)
        if checksum:
            verify_checksums(reader.read, hdus, location.url)
        return cls(location, hdus, token, RangedBackend(reader))

    # -- HDU directory ------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """HDU names in file order (``PRIMARY`` first, upper case)."""
        return [h.name for h in self._hdus]

    def __len__(self) -> int:
        return len(self._hdus)

    def __contains__(self, hdu) -> bool:
        try:
            self.index(hdu)
        except MissingHDUError:
            return False
        return True

    def index(self, hdu) -> int:
        """Position of an HDU given by name (case-insensitive) or index.

        Raises
        ------
        MissingHDUError
            No such HDU (the message lists the HDUs present).
        """
        if isinstance(hdu, (int, np.integer)):
            if -len(self._hdus) <= hdu < len(self._hdus):
                return int(hdu) % len(self._hdus)
        elif isinstance(hdu, str):
            name = hdu.strip().upper()
            for info in self._hdus:
                if info.name == name:
                    return info.index
        raise MissingHDUError(f"{self.url!r} has no HDU {hdu!r}; available HDUs: {self.names}")

    def info_of(self, hdu) -> HduInfo:
        """Location of an HDU in the file (offsets, sizes, header)."""
        return self._hdus[self.index(hdu)]

    def header(self, hdu) -> fits.Header:
        """A copy of an HDU's header."""
        return self.info_of(hdu).header.copy()

    def has_data(self, index: int) -> bool:
        return self._hdus[index].data_size > 0

    # -- data -----------------------------------------------------------------------------------

    def read_hdu(self, hdu):
        """An HDU with its data in memory (meant for small HDUs: tables, headers)."""
        info = self.info_of(hdu)
        data = self._backend.data_bytes(info)
        parts = [info.header.tostring(endcard=True, padding=True).encode("ascii"), data]
        parts.append(b"\0" * (-len(data) % BLOCK))
        if info.index > 0:
            parts.insert(0, _EMPTY_PRIMARY)
        try:
            return fits.HDUList.fromstring(b"".join(parts))[-1]
        except Exception as exc:
            raise CorruptFileError(f"{self.url!r}: {info.label()} cannot be decoded: {exc}") from exc

    def read_table(self, hdu) -> Table:
        """A table HDU as an astropy Table (header cards in ``meta``)."""
        info = self.info_of(hdu)
        if not info.is_table:
            raise CorruptFileError(f"{self.url!r}: {info.label()} is not a table ({info.xtension})")
        return Table.read(self.read_hdu(hdu))

    def image_array(self, hdu, as_bool: bool = False) -> tuple[LazyArray, str]:
        """The image of an HDU as a lazily read array, and a token naming it for dask."""
        info = self.info_of(hdu)
        if not info.is_image:
            raise CorruptFileError(f"{self.url!r}: {info.label()} is not an image ({info.xtension})")
        array = self._backend.image(info, as_bool, f"{self.url!r}, {info.label()}")
        return array, f"{self._token}|hdu={info.index}|bool={as_bool}"

    def read_map(self, hdu=None, hdu_bands=None, map_type="auto", format=None, *, chunks=None) -> Map:
        """A map from this file, as ``gammapy.maps.Map.read`` would give it, but lazy.

        Parameters
        ----------
        hdu : str or int, optional
            Map HDU; default: the first HDU with data.
        hdu_bands : str or int, optional
            Bands table; default from the ``BANDSHDU`` card (or Fermi ``EBOUNDS``/``ENERGIES``).
        map_type : {"auto", "wcs", "region"}
            Map type.
        format : {None, "gadf", "fgst-ccube", "fgst-template"}
            Convention; default from the bands table name.
        chunks : optional
            Dask chunks; ``{}`` gives chunks of whole rows (one contiguous range per plane).
        """
        return map_from_source(
            self, hdu=hdu, hdu_bands=hdu_bands, map_type=map_type, format=format, chunks=chunks
        )

    def __repr__(self) -> str:
        lines = [f"FitsFile({self.url!r})"]
        for info in self._hdus:
            kind = "image " + "x".join(map(str, info.shape[::-1])) if info.is_image else info.xtension.lower()
            lines.append(f"  {info.index:3d}  {info.name or '(unnamed)':<24s} {kind}")
        return "\n".join(lines)


class RangedBackend(FitsBackend):
    """Data read from the file itself with ranged reads."""

    def __init__(self, reader: RangeReader):
        self.reader = reader

    def data_bytes(self, info: HduInfo) -> bytes:
        if info.data is not None:
            return info.data
        return self.reader.read(info.data_offset, info.data_offset + info.data_size)

    def image(self, info: HduInfo, as_bool: bool, where: str) -> LazyArray:
        codec = PixelCodec.from_header(info.header, as_bool=as_bool, where=where)
        return FitsImageArray(self.reader, info.data_offset, info.shape, codec)
