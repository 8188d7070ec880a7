"""``MapDataset.stat_sum``: the Cash statistic as a graph over tiles, kept between calls.

The statistic is a sum over the tiles of the counts grid (:mod:`.stat_tiles`).  The dataset keeps,
in a :class:`StatCache` held in the client process:

- the parameter-free :class:`~mapds.datasets.stat_tiles.BackgroundSums` of every tile (they give
  the statistic of any tile without model signal for any FoV norm, without reading data);
- the values of the tiles computed bin by bin (those under a model's bounding box, or where the
  background identity is not exact), with what they were computed from: the FoV model's
  parameter values and the task key and bounding box of every model (a key changes with any
  parameter value or IRF lookup of the model).

The first statistic reads everything once.  The next one recomputes only the bin-by-bin tiles
whose inputs changed — under the old and new bounding box of a changed model, or all of them
(a few footprints' worth) after a FoV parameter change — so its cost follows the footprints of the
models, not the size of the cube.  Counts, background or masks replaced by other data (other
graph names) start from scratch.

Every task is pure: the last task returns the total *and* the updated tile values
(:class:`StatResult`), and the dataset stores them in its cache after the computation (on any
scheduler, or a ``distributed`` cluster, where a task cannot reach the client's objects).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from .npred_graph import NpredGraph, region_terms, unique
from .stat_tiles import BackgroundSums, TileGrid, region_tiles

__all__ = ["StatCache", "StatResult", "stat_sum_graph", "stat_total"]


@dataclass(frozen=True)
class _State:
    """What the statistic of a dataset is computed from."""

    data: str  # counts, background, masks, statistic type and chunks
    background: str  # FoV model parameter values
    sums_usable: bool  # background-only tiles come from BackgroundSums (no spatial FoV norm)
    global_keys: tuple[str, ...]
    local: dict  # model name -> (task key, bounding box)
    order: tuple[str, ...]  # order in which model parts are added


@dataclass(frozen=True, eq=False)
class _Snapshot:
    state: _State
    sums: BackgroundSums | None
    values: np.ndarray  # statistic of the tiles computed bin by bin
    computed: np.ndarray  # which tiles of ``values`` hold a value for ``state``


@dataclass(frozen=True, eq=False)
class StatResult:
    """The value of a statistic graph: the total, and the tiles to keep for the next one."""

    total: np.float64
    snapshot: _Snapshot


class StatCache:
    """The tile sums of a dataset's last statistic and what they were computed from."""

    def __init__(self):
        self.snapshot: _Snapshot | None = None

    def clear(self) -> None:
        """Forget everything: the next statistic reads all the data again."""
        self.snapshot = None

    def store(self, result: StatResult) -> None:
        """Keep the tiles of a computed statistic."""
        self.snapshot = result.snapshot


def _state(graph: NpredGraph, counts, masks, weighted: bool) -> _State:
    background = graph.background
    data = tokenize(
        counts.data,
        None if background.background is None else background.background.data,
        [m.data for m in masks],
        weighted,
        graph.chunks,
    )
    return _State(
        data,
        background.key,
        background.model is None,
        graph.global_keys,
        graph.local_state,
        tuple(t.name for t in graph.local),
    )


def _signal_tiles(grid: TileGrid, state: _State) -> np.ndarray:
    """Tiles that model signal may reach (every tile with a global model or a spatial FoV norm)."""
    if state.global_keys or not state.sums_usable:
        return np.ones(grid.shape, dtype=bool)
    tiles = np.zeros(grid.shape, dtype=bool)
    for _, bbox in state.local.values():
        ty, tx = grid.tiles_under(bbox)
        tiles[:, ty, tx] = True
    return tiles


def _still_computed(grid: TileGrid, old: _Snapshot | None, new: _State) -> np.ndarray:
    """Tiles whose bin-by-bin value in ``old`` is still that of ``new``."""
    if old is None or old.state.data != new.data or old.values.shape != grid.shape:
        return np.zeros(grid.shape, dtype=bool)
    context = ("background", "sums_usable", "global_keys", "order")
    if any(getattr(old.state, name) != getattr(new, name) for name in context):
        return np.zeros(grid.shape, dtype=bool)
    computed = old.computed.copy()
    for name in set(old.state.local) | set(new.local):
        before, after = old.state.local.get(name), new.local.get(name)
        if before != after:
            for entry in (before, after):
                if entry is not None:
                    ty, tx = grid.tiles_under(entry[1])
                    computed[:, ty, tx] = False
    return computed


