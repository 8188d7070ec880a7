"""Per-pixel excess statistics of correlated counts over a known background (Cash) or over off
counts (WStat), pure numpy.

Every function takes blocks of the correlated counts ``n_on`` (float32 integers) and the
correlated background ``mu_bkg`` (:func:`excess_block`), or the off counts, ``alpha`` and the
correlated signal (:func:`wstat_excess_block`), and returns one quantity of gammapy's
``ExcessMapEstimator`` in its dtype;
:mod:`~mapds.estimators.excess_map` applies them block by block with ``dask.array.map_blocks``.
"""

from __future__ import annotations

import numpy as np

from ..stats import (
    WStatCountsStatistic,
    cash_errn,
    cash_errp,
    cash_excess_matching_significance,
    cash_sqrt_ts,
    cash_ts,
    cash_upper_limit,
)

__all__ = [
    "COUNTS_QUANTITIES",
    "NORM_QUANTITIES",
    "ONOFF_QUANTITIES",
    "apply_threshold_sensitivity",
    "excess_block",
    "wstat_excess_block",
]

#: Quantities in counts (not divided by the exposure).
COUNTS_QUANTITIES = ("npred", "npred_excess", "counts", "ts", "sqrt_ts")
#: Quantities of on-off datasets only (the maps the WStat statistic was given).
ONOFF_QUANTITIES = ("alpha", "acceptance_on", "acceptance_off")
#: Quantities divided by the reco exposure, the counts quantity each one comes from.
NORM_QUANTITIES = {
    "norm": "excess",
    "norm_err": "err",
    "norm_errn": "errn",
    "norm_errp": "errp",
    "norm_ul": "ul",
    "norm_sensitivity": "sensitivity",
}


def apply_threshold_sensitivity(background, excess, gamma_min=10, bkg_syst_fraction=0.05) -> np.ndarray:
    """Raise the sensitivity excess to at least ``gamma_min`` counts and to at least
    ``bkg_syst_fraction`` of the background."""
    excess = np.maximum(excess, gamma_min)
    floor = bkg_syst_fraction * background
    return np.where(excess < floor, floor, excess)


def _counts_quantity(name, n_on, mu_bkg, options):
    if name in ("npred", "counts"):
        return n_on
    if name in ("npred_excess", "excess"):
        return n_on - mu_bkg
    if name == "ts":
        return cash_ts(n_on, mu_bkg)
    if name == "sqrt_ts":
        return cash_sqrt_ts(n_on, mu_bkg)
    n_sigma = options["n_sigma"]
    if name == "err":
        return np.sqrt(n_on) * n_sigma
    if name == "errn":
        return cash_errn(n_on, n_sigma)
    if name == "errp":
        return cash_errp(n_on, n_sigma)
    if name == "ul":
        return cash_upper_limit(n_on, mu_bkg, options["n_sigma_ul"])
    if name == "sensitivity":
        excess = cash_excess_matching_significance(mu_bkg, options["n_sigma_sensitivity"])
        threshold = options.get("threshold")
        if threshold is not None:
            excess = apply_threshold_sensitivity(options["background"], excess, *threshold)
        return excess
    raise KeyError(name)


def excess_block(n_on, mu_bkg, mask, *rest, quantity, options) -> np.ndarray:
    """One quantity on one block, NaN outside ``mask``.

    Parameters
    ----------
    n_on, mu_bkg : ndarray
        Correlated counts and background.
    mask : ndarray of bool
        Pixels where the estimate is defined.
    *rest : ndarray
        For norm quantities: the correlated reco exposure (omitted: exposure 1); for the
        sensitivity with thresholds, then the uncorrelated background.
    quantity : str
        A name of :data:`COUNTS_QUANTITIES` or :data:`NORM_QUANTITIES`.
    options : dict
        ``n_sigma``, ``n_sigma_ul``, ``n_sigma_sensitivity`` and optionally ``threshold``
        (``(gamma_min, bkg_syst_fraction)``).
    """
    rest = list(rest)
    if quantity in NORM_QUANTITIES:
        exposure = rest.pop(0) if options.get("exposure", True) else 1
        if rest:
            options = {**options, "background": rest.pop(0)}
        with np.errstate(invalid="ignore", divide="ignore"):
            value = _counts_quantity(NORM_QUANTITIES[quantity], n_on, mu_bkg, options) / exposure
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = _counts_quantity(quantity, n_on, mu_bkg, options)
    value = np.array(value, copy=True)
    value[~mask] = np.nan
    return value


def _wstat_quantity(name, statistic: WStatCountsStatistic, options):
    if name in ("npred", "counts"):
        return statistic.n_on
    if name in ("npred_excess", "excess"):
        return statistic.n_sig
    if name == "ts":
        return statistic.ts
    if name == "sqrt_ts":
        return statistic.sqrt_ts
    n_sigma = options["n_sigma"]
    if name == "err":
        return statistic.error * n_sigma
    if name == "errn":
        return statistic.compute_errn(n_sigma)
    if name == "errp":
        return statistic.compute_errp(n_sigma)
    if name == "ul":
        return statistic.compute_upper_limit(options["n_sigma_ul"])
    if name == "sensitivity":
        excess = statistic.n_sig_matching_significance(options["n_sigma_sensitivity"])
        threshold = options.get("threshold")
        if threshold is not None:
            excess = apply_threshold_sensitivity(options["background"], excess, *threshold)
        return excess
    raise KeyError(name)


def wstat_excess_block(n_on, n_off, alpha, mu_sig, mask, *rest, quantity, options) -> np.ndarray:
    """One quantity of an on-off dataset on one block (WStat), NaN outside ``mask``.

    Parameters
    ----------
    n_on : ndarray
        Correlated on counts.
    n_off, alpha : ndarray
        Off counts and on/off ratio (both correlated, or both not: ``correlate_off``).
    mu_sig : ndarray
        Correlated predicted signal.
    mask : ndarray of bool
        Pixels where the estimate is defined.
    *rest : ndarray
        As for :func:`excess_block`.
    quantity : str
        A name of :data:`COUNTS_QUANTITIES` or :data:`NORM_QUANTITIES`.
    options : dict
        As for :func:`excess_block`.
    """
    rest = list(rest)
    statistic = WStatCountsStatistic(n_on, n_off, alpha, mu_sig)
    with np.errstate(invalid="ignore", divide="ignore"):
        if quantity in NORM_QUANTITIES:
            exposure = rest.pop(0) if options.get("exposure", True) else 1
            if rest:
                options = {**options, "background": rest.pop(0)}
            value = _wstat_quantity(NORM_QUANTITIES[quantity], statistic, options) / exposure
        else:
            value = _wstat_quantity(quantity, statistic, options)
    value = np.array(value, copy=True)
    value[~mask] = np.nan
    return value
