"""How maps are cut into dask chunks.

The default favours what survey work needs: spatial tiles that hold every bin of the
non-spatial axes (so per-pixel operations along energy stay inside one task) and weigh
``DEFAULT_CHUNK_BYTES``.  ``chunks=`` arguments follow xarray's meaning.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import dask.array as da
import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["DEFAULT_CHUNK_BYTES", "chunked_like", "multiple_chunks", "normalize_chunks", "sliced_chunks"]

#: Target size of one chunk: inside the 32–128 MB of the design, large enough that dask's
#: per-task overhead (≈50 µs threaded) is negligible, small enough for two cores × a few tasks.
DEFAULT_CHUNK_BYTES = 64 * 2**20


def _default(shape: tuple[int, ...], dtype, n_spatial: int) -> tuple[tuple[int, ...], ...]:
    n_axes = len(shape) - n_spatial
    itemsize = np.dtype(dtype).itemsize
    n_planes = int(np.prod(shape[:n_axes], dtype=np.int64))
    # Keep the non-spatial axes whole while a tile can still be at least 32 x 32 pixels.
    if n_planes * itemsize * 32 * 32 <= DEFAULT_CHUNK_BYTES:
        spatial = da.core.normalize_chunks(
            ("auto",) * n_spatial,
            shape[n_axes:],
            limit=max(DEFAULT_CHUNK_BYTES // n_planes, itemsize),
            dtype=dtype,
        )
        return tuple((n,) for n in shape[:n_axes]) + spatial
    # Very deep non-spatial axes (e.g. a PSF map of rad x energy_true planes): let dask choose.
    return da.core.normalize_chunks("auto", shape, limit=DEFAULT_CHUNK_BYTES, dtype=dtype)


def _check_chunk_size(value, label: str) -> None:
    """Refuse a chunk size that dask would divide by or misread.

    dask divides by a chunk size of 0 (``ZeroDivisionError``), takes negative sizes other than
    ``-1`` for a chunk count that does not add up, and takes ``True`` for 1.  ``label`` names
    the argument (or the dimension) in the message.
    """
    if value is None or value == -1 or isinstance(value, str):
        return  # whole dimension, or "auto"/byte sizes such as "64MiB" (dask checks those)
    if isinstance(value, (tuple, list)):
        sizes = list(value)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        sizes = [value]
    else:
        raise InvalidArgumentError(
            f"{label}: expected a positive integer, -1, 'auto' or a tuple of sizes, got {value!r}"
        )
    for size in sizes:
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size <= 0:
            raise InvalidArgumentError(
                f"{label}: chunk sizes must be positive integers (or -1 for the whole dimension), "
                f"got {value!r}"
            )


def _dask_chunks(spec, shape: tuple[int, ...], dims: Sequence[Hashable], dtype, chunks):
    """:func:`dask.array.core.normalize_chunks` with its errors naming the ``chunks=`` argument."""
    for dim, value in zip(dims, spec if isinstance(spec, tuple) else (), strict=False):
        _check_chunk_size(value, f"chunks for dimension {dim!r}")
    try:
        return da.core.normalize_chunks(spec, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise InvalidArgumentError(
            f"Invalid chunks={chunks!r} for a map of dimensions {tuple(dims)} and shape {shape}: {exc}"
        ) from exc


def normalize_chunks(
    chunks, shape: Sequence[int], dims: Sequence[Hashable], dtype, native=None
) -> tuple[tuple[int, ...], ...]:
    """Explicit dask chunks for a map.

    Parameters
    ----------
    chunks : None, "auto", {}, dict, tuple or dask chunks
        ``None``: mapds' default (spatial tiles × full non-spatial axes, ~64 MiB).
        ``"auto"``: dask's automatic chunking.  ``{}``: the storage's native chunks when it has
        some (zarr), else the default.  A dict maps dimension names to chunk specs (``-1``,
        ``"auto"``, an int or a tuple); missing dimensions get the default.  Anything else is
        passed to :func:`dask.array.core.normalize_chunks`.
    shape, dims : sequence
        Shape and dimension names of the map (spatial dims last).
    dtype : dtype
        Data type (for byte sizes).
    native : tuple of tuples, optional
        Chunks of the underlying storage.

    Raises
    ------
    InvalidArgumentError
        Unknown dimension names, sizes of 0, negative sizes other than -1, booleans, floats,
        strings dask cannot read as byte sizes, or a sequence of the wrong length.
    """
    shape = tuple(int(n) for n in shape)
    n_spatial = sum(d in ("y", "x") for d in dims)
    if chunks is None:
        return _default(shape, dtype, n_spatial)
    if isinstance(chunks, Mapping):
        if not chunks:
            return native if native is not None else _default(shape, dtype, n_spatial)
        unknown = set(chunks) - set(dims)
        if unknown:
            raise InvalidArgumentError(
                f"chunks name unknown dimensions {sorted(map(str, unknown))}; dims are {tuple(dims)}"
            )
        base = native if native is not None else _default(shape, dtype, n_spatial)
        spec = tuple(chunks.get(dim, base[i]) for i, dim in enumerate(dims))
        return _dask_chunks(spec, shape, dims, dtype, chunks)
    if isinstance(chunks, (bool, np.bool_)) or not isinstance(chunks, (str, int, np.integer, tuple, list)):
        raise InvalidArgumentError(
            f"Invalid chunks={chunks!r}: expected None, 'auto', an integer, a tuple or a dict of "
            f"dimension name -> size (dims are {tuple(dims)})"
        )
    if isinstance(chunks, (int, np.integer)):
        _check_chunk_size(chunks, f"chunks={chunks!r}")
    return _dask_chunks(tuple(chunks) if isinstance(chunks, list) else chunks, shape, dims, dtype, chunks)


def sliced_chunks(chunks: tuple[int, ...], index) -> tuple[int, ...]:
    """Chunk sizes along one dimension after ``index`` (a slice with step 1), keeping the
    original chunk boundaries that fall inside the selection."""
    start, stop, step = index.indices(sum(chunks))
    if step != 1:
        raise ValueError("only contiguous slices keep chunk boundaries")
    bounds = np.cumsum((0, *chunks))
    inner = bounds[(bounds > start) & (bounds < stop)]
    edges = np.concatenate([[start], inner, [stop]]) - start
    sizes = tuple(int(n) for n in np.diff(edges) if n > 0)
    return sizes if sizes else (0,)


def multiple_chunks(chunks: tuple[int, ...], factor: int) -> tuple[int, ...]:
    """Chunk sizes along one dimension, multiples of ``factor``, close to the current ones.

    The dimension length must be divisible by ``factor``.
    """
    if all(c % factor == 0 for c in chunks):
        return chunks
    size = max(factor, round(max(chunks) / factor) * factor)
    total = sum(chunks)
    return (size,) * (total // size) + ((total % size,) if total % size else ())


def chunked_like(array: da.Array, target: da.Array) -> da.Array:
    """``array`` (broadcastable to ``target``, trailing dimensions aligned) in ``target``'s chunks,
    its length-1 dimensions in one chunk: ready for ``map_blocks`` beside ``target``."""
    chunks = target.chunks[target.ndim - array.ndim :]
    return array.rechunk(tuple((1,) if n == 1 else c for n, c in zip(array.shape, chunks, strict=True)))
