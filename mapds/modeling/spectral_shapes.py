"""Differential spectra dN/dE as pure array functions.

The functions only use arithmetic and numpy ufuncs, so they work on numpy arrays, dask arrays and
astropy Quantities alike (energies and reference energies must then share a unit, or be
Quantities).  The formulas are gammapy's (``gammapy.modeling.models.spectral``).
"""

from __future__ import annotations

import numpy as np

from ..geom.scale import interp1d_extrapolate, scale, scale_inverse

__all__ = [
    "exp_cutoff_power_law",
    "log_parabola",
    "power_law",
    "power_law2",
    "template_spectrum",
]


def power_law(energy, index, amplitude, reference):
    """``amplitude × (energy / reference)^−index``."""
    return amplitude * np.power(energy / reference, -index)


def power_law2(energy, amplitude, index, emin, emax):
    """Power law normalised by its integral ``amplitude`` between ``emin`` and ``emax``.

    ``amplitude × (1 − Γ) / (emax − emin (emin/emax)^−Γ) × (energy / emax)^−Γ``, written so that
    only energy ratios are raised to powers.
    """
    top = 1 - index
    bottom = emax - emin * np.power(emin / emax, -index)
    return amplitude * (top / bottom) * np.power(energy / emax, -index)


def log_parabola(energy, amplitude, reference, alpha, beta):
    """``amplitude × x^(−α − β ln x)`` with ``x = energy / reference`` (natural logarithm)."""
    x = energy / reference
    return amplitude * np.power(x, -alpha - beta * np.log(x))


def exp_cutoff_power_law(energy, index, amplitude, reference, lambda_, alpha):
    """``amplitude × (energy / reference)^−index × exp(−(λ energy)^α)``."""
    return amplitude * np.power(energy / reference, -index) * np.exp(-np.power(energy * lambda_, alpha))


def template_spectrum(
    energy,
    energy_nodes,
    values,
    values_scale: str = "log",
    points_scale: str = "log",
    method: str = "linear",
    extrapolate: bool = True,
    fill_value=np.nan,
):
    """Interpolate a tabulated spectrum (plain numbers: convert units before calling).

    Linear interpolation of ``scale(values)`` against ``scale(energy_nodes)``, extrapolated
    along the outermost segments (or ``fill_value`` outside the nodes when not
    ``extrapolate``), then clipped at zero.  ``method="nearest"`` takes the nearest node in the
    scaled energy; it is what a single node uses.

    Parameters
    ----------
    energy : array-like
        Energies at which to evaluate (unit of ``energy_nodes``).
    energy_nodes, values : 1-d arrays
        The table, energies increasing.
    values_scale, points_scale : {"lin", "log", "sqrt"}
        Interpolation scales of values and energies.
    """
    energy = np.asarray(energy, dtype=float)
    nodes = scale(np.asarray(energy_nodes, dtype=float), points_scale)
    points = scale(energy, points_scale)
    scaled = scale(np.asarray(values, dtype=float), values_scale)
    if method == "nearest" or nodes.size == 1:
        idx = np.abs(points[..., np.newaxis] - nodes).argmin(axis=-1)
        result = scaled[idx]
    elif method == "linear":
        result = interp1d_extrapolate(points, nodes, scaled)
    else:
        raise ValueError(f"method must be 'linear' or 'nearest', got {method!r}")
    if not extrapolate:
        outside = (points < nodes.min()) | (points > nodes.max())
        result = np.where(outside, fill_value, result)
    with np.errstate(over="ignore"):
        result = scale_inverse(result, values_scale)
    return np.clip(result, 0, np.inf)
