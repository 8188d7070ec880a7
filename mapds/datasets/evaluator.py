"""`MapEvaluator`: the predicted counts of one sky model on its cutout of a dataset.

gammapy's ``MapEvaluator`` (fact sheet §3) made lazy.  Building a graph reads nothing: the
evaluator works out, from geometry alone, a *bounding box* of the counts grid that the model's
cutout can cover, and the few IRF pixels around the model position
(:mod:`mapds.datasets.model_lookup`); its task (numpy, run by dask) receives those small slices,
looks the PSF and EDisp kernels up at the model position, cuts gammapy's exact cutout (width
``psf_width + 2 (r_eval + 0.1°)``, odd, trimmed at the map edge) out of the bounding box, and
evaluates the model there (:mod:`mapds.datasets.model_npred`).

Caching follows gammapy (§3.5–3.6): IRFs are looked up again only when the model moved by more
than ``evaluation_radius + 0.1°`` since the last lookup (also when it does not contribute — the
fix of gammapy bug #6492); the PSF-convolved spatial integral is reused while the spatial
parameters are unchanged; the cutout npred is reused while no parameter changed, and rescaled when
only the model's single ``norm``/``amplitude`` changed.  Caches live on the evaluator, so they
work on the threaded and synchronous schedulers; on a distributed cluster tasks run on copies and
the work is simply redone.

Models without a bounded extent (no spatial model, a constant spatial model) are evaluated in
"global" mode: per chunk of the counts grid (see :meth:`MapEvaluator.global_array`), with IRFs at
the IRF maps' centres, as gammapy does; so are all models of datasets on a region geometry
(spectrum datasets), with gammapy's PSF containment or region-weighted PSF treatment.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from functools import cached_property

import astropy.units as u
import dask
import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord, angular_separation
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from regions import CircleSkyRegion

from ..errors import GeometryError, InvalidArgumentError
from ..geom import WcsGeom
from ..irf import EDispKernel, PSFKernel
from ..maps import Map
from ..modeling.models import FoVBackgroundModel, PointSpatialModel, SkyModel
from . import model_npred
from .model_lookup import (
    CUTOUT_MARGIN,
    MARGIN_DEG,
    PSF_CONTAINMENT,
    PSF_MAX_RADIUS,
    EvaluationInputs,
    Footprint,
    Lookup,
    bounding_box,
    check_inside,
    irf_window,
    kernel_width,
    relative,
    window_irf,
)

__all__ = ["CutoutNpred", "MapEvaluator"]

log = logging.getLogger(__name__)

_NORM_NAMES = ("norm", "amplitude")


@dataclass(frozen=True)
class CutoutNpred:
    """Predicted counts of one model on its cutout, and where the cutout sits.

    Parameters
    ----------
    data : ndarray
        ``(n_reco, ny, nx)`` predicted counts, float64 (as computed: may hold non-finite values).
    y, x : slice
        Rows and columns of the counts grid the cutout covers.
    """

    data: np.ndarray
    y: slice
    x: slice

    @cached_property
    def stackable(self) -> np.ndarray:
        """:attr:`data` with non-finite values set to 0, as gammapy adds cutouts into a map."""
        return model_npred.stackable(self.data)


@dataclass(frozen=True, eq=False)
class _Plan:
    """Everything a model task needs: a snapshot of the parameter values and the lookup."""

    key: str
    names: tuple[str, ...]
    values: tuple[float, ...]
    footprint: Footprint
    spatial_key: str
    base_key: str
    norm_index: int | None = None


# -- the evaluator ----------------------------------------------------------------------------------


class MapEvaluator:
    """Evaluates one `~mapds.modeling.models.SkyModel` on a dataset: gammapy's ``MapEvaluator``.

    A `~mapds.datasets.MapDataset` creates one per non-FoV model (see its ``evaluators``) and
    asks each for a graph node when ``npred()`` or ``stat_sum()`` is built; users mostly read its
    attributes after a computation.

    Parameters
    ----------
    model : SkyModel
        The model.
    exposure : Map, optional
        Exposure to evaluate on directly (without a dataset: the whole map, no cutout).
    psf : PSFKernel, optional
        Fixed PSF kernel (used instead of lookups; with a dataset only if its PSF map has a
        single spatial bin, as in gammapy).
    edisp : EDispKernel, optional
        Fixed energy dispersion (when no dataset provides one).
    gti : GTI, optional
        Kept for gammapy compatibility (temporal models are not supported yet).
    mask : Map, optional
        Mask image deciding :attr:`contributes` on :meth:`update`.
    evaluation_mode : {"local", "global"}
        "local" evaluates on a cutout around the model; "global" on the whole map, per chunk
        (forced for models without a spatial model or without an evaluation radius).
    use_cache : bool
        Reuse results while parameters do not change.
    """

    def __init__(
        self,
        model,
        exposure=None,
        psf=None,
        edisp=None,
        gti=None,
        mask=None,
        evaluation_mode="local",
        use_cache=True,
    ):
        if not isinstance(model, SkyModel) or isinstance(model, FoVBackgroundModel):
            raise InvalidArgumentError(f"MapEvaluator needs a SkyModel, got {type(model).__name__}")
        if evaluation_mode not in ("local", "global"):
            raise InvalidArgumentError(
                f"Invalid evaluation_mode {evaluation_mode!r}; expected 'local' or 'global'"
            )
        self.model = model
        self.gti = gti
        self.use_cache = use_cache
        if model.spatial_model is None or model.evaluation_radius is None:
            evaluation_mode = "global"
        self.evaluation_mode = evaluation_mode
        self._fixed_psf = psf
        self._fixed_edisp = edisp
        # Given an exposure (and no dataset), gammapy evaluates on the whole exposure map.
        self._whole_map = exposure is not None
        self._lock = threading.RLock()
        self._scratch = None
        self._inputs: EvaluationInputs | None = None
        self._footprint: Footprint | None = None
        self._lookup: tuple[str, Lookup] | None = None
        self.reset_cache_properties()
        if exposure is not None:
            geom = exposure.geom
            if "energy" not in geom.axes.names:
                reco = (edisp.axes["energy"] if edisp is not None else geom.axes["energy_true"]).copy(
                    name="energy"
                )
                geom = geom.to_image().to_cube([reco])
            self._bind(EvaluationInputs(geom, exposure, None, None, () if mask is None else (mask,)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model.name!r}, evaluation_mode={self.evaluation_mode!r})"

    def __getstate__(self) -> dict:
        # Tasks hold the evaluator; on a distributed cluster it travels without its lock.
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- gammapy's public attributes ------------------------------------------------------------

    @property
    def position(self) -> SkyCoord | None:
        """Position of the latest IRF lookup (None before the first, or in global mode)."""
        return None if self._footprint is None else self._footprint.position

    @property
    def psf(self) -> PSFKernel | None:
        """PSF kernel of the latest lookup (or the fixed kernel)."""
        lookup = self._current_lookup
        return self._fixed_psf if lookup is None else lookup.psf

    @property
    def edisp(self) -> EDispKernel | None:
        """Energy dispersion kernel of the latest lookup (or the fixed one)."""
        lookup = self._current_lookup
        return self._fixed_edisp if lookup is None else lookup.edisp

    @property
    def contributes(self) -> bool:
        """Whether the model's cutout overlaps the mask (True until the first lookup)."""
        if self._footprint is not None and self._footprint.bbox is None and not self._global:
            return False
        lookup = self._current_lookup
        return True if lookup is None else lookup.contributes

    @property
    def psf_width(self) -> u.Quantity:
        """Width of the PSF kernel (0 without PSF)."""
        lookup = self._current_lookup
        return u.Quantity(0.0 if lookup is None else lookup.psf_width, "deg")

    @property
    def cutout_width(self) -> u.Quantity | None:
        """Width of the cutout: ``psf_width + 2 (evaluation_radius + 0.1°)`` (local mode)."""
        if self._footprint is None or self._footprint.evaluation_radius is None:
            return None
        return self.psf_width + 2 * (self._footprint.evaluation_radius * u.deg + CUTOUT_MARGIN)

    @property
    def geom(self) -> WcsGeom | None:
        """True-energy geometry the model is evaluated on (the exposure cutout's)."""
        lookup = self._current_lookup
        if lookup is not None and lookup.geom is not None:
            return lookup.geom
        return None if self._inputs is None or self._inputs.exposure is None else self._inputs.exposure.geom

    @property
    def exposure(self) -> Map | None:
        """The exposure the model is evaluated with: a lazy cutout after a lookup."""
        if self._inputs is None or self._inputs.exposure is None:
            return None
        lookup = self._current_lookup
        if lookup is None or lookup.slices is None:
            return self._inputs.exposure
        ys, xs = lookup.slices
        return self._inputs.exposure.slice_by_idx({"y": ys, "x": xs})

    @property
    def needs_update(self) -> bool:
        """Whether the next evaluation looks the IRFs up again (first time, or moved away)."""
        return self._inputs is None or self._needs_lookup(self._inputs)

    def update(self, exposure, psf, edisp, geom, mask) -> None:
        """Look the IRFs up at the model's current position now (gammapy's ``update``).

        Reads only the few IRF pixels and the mask window needed.

        Parameters
        ----------
        exposure : Map
            Exposure of the dataset.
        psf : PSFMap or None
            PSF map.
        edisp : EDispKernelMap, EDispMap or None
            Energy dispersion map.
        geom : WcsGeom
            Counts geometry.
        mask : Map or None
            Mask image (or cube) deciding whether the model contributes.
        """
        inputs = EvaluationInputs(geom, exposure, psf, edisp, () if mask is None else (mask,))
        self._whole_map = False
        self._bind(inputs)
        self._footprint = self._new_footprint(inputs)
        fp = self._footprint
        if self._global or fp.bbox is not None:
            blocks = dask.compute(*self._lookup_dependencies(fp), scheduler="sync")
            self._resolve_lookup(fp, *self._split_lookup_blocks(fp, blocks))

    def resolve_contributes(self) -> bool:
        """:attr:`contributes` for the current position, looking the IRFs up now if needed
        (reads only the mask and IRF pixels around the model)."""
        if self._global:
            return True
        fp = self._current_footprint()
        if fp.bbox is None:
            return False
        if self._current_lookup is None:
            blocks = dask.compute(*self._lookup_dependencies(fp), scheduler="sync")
            self._resolve_lookup(fp, *self._split_lookup_blocks(fp, blocks))
        return self._current_lookup.contributes

    def reset_cache_properties(self) -> None:
        """Forget cached results (spatial flux, npred); IRF lookups are kept."""
        self._npred_cache: tuple[str, CutoutNpred | None] | None = None
        self._base: tuple[str, tuple, CutoutNpred] | None = None
        self._spatial_cache: tuple[str, np.ndarray] | None = None

    def compute_npred(self) -> Map:
        """Predicted counts of the model on its cutout (on the whole map in global mode).

        Computes now (only the model's own inputs are read).  In local mode the result is
        computed also when the model does not contribute.
        """
        if self._inputs is None:
            raise InvalidArgumentError(
                f"MapEvaluator of {self.model.name!r} has no exposure: give one or use it through a dataset"
            )
        if self._global:
            geom = self._inputs.geom
            chunks = tuple((n,) for n in geom.data_shape)
            data = self.global_array(self._inputs, chunks).compute(scheduler="sync")
            return Map.from_geom(geom, data=data)
        self._current_footprint()
        plan = self._plan()
        if plan.footprint.bbox is None:
            raise GeometryError(f"Model {self.model.name!r} lies outside the dataset's sky grid")
        blocks = dask.compute(*self._task_dependencies(plan.footprint), scheduler="sync")
        result = self._evaluate(plan, *blocks, always=True)
        geom = self._current_lookup.geom.to_image().to_cube([self._inputs.reco_axis])
        return Map.from_geom(geom, data=result.data)

    # -- binding to a dataset -------------------------------------------------------------------

    @property
    def _global(self) -> bool:
        """Whether the model is evaluated on the whole map (per chunk) rather than a cutout."""
        region = self._inputs is not None and self._inputs.is_region
        return self.evaluation_mode == "global" or self._whole_map or region

    def _bind(self, inputs: EvaluationInputs) -> None:
        """Use ``inputs`` from now on.

        Inputs with other values (another token) drop the lookup and the caches.  The same values
        in new objects (e.g. persisted maps, which keep their graph names) keep them, but the
        footprint is rebuilt at the same lookup position so that tasks read the new objects.
        """
        if inputs is self._inputs:
            return
        if inputs.exposure is None:
            raise InvalidArgumentError(
                f"Cannot evaluate model {self.model.name!r}: the dataset has no exposure"
            )
        old, fp = self._inputs, self._footprint
        self._inputs = inputs
        if old is None or old.token != inputs.token or fp is None:
            self._footprint = None
            self._lookup = None
            self.reset_cache_properties()
        else:
            self._footprint = self._new_footprint(inputs, fp.position, fp.lonlat, fp.evaluation_radius)

    @property
    def _current_lookup(self) -> Lookup | None:
        fp, lookup = self._footprint, self._lookup
        if fp is None or lookup is None or lookup[0] != fp.token:
            return None
        return lookup[1]

    def _needs_lookup(self, inputs: EvaluationInputs) -> bool:
        fp = self._footprint
        if fp is None or fp.inputs.token != inputs.token:
            return True
        if self._global:
            return False
        lon, lat = self.model.position_lonlat
        moved = angular_separation(lon, lat, *fp.lonlat)
        return bool(moved > np.deg2rad(self.model.evaluation_radius.to_value("deg") + MARGIN_DEG))

    def _current_footprint(self) -> Footprint:
        """The footprint to evaluate with: the last one, or a new one if the model moved away."""
        if self._needs_lookup(self._inputs):
            self._footprint = self._new_footprint(self._inputs)
        return self._footprint

    def _new_footprint(self, inputs: EvaluationInputs, position=None, lonlat=None, radius=None) -> Footprint:
        """Lookup position, bounding box and IRF windows: for the model as it is now, or at a
        given (earlier) lookup ``position``, ``lonlat`` and evaluation ``radius``."""
        if self._global:
            psf = None
            if inputs.psf is not None and self.model.spatial_model is not None:
                psf = irf_window(inputs.psf, None)
            position = lonlat = radius = None
            if inputs.is_region and self.model.position is not None:
                # gammapy looks a spectrum dataset's IRFs up at the model position
                position, lonlat = self.model.position, self.model.position_lonlat
                radius = float(self.model.evaluation_radius.to_value("deg"))
            edisp = None if inputs.edisp is None else irf_window(inputs.edisp, position)
            return Footprint(inputs, position, lonlat, radius, None, psf, edisp)
        if position is None:
            position, lonlat = self.model.position, self.model.position_lonlat
            radius = float(self.model.evaluation_radius.to_value("deg"))
        bbox = bounding_box(inputs, position, radius)
        psf = edisp = None
        if inputs.psf is not None:
            psf_position = inputs.psf_geom.center_skydir if inputs.psf.has_single_spatial_bin else position
            psf = irf_window(inputs.psf, psf_position)
        if inputs.edisp is not None:
            edisp = irf_window(inputs.edisp, position)
        return Footprint(inputs, position, lonlat, radius, bbox, psf, edisp)

    # -- graph nodes ----------------------------------------------------------------------------

    def _plan(self) -> _Plan:
        """Snapshot of the model for a task, with the current footprint."""
        fp = self._footprint
        parameters = self.model.parameters
        values = parameters.cache_key
        names = tuple(parameters.names)
        apply_irf = tuple(sorted(self.model.apply_irf.items()))
        identity = (type(self.model.spectral_model).__name__, type(self.model.spatial_model).__name__)
        key = "npred-model-" + tokenize(identity, names, values, apply_irf, fp.token)
        norm_index = _norm_index(names)
        masked = list(values)
        if norm_index is not None:
            masked[norm_index] = None
        base_key = tokenize(identity, names, masked, apply_irf, fp.token)
        spatial = None if self.model.spatial_model is None else self.model.spatial_model.parameters.cache_key
        spatial_key = tokenize(type(self.model.spatial_model).__name__, spatial, apply_irf, fp.token)
        return _Plan(key, names, values, fp, spatial_key, base_key, norm_index)

    def local_node(self, inputs: EvaluationInputs) -> tuple[Delayed, tuple[slice, slice]] | None:
        """Graph node computing this model's `CutoutNpred` (or None if it does not contribute).

        Returns the node and the bounding box of the counts grid its cutout can cover, or None
        when that box is empty (the model lies outside the sky grid).  Nothing is computed.
        """
        self._bind(inputs)
        fp = self._current_footprint()
        if fp.bbox is None:
            return None
        plan = self._plan()
        cached = self._npred_cache
        if cached is not None and cached[0] == plan.key:
            layer = {plan.key: cached[1]}
            return Delayed(plan.key, HighLevelGraph.from_collections(plan.key, layer)), fp.bbox
        base = self._base
        if base is not None and base[0] == plan.base_key and base[2] is not None:
            ratio = plan.values[plan.norm_index] / base[1][plan.norm_index]
            layer = {plan.key: (self._renormed, plan, base[2], ratio)}
            return Delayed(plan.key, HighLevelGraph.from_collections(plan.key, layer)), fp.bbox
        dependencies = self._task_dependencies(fp)
        keys = [d.__dask_keys__() for d in dependencies]
        flat = [_single_key(k) for k in keys]
        layer = {plan.key: (self._evaluate, plan, *flat)}
        graph = HighLevelGraph.from_collections(plan.key, layer, dependencies=dependencies)
        return Delayed(plan.key, graph), fp.bbox

    def _task_dependencies(self, fp: Footprint) -> list[da.Array]:
        return [fp.exposure_box, *self._lookup_dependencies(fp)]

    def _lookup_dependencies(self, fp: Footprint) -> list[da.Array]:
        """Dask arrays a lookup reads: mask boxes (local mode) and the IRF windows."""
        arrays = list(fp.mask_boxes) if fp.bbox is not None else []
        for window in (fp.psf, fp.edisp):
            if window is not None and window.window is not None:
                arrays.append(window.data)
        return arrays

    def _split_lookup_blocks(self, fp: Footprint, blocks) -> tuple:
        """(mask boxes, psf block, edisp block) from the computed lookup dependencies."""
        blocks = list(blocks)
        n_masks = len(fp.mask_boxes) if fp.bbox is not None else 0
        masks, rest = blocks[:n_masks], blocks[n_masks:]
        psf_block = rest.pop(0) if fp.psf is not None and fp.psf.window is not None else None
        edisp_block = rest.pop(0) if fp.edisp is not None and fp.edisp.window is not None else None
        return masks, psf_block, edisp_block

    # -- tasks (numpy) --------------------------------------------------------------------------

    def _evaluate(self, plan: _Plan, exposure_box, *blocks, always=False) -> CutoutNpred | None:
        """The model task: look up, cut out, evaluate (cached)."""
        fp = plan.footprint
        lookup = self._resolve_lookup(fp, *self._split_lookup_blocks(fp, blocks))
        if not (lookup.contributes or always):
            result = None
        else:
            exposure = exposure_box[(slice(None), *relative(lookup.slices, fp.bbox))]
            exposure = u.Quantity(exposure, fp.inputs.exposure.unit, copy=False)
            if plan.norm_index is not None and plan.values[plan.norm_index] == 0:
                n_reco = fp.inputs.reco_axis.nbin
                data = np.zeros((n_reco, *exposure.shape[1:]))
            else:
                data = self._npred(plan, lookup, lookup.geom, exposure)
            result = CutoutNpred(data, *lookup.slices)
        if self.use_cache:
            self._npred_cache = (plan.key, result)
            if result is not None and not (plan.norm_index is not None and plan.values[plan.norm_index] == 0):
                self._base = (plan.base_key, plan.values, result)
        return result

    def _renormed(self, plan: _Plan, base: CutoutNpred, ratio: float) -> CutoutNpred:
        """gammapy's norm shortcut: the last full evaluation scaled by the new norm."""
        data = np.zeros_like(base.data) if ratio == 0 else base.data * ratio
        result = CutoutNpred(data, base.y, base.x)
        if self.use_cache:
            self._npred_cache = (plan.key, result)
        return result

    def _resolve_lookup(self, fp: Footprint, mask_boxes, psf_block, edisp_block) -> Lookup:
        """IRF kernels, ``contributes`` and the cutout at footprint ``fp`` (cached per footprint)."""
        cached = self._lookup
        if cached is not None and cached[0] == fp.token:
            return cached[1]
        inputs = fp.inputs
        psf = self._lookup_psf(fp, psf_block)
        edisp = self._lookup_edisp(fp, edisp_block)
        if inputs.is_region:
            lookup = self._region_lookup(fp, edisp)
        elif self._global:
            lookup = Lookup(psf, edisp, True, inputs.exposure.geom, None)
        else:
            partial = Lookup(psf, edisp, True, None, None)
            contributes = self._contributes(fp, mask_boxes, partial.psf_width)
            width = partial.psf_width + 2 * (fp.evaluation_radius + MARGIN_DEG)
            try:
                geom = inputs.exposure.geom.cutout(fp.position, width * u.deg, odd_npix=True)
            except GeometryError:
                lookup = Lookup(psf, edisp, False, None, None)
            else:
                parent = geom.cutout_slices(inputs.exposure.geom, mode="trim")["parent-slices"]
                check_inside(parent, fp.bbox, self.model.name)
                lookup = Lookup(psf, edisp, contributes, geom, tuple(parent))
        self._lookup = (fp.token, lookup)
        return lookup

    def _region_lookup(self, fp: Footprint, edisp) -> Lookup:
        """Spectrum datasets (gammapy's rules): a point source in a circle gets the PSF
        containment within the circle; another model with a PSF a kernel, applied on a WCS grid
        around the region; ``contributes`` if the model's evaluation square meets the region."""
        inputs = fp.inputs
        spatial = self.model.spatial_model
        containment = kernel = None
        if inputs.psf is not None and spatial is not None:
            region = inputs.geom.region
            if isinstance(spatial, PointSpatialModel) and isinstance(region, CircleSkyRegion):
                energy = inputs.exposure.geom.axes["energy_true"].center.reshape((-1, 1, 1))
                fraction = inputs.psf.containment(rad=region.radius, energy_true=energy)
                containment = np.asarray(fraction.to_value(""))
            else:
                kernel = inputs.psf.get_psf_kernel(
                    geom=inputs.psf_geom.to_wcs_geom(),
                    position=fp.position,
                    containment=PSF_CONTAINMENT,
                    max_radius=PSF_MAX_RADIUS,
                )
        contributes = True
        if fp.position is not None and not inputs.geom.is_all_point_sky_regions:
            wcs_geom = inputs.geom.to_wcs_geom()
            width = (2 * fp.evaluation_radius + MARGIN_DEG + kernel_width(kernel)) * u.deg
            try:
                cutout = wcs_geom.region_mask([inputs.geom.region]).cutout(fp.position, width)
            except GeometryError:
                contributes = False
            else:
                contributes = bool(np.any(cutout.compute(scheduler="sync").data))
        return Lookup(kernel, edisp, contributes, inputs.exposure.geom, None, containment)

    def _region_spatial(self, plan: _Plan, model: SkyModel, lookup: Lookup):
        """Fraction of the model's flux in a spectrum dataset's region, per true energy."""
        if lookup.containment is not None and model.apply_irf["psf"]:
            return lookup.containment
        if lookup.psf is None or not model.apply_irf["psf"]:
            return 1.0
        cached = self._spatial_cache
        if cached is not None and cached[0] == plan.spatial_key:
            return cached[1]
        geom = plan.footprint.inputs.exposure.geom
        width = lookup.psf_width + 2 * (plan.footprint.evaluation_radius + MARGIN_DEG)
        wcs_geom = geom.to_wcs_geom(width_min=width * u.deg)
        values = model_npred.spatial_integral(model.spatial_model, wcs_geom)
        values = model_npred.apply_psf(values, lookup.psf.data)
        weights = wcs_geom.to_image().region_weights([geom.region]).compute(scheduler="sync").data
        fraction = (values * weights).sum(axis=(-2, -1), keepdims=True)
        if self.use_cache:
            self._spatial_cache = (plan.spatial_key, fraction)
        return fraction

    def _lookup_psf(self, fp: Footprint, block) -> PSFKernel | None:
        inputs = fp.inputs
        if inputs.is_region:
            return None
        if self._fixed_psf is not None and (inputs.psf is None or inputs.psf.has_single_spatial_bin):
            return self._fixed_psf
        if fp.psf is None:
            return None
        irf = window_irf(inputs.psf, fp.psf, block)
        return irf.get_psf_kernel(
            geom=inputs.psf_geom,
            position=fp.psf.position,
            containment=PSF_CONTAINMENT,
            max_radius=PSF_MAX_RADIUS,
        )

    def _lookup_edisp(self, fp: Footprint, block) -> EDispKernel | None:
        inputs = fp.inputs
        if fp.edisp is None:
            return self._fixed_edisp
        irf = window_irf(inputs.edisp, fp.edisp, block)
        return irf.get_edisp_kernel(position=fp.edisp.position, energy_axis=inputs.reco_axis)

    def _contributes(self, fp: Footprint, mask_boxes, psf_width: float) -> bool:
        """Whether the mask has a True pixel within ``2 r_eval + 0.1° + psf_width`` of the model."""
        inside = self._mask_cutout_any(fp, mask_boxes, psf_width)
        if inside and not self._mask_cutout_any(fp, mask_boxes, 0.0):
            log.warning(
                f"Model {self.model.name} is outside the target geom but contributes inside through "
                "the psf. This contribution cannot be estimated precisely. Consider extending the "
                "dataset geom and/or the masked margin in the mask_fit."
            )
        return inside

    def _mask_cutout_any(self, fp: Footprint, mask_boxes, margin: float) -> bool:
        width = 2 * fp.evaluation_radius + MARGIN_DEG + margin
        image = fp.inputs.image
        try:
            cutout = image.cutout(fp.position, width * u.deg)
        except GeometryError:
            return False
        if not mask_boxes:
            return True
        parent = cutout.cutout_slices(image, mode="trim")["parent-slices"]
        check_inside(parent, fp.bbox, self.model.name)
        window = (Ellipsis, *relative(parent, fp.bbox))
        product = mask_boxes[0][window]
        for other in mask_boxes[1:]:
            product = product * other[window]
        return bool(np.any(product))

    def _scratch_model(self, plan: _Plan) -> SkyModel:
        """A private copy of the model holding the plan's parameter values (under the lock)."""
        scratch = self._scratch
        if scratch is None or tuple(scratch.parameters.names) != plan.names:
            scratch = self._scratch = self.model.copy(name=self.model.name)
        scratch.parameters.value = plan.values
        return scratch

    def _npred(self, plan: _Plan, lookup: Lookup, geom: WcsGeom, exposure) -> np.ndarray:
        """Predicted counts ``(n_reco, ny, nx)`` on ``geom`` (true energy) from the exposure values."""
        inputs = plan.footprint.inputs
        with self._lock:
            model = self._scratch_model(plan)
            apply_irf = model.apply_irf
            flux = model_npred.spectral_flux(model.spectral_model, geom.axes["energy_true"])
            if model.spatial_model is not None:
                psf = None if inputs.reco_psf or not apply_irf["psf"] else lookup.psf
                flux = flux * self._spatial(plan, model, geom, psf)
            npred = model_npred.apply_exposure(flux, exposure) if apply_irf["exposure"] else flux.to_value("")
        npred = _fold(npred, lookup, inputs, geom, apply_irf)
        if inputs.reco_psf and apply_irf["psf"] and lookup.psf is not None:
            npred = model_npred.apply_psf(npred, lookup.psf.data)
        return np.broadcast_to(npred, (npred.shape[0], *geom.data_shape[-2:])).astype(np.float64)

    def _spatial(self, plan: _Plan, model: SkyModel, geom: WcsGeom, psf: PSFKernel | None) -> np.ndarray:
        """Spatial integral on the cutout, PSF-convolved (cached by the spatial parameters)."""
        cached = self._spatial_cache
        if cached is not None and cached[0] == plan.spatial_key:
            return cached[1]
        values = model_npred.spatial_integral(model.spatial_model, geom)
        if psf is not None:
            values = model_npred.apply_psf(values, psf.data)
        if self.use_cache:
            self._spatial_cache = (plan.spatial_key, values)
        return values

    # -- global mode ----------------------------------------------------------------------------

    def global_array(self, inputs: EvaluationInputs, chunks) -> da.Array:
        """This model's predicted counts on the whole counts grid, chunked as ``chunks``.

        Each chunk is evaluated on its own (the spatial integral is extended by the PSF kernel
        half-width, zero outside the map, before the convolution), with IRFs at the IRF maps'
        centres (gammapy's global mode).
        """
        self._bind(inputs)
        self._current_footprint()
        plan = self._plan()
        fp = plan.footprint
        lookup_key = "npred-lookup-" + fp.token
        dependencies = self._lookup_dependencies(fp)
        flat = [_single_key(d.__dask_keys__()) for d in dependencies]
        layer = {lookup_key: (self._global_lookup, fp, *flat)}
        lookup = Delayed(lookup_key, HighLevelGraph.from_collections(lookup_key, layer, dependencies))
        exposure = inputs.exposure.dask_data
        exposure = exposure.rechunk((exposure.shape[0], *chunks[-2:]))
        n_reco = sum(chunks[0])
        full = da.map_blocks(
            # The plan goes in the function, not the arguments: dask would unpack the maps it
            # holds (maps are dask collections) into dependencies of every block.
            functools.partial(self._global_block, plan=plan),
            exposure,
            lookup,
            name="npred-global-" + tokenize(plan.key, chunks),
            chunks=((n_reco,), *exposure.chunks[1:]),
            dtype=np.float64,
            meta=np.empty((0, 0, 0)),
        )
        return full if full.chunks == tuple(chunks) else full.rechunk(chunks)

    def _global_lookup(self, fp: Footprint, *blocks) -> Lookup:
        return self._resolve_lookup(fp, *self._split_lookup_blocks(fp, blocks))

    def _global_block(self, exposure_block, lookup: Lookup, plan: _Plan, block_info=None) -> np.ndarray:
        """Predicted counts of a global-mode model on one spatial chunk (all reco energies)."""
        (_, _), (y0, y1), (x0, x1) = block_info[0]["array-location"]
        inputs = plan.footprint.inputs
        exposure = u.Quantity(exposure_block, inputs.exposure.unit, copy=False)
        geom = inputs.exposure.geom
        with self._lock:
            model = self._scratch_model(plan)
            apply_irf = model.apply_irf
            flux = model_npred.spectral_flux(model.spectral_model, geom.axes["energy_true"])
            if inputs.is_region and model.spatial_model is not None:
                flux = flux * self._region_spatial(plan, model, lookup)
            elif model.spatial_model is not None:
                psf = lookup.psf if apply_irf["psf"] and not inputs.reco_psf else None
                flux = flux * _spatial_on_chunk(model.spatial_model, geom, (y0, y1), (x0, x1), psf)
            npred = model_npred.apply_exposure(flux, exposure) if apply_irf["exposure"] else flux.to_value("")
        npred = _fold(npred, lookup, inputs, geom, apply_irf)
        if not lookup.contributes:
            npred = np.zeros_like(npred)
        return np.broadcast_to(npred, (npred.shape[0], y1 - y0, x1 - x0)).astype(np.float64)


