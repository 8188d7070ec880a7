"""The Cash statistic of a dataset, summed tile by tile, and the cache that makes it incremental.

Every chunk of the counts grid is cut into *tiles* (all its energy bins × at most
:data:`TILE_SIZE` × :data:`TILE_SIZE` pixels).  A region task (:mod:`mapds.datasets.npred_graph`)
builds the predicted counts of a box of tiles and returns one float64 partial sum per tile::

    2 Σ_tile w · (μ − n ln μ),   μ = max(npred, 1e-25),  ln taken only where n > 0

(``w`` = the mask: bins outside it are skipped; float weights for ``cash_weighted``).

The dataset keeps the tile sums of its last statistic together with what they were computed from:
the graph names of counts, background and masks, the FoV model's parameter values, and the task
key and bounding box of every model (a key changes with any parameter value or IRF lookup).  The
next statistic recomputes only the tiles whose inputs changed — those under the old and the new
bounding box of a changed model, all of them when the FoV model or the data changed — so after one
parameter change its cost follows the footprint of that model, not the size of the cube.  A
tile's value depends only on its own data and models, so the incremental sum equals a cold one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ..stats import TRUNCATION_VALUE
from .npred_graph import NpredGraph, Region, _region_key, _unique

__all__ = ["TILE_SIZE", "StatCache", "cash_tile_sums", "stat_sum_graph"]

#: Side of a tile in pixels: small enough that a model's footprint covers few tiles, large enough
#: that per-tile bookkeeping stays negligible.
TILE_SIZE = 64


def cash_tile_sums(counts, mu, mask, y_edges, x_edges) -> np.ndarray:
    """Cash statistic summed over tiles of a region.

    Parameters
    ----------
    counts : ndarray
        Counts ``(n_energy, ny, nx)``.
    mu : ndarray
        Predicted counts, float64, same shape; overwritten.
    mask : ndarray or None
        Bool mask (bins to use) or float weights (0: skipped), same shape; None: all bins.
    y_edges, x_edges : ndarray
        Tile boundaries along y and x, in pixels of the region (starting at 0).

    Returns
    -------
    ndarray
        ``(len(y_edges) - 1, len(x_edges) - 1)`` float64 sums of ``2 w (μ − n ln μ)``.
    """
    np.maximum(mu, TRUNCATION_VALUE, out=mu)
    n_pixels = mu.shape[1] * mu.shape[2]
    positive = counts > 0
    if mask is not None:
        positive &= mask.astype(bool, copy=False)
    index = np.flatnonzero(positive)
    log_term = counts.reshape(-1)[index].astype(np.float64) * np.log(mu.reshape(-1)[index])
    if mask is not None and mask.dtype != bool:
        log_term *= mask.reshape(-1)[index]
    per_pixel_log = np.bincount(index % n_pixels, weights=log_term, minlength=n_pixels)
    if mask is not None:
        np.multiply(mu, mask, out=mu)
    per_pixel = mu.sum(axis=0)
    per_pixel -= per_pixel_log.reshape(per_pixel.shape)
    tiles = np.add.reduceat(np.add.reduceat(per_pixel, y_edges[:-1], axis=0), x_edges[:-1], axis=1)
    return 2 * tiles


# -- tiles ------------------------------------------------------------------------------------------


def _tile_edges(chunks: tuple[int, ...], size: int) -> np.ndarray:
    """Chunk boundaries, with extra boundaries every ``size`` pixels inside each chunk."""
    edges, start = [0], 0
    for n in chunks:
        edges.extend(range(start + size, start + n, size))
        start += n
        edges.append(start)
    return np.asarray(edges)


def _covering(edges: np.ndarray, pixels: slice) -> slice:
    """Tiles (between ``edges``) overlapping the pixels ``pixels``."""
    first = np.searchsorted(edges, pixels.start, "right") - 1
    return slice(int(first), int(np.searchsorted(edges, pixels.stop)))


class TileGrid:
    """The tiles of a chunked counts grid ``(energy, y, x)``.

    Tiles span a chunk's energy bins and at most ``size × size`` pixels, never crossing a chunk
    boundary.
    """

    def __init__(self, chunks, size: int = TILE_SIZE):
        self.chunks = chunks
        self.size = size
        self.e_bounds = np.cumsum((0, *chunks[0]))
        self.y_edges = _tile_edges(chunks[1], size)
        self.x_edges = _tile_edges(chunks[2], size)
        y_bounds, x_bounds = np.cumsum((0, *chunks[1])), np.cumsum((0, *chunks[2]))
        # first tile of each chunk (and one past the last), along y and x
        self.y_first = np.searchsorted(self.y_edges, y_bounds)
        self.x_first = np.searchsorted(self.x_edges, x_bounds)
        self.shape = (len(chunks[0]), len(self.y_edges) - 1, len(self.x_edges) - 1)

    def tiles_under(self, bbox: tuple[slice, slice]) -> tuple[slice, slice]:
        """Tile rows and columns overlapping the pixel box ``bbox``."""
        ys, xs = bbox
        return _covering(self.y_edges, ys), _covering(self.x_edges, xs)

    def regions(self, dirty: np.ndarray):
        """For every chunk holding dirty tiles: its block index, the box of tiles to recompute
        (the smallest covering its dirty tiles) and that box's pixel region."""
        for ie, iy, ix in np.ndindex(len(self.chunks[0]), len(self.chunks[1]), len(self.chunks[2])):
            ty0, ty1 = self.y_first[iy], self.y_first[iy + 1]
            tx0, tx1 = self.x_first[ix], self.x_first[ix + 1]
            block = dirty[ie, ty0:ty1, tx0:tx1]
            if not block.any():
                continue
            rows, cols = np.flatnonzero(block.any(axis=1)), np.flatnonzero(block.any(axis=0))
            ty = slice(int(ty0 + rows[0]), int(ty0 + rows[-1] + 1))
            tx = slice(int(tx0 + cols[0]), int(tx0 + cols[-1] + 1))
            region = Region(
                slice(int(self.e_bounds[ie]), int(self.e_bounds[ie + 1])),
                slice(int(self.y_edges[ty.start]), int(self.y_edges[ty.stop])),
                slice(int(self.x_edges[tx.start]), int(self.x_edges[tx.stop])),
            )
            whole = ty == slice(ty0, ty1) and tx == slice(tx0, tx1)
            yield (ie, iy, ix), (ie, ty, tx), region, whole


