"""Where and with which IRFs a model is evaluated: the evaluators' lookups (numpy and lazy).

A dataset hands its evaluators :class:`EvaluationInputs` (lazy maps).  From geometry alone an
evaluator derives a :class:`Footprint`: the lookup position, a *bounding box* of the counts grid
that any cutout at that position can cover (the PSF kernel radius is bounded by the PSF map's
largest ``rad``), and the few IRF pixels (:class:`IRFWindow`) a lookup reads.  A task then
computes the :class:`Lookup` from those small blocks: PSF and EDisp kernels at the position
(exactly gammapy's), ``contributes``, and gammapy's cutout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import astropy.units as u
import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord
from dask.array.core import concatenate3
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from ...data import GTI
from ...errors import GeometryError
from ...geom import RegionGeom, WcsGeom
from ...geom.wcs import round_up_to_odd
from ...irf import EDispKernel, PSFKernel
from ...maps import Map

__all__ = [
    "CUTOUT_MARGIN",
    "MARGIN_DEG",
    "PSF_CONTAINMENT",
    "PSF_MAX_RADIUS",
    "EvaluationInputs",
    "Footprint",
    "IRFWindow",
    "Lookup",
    "TaskInputs",
    "bounding_box",
    "check_inside",
    "gti_token",
    "irf_window",
    "kernel_width",
    "lookup_dependencies",
    "one_block",
    "relative",
    "window_irf",
]

#: Margin added to the evaluation radius for cutouts and re-lookups (gammapy's ``CUTOUT_MARGIN``).
CUTOUT_MARGIN = 0.1 * u.deg
#: Containment fraction that sets PSF kernel sizes.
PSF_CONTAINMENT = 0.999
#: Largest PSF kernel radius (None: the containment radius decides).
PSF_MAX_RADIUS = None

MARGIN_DEG = CUTOUT_MARGIN.to_value("deg")

# -- what a dataset hands its evaluators ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TaskInputs:
    """What a model task needs to know of the dataset: geometries, units, the IRF maps and the
    GTIs (a temporal model's flux factor is its mean over them).

    No lazy data maps travel with a task (only the IRF maps, for the rare lookup outside the
    IRF's defined pixels, see :func:`window_irf`).
    """

    geom: WcsGeom | RegionGeom
    exposure_geom: WcsGeom | RegionGeom
    exposure_unit: u.UnitBase
    psf: object | None
    edisp: object | None
    gti: GTI | None = None

    @property
    def is_region(self) -> bool:
        """Whether the counts live on a region geometry (a spectrum dataset)."""
        return isinstance(self.geom, RegionGeom)

    @property
    def reco_axis(self):
        """The counts' reconstructed-energy axis."""
        return self.geom.axes["energy"]

    @cached_property
    def image(self) -> WcsGeom:
        """The counts' sky grid."""
        return self.geom.to_image()

    @property
    def reco_psf(self) -> bool:
        """Whether the PSF is given in reconstructed energy (applied after the EDisp)."""
        return self.psf is not None and self.psf.energy_name == "energy"

    @property
    def psf_geom(self) -> WcsGeom:
        """Geometry PSF kernels are made for: the exposure's (true energy) or the counts'."""
        return self.geom if self.reco_psf else self.exposure_geom


@dataclass(frozen=True, eq=False)
class EvaluationInputs:
    """The lazy dataset members a model is evaluated from (no data are read to build this).

    Parameters
    ----------
    geom : WcsGeom
        Counts geometry (reco ``energy`` axis).
    exposure : Map or None
        Exposure cube on the counts' sky grid.
    psf : PSFMap or None
        PSF map (or `~mapds.irf.RecoPSFMap`).
    edisp : EDispKernelMap, EDispMap or None
        Energy dispersion map.
    masks : tuple of Map
        ``mask_safe`` and/or ``mask_fit`` (their product, OR-ed over energy, is the mask image
        that decides whether a model contributes); empty: everything is in the mask.
    gti : GTI or None
        Good time intervals (needed by models with a temporal model).
    """

    geom: WcsGeom
    exposure: Map | None
    psf: object | None
    edisp: object | None
    masks: tuple[Map, ...] = ()
    gti: GTI | None = None

    @cached_property
    def token(self) -> str:
        """Identity of the inputs: the dask names (or value hashes) of every member, and the GTIs."""
        names = [geom_token(self.geom), gti_token(self.gti)]
        for irf in (self.psf, self.edisp):
            names.append(None if irf is None else (type(irf).__name__, tokenize(irf_map_of(irf).data)))
        for m in (self.exposure, *self.masks):
            names.append(None if m is None else (tokenize(m.data), str(m.unit)))
        return tokenize(*names)

    @cached_property
    def task(self) -> TaskInputs:
        """What tasks need of these inputs (no data maps)."""
        exposure = self.exposure
        return TaskInputs(self.geom, exposure.geom, exposure.unit, self.psf, self.edisp, self.gti)

    @property
    def is_region(self) -> bool:
        return isinstance(self.geom, RegionGeom)

    @cached_property
    def image(self) -> WcsGeom:
        return self.geom.to_image()

    @cached_property
    def _boxes(self) -> dict:
        # Lazy cutouts by (member, window): a fit asks for the same few at every evaluation.
        return {}

    def _box(self, what: str, m: Map, ys: slice, xs: slice) -> da.Array:
        """``m``'s values over rows ``ys`` and columns ``xs``, one block (a map slice, so that
        the read is pushed down to storage)."""
        key = (what, ys.start, ys.stop, xs.start, xs.stop)
        if key not in self._boxes:
            self._boxes[key] = one_block(m.slice_by_idx({"y": ys, "x": xs}).dask_data)
        return self._boxes[key]

    def exposure_box(self, bbox) -> da.Array:
        """The exposure over the bounding box ``bbox``, as one lazy block."""
        return self._box("exposure", self.exposure, *bbox)

    def mask_boxes(self, bbox) -> list[da.Array]:
        """The masks over the bounding box ``bbox``, each as one lazy block."""
        return [self._box(f"mask-{i}", m, *bbox) for i, m in enumerate(self.masks)]

    def irf_block(self, window: IRFWindow) -> da.Array:
        """The lazy values of an IRF window (one block)."""
        irf = self.psf if window.kind == "psf" else self.edisp
        return self._box(window.kind, irf_map_of(irf), window.index["y"], window.index["x"])


# -- what a lookup reads and gives ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IRFWindow:
    """A few IRF pixels around a position, and where to look up.

    ``index`` (``y``/``x`` slices of the IRF map) and ``geom`` (the window's geometry) are None
    when the whole IRF map is used (region IRFs).
    """

    kind: str  # "psf" or "edisp"
    position: SkyCoord | None
    index: dict | None
    geom: WcsGeom | None
    unit: u.UnitBase | None

    @property
    def reads(self) -> bool:
        """Whether a lookup reads this window (else it uses the whole IRF map)."""
        return self.index is not None


@dataclass(frozen=True, eq=False)
class Footprint:
    """Where the model is looked up, and what its task reads (all known without data).

    ``bbox`` bounds every cutout the lookup can produce: the exposure cutout (whose width
    depends on the PSF kernel size, bounded by the PSF map's largest ``rad``) and the mask
    cutout that decides ``contributes``.  Holds no lazy data: it travels with the tasks.
    """

    inputs: TaskInputs
    token_inputs: str
    position: SkyCoord | None
    lonlat: tuple[float, float] | None
    evaluation_radius: float | None  # deg, at lookup time (sets the cutout width, as in gammapy)
    bbox: tuple[slice, slice] | None
    psf: IRFWindow | None
    edisp: IRFWindow | None
    n_masks: int = 0

    @cached_property
    def token(self) -> str:
        box = None if self.bbox is None else tuple((s.start, s.stop) for s in self.bbox)
        return tokenize(self.token_inputs, self.lonlat, self.evaluation_radius, box)

    def windows(self) -> list[IRFWindow]:
        """The IRF windows a lookup reads, in the order of its blocks."""
        return [w for w in (self.psf, self.edisp) if w is not None and w.reads]

    def split_blocks(self, blocks) -> tuple:
        """(mask boxes, psf block, edisp block) from a lookup's computed inputs."""
        blocks = list(blocks)
        n_masks = self.n_masks if self.bbox is not None else 0
        masks, rest = blocks[:n_masks], blocks[n_masks:]
        psf_block = rest.pop(0) if self.psf is not None and self.psf.reads else None
        edisp_block = rest.pop(0) if self.edisp is not None and self.edisp.reads else None
        return masks, psf_block, edisp_block


@dataclass(frozen=True, eq=False)
class Lookup:
    """The IRFs at a footprint and the cutout they imply (computed by a task, numpy)."""

    psf: PSFKernel | None
    edisp: EDispKernel | None
    contributes: bool
    geom: WcsGeom | None  # true-energy cutout geometry (the whole exposure geometry in global mode)
    slices: tuple[slice, slice] | None  # its (y, x) on the counts grid
    containment: np.ndarray | None = None  # PSF containment in a spectrum dataset's region

    @property
    def psf_width(self) -> float:
        return kernel_width(self.psf)


def lookup_dependencies(inputs: EvaluationInputs, fp: Footprint) -> list[da.Array]:
    """Lazy arrays a lookup at ``fp`` reads: mask boxes (local mode) and the IRF windows."""
    arrays = inputs.mask_boxes(fp.bbox) if fp.bbox is not None else []
    return arrays + [inputs.irf_block(window) for window in fp.windows()]


# -- helpers ----------------------------------------------------------------------------------------


def irf_window(kind: str, irf, position) -> IRFWindow:
    """The IRF pixels a lookup at ``position`` (default: the IRF map centre) reads."""
    irf_map = irf_map_of(irf)
    if not isinstance(irf_map.geom, WcsGeom):
        return IRFWindow(kind, position, None, None, None)
    image = irf_map.geom.to_image()
    if position is None:
        position = image.center_skydir
    ny, nx = image.data_shape
    x, y = (float(np.ravel(p)[0]) for p in image.coord_to_pix(position))
    index = {"y": window_slice(y, ny), "x": window_slice(x, nx)}
    return IRFWindow(kind, position, index, irf_map.slice_by_idx(index).geom, irf_map.unit)


def one_block(array: da.Array) -> da.Array:
    """``array`` as a single chunk: its blocks concatenated by one task (a small array, e.g. a
    window read from storage; cheaper to build than a rechunk)."""
    if all(len(c) == 1 for c in array.chunks):
        return array
    name = "one-block-" + tokenize(array.name)
    layer = {(name, *(0,) * array.ndim): (concatenate3, array.__dask_keys__())}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[array])
    return da.Array(graph, name, tuple((n,) for n in array.shape), meta=array)


def kernel_width(kernel: PSFKernel | None) -> float:
    """Largest width of a PSF kernel in degrees (0 without one): gammapy's ``psf_width``."""
    if kernel is None:
        return 0.0
    return float(np.max(kernel.psf_kernel_map.geom.width.to_value("deg")))


def geom_token(geom) -> str:
    """Identity of a geometry: its sky grid (or region) and axis bins."""
    sky = str(geom.region) if isinstance(geom, RegionGeom) else geom.wcs.to_header_string()
    axes = [(axis.name, str(axis.unit), np.asarray(axis.edges.value).tobytes()) for axis in geom.axes]
    return tokenize(type(geom).__name__, sky, geom.data_shape, axes)


def gti_token(gti: GTI | None) -> tuple | None:
    """Identity of GTIs: their start and stop instants (None without GTIs).

    Plain bytes rather than a dask token: datasets compare it at every graph build, and hashing
    would cost more than the comparison of a few intervals.
    """
    if gti is None:
        return None
    start, stop = gti.time_start, gti.time_stop
    return tuple((t.scale, t.jd1.tobytes(), t.jd2.tobytes()) for t in (start, stop))


def irf_map_of(irf) -> Map:
    """The map of a PSF or EDisp IRF."""
    return irf.irf_map


def window_slice(pix: float, n: int) -> slice:
    """IRF pixels around ``pix`` such that interpolation and nearest-pixel lookups in the window
    find the same neighbours as in the whole map."""
    if n <= 2:
        return slice(0, n)
    i0 = int(np.clip(np.floor(pix), 0, n - 2))
    return slice(max(0, i0 - 1), min(n, i0 + 3))


def window_irf(irf, window: IRFWindow, block):
    """``irf`` itself, or an IRF map of the same kind over the computed window when the window
    gives the same lookup (the position's own pixel holds a defined IRF)."""
    if not window.reads:
        return irf
    image = window.geom.to_image()
    x, y = (float(np.ravel(p)[0]) for p in image.coord_to_pix(window.position))
    ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    ny, nx = image.data_shape
    if not (0 <= ix < nx and 0 <= iy < ny and np.any(block[..., iy, ix] > 0)):
        # The IRF is not defined there: gammapy moves to the nearest defined pixel of the whole
        # map, which the whole (lazy) map finds.
        return irf
    return type(irf)(Map.from_geom(window.geom, data=block, unit=window.unit))


def bounding_box(inputs: TaskInputs, position: SkyCoord, radius: float) -> tuple[slice, slice] | None:
    """Pixels of the counts grid that any cutout around ``position`` can cover.

    The PSF kernel radius is at most the PSF map's largest ``rad`` edge, so the exposure cutout
    is at most ``2 rad_max + 2 (r_eval + 0.1°)`` wide (+ odd rounding); None if that square
    misses the grid.
    """
    image = inputs.image
    scales = image.pixel_scales.deg
    psf_width = 0.0
    if inputs.psf is not None:
        rad_max = float(inputs.psf.psf_map.geom.axes["rad"].edges.max().to_value("deg"))
        binsz = float(np.max(scales))
        psf_width = int(round_up_to_odd(2 * rad_max / binsz)) * binsz
    width = psf_width + 2 * (radius + MARGIN_DEG)
    half = int(round_up_to_odd(width / float(np.min(scales)))) // 2 + 2
    x, y = (float(p) for p in position.to_pixel(image.wcs))
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    ny, nx = image.data_shape
    xc, yc = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    xs = slice(max(0, xc - half), min(nx, xc + half + 1))
    ys = slice(max(0, yc - half), min(ny, yc + half + 1))
    if xs.start >= xs.stop or ys.start >= ys.stop:
        return None
    return ys, xs


def relative(slices, bbox) -> tuple[slice, ...]:
    """``slices`` of the counts grid as slices of the bounding box ``bbox``."""
    return tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(slices, bbox, strict=True))


def check_inside(slices, bbox, name: str) -> None:
    for inner, outer in zip(slices, bbox, strict=True):
        if inner.start < outer.start or inner.stop > outer.stop:
            raise GeometryError(
                f"Internal error: the cutout of model {name!r} ({slices}) exceeds its bounding box {bbox}"
            )
