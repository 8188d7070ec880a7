"""`MapDatasetOnOff`: a map dataset whose background is measured in off regions (WStat).

The on counts come with off counts ``counts_off`` and the acceptances of the on and off regions;
their ratio ``alpha = acceptance / acceptance_off`` scales the off counts to the background in the
on region.  The background level is not a model: the statistic (WStat, :mod:`mapds.stats.wstat`)
profiles it out bin by bin given the predicted signal.  Every member is a lazy
:class:`~mapds.maps.Map` and every derived quantity a dask graph, as for `MapDataset`.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, InvalidArgumentError, NegativeCountsError
from ..maps import Map
from ..modeling.names import make_name
from ..stats import wstat, wstat_mu_bkg, wstat_sum_blocks
from . import reshape, stacking
from .core import LazyStatSum
from .engine.in_process import compute_in_process
from .engine.npred_graph import aligned
from .fake_counts import poisson_counts, random_entropy
from .map_dataset import MapDataset

__all__ = ["MapDatasetOnOff", "onoff_alpha", "onoff_npred_background", "onoff_stat_array"]

#: Members only on-off datasets have (all on the counts geometry).
ONOFF_MEMBERS = ("counts_off", "acceptance", "acceptance_off")


# -- pure functions of one block --------------------------------------------------------------------


def onoff_alpha(acceptance, acceptance_off, scale: float = 1.0) -> np.ndarray:
    """``alpha = scale × acceptance / acceptance_off`` with gammapy's ``nan_to_num``: 0 where both
    are 0, the largest finite float of the dtype where only ``acceptance_off`` is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(acceptance) / np.asarray(acceptance_off)
    if scale != 1.0:
        ratio = ratio * scale
    return np.nan_to_num(ratio)


def onoff_npred_background(n_on, n_off, alpha, mu_sig) -> np.ndarray:
    """Profiled background in the on region, ``alpha × mu_bkg`` (:func:`~mapds.stats.wstat_mu_bkg`),
    with non-finite values replaced as numpy's ``nan_to_num`` does (float64)."""
    return np.nan_to_num(np.asarray(alpha, dtype=np.float64) * wstat_mu_bkg(n_on, n_off, alpha, mu_sig))


def onoff_stat_array(n_on, n_off, alpha, mu_sig) -> np.ndarray:
    """WStat per bin with ``nan_to_num`` (gammapy's ``WStatFitStatistic.stat_array_dataset``)."""
    return np.nan_to_num(wstat(n_on, n_off, alpha, mu_sig))


def _non_negative(counts: np.ndarray, what: str) -> np.ndarray:
    """``counts`` unchanged, or :class:`~mapds.errors.NegativeCountsError` if a value is < 0."""
    if np.any(counts < 0):
        raise NegativeCountsError(
            f"{what} holds negative values (min {np.nanmin(counts)}); WStat needs counts >= 0"
        )
    return counts


def _clip_negative(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64, copy=True)
    values[values < 0] = 0
    return values


