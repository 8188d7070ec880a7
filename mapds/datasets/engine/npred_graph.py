"""The lazy predicted-counts graph of a `MapDataset`.

``npred = clip(background × FoV norm + Σ_models cutout_m, 0)`` on the counts grid, as gammapy.
The graph has

- one task per model with a bounded extent (:meth:`MapEvaluator.local_node`), whose result is the
  model's `~.tasks.ModelResult` (its cutout), and, for each model without one (global mode), a
  lookup task and a task per region of the grid;
- one task per *region* (a chunk of the counts grid, or a box of tiles inside one chunk when the
  incremental statistic recomputes only part of it) that scales the background by the FoV norm and
  adds the parts of the model cutouts overlapping it, slicing them at run time.

A region touched by no model is just the scaled background.  The same region tasks feed ``npred()``,
``npred_signal()`` and the statistic (:mod:`mapds.datasets.stat_sum`), so a chunk's inputs are read
once per computation whatever is asked of them.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import astropy.units as u
import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ...geom import WcsGeom
from ...maps import Map
from .evaluator import MapEvaluator
from .lookup import one_block

__all__ = [
    "BackgroundTerm",
    "NpredGraph",
    "Region",
    "RegionReads",
    "RegionTerms",
    "aligned",
    "region_terms",
    "unique",
]


@dataclass(frozen=True)
class Region:
    """A box of the counts grid: reco-energy bins, rows and columns (slices with step 1)."""

    e: slice
    y: slice
    x: slice

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.e.stop - self.e.start, self.y.stop - self.y.start, self.x.stop - self.x.start)

    @property
    def index(self) -> dict:
        """The region as ``Map.slice_by_idx`` arguments."""
        return {"energy": self.e, "y": self.y, "x": self.x}


@dataclass(frozen=True, eq=False)
class BackgroundScale:
    """What the FoV background model does to the background at this moment (tasks get this,
    not the background map).

    Parameters
    ----------
    norm : ndarray or None
        FoV norm at the reco-energy bin centres ``(n_energy,)`` (None: no FoV model).
    model : FoVBackgroundModel or None
        A copy of the FoV model, when it has a spatial norm (evaluated per region).
    energy : Quantity or None
        The reco-energy bin centres.
    """

    norm: np.ndarray | None
    model: object | None
    energy: u.Quantity | None

    @property
    def corrected(self) -> bool:
        """Whether a FoV model scales the background."""
        return self.norm is not None

    def values(self, block: np.ndarray, region: Region, image: WcsGeom) -> np.ndarray:
        """``block`` (the raw background over ``region``) × the FoV model, float64."""
        if not self.corrected:
            return block.astype(np.float64)
        if self.model is None:
            return block * self.norm[region.e, np.newaxis, np.newaxis]
        yy, xx = np.mgrid[region.y, region.x]
        lon, lat = image.wcs.wcs_pix2world(xx, yy, 0)
        energy = self.energy[region.e]
        factor = self.model.evaluate(energy[:, None, None], lon * u.deg, lat * u.deg)
        return block * u.Quantity(factor).to_value("")


@dataclass(frozen=True, eq=False)
class BackgroundTerm:
    """The background map and what the FoV background model does to it at this moment.

    Parameters
    ----------
    background : Map or None
        Raw background counts on the counts grid.
    scale : BackgroundScale
        The FoV model's norm (and spatial model) now.
    key : str
        Token of the FoV model's parameter values.
    """

    background: Map | None
    scale: BackgroundScale
    key: str

    @classmethod
    def from_model(cls, background: Map | None, model) -> BackgroundTerm:
        """The term of ``background`` corrected by the FoV ``model`` (None: uncorrected)."""
        if background is None or model is None:
            return cls(background, BackgroundScale(None, None, None), tokenize(None))
        energy = background.geom.axes["energy"].center
        norm = np.asarray(u.Quantity(model.spectral_model(energy)).to_value(""), dtype=np.float64)
        spatial = copy.deepcopy(model) if model.spatial_model is not None else None
        return cls(background, BackgroundScale(norm, spatial, energy), tokenize(model.parameters.cache_key))

    @property
    def norm(self) -> np.ndarray | None:
        return self.scale.norm

    @property
    def model(self):
        return self.scale.model

    @property
    def corrected(self) -> bool:
        """Whether a FoV model scales the background."""
        return self.scale.corrected


@dataclass(frozen=True, eq=False)
class _Local:
    name: str
    evaluator: MapEvaluator
    node: object  # Delayed computing a ModelResult
    bbox: tuple[slice, slice]
    value: str  # key of the value the node gives (whatever the kind of node)


@dataclass(frozen=True, eq=False)
class _Global:
    name: str
    evaluator: MapEvaluator
    array: da.Array  # the model's npred on the counts chunks
    lookup: object  # Delayed computing its Lookup


class NpredGraph:
    """The terms of a dataset's predicted counts for the current parameter values.

    Building one computes nothing: evaluators give graph nodes, the FoV norm is a handful of
    numbers.

    Parameters
    ----------
    geom : WcsGeom
        Counts geometry.
    chunks : tuple of tuples
        Dask chunks of the counts grid ``(energy, y, x)``.
    background : BackgroundTerm
        Background and FoV norm.
    evaluators : dict
        Name → `MapEvaluator` of the models to include.
    inputs : EvaluationInputs or None
        What the evaluators read (None when there are no models).
    reads : RegionReads, optional
        The dataset's region reads (a new, empty one by default).
    """

    def __init__(self, geom, chunks, background: BackgroundTerm, evaluators: dict, inputs=None, reads=None):
        self.geom = geom
        self.reads = RegionReads() if reads is None else reads
        self.chunks = tuple(tuple(c) for c in chunks)
        self.background = background
        self.local: list[_Local] = []
        self.global_: list[_Global] = []
        #: Names of the models included, in order (models outside the sky grid too).
        self.names = list(evaluators)
        for name, evaluator in evaluators.items():
            if evaluator.evaluation_mode == "global" or inputs.is_region:
                self.global_.append(_Global(name, evaluator, *evaluator.global_array(inputs, self.chunks)))
                continue
            node = evaluator.local_node(inputs)
            if node is not None:
                self.local.append(_Local(name, evaluator, *node))
        self._bounds = [np.cumsum((0, *c)) for c in self.chunks]
        self._image = geom.to_image()

    # -- keys describing the current state ------------------------------------------------------

    @property
    def local_state(self) -> dict:
        """Name → (value key, bounding box) of the local models."""
        return {t.name: (t.value, t.bbox) for t in self.local}

    @property
    def node_keys(self) -> list[str]:
        """Keys of the nodes the region tasks depend on (they differ by kind of node)."""
        return [t.node.key for t in self.local] + [t.lookup.key for t in self.global_]

    @property
    def global_keys(self) -> tuple[str, ...]:
        """Names of the global models' graphs."""
        return tuple(t.array.name for t in self.global_)

    @property
    def model_nodes(self) -> list:
        """The nodes whose results the evaluators keep: ``(evaluator, node)`` of every model task
        and global lookup (see :meth:`MapEvaluator.remember`)."""
        return [(t.evaluator, t.node) for t in self.local] + [(t.evaluator, t.lookup) for t in self.global_]

    def remember(self, results) -> None:
        """Hand the computed values of :attr:`model_nodes` (in order) to their evaluators."""
        for (evaluator, node), result in zip(self.model_nodes, results, strict=True):
            evaluator.remember(node.key, result)

    # -- chunk bookkeeping ----------------------------------------------------------------------

    def chunk_region(self, index: tuple[int, int, int]) -> Region:
        """Region of the chunk with block index ``index``."""
        return Region(*(slice(int(b[i]), int(b[i + 1])) for b, i in zip(self._bounds, index, strict=True)))

    def chunk_indices(self):
        """Block indices of every chunk."""
        return np.ndindex(*(len(c) for c in self.chunks))

    def locals_by_chunk(self, terms) -> dict:
        """Chunk ``(iy, ix)`` → indices of the local terms whose bounding box overlaps it."""
        out: dict = {}
        by, bx = self._bounds[1], self._bounds[2]
        for i, term in enumerate(terms):
            ys, xs = term.bbox
            iy0, iy1 = np.searchsorted(by, ys.start, "right") - 1, np.searchsorted(by, ys.stop, "left")
            ix0, ix1 = np.searchsorted(bx, xs.start, "right") - 1, np.searchsorted(bx, xs.stop, "left")
            for iy in range(iy0, iy1):
                for ix in range(ix0, ix1):
                    out.setdefault((iy, ix), []).append(i)
        return out

    def locals_overlapping(self, region: Region, terms=None) -> list[_Local]:
        """Local terms whose bounding box overlaps ``region``."""
        terms = self.local if terms is None else terms
        return [t for t in terms if _overlaps(t.bbox, (region.y, region.x))]

    # -- region inputs --------------------------------------------------------------------------

    def region_background(self, region: Region, chunk=None):
        """Key and dependency of the raw background over ``region`` (None, [] without one)."""
        if self.background.background is None:
            return None, []
        return self.reads.key(self.background.background, region, chunk)

    def region_globals(self, region: Region, chunk=None, terms=None):
        """Keys and dependencies of the global models' npred over ``region``."""
        keys, deps = [], []
        for term in self.global_ if terms is None else terms:
            array = term.array
            if chunk is not None:
                keys.append((array.name, *chunk))
                deps.append(array)
            else:
                piece = one_block(array[region.e, region.y, region.x])
                keys.append((piece.name, 0, 0, 0))
                deps.append(piece)
        return keys, deps

    def region_task(self, region: Region, chunk=None, local=None, global_=None, background=True):
        """``(function, args...)`` computing the predicted counts over ``region``, and its
        dependencies.  ``local``/``global_`` restrict the models (default all), ``background``
        includes the scaled background."""
        local = self.locals_overlapping(region, local)
        bkg_key, deps = self.region_background(region, chunk) if background else (None, [])
        global_keys, global_deps = self.region_globals(region, chunk, global_)
        spec = _RegionSpec(region, self.background.scale if background else None, self._image)
        task = (_region_npred, spec, bkg_key, [t.node.key for t in local], global_keys)
        return task, [*deps, *(t.node for t in local), *global_deps]

    # -- arrays ---------------------------------------------------------------------------------

    def _array(self, prefix: str, *, local=None, global_=None, background=True, clip=False) -> da.Array:
        """Dask array on the counts grid from one region task per chunk."""
        local = self.local if local is None else local
        global_ = self.global_ if global_ is None else global_
        by_chunk = self.locals_by_chunk(local)
        bkg = self.background
        token = tokenize(
            self.chunks,
            (bkg.key, None if bkg.background is None else bkg.background.data) if background else None,
            [t.node.key for t in local],
            [t.array.name for t in global_],
            clip,
        )
        name = f"{prefix}-{token}"
        layer, dependencies = {}, []
        for index in self.chunk_indices():
            terms = [local[i] for i in by_chunk.get(index[1:], [])]
            task, deps = self.region_task(self.chunk_region(index), index, terms, global_, background)
            layer[(name, *index)] = (*task, clip)
            dependencies.extend(deps)
        graph = HighLevelGraph.from_collections(name, layer, dependencies=unique(dependencies))
        return da.Array(graph, name, self.chunks, dtype=np.float64, meta=np.empty((0, 0, 0)))

    def npred(self) -> da.Array:
        """Background × FoV norm + all models, negative values set to 0."""
        return self._array("npred", clip=True)

    def npred_signal(self, names=None) -> da.Array:
        """Sum of the models ``names`` (default all), not clipped."""
        local = self.local if names is None else [t for t in self.local if t.name in names]
        global_ = self.global_ if names is None else [t for t in self.global_ if t.name in names]
        return self._array("npred-signal", local=local, global_=global_, background=False)

    def npred_background(self) -> da.Array | None:
        """The background corrected by the FoV model (the raw map's data without one)."""
        term = self.background
        if term.background is None:
            return None
        if not term.corrected:
            return term.background.dask_data
        return self._array("npred-background", local=[], global_=[])


