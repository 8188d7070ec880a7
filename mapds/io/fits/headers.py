"""Scanning a FITS file's HDU headers with ranged reads, skipping the data.

A FITS file is a sequence of HDUs, each a header of 2880-byte blocks of 80-character cards
ending with ``END``, followed by a data section padded to 2880 bytes whose size the header
determines.  :func:`scan_hdus` reads the headers block by block, parses them with astropy,
computes where each data section starts and how long it is, and jumps to the next header
without reading image data.  The data of small tables (BANDS, GTI, region tables...) are
fetched in the same request as the header that follows them, since they will be read anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from astropy.io import fits

from ...errors import CorruptFileError
from .cards import check_after_last_hdu, check_size_cards

__all__ = ["BLOCK", "SMALL_TABLE_BYTES", "HduInfo", "data_size", "hdu_name", "read_header", "scan_hdus"]

#: FITS block size in bytes.
BLOCK = 2880
#: Tables up to this size are read together with the header scan.
SMALL_TABLE_BYTES = 4 * 2**20
_CARD = 80
#: Longest header read (36000 cards): a header whose END card is lost would otherwise be read on
#: through the data that follow it when they are text or zeros, into memory, to the end of the file.
MAX_HEADER_BLOCKS = 1000
_END_CARD = b"END" + b" " * 77


@dataclass
class HduInfo:
    """Where one HDU lives in its file.

    Attributes
    ----------
    index : int
        Position in the file (0 = primary).
    name : str
        ``EXTNAME`` (upper case), ``"PRIMARY"`` for the primary HDU, ``""`` if unnamed.
    header : `~astropy.io.fits.Header`
        The parsed header.
    header_offset, data_offset : int
        Byte offsets of the header and of the data section.
    data_size : int
        Size of the data in bytes, without padding.
    data : bytes, optional
        The data bytes, when they were read during the scan (small tables).
    """

    index: int
    name: str
    header: fits.Header
    header_offset: int
    data_offset: int
    data_size: int
    data: bytes | None = field(default=None, repr=False)

    @property
    def xtension(self) -> str:
        return "PRIMARY" if self.index == 0 else str(self.header.get("XTENSION", "")).strip().upper()

    @property
    def is_image(self) -> bool:
        """An image HDU (primary or IMAGE extension) holding data."""
        return self.xtension in ("PRIMARY", "IMAGE") and self.header.get("NAXIS", 0) > 0

    @property
    def is_table(self) -> bool:
        return self.xtension in ("BINTABLE", "TABLE")

    @property
    def shape(self) -> tuple[int, ...]:
        """Image shape in numpy order (``NAXISn`` reversed)."""
        return tuple(int(self.header[f"NAXIS{i}"]) for i in range(int(self.header["NAXIS"]), 0, -1))

    @property
    def padded_size(self) -> int:
        return BLOCK * math.ceil(self.data_size / BLOCK)

    @property
    def end(self) -> int:
        """Offset just after the (padded) data section: where the next HDU starts."""
        return self.data_offset + self.padded_size

    def label(self) -> str:
        return f"HDU {self.name!r} (#{self.index})" if self.name else f"HDU #{self.index}"


def data_size(header: fits.Header, is_primary: bool) -> int:
    """Bytes of data an HDU header announces (FITS standard, section 4.4.1)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if is_primary and header.get("GROUPS", False) and dims[0] == 0:
        dims = dims[1:]  # random groups
    count = math.prod(dims)
    pcount = int(header.get("PCOUNT", 0))
    gcount = int(header.get("GCOUNT", 1))
    return abs(int(header["BITPIX"])) // 8 * gcount * (pcount + count)


class _ScanReader:
    """Block reads with a one-window cache, so prefetched bytes are not requested twice.

    A read missing the window requests at least ``read_ahead`` bytes: where requests are
    expensive (object storage), a header of several blocks, the small table after it and the
    next header come in one request instead of one per block.
    """

    def __init__(self, read: Callable[[int, int], bytes], size: int, head: bytes = b"", read_ahead: int = 0):
        self._read = read
        self.size = size
        self._start = 0
        self._buf = head
        self.read_ahead = read_ahead

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if self._start <= start and end <= self._start + len(self._buf):
            return self._buf[start - self._start : end - self._start]
        self._start = start
        self._buf = self._read(start, min(self.size, max(end, start + self.read_ahead)))
        return self._buf[: end - start]

    def blocks_from(self, offset: int) -> Callable[[], bytes]:
        """A function returning the consecutive blocks starting at ``offset``."""

        def next_block() -> bytes:
            nonlocal offset
            block = self.read(offset, offset + BLOCK)
            offset += BLOCK
            return block

        return next_block


