"""`FitsImageArray`: an uncompressed FITS image read lazily, selection by selection.

It implements :class:`mapds.maps.lazy.LazyArray`: indexing with integers and step-1 slices
reads only the bytes of the selection.  The selection is cut into contiguous runs
(:func:`~mapds.io.fits.runs.contiguous_runs`; a selection of whole rows is one run per plane),
nearby runs are merged while that costs at most 1.5x the bytes needed — on object storage also
runs closer than the reader's ``merge_gap``, so a cutout costs one request per block of the file
it touches (:func:`~mapds.io.ranged.coalesce`) — and all ranges are requested at once.
"""

from __future__ import annotations

import numpy as np
from dask.array.core import normalize_chunks

from ...maps.chunks import DEFAULT_CHUNK_BYTES
from ..ranged import RangeReader, coalesce
from .pixels import PixelCodec
from .runs import contiguous_runs, normalize_key

__all__ = ["FitsImageArray"]


class FitsImageArray:
    """The data section of an image HDU, read on demand.

    Parameters
    ----------
    reader : `~mapds.io.ranged.RangeReader`
        Reads byte ranges of the file.
    data_offset : int
        Byte offset of the data section.
    shape : tuple of int
        Image shape (numpy order).
    codec : `PixelCodec`
        Stored pixels -> values.
    """

    def __init__(self, reader: RangeReader, data_offset: int, shape: tuple[int, ...], codec: PixelCodec):
        self.reader = reader
        self.data_offset = int(data_offset)
        self.shape = tuple(int(n) for n in shape)
        self.codec = codec

    @property
    def dtype(self) -> np.dtype:
        return self.codec.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def native_chunks(self) -> tuple[tuple[int, ...], ...]:
        """Chunks that read whole rows: full width, all leading planes, blocks of rows.

        Each such chunk is one contiguous range per plane.  Used for ``chunks={}``.
        """
        if self.ndim < 2:
            return normalize_chunks(-1, self.shape, dtype=self.dtype)
        spec = (*self.shape[:-2], "auto", -1)
        try:
            return normalize_chunks(spec, self.shape, limit=DEFAULT_CHUNK_BYTES, dtype=self.codec.file_dtype)
        except ValueError:  # one row of every plane is already larger than the target
            return normalize_chunks(
                "auto", self.shape, limit=DEFAULT_CHUNK_BYTES, dtype=self.codec.file_dtype
            )

    def __getitem__(self, key) -> np.ndarray:
        slices, dropped = normalize_key(key, self.shape)
        out = np.empty(tuple(s.stop - s.start for s in slices), dtype=self.dtype)
        if out.size:
            self._read_into(slices, out.reshape(-1))
        return out.reshape([n for d, n in enumerate(out.shape) if d not in dropped])

    def _read_into(self, slices: tuple[slice, ...], out: np.ndarray) -> None:
        """Read the selection into the flat array ``out``, decoding piece by piece."""
        offsets, length = contiguous_runs(self.shape, slices)
        file_dtype = self.codec.file_dtype
        itemsize = file_dtype.itemsize
        run_bytes = length * itemsize
        starts = self.data_offset + offsets * itemsize
        # On object storage, runs closer than a request's worth of bytes share one request.
        plan = coalesce(starts, starts + run_bytes, merge_gap=self.reader.merge_gap)
        first = plan.first.tolist()
        # Without merged requests, request g is run g and runs fill ``out`` back to back:
        # the reader may then hand over several runs per piece.
        unmerged = len(first) == len(starts) + 1
        for g, position, piece in self.reader.pieces(plan.starts.tolist(), plan.ends.tolist(), pack=unmerged):
            if unmerged or first[g + 1] - first[g] == 1:
                at = first[g] * length + position // itemsize
                self.codec.decode_into(
                    np.frombuffer(piece, file_dtype), out[at : at + len(piece) // itemsize]
                )
                continue
            # A merged request: pick the wanted runs out of it (gaps are skipped).
            group_start, end = int(plan.starts[g]), position + len(piece)
            for run in range(first[g], first[g + 1]):
                run_start = int(starts[run]) - group_start
                lo, hi = max(run_start, position), min(run_start + run_bytes, end)
                if lo < hi:
                    at = run * length + (lo - run_start) // itemsize
                    raw = np.frombuffer(piece[lo - position : hi - position], file_dtype)
                    self.codec.decode_into(raw, out[at : at + raw.size])

    def __repr__(self) -> str:
        return (
            f"FitsImageArray({self.reader.url!r}, offset={self.data_offset}, shape={self.shape}, "
            f"dtype={self.dtype})"
        )
