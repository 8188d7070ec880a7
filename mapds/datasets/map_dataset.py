"""`MapDataset`: counts, exposure, background, IRF maps and masks on one sky grid, with models.

Every member is a lazy :class:`~mapds.maps.Map`.  The heavy results (``npred``, ``stat_array``,
``stat_sum``, stacking, resampling) are dask graphs built by the modules next to this one; this class
holds the members, checks that they agree, and derives the masks gammapy derives.
"""

from __future__ import annotations

import copy as _copy
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
from dask.base import tokenize

from ..data import GTI
from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import LabelMapAxis, RegionGeom
from ..irf import EDispKernelMap, EDispMap, PSFMap
from ..maps import Map
from ..modeling.models import DatasetModels, FoVBackgroundModel, TemplateNPredModel
from ..modeling.names import make_name
from ..stats import cash
from . import dask_protocol, plotting, reshape, stacking
from .core import Dataset, LazyStatSum
from .engine.evaluator import MapEvaluator
from .engine.in_process import compute_in_process
from .engine.lookup import EvaluationInputs, gti_token, irf_map_of
from .engine.npred_graph import BackgroundTerm, NpredGraph, RegionReads, aligned
from .engine.npred_template import TemplateNPredEvaluator
from .engine.stat_sum import StatCache, stat_sum_graph, stat_total
from .fake_counts import poisson_counts, random_entropy
from .geoms import BINSZ_IRF_DEFAULT, create_map_dataset_geoms, empty_gti, empty_members
from .io import dataset_to_hdulist, hdulist_store, open_dataset_store, write_dataset
from .residuals import masked_residuals, smoothed_residuals
from .summary import assemble_info, info_text, lazy_info, lazy_sums, static_info

__all__ = ["MapDataset"]

#: Fit statistics a MapDataset can use (gammapy's registry keys that apply to counts datasets).
STAT_TYPES = ("cash", "cash_weighted")

#: How evaluators work: on cutouts around the models ("local"), as gammapy's default.
EVALUATION_MODE = "local"

#: Members on the counts geometry, which share its chunks.
COUNTS_GEOM_MEMBERS = ("counts", "background", "mask_safe", "mask_fit")


@dataclass(frozen=True)
class _FileOrigin:
    """Where a dataset was read from, to re-open its members (:meth:`MapDataset.reset_data_cache`)."""

    filename: object
    format: str
    storage_options: dict | None
    chunks: object


def _member_keys(member) -> tuple[str, ...] | None:
    """Names of the dask graphs of a member (a map, or an IRF map and its exposure map)."""
    if member is None:
        return None
    if isinstance(member, Map):
        return (tokenize(member.data),)
    maps = (member.psf_map if isinstance(member, PSFMap) else member.edisp_map, member.exposure_map)
    return tuple(tokenize(m.data) for m in maps if m is not None)


def _aligned(m: Map | None, reference: Map, member: str, image_only: bool = False) -> Map | None:
    """``m`` rechunked (lazily) to the chunks of ``reference``; geometry checked first."""
    if m is None:
        return None
    if image_only:
        same_grid = m.geom.to_image() == reference.geom.to_image()
    else:
        same_grid = m.geom == reference.geom
    if not same_grid:
        what = "sky grid" if image_only else "geometry"
        raise GeometryMismatchError(
            f"MapDataset: {member} {what} {m.geom.data_shape} does not match the counts "
            f"{what} {reference.geom.data_shape}"
        )
    reference_chunks = reference.dask_data.chunks
    chunks = (*m.dask_data.chunks[:-2], *reference_chunks[-2:]) if image_only else reference_chunks
    return m if m.chunks == chunks else m.rechunk(chunks)


