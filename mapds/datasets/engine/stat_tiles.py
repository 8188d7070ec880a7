"""The Cash statistic summed over tiles of the counts grid: pure numpy kernels.

A *tile* is a chunk's reco-energy bins × at most :data:`TILE_SIZE` × :data:`TILE_SIZE` pixels
(tiles never cross chunk boundaries).  Per tile the statistic is gammapy's::

    C = 2 Σ w (μ − n ln μ),   μ = max(npred, 1e-25),   ln taken only where n > 0

(``w``: the mask — bins outside are skipped — or float weights for ``cash_weighted``).

Where no model overlaps a tile, ``npred = b · norm_E`` (background × FoV norm per energy bin),
so for positive ``b`` and ``norm``::

    C = 2 Σ_E [norm_E Σ w b − Σ w n ln b − ln(norm_E) Σ w n]

The three sums per energy bin and tile (:class:`BackgroundSums`) do not depend on any parameter:
computed once, they give the statistic of every background-only tile for any FoV norm without
reading the data again.  Tiles with model signal, and tiles where the identity does not hold
(non-positive or non-finite background or norm, which gammapy truncates), are computed bin by
bin (:func:`cash_tiles_binwise`).  Every tile's value depends only on its own bins, never on the
region it was computed with, so partial recomputations reproduce a full one exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ...stats import TRUNCATION_VALUE
from .npred_graph import Region

__all__ = ["TILE_SIZE", "BackgroundSums", "TileGrid", "background_sums", "cash_tiles_binwise", "region_tiles"]

#: Side of a tile in pixels: small enough that a model's footprint covers few tiles, large enough
#: that per-tile bookkeeping stays negligible.
TILE_SIZE = 32

#: Backgrounds above this are never truncated for any FoV norm above 1e-15.
LOWEST_SAFE_BACKGROUND = 1e-10


# -- tiles of a region ------------------------------------------------------------------------------


def tile_sums(values: np.ndarray, y_edges, x_edges) -> np.ndarray:
    """float64 sums over the tiles of a 2-d array (rows added in order within a tile)."""
    return np.add.reduceat(_tile_row_sums(values, y_edges), x_edges[:-1], axis=1)


def _tile_row_sums(plane: np.ndarray, y_edges) -> np.ndarray:
    """float64 sums over the rows of each tile row of a 2-d ``plane``, ``(n_tiles_y, width)``.

    Rows are added in order (as ``sum(axis=0)`` of each band does); tile rows of equal height
    are summed in one call, which matters for the GIL: a call per band of 32 rows made the
    Python overhead a third of the statistic's time.
    """
    heights = np.diff(y_edges)
    n_regular = len(heights) - 1 if len(heights) > 1 and heights[-1] != heights[0] else len(heights)
    if not np.all(heights[:n_regular] == heights[0]):
        bands = itertools.pairwise(y_edges)
        return np.stack([plane[y0:y1].sum(axis=0, dtype=np.float64) for y0, y1 in bands])
    height = int(heights[0])
    regular = plane[: n_regular * height].reshape(n_regular, height, -1).sum(axis=1, dtype=np.float64)
    if n_regular == len(heights):
        return regular
    return np.concatenate([regular, plane[n_regular * height :].sum(axis=0, dtype=np.float64)[None]])


def _tile_of_pixels(y_edges, x_edges) -> np.ndarray:
    """Tile number (row-major) of each pixel of a region, flat ``(ny * nx,)``."""
    rows = np.repeat(np.arange(len(y_edges) - 1), np.diff(y_edges))
    cols = np.repeat(np.arange(len(x_edges) - 1), np.diff(x_edges))
    return (rows[:, None] * (len(x_edges) - 1) + cols).reshape(-1)


@dataclass(frozen=True, eq=False)
class BackgroundSums:
    """Per reco-energy bin and tile (arrays ``(n_energy, n_tiles_y, n_tiles_x)``):

    ``total`` = Σ w b, ``counts`` = Σ w n and ``log`` = Σ w n ln b over the bins with n > 0,
    ``positive_min`` = the smallest b over those bins (inf if none); and per tile
    ``(n_energy_chunks, n_tiles_y, n_tiles_x)``, ``nonnegative`` = every used b is finite and ≥ 0.
    """

    total: np.ndarray
    counts: np.ndarray
    log: np.ndarray
    positive_min: np.ndarray
    nonnegative: np.ndarray

    def regular(self, norm: np.ndarray, e_edges) -> np.ndarray:
        """Tiles ``(n_energy_chunks, ny, nx)`` whose statistic :meth:`cash` gives exactly."""
        with np.errstate(invalid="ignore"):
            positive = norm[:, None, None] * self.positive_min > TRUNCATION_VALUE
        ok = np.logical_and.reduceat(positive, e_edges[:-1], axis=0)
        return ok & self.nonnegative & bool(np.all(np.isfinite(norm)))

    def cash(self, norm: np.ndarray, e_edges) -> np.ndarray:
        """Statistic of background-only tiles ``(n_energy_chunks, ny, nx)`` for FoV ``norm``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            per_bin = norm[:, None, None] * self.total - self.log - np.log(norm)[:, None, None] * self.counts
        return 2 * np.add.reduceat(per_bin, e_edges[:-1], axis=0)

    def place(self, other: BackgroundSums, tiles, bins: slice) -> None:
        """Copy the sums of a region (``other``, one energy chunk) into these at ``tiles``
        ``(ie, ty, tx)``, energy bins ``bins``; in place."""
        ie, ty, tx = tiles
        for name in ("total", "counts", "log", "positive_min"):
            getattr(self, name)[bins, ty, tx] = getattr(other, name)
        self.nonnegative[ie, ty, tx] = other.nonnegative[0]

    @classmethod
    def empty(cls, n_energy: int, shape) -> BackgroundSums:
        """Sums for a grid of tiles ``shape = (n_energy_chunks, ny, nx)``, to be filled."""
        per_bin = (n_energy, *shape[1:])
        zeros = [np.zeros(per_bin) for _ in range(3)]
        return cls(*zeros, np.full(per_bin, np.inf), np.ones(shape, dtype=bool))


