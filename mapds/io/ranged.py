"""Reading many byte ranges of one file, and deciding which ranges to ask for.

Two readers share one interface: :class:`LocalRangeReader` announces all ranges to the kernel
(``posix_fadvise(WILLNEED)``, so the disk works ahead) and ``pread``s them piece by piece into
a small per-thread buffer that stays in cache, which the caller decodes straight into its
output (one descriptor per call, the GIL released during reads);
:class:`FsspecRangeReader` sends all ranges at once: conditional, checked and retried requests
for S3 and HTTP (:mod:`mapds.io.remote_reads`), ``fs.cat_ranges`` for other filesystems.
:func:`coalesce` merges nearby ranges while the bytes read stay within a bound of the bytes
needed, and on remote storage also every gap cheaper to read than a request
(:func:`~mapds.io.remote_options.merge_gap`).

Both readers record the version of the file they were created for (:class:`~.versions.FileVersion`:
size and modification time locally, ETag remotely) and raise
:class:`~mapds.errors.StaleFileError` when a read finds another one; the version travels with
a pickled reader to dask workers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFileError
from . import remote_options, remote_reads
from .remote_options import RetryPolicy
from .urls import Location, storage_errors
from .versions import FileVersion, stale

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


def coalesce(
    starts, ends, max_amplification: float = MAX_READ_AMPLIFICATION, merge_gap: int = 0
) -> Coalesced:
    """Merge sorted, non-overlapping byte ranges separated by small gaps.

    Touching ranges and ranges less than ``merge_gap`` bytes apart always merge (on object
    storage such a gap costs less to read than a request).  Further gaps are merged smallest
    first while the total bytes read stay at most ``max_amplification`` times the bytes needed.

    So no two requests start in the same ``merge_gap``-aligned block of the file (a request per
    block touched at most), and the bytes read are at most
    ``max(max_amplification * needed, blocks touched * merge_gap)``.

    Parameters
    ----------
    starts, ends : array-like of int
        Wanted ranges, sorted by start and non-overlapping.
    max_amplification : float
        Bound on (bytes read) / (bytes needed) for the gaps of ``merge_gap`` or more.
    merge_gap : int
        Gaps shorter than this are always merged (0: only touching ranges).
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
    merge = (gaps == 0) | (gaps < merge_gap)
    budget = (max_amplification - 1.0) * float(np.sum(ends - starts)) - float(np.sum(gaps[merge]))
    others = np.flatnonzero(~merge)
    order = others[np.argsort(gaps[others], kind="stable")]
    merge[order[np.cumsum(gaps[order]) <= budget]] = True
    first = np.concatenate([[0], np.flatnonzero(~merge) + 1]).astype(np.int64)
    last = np.concatenate([first[1:] - 1, [n - 1]])
    return Coalesced(starts[first], ends[last], np.append(first, n))