class MapDataset(Dataset):
    """A map dataset for likelihood fitting: gammapy's ``MapDataset`` on lazy maps.

    Parameters
    ----------
    models : `~mapds.modeling.models.Models`, optional
        Source and background models; only those for this dataset (``datasets_names`` None or
        containing :attr:`name`) are kept.
    counts : `~mapds.maps.Map`, optional
        Counts cube ``(energy, y, x)``.
    exposure : `~mapds.maps.Map`, optional
        Exposure cube ``(energy_true, y, x)`` on the same sky grid.
    background : `~mapds.maps.Map`, optional
        Predicted background counts on the counts geometry.
    psf : `~mapds.irf.PSFMap`, optional
        PSF map (or `~mapds.irf.RecoPSFMap`).
    edisp : `~mapds.irf.EDispKernelMap` or `~mapds.irf.EDispMap`, optional
        Energy dispersion map.
    mask_safe, mask_fit : `~mapds.maps.Map`, optional
        Boolean masks on the counts geometry (``mask_fit`` holds float weights for
        ``stat_type="cash_weighted"``).
    gti : `~mapds.data.GTI`, optional
        Good time intervals.
    meta_table : `~astropy.table.Table`, optional
        One row per observation.
    name : str, optional
        Dataset name (a random 8-character name if None).
    meta : dict, optional
        Free metadata.
    stat_type : {"cash", "cash_weighted"}
        Fit statistic.

    Notes
    -----
    Maps on the counts geometry are rechunked lazily to the counts' chunks, and the exposure to its
    spatial chunks, so that per-chunk tasks of npred and the statistic line up with the same blocks
    of every input.
    """

    tag = "MapDataset"
    #: Members holding a map (the IRF members ``psf`` and ``edisp`` aside), in file order.
    map_members: tuple[str, ...] = dask_protocol.MAP_MEMBERS
    #: Datasets whose maps take at most this many bytes evaluate their statistic from an
    #: in-memory copy of the maps (:attr:`is_resident`); larger ones read the regions each
    #: evaluation needs.
    resident_max_bytes: int = 2 * 1024**3
    #: A statistic of a resident dataset whose tasks read at most this many counts voxels (a
    #: small dataset, or a fit's evaluation recomputing a few footprints) runs in the calling
    #: thread: scheduling would cost more than the tasks.
    in_process_max_voxels: int = 2_000_000
    # Set by `read`: the file to re-open members from, and the graph names of those members.
    _origin: _FileOrigin | None = None
    _file_keys: dict = {}  # noqa: RUF012 (replaced, never mutated)
    # What the statistic reads, kept between evaluations (reset by `copy`): the evaluators'
    # inputs, the resident in-memory copy of the maps and the lazy reads of map regions.
    _inputs_cache: tuple | None = None
    _resident: tuple | None = None
    _region_reads: RegionReads | None = None

    def __init__(
        self,
        models=None,
        counts=None,
        exposure=None,
        background=None,
        psf=None,
        edisp=None,
        mask_safe=None,
        mask_fit=None,
        gti=None,
        meta_table=None,
        name=None,
        meta=None,
        stat_type="cash",
    ):
        if psf is not None and not isinstance(psf, PSFMap):
            raise InvalidArgumentError(f"'psf' must be a PSFMap or None, got {type(psf).__name__}")
        if edisp is not None and not isinstance(edisp, (EDispKernelMap, EDispMap)):
            raise InvalidArgumentError(
                f"'edisp' must be an EDispKernelMap, an EDispMap or None, got {type(edisp).__name__}"
            )
        if gti is not None and not isinstance(gti, GTI):
            raise InvalidArgumentError(f"'gti' must be a GTI or None, got {type(gti).__name__}")
        self._name = make_name(name)
        reference = next((m for m in (counts, background, mask_safe, mask_fit) if m is not None), None)
        if reference is not None:
            counts = _aligned(counts, reference, "counts")
            background = _aligned(background, reference, "background")
            mask_safe = _aligned(mask_safe, reference, "mask_safe")
            mask_fit = _aligned(mask_fit, reference, "mask_fit")
            if not isinstance(reference.geom, RegionGeom):
                exposure = _aligned(exposure, reference, "exposure", image_only=True)
        self.counts = counts
        self.exposure = exposure
        self.background = background
        self.psf = psf
        self.edisp = edisp
        self.mask_safe = mask_safe
        self.mask_fit = mask_fit
        self.gti = gti
        self.meta_table = meta_table
        self.meta = dict(meta) if meta else {}
        self.stat_type = stat_type
        self.models = models

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_geoms(
        cls,
        geom,
        geom_exposure=None,
        geom_psf=None,
        geom_edisp=None,
        reference_time="2000-01-01",
        name=None,
        *,
        chunks=None,
        **kwargs,
    ):
        """Dataset of lazy zero maps on the given geometries (gammapy's ``from_geoms``).

        counts and background are float32 zeros, exposure zeros in ``m2 s``, the PSF map empty,
        the energy dispersion diagonal, ``mask_safe`` all False (so the dataset has no fit bin
        until something is stacked into it) and the GTI empty with ``reference_time``.
        Nothing is allocated: the maps are dask graphs.

        Parameters
        ----------
        geom : `~mapds.geom.WcsGeom` or `~mapds.geom.RegionGeom`
            Counts geometry.
        geom_exposure, geom_psf, geom_edisp : Geom, optional
            Geometries of the exposure, PSF and EDisp maps (omitted members are None).
        reference_time : str or `~astropy.time.Time`
            Reference time of the GTI.
        name : str, optional
            Dataset name.
        chunks : optional, keyword-only
            Dask chunks of the counts-geometry maps (see :class:`~mapds.maps.Map`); the exposure
            shares their spatial chunks.
        **kwargs
            Other constructor arguments (``meta_table``, ``models``, ``stat_type``...).
        """
        members = empty_members(geom, geom_exposure, geom_psf, geom_edisp, chunks=chunks)
        return cls(name=name, gti=empty_gti(reference_time), **members, **kwargs)

    @classmethod
    def create(
        cls,
        geom,
        energy_axis_true=None,
        migra_axis=None,
        rad_axis=None,
        binsz_irf=BINSZ_IRF_DEFAULT,
        reference_time="2000-01-01",
        name=None,
        meta_table=None,
        reco_psf=False,
        *,
        chunks=None,
        **kwargs,
    ):
        """Dataset of lazy zero maps on ``geom`` with IRF maps on a coarser grid (gammapy's
        ``create``).

        Parameters
        ----------
        geom : `~mapds.geom.WcsGeom` or `~mapds.geom.RegionGeom`
            Counts geometry (with an ``energy`` axis).
        energy_axis_true : `~mapds.geom.MapAxis`, optional
            True-energy axis (default: the reco axis renamed ``energy_true``).
        migra_axis : `~mapds.geom.MapAxis`, optional
            Migration axis: the energy dispersion becomes an `~mapds.irf.EDispMap`.
        rad_axis : `~mapds.geom.MapAxis`, optional
            PSF offset axis (default 66 bins of 0.01°).
        binsz_irf : `~astropy.units.Quantity`
            Pixel size of the IRF maps (default 0.2°).
        reference_time : str or `~astropy.time.Time`
            Reference time of the (empty) GTI.
        name : str, optional
            Dataset name.
        meta_table : `~astropy.table.Table`, optional
            Observation table.
        reco_psf : bool
            PSF map on the reco-energy axis (`~mapds.irf.RecoPSFMap`).
        chunks : optional, keyword-only
            Dask chunks of the counts-geometry maps.
        **kwargs
            Other constructor arguments.

        See Also
        --------
        mapds.datasets.geoms.create_map_dataset_geoms
        """
        geoms = create_map_dataset_geoms(
            geom,
            energy_axis_true=energy_axis_true,
            migra_axis=migra_axis,
            rad_axis=rad_axis,
            binsz_irf=binsz_irf,
            reco_psf=reco_psf,
        )
        return cls.from_geoms(
            **geoms, reference_time=reference_time, name=name, meta_table=meta_table, chunks=chunks, **kwargs
        )

    # -- identity -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Dataset name."""
        return self._name

    @property
    def stat_type(self) -> str:
        """Fit statistic (``cash`` or ``cash_weighted``)."""
        return self._stat_type

    @stat_type.setter
    def stat_type(self, value: str) -> None:
        if value not in STAT_TYPES:
            raise InvalidArgumentError(
                f"MapDataset: stat_type {value!r} is not supported; use one of {STAT_TYPES}"
            )
        self._stat_type = value

    # -- models ---------------------------------------------------------------------------------

    @property
    def models(self) -> DatasetModels | None:
        """Models of this dataset (those whose ``datasets_names`` is None or contains its name)."""
        return self._models

    @models.setter
    def models(self, models) -> None:
        self._models = None
        if models is not None:
            models = DatasetModels(models)
            selected = [m for m in models if m.datasets_names is None or self.name in m.datasets_names]
            self._models = DatasetModels(selected)
        # One evaluator per sky model, rebuilt on every assignment (gammapy's way to refresh them).
        self._evaluators = {
            m.name: (
                TemplateNPredEvaluator(m)
                if isinstance(m, TemplateNPredModel)
                else MapEvaluator(m, gti=self.gti, evaluation_mode=EVALUATION_MODE)
            )
            for m in (self._models or [])
            if not isinstance(m, FoVBackgroundModel)
        }
        self._stat_cache = StatCache()

    @property
    def background_model(self) -> FoVBackgroundModel | None:
        """The `FoVBackgroundModel` of this dataset, if any."""
        if self._models is None:
            return None
        return next((m for m in self._models if isinstance(m, FoVBackgroundModel)), None)

    @property
    def evaluators(self) -> dict[str, MapEvaluator | TemplateNPredEvaluator]:
        """Name → evaluator (`MapEvaluator`, or `TemplateNPredEvaluator` for a `TemplateNPredModel`)
        of every model but the FoV background model."""
        return self._evaluators

    # -- geometry -------------------------------------------------------------------------------

    @property
    def _geom(self):
        """The main geometry: that of counts, else background, mask_safe or mask_fit."""
        for m in (self.counts, self.background, self.mask_safe, self.mask_fit):
            if m is not None:
                return m.geom
        raise GeometryMismatchError(
            "MapDataset has no counts, background, mask_safe or mask_fit: no main geometry"
        )

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of the counts cube."""
        return self._geom.data_shape

    @property
    def geoms(self) -> dict:
        """Geometries of the members: ``geom``, ``geom_exposure``, ``geom_psf``, ``geom_edisp``."""
        geoms = {"geom": self._geom}
        if self.exposure is not None:
            geoms["geom_exposure"] = self.exposure.geom
        if self.psf is not None:
            geoms["geom_psf"] = self.psf.psf_map.geom
        if self.edisp is not None:
            geoms["geom_edisp"] = self.edisp.edisp_map.geom
        return geoms

    # -- masks ----------------------------------------------------------------------------------

    @property
    def mask(self) -> Map | None:
        """``mask_safe × mask_fit`` where both exist, else whichever exists, else None."""
        if self.mask_safe is not None and self.mask_fit is not None:
            return self.mask_safe * self.mask_fit
        return self.mask_safe if self.mask_safe is not None else self.mask_fit

    @staticmethod
    def _image_or(mask: Map | None) -> Map | None:
        return None if mask is None else mask.reduce_over_axes(func=np.logical_or, keepdims=False)

    @property
    def mask_safe_image(self) -> Map | None:
        """``mask_safe`` OR-reduced over its non-spatial axes."""
        return self._image_or(self.mask_safe)

    @property
    def mask_fit_image(self) -> Map | None:
        """``mask_fit`` OR-reduced over its non-spatial axes."""
        return self._image_or(self.mask_fit)

    @property
    def mask_image(self) -> Map:
        """``mask`` OR-reduced over its non-spatial axes; all True without masks."""
        mask = self.mask
        if mask is None:
            geom = self._geom.to_image()
            chunks = self.counts.dask_data.chunks[-2:] if self.counts is not None else None
            data = da.ones(geom.data_shape, dtype=bool, chunks=chunks or "auto")
            return Map.from_geom(geom, data=data)
        return self._image_or(mask.astype(bool) if mask.dtype != bool else mask)

    @property
    def mask_safe_psf(self) -> Map | None:
        """``mask_safe_image`` on the PSF map's grid (nearest pixel), with the PSF axes squashed
        (``energy_true``, or ``energy`` for a `RecoPSFMap`, and ``rad``)."""
        if self.mask_safe is None or self.psf is None:
            return None
        geom = self.psf.psf_map.geom
        energy = "energy_true" if "energy_true" in geom.axes.names else "energy"
        geom = geom.squash(energy).squash("rad")
        mask = self.mask_safe_image.interp_to_geom(geom.to_image(), method="nearest")
        return mask.to_cube(geom.axes)

    @property
    def mask_safe_edisp(self) -> Map | None:
        """``mask_safe`` mapped onto the energy-dispersion grid (weights for stacking it)."""
        if self.mask_safe is None or self.edisp is None:
            return None
        if isinstance(self.mask_safe.geom, RegionGeom):
            return self.mask_safe
        geom = self.edisp.edisp_map.geom.squash("energy_true")
        if "migra" in geom.axes.names:
            geom = geom.squash("migra")
            mask = self.mask_safe_image.interp_to_geom(geom.to_image(), fill_value=None)
            return mask.to_cube(geom.axes)
        # Extrapolate only spatially: the mask and the IRF grid may cover different areas.
        same_axes = geom.to_image().to_cube(self.mask_safe.geom.axes)
        mask = self.mask_safe.interp_to_geom(same_axes, fill_value=None)
        return mask.interp_to_geom(geom)

    # -- simple derived maps --------------------------------------------------------------------

    @property
    def excess(self) -> Map | None:
        """``counts − background`` (the raw background map, FoV model not applied)."""
        if self.counts is None or self.background is None:
            return None
        return self.counts - self.background

    # -- predicted counts and statistic ---------------------------------------------------------

    def _evaluation_inputs(self, maps: MapDataset):
        """What the evaluators read (from ``maps``' members, and this dataset's GTIs: ``maps`` may
        be a resident copy made before they changed), rebuilt only when one of them changed."""
        members = (maps.exposure, maps.psf, maps.edisp, maps.mask_safe, maps.mask_fit)
        members_key = (None if m is None else (id(m), _member_keys(m)) for m in members)
        key = (self._geom, gti_token(self.gti), *members_key)
        cached = self._inputs_cache
        if cached is None or cached[0] != key:
            masks = tuple(m for m in (maps.mask_safe, maps.mask_fit) if m is not None)
            inputs = EvaluationInputs(self._geom, maps.exposure, maps.psf, maps.edisp, masks, self.gti)
            cached = self._inputs_cache = (key, inputs)
        return cached[1]

    @property
    def is_resident(self) -> bool:
        """Whether the statistic reads an in-memory copy of the maps: datasets whose maps take at
        most :attr:`resident_max_bytes` (a fit then reads each map once, not at every
        evaluation)."""
        return self._member_bytes() <= self.resident_max_bytes

    def _member_bytes(self) -> int:
        total = 0
        for name in (*self.map_members, *dask_protocol.IRF_MEMBERS):
            member = getattr(self, name)
            if isinstance(member, Map):
                total += member.dask_data.nbytes
            elif member is not None:
                maps = (irf_map_of(member), member.exposure_map)
                total += sum(m.dask_data.nbytes for m in maps if m is not None)
        return total

    def _statistic_maps(self) -> MapDataset:
        """The dataset whose maps a computed statistic reads: this one, or for a resident dataset
        a persisted copy of its maps, kept while the members are the same objects over the same
        graphs.  The copy is computed (at the first computed statistic, never when a graph is
        only built) with the local threaded scheduler, so it is in this process even under a
        ``distributed`` client: evaluations of a resident dataset never leave it."""
        if not self.is_resident:
            return self
        members = [getattr(self, name) for name in (*self.map_members, *dask_protocol.IRF_MEMBERS)]
        key = tuple(None if m is None else (id(m), _member_keys(m)) for m in members)
        resident = self._resident
        if resident is None or resident[0] != key:
            copy = self.copy(name=self.name)
            resident = self._resident = (key, copy.persist(scheduler="threads"))
        return resident[1]

    def _npred_graph(self, model_names=None, with_models=True, maps: MapDataset | None = None) -> NpredGraph:
        """The predicted-counts terms of the current parameter values (nothing is computed),
        reading the members of ``maps`` (default: this dataset's own)."""
        evaluators = self.evaluators if with_models else {}
        if model_names is not None:
            names = [model_names] if isinstance(model_names, str) else list(model_names)
            evaluators = {name: self.evaluators[name] for name in names}
        if self._extra_axes:
            raise GeometryMismatchError(
                f"MapDataset {self.name!r}: models are evaluated on counts with the axes ['energy'] "
                f"only, the counts geometry has {list(self._geom.axes.names)} (as in gammapy, such a "
                "dataset takes no sky or FoV background model)"
            )
        maps = self if maps is None else maps
        members = (maps.counts, maps.background, maps.mask_safe, maps.mask_fit)
        reference = next(m for m in members if m is not None)
        chunks = reference.dask_data.chunks
        background = BackgroundTerm.from_model(aligned(maps.background, chunks), self.background_model)
        inputs = self._evaluation_inputs(maps) if evaluators else None
        if self._region_reads is None:
            self._region_reads = RegionReads()
        return NpredGraph(self._geom, chunks, background, evaluators, inputs, self._region_reads)

    @property
    def _extra_axes(self) -> bool:
        """Whether the counts have axes besides ``energy`` (e.g. an event type)."""
        return list(self._geom.axes.names) != ["energy"]

    @property
    def _background_only(self) -> bool:
        """Counts with extra axes and no model: npred is the background map, as gammapy allows."""
        return self._extra_axes and not self.evaluators and self.background_model is None

    def npred(self) -> Map:
        """Predicted counts: ``npred_background() + npred_signal()``, negative values set to 0.

        A float64 map on the counts geometry; a dask graph with one task per model cutout and
        one per chunk (nothing is computed here).
        """
        if self._background_only:
            data = da.zeros(self._geom.data_shape, chunks=self.counts.dask_data.chunks)
            if self.background is not None:
                data = da.maximum(self.background.dask_data.astype(np.float64), 0)
            return Map.from_geom(self._geom, data=data)
        return Map.from_geom(self._geom, data=self._npred_graph().npred())

    def npred_background(self) -> Map | None:
        """Background corrected by the `FoVBackgroundModel` (norm and tilt at the reco-energy bin
        centres); the background map itself without such a model, None without background."""
        if self.background is None or self.background_model is None:
            return self.background
        return Map.from_geom(self._geom, data=self._npred_graph(with_models=False).npred_background())

    def npred_signal(self, model_names=None, stack=True) -> Map:
        """Predicted counts of the sky models (not clipped).

        Parameters
        ----------
        model_names : str or list of str, optional
            Models to include (default: all); unknown names raise KeyError.
        stack : bool
            Sum the models (default), or give each contributing model its own plane along a new
            ``models`` label axis.  Deciding which models contribute reads the few mask and IRF
            pixels around each model.

        Returns
        -------
        Map
            float64 map (lazy).
        """
        if self._background_only and model_names is None and stack:
            zeros = da.zeros(self._geom.data_shape, chunks=self.counts.dask_data.chunks)
            return Map.from_geom(self._geom, data=zeros)
        graph = self._npred_graph(model_names)
        if stack:
            return Map.from_geom(self._geom, data=graph.npred_signal())
        names = [name for name in graph.names if self.evaluators[name].resolve_contributes()]
        if not names:
            return Map.from_geom(self._geom, data=graph.npred_signal([]))
        planes = [Map.from_geom(self._geom, data=graph.npred_signal([name])) for name in names]
        return Map.from_stack(planes, axis=LabelMapAxis(labels=names, name="models"))

    def stat_array(self):
        """Cash statistic per bin, ``cash(counts, npred())`` (mask not applied; multiplied by the
        mask weights for ``cash_weighted``), as a lazy float64 dask array."""
        if self.counts is None:
            raise InvalidArgumentError(f"MapDataset {self.name!r} has no counts: no fit statistic")
        npred = self.npred().data
        values = da.map_blocks(cash, aligned(self.counts, npred.chunks).data, npred, dtype=np.float64)
        mask = self.mask
        if self.stat_type == "cash_weighted" and mask is not None:
            values = values * mask.data.astype(np.float64)
        return values

    def stat_sum(self, *, compute=True):
        """Total Cash statistic over the mask (``mask_safe × mask_fit``), float64.

        Incremental: the dataset keeps per-tile partial sums from its last statistic, and only
        the tiles whose inputs changed since (under a changed model's old and new footprint;
        everywhere after a change of the FoV model or of the data) are recomputed.  A dataset
        that fits :attr:`resident_max_bytes` evaluates from an in-memory copy of its maps, in the
        calling thread when the tasks read at most :attr:`in_process_max_voxels` voxels.

        Parameters
        ----------
        compute : bool, keyword-only
            False returns the lazy 0-d dask array.  Only a computation made here (or by
            `Datasets.stat_sum`) updates the partial sums and the models' cached cutouts: they
            are kept by the dataset and its evaluators, in this process, from the values the
            computation returns (on a ``distributed`` client the tasks run on the workers and
            send back the tile sums and cutouts, which are small).
        """
        if not compute:
            if self._background_only:
                return self._masked_stat_sum()
            return stat_total(self._stat_sum_nodes(self)[0][0])
        lazy = self.lazy_stat_sum()
        values = compute_in_process(*lazy.nodes) if lazy.in_process else dask.compute(*lazy.nodes)
        return lazy.finish(values)

    def lazy_stat_sum(self) -> LazyStatSum:
        """The statistic's nodes (the tile sums, then the model cutouts) and how to finish, to be
        computed now (a resident dataset's maps are loaded here, once)."""
        if self._background_only:
            return LazyStatSum((self._masked_stat_sum(),), lambda values: float(values[0]))
        maps = self._statistic_maps()
        (node, voxels), graph = self._stat_sum_nodes(maps)

        def finish(values) -> float:
            result, *model_results = values
            self._stat_cache.store(result)
            graph.remember(model_results)
            return float(result.total)

        in_process = maps is not self and voxels <= self.in_process_max_voxels
        return LazyStatSum((node, *(n for _, n in graph.model_nodes)), finish, in_process)

    def _masked_stat_sum(self) -> da.Array:
        """``Σ stat_array`` over the mask (weighted for ``cash_weighted``), lazily: the statistic
        of a background-only dataset with extra axes, which the tiled engine does not cover."""
        values = self.stat_array()
        mask = self.mask
        if mask is not None and self.stat_type != "cash_weighted":
            values = da.where(mask.dask_data.astype(bool), values, 0.0)
        return values.sum(dtype=np.float64)

    def _stat_sum_nodes(self, maps: MapDataset):
        """The statistic's node over ``maps``' members with the voxels its tasks read, and the
        npred graph it comes from."""
        if self.counts is None:
            raise InvalidArgumentError(f"MapDataset {self.name!r} has no counts: no fit statistic")
        graph = self._npred_graph(maps=maps)
        masks = tuple(aligned(m, graph.chunks) for m in (maps.mask_safe, maps.mask_fit) if m is not None)
        # the tiles take the counts as stored (integers): the same values, without the float64 copy
        counts = aligned(maps.counts, graph.chunks).as_stored_dtype()
        weighted = self.stat_type == "cash_weighted"
        return stat_sum_graph(graph, counts, masks, weighted, self._stat_cache), graph

    # -- summary --------------------------------------------------------------------------------

    def info_dict(self, in_safe_data_range=True, *, compute=True) -> dict:
        """Summary statistics summed over the maps, as gammapy's ``info_dict`` (same keys, order
        and values).

        Sums (counts, background, npred, npred_background, npred_signal, exposure extrema,
        fit bins, the statistic) are computed together in one dask computation.

        Parameters
        ----------
        in_safe_data_range : bool
            Sum only inside ``mask_safe`` (if there is one).
        compute : bool, keyword-only
            If False, the values that need the maps are `dask.delayed.Delayed` objects from one
            shared task (``dask.compute(info)`` computes them in one pass).

        Returns
        -------
        dict
            ``name, counts, excess, sqrt_ts, background, npred, npred_background,
            npred_signal, exposure_min, exposure_max, livetime, ontime, counts_rate,
            background_rate, excess_rate, n_bins, n_fit_bins, stat_type, stat_sum``.
        """
        if not compute:
            return lazy_info(self, in_safe_data_range)
        (sums,) = dask.compute(lazy_sums(self, in_safe_data_range))
        return assemble_info(sums, static_info(self))

    def __str__(self) -> str:
        return info_text(self, self.info_dict())

    # -- simulation and residuals ---------------------------------------------------------------

    def fake(self, random_state="random-seed") -> None:
        """Replace the counts by Poisson draws of :meth:`npred` (lazily, chunk by chunk).

        Non-finite predicted counts give 0 counts; counts are float64, as in gammapy.  Each
        chunk draws from its own generator derived from the seed and the chunk index, so a
        given seed gives the same counts whatever the scheduler or number of workers (but not
        gammapy's numbers: gammapy draws the whole cube from one legacy ``RandomState``).

        Parameters
        ----------
        random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState` or `~numpy.random.Generator`
            Seed, or where to draw one from (see
            :func:`mapds.datasets.fake_counts.random_entropy`).
        """  # noqa: E501 (type list)
        npred = self.npred()
        counts = poisson_counts(npred.data, random_entropy(random_state))
        self.counts = Map.from_geom(npred.geom, data=counts, unit=npred.unit)

    def residuals(self, method="diff", **kwargs) -> Map:
        """Residual map of counts against :meth:`npred`, NaN outside :attr:`mask` (lazy).

        Parameters
        ----------
        method : {"diff", "diff/model", "diff/sqrt(model)"}
            ``data - model``, ``(data - model) / model`` or ``(data - model) / sqrt(model)``.
        **kwargs
            If given, counts and npred are smoothed first (`~mapds.maps.Map.smooth` arguments;
            defaults ``width="0.1 deg"``, ``kernel="gauss"``, ``mode="constant"``) and divided
            by the smoothed mask.
        """
        if kwargs:
            return smoothed_residuals(self.counts, self.npred(), self.mask, method, **kwargs)
        return masked_residuals(self.counts, self.npred(), self.mask, method)

    def plot_residuals_spatial(
        self, ax=None, method="diff", smooth_kernel="gauss", smooth_radius="0.1 deg", **kwargs
    ):
        """Plot the energy-summed, smoothed residual image on WCSAxes (computes only that image).

        Parameters
        ----------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`, optional
            Axes to plot on.
        method : {"diff", "diff/model", "diff/sqrt(model)"}
            Residual normalisation.
        smooth_kernel : {"gauss", "box", "disk"}
            Smoothing kernel.
        smooth_radius : `~astropy.units.Quantity`, str or float
            Smoothing width (a float is a number of pixels).
        **kwargs
            ``imshow`` arguments (defaults ``cmap="coolwarm"``, ``vmin=-5``, ``vmax=5``,
            ``add_cbar=True``).

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`
        """
        return plotting.plot_residuals_spatial(self, ax, method, smooth_kernel, smooth_radius, **kwargs)

    def plot_residuals_spectral(
        self, ax=None, method="diff", region=None, kwargs_fit=None, kwargs_safe=None, **kwargs
    ):
        """Plot the residual spectrum in ``region`` (default: the whole map), with the masks
        shaded (computes only the spectra).

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes to plot on.
        method : {"diff", "diff/sqrt(model)"}
            Residual normalisation.
        region : `~regions.SkyRegion`, optional
            Region the spectra are summed in.
        kwargs_fit, kwargs_safe : dict, optional
            ``axvspan`` arguments of the fit and safe mask shading.
        **kwargs
            ``errorbar`` arguments.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_residuals_spectral(self, ax, method, region, kwargs_fit, kwargs_safe, **kwargs)

    def plot_residuals(self, ax_spatial=None, ax_spectral=None, kwargs_spatial=None, kwargs_spectral=None):
        """Spatial and spectral residuals side by side (see :meth:`plot_residuals_spatial` and
        :meth:`plot_residuals_spectral`; ``kwargs_spectral["region"]`` is drawn on the image).

        Returns
        -------
        ax_spatial, ax_spectral : `~astropy.visualization.wcsaxes.WCSAxes`, `~matplotlib.axes.Axes`
        """
        return plotting.plot_residuals(self, ax_spatial, ax_spectral, kwargs_spatial, kwargs_spectral)

    def peek(self, figsize=(13, 7)):
        """gammapy's six-panel summary: the exposure at the middle true energy, the counts and npred
        summed over energy (with the masks shaded), and at the central pixel the exposure
        spectrum, the PSF containment radii and the energy dispersion matrix.

        The sky images are computed at display resolution, with the central exposure, in one
        pass; the IRF panels read the few IRF pixels at the centre.

        Parameters
        ----------
        figsize : tuple
            Figure size in inches.

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`, shape ``(2, 3)``
            The panels (gammapy returns None).
        """
        return plotting.peek_map_dataset(self, figsize=figsize)

    # -- I/O ------------------------------------------------------------------------------------

    @classmethod
    def read(
        cls,
        filename,
        name=None,
        lazy=False,
        cache=True,
        format="gadf",
        checksum=False,
        *,
        chunks=None,
        storage_options=None,
    ):
        """Open a dataset file lazily: gammapy's gadf FITS (plain or gzip) or a zarr group.

        The file is opened once; headers and small tables (bands, GTI, meta table, region maps)
        are read, every image stays on storage and is read chunk by chunk when computed.  Maps
        on the counts grid get the counts' chunks, the exposure their spatial chunks.

        Parameters
        ----------
        filename : str or os.PathLike
            Path or fsspec URL (``s3://``, ``https://``, ``memory://``...).  A ``.zarr`` URL
            is read as zarr.
        name : str, optional
            Dataset name (default: the ``NAME`` stored in the file, else a random name).
        lazy, cache : bool
            Accepted for gammapy compatibility; everything is lazy, nothing is cached (see
            :meth:`reset_data_cache`).
        format : {"gadf", "zarr"}
            File format.
        checksum : bool
            Verify FITS checksums (reads the whole file).
        chunks : optional, keyword-only
            Dask chunks of the counts-grid maps (``{}``: the storage's native chunks).
        storage_options : dict, optional, keyword-only
            fsspec options (credentials, endpoint...).
        """
        store = open_dataset_store(
            filename, format=format, checksum=checksum, storage_options=storage_options
        )
        contents = store.read(chunks=chunks)
        members = cls._own_members(contents.members)
        dataset = cls(
            name=name or contents.name,
            gti=contents.gti,
            meta_table=contents.meta_table,
            meta=contents.meta,
            **members,
        )
        dataset._origin = _FileOrigin(filename, format, storage_options, chunks)
        dataset._file_keys = {member: _member_keys(getattr(dataset, member)) for member in members}
        return dataset

    def write(self, filename, overwrite=False, checksum=False, *, format=None, storage_options=None):
        """Write to a gadf FITS file gammapy reads (or a zarr group), streaming chunk by chunk.

        The output appears only once complete: an interrupted or failed write leaves any
        earlier file untouched, and ``overwrite=False`` never replaces one
        (:class:`~mapds.errors.OverwriteError`).

        Parameters
        ----------
        filename : str or os.PathLike
            Path or fsspec URL; parent directories are created.
        overwrite : bool
            Replace an existing file.
        checksum : bool
            Add ``CHECKSUM``/``DATASUM`` cards (FITS).
        format : {None, "gadf", "zarr"}, keyword-only
            Default: ``zarr`` for a ``.zarr`` URL, else ``gadf``.
        storage_options : dict, optional, keyword-only
            fsspec options.
        """
        write_dataset(
            self,
            filename,
            overwrite=overwrite,
            checksum=checksum,
            format=format,
            storage_options=storage_options,
        )

    @classmethod
    def from_hdulist(cls, hdulist, name=None, lazy=False, format="gadf"):
        """Dataset from an in-memory ``HDUList`` in gammapy's gadf layout.

        Parameters
        ----------
        hdulist : `~astropy.io.fits.HDUList`
            HDUs (``COUNTS``, ``EXPOSURE``, ``BACKGROUND``, ``EDISP``, ``PSF``, masks, ``GTI``,
            ``META_TABLE``; any may be missing).
        name : str, optional
            Dataset name (default: ``NAME`` of the primary header, else random).
        lazy : bool
            Accepted for gammapy compatibility.
        format : {"gadf"}
            Layout.
        """
        contents = hdulist_store(hdulist, format=format).read()
        return cls(
            name=name or contents.name,
            gti=contents.gti,
            meta_table=contents.meta_table,
            **cls._own_members(contents.members),
        )

    @classmethod
    def _own_members(cls, members: dict) -> dict:
        """The members read from a file that this class holds (a `MapDataset` reading an on-off
        file leaves out the off counts and acceptances, as gammapy does, and the reverse)."""
        return {key: value for key, value in members.items() if key in (*cls.map_members, "psf", "edisp")}

    def to_hdulist(self):
        """The dataset as an in-memory ``HDUList`` in gammapy's layout (computes every map)."""
        return dataset_to_hdulist(self)

    def to_dict(self) -> dict:
        """Entry of the datasets YAML file: ``name``, ``type`` and ``filename``."""
        return {"name": self.name, "type": self.tag, "filename": self.name.replace(" ", "_") + ".fits"}

    @classmethod
    def from_dict(cls, data: dict, lazy=False, cache=True):
        """Dataset read from the file named by a datasets-YAML entry (see :meth:`to_dict`)."""
        return cls.read(data["filename"], name=data["name"], lazy=lazy, cache=cache)

    def reset_data_cache(self) -> None:
        """Re-open from the file the members that came from it; drop their persisted data.

        A member counts as coming from the file when its dask graph is the one read (also
        after ``persist()``, which keeps the graph keys).  Members assigned later, or datasets
        that exist only in memory, are left as they are: unlike gammapy, whose
        ``reset_data_cache`` deletes in-memory members too (the next access then raises
        ``KeyError('_counts_hdu')``), data that exist nowhere else are never dropped.
        """
        self._stat_cache.clear()
        if self._origin is None:
            return
        origin = self._origin
        store = open_dataset_store(
            origin.filename, format=origin.format, storage_options=origin.storage_options
        )
        fresh = store.read_members(chunks=origin.chunks)
        for member, keys in self._file_keys.items():
            if member in fresh and _member_keys(getattr(self, member)) == keys:
                setattr(self, member, fresh[member])
        self._file_keys = {
            member: _member_keys(getattr(self, member))
            for member in self._file_keys
            if getattr(self, member) is fresh.get(member)
        }

    # -- stacking -------------------------------------------------------------------------------

    def stack(self, other: MapDataset, nan_to_num=True) -> None:
        """Stack ``other`` into this dataset, in place; only ``other``'s masks are applied.

        counts += other's counts × its safe mask; exposure += other's exposure × its safe
        image (livetimes summed); background (``cash``) = this dataset's ``npred_background()``
        + other's × its safe mask; PSF and EDisp maps exposure-weighted; masks OR-ed; GTIs
        unioned (empty GTIs work); meta tables combined into one row.  The members become new
        dask graphs; only gammapy's livetime rule computes something: whether other's safe mask
        has a True bin, when other's exposure carries a livetime (see
        :func:`mapds.datasets.stacking.stack`).

        Parameters
        ----------
        other : MapDataset
            Dataset on the same geometry or an aligned cutout of it.
        nan_to_num : bool
            Replace non-finite values of ``other`` by zero.

        Raises
        ------
        GeometryMismatchError
            If ``other`` is neither on the same geometry nor an aligned cutout of it.
        """
        stacking.stack(self, other, nan_to_num=nan_to_num)

    def to_masked(self, name=None, nan_to_num=True) -> MapDataset:
        """A new dataset with the safe mask applied: an empty dataset on the same geometries
        with this one stacked into it.  Models are not carried over."""
        return stacking.to_masked(self, name=name, nan_to_num=nan_to_num)

    def apply_mask_safe(self, name=None, nan_to_num=True) -> MapDataset:
        """Deprecated alias of :meth:`to_masked` (gammapy removed ``apply_mask_safe`` in 0.19)."""
        warnings.warn(
            "MapDataset.apply_mask_safe is deprecated (gammapy removed it); use to_masked()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_masked(name=name, nan_to_num=nan_to_num)

    # -- geometry changes -----------------------------------------------------------------------

    def cutout(self, position, width, mode="trim", name=None) -> MapDataset:
        """A new dataset cut out around ``position`` (``width`` in (lon, lat); modes ``trim``,
        ``partial``, ``strict``).  See :func:`mapds.datasets.reshape.cutout`."""
        return reshape.cutout(self, position, width, mode=mode, name=name)

    def pad(self, pad_width, mode="constant", name=None) -> MapDataset:
        """A new dataset padded by ``pad_width`` pixels; ``mode`` applies to the exposure (unlike
        gammapy 2.1, which always pads with zeros).  See :func:`mapds.datasets.reshape.pad`."""
        return reshape.pad(self, pad_width, mode=mode, name=name)

    def downsample(self, factor, axis_name=None, name=None) -> MapDataset:
        """A new dataset with ``factor × factor`` pixels (or ``factor`` bins of ``axis_name``)
        merged.  See :func:`mapds.datasets.reshape.downsample`."""
        return reshape.downsample(self, factor, axis_name=axis_name, name=name)

    def resample_energy_axis(self, energy_axis, name=None) -> MapDataset:
        """A new dataset on the coarser reco-energy axis ``energy_axis``.  See
        :func:`mapds.datasets.reshape.resample_energy_axis`."""
        return reshape.resample_energy_axis(self, energy_axis, name=name)

    def slice_by_idx(self, slices, name=None) -> MapDataset:
        """A new dataset sliced along non-spatial axes (dict axis name → int or slice)."""
        return reshape.slice_by_idx(self, slices, name=name)

    def slice_by_energy(self, energy_min=None, energy_max=None, name=None) -> MapDataset:
        """A new dataset restricted to the reco-energy range, snapped to the nearest bin edges."""
        return reshape.slice_by_energy(self, energy_min=energy_min, energy_max=energy_max, name=name)

    def to_image(self, name=None) -> MapDataset:
        """A new dataset with one reco-energy bin (the exposure keeps its true-energy bins)."""
        return reshape.to_image(self, name=name)

    def to_region_map_dataset(self, region, name=None) -> MapDataset:
        """A new dataset of region maps: the sums, means and IRFs inside ``region``.  See
        :func:`mapds.datasets.reshape.to_region_map_dataset`."""
        return reshape.to_region_map_dataset(self, region, name=name)

    def to_spectrum_dataset(self, on_region, containment_correction=False, name=None):
        """A `~mapds.datasets.SpectrumDataset` of ``on_region``, optionally with the exposure
        corrected for the PSF containment.  See :func:`mapds.datasets.reshape.to_spectrum_dataset`."""
        return reshape.to_spectrum_dataset(
            self, on_region, containment_correction=containment_correction, name=name
        )

    def rechunk(self, chunks) -> MapDataset:
        """This dataset (same name, models, IRFs, GTI and metadata) with its maps on the counts
        grid in other dask chunks (``chunks`` as for `~mapds.maps.Map.rechunk`, e.g.
        ``{"y": 512, "x": 512}``).  Nothing is computed: the graphs then work on pieces of the
        stored chunks, which in a survey store hold tens of millions of voxels each."""
        members = {name: getattr(self, name) for name in self.map_members}
        members = {name: m.rechunk(chunks) for name, m in members.items() if m is not None}
        new = type(self)(
            **members,
            psf=self.psf,
            edisp=self.edisp,
            gti=self.gti,
            meta_table=self.meta_table,
            name=self.name,
        )
        new.meta = dict(self.meta)
        new.stat_type = self.stat_type
        new.models = self.models
        return new

    # -- copies ---------------------------------------------------------------------------------

    def copy(self, name: str | None = None) -> MapDataset:
        """A copy with a new name and no models.

        The copy shares no mutable state: every map is copied (lazy maps as new dask array
        objects over the same graph, so nothing is computed), and assigning into a copy's data
        leaves this dataset unchanged.
        """
        new = _copy.copy(self)
        for member in (*self.map_members, *dask_protocol.IRF_MEMBERS):
            value = getattr(self, member)
            setattr(new, member, None if value is None else value.copy())
        new._name = make_name(name)
        new.meta = _copy.deepcopy(self.meta)
        new.gti = None if self.gti is None else self.gti.copy()
        new.meta_table = None if self.meta_table is None else self.meta_table.copy()
        new.models = None
        new._region_reads = new._resident = new._inputs_cache = None
        return new

    # -- the dask collection protocol (the dataset's maps) ---------------------------------------

    def __dask_graph__(self):
        return dask_protocol.dataset_graph(dask_protocol.lazy_members(self))

    def __dask_keys__(self):
        return [m.__dask_keys__() for _, m in dask_protocol.lazy_members(self)]

    def __dask_layers__(self):
        return tuple(layer for _, m in dask_protocol.lazy_members(self) for layer in m.__dask_layers__())

    def __dask_tokenize__(self):
        maps = dask_protocol.dataset_maps(self)
        return type(self).__name__, self.name, [(path, tokenize(m)) for path, m in maps]

    __dask_optimize__ = staticmethod(da.Array.__dask_optimize__)
    __dask_scheduler__ = staticmethod(da.Array.__dask_scheduler__)

    def __dask_postcompute__(self):
        members = dask_protocol.lazy_members(self)
        posts = [m.__dask_postcompute__() for _, m in members]
        return dask_protocol.computed_dataset, (self, [path for path, _ in members], posts)

    def __dask_postpersist__(self):
        members = dask_protocol.lazy_members(self)
        posts = [m.__dask_postpersist__() for _, m in members]
        keys = [m.__dask_keys__() for _, m in members]
        return dask_protocol.persisted_dataset, (self, [path for path, _ in members], posts, keys)

    def persist(self, **kwargs) -> MapDataset:
        """The same dataset (name and models) with every map's chunks computed and kept in memory
        (or on the cluster); ``kwargs`` go to ``dask.persist``."""
        (out,) = dask.persist(self, **kwargs)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, geom shape={self.data_shape})"
