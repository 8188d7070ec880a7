"""Reading many byte ranges of one file, and deciding which ranges to ask for.

Two readers share one interface: :class:`LocalRangeReader` uses ``os.pread`` straight into the
caller's buffers (no per-range ``open``, no intermediate copies, the GIL released during the
read), :class:`FsspecRangeReader` sends all ranges at once through ``fs.cat_ranges``, which
remote filesystems (s3fs, gcsfs, HTTP) run concurrently.  :func:`coalesce` merges nearby
ranges only while the bytes read stay within a bound of the bytes needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFileError
from .urls import Location, storage_errors

__all__ = ["FsspecRangeReader", "LocalRangeReader", "RangeReader", "coalesce", "range_reader"]

#: Largest ratio of bytes read to bytes needed that merging neighbouring ranges may cause.
MAX_READ_AMPLIFICATION = 1.5


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

    def _short(self, start: int, wanted: int, got: int) -> CorruptFileError:
        return CorruptFileError(
            f"{self.url!r}: expected {wanted} bytes at offset {start}, but the file ends after {got}"
        )


class LocalRangeReader(RangeReader):
    """``os.pread`` on a local file (one descriptor per call, no Python-level copies)."""

    def __init__(self, path: str, url: str | None = None):
        self.path = path
        self.url = url or path

    def read_into(self, starts, buffers) -> None:
        with storage_errors(self.url):
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            for start, buf in zip(starts, buffers, strict=True):
                view = memoryview(buf).cast("B")
                done = 0
                while done < len(view):
                    n = os.preadv(fd, [view[done:]], int(start) + done)
                    if n == 0:
                        raise self._short(int(start), len(view), done)
                    done += n
        finally:
            os.close(fd)

    def __reduce__(self):
        return (LocalRangeReader, (self.path, self.url))


class FsspecRangeReader(RangeReader):
    """``fs.cat_ranges`` on any fsspec filesystem (concurrent requests on async ones)."""

    def __init__(self, location: Location):
        self.fs = location.fs
        self.path = location.path
        self.url = location.url

    def read_into(self, starts, buffers) -> None:
        starts = [int(s) for s in starts]
        ends = [s + memoryview(b).nbytes for s, b in zip(starts, buffers, strict=True)]
        if not starts:
            return
        with storage_errors(self.url):
            if len(starts) == 1:
                parts = [self.fs.cat_file(self.path, start=starts[0], end=ends[0])]
            else:
                parts = self.fs.cat_ranges([self.path] * len(starts), starts, ends, on_error="raise")
        for start, end, buf, part in zip(starts, ends, buffers, parts, strict=True):
            if isinstance(part, BaseException):
                with storage_errors(self.url):
                    raise part
            if len(part) != end - start:
                raise self._short(start, end - start, len(part))
            memoryview(buf).cast("B")[:] = part


def range_reader(location: Location) -> RangeReader:
    """The fastest reader for a location (``pread`` for plain local files)."""
    if location.is_local:
        return LocalRangeReader(location.path, location.url)
    return FsspecRangeReader(location)