class RangeReader:
    """Reads byte ranges of one file into caller-provided buffers.

    Attributes
    ----------
    url : str
        The file, for messages.
    merge_gap : int
        Gap below which callers should merge neighbouring ranges into one (see :func:`coalesce`).
    read_ahead : int
        Bytes worth requesting at once when the next offset to read is not known yet (headers).
    """

    url: str
    merge_gap: int = 0
    read_ahead: int = 0

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
    range).

    Parameters
    ----------
    path : str
        The file.
    url : str, optional
        For messages (default ``path``).
    version : FileVersion, optional
        Size and modification time of the file when it was opened: every call checks the
        descriptor it reads with ``fstat`` (before and after reading) and raises
        :class:`~mapds.errors.StaleFileError` if the file is another one now.
    """

    def __init__(self, path: str, url: str | None = None, version: FileVersion | None = None):
        self.path = path
        self.url = url or path
        self.version = version

    def _open(self) -> int:
        with storage_errors(self.url):
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            self._check(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _check(self, fd: int) -> None:
        if self.version is not None:
            self.version.check(FileVersion.from_stat(os.fstat(fd)), self.url)

    def read_into(self, starts, buffers) -> None:
        fd = self._open()
        try:
            for start, buf in zip(starts, buffers, strict=True):
                self._pread_exact(fd, memoryview(buf).cast("B"), int(start))
            # A rewrite in place while reading: the bytes may mix two versions.
            self._check(fd)
        finally:
            os.close(fd)

    def pieces(self, starts, ends, pack=False) -> Iterator[tuple[int, int, memoryview]]:
        scratch = thread_buffer("read")
        size = len(scratch)
        fd = self._open()
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
            # The pieces already handed out are thrown away with the caller's output.
            self._check(fd)
        finally:
            os.close(fd)

    def _pread_exact(self, fd: int, view: memoryview, position: int) -> None:
        done = 0
        while done < len(view):
            n = os.preadv(fd, [view[done:]], position + done)
            if n == 0:
                self._check(fd)  # a file cut short since it was opened is stale, not corrupt
                raise self._short(position, len(view), done)
            done += n

    def __reduce__(self):
        return (LocalRangeReader, (self.path, self.url, self.version))


class FsspecRangeReader(RangeReader):
    """Ranged reads through an fsspec filesystem, all ranges of a call at once.

    S3 and HTTP go through :func:`mapds.io.remote_reads.fetch_ranges` (conditional on the
    ETag, checked, retried, concurrent); other filesystems through ``fs.cat_ranges``, their
    version checked with ``fs.info`` after each call.

    Parameters
    ----------
    location : Location
        The file.
    version : FileVersion, optional
        The version opened (see :func:`range_reader`); ``None`` checks nothing.
    policy : RetryPolicy, optional
        Retries of transient failures (default: the ``mapds.storage`` configuration now).
    """

    def __init__(
        self, location: Location, version: FileVersion | None = None, policy: RetryPolicy | None = None
    ):
        self.fs = location.fs
        self.path = location.path
        self.url = location.url
        self.version = version
        # Recorded now, so that they travel with the reader to dask workers.
        self.policy = policy or RetryPolicy.from_config()
        self.merge_gap = remote_options.merge_gap(self.fs)
        self.read_ahead = remote_options.read_ahead(self.fs)

    def _fetch(self, starts: list[int], ends: list[int]) -> list[bytes]:
        # Object stores reject empty ranges (S3: InvalidRange), e.g. for a table HDU with no rows.
        wanted = [idx for idx, (start, end) in enumerate(zip(starts, ends, strict=True)) if end > start]
        parts = [b""] * len(starts)
        if not wanted:
            return parts
        wanted_starts, wanted_ends = [starts[i] for i in wanted], [ends[i] for i in wanted]
        if remote_reads.handles(self.fs):
            fetched = remote_reads.fetch_ranges(
                self.fs, self.path, self.url, wanted_starts, wanted_ends, self.version, self.policy
            )
        else:
            fetched = self._cat(wanted_starts, wanted_ends)
        for idx, part in zip(wanted, fetched, strict=True):
            parts[idx] = part
        return parts

    def _cat(self, starts: list[int], ends: list[int]) -> list[bytes]:
        with storage_errors(self.url):
            if len(starts) == 1:
                fetched = [self.fs.cat_file(self.path, start=starts[0], end=ends[0])]
            else:
                fetched = self.fs.cat_ranges([self.path] * len(starts), starts, ends, on_error="raise")
        # After reading: a change during the read is caught too.
        self._check_version()
        for start, end, part in zip(starts, ends, fetched, strict=True):
            if len(part) > end - start:
                where = f"{self.url!r}, bytes {start}-{end - 1}"
                raise remote_reads.ranges_unsupported(where, f"{len(part)} bytes instead of {end - start}")
            if len(part) < end - start:
                raise self._short(start, end - start, len(part))
        return fetched

    def _check_version(self) -> None:
        if self.version is None:
            return
        with storage_errors(self.url):
            try:
                info = self.fs.info(self.path)
            except FileNotFoundError:
                raise stale(self.url, "it no longer exists") from None
        self.version.check(FileVersion.from_info(info), self.url)

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


def range_reader(location: Location, info: dict | None = None) -> RangeReader:
    """The fastest reader for a location (``pread`` for plain local files), bound to the
    version of the file it finds now.

    Parameters
    ----------
    location : Location
        The file.
    info : dict, optional
        fsspec ``info`` of the file, when the caller has it (saves a request): its ETag, size
        and modification markers become the version later reads must find.
    """
    if location.is_local:
        with storage_errors(location.url):
            version = FileVersion.from_stat(os.stat(location.path))
        return LocalRangeReader(location.path, location.url, version)
    return FsspecRangeReader(location, FileVersion.from_info(info if info is not None else location.info()))
