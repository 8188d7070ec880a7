"""Which contiguous runs of a C-ordered array a rectangular selection covers.

A FITS image is stored as one C-ordered array (last numpy axis fastest), so a selection made
of step-1 slices is a set of equally long contiguous runs: the longest trailing block of
whole dimensions, preceded by the selected part of the first partial dimension.  Reading and
writing both work run by run.
"""

from __future__ import annotations

import numpy as np

from ...maps.lazy import normalize_index

__all__ = ["contiguous_runs", "normalize_key"]


def normalize_key(key, shape: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[int, ...]]:
    """Step-1 slices for every dimension, and the dimensions that integer indices drop.

    Parameters
    ----------
    key : tuple of int and slice
        Basic index with at most ``len(shape)`` entries (missing trailing entries mean ``:``).
    shape : tuple of int
        Shape of the indexed array.
    """
    index = normalize_index(key, shape)
    slices = tuple(slice(k, k + 1) if isinstance(k, int) else k for k in index)
    dropped = tuple(dim for dim, k in enumerate(index) if isinstance(k, int))
    return slices, dropped


def contiguous_runs(shape: tuple[int, ...], key: tuple[slice, ...]) -> tuple[np.ndarray, int]:
    """Element offsets of the contiguous runs covering a selection, and the run length.

    Parameters
    ----------
    shape : tuple of int
        Shape of the stored array (C order).
    key : tuple of slice
        One step-1 slice per dimension, within bounds (see :func:`normalize_key`).

    Returns
    -------
    offsets : ndarray of int64
        Offset (in elements) of each run, in C order of the selection, so that run ``i`` fills
        elements ``[i * length, (i + 1) * length)`` of the selection's flattened buffer.
    length : int
        Elements per run (0 for an empty selection).
    """
    sizes = [s.stop - s.start for s in key]
    if not shape:
        return np.zeros(1, dtype=np.int64), 1
    if min(sizes) == 0:
        return np.zeros(0, dtype=np.int64), 0
    strides = np.cumprod((1, *shape[:0:-1]), dtype=np.int64)[::-1]
    # The run starts at the last dimension that is not selected whole.
    partial = [d for d, (s, n) in enumerate(zip(key, shape, strict=True)) if s.stop - s.start != n]
    k = partial[-1] if partial else 0
    length = int(sizes[k] * strides[k])
    offsets = np.array(key[k].start * strides[k], dtype=np.int64)
    for d in range(k - 1, -1, -1):
        offsets = np.add.outer(np.arange(key[d].start, key[d].stop, dtype=np.int64) * strides[d], offsets)
    return offsets.ravel(), length
