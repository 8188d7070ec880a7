"""Writing FITS files by streaming: headers first, then image data chunk by chunk.

The whole layout is known before any data are computed: each header's size, each data
section's offset and padded size.  The file is allocated at its final size (data padding is
zeros), headers and small tables are written in place, and :func:`dask.array.store` computes
the image chunks and writes each at its byte offsets with ``os.pwrite``, from as many threads
or workers as the scheduler runs.  Memory stays at a few chunks; nothing is written twice.
Everything goes to a temporary file beside the target that replaces it only when complete
(:func:`mapds.io.atomic.atomic_file`).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.io import fits

from ..atomic import atomic_file
from ..ranged import thread_buffer
from ..region_store import store_by_regions
from ..urls import resolve, storage_errors
from .checksum import add_checksum_cards, fill_checksums
from .headers import BLOCK
from .maps import LazyImageHDU, with_primary
from .pixels import PixelCodec
from .runs import contiguous_runs, normalize_key

__all__ = ["write_fits"]


class PixelTarget:
    """Target of :func:`dask.array.store` writing one image's chunks at their byte offsets."""

    def __init__(self, path: str, data_offset: int, shape: tuple[int, ...], codec: PixelCodec):
        self.path = path
        self.data_offset = data_offset
        self.shape = shape
        self.codec = codec

    def __setitem__(self, key, values) -> None:
        slices, _ = normalize_key(key, self.shape)
        offsets, length = contiguous_runs(self.shape, slices)
        flat = np.ascontiguousarray(values, dtype=self.codec.dtype).reshape(-1)
        file_dtype = self.codec.file_dtype
        scratch = np.frombuffer(thread_buffer("write"), dtype=file_dtype)
        # Runs fill ``flat`` back to back: encode as many as fit in the scratch buffer at once
        # (or a long run piece by piece), then write each run's bytes at its offset.
        per_fill = max(1, scratch.size // length) if length else 1
        piece = min(length, scratch.size)
        fd = os.open(self.path, os.O_WRONLY | getattr(os, "O_BINARY", 0))
        try:
            for first in range(0, len(offsets), per_fill):
                runs = offsets[first : first + per_fill].tolist()
                if length <= scratch.size:
                    encoded = scratch[: len(runs) * length]
                    self.codec.encode_into(flat[first * length : (first + len(runs)) * length], encoded)
                    # numpy's stubs give ndarray the buffer protocol for Python >= 3.12 only
                    view = memoryview(encoded).cast("B")  # type: ignore[arg-type]
                    for i, offset in enumerate(runs):
                        block = view[i * length * encoded.itemsize : (i + 1) * length * encoded.itemsize]
                        pwrite_all(fd, block, self.data_offset + offset * encoded.itemsize)
                    continue
                start = first * length
                for at in range(0, length, piece):
                    n = min(piece, length - at)
                    self.codec.encode_into(flat[start + at : start + at + n], scratch[:n])
                    pwrite_all(
                        fd,
                        memoryview(scratch[:n]).cast("B"),  # type: ignore[arg-type]
                        self.data_offset + (runs[0] + at) * scratch.itemsize,
                    )
        finally:
            os.close(fd)


def pwrite_all(fd: int, data, position: int) -> None:
    """``os.pwrite`` until every byte is written."""
    data = memoryview(data)
    while data:
        written = os.pwrite(fd, data, position)
        data, position = data[written:], position + written


def hdu_bytes(hdu, checksum: bool = False) -> bytes:
    """Complete serialisation (header, data, padding) of an in-memory astropy HDU."""
    buf = io.BytesIO()
    if isinstance(hdu, fits.PrimaryHDU):
        hdu.writeto(buf, checksum=checksum)
        return buf.getvalue()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buf, checksum=checksum)
    # Skip the empty primary HDU in front: one header block (two with checksum cards it
    # cannot have: they fit in the first block).
    return buf.getvalue()[BLOCK:]


