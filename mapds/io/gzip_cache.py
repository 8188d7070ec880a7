"""Gzip-compressed FITS files, decompressed once into a local zarr cache.

A gzip stream can only be read from the start, so ranged reads are impossible.  The first
time such a file is opened it is decompressed sequentially, HDU by HDU: headers are kept,
images are decoded and written into zarr arrays slab by slab (each slab a contiguous run of
the image, a few tens of MB, so memory stays bounded whatever the file size), other HDUs are
kept as raw bytes.  The whole stream is read, so gzip's own CRC-32 and length check the
decompressed data (a truncated or damaged file is a :class:`~mapds.errors.CorruptFileError`).

The cache entry is keyed by the URL, size and modification marker (ETag, mtime...) of the file,
compressed like map stores (Blosc LZ4), written to a temporary directory with a manifest of what
it holds (:mod:`mapds.io.integrity`) and renamed into place, and reused by later opens (also
from other processes).  Reuse checks the manifest and that every chunk it lists is there with its
size; an entry that fails is rebuilt, with a warning.  A chunk whose content turns out damaged
when read is a :class:`~mapds.errors.CorruptFileError`, and the entry is invalidated so that the
next open rebuilds it.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import json
import logging
import os
import re
import zlib
from typing import Any, cast

import numpy as np
import zarr
from astropy.io import fits

from ..errors import CorruptFileError
from .atomic import COMMIT_KEY, atomic_directory
from .fits.backend import FitsBackend
from .fits.cards import check_after_last_hdu
from .fits.headers import BLOCK, HduInfo, data_size, hdu_name, read_header
from .fits.pixels import PixelCodec
from .integrity import MANIFEST_GROUP, MARKER_ATTR, VerifiedStore, parse_manifest, write_manifest
from .urls import Location, resolve, storage_errors
from .zarr_store import STORE_COMPRESSORS, ZarrLazyArray

__all__ = ["cache_path", "default_cache_dir", "open_cached"]

log = logging.getLogger(__name__)

#: Bytes of a decompressed image converted at a time.
SLAB_BYTES = 32 * 2**20
_LAYOUT = "mapds-fits-cache-2"  # 2: compressed, checksummed, with a manifest
#: Every chunk is written, checksummed and compressed (a cache of a mostly empty image is small).
_ARRAY_OPTIONS: dict[str, Any] = {"compressors": STORE_COMPRESSORS, "config": {"write_empty_chunks": True}}


def default_cache_dir() -> str:
    """``$MAPDS_CACHE_DIR``, else ``~/.cache/mapds``."""
    return os.environ.get("MAPDS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mapds")


def cache_path(token: str, url: str, cache_dir=None) -> str:
    """Directory of the cache entry of a file identified by ``token``."""
    key = hashlib.sha256(token.encode()).hexdigest()[:24]
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(url.rstrip("/")))[:60]
    return os.path.join(os.fspath(cache_dir or default_cache_dir()), f"{stem}-{key}.zarr")


def slab_chunks(shape: tuple[int, ...], itemsize: int, target: int = SLAB_BYTES) -> tuple[int, ...]:
    """Chunk shape whose chunks are contiguous runs of a C-ordered array (whole trailing
    dimensions, a block of the next one, single indices before), about ``target`` bytes."""
    chunks = [1] * len(shape)
    size = itemsize
    for dim in range(len(shape) - 1, -1, -1):
        if size * shape[dim] <= target:
            chunks[dim] = shape[dim]
            size *= shape[dim]
        else:
            chunks[dim] = max(1, target // size)
            break
    return tuple(chunks)


class _Stream:
    """Exact-size reads from a decompressing stream, with clear errors on truncation."""

    def __init__(self, fileobj, url: str):
        self.fileobj = fileobj
        self.url = url
        self.position = 0

    def read_into(self, buf: memoryview) -> int:
        done = 0
        try:
            while done < len(buf):
                n = self.fileobj.readinto(buf[done:])
                if not n:
                    break
                done += n
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise CorruptFileError(f"{self.url!r}: corrupt or truncated gzip stream: {exc}") from exc
        self.position += done
        return done

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        done = self.read_into(memoryview(buf))
        return bytes(buf[:done])

    def read_exact(self, buf: memoryview, what: str) -> None:
        done = self.read_into(buf)
        if done < len(buf):
            raise CorruptFileError(
                f"{self.url!r}: {what} claims {len(buf)} bytes but the file ends after {done}"
            )

    def skip(self, n: int) -> None:
        self.read(n)


def _convert_image(stream: _Stream, header: fits.Header, group: zarr.Group, key: str, where: str) -> None:
    """Stream an image into a zarr array, one contiguous slab (one zarr chunk) at a time."""
    shape = tuple(int(header[f"NAXIS{i}"]) for i in range(int(header["NAXIS"]), 0, -1))
    codec = PixelCodec.from_header(header, where=where)
    chunks = slab_chunks(shape, codec.file_dtype.itemsize)
    array = group.create_array(key, shape=shape, chunks=chunks, dtype=codec.dtype, **_ARRAY_OPTIONS)
    for index in np.ndindex(*(-(-n // c) for n, c in zip(shape, chunks, strict=True))):
        region = tuple(
            slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape, strict=True)
        )
        raw = np.empty(tuple(s.stop - s.start for s in region), dtype=codec.file_dtype)
        # numpy's stubs give ndarray the buffer protocol for Python >= 3.12 only
        stream.read_exact(memoryview(raw.reshape(-1)).cast("B"), where)  # type: ignore[arg-type]
        array[region] = codec.decode(raw)


def _convert(location: Location, dest: Location) -> None:
    """Decompress ``location`` into a cache entry at ``dest``."""
    store = zarr.storage.LocalStore(dest.path)
    group = zarr.open_group(store, mode="w", zarr_format=3)
    entries: list[dict[str, Any]] = []
    with storage_errors(location.url), location.fs.open(location.path, "rb") as raw:
        stream = _Stream(gzip.GzipFile(fileobj=raw, mode="rb"), location.url)
        while True:
            index = len(entries)
            first = stream.read(BLOCK)
            if index > 0 and not first.startswith(b"XTENSION"):
                # End of file or trailing padding, unless an extension header was damaged.
                check_after_last_hdu(first, stream.position - len(first), index - 1, location.url)
                break
            pending = [first]

            def next_block(pending=pending) -> bytes:
                return pending.pop() if pending else stream.read(BLOCK)

            header, _ = read_header(next_block, index, location.url)
            name = hdu_name(header, index)
            nbytes = data_size(header, is_primary=index == 0)
            info = HduInfo(index, name, header, 0, 0, nbytes)
            where = f"{location.url!r}, {info.label()}"
            key = f"hdu{index}"
            if info.is_image and nbytes:
                _convert_image(stream, header, group, key, where)
            elif nbytes:
                data = bytearray(nbytes)
                stream.read_exact(memoryview(data), where)
                group.create_array(key, data=np.frombuffer(data, dtype="u1"), **_ARRAY_OPTIONS)
            stream.skip(info.padded_size - nbytes)
            entries.append({"name": name, "header": header.tostring(), "data_size": nbytes})
        # Read to the end: the gzip trailer's CRC-32 and length are checked only there.
        while stream.read(2**20):
            pass
    attrs: dict[str, Any] = {"layout": _LAYOUT, "source": location.url, "hdus": entries}
    group.attrs.update({**attrs, MARKER_ATTR: MANIFEST_GROUP})
    write_manifest(dest)  # last: the entry is complete


class CachedBackend(FitsBackend):
    """HDU data served from a cache entry."""

    def __init__(self, group: zarr.Group):
        self.group = group

    def data_bytes(self, info: HduInfo) -> bytes:
        if info.data_size == 0:
            return b""
        array = ZarrLazyArray(cast(zarr.Array, self.group[f"hdu{info.index}"]))
        return np.asarray(array[(slice(None),)]).tobytes()

    def image(self, info: HduInfo, as_bool: bool, where: str) -> ZarrLazyArray:
        return ZarrLazyArray(cast(zarr.Array, self.group[f"hdu{info.index}"]), as_bool=as_bool)


def _entry_problem(path: str) -> tuple[bytes | None, str | None]:
    """The manifest (bytes) of the cache entry at ``path``, and what makes the entry unusable
    (None if nothing: its manifest, layout and every chunk it lists, with their sizes, are there)."""
    manifest_path = os.path.join(path, COMMIT_KEY)
    if not os.path.exists(manifest_path):
        if not os.path.exists(path):
            return None, "absent"
        return None, f"incomplete (no {COMMIT_KEY})"
    try:
        with open(manifest_path, "rb") as f:
            data = f.read()
        manifest = parse_manifest(data, path)
        with open(os.path.join(path, "zarr.json"), "rb") as f:
            layout = json.load(f).get("attributes", {}).get("layout")
    except (CorruptFileError, OSError, ValueError, AttributeError) as exc:
        return None, f"damaged ({exc})"
    if layout != _LAYOUT:
        return None, f"of another layout ({layout!r}, expected {_LAYOUT!r})"
    for key, (size, _) in {**manifest["files"], **manifest["chunks"]}.items():
        try:
            actual = os.path.getsize(os.path.join(path, *key.split("/")))
        except OSError:
            return None, f"damaged ({key!r} is missing)"
        if actual != size:
            return None, f"damaged ({key!r} has {actual} bytes, its manifest says {size})"
    return data, None


def _invalidate(path: str) -> str:
    """Drop the manifest of a damaged cache entry, so that the next open rebuilds it."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(path, COMMIT_KEY))
    return "the cache entry is invalidated: the next open of the file rebuilds it"


