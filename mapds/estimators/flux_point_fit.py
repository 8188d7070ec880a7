"""The likelihood fit of one flux point: a pure function of a bin's datasets and models.

:func:`estimate_flux_point` is the body of one dask task of
:class:`~mapds.estimators.FluxPointsEstimator`: it receives the datasets sliced to one energy bin
(their maps in memory), the models and the estimator's settings, works on private copies of
all of them, and returns the bin's row of gammapy's flux-points table (``norm``, ``norm_err``,
``ts``, ``npred``...).  Nothing outside the task is read or written, so the same inputs give the
same numbers on every scheduler.

The steps are gammapy's ``FluxEstimator`` / ``ParameterEstimator`` ones, in the same order (the
optional steps re-optimise first, as gammapy does, so that the numbers match): the source's
spectrum is wrapped in a `ScaleSpectralModel` whose ``norm`` alone is fitted (with the other
models' free parameters when ``reoptimize``), ``ts`` compares the best fit with ``norm = 0``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import astropy.units as u
import dask
import numpy as np

from ..modeling import Fit
from ..modeling.models import ScaleSpectralModel
from ..modeling.parameter import Parameter
from .flux_point_sensitivity import norm_sensitivity
from .sliced_models import slice_models_by_energy

__all__ = ["FluxPointSettings", "estimate_flux_point"]

#: The norm of the null hypothesis (gammapy's ``FluxEstimator``).
NULL_VALUE = 0


@dataclass(frozen=True)
class FluxPointSettings:
    """What a flux-point task needs of its estimator (small, picklable)."""

    source: str | int
    norm: Parameter
    fit: Fit
    n_sigma: float
    n_sigma_ul: float
    n_sigma_sensitivity: float
    selection_optional: tuple[str, ...]
    reoptimize: bool
    sum_over_energy_groups: bool
    #: The bin's edges as asked for (before the datasets snap them to their bin edges).
    energy_min: u.Quantity | None = None
    energy_max: u.Quantity | None = None


def estimate_flux_point(datasets: list, models, settings: FluxPointSettings) -> dict:
    """The flux point of one energy bin.

    Parameters
    ----------
    datasets : list of MapDataset
        The datasets sliced to the bin (not modified: the task works on copies).
    models : DatasetModels
        The models of the datasets (not modified).
    settings : FluxPointSettings
        The estimator's settings.

    Returns
    -------
    dict
        gammapy's row: ``e_min``, ``e_max`` (numbers in ``energy_unit``), ``norm``,
        ``norm_err``, ``stat``, ``success``, ``ts``, ``stat_null``, ``npred``, ``npred_excess``,
        ``counts``, ``datasets`` and the optional ``norm_errn``/``norm_errp``, ``norm_ul``,
        ``norm_scan``/``stat_scan`` and ``norm_sensitivity``.
    """
    # The inputs are in memory and small: the fit's computations run in this task's thread
    # (a nested scheduler would compete with the one running the bins, and on a cluster a
    # task waiting for tasks it submitted can hold the worker's only thread).
    # a private Fit too: the threads running other bins hold the same settings object
    settings = replace(settings, fit=copy.deepcopy(settings.fit))
    with dask.config.set(scheduler="sync"):
        return _estimate_flux_point(datasets, models, settings)


def _estimate_flux_point(datasets: list, models, settings: FluxPointSettings) -> dict:
    from ..datasets import Datasets  # the layer above estimators' inputs; imported when run

    copies = [d.copy(name=d.name) for d in datasets]
    if settings.sum_over_energy_groups:
        copies = [d.to_image(name=d.name) for d in copies]
    bin_datasets = Datasets(copies)
    models = slice_models_by_energy(
        models, settings.energy_min, settings.energy_max, settings.sum_over_energy_groups
    )
    source = models[settings.source]
    scale = ScaleSpectralModel(source.spectral_model)
    scale.norm = settings.norm.copy()
    source.parameters.freeze_all()
    source.spectral_model = scale
    bin_datasets.models = models
    # plain numbers and the unit's name: a cluster's serialisation drops Quantity subclasses
    edges = [d.counts.geom.axes["energy"].edges for d in bin_datasets]
    unit = edges[0].unit
    e_min, e_max = min(e[0] for e in edges).to_value(unit), max(e[-1] for e in edges).to_value(unit)
    row = {"e_min": float(e_min), "e_max": float(e_max), "energy_unit": unit.to_string()}
    row.update(_estimate_norm(bin_datasets, scale.norm, settings))
    # gammapy reads the excess at the best-fit norm, after restoring the fit's start values
    scale.norm.value = row["norm"]
    row["npred_excess"] = _npred_excess(bin_datasets, source.name)
    return row


def _estimate_norm(datasets, norm: Parameter, settings: FluxPointSettings) -> dict:
    """gammapy's ``ParameterEstimator.run`` for the norm; parameters restored afterwards."""
    contributes = bool(np.any(datasets.contributes_to_stat))
    with datasets.parameters.restore_status():
        if not settings.reoptimize:
            datasets.parameters.freeze_all()
            norm.frozen = False
        row = _best_fit(datasets, norm, settings, contributes)
        row.update(_ts(datasets, norm, settings, contributes))
        optional = settings.selection_optional
        if "errn-errp" in optional:
            errors = _confidence(datasets, norm, settings, settings.n_sigma, contributes)
            row.update({"norm_errp": errors["errp"], "norm_errn": errors["errn"]})
        if "ul" in optional:
            errors = _confidence(datasets, norm, settings, settings.n_sigma_ul, contributes)
            row["norm_ul"] = errors["errp"] + norm.value
        if "scan" in optional:
            row.update(_scan(datasets, norm, settings, contributes))
        if "sensitivity" in optional:
            sensitivity = np.nan
            if contributes:
                sensitivity = norm_sensitivity(datasets, norm, settings.n_sigma_sensitivity, NULL_VALUE)
            row["norm_sensitivity"] = sensitivity
    row["counts"] = np.array([_masked_sum(d, d.counts) for d in datasets], dtype=int)
    row["datasets"] = datasets.names
    return row


