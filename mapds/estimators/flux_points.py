"""`FluxPointsEstimator`: the flux of one source in energy bins (gammapy's estimator, its
parameters, defaults and numbers), one dask task per energy bin.

Each bin is an independent likelihood fit (:func:`.flux_point_fit.estimate_flux_point`): the
datasets are sliced to the bin here, in the client (geometry only), and the task receives the
slices' maps computed, with the models and the settings, as plain inputs.  The tasks run together
in one ``dask.compute``, so the bins fit in parallel on the threaded or process scheduler or on a
``distributed`` cluster, and give the same numbers on each.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import astropy.units as u
import dask
import numpy as np
from astropy.table import Table
from dask.base import tokenize

from ..errors import (
    EnergyRangeError,
    GeometryMismatchError,
    InvalidArgumentError,
    ModelError,
    UnknownSourceError,
)
from ..modeling import Fit
from ..modeling.parameter import Parameter
from .flux_point_fit import FluxPointSettings, estimate_flux_point
from .points import FluxPoints
from .selection import optional_selection

__all__ = ["FluxPointsEstimator"]

log = logging.getLogger(__name__)

#: gammapy's optional steps ("all" selects them all).
SELECTION_OPTIONAL = ("errn-errp", "ul", "scan", "sensitivity")


def default_norm(norm, scan_n_sigma: float) -> Parameter:
    """gammapy's default flux-point norm (value 1, log scan from 0.2 to 5 in 11 values), updated
    from a dict of `Parameter` arguments, or ``norm`` itself when it is a `Parameter`."""
    if isinstance(norm, Parameter):
        parameter = norm
    else:
        kwargs = dict(name="norm", value=1, unit="", interp="log", frozen=False, scan_min=0.2, scan_max=5,
                      scan_n_values=11, scan_n_sigma=scan_n_sigma, scan_values=None)  # fmt: skip
        if norm is not None:
            kwargs.update(norm)
        try:
            parameter = Parameter(**kwargs)
        except TypeError as error:
            raise InvalidArgumentError(f"Invalid dict key for norm init: {error}") from None
    if parameter.name != "norm":
        raise InvalidArgumentError(f"The norm parameter must be named 'norm', not {parameter.name!r}")
    if parameter.interp == "lin":
        log.warning(
            "Linear interpolation should be used with care on the 'norm' parameter; 'log' is recommended."
        )
    return parameter


class FluxPointsEstimator:
    """Flux points of a source: the norm of its spectrum fitted in each energy bin.

    In each bin the source's spectral model is multiplied by a ``norm`` (a `ScaleSpectralModel`)
    which alone is fitted (with the other models' free parameters if ``reoptimize``), giving
    gammapy's "likelihood" SED quantities: ``norm``, ``norm_err``, ``ts``, ``sqrt_ts``,
    ``npred``, ``npred_excess``, ``counts``, ``stat``, ``stat_null``, ``success`` and the
    optional ``norm_errn``/``norm_errp``, ``norm_ul``, ``stat_scan`` and ``norm_sensitivity``.

    Parameters
    ----------
    energy_edges : `~astropy.units.Quantity`
        Edges of the flux-point bins; each bin is snapped to the nearest reco-energy bin edges of
        the datasets (as gammapy's ``slice_by_energy``).  Default [1, 10] TeV.
    sum_over_energy_groups : bool
        Fit each bin's counts summed over its reco-energy bins (``to_image``).
    n_jobs, parallel_backend : optional
        Accepted for gammapy compatibility and ignored: the bins are dask tasks, run by the
        current dask scheduler (``dask.config.set(scheduler=...)`` or a ``distributed`` client).
    allow_multiple_telescopes : bool
        Allow datasets whose meta tables name different ``TELESCOP`` values.
    source : str or int
        The source (model name or index in the datasets' models).
    n_sigma : float
        Sigma of ``norm_err`` and of the asymmetric errors.
    n_sigma_ul : float
        Sigma of the upper limits.
    n_sigma_sensitivity : float
        Significance of the sensitivity (the norm detected at this many sigma).
    selection_optional : list of str, optional
        "errn-errp", "ul", "scan", "sensitivity" or "all".
    fit : `~mapds.modeling.Fit`, optional
        Fit to use; default gammapy's, MIGRAD with scipy confidence intervals.
    reoptimize : bool
        Refit the other models' free parameters in each bin (and at each step of the optional
        quantities); otherwise they stay at their values.
    norm : `~mapds.modeling.Parameter` or dict, optional
        The fitted norm, or arguments updating the default one.

    Examples
    --------
    >>> estimator = FluxPointsEstimator(energy_edges=[10, 100] * u.GeV, source="crab")  # doctest: +SKIP
    >>> flux_points = estimator.run(dataset)  # doctest: +SKIP
    """

    tag = "FluxPointsEstimator"

    def __init__(
        self,
        energy_edges=[1, 10] * u.TeV,  # gammapy's default (a Quantity: never modified in place)
        sum_over_energy_groups=False,
        n_jobs=None,
        parallel_backend=None,
        allow_multiple_telescopes=False,
        *,
        source=0,
        n_sigma=1,
        n_sigma_ul=2,
        n_sigma_sensitivity=5,
        selection_optional=None,
        fit=None,
        reoptimize=False,
        norm=None,
    ):
        self.energy_edges = u.Quantity(energy_edges)
        self.sum_over_energy_groups = sum_over_energy_groups
        self.n_jobs = n_jobs
        self.parallel_backend = parallel_backend
        self.allow_multiple_telescopes = allow_multiple_telescopes
        self.source = source
        self.n_sigma = n_sigma
        self.n_sigma_ul = n_sigma_ul
        self.n_sigma_sensitivity = n_sigma_sensitivity
        self.norm = default_norm(norm, scan_n_sigma=np.maximum(n_sigma_ul, n_sigma_sensitivity) + 1)
        self.selection_optional = selection_optional
        self.fit = Fit(confidence_opts={"backend": "scipy"}) if fit is None else fit
        self.reoptimize = reoptimize

    @property
    def selection_optional(self) -> list[str]:
        """The optional steps to run."""
        return self._selection_optional

    @selection_optional.setter
    def selection_optional(self, selection) -> None:
        self._selection_optional = optional_selection(selection, SELECTION_OPTIONAL)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(energy_edges={self.energy_edges!r}, source={self.source!r}, "
            f"selection_optional={self.selection_optional!r}, reoptimize={self.reoptimize})"
        )

    def _settings(self) -> FluxPointSettings:
        return FluxPointSettings(
            source=self.source,
            norm=self.norm.copy(),
            fit=self.fit,
            n_sigma=self.n_sigma,
            n_sigma_ul=self.n_sigma_ul,
            n_sigma_sensitivity=self.n_sigma_sensitivity,
            selection_optional=tuple(self.selection_optional),
            reoptimize=self.reoptimize,
            sum_over_energy_groups=self.sum_over_energy_groups,
        )

    def tasks(self, datasets) -> list:
        """One ``dask.delayed`` task per energy bin, each giving the bin's row (a dict).

        Raises
        ------
        UnknownSourceError
            ``source`` is not among the datasets' models.
        EnergyRangeError
            A bin of ``energy_edges`` selects no reco-energy bin of any dataset.
        GeometryMismatchError
            The datasets' energy axes are not aligned, or (unless ``allow_multiple_telescopes``)
            they come from different telescopes.
        """
        datasets = _as_datasets(datasets)
        _check_datasets(datasets, self.allow_multiple_telescopes)
        models = datasets.models
        _source_model(models, self.source)
        settings = self._settings()
        # the key names the work (dataset slices, models, settings): the same run, the same keys
        models_token = tokenize([m.to_dict(full_output=True) for m in models])
        settings_token = _settings_token(settings)
        tasks = []
        for energy_min, energy_max in zip(self.energy_edges[:-1], self.energy_edges[1:], strict=True):
            sliced = _slice_datasets(datasets, energy_min, energy_max)
            key = "flux-point-" + tokenize(sliced, models_token, settings_token, energy_min, energy_max)
            bin_settings = replace(settings, energy_min=energy_min, energy_max=energy_max)
            task = dask.delayed(estimate_flux_point, pure=True)(
                sliced, models, bin_settings, dask_key_name=key
            )
            tasks.append(task)
        return tasks

    def run(self, datasets) -> FluxPoints:
        """Estimate the flux points (the bins' fits computed together).

        Parameters
        ----------
        datasets : MapDataset, Datasets or list of MapDataset
            Datasets with models including the source.

        Returns
        -------
        FluxPoints
            Flux points with the "likelihood" SED type, the source's spectral model as
            reference model.
        """
        datasets = _as_datasets(datasets)
        rows = dask.compute(*self.tasks(datasets))
        table = rows_to_table(rows, meta={"n_sigma": self.n_sigma, "n_sigma_ul": self.n_sigma_ul})
        reference = _source_model(datasets.models, self.source).spectral_model.copy()
        return FluxPoints.from_table(
            table, sed_type="likelihood", reference_model=reference, gti=datasets.gti, format="gadf-sed"
        )


def _settings_token(settings: FluxPointSettings) -> str:
    """A token of what the settings compute (``repr`` would name the objects' addresses)."""
    fit = settings.fit
    fit_options = (fit.backend, fit.optimize_opts, fit.covariance_opts, fit.confidence_opts)
    values = {name: getattr(settings, name) for name in settings.__dataclass_fields__}
    values.update(norm=(settings.norm.to_dict(), list(settings.norm.scan_values)), fit=fit_options)
    return tokenize(values)


def _as_datasets(datasets):
    from ..datasets import Datasets  # datasets are the estimators' inputs, imported when used

    return datasets if isinstance(datasets, Datasets) else Datasets(datasets)


def _check_datasets(datasets, allow_multiple_telescopes: bool) -> None:
    if not datasets.energy_axes_are_aligned:
        raise GeometryMismatchError(f"All datasets must have aligned energy axes: {datasets.names}")
    telescopes = set()
    for dataset in datasets:
        table = dataset.meta_table
        if table is not None and "TELESCOP" in table.colnames:
            telescopes.update(np.ravel(table["TELESCOP"]).tolist())
    if len(telescopes) > 1 and not allow_multiple_telescopes:
        raise GeometryMismatchError(
            f"All datasets must use the same TELESCOP, found {sorted(telescopes)} "
            "(allow_multiple_telescopes=True to fit them together)"
        )


def _source_model(models, source):
    """The source's model, or `UnknownSourceError` naming the models there are."""
    try:
        return models[source]
    except (ModelError, IndexError, TypeError):
        raise UnknownSourceError(
            f"Source {source!r} is not among the datasets' models {models.names}"
        ) from None


def _slice_datasets(datasets, energy_min, energy_max) -> list:
    """The datasets covering ``[energy_min, energy_max]``, sliced to it (lazily).

    Raises
    ------
    EnergyRangeError
        No dataset has a reco-energy bin in the range (gammapy gives a row of NaN).
    """
    sliced, ranges = [], []
    for dataset in datasets:
        try:
            sliced.append(dataset.slice_by_energy(energy_min, energy_max, name=dataset.name))
        except EnergyRangeError:
            axis = dataset.counts.geom.axes["energy"]
            ranges.append(f"{dataset.name!r}: {axis.edges[0]} to {axis.edges[-1]}")
    if not sliced:
        raise EnergyRangeError(
            f"No dataset has reco-energy bins in the flux-point bin {energy_min} to {energy_max} "
            f"(datasets: {', '.join(ranges)})"
        )
    return sliced


def rows_to_table(rows, meta: dict) -> Table:
    """gammapy's flux-points table of the bins' rows: energies, then the rows' quantities."""
    table = Table(meta={**meta, "sed_type_init": "likelihood"})
    e_min = u.Quantity([u.Quantity(row["e_min"], row["energy_unit"]) for row in rows])
    e_max = u.Quantity([u.Quantity(row["e_max"], row["energy_unit"]) for row in rows])
    table["e_ref"] = np.sqrt(e_min * e_max)
    table["e_min"], table["e_max"] = e_min, e_max
    for name in rows[0]:
        if name not in table.colnames and name != "energy_unit":
            table[name] = [row[name] for row in rows]
    return table