@dataclass(frozen=True, eq=False)
class _RegionSpec:
    region: Region
    background: BackgroundScale | None  # None: the region's npred leaves the background out
    image: WcsGeom


@dataclass(frozen=True, eq=False)
class RegionTerms:
    """The parts of the predicted counts over a region: ``background × norm + signal``.

    Parameters
    ----------
    shape : tuple
        Shape of the region ``(n_energy, ny, nx)``.
    background : ndarray or None
        Raw background (float64 with the FoV model applied already when its norm varies across
        the sky, then ``norm`` is None).
    norm : ndarray or None
        FoV norm per energy bin (None: 1).
    pieces : list of (slice, slice, ndarray)
        Model parts: rows and columns of the region, and their values.
    blocks : list of ndarray
        Model parts covering the whole region (models evaluated per chunk).
    """

    shape: tuple[int, int, int]
    background: np.ndarray | None
    norm: np.ndarray | None
    pieces: list
    blocks: list

    def window(self, ys: slice, xs: slice) -> RegionTerms:
        """The terms over rows ``ys`` and columns ``xs`` of the region."""
        background = None if self.background is None else self.background[:, ys, xs]
        pieces = []
        for py, px, values in self.pieces:
            oy, ox = _intersection(py, ys), _intersection(px, xs)
            if oy is not None and ox is not None:
                part = values[:, _shift(oy, py.start), _shift(ox, px.start)]
                pieces.append((_shift(oy, ys.start), _shift(ox, xs.start), part))
        blocks = [b[:, ys, xs] for b in self.blocks]
        shape = (self.shape[0], ys.stop - ys.start, xs.stop - xs.start)
        return RegionTerms(shape, background, self.norm, pieces, blocks)

    @property
    def has_signal(self) -> bool:
        return bool(self.pieces or self.blocks)

    def signal(self) -> np.ndarray | None:
        """Sum of the model parts (float64, in model order), None without any."""
        if not self.has_signal:
            return None
        signal = np.zeros(self.shape)
        for ys, xs, values in self.pieces:
            signal[:, ys, xs] += values
        for block in self.blocks:
            signal += block
        return signal

    def npred(self) -> np.ndarray:
        """``signal + background × norm`` as a new float64 array (gammapy's order: the model
        parts summed first, the background added)."""
        if self.background is None:
            signal = self.signal()
            return np.zeros(self.shape) if signal is None else signal
        if self.norm is None:
            background = self.background.astype(np.float64)
        else:
            background = self.background * self.norm[:, np.newaxis, np.newaxis]
        if not self.blocks and _disjoint([(ys, xs) for ys, xs, _ in self.pieces]):
            # each bin gets at most one part: adding the parts into the background is gammapy's
            # sum exactly, without a signal array
            for ys, xs, values in self.pieces:
                background[:, ys, xs] += values
            return background
        return np.add(self.signal(), background, out=background)