def _best_fit(datasets, norm, settings, contributes) -> dict:
    value, stat, success, error = np.nan, 0.0, False, np.nan
    if contributes:
        result = settings.fit.run(datasets)
        value, error = norm.value, norm.error
        stat, success = result.optimize_result.total_stat, result.success
    return {"norm": value, "stat": stat, "success": success, "norm_err": error * settings.n_sigma}


def _ts(datasets, norm, settings, contributes) -> dict:
    """``ts = stat(norm = 0) - stat(best fit)`` (the others re-fitted when ``reoptimize``)."""
    npred = np.array([_masked_sum(d, d.npred()) for d in datasets])
    if contributes:
        stat = datasets.stat_sum()
    else:
        stat, npred[...] = np.nan, np.nan
    with datasets.parameters.restore_status():
        norm.value = NULL_VALUE
        if settings.reoptimize:
            norm.frozen = True
            settings.fit.optimize(datasets)
        stat_null = datasets.stat_sum()
    return {"ts": stat_null - stat, "npred": npred, "stat_null": stat_null}


def _confidence(datasets, norm, settings, sigma, contributes) -> dict:
    if not contributes:
        return {"errp": np.nan, "errn": np.nan}
    settings.fit.optimize(datasets)
    return settings.fit.confidence(datasets, norm, sigma=sigma, reoptimize=settings.reoptimize)


def _scan(datasets, norm, settings, contributes) -> dict:
    values = norm.scan_values
    if not contributes:
        return {"norm_scan": values, "stat_scan": values * np.nan}
    settings.fit.optimize(datasets)
    profile = settings.fit.stat_profile(datasets, norm, reoptimize=settings.reoptimize)
    return {"norm_scan": values, "stat_scan": profile["stat_scan"]}


def _masked_sum(dataset, m):
    """Sum of a map over the dataset's mask (everything without a mask)."""
    data = np.asarray(m.data)
    if dataset.mask is None:
        return data.sum()
    return data[np.asarray(dataset.mask.data, dtype=bool)].sum()


def _npred_excess(datasets, name: str) -> np.ndarray:
    """The source's predicted counts inside each dataset's mask.

    Summed in float32, as gammapy does (it stacks the source's counts into a new float32 map
    before summing), so that the numbers are gammapy's to the last bit.
    """
    values = []
    for dataset in datasets:
        signal = dataset.npred_signal(model_names=[name])
        values.append(_masked_sum(dataset, signal.copy(data=np.asarray(signal.data, dtype=np.float32))))
    return np.array(values)