def stat_sum_graph(graph: NpredGraph, counts, masks, weighted: bool, cache: StatCache) -> tuple[Delayed, int]:
    """Lazy ``Σ`` of the Cash statistic over the mask, as a node computing a :class:`StatResult`,
    and the number of counts voxels its tasks read.

    Only the tiles whose value cannot be taken from ``cache`` get a task; pass the computed result
    to :meth:`StatCache.store` to keep the updated tiles.

    Parameters
    ----------
    graph : NpredGraph
        The predicted-counts terms of the current parameter values.
    counts : Map
        Counts.
    masks : tuple of Map
        ``mask_safe`` and/or ``mask_fit`` (their product is the mask, or the weights).
    weighted : bool
        ``cash_weighted``: mask values are weights.
    cache : StatCache
        The dataset's cache.
    """
    grid = TileGrid(graph.chunks)
    state = _state(graph, counts, masks, weighted)
    n_energy = int(grid.e_edges[-1])
    norm = graph.background.norm if graph.background.corrected else np.ones(n_energy)
    snapshot = cache.snapshot
    signal = _signal_tiles(grid, state)
    computed = _still_computed(grid, snapshot, state)
    sums = None
    if state.sums_usable and computed.shape == grid.shape and snapshot is not None:
        same_data = snapshot.state.data == state.data and snapshot.sums is not None
        sums = snapshot.sums if same_data else None
    want_sums = state.sums_usable and sums is None
    if want_sums:
        # read everything: the regions compute the sums, and the signal tiles bin by bin
        todo, binwise = np.ones(grid.shape, dtype=bool), signal
    else:
        direct = signal if sums is None else signal | ~sums.regular(norm, grid.e_edges)
        todo = binwise = direct & ~computed

    name = "stat-sum-" + tokenize(state, graph.node_keys, norm.tobytes(), want_sums, todo.tobytes())
    layer, dependencies, boxes, keys, voxels = {}, [], [], [], 0
    by_chunk = graph.locals_by_chunk(graph.local)
    for index, box, region, whole in grid.regions(todo):
        chunk = index if whole else None
        terms = [graph.local[i] for i in by_chunk.get(index[1:], [])]
        npred_task, deps = graph.region_task(region, chunk, terms)
        counts_key, counts_deps = graph.reads.key(counts, region, chunk)
        mask_keys, mask_deps = [], []
        for m in masks:
            key, dep = graph.reads.key(m, region, chunk)
            mask_keys.append(key)
            mask_deps.extend(dep)
        y_edges, x_edges = grid.local_edges(box, region)
        key = (f"{name}-tiles", *index)
        layer[key] = (
            _region_task,
            *npred_task[1:],
            counts_key,
            mask_keys,
            weighted,
            y_edges,
            x_edges,
            binwise[box],
            want_sums,
        )
        dependencies.extend([*deps, *counts_deps, *mask_deps])
        boxes.append((box, region.e))
        keys.append(key)
        voxels += int(np.prod(region.shape))
    values = snapshot.values if computed.any() else np.full(grid.shape, np.nan)
    base = _Snapshot(state, sums, values, computed)
    layer[name] = (_finalize, base, norm, signal, grid, boxes, keys)
    node = Delayed(name, HighLevelGraph.from_collections(name, layer, dependencies=unique(dependencies)))
    return node, voxels


def stat_total(result: Delayed) -> da.Array:
    """The total of a statistic node as a lazy 0-d float64 dask array."""
    name = "stat-total-" + result.key.removeprefix("stat-sum-")
    layer = {(name,): (operator.attrgetter("total"), result.key)}
    hlg = HighLevelGraph.from_collections(name, layer, dependencies=[result])
    return da.Array(hlg, name, chunks=(), dtype=np.float64, meta=np.empty((), dtype=np.float64))


def _region_task(spec, background, local_results, global_blocks, counts, masks, weighted, *tiles):
    """The statistic's needs of one region; ``tiles`` = ``(y_edges, x_edges, binwise,
    want_sums)`` (see :func:`~mapds.datasets.stat_tiles.region_tiles`)."""
    terms = region_terms(spec, background, local_results, global_blocks)
    return region_tiles(counts, terms, _combined_mask(masks, weighted), *tiles)


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


def _finalize(base: _Snapshot, norm, signal, grid: TileGrid, boxes, results) -> StatResult:
    """Merge the recomputed tiles into the cached ones and add everything up."""
    state = base.state
    sums = base.sums
    if state.sums_usable and sums is None:
        sums = BackgroundSums.empty(len(norm), grid.shape)
    values, computed = base.values.copy(), base.computed.copy()
    for (tiles, bins), (region_sums, region_values, region_computed) in zip(boxes, results, strict=True):
        if region_sums is not None:
            sums.place(region_sums, tiles, bins)
        target = values[tiles]
        target[region_computed] = region_values[region_computed]
        computed[tiles] |= region_computed
    if sums is None:
        direct = np.ones(grid.shape, dtype=bool)
        total = values
    else:
        direct = signal | ~sums.regular(norm, grid.e_edges)
        total = np.where(direct, values, sums.cash(norm, grid.e_edges))
    if not computed[direct].all():
        raise RuntimeError("Internal error: a tile of the statistic was not computed")
    for array in (values, computed):
        array.setflags(write=False)
    return StatResult(np.float64(total.sum()), _Snapshot(state, sums, values, computed))