def background_sums(counts, background, mask, y_edges, x_edges) -> BackgroundSums:
    """:class:`BackgroundSums` of a region (``background`` None: no background, b = 0).

    The linear sums go band of tile rows by band, so that each block is read from memory once
    and then stays in the processor cache; the sums over the bins with counts (few: counts are
    sparse) gather those bins of a whole energy plane at once.
    """
    n_e = counts.shape[0]
    shape = (len(y_edges) - 1, len(x_edges) - 1)
    out = BackgroundSums.empty(n_e, (1, *shape))
    tile_of_pixel = _tile_of_pixels(y_edges, x_edges)
    for e in range(n_e):
        n_plane = counts[e]
        m_plane = None if mask is None else mask[e]
        b_plane = None if background is None else background[e]
        if b_plane is not None:
            _linear_sums(b_plane, m_plane, y_edges, x_edges, out.total[e], out.nonnegative[0])
        positive = n_plane > 0
        if m_plane is not None:
            positive &= m_plane.astype(bool, copy=False)
        pixels = np.flatnonzero(positive)
        if pixels.size == 0:
            continue
        tiles = tile_of_pixel[pixels]
        # bincount adds in pixel order: each tile's sums are those of its own bins in row order
        n = n_plane.reshape(-1)[pixels].astype(np.float64)
        if m_plane is not None and m_plane.dtype != bool:
            n *= m_plane.reshape(-1)[pixels]
        out.counts[e] = np.bincount(tiles, weights=n, minlength=tile_of_pixel[-1] + 1).reshape(shape)
        if b_plane is None:
            out.positive_min[e, out.counts[e] > 0] = 0.0
            continue
        b = b_plane.reshape(-1)[pixels].astype(np.float64)
        lowest = b.min()
        if lowest > LOWEST_SAFE_BACKGROUND:
            # a lower bound is enough to tell that ``norm · b`` stays above the truncation value
            out.positive_min[e, out.counts[e] > 0] = lowest
        else:
            np.minimum.at(out.positive_min[e].reshape(-1), tiles, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.bincount(tiles, weights=n * np.log(b), minlength=tile_of_pixel[-1] + 1)
        out.log[e] = log.reshape(shape)
    return out


def _linear_sums(b_plane, m_plane, y_edges, x_edges, total, nonnegative) -> None:
    """Σ w b per tile of one energy plane into ``total``, and whether every used b is finite
    and ≥ 0 into ``nonnegative`` (both ``(n_tiles_y, n_tiles_x)``, in place)."""
    total[...] = tile_sums(b_plane if m_plane is None else b_plane * m_plane, y_edges, x_edges)
    if b_plane.min() >= 0:
        return
    bad = ~(b_plane >= 0)  # negative or NaN
    if m_plane is not None:
        bad &= m_plane.astype(bool, copy=False)
    nonnegative &= tile_sums(bad, y_edges, x_edges) == 0


def cash_tiles_binwise(counts, mu, mask, y_edges, x_edges) -> np.ndarray:
    """Per tile ``2 Σ w (μ − n ln μ)`` with ``μ = max(mu, 1e-25)`` bin by bin (``mu`` is
    overwritten).

    The log term is gathered over the bins with ``n > 0`` only (counts are sparse: most bins of a
    survey are empty), all energy planes at once.
    """
    np.maximum(mu, TRUNCATION_VALUE, out=mu)
    shape = (len(y_edges) - 1, len(x_edges) - 1)
    positive = counts > 0
    if mask is not None:
        positive &= mask.astype(bool, copy=False)
    bins = np.flatnonzero(positive)
    values = counts[positive].astype(np.float64) * np.log(mu.reshape(-1)[bins])
    if mask is not None and mask.dtype != bool:
        values *= mask[positive]
    tiles = _tile_of_pixels(y_edges, x_edges)[bins % (counts.shape[1] * counts.shape[2])]
    log_term = np.bincount(tiles, weights=values, minlength=shape[0] * shape[1])
    linear = tile_sums((mu if mask is None else mu * mask).sum(axis=0), y_edges, x_edges)
    return 2 * (linear - log_term.reshape(shape))


def region_tiles(counts, terms, mask, y_edges, x_edges, direct, want_sums: bool):
    """Everything the statistic needs from one region of the counts grid.

    Parameters
    ----------
    counts : ndarray
        Counts over the region.
    terms : RegionTerms
        Background, FoV norm and model signal over the region.
    mask : ndarray or None
        Mask (bool) or weights (float) over the region.
    y_edges, x_edges : ndarray
        Tile boundaries in pixels of the region.
    direct : ndarray
        ``(n_tiles_y, n_tiles_x)``: tiles to compute bin by bin (those with model signal).
    want_sums : bool
        Also compute the region's :class:`BackgroundSums` (and then compute bin by bin the
        tiles they cannot give exactly too).

    Returns
    -------
    sums : BackgroundSums or None
    values : ndarray
        Statistic of the tiles computed bin by bin (NaN elsewhere).
    computed : ndarray
        Which tiles those are.
    """
    counts = np.asarray(counts)
    if mask is not None and mask.dtype == bool and _all_true(mask):
        mask = None
    sums = None
    direct = direct.copy()
    if want_sums:
        sums = background_sums(counts, terms.background, mask, y_edges, x_edges)
        norm = np.ones(counts.shape[0]) if terms.norm is None else terms.norm
        direct |= ~sums.regular(norm, np.array([0, counts.shape[0]]))[0]
    values = np.full(direct.shape, np.nan)
    for ty, tx in _runs(direct):
        ys, xs = slice(y_edges[ty.start], y_edges[ty.stop]), slice(x_edges[tx.start], x_edges[tx.stop])
        run_counts = counts[:, ys, xs]
        run_mask = None if mask is None else mask[:, ys, xs]
        run_y = y_edges[ty.start : ty.stop + 1] - ys.start
        run_x = x_edges[tx.start : tx.stop + 1] - xs.start
        mu = terms.window(ys, xs).npred()
        values[ty, tx] = cash_tiles_binwise(run_counts, mu, run_mask, run_y, run_x)
    return sums, values, direct


def _all_true(mask: np.ndarray) -> bool:
    """``mask.all()``, reading a broadcast mask (zero strides, as ``da.ones`` persists) once
    rather than element by element."""
    distinct = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in mask.strides)
    return bool(mask[distinct].all())