def read_header(next_block: Callable[[], bytes], index: int, url: str) -> tuple[fits.Header, int]:
    """Parse one header from consecutive 2880-byte blocks.

    Parameters
    ----------
    next_block : callable
        Returns the next block of the header (fewer bytes at the end of the file).
    index : int
        HDU number, for messages (HDU 0 must start with ``SIMPLE``).
    url : str
        For messages.

    Returns
    -------
    header : `~astropy.io.fits.Header`
    n_bytes : int
        Bytes the header occupies (a multiple of 2880).
    """
    blocks: list[bytes] = []
    while True:
        block = next_block()
        if len(block) < BLOCK:
            raise CorruptFileError(
                f"{url!r}: the file ends inside the header of HDU #{index}: no END card after "
                f"{sum(map(len, blocks)) + len(block)} bytes"
            )
        if index == 0 and not blocks and not block.startswith(b"SIMPLE  ="):
            raise CorruptFileError(f"{url!r} is not a FITS file: it does not start with 'SIMPLE  ='")
        _check_header_block(block, blocks, index, url)
        blocks.append(block)
        if any(block[i : i + _CARD] == _END_CARD for i in range(0, BLOCK, _CARD)):
            break
    try:
        header = fits.Header.fromstring(b"".join(blocks).decode("ascii"))
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"{url!r}: the header of HDU #{index} cannot be parsed: {exc}") from exc
    if index > 0 and "XTENSION" not in header:
        raise CorruptFileError(f"{url!r}: HDU #{index} has no XTENSION card")
    check_size_cards(header, index, url)
    return header, BLOCK * len(blocks)


def _check_header_block(block: bytes, previous: list[bytes], index: int, url: str) -> None:
    """Refuse a header block that cannot belong to the header being read.

    A header is printable ASCII; a block that starts another header, or holds binary bytes,
    means that the END card is missing or that the header is damaged.  Checked block by block
    so that the message names the card, and so that a header without END does not swallow
    the rest of the file.
    """
    if len(previous) >= MAX_HEADER_BLOCKS:
        raise CorruptFileError(
            f"{url!r}: the header of HDU #{index} has no END card in its first {BLOCK * len(previous)} "
            "bytes: a missing END card or a damaged header"
        )
    if previous and block.startswith((b"XTENSION= ", b"SIMPLE  = ")):
        raise CorruptFileError(
            f"{url!r}: the header of HDU #{index} has no END card: another header "
            f"({block[:20].decode('ascii')!r}) starts after {BLOCK * len(previous)} bytes of it"
        )
    if not block.isascii():
        position = next(i for i, byte in enumerate(block) if byte > 127)
        card = block[position - position % _CARD : position - position % _CARD + _CARD]
        if sum(32 <= byte < 127 for byte in card) >= 0.9 * _CARD:  # a text card with a bad byte
            where = f"in card {card.decode('ascii', 'replace').rstrip()!r}"
        else:
            where = f"in binary data {BLOCK * len(previous) + position} bytes into it: a missing END card?"
        raise CorruptFileError(
            f"{url!r}: the header of HDU #{index} holds the non-ASCII byte 0x{block[position]:02x} {where}"
        )


def hdu_name(header: fits.Header, index: int) -> str:
    """Name under which astropy lists an HDU (upper case)."""
    return "PRIMARY" if index == 0 else str(header.get("EXTNAME", "")).strip().upper()


def hdu_data_size(header: fits.Header, index: int, url: str) -> int:
    """:func:`data_size` with malformed cards reported as a corrupt file."""
    try:
        return data_size(header, is_primary=index == 0)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFileError(f"{url!r}: HDU #{index} has malformed size cards: {exc}") from exc


def scan_hdus(
    read: Callable[[int, int], bytes], size: int, url: str, head: bytes = b"", read_ahead: int = 0
) -> list[HduInfo]:
    """Headers and data locations of every HDU of a FITS file.

    Parameters
    ----------
    read : callable
        ``read(start, end)`` returns the bytes ``[start, end)`` of the file.
    size : int
        File size in bytes.
    url : str
        For error messages.
    head : bytes, optional
        The first bytes of the file, when already read.
    read_ahead : int
        Least number of bytes per request (see ``RangeReader.read_ahead``); 0 reads headers
        block by block.

    Raises
    ------
    CorruptFileError
        The file is not FITS, a header is unreadable, or a data section runs past the end of
        the file.
    """
    reader = _ScanReader(read, size, head, read_ahead)
    hdus: list[HduInfo] = []
    offset = 0
    while True:
        index = len(hdus)
        header, header_bytes = read_header(reader.blocks_from(offset), index, url)
        data_offset = offset + header_bytes
        nbytes = hdu_data_size(header, index, url)
        info = HduInfo(index, hdu_name(header, index), header, offset, data_offset, nbytes)
        if data_offset + nbytes > size:
            raise CorruptFileError(
                f"{url!r}: {info.label()} claims {nbytes} bytes of data but the file ends after "
                f"{max(size - data_offset, 0)}"
            )
        if info.is_table and 0 < nbytes <= SMALL_TABLE_BYTES:
            # The table will be read anyway; take the next header block in the same request.
            reader.read(data_offset, info.end + BLOCK)
            info.data = reader.read(data_offset, data_offset + nbytes)
        hdus.append(info)
        offset = info.end
        if offset >= size:
            return hdus
        block = reader.read(offset, offset + BLOCK)
        if not block.startswith(b"XTENSION"):
            # Trailing padding or special records after the last HDU (astropy ignores them),
            # unless they are a header whose XTENSION card was damaged.
            check_after_last_hdu(block, offset, index, url)
            return hdus