# -- the cache --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    """What the tile sums are computed from."""

    data: str  # counts, background, masks, statistic and chunks
    background: str  # FoV model parameter values
    global_keys: tuple[str, ...]
    local: dict  # model name -> (task key, bounding box)
    order: tuple[str, ...]  # order in which model parts are added


@dataclass(frozen=True, eq=False)
class _Snapshot:
    state: _State
    tiles: np.ndarray


class StatCache:
    """The tile sums of a dataset's last statistic, and what they were computed from."""

    def __init__(self):
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything: the next statistic is computed from scratch."""
        self._snapshot = None

    @property
    def snapshot(self) -> _Snapshot | None:
        return self._snapshot

    def store(self, snapshot: _Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def __getstate__(self) -> dict:
        # Graphs hold the cache; a distributed worker gets an empty one (and its update is lost).
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


def _dirty_tiles(grid: TileGrid, old: _Snapshot | None, new: _State) -> np.ndarray:
    stale = (
        old is None
        or old.tiles.shape != grid.shape
        or (old.state.data, old.state.background, old.state.global_keys, old.state.order)
        != (new.data, new.background, new.global_keys, new.order)
    )
    if stale:
        return np.ones(grid.shape, dtype=bool)
    dirty = np.zeros(grid.shape, dtype=bool)
    for name in set(old.state.local) | set(new.local):
        before, after = old.state.local.get(name), new.local.get(name)
        if before == after:
            continue
        for entry in (before, after):
            if entry is not None:
                ty, tx = grid.tiles_under(entry[1])
                dirty[:, ty, tx] = True
    return dirty


# -- the graph --------------------------------------------------------------------------------------


def stat_sum_graph(graph: NpredGraph, counts, masks, weighted: bool, cache: StatCache) -> da.Array:
    """Lazy ``Σ`` of the Cash statistic over the mask (a 0-d float64 dask array).

    Only tiles whose inputs differ from those of ``cache``'s snapshot get a task; computing the
    result stores the new tile sums in ``cache``.

    Parameters
    ----------
    graph : NpredGraph
        The predicted-counts terms.
    counts : Map
        Counts.
    masks : tuple of Map
        ``mask_safe`` and/or ``mask_fit`` (product = mask or weights).
    weighted : bool
        ``cash_weighted``: the mask values are weights.
    cache : StatCache
        The dataset's tile sums.
    """
    grid = TileGrid(graph.chunks)
    background = graph.background
    data_token = tokenize(
        counts.data.name,
        None if background.background is None else background.background.data.name,
        [m.data.name for m in masks],
        weighted,
        graph.chunks,
        grid.size,
    )
    state = _State(
        data_token,
        background.key,
        graph.global_keys,
        graph.local_state,
        tuple(t.name for t in graph.local),
    )
    snapshot = cache.snapshot
    dirty = _dirty_tiles(grid, snapshot, state)
    base = np.full(grid.shape, np.nan) if snapshot is None or dirty.all() else snapshot.tiles
    by_chunk = graph._locals_by_chunk(graph.local)
    name = "stat-sum-" + tokenize(data_token, background.key, state.global_keys, state.order, state.local)
    layer, dependencies, boxes, keys = {}, [], [], []
    for index, box, region, whole in grid.regions(dirty):
        chunk = index if whole else None
        terms = [graph.local[i] for i in by_chunk.get(index[1:], [])]
        npred_task, deps = graph.region_task(region, chunk, terms)
        counts_key, counts_deps = _region_key(counts, region, chunk)
        mask_keys, mask_deps = [], []
        for m in masks:
            key, dep = _region_key(m, region, chunk)
            mask_keys.append(key)
            mask_deps.extend(dep)
        y_edges = grid.y_edges[box[1].start : box[1].stop + 1] - region.y.start
        x_edges = grid.x_edges[box[2].start : box[2].stop + 1] - region.x.start
        key = (f"{name}-tiles", *index)
        layer[key] = (_region_stat, npred_task, counts_key, mask_keys, weighted, y_edges, x_edges)
        dependencies.extend([*deps, *counts_deps, *mask_deps])
        boxes.append(box)
        keys.append(key)
    layer[(name,)] = (_finalize, cache, state, base, boxes, keys)
    hlg = HighLevelGraph.from_collections(name, layer, dependencies=_unique(dependencies))
    return da.Array(hlg, name, chunks=(), dtype=np.float64, meta=np.empty((), dtype=np.float64))


def _region_stat(mu, counts, masks, weighted, y_edges, x_edges) -> np.ndarray:
    """Tile sums of a region from its predicted counts, counts and mask blocks."""
    return cash_tile_sums(np.asarray(counts), mu, _combined_mask(masks, weighted), y_edges, x_edges)


def _combined_mask(masks, weighted: bool) -> np.ndarray | None:
    """Product of the mask blocks: float weights (``cash_weighted``) or bool."""
    if not masks:
        return None
    dtype = np.float64 if weighted else bool
    mask = np.asarray(masks[0]).astype(dtype, copy=False)
    for other in masks[1:]:
        other = np.asarray(other).astype(dtype, copy=False)
        mask = mask * other if weighted else mask & other
    return mask


def _finalize(cache: StatCache, state: _State, base: np.ndarray, boxes, results) -> np.float64:
    """Put the recomputed tiles into the previous sums, remember them, and add them up."""
    tiles = base.copy()
    for (ie, ty, tx), values in zip(boxes, results, strict=True):
        tiles[ie, ty, tx] = values
    tiles.setflags(write=False)
    cache.store(_Snapshot(state, tiles))
    return np.float64(tiles.sum())