def _runs(tiles: np.ndarray):
    """Row-by-row runs of consecutive True tiles, as ``(rows, columns)`` slices; a run repeated
    on the next rows is extended over them."""
    runs, open_runs = [], {}
    for row in range(tiles.shape[0]):
        padded = np.concatenate([[False], tiles[row], [False]])
        changes = np.flatnonzero(padded[1:] != padded[:-1])
        current = {(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2], strict=True)}
        for cols in set(open_runs) - current:
            runs.append((slice(open_runs.pop(cols), row), slice(*cols)))
        for cols in current - set(open_runs):
            open_runs[cols] = row
    runs.extend((slice(start, tiles.shape[0]), slice(*cols)) for cols, start in open_runs.items())
    return runs


class TileGrid:
    """The tiles of a chunked counts grid ``(energy, y, x)``.

    Parameters
    ----------
    chunks : tuple of tuples
        Dask chunks of the counts grid.
    size : int
        Largest tile side in pixels.
    """

    def __init__(self, chunks, size: int = TILE_SIZE):
        self.chunks = chunks
        self.size = size
        self.e_edges = np.cumsum((0, *chunks[0]))
        self.y_edges = _tile_edges(chunks[1], size)
        self.x_edges = _tile_edges(chunks[2], size)
        # first tile of each chunk (and one past the last), along y and x
        self.y_first = np.searchsorted(self.y_edges, np.cumsum((0, *chunks[1])))
        self.x_first = np.searchsorted(self.x_edges, np.cumsum((0, *chunks[2])))
        self.shape = (len(chunks[0]), len(self.y_edges) - 1, len(self.x_edges) - 1)

    def tiles_under(self, bbox: tuple[slice, slice]) -> tuple[slice, slice]:
        """Tile rows and columns overlapping the pixel box ``bbox``."""
        ys, xs = bbox
        return _covering(self.y_edges, ys), _covering(self.x_edges, xs)

    def regions(self, todo: np.ndarray):
        """For every chunk holding tiles in ``todo``: its block index, the smallest box of
        tiles ``(ie, ty, tx)`` covering them, that box as a `Region` of pixels, and whether the
        box is the whole chunk."""
        for ie, iy, ix in np.ndindex(*(len(c) for c in self.chunks)):
            ty0, ty1 = self.y_first[iy], self.y_first[iy + 1]
            tx0, tx1 = self.x_first[ix], self.x_first[ix + 1]
            block = todo[ie, ty0:ty1, tx0:tx1]
            if not block.any():
                continue
            rows, cols = np.flatnonzero(block.any(axis=1)), np.flatnonzero(block.any(axis=0))
            ty = slice(int(ty0 + rows[0]), int(ty0 + rows[-1] + 1))
            tx = slice(int(tx0 + cols[0]), int(tx0 + cols[-1] + 1))
            region = Region(
                slice(int(self.e_edges[ie]), int(self.e_edges[ie + 1])),
                slice(int(self.y_edges[ty.start]), int(self.y_edges[ty.stop])),
                slice(int(self.x_edges[tx.start]), int(self.x_edges[tx.stop])),
            )
            whole = ty == slice(ty0, ty1) and tx == slice(tx0, tx1)
            yield (ie, iy, ix), (ie, ty, tx), region, whole

    def local_edges(self, box, region: Region) -> tuple[np.ndarray, np.ndarray]:
        """Tile boundaries of ``box`` in pixels of ``region``."""
        _, ty, tx = box
        y_edges = self.y_edges[ty.start : ty.stop + 1] - region.y.start
        x_edges = self.x_edges[tx.start : tx.stop + 1] - region.x.start
        return y_edges, x_edges


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
