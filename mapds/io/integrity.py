"""What a complete zarr store written by mapds holds, and reads that check it.

zarr returns the fill value for a chunk that is not in the store, so a store that lost a chunk
(a deleted file, an object removed on S3, a damaged cache entry) would otherwise read as zeros or
NaNs: a wrong answer without an error.  Every store mapds writes (a map, a dataset group, a
gzip-FITS cache entry) therefore records what it holds:

- every chunk of the grid is written, even one that holds only the fill value
  (``write_empty_chunks``), so every chunk has a key;
- the codecs of every array end with zarr's ``crc32c`` codec, so every chunk carries the
  checksum of its encoded bytes, computed where the chunk was written (a dask worker) and checked
  by every zarr reader when it decodes the chunk;
- the manifest lists every key with its size and checksum, and a commit id unique to the write.
  It is written last: on object storage, where a store is published key by key, a store is
  complete exactly when its manifest is there (:func:`mapds.io.atomic.atomic_directory`);
- the root attributes say ``mapds_manifest: "mapds-manifest"``, so a reader knows that a store
  without its manifest is incomplete rather than a plain zarr store.

The manifest is the metadata of an empty zarr group ``mapds-manifest`` at the root of the store
(key ``mapds-manifest/zarr.json``, :data:`~mapds.io.atomic.COMMIT_KEY`): zarr and xarray list it
as a group instead of warning about an object they do not know.  Its attributes::

    {"format": "mapds-manifest/1",
     "commit": "<32 hex digits>",
     "written": "<UTC time>",
     "files": {"<key>": [size, crc32c], ...},
     "chunks": {"<key>": [size, crc32c], ...},
     "inline": {"<key>": "<base64 of its bytes>", ...}}

``chunks`` are the chunks of arrays whose codecs end with ``crc32c``: the checksum is the one
stored in their last four bytes.  ``files`` are the other keys (``zarr.json`` metadata...): the
checksum is that of all their bytes.  ``inline`` holds the bytes of the small keys (every
``zarr.json``, coordinate arrays), so that opening a store is one request: on object storage each
of them would otherwise be a request of its own, one after the other (417 for a small dataset).

Reads go through :class:`VerifiedStore`, which loads the manifest when the store is opened (one
small request), serves the inlined keys and every listing from it, and checks each other key it
serves against it, without any further request: a listed
chunk that is absent, or whose size or stored checksum differ, is re-checked against the
manifest now in storage — a different commit (or none) is a :class:`~mapds.errors.StaleFileError`
(the store was replaced after it was opened), the same commit a
:class:`~mapds.errors.CorruptFileError` naming the store, the array and the chunk.  A chunk whose
content does not match its checksum fails in zarr's ``crc32c`` codec; :func:`checksum_error`
names it.  Stores without a manifest and without the root attribute (written by plain xarray or
zarr) keep zarr's semantics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import posixpath
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.abc.store import ByteRequest, Store
from zarr.codecs import Crc32cCodec
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import WrapperStore

from ..errors import CorruptFileError, StaleFileError, StorageError
from .atomic import COMMIT_KEY, recover
from .urls import Location, storage_errors

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_GROUP",
    "MARKER_ATTR",
    "VerifiedStore",
    "build_manifest",
    "checked_codecs",
    "checksum_error",
    "describe_key",
    "open_verified",
    "parse_manifest",
    "read_manifest",
    "write_manifest",
]

MANIFEST_FORMAT = "mapds-manifest/1"
#: Keys at most this long are inlined in the manifest (metadata, coordinates, small chunks)...
INLINE_MAX_BYTES = 16 * 2**10
#: ... as long as all inlined keys together stay below this (the manifest is read at every open).
INLINE_BUDGET_BYTES = 2**20
#: Root attribute of every store mapds writes, naming its manifest group.
MARKER_ATTR = "mapds_manifest"
#: Name of the manifest group (the value of the root attribute MARKER_ATTR).
MANIFEST_GROUP = COMMIT_KEY.split("/")[0]


def checked_codecs(compressors: Iterable) -> tuple:
    """``compressors`` followed by zarr's ``crc32c`` codec (every chunk carries its checksum)."""
    return (*compressors, Crc32cCodec())


def crc32c(data) -> int:
    """crc32c of bytes or of a contiguous uint8 numpy array."""
    return int(google_crc32c.value(data))


