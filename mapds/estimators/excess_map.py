"""Correlated excess, significance and flux maps of a dataset (gammapy's ``ExcessMapEstimator``).

The result is a dask graph: counts and background are correlated with the top-hat kernel by
:meth:`~mapds.maps.Map.convolve` (tiles extended by the kernel radius, so each output chunk reads
only its neighbours), and every quantity is a ``map_blocks`` of a pure function of
:mod:`~mapds.estimators.excess_stats` on the correlated blocks.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from astropy.coordinates import Angle

from ..datasets import MapDataset, MapDatasetOnOff
from ..errors import InvalidArgumentError
from ..geom import MapAxis
from ..maps import Map
from ..modeling.models import PowerLawSpectralModel, SkyModel
from .excess_stats import COUNTS_QUANTITIES, ONOFF_QUANTITIES, excess_block, wstat_excess_block
from .flux_maps import FluxMaps
from .kernel import tophat_kernel
from .reco_exposure import estimate_exposure_reco_energy
from .selection import optional_selection

__all__ = ["ExcessMapEstimator"]

SELECTION_OPTIONAL = ["errn-errp", "ul", "sensitivity", "alpha", "acceptance_on", "acceptance_off"]
#: Selections that only apply to on-off datasets (ignored for a ``MapDataset``, as gammapy does).
ONOFF_ONLY = ONOFF_QUANTITIES


#: Largest side (pixels) of the spatial pieces the maps are computed on.
PIECE_SIDE = 512


def _in_pieces(dataset: MapDataset) -> MapDataset:
    """``dataset`` in spatial pieces of at most :data:`PIECE_SIDE` pixels a side: a survey store's
    chunks hold tens of millions of voxels, and the float64 npred, exposure and correlated maps of
    each chunk in flight would set the peak memory."""
    if max(max(c) for c in dataset.counts.dask_data.chunks[-2:]) <= PIECE_SIDE:
        return dataset
    return dataset.rechunk({"y": PIECE_SIDE, "x": PIECE_SIDE})


def _correlated_exposure(correlate, reco_exposure: Map | None, mask_data) -> list:
    """``[correlated exposure / correlated mask]``, or ``[]`` without an exposure."""
    if reco_exposure is None:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        return [correlate(reco_exposure.dask_data) / correlate(mask_data)]


class ExcessMapEstimator:
    """Correlated excess, significance, flux and error maps of a `~mapds.datasets.MapDataset` or
    a `~mapds.datasets.MapDatasetOnOff`.

    gammapy's parameters and results.  For a `MapDataset` the Cash statistic, with the dataset's
    ``npred()`` (models included) as background; for a `MapDatasetOnOff` the WStat statistic of
    the correlated on counts, the off counts and ``alpha``, with the models' correlated
    ``npred_signal()`` as known signal.  See ``gammapy.estimators.ExcessMapEstimator``.

    Parameters
    ----------
    correlation_radius : str or `~astropy.coordinates.Angle`
        Radius of the top-hat correlation kernel. Default "0.1 deg".
    n_sigma : float
        Confidence level of the errors. Default 1.
    n_sigma_ul : float
        Confidence level of the upper limits. Default 2.
    selection_optional : list of str, optional
        "all" or some of "errn-errp", "ul", "sensitivity", and for on-off datasets "alpha",
        "acceptance_on", "acceptance_off" (ignored for a `MapDataset`, as in gammapy).
    energy_edges : Quantity, optional
        Edges of the output energy bins (snapped to the dataset's edges); default one bin.
    correlate_off : bool
        On-off datasets: correlate the off counts and the background ``alpha × counts_off``
        too (``alpha`` = correlated background / correlated off counts); otherwise the off
        counts are not correlated and ``alpha`` = correlated acceptance / acceptance_off.
    spectral_model : SpectralModel, optional
        Shape used for the flux maps (default a power law of index 2).
    n_sigma_sensitivity : float
        Significance of the sensitivity. Default 5.
    gamma_min_sensitivity : float
        Minimum excess counts of the sensitivity (with ``apply_threshold_sensitivity``).
    bkg_syst_fraction_sensitivity : float
        Minimum excess as a fraction of the background (with ``apply_threshold_sensitivity``).
    apply_threshold_sensitivity : bool
        Apply the two thresholds above. Default False.
    sum_over_energy_groups : bool
        Only used without ``energy_edges``; with gammapy 2.1 the result has one energy bin in
        both cases. Default False.
    """

    tag = "ExcessMapEstimator"
    _available_selection_optional = SELECTION_OPTIONAL

    def __init__(
        self,
        correlation_radius="0.1 deg",
        n_sigma=1,
        n_sigma_ul=2,
        selection_optional=None,
        energy_edges=None,
        correlate_off=True,
        spectral_model=None,
        n_sigma_sensitivity=5,
        gamma_min_sensitivity=10,
        bkg_syst_fraction_sensitivity=0.05,
        apply_threshold_sensitivity=False,
        sum_over_energy_groups=False,
    ):
        self.correlation_radius = Angle(correlation_radius)
        self.n_sigma = n_sigma
        self.n_sigma_ul = n_sigma_ul
        self.selection_optional = optional_selection(selection_optional, SELECTION_OPTIONAL)
        self.energy_edges = energy_edges
        self.correlate_off = correlate_off
        self.spectral_model = PowerLawSpectralModel(index=2) if spectral_model is None else spectral_model
        self.n_sigma_sensitivity = n_sigma_sensitivity
        self.gamma_min_sensitivity = gamma_min_sensitivity
        self.bkg_syst_fraction_sensitivity = bkg_syst_fraction_sensitivity
        self.apply_threshold_sensitivity = apply_threshold_sensitivity
        self.sum_over_energy_groups = sum_over_energy_groups

    # -- pieces ---------------------------------------------------------------------------------

    def energy_axis(self, dataset) -> MapAxis:
        """Output energy axis: ``energy_edges`` or one bin spanning the dataset's axis."""
        if self.energy_edges is None:
            axis = dataset.counts.geom.axes["energy"].squash()
            if self.sum_over_energy_groups:
                axis = MapAxis.from_energy_edges(axis.edges[:2])
            return axis
        return MapAxis.from_energy_edges(self.energy_edges)

    def estimate_kernel(self, dataset) -> np.ndarray:
        """Top-hat kernel (max 1) of the correlation radius on the dataset's pixels."""
        pixel_size = np.mean(np.abs(dataset.counts.geom.wcs.wcs.cdelt))
        return tophat_kernel(self.correlation_radius, pixel_size)

    @staticmethod
    def estimate_mask_default(dataset) -> Map:
        """``mask_safe × mask_fit`` with a fit mask, else ``mask_safe``, else everywhere true."""
        if dataset.mask_fit is not None:
            return dataset.mask
        if dataset.mask_safe is not None:
            return dataset.mask_safe
        geom = dataset.counts.geom
        chunks = dataset.counts.dask_data.chunks
        return Map.from_geom(geom, data=da.ones(geom.data_shape, dtype=bool, chunks=chunks))

    def _options(self) -> dict:
        options = {
            "n_sigma": self.n_sigma,
            "n_sigma_ul": self.n_sigma_ul,
            "n_sigma_sensitivity": self.n_sigma_sensitivity,
        }
        if self.apply_threshold_sensitivity:
            options["threshold"] = (self.gamma_min_sensitivity, self.bkg_syst_fraction_sensitivity)
        return options

    def _norm_names(self) -> list[str]:
        names = ["norm", "norm_err"]
        if "errn-errp" in self.selection_optional:
            names += ["norm_errn", "norm_errp"]
        if "ul" in self.selection_optional:
            names.append("norm_ul")
        if "sensitivity" in self.selection_optional:
            names.append("norm_sensitivity")
        return names

    def _correlation(self, dataset):
        """The output geometry, the mask and the correlation of a dask array with the top-hat
        kernel (tiles extended by its radius)."""
        kernel = self.estimate_kernel(dataset)
        geom = dataset.counts.geom

        def correlate(data):
            return Map.from_geom(geom, data=data).convolve(kernel).dask_data

        return geom, self.estimate_mask_default(dataset), correlate

    def _flux_maps(self, maps: dict) -> FluxMaps:
        """The result: ``maps`` with the metadata and reference model (likelihood SED type)."""
        return FluxMaps.from_maps(
            maps=maps, meta=self.meta(), reference_model=SkyModel(self.spectral_model), sed_type="likelihood"
        )

    def meta(self) -> dict:
        """Metadata of the result (gammapy's keys)."""
        meta = {
            "n_sigma": self.n_sigma,
            "n_sigma_ul": self.n_sigma_ul,
            "n_sigma_sensitivity": self.n_sigma_sensitivity,
            "sed_type_init": "likelihood",
        }
        if self.apply_threshold_sensitivity:
            meta["gamma_min_sensitivity"] = self.gamma_min_sensitivity
            meta["bkg_syst_fraction_sensitivity"] = self.bkg_syst_fraction_sensitivity
        return meta

    # -- run ------------------------------------------------------------------------------------

    def run(self, dataset) -> FluxMaps:
        """Correlated maps of ``dataset`` as a `FluxMaps` (lazy: nothing is computed here).

        Quantities: npred, npred_excess, counts, ts, sqrt_ts, norm, norm_err and, as selected,
        norm_errn, norm_errp, norm_ul, norm_sensitivity; NaN outside the mask.
        """
        if not isinstance(dataset, MapDataset) or not hasattr(dataset.counts.geom, "wcs"):
            raise InvalidArgumentError("Unsupported dataset type: the excess map needs a WCS MapDataset.")
        axis = self.energy_axis(dataset)
        dataset = _in_pieces(dataset)
        resampled = dataset.resample_energy_axis(energy_axis=axis, name=dataset.name)
        weights = None if dataset.mask_safe is None else dataset.mask_safe.dask_data
        reco_exposure = None
        if dataset.exposure is not None:
            reco_exposure = estimate_exposure_reco_energy(dataset, self.spectral_model, normalize=False)
            reco_exposure = reco_exposure.resample_axis(axis=axis, weights=weights)
        if isinstance(dataset, MapDatasetOnOff):
            return self.estimate_excess_map_onoff(resampled, reco_exposure)
        background = dataset.npred().resample_axis(axis=axis, weights=weights)
        return self.estimate_excess_map(resampled, background, reco_exposure)

    def estimate_excess_map(self, dataset, background: Map, reco_exposure: Map | None) -> FluxMaps:
        """The maps of a dataset already on the output energy axis.

        Parameters
        ----------
        dataset : MapDataset
            Counts and masks on the output energy axis.
        background : Map
            Background counts (uncorrelated) on the output geometry.
        reco_exposure : Map or None
            Reco-energy exposure (uncorrelated) in counts per unit norm, or None (norm = excess).
        """
        geom, mask, correlate = self._correlation(dataset)
        mask_data = mask.dask_data.astype(bool)
        n_on = da.rint(correlate(dataset.counts.dask_data * mask_data))
        mu_bkg = correlate(background.dask_data * mask_data)
        exposure = _correlated_exposure(correlate, reco_exposure, mask_data)
        options = self._options()
        options["exposure"] = bool(exposure)
        extra = [dataset.background.dask_data] if self.apply_threshold_sensitivity else []

        def quantity(name, *more, dtype):
            data = da.map_blocks(
                excess_block, n_on, mu_bkg, mask_data, *more, quantity=name, options=options, dtype=dtype
            )
            return Map.from_geom(geom, data=data)

        maps = {}
        for name in COUNTS_QUANTITIES:
            dtype = np.float64 if name in ("ts", "sqrt_ts") else np.float32
            maps[name] = quantity(name, dtype=dtype)
        for name in self._norm_names():
            dtype = np.float32 if name in ("norm", "norm_err") else np.float64
            more = exposure + (extra if name == "norm_sensitivity" else [])
            maps[name] = quantity(name, *more, dtype=dtype)
        return self._flux_maps(maps)

    def estimate_excess_map_onoff(self, dataset: MapDatasetOnOff, reco_exposure: Map | None) -> FluxMaps:
        """The maps of an on-off dataset already on the output energy axis (WStat).

        gammapy's correlation: on counts, masked and correlated (rounded); the models'
        ``npred_signal()`` masked and correlated; with ``correlate_off`` the masked off counts
        and background (0 where ``acceptance_off`` is 0) correlated and ``alpha`` their ratio,
        otherwise the masked off counts as they are and ``alpha`` = correlated masked acceptance
        / masked acceptance_off.

        Parameters
        ----------
        dataset : MapDatasetOnOff
            The dataset on the output energy axis (with its models).
        reco_exposure : Map or None
            Reco-energy exposure (uncorrelated) in counts per unit norm, or None.
        """
        geom, mask, correlate = self._correlation(dataset)
        mask_data = mask.dask_data.astype(bool)

        def masked(m):
            return (m * mask).dask_data

        n_on = da.rint(correlate(masked(dataset.counts)))
        mu_sig = correlate(masked(dataset.npred_signal()))
        acceptance_on, acceptance_off = masked(dataset.acceptance), masked(dataset.acceptance_off)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.correlate_off:
                background = masked(dataset.background)
                background = da.where(dataset.acceptance_off.dask_data == 0, 0, background).astype(
                    background.dtype
                )
                n_off = correlate(masked(dataset.counts_off))
                alpha = correlate(background) / n_off
            else:
                n_off = masked(dataset.counts_off)
                alpha = correlate(acceptance_on) / acceptance_off
        exposure = _correlated_exposure(correlate, reco_exposure, mask_data)
        options = self._options()
        options["exposure"] = bool(exposure)
        extra = [dataset.background.dask_data] if self.apply_threshold_sensitivity else []
        # one chunking for every block function's inputs (products of maps may unify chunks)
        chunks = n_on.chunks
        n_off, alpha, mu_sig, mask_data = (a.rechunk(chunks) for a in (n_off, alpha, mu_sig, mask_data))
        acceptance_on, acceptance_off = acceptance_on.rechunk(chunks), acceptance_off.rechunk(chunks)
        exposure = [a.rechunk(chunks) for a in exposure]
        extra = [a.rechunk(chunks) for a in extra]
        inputs = (n_on, n_off, alpha, mu_sig, mask_data)

        def quantity(name, *more):
            sample = [np.ones((1,) * a.ndim, dtype=a.dtype) for a in (*inputs, *more)]
            dtype = wstat_excess_block(*sample, quantity=name, options=options).dtype
            data = da.map_blocks(
                wstat_excess_block, *inputs, *more, quantity=name, options=options, dtype=dtype
            )
            return Map.from_geom(geom, data=data)

        maps = {name: quantity(name) for name in COUNTS_QUANTITIES}
        for name in self._norm_names():
            more = exposure + (extra if name == "norm_sensitivity" else [])
            maps[name] = quantity(name, *more)
        onoff = {"alpha": alpha, "acceptance_on": acceptance_on, "acceptance_off": acceptance_off}
        for name in ONOFF_QUANTITIES:
            if name in self.selection_optional:
                data = da.where(mask_data, onoff[name], np.nan).astype(onoff[name].dtype)
                maps[name] = Map.from_geom(geom, data=data)
        return self._flux_maps(maps)

    def __str__(self) -> str:
        lines = [self.__class__.__name__, "-" * len(self.__class__.__name__), ""]
        for key, value in sorted(vars(self).items()):
            shown = value.tag[0] if hasattr(value, "tag") and not isinstance(value, str) else value
            lines.append(f"  {key.strip('_'):30s}: {shown}")
        return "\n".join(lines) + "\n"
