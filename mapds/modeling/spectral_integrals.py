"""Integrals of spectra over energy bins as pure array functions.

Analytic integrals exist for power laws; every other spectrum is integrated the way gammapy
does it (``integrate_spectrum``): each bin is split into the same number of log-spaced points,
``max(2, int(max over bins of ndecade × log10(E_max / E_min))))``, and the log-log trapezoid
rule integrates every sub-interval exactly as the power law through its two end values.

Functions use arithmetic, ufuncs and ``where`` only, so they accept numpy arrays, dask arrays
and astropy Quantities.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "integrate_spectrum",
    "log_energy_grid",
    "power_law2_integral",
    "power_law_energy_flux",
    "power_law_integral",
    "trapz_loglog",
]

#: Sampling of ``integrate_spectrum``: log-spaced points per decade.
NDECADE = 100


def _where_close_to_zero(exponent, general, limit):
    """``limit`` where ``exponent`` is close to 0 (``np.isclose``), else ``general``."""
    return np.where(np.isclose(exponent, 0), limit, general)


def power_law_integral(energy_min, energy_max, index, amplitude, reference):
    """∫ amplitude (E / reference)^−index dE from ``energy_min`` to ``energy_max``.

    ``amplitude × reference / (1 − Γ) × [(E_max/E_0)^(1−Γ) − (E_min/E_0)^(1−Γ)]``, and
    ``amplitude × reference × ln(E_max / E_min)`` where ``1 − Γ`` is close to 0.
    """
    exponent = np.subtract(1, index)
    with np.errstate(divide="ignore", invalid="ignore"):
        general = (
            amplitude
            * reference
            / exponent
            * (np.power(energy_max / reference, exponent) - np.power(energy_min / reference, exponent))
        )
    limit = amplitude * reference * np.log(energy_max / energy_min)
    return _where_close_to_zero(exponent, general, limit)


def power_law_energy_flux(energy_min, energy_max, index, amplitude, reference):
    """∫ E × amplitude (E / reference)^−index dE (``ln`` form where ``2 − Γ`` is close to 0)."""
    exponent = np.subtract(2, index)
    with np.errstate(divide="ignore", invalid="ignore"):
        general = (
            amplitude
            * reference**2
            / exponent
            * (np.power(energy_max / reference, exponent) - np.power(energy_min / reference, exponent))
        )
    limit = amplitude * reference**2 * np.log(energy_max / energy_min)
    return _where_close_to_zero(exponent, general, limit)


def power_law2_integral(energy_min, energy_max, amplitude, index, emin, emax):
    """Integral of `~mapds.modeling.spectral_shapes.power_law2`: ``F0 × ΔE^(1−Γ) / ΔE0^(1−Γ)``.

    Energies are raised to a power directly (not as ratios), as gammapy does; pass them in one
    unit as plain numbers or Quantities.
    """
    exponent = np.subtract(1, index)
    top = np.power(energy_max, exponent) - np.power(energy_min, exponent)
    bottom = np.power(emax, exponent) - np.power(emin, exponent)
    return amplitude * top / bottom


def _log_clipped(ratio):
    """``log`` of a positive ratio, with zeros (and negatives) clipped to the smallest float64."""
    return np.log(np.clip(ratio, np.finfo(np.float64).tiny, np.inf))


def trapz_loglog(values, energy, axis: int = -1):
    """Log-log trapezoid integrals of the sub-intervals of ``energy`` along ``axis``.

    Each interval ``[E_i, E_i+1]`` is integrated as the power law through
    ``(E_i, values_i)`` and ``(E_i+1, values_i+1)``; an undefined index (both values 0)
    counts as an infinitely steep power law, i.e. a zero integral.

    Returns
    -------
    array
        One integral per interval, the interval axis moved to the front (sum over axis 0 to
        get the total).
    """
    energy = np.moveaxis(energy, axis, 0)
    values = np.moveaxis(values, axis, 0)
    energy_min, energy_max = energy[:-1], energy[1:]
    values_min, values_max = values[:-1], values[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        index = -_log_clipped(values_min / values_max) / _log_clipped(energy_min / energy_max)
    index = np.where(np.isnan(index), np.inf, index)
    with np.errstate(invalid="ignore", over="ignore"):
        return power_law_integral(energy_min, energy_max, index, values_min, energy_min)


def log_energy_grid(energy_min, energy_max, ndecade: int = NDECADE):
    """The integration points of every bin: shape ``(*bins, n)``, same ``n`` for all bins."""
    n = int(np.maximum(np.max(ndecade * np.log10(energy_max / energy_min)), 2))
    return np.geomspace(energy_min, energy_max, num=n, axis=-1)


def integrate_spectrum(func, energy_min, energy_max, ndecade: int = NDECADE, energy_flux: bool = False):
    """∫ func(E) dE (or ∫ E func(E) dE) over each bin by the log-log trapezoid rule.

    Parameters
    ----------
    func : callable
        The spectrum, evaluated on an array of energies of shape ``(*bins, n)``.
    energy_min, energy_max : array-like or `~astropy.units.Quantity`
        Bin edges (same shape).
    ndecade : int
        Points per decade.
    energy_flux : bool
        Integrate ``E × func(E)`` instead.
    """
    energy = log_energy_grid(energy_min, energy_max, ndecade)
    values = func(energy)
    if energy_flux:
        values = values * energy
    return trapz_loglog(values, energy, axis=-1).sum(axis=0)