def _with_extend(primary):
    """The primary HDU with ``EXTEND = T`` after its ``NAXISn`` cards, as astropy writes it
    when extensions follow."""
    header = primary.header
    if header.get("EXTEND") is True:
        return primary
    header = header.copy()
    if "EXTEND" in header:
        header["EXTEND"] = True
    else:
        header.set("EXTEND", True, after=f"NAXIS{header['NAXIS']}" if header["NAXIS"] else "NAXIS")
    if isinstance(primary, LazyImageHDU):
        return LazyImageHDU(header, primary.data, primary.codec)
    return fits.PrimaryHDU(data=primary.data, header=header)


def _padded(n: int) -> int:
    return BLOCK * math.ceil(n / BLOCK)


def write_fits(url, hdus: Sequence, *, overwrite=False, storage_options=None, checksum=False) -> None:
    """Write HDUs into one FITS file, streaming lazy images chunk by chunk, atomically.

    Parameters
    ----------
    url : str or os.PathLike
        Target path or fsspec URL (remote targets are written locally, then uploaded).
    hdus : sequence
        :class:`~mapds.io.fits.LazyImageHDU` (e.g. from :func:`~mapds.io.fits.map_to_hdus`)
        and astropy HDUs (tables, headers).  An empty primary HDU is added in front unless
        the first item is a primary.
    overwrite : bool
        Replace an existing target; otherwise :class:`~mapds.errors.OverwriteError`.
    storage_options : dict, optional
        fsspec options for remote targets.
    checksum : bool
        Add ``CHECKSUM``/``DATASUM`` cards to every HDU (one extra read of the written file).
    """
    hdus = with_primary(hdus)
    if len(hdus) > 1:
        hdus[0] = _with_extend(hdus[0])
    for hdu in hdus[1:]:
        if isinstance(hdu, fits.PrimaryHDU) or (isinstance(hdu, LazyImageHDU) and hdu.is_primary):
            raise ValueError("Only the first HDU of a FITS file can be a primary HDU")
    target = resolve(url, storage_options)
    # A read-only directory or a full disk: an error naming the target, not a bare OSError.
    with storage_errors(target.url), atomic_file(target, overwrite=overwrite) as tmp:
        _write_local(tmp, hdus, checksum)


def _write_local(path: str, hdus: list, checksum: bool) -> None:
    blobs: list[tuple[int, bytes]] = []
    # (hdu, header as written, header offset, data offset, padded data size)
    images: list[tuple[LazyImageHDU, fits.Header, int, int, int]] = []
    offset = 0
    for hdu in hdus:
        if isinstance(hdu, LazyImageHDU):
            header = hdu.header.copy()
            if checksum:
                add_checksum_cards(header)
            text = header.tostring(endcard=True, padding=True).encode("ascii")
            shape = tuple(int(header[f"NAXIS{i}"]) for i in range(int(header["NAXIS"]), 0, -1))
            if tuple(hdu.data.shape) != shape:
                raise ValueError(
                    f"HDU {hdu.name!r}: data shape {hdu.data.shape} does not match header {shape}"
                )
            padded = _padded(int(np.prod(shape)) * hdu.codec.file_dtype.itemsize)
            blobs.append((offset, text))
            images.append((hdu, header, offset, offset + len(text), padded))
            offset += len(text) + padded
        else:
            blob = hdu_bytes(hdu, checksum=checksum)
            blobs.append((offset, blob))
            offset += len(blob)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
    try:
        os.ftruncate(fd, offset)  # data padding is zeros
        for position, blob in blobs:
            pwrite_all(fd, blob, position)
    finally:
        os.close(fd)
    if images:
        # dask.array.store writes into any object with __setitem__ (its stubs say arrays)
        targets: list[Any] = [
            PixelTarget(path, data_offset, hdu.data.shape, hdu.codec) for hdu, _, _, data_offset, _ in images
        ]
        store_by_regions([hdu.data for hdu, *_ in images], targets)
    if checksum:
        fill_checksums(path, [(header, h_off, d_off, size) for _, header, h_off, d_off, size in images])
