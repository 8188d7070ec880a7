"""Summary of a dataset: gammapy's ``info_dict`` (and the text of ``__str__``), with every sum
over the maps computed in one dask computation.

:func:`lazy_info` builds the sums as dask graphs and one delayed task that assembles them into
gammapy's dictionary; nothing is computed until the caller asks.
"""

from __future__ import annotations

import astropy.units as u
import dask
import dask.array as da
import numpy as np

from ..modeling.models import FoVBackgroundModel
from ..stats import CashCountsStatistic

__all__ = ["INFO_KEYS", "assemble_info", "info_text", "lazy_info", "lazy_sums", "static_info"]

#: Keys of ``info_dict``, in gammapy's order.
INFO_KEYS = (
    "name",
    "counts",
    "excess",
    "sqrt_ts",
    "background",
    "npred",
    "npred_background",
    "npred_signal",
    "exposure_min",
    "exposure_max",
    "livetime",
    "ontime",
    "counts_rate",
    "background_rate",
    "excess_rate",
    "n_bins",
    "n_fit_bins",
    "stat_type",
    "stat_sum",
)


def _masked_sum(m, mask) -> da.Array:
    """float64 sum of a map's values where ``mask`` (a bool Map or None) is True."""
    data = m.data.astype(np.float64)
    if mask is not None:
        data = da.where(mask.data, data, 0.0)
    return data.sum()


def _exposure_extrema(exposure, mask_safe_image) -> dict:
    """Lazy min/max of the exposure over pixels with exposure > 0 and a safe bin somewhere,
    and over all pixels (gammapy's fallback when that selection is empty)."""
    data = exposure.data
    selected = data > 0
    if mask_safe_image is not None:
        selected = selected & mask_safe_image.data
    return {
        "exposure_any": selected.any(),
        "exposure_min_selected": da.where(selected, data, np.inf).min(),
        "exposure_max_selected": da.where(selected, data, -np.inf).max(),
        "exposure_min_all": data.min(),
        "exposure_max_all": data.max(),
    }


def _has_signal_model(models) -> bool:
    return bool(models) and any(not isinstance(m, FoVBackgroundModel) for m in models)


def lazy_sums(dataset, in_safe_data_range: bool = True) -> dict:
    """The sums ``info_dict`` needs, as lazy 0-d dask arrays (only those that apply)."""
    mask = dataset.mask_safe if dataset.mask_safe is not None and in_safe_data_range else None
    sums = {}
    if dataset.counts is not None:
        sums["counts"] = _masked_sum(dataset.counts, mask)
    if dataset.background is not None:
        sums["background"] = _masked_sum(dataset.background, mask)
        sums["npred_background"] = _masked_sum(dataset.npred_background(), mask)
    if dataset.models or dataset.background is not None:
        sums["npred"] = _masked_sum(dataset.npred(), mask)
    if _has_signal_model(dataset.models):
        sums["npred_signal"] = _masked_sum(dataset.npred_signal(), mask)
    if dataset.exposure is not None:
        sums.update(_exposure_extrema(dataset.exposure, dataset.mask_safe_image))
    if dataset.mask is not None:
        sums["n_fit_bins"] = dataset.mask.data.sum()
    if dataset.counts is not None and dataset.models is not None:
        sums["stat_sum"] = dataset.stat_sum(compute=False)
    return sums


