"""The TS map's flux sensitivity: the amplitude whose Asimov dataset reaches a significance
(gammapy's ``norm_sensitivity``).

For an amplitude ``x`` the Asimov counts are the predicted counts themselves, ``μ = b + x m``,
and the Asimov test statistic of a pixel's footprint is

    ts_A(x) = cash(μ, b) − cash(μ, μ)

with gammapy's Cash statistic (predicted counts truncated at ``TRUNCATION_VALUE``, no log term
where the counts are not positive).  gammapy converts it with the Wald test,
``ts_to_sigma(ts_A, ts_asimov=ts_A)``, which is ``sqrt(ts_A)`` (the non-central χ² survival
function and its inverse at the same non-centrality cancel): the sensitivity is the root of
``ts_A(x) = n_sigma²`` in gammapy's bracket ``[norm / 1000, norm × 1000]``, NaN where the bracket
has no sign change (``norm`` zero, or the root outside it).  ``ts_A`` grows away from zero on both
sides, so for negative norms the root is the negative amplitude, as gammapy's.
"""

from __future__ import annotations

import numpy as np

from .ts_fit import TRUNCATION_VALUE, cash_sums, dense_root

__all__ = ["asimov_ts", "sensitivity_norm"]


def asimov_ts(background, model, x, slope: bool = False):
    """Asimov test statistic of dense footprints at the amplitudes ``x``, per pixel.

    Parameters
    ----------
    background, model : ndarray, shape ``(n_footprint, n_pixels)``
        The footprints' background and model (predicted counts of norm 1).
    x : ndarray, shape ``(n_pixels,)``
        Amplitudes.
    slope : bool
        Also the derivative in ``x``.

    Returns
    -------
    ts : ndarray, shape ``(n_pixels,)``
    derivative : ndarray or None
    """
    npred = background + x * model  # the Asimov counts
    ts = cash_sums(npred, background, model, np.zeros_like(x)) - cash_sums(npred, background, model, x)
    if not slope:
        return ts, None
    # d/dx of the terms: −m log max(b, T) where μ > 0, and m log μ where μ > T
    log_background = np.log(np.maximum(background, TRUNCATION_VALUE))
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(npred > 0, -log_background, 0.0)
        terms += np.where(npred > TRUNCATION_VALUE, np.log(npred), 0.0)
    return ts, 2 * (model * terms).sum(axis=0)


def sensitivity_norm(background, model, norm, n_sigma, max_niter) -> np.ndarray:
    """gammapy's ``norm_sensitivity`` of dense footprints ``(n_footprint, n_pixels)``: the root
    of ``ts_A(x) = n_sigma²`` between ``norm / 1000`` and ``norm × 1000`` per pixel (NaN where
    there is none)."""
    norm = np.asarray(norm, dtype=np.float64)
    level = float(n_sigma) ** 2
    # ts_A decreases towards zero amplitude: searched as an increasing function of |x|
    sign = np.where(norm < 0, -1.0, 1.0)

    def function(work, x, pixels, slope):
        ts, derivative = asimov_ts(background[:, pixels], model[:, pixels], x, slope)
        return sign[pixels] * (ts - level), None if derivative is None else sign[pixels] * derivative

    ends = np.stack([norm / 1000, norm * 1000])
    return dense_root(function, np.min(ends, axis=0), np.max(ends, axis=0), norm, max_niter)