# -- writing -----------------------------------------------------------------------------------


def _listing(location: Location) -> dict[str, int]:
    """Size of every key of the store at ``location`` (relative keys, ``/``-separated)."""
    sizes: dict[str, int] = {}
    if location.is_local:
        root = location.path
        for directory, _, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                key = os.path.relpath(path, root).replace(os.sep, "/")
                sizes[key] = os.path.getsize(path)
    else:
        fs = location.fs
        root = location.path.rstrip("/")
        fs.invalidate_cache(root)  # the store was written through another filesystem instance
        for path, info in fs.find(root, detail=True).items():
            sizes[path[len(root) + 1 :]] = int(info["size"])
    sizes.pop(COMMIT_KEY, None)
    return sizes


def _read_keys(location: Location, keys: list[str], sizes: dict[str, int], tail: int | None) -> list[bytes]:
    """The bytes of ``keys`` (only their last ``tail`` bytes if given)."""
    if not keys:
        return []
    if location.is_local:
        out = []
        for key in keys:
            with open(os.path.join(location.path, key), "rb") as f:
                if tail is not None:
                    f.seek(-tail, os.SEEK_END)
                out.append(f.read())
        return out
    root = location.path.rstrip("/")
    paths = [f"{root}/{key}" for key in keys]
    if tail is None:
        found = location.fs.cat(paths, on_error="raise")
        return [found[path] for path in paths]
    # One batch of ranged reads (concurrent on async filesystems such as s3fs).
    starts = [sizes[key] - tail for key in keys]
    ends = [sizes[key] for key in keys]
    return list(location.fs.cat_ranges(paths, starts, ends, on_error="raise"))


def _array_docs(metadata: dict[str, bytes]) -> Iterator[tuple[str, dict]]:
    """``(chunk-key prefix "<array>/c", metadata)`` of every array among the ``zarr.json`` files."""
    for key, data in metadata.items():
        try:
            doc = json.loads(data)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("node_type") == "array":
            array = posixpath.dirname(key)
            yield (f"{array}/c" if array else "c"), doc


def _is_checksummed(doc: dict) -> bool:
    """Whether an array's chunks end with the ``crc32c`` checksum, under default chunk keys."""
    codecs = [c.get("name") if isinstance(c, dict) else c for c in doc.get("codecs", [])]
    encoding = doc.get("chunk_key_encoding", {})
    default_keys = (
        encoding.get("name") == "default" and encoding.get("configuration", {}).get("separator", "/") == "/"
    )
    return bool(codecs) and codecs[-1] == "crc32c" and "sharding_indexed" not in codecs and default_keys


def _is_vector(doc: dict) -> bool:
    """Whether an array has at most one dimension (a coordinate or a table column)."""
    shape = doc.get("shape", ())
    return isinstance(shape, list | tuple) and len(shape) <= 1


def build_manifest(location: Location) -> dict[str, Any]:
    """The manifest of the complete store at ``location`` (a new commit id).

    Metadata files are read whole (they are small); of each chunk only the four bytes holding its
    checksum are read.
    """
    with storage_errors(location.url):
        sizes = _listing(location)
        meta_keys = sorted(k for k in sizes if posixpath.basename(k) == "zarr.json")
        metadata = dict(zip(meta_keys, _read_keys(location, meta_keys, sizes, None), strict=True))
        arrays = list(_array_docs(metadata))
        prefixes = [prefix for prefix, doc in arrays if _is_checksummed(doc)]
        chunk_keys = sorted(
            k
            for k in sizes
            if k not in metadata and sizes[k] >= 4 and any(k == p or k.startswith(p + "/") for p in prefixes)
        )
        chunk_set = set(chunk_keys)
        other_keys = sorted(k for k in sizes if k not in metadata and k not in chunk_set)
        others = dict(zip(other_keys, _read_keys(location, other_keys, sizes, None), strict=True))
        # Chunks of coordinate and table columns (arrays of at most one dimension) are inlined;
        # maps' chunks are not: their reads are the ones checked against the manifest.
        vectors = [prefix for prefix, doc in arrays if _is_vector(doc)]
        small = [
            k
            for k in chunk_keys
            if sizes[k] <= INLINE_MAX_BYTES and any(k == p or k.startswith(p + "/") for p in vectors)
        ]
        small_chunks = dict(zip(small, _read_keys(location, small, sizes, None), strict=True))
        large = [k for k in chunk_keys if k not in small_chunks]
        tails = dict(zip(large, _read_keys(location, large, sizes, 4), strict=True))
    files = {k: [sizes[k], crc32c(v)] for k, v in {**metadata, **others}.items()}
    stored = {**small_chunks, **tails}
    chunks = {k: [sizes[k], int.from_bytes(stored[k][-4:], "little")] for k in chunk_keys}
    return {
        "format": MANIFEST_FORMAT,
        "commit": uuid.uuid4().hex,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": dict(sorted(files.items())),
        "chunks": chunks,
        "inline": _inline({**metadata, **others, **small_chunks}),
    }


