"""The norm a flux point needs to be detected at ``n_sigma`` (gammapy's "sensitivity" step).

gammapy's ``ParameterSensitivityEstimator``: for a trial norm, the Asimov datasets (counts equal
to the predicted counts at that norm) give ``ts_asimov``, the statistic at ``norm = 0`` minus the
statistic at the trial norm; its Wald significance (non-central χ², Cowan et al. 2011) is compared
with ``n_sigma``.  The crossing is bracketed on 101 points of the norm's confidence range, spaced
by the norm's interpolation scale, and found by Brent's method to ``rtol = 0.01``, the first
positive root being the sensitivity.

The predicted counts are linear in the norm, ``npred(norm) = npred(0) + norm × signal``, so the
two arrays are computed once and each trial costs two Cash sums over the masked bins, where
gammapy builds new Asimov datasets and evaluates their models at every trial.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import root_scalar
from scipy.stats import ncx2

from ..geom.scale import scale, scale_inverse
from ..stats import cash

__all__ = ["norm_sensitivity", "wald_sigma"]

#: Points bracketing the crossings, Brent's relative tolerance and iterations (gammapy's).
N_BINS, RTOL, MAX_ITER = 100, 0.01, 100


def wald_sigma(ts_asimov: float) -> float:
    """Significance of ``ts_asimov`` on its own Asimov dataset (gammapy's ``ts_to_sigma(ts,
    ts_asimov=ts)``: the non-central χ² survival probability, back to a χ² with one degree)."""
    p_value = ncx2.sf(ts_asimov, df=1, nc=ts_asimov)
    return np.sqrt(ncx2.isf(p_value, df=1, nc=ts_asimov))


def _masked(dataset, m) -> np.ndarray:
    data = np.asarray(m.data, dtype=float)
    return data.ravel() if dataset.mask is None else data[np.asarray(dataset.mask.data, dtype=bool)]


def _npred_terms(datasets, norm, null_value: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(npred at the null norm, npred per unit norm)`` over each dataset's mask."""
    value = norm.value
    terms = []
    try:
        norm.value = null_value
        null = [_masked(d, d.npred()) for d in datasets]
        norm.value = null_value + 1
        one = [_masked(d, d.npred()) for d in datasets]
    finally:
        norm.value = value
    for mu_null, mu_one in zip(null, one, strict=True):
        terms.append((mu_null, mu_one - mu_null))
    return terms


def _ts_asimov(terms, value: float, null_value: float) -> float:
    """``stat(null) − stat(value)`` on the Asimov counts of ``value`` (NaN counts taken as 0)."""
    ts = 0.0
    for mu_null, signal in terms:
        mu = np.clip(mu_null + (value - null_value) * signal, 0, None)
        counts = np.nan_to_num(mu, nan=0.0, posinf=0.0, neginf=0.0)
        ts += cash(counts, mu_null).sum() - cash(counts, mu).sum()
    return ts


def norm_sensitivity(datasets, norm, n_sigma: float, null_value: float = 0) -> float:
    """The norm whose Asimov significance is ``n_sigma`` (NaN when no crossing is found), minus
    ``null_value``.

    Parameters
    ----------
    datasets : Datasets
        The bin's datasets, their models at the best fit (``norm.error`` set by the fit).
    norm : Parameter
        The fitted norm (left at its value).
    n_sigma : float
        Required significance.
    null_value : float
        Norm of the null hypothesis.
    """
    terms = _npred_terms(datasets, norm, null_value)

    def excess_sigma(value):
        return wald_sigma(_ts_asimov(terms, value, null_value)) - n_sigma

    lower, upper = scale(norm.conf_min, norm.interp), scale(norm.conf_max, norm.interp)
    points = scale_inverse(np.linspace(lower, upper, N_BINS + 1), norm.interp)
    roots = []
    with warnings.catch_warnings():  # χ² functions of trial values below zero give NaN
        warnings.simplefilter("ignore")
        signs = np.sign([excess_sigma(x) for x in points])
        for idx in np.nonzero(signs[:-1] != signs[1:])[0]:
            bracket = [points[idx].item(), points[idx + 1].item()]
            try:
                result = root_scalar(
                    excess_sigma, bracket=bracket, method="brentq", rtol=RTOL, maxiter=MAX_ITER
                )
            except (RuntimeError, ValueError):
                continue
            if result.converged and result.root > 0:
                roots.append(result.root)
    return (roots[0] if roots else np.nan) - null_value
