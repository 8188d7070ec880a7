"""Storing large dask arrays region by region, so that memory stays bounded whatever the
scheduler does.

One :func:`dask.array.store` of a whole survey map lets the local schedulers start on many parts
of the map at once: inputs are always ready to read, and while a slow task (a TS fit) runs, the
free workers read and prepare the inputs of tiles far ahead.  The peak memory then grows with the
map.  :func:`store_by_regions` computes rectangles of the arrays' spatial chunk grid one after the
other instead: each computation holds at most one region's work.  The price is the inputs shared
by two regions (store chunks across a boundary, halos), which are computed for each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import dask.array as da

__all__ = ["REGION_PIXELS", "spatial_regions", "store_by_regions"]

#: Spatial pixels of one region (of the largest array's chunk grid, at least one chunk): about
#: 25 TS-map tiles, or a few store chunks of a survey cube.
REGION_PIXELS = 4_000_000


def _groups(chunks: Sequence[int], size: int) -> list[slice]:
    """Consecutive chunks merged into slices of at most ``size`` pixels (at least one chunk)."""
    groups, start, width = [], 0, 0
    for chunk in chunks:
        if width and width + chunk > size:
            groups.append(slice(start, start + width))
            start, width = start + width, 0
        width += chunk
    groups.append(slice(start, start + width))
    return groups


def spatial_regions(
    chunks: tuple[Sequence[int], Sequence[int]], region_pixels: int
) -> list[tuple[slice, slice]]:
    """Rectangles of whole chunks of a ``(rows, columns)`` chunk grid, about square, of at most
    ``region_pixels`` pixels each (one chunk where a chunk is larger), in C order."""
    row_chunks, column_chunks = chunks
    side = math.isqrt(region_pixels)
    regions = []
    for rows in _groups(row_chunks, side):
        height = rows.stop - rows.start
        for columns in _groups(column_chunks, max(region_pixels // height, 1)):
            regions.append((rows, columns))
    return regions


def store_by_regions(
    sources: Sequence[da.Array], targets: Sequence[Any], *, region_pixels: int | None = None
) -> None:
    """``dask.array.store(sources, targets)``, one spatial region of the largest source after the
    other (:func:`spatial_regions` of its chunks in the last two axes, of ``region_pixels``,
    default :data:`REGION_PIXELS`).

    Sources of another spatial shape (tables, small images) are stored with the first region.
    The written values are those of a single store: each region's chunks are the same tasks.
    """
    images = [s for s in sources if s.ndim >= 2]
    if not images:
        da.store(sources, targets, lock=False, compute=True)
        return
    reference = max(images, key=lambda s: s.size)
    size = REGION_PIXELS if region_pixels is None else region_pixels

    def in_regions(source: da.Array) -> bool:
        return source.ndim >= 2 and source.shape[-2:] == reference.shape[-2:]

    pairs = list(zip(sources, targets, strict=True))
    jobs = [(s, t, (slice(None),) * s.ndim) for s, t in pairs if not in_regions(s)]
    for rows, columns in spatial_regions((reference.chunks[-2], reference.chunks[-1]), size):
        jobs += [(s, t, (slice(None),) * (s.ndim - 2) + (rows, columns)) for s, t in pairs if in_regions(s)]
        _store(jobs)
        jobs = []


def _store(jobs: list[tuple[da.Array, Any, tuple[slice, ...]]]) -> None:
    """Store each ``(source, target, region)``'s region of the source into that of the target, in
    one computation."""
    sources = [source[region] for source, _, region in jobs]
    targets = [target for _, target, _ in jobs]
    da.store(sources, targets, regions=[region for *_, region in jobs], lock=False, compute=True)