def assemble_info(sums: dict, static: dict) -> dict:
    """gammapy's ``info_dict`` from computed sums and the values known without computing."""
    nan = float("nan")
    counts = sums.get("counts", 0.0)
    info = {"name": static["name"], "counts": int(counts)}
    excess = sqrt_ts = background = nan
    if "counts" in sums and "background" in sums:
        statistic = CashCountsStatistic(counts, sums["npred_background"])
        excess, sqrt_ts = float(statistic.n_sig), statistic.sqrt_ts
        background = float(sums["background"])
    info["excess"] = excess
    info["sqrt_ts"] = sqrt_ts
    info["background"] = background
    info["npred"] = float(sums.get("npred", nan))
    info["npred_background"] = float(sums.get("npred_background", nan))
    info["npred_signal"] = float(sums.get("npred_signal", nan))
    exposure_min = exposure_max = u.Quantity(nan, "cm s")
    if "exposure_any" in sums:
        which = "selected" if sums["exposure_any"] else "all"
        exposure_min = u.Quantity(sums[f"exposure_min_{which}"], static["exposure_unit"])
        exposure_max = u.Quantity(sums[f"exposure_max_{which}"], static["exposure_unit"])
    info["exposure_min"] = exposure_min
    info["exposure_max"] = exposure_max
    livetime = static["livetime"]
    info["livetime"] = livetime
    info["ontime"] = static["ontime"]
    info["counts_rate"] = info["counts"] / livetime
    info["background_rate"] = info["background"] / livetime
    info["excess_rate"] = info["excess"] / livetime
    info["n_bins"] = static["n_bins"]
    info["n_fit_bins"] = int(sums.get("n_fit_bins", 0))
    info["stat_type"] = static["stat_type"]
    info["stat_sum"] = float(sums.get("stat_sum", nan))
    return info


def static_info(dataset) -> dict:
    """The ``info_dict`` values known without computing anything."""
    livetime = u.Quantity(np.nan, "s")
    exposure_unit = None
    if dataset.exposure is not None:
        exposure_unit = dataset.exposure.unit
        livetime = u.Quantity(dataset.exposure.meta.get("livetime", livetime)).copy()
    return {
        "name": dataset.name,
        "exposure_unit": exposure_unit,
        "livetime": livetime,
        "ontime": dataset.gti.time_sum if dataset.gti is not None else u.Quantity(np.nan, "s"),
        "n_bins": int(np.prod(dataset.counts.geom.data_shape)) if dataset.counts is not None else 0,
        "stat_type": dataset.stat_type,
    }


def lazy_info(dataset, in_safe_data_range: bool = True) -> dict:
    """``info_dict`` with every value that needs the maps as a `dask.delayed.Delayed`.

    All of them come from one delayed task, so ``dask.compute(lazy_info(ds))`` computes every
    sum in one pass over the maps.
    """
    static = static_info(dataset)
    summary = dask.delayed(assemble_info, pure=True)(lazy_sums(dataset, in_safe_data_range), static)
    lazy_keys = set(INFO_KEYS) - {"name", "livetime", "ontime", "n_bins", "stat_type"}
    return {key: summary[key] if key in lazy_keys else static[key] for key in INFO_KEYS}


def info_text(dataset, info: dict) -> str:
    """gammapy's ``MapDataset.__str__`` text from an ``info_dict``."""
    title = type(dataset).__name__
    rows = [
        ("Name", f"{info['name']} ", True),
        ("Total counts", f"{info['counts']:.0f} ", False),
        ("Total background counts", f"{info['background']:.2f}", False),
        ("Total excess counts", f"{info['excess']:.2f}", True),
        ("Predicted counts", f"{info['npred']:.2f}", False),
        ("Predicted background counts", f"{info['npred_background']:.2f}", False),
        ("Predicted excess counts", f"{info['npred_signal']:.2f}", True),
        ("Exposure min", f"{info['exposure_min']:.2e}", False),
        ("Exposure max", f"{info['exposure_max']:.2e}", True),
        ("Number of total bins", f"{info['n_bins']} ", False),
        ("Number of fit bins", f"{info['n_fit_bins']} ", True),
        ("Fit statistic type", f"{info['stat_type']}", False),
        ("Fit statistic value (-2 log(L))", f"{info['stat_sum']:.2f}", True),
    ]
    models = dataset.models
    n_models = len(models) if models is not None else 0
    n_pars = len(models.parameters) if models is not None else 0
    n_free = len(models.parameters.free_parameters) if models is not None else 0
    rows += [
        ("Number of models", f"{n_models} ", False),
        ("Number of parameters", f"{n_pars}", False),
        ("Number of free parameters", f"{n_free}", True),
    ]
    text = f"{title}\n{'-' * len(title)}\n\n"
    for label, value, blank_after in rows:
        text += f"\t{label:32}: {value}\n" + ("\n" if blank_after else "")
    if models is not None:
        text += "\t" + "\n\t".join(str(models).split("\n")[2:])
    return text.expandtabs(tabsize=2)
