"""`MapEvaluator`: the predicted counts of one sky model on its cutout of a dataset.

gammapy's ``MapEvaluator`` made lazy.  Building a graph reads nothing: the
evaluator works out, from geometry alone, a *bounding box* of the counts grid that the model's
cutout can cover, and the few IRF pixels around the model position (:mod:`.lookup`); its task
(:func:`.tasks.evaluate_model`, a pure function) receives those small slices, looks the PSF and
EDisp kernels up at the model position, cuts gammapy's exact cutout (width
``psf_width + 2 (r_eval + 0.1°)``, odd, trimmed at the map edge) out of the bounding box, and
evaluates the model there (:mod:`.model_npred`).

Caching follows gammapy: IRFs are looked up again only when the model moved by more
than ``evaluation_radius + 0.1°`` since the last lookup (also when it does not contribute — the
fix of gammapy bug #6492); the PSF-convolved spatial integral is reused while the spatial
parameters are unchanged; the cutout npred is reused while no parameter changed, and rescaled when
only the model's single ``norm``/``amplitude`` changed.

The caches live here, in the client process, and only here: tasks return what may be cached
(:class:`.tasks.ModelResult`) and the dataset hands the results of a computation back
(:meth:`MapEvaluator.remember`).  A task never writes to an object, so the same graph gives the
same numbers on the synchronous, threaded and process schedulers and on a ``distributed`` cluster,
and a cached value enters the next graph as data under its own key.  Keeping the state in the
client (rather than in worker memory) is what makes the keys honest: a key names one value
wherever it is computed, and a restarted worker loses nothing.

Models without a bounded extent (no spatial model, a constant spatial model) are evaluated in
"global" mode: per chunk of the counts grid (see :meth:`MapEvaluator.global_array`), with IRFs at
the IRF maps' centres, as gammapy does; so are all models of datasets on a region geometry
(spectrum datasets), with gammapy's PSF containment or region-weighted PSF treatment.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import astropy.units as u
import dask
import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord, angular_separation
from dask.base import tokenize
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from ...errors import GeometryError, InvalidArgumentError, ModelError
from ...geom import WcsGeom
from ...irf import EDispKernel, PSFKernel
from ...maps import Map
from ...modeling.models import FoVBackgroundModel, SkyModel
from .lookup import (
    CUTOUT_MARGIN,
    MARGIN_DEG,
    EvaluationInputs,
    Footprint,
    Lookup,
    bounding_box,
    irf_window,
    lookup_dependencies,
)
from .tasks import CutoutNpred, ModelResult, ModelSpec, evaluate_model, global_block, renormed, resolve_lookup

__all__ = ["CutoutNpred", "MapEvaluator"]

_NORM_NAMES = ("norm", "amplitude")


@dataclass(frozen=True)
class _Keys:
    """The cache keys of the model's current parameter values at a footprint."""

    key: str  # the whole evaluation
    base_key: str  # all but the norm (for the norm shortcut)
    spatial_key: str  # the spatial parameters (for the spatial integral)
    values: tuple[float, ...]
    norm_index: int | None
    footprint: str


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
        GTIs a temporal model is averaged over when the evaluator is used without a dataset (or
        through :meth:`update`); through a dataset, the dataset's GTIs.
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
        self._inputs: EvaluationInputs | None = None
        self._footprint: Footprint | None = None
        self._lookup: tuple[str, Lookup] | None = None
        #: Keys of the nodes handed out since the last results came back (key -> what it is).
        self._pending: dict[str, tuple[_Keys, bool]] = {}
        #: The last cached-result node handed out, with what it was made from (see `local_node`).
        self._cached_node: tuple[tuple, tuple] | None = None
        self.reset_cache_properties()
        if exposure is not None:
            geom = exposure.geom
            if "energy" not in geom.axes.names:
                reco = (edisp.axes["energy"] if edisp is not None else geom.axes["energy_true"]).copy(
                    name="energy"
                )
                geom = geom.to_image().to_cube([reco])
            self._bind(EvaluationInputs(geom, exposure, None, None, () if mask is None else (mask,), gti))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model.name!r}, evaluation_mode={self.evaluation_mode!r})"

    # -- gammapy's public attributes ------------------------------------------------------------

    @property
    def position(self) -> SkyCoord | None:
        """Position of the latest IRF lookup (None before the first, or in global mode)."""
        return None if self._footprint is None else self._footprint.position

    @property
    def psf(self) -> PSFKernel | None:
        """PSF kernel of the latest lookup (or the fixed kernel)."""
        lookup = self._known_lookup()
        return self._fixed_psf if lookup is None else lookup.psf

    @property
    def edisp(self) -> EDispKernel | None:
        """Energy dispersion kernel of the latest lookup (or the fixed one)."""
        lookup = self._known_lookup()
        return self._fixed_edisp if lookup is None else lookup.edisp

    @property
    def contributes(self) -> bool:
        """Whether the model's cutout overlaps the mask (True until the first lookup)."""
        if self._footprint is not None and self._footprint.bbox is None and not self._global:
            return False
        lookup = self._known_lookup()
        return True if lookup is None else lookup.contributes

    @property
    def psf_width(self) -> u.Quantity:
        """Width of the PSF kernel (0 without PSF)."""
        lookup = self._known_lookup()
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
        lookup = self._known_lookup()
        if lookup is not None and lookup.geom is not None:
            return lookup.geom
        return None if self._inputs is None or self._inputs.exposure is None else self._inputs.exposure.geom

    @property
    def exposure(self) -> Map | None:
        """The exposure the model is evaluated with: a lazy cutout after a lookup."""
        if self._inputs is None or self._inputs.exposure is None:
            return None
        lookup = self._known_lookup()
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
        inputs = EvaluationInputs(geom, exposure, psf, edisp, () if mask is None else (mask,), self.gti)
        self._whole_map = False
        self._bind(inputs)
        self._footprint = self._new_footprint(inputs)
        if self._global or self._footprint.bbox is not None:
            self._look_up_now()

    def resolve_contributes(self) -> bool:
        """:attr:`contributes` for the current position, looking the IRFs up now if needed
        (reads only the mask and IRF pixels around the model)."""
        if self._global:
            return True
        fp = self._current_footprint()
        if fp.bbox is None:
            return False
        if self._current_lookup is None:
            self._look_up_now()
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
            array, lookup_node = self.global_array(self._inputs, chunks)
            data, lookup = dask.compute(array, lookup_node, scheduler="sync")
            self.remember(lookup_node.key, lookup)
            return Map.from_geom(geom, data=data)
        fp = self._current_footprint()
        if fp.bbox is None:
            raise GeometryError(f"Model {self.model.name!r} lies outside the dataset's sky grid")
        keys = self._keys()
        spec = self._spec(keys)
        dependencies = [self._inputs.exposure_box(fp.bbox)]
        if spec.lookup is None:
            dependencies += lookup_dependencies(self._inputs, fp)
        blocks = dask.compute(*dependencies, scheduler="sync")
        result = evaluate_model(spec, *blocks, always=True)
        self._pending[keys.key] = (keys, True)
        self.remember(keys.key, result)
        geom = result.lookup.geom.to_image().to_cube([self._inputs.geom.axes["energy"]])
        return Map.from_geom(geom, data=result.cutout.data)

    # -- results of computations ----------------------------------------------------------------

    def remember(self, key: str, result) -> None:
        """Keep what a computation of one of this evaluator's nodes gave (in this process).

        ``key`` is a node's key (:meth:`local_node`, :meth:`global_array`) and ``result`` its
        value: a `~.tasks.ModelResult`, or a `~.lookup.Lookup` for a global-mode lookup.
        Unknown keys (nodes of an earlier state) are ignored.
        """
        pending = self._pending.pop(key, None)
        if pending is None:
            return
        keys, full = pending
        if isinstance(result, Lookup):
            self._lookup = (keys.footprint, result)
            return
        self._lookup = (keys.footprint, result.lookup)
        if not self.use_cache:
            return
        self._npred_cache = (keys.key, result.cutout)
        zero = keys.norm_index is not None and keys.values[keys.norm_index] == 0
        if full and result.cutout is not None and not zero:
            self._base = (keys.base_key, keys.values, result.cutout)
        if result.spatial is not None:
            self._spatial_cache = (keys.spatial_key, result.spatial)

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

    def _known_lookup(self) -> Lookup | None:
        """The lookup at the current footprint, resolved now if a graph was built there but its
        result did not come back (a computation of ``npred()`` keeps nothing: reads a few pixels)."""
        lookup = self._current_lookup
        fp = self._footprint
        if lookup is None and fp is not None and (self._global or fp.bbox is not None):
            self._look_up_now()
            lookup = self._current_lookup
        return lookup

    @property
    def _current_lookup(self) -> Lookup | None:
        fp, lookup = self._footprint, self._lookup
        if fp is None or lookup is None or lookup[0] != fp.token:
            return None
        return lookup[1]

    def _needs_lookup(self, inputs: EvaluationInputs) -> bool:
        fp = self._footprint
        if fp is None or fp.token_inputs != inputs.token:
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
        task = inputs.task
        if self._global:
            psf = None
            if inputs.psf is not None and self.model.spatial_model is not None:
                psf = irf_window("psf", inputs.psf, None)
            position = lonlat = radius = None
            if inputs.is_region and self.model.position is not None:
                # gammapy looks a spectrum dataset's IRFs up at the model position
                position, lonlat = self.model.position, self.model.position_lonlat
                radius = float(self.model.evaluation_radius.to_value("deg"))
            edisp = None if inputs.edisp is None else irf_window("edisp", inputs.edisp, position)
            return Footprint(task, inputs.token, position, lonlat, radius, None, psf, edisp)
        if position is None:
            position, lonlat = self.model.position, self.model.position_lonlat
            radius = float(self.model.evaluation_radius.to_value("deg"))
        bbox = bounding_box(task, position, radius)
        psf = edisp = None
        if inputs.psf is not None:
            psf_position = task.psf_geom.center_skydir if inputs.psf.has_single_spatial_bin else position
            psf = irf_window("psf", inputs.psf, psf_position)
        if inputs.edisp is not None:
            edisp = irf_window("edisp", inputs.edisp, position)
        return Footprint(task, inputs.token, position, lonlat, radius, bbox, psf, edisp, len(inputs.masks))

    def _look_up_now(self) -> None:
        """Resolve the lookup at the current footprint here (a few IRF and mask pixels)."""
        fp = self._footprint
        blocks = dask.compute(*lookup_dependencies(self._inputs, fp), scheduler="sync")
        self._lookup = (fp.token, resolve_lookup(self._spec(self._keys(), private=False), *blocks))

    # -- graph nodes ----------------------------------------------------------------------------

    def _keys(self) -> _Keys:
        """Cache keys of the model as it is now, at the current footprint."""
        fp = self._footprint
        parameters = self.model.parameters
        values = parameters.cache_key
        names = tuple(parameters.names)
        apply_irf = tuple(sorted(self.model.apply_irf.items()))
        # a model wrapping another (ScaleSpectralModel) names what its parameters do not show
        identity = tuple(
            getattr(m, "cache_identity", type(m).__name__)
            for m in (self.model.spectral_model, self.model.spatial_model, self.model.temporal_model)
        )
        key = "npred-model-" + tokenize(identity, names, values, apply_irf, fp.token)
        norm_index = _norm_index(names)
        masked = list(values)
        if norm_index is not None:
            masked[norm_index] = None
        base_key = tokenize(identity, names, masked, apply_irf, fp.token)
        spatial = None if self.model.spatial_model is None else self.model.spatial_model.parameters.cache_key
        spatial_key = tokenize(type(self.model.spatial_model).__name__, spatial, apply_irf, fp.token)
        return _Keys(key, base_key, spatial_key, values, norm_index, fp.token)

    def _spec(self, keys: _Keys, private: bool = True) -> ModelSpec:
        """The task's view of the model now: a private copy of it, and what is already cached.

        A spec for a model task (``private``) is refused here, before any graph is built, when the
        task could not scale the flux by the temporal model (no GTIs, or a light curve per energy).
        """
        if private:
            self._check_temporal()
        spatial = self._spatial_cache
        return ModelSpec(
            keys.key,
            _snapshot(self.model) if private else self.model,
            keys.values,
            keys.norm_index,
            self._footprint,
            self._global,
            self._fixed_psf,
            self._fixed_edisp,
            self._current_lookup,
            spatial[1] if spatial is not None and spatial[0] == keys.spatial_key else None,
        )

    def _check_temporal(self) -> None:
        temporal = self.model.temporal_model
        if temporal is None:
            return
        if self._inputs.gti is None or len(self._inputs.gti) == 0:
            raise InvalidArgumentError(
                f"Model {self.model.name!r} has a temporal model, which scales its flux by its mean over "
                "the dataset's GTIs, but the dataset has no GTI"
            )
        if temporal.is_energy_dependent:
            raise ModelError(
                f"Model {self.model.name!r}: predicted counts with an energy-dependent temporal model "
                f"({type(temporal).__name__}) are not supported (nor in gammapy)"
            )

    def local_node(self, inputs: EvaluationInputs) -> tuple[Delayed, tuple[slice, slice], str] | None:
        """Graph node computing this model's `~.tasks.ModelResult` (its cutout, or None if it
        does not contribute).

        Returns the node, the bounding box of the counts grid its cutout can cover and the key
        of the value it gives (the same for an evaluation, a rescaling and a cached result), or
        None when that box is empty (the model lies outside the sky grid).  Nothing is computed:
        a result cached from an earlier computation enters the graph as data.  Each kind of node
        has keys of its own, so that a key always names one task (dask.distributed relies on it).
        """
        self._bind(inputs)
        # A fit changes one model at a time: the others give the node of their cached result
        # again, which this finds without re-deriving keys (the same objects and values mean
        # the same footprint, keys and cached result)
        made_from = (self.model.parameters.cache_key, tuple(self.model.apply_irf.items()))
        state = (self._inputs, self._footprint, self._lookup, self._npred_cache)
        last = self._cached_node
        if last is not None and last[0][0] == made_from:
            if all(a is b for a, b in zip(last[0][1], state, strict=True)):
                return last[1]
        fp = self._current_footprint()
        if fp.bbox is None:
            return None
        keys = self._keys()
        lookup = self._current_lookup
        cached = self._npred_cache
        if cached is not None and cached[0] == keys.key and lookup is not None:
            key = keys.key.replace("npred-model-", "npred-cached-")
            node = _node(key, {key: ModelResult(cached[1], lookup)}), fp.bbox, keys.key
            state = (self._inputs, self._footprint, self._lookup, self._npred_cache)
            self._cached_node = ((made_from, state), node)
            return node
        base = self._base
        if base is not None and base[0] == keys.base_key and lookup is not None:
            ratio = keys.values[keys.norm_index] / base[1][keys.norm_index]
            key = keys.key.replace("npred-model-", "npred-renormed-")
            self._pending[key] = (keys, False)
            return _node(key, {key: (renormed, base[2], ratio, lookup)}), fp.bbox, keys.key
        spec = self._spec(keys)
        dependencies = [inputs.exposure_box(fp.bbox)]
        if spec.lookup is None:
            dependencies += lookup_dependencies(inputs, fp)
        layer = {keys.key: (evaluate_model, spec, *[_single_key(d.__dask_keys__()) for d in dependencies])}
        self._pending[keys.key] = (keys, True)
        return _node(keys.key, layer, dependencies), fp.bbox, keys.key

    # -- global mode ----------------------------------------------------------------------------

    def global_array(self, inputs: EvaluationInputs, chunks) -> tuple[da.Array, Delayed]:
        """This model's predicted counts on the whole counts grid, chunked as ``chunks``, and
        the node of its lookup (a `~.lookup.Lookup`, for :meth:`remember`).

        Each chunk is evaluated on its own (the spatial integral is extended by the PSF kernel
        half-width, zero outside the map, before the convolution), with IRFs at the IRF maps'
        centres (gammapy's global mode).
        """
        self._bind(inputs)
        fp = self._current_footprint()
        keys = self._keys()
        spec = self._spec(keys)
        lookup_key = "npred-lookup-" + fp.token
        if spec.lookup is not None:
            lookup_key = "npred-lookup-cached-" + fp.token
            lookup = _node(lookup_key, {lookup_key: spec.lookup})
        else:
            dependencies = lookup_dependencies(inputs, fp)
            flat = [_single_key(d.__dask_keys__()) for d in dependencies]
            lookup = _node(lookup_key, {lookup_key: (resolve_lookup, spec, *flat)}, dependencies)
            self._pending[lookup_key] = (keys, False)
        exposure = inputs.exposure.dask_data
        exposure = exposure.rechunk((exposure.shape[0], *chunks[-2:]))
        n_reco = sum(chunks[0])
        full = da.map_blocks(
            # The spec goes in the function, not the arguments: dask would look into it for
            # collections (a spec holds IRF maps, which are dask collections).
            functools.partial(global_block, spec=spec),
            exposure,
            lookup,
            name="npred-global-" + tokenize(keys.key, chunks),
            chunks=((n_reco,), *exposure.chunks[1:]),
            dtype=np.float64,
            meta=np.empty((0, 0, 0)),
        )
        return (full if full.chunks == tuple(chunks) else full.rechunk(chunks)), lookup


# -- helpers ----------------------------------------------------------------------------------------


def _snapshot(model: SkyModel) -> SkyModel:
    """A private copy of ``model`` as it is now, for a task (``model.copy()`` rebuilds the
    covariance and costs 20× more).  Maps inside the model (templates) are shared, not copied:
    they are immutable graphs, or data a copy would duplicate."""
    components = (model.spatial_model, model.spectral_model, model.temporal_model)
    parts = [vars(m) for m in components if m is not None]
    shared = {id(v): v for part in parts for v in part.values() if isinstance(v, Map)}
    return copy.deepcopy(model, shared)


def _node(key: str, layer: dict, dependencies=()) -> Delayed:
    return Delayed(key, HighLevelGraph.from_collections(key, layer, dependencies=list(dependencies)))


def _norm_index(names: tuple[str, ...]) -> int | None:
    """Index of the single ``norm``/``amplitude`` parameter (None if there is not exactly one)."""
    found = [i for i, name in enumerate(names) if name in _NORM_NAMES]
    return found[0] if len(found) == 1 else None


def _single_key(keys):
    """The one key of a single-chunk collection's (nested) key list."""
    while isinstance(keys, list):
        (keys,) = keys
    return keys