# -- helpers ----------------------------------------------------------------------------------------


def _fold(npred, lookup: Lookup, inputs: EvaluationInputs, geom, apply_irf) -> np.ndarray:
    """True → reco energy: the looked-up EDisp, or the diagonal response without one (or when
    the model does not apply it)."""
    if apply_irf["edisp"] and lookup.edisp is not None:
        matrix = lookup.edisp.pdf_matrix
    else:
        reco = lookup.edisp.axes["energy"] if lookup.edisp is not None else inputs.reco_axis
        matrix = model_npred.diagonal_edisp(geom.axes["energy_true"], reco)
    return model_npred.fold(npred, matrix)


def _pixel_window(image: WcsGeom, ys: slice, xs: slice) -> WcsGeom:
    """The sub-grid ``ys × xs`` of an image geometry (same pixels, shifted reference pixel)."""
    wcs = image.wcs.deepcopy()
    wcs.wcs.crpix -= (xs.start, ys.start)
    return WcsGeom(wcs, npix=(xs.stop - xs.start, ys.stop - ys.start))


def _norm_index(names: tuple[str, ...]) -> int | None:
    """Index of the single ``norm``/``amplitude`` parameter (None if there is not exactly one)."""
    found = [i for i, name in enumerate(names) if name in _NORM_NAMES]
    return found[0] if len(found) == 1 else None