def region_terms(spec: _RegionSpec, background, local_results, global_blocks) -> RegionTerms:
    """Split the predicted counts over ``spec.region`` into :class:`RegionTerms`."""
    region = spec.region
    norm = None
    if background is not None and spec.background is not None:
        term = spec.background
        background = np.asarray(background)
        if term.model is not None:
            background = term.values(background, region, spec.image)
        elif term.corrected:
            norm = term.norm[region.e]
    else:
        background = None
    pieces = []
    for result in local_results:
        result = result.cutout
        if result is None:
            continue
        ys, xs = _intersection(result.y, region.y), _intersection(result.x, region.x)
        if ys is None or xs is None:
            continue
        values = result.stackable[region.e, _shift(ys, result.y.start), _shift(xs, result.x.start)]
        pieces.append((_shift(ys, region.y.start), _shift(xs, region.x.start), values))
    return RegionTerms(region.shape, background, norm, pieces, [np.asarray(b) for b in global_blocks])


def _region_npred(spec: _RegionSpec, background, local_results, global_blocks, clip=False) -> np.ndarray:
    """Predicted counts over ``spec.region``: model parts + scaled background (clipped at 0)."""
    mu = region_terms(spec, background, local_results, global_blocks).npred()
    if clip:
        mu[mu < 0] = 0
    return mu


