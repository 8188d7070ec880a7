"""Whole chunks of mapds' own zarr arrays, decoded in the calling task.

zarr-python reads a chunk through its event loop and codec pipeline and copies the decoded
bytes into a fresh output array: for the 30–130 MB chunks of survey maps that costs 3–5 times
the decompression itself (a 67 MB float32 chunk on the benchmark machine: 0.11–0.24 s through
``zarr.Array.__getitem__``, 0.03 s decompressed into an array).  Every array mapds writes has one
codec chain (``bytes``, Blosc, ``crc32c``; see :mod:`mapds.io.zarr_store`), so a task that wants
exactly one whole chunk of such an array fetches its bytes from the store (the same
:class:`~mapds.io.integrity.VerifiedStore` checks as zarr's path), checks the crc32c and lets
Blosc decompress straight into the result.  Anything else (other codecs, partial chunks,
chunks a store does not hold) goes through zarr.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import zarr
from numcodecs import blosc
from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from ..errors import CorruptFileError
from .integrity import crc32c

__all__ = ["ChunkDecoder"]


class ChunkDecoder:
    """Reads whole chunks of one zarr array encoded as ``bytes`` (little-endian) → Blosc → crc32c.

    Use :meth:`for_array`, which gives None for arrays encoded otherwise.
    """

    def __init__(self, array: zarr.Array, name: str):
        self.array = array
        self.name = name
        self.dtype = np.dtype(array.dtype).newbyteorder("<")
        self.chunk_shape = tuple(array.chunks)
        self.shape = tuple(array.shape)

    @classmethod
    def for_array(cls, array: zarr.Array, name: str) -> ChunkDecoder | None:
        codecs = tuple(getattr(array.metadata, "codecs", ()))
        kinds = tuple(type(codec) for codec in codecs)
        if kinds != (BytesCodec, BloscCodec, Crc32cCodec) or np.dtype(array.dtype).kind not in "biuf":
            return None
        endian = cast(BytesCodec, codecs[0]).endian
        if np.dtype(array.dtype).itemsize > 1 and endian is not None and endian.value != "little":
            return None
        return cls(array, name)

    def whole_chunk(self, key) -> tuple[int, ...] | None:
        """The coordinates of the chunk ``key`` selects exactly (slices, one per dimension), or None."""
        if not isinstance(key, tuple) or len(key) != len(self.shape):
            return None
        coords = []
        for index, n, c in zip(key, self.shape, self.chunk_shape, strict=True):
            if not isinstance(index, slice) or index.step not in (None, 1):
                return None
            start, stop, _ = index.indices(n)
            if start % c or stop != min(start + c, n):
                return None
            coords.append(start // c)
        return tuple(coords)

    def read(self, coords: tuple[int, ...]) -> np.ndarray | None:
        """The chunk at ``coords`` (cut to the array's edge), or None if the store has no such key
        (zarr's fill-value semantics then apply, through zarr).

        Raises
        ------
        ValueError
            The chunk's content does not match its checksum (zarr's crc32c codec raises the same).
        CorruptFileError
            It matches, but Blosc cannot decompress it to the chunk's size.
        """
        chunk_key = self.array.metadata.encode_chunk_key(coords)
        key = f"{self.array.path}/{chunk_key}" if self.array.path else chunk_key
        value = sync(self.array.store_path.store.get(key, default_buffer_prototype()))
        if value is None:
            return None
        raw = value.as_numpy_array()
        body = raw[:-4]
        if len(raw) < 4 or crc32c(body) != int.from_bytes(raw[-4:].tobytes(), "little"):
            # as zarr's crc32c codec says it: the caller names the chunk (see ZarrLazyArray)
            raise ValueError("Stored and computed checksum do not match")
        out = np.empty(self.chunk_shape, dtype=self.dtype)
        # Blosc's header: bytes 4-7 hold the decompressed size (little-endian); a chunk that
        # decompresses to another size than the chunk's would leave part of the result unset.
        nbytes = int.from_bytes(body[4:8].tobytes(), "little") if len(body) >= 16 else -1
        if nbytes != out.nbytes:
            raise CorruptFileError(
                f"{self.name}: chunk {chunk_key!r} of array {self.array.path!r} holds {nbytes} bytes "
                f"once decompressed, {out.nbytes} expected"
            )
        try:
            blosc.decompress(body, out)
        except (ValueError, RuntimeError) as exc:
            raise CorruptFileError(
                f"{self.name}: chunk {chunk_key!r} of array {self.array.path!r} cannot be decompressed: {exc}"
            ) from exc
        grid = zip(coords, self.shape, self.chunk_shape, strict=True)
        edge = tuple(slice(0, min(c, n - i * c)) for i, n, c in grid)
        return out[edge]