def _inline(contents: dict[str, bytes]) -> dict[str, str]:
    """The small keys' bytes (base64), metadata first, within :data:`INLINE_BUDGET_BYTES`."""
    inline, total = {}, 0
    for key in sorted(contents, key=lambda k: (posixpath.basename(k) != "zarr.json", len(contents[k]), k)):
        data = contents[key]
        if len(data) > INLINE_MAX_BYTES or total + len(data) > INLINE_BUDGET_BYTES:
            continue
        inline[key] = base64.b64encode(data).decode("ascii")
        total += len(data)
    return inline


def write_manifest(location: Location) -> str:
    """Record what the complete store at ``location`` holds in its manifest (written last).

    Call it when everything else of the store is written, inside
    :func:`~mapds.io.atomic.atomic_directory`.

    Returns
    -------
    str
        The commit id of the store.
    """
    manifest = build_manifest(location)
    document = {"zarr_format": 3, "node_type": "group", "attributes": manifest}
    data = json.dumps(document, separators=(",", ":")).encode()
    with storage_errors(location.url):
        if location.is_local:
            os.makedirs(os.path.join(location.path, MANIFEST_GROUP), exist_ok=True)
            with open(os.path.join(location.path, COMMIT_KEY), "wb") as f:
                f.write(data)
                f.flush()
                # The rename that publishes the store must not reach the disk before the data.
                os.fsync(f.fileno())
        else:
            location.fs.pipe_file(f"{location.path.rstrip('/')}/{COMMIT_KEY}", data)
    return manifest["commit"]


# -- reading -----------------------------------------------------------------------------------


