"""FITS ``DATASUM``/``CHECKSUM`` cards (FITS standard, appendix J; Seaman et al. 2002).

The checksum of a byte sequence is the 32-bit ones' complement sum of its big-endian 32-bit
words.  ``DATASUM`` is that of the data section (with padding); ``CHECKSUM`` is a 16-character
encoding chosen so that the whole HDU sums to negative zero.  Streamed images get placeholder
cards when their header is laid out (cards have a fixed size, so filling them in later moves
nothing) and the values are computed from the written file in one sequential pass.
"""

from __future__ import annotations

import datetime
import os
import warnings

import numpy as np
from astropy.io import fits

__all__ = ["add_checksum_cards", "checksum_of", "encode_checksum", "fill_checksums", "verify_checksums"]

_MASK32 = 0xFFFFFFFF
_READ_BYTES = 64 * 2**20
_EXCLUDED = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))  # ASCII punctuation


def _fold(total: int) -> int:
    while total >> 32:
        total = (total & _MASK32) + (total >> 32)
    return total


def checksum_of(data, start: int = 0) -> int:
    """Ones' complement sum of ``data`` (length a multiple of 4) added to ``start``."""
    words = np.frombuffer(data, dtype=">u4")
    return _fold(start + int(np.sum(words, dtype=np.uint64)))


def encode_checksum(value: int) -> str:
    """The 16 ASCII characters that encode the complement of ``value``."""
    value = ~value & _MASK32
    chars = [[0] * 4 for _ in range(4)]
    for i in range(4):
        byte = (value >> (8 * (3 - i))) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        ch = [quotient + remainder, quotient, quotient, quotient]
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                if ch[j] in _EXCLUDED or ch[j + 1] in _EXCLUDED:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            chars[j][i] = ch[j]
    flat = [c for row in chars for c in row]
    return "".join(chr(flat[(i + 15) % 16]) for i in range(16))


def _stamp() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


def add_checksum_cards(header: fits.Header) -> None:
    """Placeholder ``CHECKSUM``/``DATASUM`` cards (as astropy places them, at the end)."""
    header["CHECKSUM"] = ("0" * 16, f"HDU checksum updated {_stamp()}")
    header["DATASUM"] = ("0", f"data unit checksum updated {_stamp()}")


def _data_checksum(fd: int, offset: int, size: int) -> int:
    total = 0
    while size > 0:
        block = os.pread(fd, min(size, _READ_BYTES), offset)
        if not block:
            raise OSError("file ends before the data section")
        total = checksum_of(block, total)
        offset, size = offset + len(block), size - len(block)
    return total


def fill_checksums(path: str, hdus) -> None:
    """Compute and write the checksum cards of HDUs whose header has placeholders.

    Parameters
    ----------
    path : str
        Local file.
    hdus : iterable of (header, header_offset, data_offset, padded_data_size)
        The headers as written (same card count, so the rewrite keeps the layout).
    """
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        for header, header_offset, data_offset, padded_size in hdus:
            header = header.copy()
            datasum = _data_checksum(fd, data_offset, padded_size)
            header["DATASUM"] = str(datasum)
            header["CHECKSUM"] = "0" * 16
            text = header.tostring(endcard=True, padding=True).encode("ascii")
            header["CHECKSUM"] = encode_checksum(checksum_of(text, datasum))
            text = header.tostring(endcard=True, padding=True).encode("ascii")
            if len(text) != data_offset - header_offset:
                raise RuntimeError("checksum cards changed the header size")
            os.pwrite(fd, text, header_offset)
    finally:
        os.close(fd)


def verify_checksums(read, hdus, url: str) -> None:
    """Warn (as astropy does) for every HDU whose ``CHECKSUM`` or ``DATASUM`` does not match.

    Parameters
    ----------
    read : callable
        ``read(start, end)`` -> bytes of the file.
    hdus : sequence of `~mapds.io.fits.headers.HduInfo`
        The file's HDUs.
    url : str
        For messages.
    """
    for info in hdus:
        if "CHECKSUM" not in info.header and "DATASUM" not in info.header:
            continue
        datasum = 0
        position, end = info.data_offset, info.data_offset + info.padded_size
        while position < end:
            block = read(position, min(end, position + _READ_BYTES))
            datasum = checksum_of(block + b"\0" * (-len(block) % 4), datasum)
            position += len(block)
        if "DATASUM" in info.header and str(info.header["DATASUM"]).strip() != str(datasum):
            warnings.warn(f"{url!r}: DATASUM verification failed for {info.label()}", stacklevel=3)
        if "CHECKSUM" in info.header:
            header_bytes = read(info.header_offset, info.data_offset)
            if checksum_of(header_bytes, datasum) != _MASK32:
                warnings.warn(f"{url!r}: CHECKSUM verification failed for {info.label()}", stacklevel=3)
