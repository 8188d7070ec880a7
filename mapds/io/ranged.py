"""Reading many byte ranges of one file, and deciding which ranges to ask for.

Two readers share one interface: :class:`LocalRangeReader` announces all ranges to the kernel
(``posix_fadvise(WILLNEED)``, so the disk works ahead) and ``pread``s them piece by piece into
a small per-thread buffer that stays in cache, which the caller decodes straight into its
output (one descriptor per call, the GIL released during reads);
:class:`FsspecRangeReader` sends all ranges at once through ``fs.cat_ranges``, which remote
filesystems (s3fs, gcsfs, HTTP) run concurrently.  :func:`coalesce` merges nearby ranges only
while the bytes read stay within a bound of the bytes needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFileError
from .urls import Location, storage_errors

__all__ = [
    "FsspecRangeReader",
    "LocalRangeReader",
    "RangeReader",
    "coalesce",
    "range_reader",
    "thread_buffer",
]

#: Largest ratio of bytes read to bytes needed that merging neighbouring ranges may cause.
MAX_READ_AMPLIFICATION = 1.5
#: Size of the per-thread buffer local reads go through (cache-sized, a multiple of 8).
SCRATCH_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Coalesced:
    """Ranges to request, and which of the wanted ranges each one serves.

    Attributes
    ----------
    starts, ends : ndarray of int64
        Byte ranges to read.
    first : ndarray of int64
        ``first[g]`` is the index of the first wanted range served by request ``g``; request
        ``g`` serves wanted ranges ``first[g]:first[g + 1]`` (with ``first[-1] = n_wanted``).
    """

    starts: np.ndarray
    ends: np.ndarray
    first: np.ndarray


def coalesce(starts, ends, max_amplification: float = MAX_READ_AMPLIFICATION) -> Coalesced:
    """Merge sorted, non-overlapping byte ranges separated by small gaps.

    Gaps are merged smallest first while the total bytes read stay at most
    ``max_amplification`` times the bytes needed; touching ranges always merge.

    Parameters
    ----------
    starts, ends : array-like of int
        Wanted ranges, sorted by start and non-overlapping.
    max_amplification : float
        Bound on (bytes read) / (bytes needed).
    """
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    n = starts.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Coalesced(empty, empty, np.zeros(1, dtype=np.int64))
    gaps = starts[1:] - ends[:-1]
    if np.any(gaps < 0):
        raise ValueError("ranges must be sorted and non-overlapping")
    budget = (max_amplification - 1.0) * float(np.sum(ends - starts))
    order = np.argsort(gaps, kind="stable")
    merge = np.zeros(n - 1, dtype=bool)
    merge[order[np.cumsum(gaps[order]) <= budget]] = True
    merge |= gaps == 0
    first = np.concatenate([[0], np.flatnonzero(~merge) + 1]).astype(np.int64)
    last = np.concatenate([first[1:] - 1, [n - 1]])
    return Coalesced(starts[first], ends[last], np.append(first, n))


class RangeReader:
    """Reads byte ranges of one file into caller-provided buffers."""

    url: str

    def read_into(self, starts: Sequence[int], buffers: Sequence[memoryview]) -> None:
        """Fill ``buffers[i]`` with the bytes starting at ``starts[i]``."""
        raise NotImplementedError

    def read(self, start: int, end: int) -> bytes:
        """The bytes ``[start, end)``."""
        out = bytearray(end - start)
        self.read_into([start], [memoryview(out)])
        return bytes(out)

    def pieces(
        self, starts: Sequence[int], ends: Sequence[int], pack: bool = False
    ) -> Iterator[tuple[int, int, memoryview]]:
        """Read ranges ``[starts[i], ends[i])``, yielding ``(i, offset in range i, bytes)``.

        With ``pack``, a piece may hold several consecutive whole ranges (``i`` is the first
        one), for callers that place the ranges back to back anyway.  A piece is only valid
        until the next one is requested (it may live in a reused buffer): consume it at once.
        """
        raise NotImplementedError

    def _short(self, start: int, wanted: int, got: int) -> CorruptFileError:
        return CorruptFileError(
            f"{self.url!r}: expected {wanted} bytes at offset {start}, but the file ends after {got}"
        )


class LocalRangeReader(RangeReader):
    """``os.pread`` on a local file (one descriptor per call, readahead hints, no ``open`` per
    range)."""

    def __init__(self, path: str, url: str | None = None):
        self.path = path
        self.url = url or path

    def read_into(self, starts, buffers) -> None:
        with storage_errors(self.url):
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            for start, buf in zip(starts, buffers, strict=True):
                self._pread_exact(fd, memoryview(buf).cast("B"), int(start))
        finally:
            os.close(fd)

    def pieces(self, starts, ends, pack=False) -> Iterator[tuple[int, int, memoryview]]:
        scratch = thread_buffer("read")
        size = len(scratch)
        with storage_errors(self.url):
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            if hasattr(os, "posix_fadvise"):
                # Announce every range first: the kernel reads ahead while pieces are decoded.
                for start, end in zip(starts, ends, strict=True):
                    os.posix_fadvise(fd, int(start), int(end) - int(start), os.POSIX_FADV_WILLNEED)
            first, filled = 0, 0
            for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
                start, end = int(start), int(end)
                if pack and end - start <= size:
                    if filled + end - start > size:
                        yield first, 0, scratch[:filled]
                        filled = 0
                    if filled == 0:
                        first = index
                    self._pread_exact(fd, scratch[filled : filled + end - start], start)
                    filled += end - start
                    continue
                if filled:
                    yield first, 0, scratch[:filled]
                    filled = 0
                for position in range(start, end, size):
                    n = min(size, end - position)
                    self._pread_exact(fd, scratch[:n], position)
                    yield index, position - start, scratch[:n]
            if filled:
                yield first, 0, scratch[:filled]
        finally:
            os.close(fd)

    def _pread_exact(self, fd: int, view: memoryview, position: int) -> None:
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], position + done)
            if n == 0:
                raise self._short(position, len(view), done)
            done += n

    def __reduce__(self):
        return (LocalRangeReader, (self.path, self.url))


class FsspecRangeReader(RangeReader):
    """``fs.cat_ranges`` on any fsspec filesystem (concurrent requests on async ones)."""

    def __init__(self, location: Location):
        self.fs = location.fs
        self.path = location.path
        self.url = location.url

    def _fetch(self, starts: list[int], ends: list[int]) -> list[bytes]:
        # Object stores reject empty ranges (S3: InvalidRange), e.g. for a table HDU with no rows.
        wanted = [idx for idx, (start, end) in enumerate(zip(starts, ends, strict=True)) if end > start]
        parts = [b""] * len(starts)
        with storage_errors(self.url):
            if len(wanted) == 1:
                idx = wanted[0]
                parts[idx] = self.fs.cat_file(self.path, start=starts[idx], end=ends[idx])
            elif wanted:
                fetched = self.fs.cat_ranges(
                    [self.path] * len(wanted),
                    [starts[idx] for idx in wanted],
                    [ends[idx] for idx in wanted],
                    on_error="raise",
                )
                for idx, part in zip(wanted, fetched, strict=True):
                    parts[idx] = part
        for start, end, part in zip(starts, ends, parts, strict=True):
            if len(part) != end - start:
                raise self._short(start, end - start, len(part))
        return parts

    def read_into(self, starts, buffers) -> None:
        starts = [int(s) for s in starts]
        ends = [s + memoryview(b).nbytes for s, b in zip(starts, buffers, strict=True)]
        if starts:
            for buf, part in zip(buffers, self._fetch(starts, ends), strict=True):
                memoryview(buf).cast("B")[:] = part

    def pieces(self, starts, ends, pack=False) -> Iterator[tuple[int, int, memoryview]]:
        starts, ends = [int(s) for s in starts], [int(e) for e in ends]
        if starts:
            for index, part in enumerate(self._fetch(starts, ends)):
                yield index, 0, memoryview(part)


_local = threading.local()


def thread_buffer(purpose: str = "read") -> memoryview:
    """This thread's reusable ``SCRATCH_BYTES`` buffer for ``purpose`` (paged in once, so
    system calls copying into it do not fault, and it stays in cache)."""
    buffers = _local.__dict__.setdefault("buffers", {})
    if purpose not in buffers:
        buffers[purpose] = memoryview(bytearray(SCRATCH_BYTES))
    return buffers[purpose]


def range_reader(location: Location) -> RangeReader:
    """The fastest reader for a location (``pread`` for plain local files)."""
    if location.is_local:
        return LocalRangeReader(location.path, location.url)
    return FsspecRangeReader(location)