def open_cached(location: Location, token: str, cache_dir=None, checksum: bool = False):
    """The HDUs of a gzip-compressed FITS file and the backend reading its cache entry (created
    on first use), for :meth:`mapds.io.FitsFile.open`.

    Parameters
    ----------
    location : Location
        The compressed file.
    token : str
        Identity of the file (URL, size, modification marker): the cache key.
    cache_dir : str, optional
        Cache directory (default :func:`default_cache_dir`).
    checksum : bool
        Accepted for symmetry with plain files; the cache holds decoded values, so checksums
        are not verified.
    """
    path = cache_path(token, location.url, cache_dir)
    entry = resolve(path)
    manifest, problem = _entry_problem(path)
    if problem is not None:
        if problem == "absent":
            log.warning(
                "%s is gzip-compressed and cannot be read at random; decompressing it once into the "
                "cache %s (later reads use the cache)",
                location.url,
                path,
            )
        else:
            log.warning(
                "The cache entry %s of %s is %s; decompressing %s into it again",
                path,
                location.url,
                problem,
                location.url,
            )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_directory(entry, overwrite=True) as tmp:
            _convert(location, tmp)
        manifest, problem = _entry_problem(path)
        if manifest is None:
            raise CorruptFileError(f"The cache entry {path!r} of {location.url!r} just written is {problem}")
    else:
        log.info("Reading %s from its decompressed cache %s", location.url, path)
    if checksum:
        log.warning(
            "Checksums of gzip-compressed %s are not verified (the cache holds decoded data)", location.url
        )
    store = VerifiedStore(
        zarr.storage.LocalStore(path, read_only=True),
        entry,
        manifest,
        functools.partial(_invalidate, path),
        name=f"cache entry {path!r} of {location.url!r}",
    )
    group = zarr.open_group(store, mode="r", zarr_format=3)
    hdus = [
        HduInfo(i, e["name"], fits.Header.fromstring(e["header"]), 0, 0, int(e["data_size"]))
        for i, e in enumerate(cast("list[dict[str, Any]]", group.attrs["hdus"]))
    ]
    return hdus, CachedBackend(group)