def _single_key(keys):
    """The one key of a single-chunk collection's (nested) key list."""
    while isinstance(keys, list):
        (keys,) = keys
    return keys


def _spatial_on_chunk(spatial_model, geom: WcsGeom, ys, xs, psf: PSFKernel | None) -> np.ndarray:
    """Spatial integral on the pixels ``ys × xs`` of ``geom``, PSF-convolved as on the whole map.

    The convolution of the whole map (zero outside it) is reproduced on a chunk by evaluating
    the model on the chunk extended by the kernel half-width.
    """
    (y0, y1), (x0, x1) = ys, xs
    ny, nx = geom.data_shape[-2:]
    halo = 0 if psf is None else psf.data.shape[-1] // 2
    wy0, wy1 = max(0, y0 - halo), min(ny, y1 + halo)
    wx0, wx1 = max(0, x0 - halo), min(nx, x1 + halo)
    window = _pixel_window(geom.to_image(), slice(wy0, wy1), slice(wx0, wx1))
    if spatial_model.is_energy_dependent:
        window = window.to_cube(geom.axes)
    values = model_npred.spatial_integral(spatial_model, window)
    if psf is None:
        return values
    outside = [(wy0 - (y0 - halo), (y1 + halo) - wy1), (wx0 - (x0 - halo), (x1 + halo) - wx1)]
    values = np.pad(values, [(0, 0)] * (values.ndim - 2) + outside)
    convolved = model_npred.apply_psf(values, psf.data)
    return convolved[..., halo : halo + y1 - y0, halo : halo + x1 - x0]
