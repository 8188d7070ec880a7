"""Lazily indexed storage arrays, and the window bookkeeping that lets slicing reach storage.

A map opened from a file keeps, besides its dask array, a :class:`WindowedArray` describing
where its values live.  Pure selections (``cutout``, ``slice_by_idx``, ``get_image_by_idx``...)
narrow the window and rebuild the dask array from it, so each new chunk reads only the bytes of
the selection instead of whole stored chunks.  Any computation drops the window: its result is
no longer a view of storage.
"""

from __future__ import annotations

from typing import Protocol

import dask.array as da
import numpy as np
from dask.base import tokenize

from .chunks import sliced_chunks

__all__ = ["LazyArray", "WindowedArray", "normalize_index"]


class LazyArray(Protocol):
    """What a storage back end provides: shape, dtype and basic-slicing reads."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray: ...


def normalize_index(index, shape) -> tuple[slice | int, ...]:
    """A basic index as one in-bounds int or step-1 slice per dimension.

    Missing trailing entries mean ``:``; negative integers count from the end.  Anything a storage
    read cannot serve directly (steps, fancy indices, too many indices) raises ``IndexError``.
    """
    index = index if isinstance(index, tuple) else (index,)
    if len(index) > len(shape):
        raise IndexError(f"too many indices ({len(index)}) for an array of {len(shape)} dimensions")
    index = index + (slice(None),) * (len(shape) - len(index))
    out = []
    for idx, n in zip(index, shape, strict=True):
        if isinstance(idx, (int, np.integer)):
            position = int(idx) + n if idx < 0 else int(idx)
            if not 0 <= position < n:
                raise IndexError(f"index {idx} is out of bounds for a dimension of size {n}")
            out.append(position)
        elif isinstance(idx, slice):
            start, stop, step = idx.indices(n)
            if step != 1:
                raise IndexError("only step-1 slices can be pushed down to storage")
            out.append(slice(start, max(start, stop)))
        else:
            raise IndexError(f"unsupported index {idx!r}: only integers and slices")
    return tuple(out)


class WindowedArray:
    """A rectangular window onto a :class:`LazyArray` (integers drop dimensions).

    Parameters
    ----------
    base : LazyArray
        The storage array (FITS image reader, zarr array...).
    token : str
        Stable identity of ``base`` (URL, HDU, size, modification time...) used to name dask
        tasks deterministically.
    window : tuple of slices and ints, optional
        Selection of ``base`` this object represents; default: all of it.
    """

    def __init__(self, base: LazyArray, token: str, window=None):
        self.base = base
        self.token = token
        self.window = normalize_index(window if window is not None else (), base.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(w.stop - w.start for w in self.window if isinstance(w, slice))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.base.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _compose(self, key) -> tuple:
        key = iter(normalize_index(key, self.shape))
        out: list[int | slice] = []
        for w in self.window:
            if isinstance(w, int):
                out.append(w)
                continue
            k = next(key)
            out.append(w.start + k if isinstance(k, int) else slice(w.start + k.start, w.start + k.stop))
        return tuple(out)

    def as_stored(self) -> WindowedArray | None:
        """The same window read in the dtype the store holds, or None when reading converts
        nothing (whole-number counts stored as integers and read as floats are converted)."""
        stored = getattr(self.base, "as_stored", None)
        base = None if stored is None else stored()
        return None if base is None else WindowedArray(base, f"{self.token}-stored", self.window)

    def window_of(self, key) -> WindowedArray:
        """The sub-window selected by ``key`` (basic indexing, step 1)."""
        return WindowedArray(self.base, self.token, self._compose(key))

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.base[self._compose(key)])

    def __dask_tokenize__(self):
        return (self.token, self.window)

    def to_dask(self, chunks) -> da.Array:
        """Dask array over the window; each chunk reads only its own part of ``base``."""
        name = "read-" + tokenize(self.token, self.window, chunks)
        return da.from_array(
            self,
            chunks=chunks,
            name=name,
            asarray=False,
            lock=False,
            fancy=False,
            meta=np.empty((0,) * self.ndim, dtype=self.dtype),
        )

    def sliced_dask(self, key, chunks: tuple[tuple[int, ...], ...]) -> tuple[WindowedArray, da.Array]:
        """Window and dask array for ``key``, keeping the chunk boundaries of ``chunks``."""
        key = normalize_index(key, self.shape)
        new_chunks = tuple(
            sliced_chunks(c, k) for c, k in zip(chunks, key, strict=True) if isinstance(k, slice)
        )
        window = self.window_of(key)
        return window, window.to_dask(new_chunks)