class MapDatasetOnOff(MapDataset):
    """A map dataset with on and off counts, fitted with WStat (gammapy's ``MapDatasetOnOff``).

    Parameters
    ----------
    models : `~mapds.modeling.models.Models`, optional
        Source models (the background is not modelled: WStat profiles it).
    counts : `~mapds.maps.Map`, optional
        On counts ``(energy, y, x)``.
    counts_off : `~mapds.maps.Map`, optional
        Off counts on the counts geometry (e.g. ring-convolved counts).
    acceptance, acceptance_off : `~mapds.maps.Map`, optional
        Background acceptance of the on and off regions, on the counts geometry.
    exposure : `~mapds.maps.Map`, optional
        Exposure cube ``(energy_true, y, x)``.
    mask_fit : `~mapds.maps.Map`, optional
        Fit mask.
    psf : `~mapds.irf.PSFMap`, optional
        PSF map.
    edisp : `~mapds.irf.EDispKernelMap` or `~mapds.irf.EDispMap`, optional
        Energy dispersion map.
    name : str, optional
        Dataset name (random if None).
    mask_safe : `~mapds.maps.Map`, optional
        Safe-data mask.
    gti : `~mapds.data.GTI`, optional
        Good time intervals.
    meta_table : `~astropy.table.Table`, optional
        One row per observation.
    meta : dict, optional
        Free metadata.
    stat_type : {"wstat"}
        Fit statistic.

    Notes
    -----
    ``background`` is derived, ``alpha × counts_off``, and cannot be assigned.  Maps on the
    counts geometry are rechunked lazily to the chunks of the first one given (counts,
    counts_off, acceptance, acceptance_off, mask_safe, mask_fit).
    """

    tag = "MapDatasetOnOff"
    map_members: tuple[str, ...] = ("counts", "exposure", "mask_safe", "mask_fit", *ONOFF_MEMBERS)

    def __init__(
        self,
        models=None,
        counts=None,
        counts_off=None,
        acceptance=None,
        acceptance_off=None,
        exposure=None,
        mask_fit=None,
        psf=None,
        edisp=None,
        name=None,
        mask_safe=None,
        gti=None,
        meta_table=None,
        meta=None,
        stat_type="wstat",
    ):
        grid = {
            "counts": counts,
            "counts_off": counts_off,
            "acceptance": acceptance,
            "acceptance_off": acceptance_off,
            "mask_safe": mask_safe,
            "mask_fit": mask_fit,
        }
        reference = next((m for m in grid.values() if m is not None), None)
        if reference is not None:
            for member, m in grid.items():
                if m is not None and m.geom != reference.geom:
                    raise GeometryMismatchError(
                        f"MapDatasetOnOff: {member} geometry {m.geom.data_shape} does not match the "
                        f"counts geometry {reference.geom.data_shape}"
                    )
                grid[member] = aligned(m, reference.dask_data.chunks)
        for member in ONOFF_MEMBERS:
            setattr(self, member, grid[member])
        super().__init__(
            models=models,
            counts=grid["counts"],
            exposure=exposure,
            psf=psf,
            edisp=edisp,
            mask_safe=grid["mask_safe"],
            mask_fit=grid["mask_fit"],
            gti=gti,
            meta_table=meta_table,
            name=name,
            meta=meta,
            stat_type=stat_type,
        )
        if reference is not None and exposure is not None and self.counts is None:
            # MapDataset aligns the exposure's spatial chunks to the counts only
            chunks = (*self.exposure.dask_data.chunks[:-2], *reference.dask_data.chunks[-2:])
            self.exposure = aligned(self.exposure, chunks)

    # -- identity and members -------------------------------------------------------------------

    @property
    def stat_type(self) -> str:
        """Fit statistic (``wstat``)."""
        return self._stat_type

    @stat_type.setter
    def stat_type(self, value: str) -> None:
        if value != "wstat":
            raise InvalidArgumentError(f"MapDatasetOnOff: stat_type {value!r} is not supported; use 'wstat'")
        self._stat_type = value

    @property
    def background(self) -> Map | None:
        """Background in the on region, ``alpha × counts_off`` (None without off counts)."""
        if self.counts_off is None:
            return None
        return self.alpha * self.counts_off

    @background.setter
    def background(self, value) -> None:
        if value is not None:
            raise InvalidArgumentError(
                "MapDatasetOnOff: the background is alpha × counts_off; set counts_off, acceptance "
                "and acceptance_off instead"
            )

    @property
    def _geom(self):
        """The main geometry: that of counts, else counts_off, acceptance, acceptance_off or the
        masks."""
        members = (self.counts, self.counts_off, self.acceptance, self.acceptance_off)
        for m in (*members, self.mask_safe, self.mask_fit):
            if m is not None:
                return m.geom
        raise GeometryMismatchError(
            "Either 'counts', 'counts_off', 'acceptance' or 'acceptance_off' must be defined."
        )

    @property
    def alpha(self) -> Map:
        """``acceptance / acceptance_off`` (dimensionless): 0 where both are 0, the largest finite
        float where only ``acceptance_off`` is (gammapy's ``nan_to_num``)."""
        if self.acceptance is None or self.acceptance_off is None:
            raise InvalidArgumentError(
                f"MapDatasetOnOff {self.name!r}: alpha needs acceptance and acceptance_off"
            )
        scale = float((self.acceptance.unit / self.acceptance_off.unit).to(""))
        chunks = self.acceptance.dask_data.chunks
        data = da.map_blocks(
            onoff_alpha,
            self.acceptance.dask_data,
            aligned(self.acceptance_off, chunks).dask_data,
            scale=scale,
            dtype=np.result_type(self.acceptance.dtype, self.acceptance_off.dtype),
        )
        return Map.from_geom(self._geom, data=data, unit="")

    # -- predicted counts and statistic ---------------------------------------------------------

    def _onoff_arrays(self, maps: MapDatasetOnOff, chunks) -> list[da.Array]:
        """Counts, off counts and alpha of ``maps`` as dask arrays in ``chunks``."""
        for member in ("counts", "counts_off"):
            if getattr(maps, member) is None:
                raise InvalidArgumentError(f"MapDatasetOnOff {self.name!r} has no {member}: no WStat")
        arrays = []
        for member in ("counts", "counts_off"):
            data = aligned(getattr(maps, member), chunks).dask_data
            what = f"MapDatasetOnOff {self.name!r}: {member}"
            arrays.append(da.map_blocks(_non_negative, data, what=what, dtype=data.dtype))
        return [*arrays, aligned(maps.alpha, chunks).dask_data]

    def npred_background(self) -> Map | None:
        """Background in the on region profiled by WStat given :meth:`npred_signal`:
        ``alpha × mu_bkg`` (float64, lazy; None without counts or off counts)."""
        if self.counts is None or self.counts_off is None:
            return None
        signal = self.npred_signal().dask_data
        arrays = self._onoff_arrays(self, signal.chunks)
        data = da.map_blocks(onoff_npred_background, *arrays, signal, dtype=np.float64)
        return Map.from_geom(self._geom, data=data)

    def npred_off(self) -> Map:
        """Predicted off counts, ``npred_background() / alpha``."""
        return self.npred_background() / self.alpha

    def npred(self) -> Map:
        """``npred_signal() + npred_background()``, negative values set to 0 (float64, lazy)."""
        signal = self.npred_signal()
        background = self.npred_background()
        data = signal.dask_data if background is None else signal.dask_data + background.dask_data
        return Map.from_geom(self._geom, data=da.map_blocks(_clip_negative, data, dtype=np.float64))

    def stat_array(self) -> da.Array:
        """WStat per bin given :meth:`npred_signal` (mask not applied; NaN → 0 and ±inf → the
        largest finite float, as gammapy), a lazy float64 dask array."""
        signal = self.npred_signal().dask_data
        arrays = self._onoff_arrays(self, signal.chunks)
        return da.map_blocks(onoff_stat_array, *arrays, signal, dtype=np.float64)

    def _stat_sum_graph(self, maps: MapDatasetOnOff):
        """Lazy ``Σ wstat`` over the mask of ``maps``' members, and the npred graph it reads."""
        graph = self._npred_graph(maps=maps)
        signal = graph.npred_signal()
        arrays = self._onoff_arrays(maps, signal.chunks)
        mask = maps.mask
        mask_data = None if mask is None else aligned(mask, signal.chunks).dask_data.astype(bool)
        return wstat_sum_blocks(*arrays, signal, mask_data), graph

    def stat_sum(self, *, compute=True):
        """Total WStat over the mask (``mask_safe × mask_fit``), float64.

        One float64 partial sum per chunk, then a tree reduction.  A dataset that fits
        :attr:`resident_max_bytes` evaluates from an in-memory copy of its maps (a fit reads
        each map once), in the calling thread when small; the models' cutouts are kept between
        evaluations as for `MapDataset`.

        Parameters
        ----------
        compute : bool, keyword-only
            False returns the lazy 0-d dask array.
        """
        if not compute:
            return self._stat_sum_graph(self)[0]
        lazy = self.lazy_stat_sum()
        values = compute_in_process(*lazy.nodes) if lazy.in_process else dask.compute(*lazy.nodes)
        return lazy.finish(values)

    def lazy_stat_sum(self) -> LazyStatSum:
        """The statistic's node and the model cutouts' nodes, and how to finish."""
        maps = self._statistic_maps()
        total, graph = self._stat_sum_graph(maps)
        (node,) = total.to_delayed(optimize_graph=False).ravel()

        def finish(values) -> float:
            result, *model_results = values
            graph.remember(model_results)
            return float(result)

        voxels = int(np.prod(self.data_shape))
        in_process = maps is not self and voxels <= self.in_process_max_voxels
        return LazyStatSum((node, *(n for _, n in graph.model_nodes)), finish, in_process)

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
    ) -> MapDatasetOnOff:
        """Dataset of lazy zero maps on the given geometries (gammapy's ``from_geoms``): the
        members of `MapDataset.from_geoms`, and float32 zero ``counts_off``, ``acceptance`` and
        ``acceptance_off``.  See `MapDataset.from_geoms` for the parameters."""
        dataset = MapDataset.from_geoms(
            geom,
            geom_exposure=geom_exposure,
            geom_psf=geom_psf,
            geom_edisp=geom_edisp,
            reference_time=reference_time,
            name=name,
            chunks=chunks,
            **kwargs,
        )
        counts_chunks = dataset.counts.dask_data.chunks
        off_maps = {key: Map.from_geom(geom, unit="", chunks=counts_chunks) for key in ONOFF_MEMBERS}
        return cls.from_map_dataset(dataset, name=name, **off_maps)

    @classmethod
    def from_map_dataset(
        cls, dataset: MapDataset, acceptance, acceptance_off, counts_off=None, name=None
    ) -> MapDatasetOnOff:
        """On-off dataset from a `MapDataset` and the acceptances (gammapy's ``from_map_dataset``).

        Parameters
        ----------
        dataset : MapDataset
            Counts, exposure, IRFs, masks, GTI, meta table and models.
        acceptance, acceptance_off : `~mapds.maps.Map` or float
            Acceptance of the on and off regions (a scalar is a constant map).
        counts_off : `~mapds.maps.Map`, optional
            Off counts; default, when ``dataset`` has a background: ``npred_background() /
            alpha`` (not integers).
        name : str, optional
            Name of the new dataset (random if None, as in gammapy).
        """
        if counts_off is None and dataset.background is not None:
            alpha = acceptance / acceptance_off
            counts_off = dataset.npred_background() / alpha
        geom = dataset._geom
        chunks = dataset.counts.dask_data.chunks if dataset.counts is not None else None
        if np.isscalar(acceptance):
            acceptance = Map.from_geom(geom, data=np.full(geom.data_shape, acceptance), chunks=chunks)
        if np.isscalar(acceptance_off):
            acceptance_off = Map.from_geom(geom, data=np.full(geom.data_shape, acceptance_off), chunks=chunks)
        return cls(
            models=dataset.models,
            counts=dataset.counts,
            exposure=dataset.exposure,
            counts_off=counts_off,
            edisp=dataset.edisp,
            psf=dataset.psf,
            mask_safe=dataset.mask_safe,
            mask_fit=dataset.mask_fit,
            acceptance=acceptance,
            acceptance_off=acceptance_off,
            gti=dataset.gti,
            name=name,
            meta_table=dataset.meta_table,
        )

    def to_map_dataset(self, name=None) -> MapDataset:
        """A `MapDataset` (Cash statistic) whose background is ``alpha × counts_off``; no models.

        Parameters
        ----------
        name : str, optional
            Name of the new dataset (random if None).
        """
        return MapDataset(
            counts=self.counts,
            exposure=self.exposure,
            psf=self.psf,
            edisp=self.edisp,
            name=make_name(name),
            gti=self.gti,
            mask_fit=self.mask_fit,
            mask_safe=self.mask_safe,
            background=self.background,
            meta_table=self.meta_table,
        )

    # -- stacking -------------------------------------------------------------------------------

    def stack(self, other: MapDatasetOnOff, nan_to_num=True) -> None:
        """Stack another on-off dataset in place (gammapy's ``MapDatasetOnOff.stack``), lazily.

        Counts and off counts are summed (``other``'s inside its safe mask), the acceptance is
        this dataset's plus ``other``'s masked one, and ``acceptance_off`` is set so that the
        stacked ``alpha × counts_off`` equals the sum of both backgrounds:
        ``acceptance × Σ counts_off / Σ alpha·counts_off``.  Where the stacked off counts are 0,
        ``acceptance / ᾱ`` with ``ᾱ = Σ alpha·counts_off / Σ counts_off`` over the whole map.
        The other members follow `MapDataset.stack` (no background: it is derived).

        Parameters
        ----------
        other : MapDatasetOnOff
            Dataset on the same geometry or an aligned cutout of it.
        nan_to_num : bool
            Replace non-finite values of ``other`` by zero.

        Raises
        ------
        InvalidArgumentError
            ``other`` is not an on-off dataset, or a dataset lacks acceptances.
        GeometryMismatchError
            The geometries are incompatible.
        """
        if not isinstance(other, MapDatasetOnOff):
            raise InvalidArgumentError(
                f"Incompatible types for MapDatasetOnOff stacking: {type(other).__name__} {other.name!r}"
            )
        for dataset in (self, other):
            missing = [m for m in ("acceptance", "acceptance_off") if getattr(dataset, m) is None]
            if missing:
                raise InvalidArgumentError(
                    f"Cannot stack incomplete MapDatasetOnOff {dataset.name!r}: no {missing}"
                )
        stacking.stack(self, other, nan_to_num=nan_to_num)

    # -- geometry changes -----------------------------------------------------------------------

    def resample_energy_axis(self, energy_axis, name=None) -> MapDatasetOnOff:
        """A new dataset on the coarser reco-energy axis ``energy_axis`` (gammapy's rules).

        Counts and off counts are summed inside the safe mask, the acceptance too, and
        ``acceptance_off = acceptance × counts_off / Σ background`` keeps the background.
        """
        dataset = reshape.resample_energy_axis(self.to_map_dataset(), energy_axis, name=name)
        weights = self.mask_safe

        def summed(m: Map | None) -> Map | None:
            return None if m is None else m.resample_axis(axis=energy_axis, weights=weights)

        counts_off = summed(self.counts_off)
        acceptance = summed(self.acceptance)
        acceptance_off = None
        if acceptance is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                acceptance_off = acceptance * counts_off / summed(self.background)
        else:
            acceptance = 1
        result = self.from_map_dataset(
            dataset, acceptance=acceptance, acceptance_off=acceptance_off, counts_off=counts_off, name=name
        )
        result.models = self.models
        return result

    def to_image(self, name=None) -> MapDatasetOnOff:
        """A new dataset with one reco-energy bin (see :meth:`resample_energy_axis`)."""
        return self.resample_energy_axis(self._geom.axes["energy"].squash(), name=name)

    def slice_by_idx(self, slices, name=None) -> MapDatasetOnOff:
        """A new dataset sliced along non-spatial axes (dict axis name → int or slice)."""
        dataset = reshape.slice_by_idx(self.to_map_dataset(), slices, name=name)
        off = {key: getattr(self, key) for key in ONOFF_MEMBERS}
        off = {key: None if m is None else m.slice_by_idx(slices) for key, m in off.items()}
        return self.from_map_dataset(dataset, name=name, **off)

    def slice_by_energy(self, energy_min=None, energy_max=None, name=None) -> MapDatasetOnOff:
        """A new dataset restricted to the reco-energy range, snapped to the nearest bin edges."""
        axis = self._geom.axes["energy"]
        index = reshape.energy_slice(axis, energy_min, energy_max)
        return self.slice_by_idx({"energy": index}, name=name)

    def cutout(self, position, width, mode="trim", name=None) -> MapDatasetOnOff:
        """A new dataset cut out around ``position`` (every map, the off maps included)."""
        dataset = reshape.cutout(self.to_map_dataset(), position, width, mode=mode, name=name)
        off = {key: getattr(self, key) for key in ONOFF_MEMBERS}
        off = {key: None if m is None else m.cutout(position, width, mode=mode) for key, m in off.items()}
        return self.from_map_dataset(dataset, name=name, **off)

    def _not_supported(self, what: str):
        raise NotImplementedError(f"MapDatasetOnOff.{what} is not implemented in mapds yet")

    def pad(self, pad_width, mode="constant", name=None):
        """Not implemented for on-off datasets (gammapy does not implement it either)."""
        self._not_supported("pad")

    def downsample(self, factor, axis_name=None, name=None):
        """Not implemented yet for on-off datasets."""
        self._not_supported("downsample")

    def to_region_map_dataset(self, region, name=None):
        """Not implemented yet for on-off datasets."""
        self._not_supported("to_region_map_dataset")

    def to_spectrum_dataset(self, on_region, containment_correction=False, name=None):
        """Not implemented yet for on-off datasets (no ``SpectrumDatasetOnOff`` in mapds)."""
        self._not_supported("to_spectrum_dataset")

    def info_dict(self, in_safe_data_range=True, *, compute=True) -> dict:
        """Not implemented yet for on-off datasets."""
        self._not_supported("info_dict")

    def __str__(self) -> str:
        return repr(self)

    # -- simulation -----------------------------------------------------------------------------

    def fake(self, npred_background: Map, random_state="random-seed") -> None:
        """Replace the on and off counts by Poisson draws (lazily, chunk by chunk).

        counts = Poisson(npred_signal()) + Poisson(npred_background); counts_off =
        Poisson(npred_background / alpha), non-finite means giving 0 (negative signal too).  The three draws come from
        independent streams of one seed (see :func:`mapds.datasets.fake_counts.poisson_counts`):
        the same seed gives the same counts whatever the scheduler, but not gammapy's numbers.

        Parameters
        ----------
        npred_background : `~mapds.maps.Map`
            Expected background counts in the on region.
        random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState` or `~numpy.random.Generator`
            Seed, or where to draw one from.
        """  # noqa: E501 (type list)
        entropy = random_entropy(random_state)
        signal = self.npred_signal()
        chunks = signal.dask_data.chunks
        background = aligned(npred_background, chunks).dask_data
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_off = background / aligned(self.alpha, chunks).dask_data
        # the FFT convolution of model images leaves ~1e-17 negatives where the PSF tails out
        signal = da.maximum(signal.dask_data, 0)
        counts = poisson_counts(signal, entropy) + poisson_counts(background, entropy, stream=1)
        self.counts = Map.from_geom(self._geom, data=counts)
        self.counts_off = Map.from_geom(self._geom, data=poisson_counts(mean_off, entropy, stream=2))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, geom shape={self.data_shape})"