def _disjoint(boxes) -> bool:
    """Whether no two ``(rows, columns)`` boxes overlap."""
    return not any(_overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _intersection(a: slice, b: slice) -> slice | None:
    start, stop = max(a.start, b.start), min(a.stop, b.stop)
    return slice(start, stop) if start < stop else None


def _shift(s: slice, origin: int) -> slice:
    return slice(s.start - origin, s.stop - origin)


def aligned(m: Map | None, chunks) -> Map | None:
    """``m`` with the chunks ``chunks`` (rechunked lazily only if they differ)."""
    if m is None or m.chunks == tuple(chunks):
        return m
    return m.rechunk(chunks)


class RegionReads:
    """The lazy reads of map regions, each made once per (map graph, region) and kept by the
    dataset: a fit asks for the same few regions at every evaluation, and making a region's read
    (a map slice, pushed down to storage) costs more than the rest of an evaluation's graph.

    Entries are lazy dask arrays named after what they read, so an entry is right for as long as
    a map with that graph name exists; the oldest are dropped beyond ``max_entries``.
    """

    def __init__(self, max_entries: int = 1024):
        self.max_entries = max_entries
        self._pieces: OrderedDict = OrderedDict()

    def key(self, m: Map, region: Region, chunk) -> tuple[tuple, list]:
        """Key of ``m``'s data over ``region`` (the chunk's own key when ``chunk`` is given), and
        the dask collection holding it."""
        data = m.dask_data
        if chunk is not None:
            return (data.name, *chunk), [data]
        entry = (data.name, *((s.start, s.stop) for s in (region.e, region.y, region.x)))
        piece = self._pieces.get(entry)
        if piece is None:
            piece = _in_memory_view(data, region)
            if piece is None:
                piece = one_block(m.slice_by_idx(region.index).dask_data)
            self._pieces[entry] = piece
            while len(self._pieces) > self.max_entries:
                self._pieces.popitem(last=False)
        else:
            self._pieces.move_to_end(entry)
        return (piece.name, 0, 0, 0), [piece]


def _in_memory_view(data: da.Array, region: Region) -> da.Array | None:
    """``data`` over ``region`` as a one-block array holding a read-only view of an in-memory
    chunk, or None unless ``data`` is persisted (its chunks are arrays in its graph) and
    ``region`` lies inside one chunk.

    A slice task would copy: dask's ``getitem`` copies a window smaller than half its chunk, which
    made copying the counts, background and masks the largest cost of a fit's evaluations.
    """
    index, local = [], []
    for chunks, s in zip(data.chunks, (region.e, region.y, region.x), strict=True):
        edges = np.cumsum((0, *chunks))
        i = int(np.searchsorted(edges, s.start, "right")) - 1
        if s.stop > edges[i + 1]:
            return None
        index.append(i)
        local.append(slice(s.start - int(edges[i]), s.stop - int(edges[i])))
    block = data.__dask_graph__().get((data.name, *index))
    if not isinstance(block, np.ndarray):
        return None
    view = block[tuple(local)]
    view.flags.writeable = False
    name = f"in-memory-view-{tokenize(data.name, *index, *local)}"
    return da.Array({(name, 0, 0, 0): view}, name, tuple((n,) for n in view.shape), meta=view[:0, :0, :0])


def _overlaps(bbox, other) -> bool:
    return all(a.start < b.stop and b.start < a.stop for a, b in zip(bbox, other, strict=True))


def unique(collections) -> list:
    """The collections, each once (by identity), in order."""
    seen, out = set(), []
    for c in collections:
        if id(c) not in seen:
            seen.add(id(c))
            out.append(c)
    return out
