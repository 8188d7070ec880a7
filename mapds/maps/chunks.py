"""How maps are cut into dask chunks.

The default favours what survey work needs: spatial tiles that hold every bin of the
non-spatial axes (so per-pixel operations along energy stay inside one task) and weigh
``DEFAULT_CHUNK_BYTES``.  ``chunks=`` arguments follow xarray's meaning.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import dask.array as da
import numpy as np

__all__ = ["DEFAULT_CHUNK_BYTES", "multiple_chunks", "normalize_chunks", "sliced_chunks"]

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
            raise ValueError(f"chunks name unknown dimensions {sorted(unknown)}; dims are {dims}")
        base = native if native is not None else _default(shape, dtype, n_spatial)
        spec = tuple(chunks.get(dim, base[i]) for i, dim in enumerate(dims))
        return da.core.normalize_chunks(spec, shape, dtype=dtype)
    return da.core.normalize_chunks(chunks, shape, dtype=dtype)


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