def parse_manifest(data: bytes, url: str) -> dict[str, Any]:
    """The manifest in ``data`` (:class:`~mapds.errors.CorruptFileError` if it is not one)."""
    try:
        manifest = json.loads(data)["attributes"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("commit"), str):
            raise ValueError(f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        for section in ("files", "chunks"):
            manifest[section] = {str(k): (int(v[0]), int(v[1])) for k, v in manifest[section].items()}
        manifest["inline"] = {str(k): base64.b64decode(v) for k, v in manifest.get("inline", {}).items()}
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise CorruptFileError(f"{url!r}: {COMMIT_KEY} is damaged ({exc})") from exc
    return manifest


def read_manifest(location: Location) -> dict[str, Any] | None:
    """The manifest of the store at ``location`` (one small request), None if it has none."""
    data = _manifest_bytes(location)
    return None if data is None else parse_manifest(data, location.url)


def _manifest_bytes(location: Location) -> bytes | None:
    with storage_errors(location.url):
        try:
            if location.is_local:
                with open(os.path.join(location.path, COMMIT_KEY), "rb") as f:
                    data = f.read()
            else:
                data = location.fs.cat_file(f"{location.path.rstrip('/')}/{COMMIT_KEY}")
        except (FileNotFoundError, NotADirectoryError):
            return None
    return data


def describe_key(key: str) -> str:
    """``chunk (0, 1, 2) of array 'counts/counts' (key ...)`` for a chunk key, else the key."""
    head, sep, tail = key.rpartition("/c/")
    if sep:
        with contextlib.suppress(ValueError):
            return f"chunk {tuple(int(i) for i in tail.split('/'))} of array {head!r} (key {key!r})"
    if key == "c" or key.endswith("/c"):
        return f"the only chunk of array {key[:-2]!r} (key {key!r})"
    return f"{key!r}"


async def _each(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


class VerifiedStore(WrapperStore):
    """A zarr store whose reads are checked against the store's manifest.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The store read (``LocalStore``, ``FsspecStore``...).
    location : Location
        Where it is (for messages, and to repair an interrupted publish).
    manifest : bytes or None
        The manifest read when the store was opened (the bytes of :data:`COMMIT_KEY`); None if it
        has none (then the root metadata decides: a store marked as written by mapds is
        incomplete).  zarr lists the manifest as a group: it is served from these bytes.
    on_corrupt : callable, optional
        Called before a :class:`~mapds.errors.CorruptFileError` is raised (a cache invalidates its
        entry); what it returns (a sentence, or None) is added to the message.
    name : str, optional
        How messages name the store; default its URL, quoted.
    """

    def __init__(
        self,
        store: Store,
        location: Location,
        manifest: bytes | None = None,
        on_corrupt: Callable[[], str | None] | None = None,
        name: str | None = None,
    ):
        super().__init__(store)
        self.location = location
        self.url = location.url
        self.name = name or repr(location.url)
        self.on_corrupt = on_corrupt
        self._use(manifest)

    def _use(self, data: bytes | None) -> None:
        self._manifest_bytes = data
        manifest = parse_manifest(data, self.url) if data is not None else None
        self.commit: str | None = manifest["commit"] if manifest else None
        self._files: dict[str, tuple[int, int]] = dict(manifest["files"]) if manifest else {}
        self._chunks: dict[str, tuple[int, int]] = dict(manifest["chunks"]) if manifest else {}
        self._inline: dict[str, bytes] = dict(manifest["inline"]) if manifest else {}
        # Without a manifest, the root metadata says whether the store should have one.
        self._root_checked = manifest is not None

    def _with_store(self, store: Store) -> VerifiedStore:
        new = type(self)(store, self.location, None, self.on_corrupt, self.name)
        new.commit, new._files, new._chunks = self.commit, self._files, self._chunks
        new._inline = self._inline
        new._manifest_bytes = self._manifest_bytes
        new._root_checked = self._root_checked
        return new

    def _keys(self) -> list[str] | None:
        """Every key of the store as opened (None without a manifest: ask the store)."""
        if self.commit is None:
            return None
        return sorted({*self._files, *self._chunks, COMMIT_KEY})

    async def exists(self, key: str) -> bool:
        keys = self._keys()
        return await self._store.exists(key) if keys is None else key in set(keys)

    def list(self) -> AsyncIterator[str]:
        return self.list_prefix("")

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        keys = self._keys()
        if keys is None:
            return self._store.list_prefix(prefix)
        return _each(key for key in keys if key.startswith(prefix))

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # Listings come from the manifest: on object storage each would be a request.
        keys = self._keys()
        if keys is None:
            return self._store.list_dir(prefix)
        base = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
        return _each(sorted({key[len(base) :].split("/", 1)[0] for key in keys if key.startswith(base)}))

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        if key == COMMIT_KEY and byte_range is None and self._manifest_bytes is not None:
            # The manifest group's metadata, as read at open (zarr lists it as a member).
            return prototype.buffer.from_bytes(self._manifest_bytes)
        if key in self._inline and byte_range is None:
            # Checked when the store was written: the bytes of the version opened.
            return prototype.buffer.from_bytes(self._inline[key])
        value = await self._store.get(key, prototype, byte_range)
        if byte_range is not None or key == COMMIT_KEY:
            return value  # partial reads (sharding) cannot be checked; mapds writes no shards
        if not self._root_checked and key == "zarr.json":
            if await self._check_root(value):
                value = await self._store.get(key, prototype)  # repaired: read it again
        expected = self._chunks.get(key)
        if expected is not None:
            if value is None:
                await self._fail(key, "missing", expected)
            elif len(value) != expected[0]:
                await self._fail(key, f"{len(value)} bytes long", expected)
            elif int.from_bytes(value.as_numpy_array()[-4:].tobytes(), "little") != expected[1]:
                # Its content is checked by zarr's crc32c codec when it is decoded.
                await self._fail(key, "a different chunk (another checksum)", expected)
            return value
        expected = self._files.get(key)
        if expected is not None:
            if value is None:
                await self._fail(key, "missing", expected)
            elif len(value) != expected[0] or crc32c(value.as_numpy_array()) != expected[1]:
                await self._fail(key, "damaged (size or checksum differ)", expected)
        return value

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        for key, prototype, byte_range in requests:
            yield key, await self.get(key, prototype, byte_range)

    async def _check_root(self, value: Buffer | None) -> bool:
        """Raise if the root metadata marks a store written by mapds, which then lacks its
        manifest: it is incomplete.  True if an interrupted publish was repaired instead."""
        self._root_checked = True
        if value is None:
            return False
        try:
            attributes = json.loads(value.to_bytes()).get("attributes") or {}
        except (ValueError, AttributeError):
            return False  # zarr reports unreadable metadata itself
        if MARKER_ATTR not in attributes:
            return False  # a plain zarr store: zarr's own semantics
        # A writer killed while publishing the store may have left what finishes it.
        try:
            repaired = await asyncio.to_thread(recover, self.location)
        except StorageError:  # e.g. no permission to write: report the store as it is
            repaired = False
        if repaired:
            data = await self._store.get(COMMIT_KEY, default_buffer_prototype())
            if data is not None:
                self._use(data.to_bytes())
                return True
        raise CorruptFileError(
            f"{self.name} is incomplete: it was written by mapds but has no {COMMIT_KEY}, which "
            "is written last, when a store is complete (its writer was interrupted, or is still "
            "writing it)"
        )

    async def _fail(self, key: str, problem: str, expected: tuple[int, int]) -> None:
        where = describe_key(key)
        current = await self._store.get(COMMIT_KEY, default_buffer_prototype())
        commit = None
        if current is not None:
            with contextlib.suppress(ValueError, AttributeError, KeyError, TypeError):
                commit = json.loads(current.to_bytes())["attributes"].get("commit")
        if commit != self.commit:
            state = "removed" if current is None else "replaced"
            raise StaleFileError(
                f"{self.name} was {state} after it was opened ({where} is {problem} compared with "
                f"the version opened, commit {self.commit}); reopen it to read the new version"
            )
        note = self.on_corrupt() if self.on_corrupt is not None else None
        raise CorruptFileError(
            f"{self.name}: {where} is {problem}; the store's {COMMIT_KEY} records "
            f"{expected[0]} bytes with crc32c {expected[1]:08x}" + (f"; {note}" if note else "")
        )


def open_verified(location: Location, store: Store) -> VerifiedStore:
    """``store`` (at ``location``) wrapped in a :class:`VerifiedStore`, with its manifest read."""
    return VerifiedStore(store, location, _manifest_bytes(location))


def checksum_error(array: zarr.Array, selection: tuple, name: str, exc: Exception) -> CorruptFileError:
    """The error naming the chunk of ``array`` read for ``selection`` whose content does not match
    its checksum (zarr's crc32c codec raised ``exc``); ``name`` names the store.

    Only called after a failure: it reads the raw chunks of the selection again to find it (and
    invalidates a cache entry, see :class:`VerifiedStore`).
    """
    shape, chunks = array.shape, array.chunks
    ranges = []
    for index, n, c in zip(selection, shape, chunks, strict=False):
        if isinstance(index, slice):
            start, stop, _ = index.indices(n)
            ranges.append(range(start // c, max(start, stop - 1) // c + 1))
        else:
            ranges.append(range(int(index) // c, int(index) // c + 1))
    ranges += [range(-(-n // c)) for n, c in zip(shape[len(ranges) :], chunks[len(ranges) :], strict=True)]
    store = array.store_path.store
    prototype = default_buffer_prototype()
    for coords in itertools.product(*ranges):
        chunk_key = array.metadata.encode_chunk_key(coords)
        key = f"{array.path}/{chunk_key}" if array.path else chunk_key
        with contextlib.suppress(Exception):
            value = sync(store.get(key, prototype))
            if value is None:
                continue
            raw = np.asarray(value.as_numpy_array())
            if len(raw) >= 4 and crc32c(raw[:-4]) != int.from_bytes(raw[-4:].tobytes(), "little"):
                hook = getattr(store, "on_corrupt", None)
                note = hook() if hook is not None else None
                return CorruptFileError(
                    f"{name}: {describe_key(key)} is damaged: its content does not match the "
                    "crc32c checksum stored with it" + (f"; {note}" if note else "")
                )
    return CorruptFileError(f"{name}: array {array.path!r} holds a damaged chunk ({exc})")
