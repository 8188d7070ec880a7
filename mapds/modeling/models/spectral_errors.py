"""Errors of spectral models, propagated from the parameter covariance by sampling, as gammapy.

The model is evaluated (or integrated) at ``n_samples × n_parameters`` parameter vectors drawn from
the multivariate normal of the parameter values and covariance; the result is the median and the
distance to the 16th and 84th percentiles.  An int ``random_state`` seeds a legacy
``RandomState`` as gammapy's ``get_random_state`` does, so the same seed gives gammapy's draws.
Integrals use the log-log trapezoid of ``integrate_spectrum`` for every vector, as gammapy's.
"""

from __future__ import annotations

import numbers

import astropy.units as u
import numpy as np
from scipy.special import ndtr  # the normal CDF (scipy.stats costs ~1 s to import)

from ...errors import InvalidArgumentError, ModelError
from ..spectral_integrals import log_energy_grid, trapz_loglog

__all__ = ["errors_of_samples", "parameter_samples", "random_state_of", "sampled_integrals"]


def random_state_of(random_state):
    """What draws the samples, with gammapy's ``get_random_state`` meaning of ``random_state``:
    an int seeds a new legacy ``RandomState`` (so the draws are gammapy's), "random-seed" seeds
    one from OS entropy, "global-rng" is numpy's global generator; a ``RandomState`` or
    ``Generator`` is used as given."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if random_state == "random-seed":
        return np.random.RandomState(None)
    if random_state == "global-rng":
        return np.random  # the module's functions draw from numpy's global RandomState
    raise InvalidArgumentError(
        f"Invalid random_state {random_state!r}: use an int, 'random-seed', 'global-rng', a numpy "
        "RandomState or Generator"
    )


def parameter_samples(model, n_samples: int, random_state=42) -> list[u.Quantity]:
    """Parameter vectors drawn from the multivariate normal of the model's parameter values and
    covariance (all parameters; frozen ones have zero variance), one Quantity per parameter.

    Parameters
    ----------
    model : `~mapds.modeling.models.SpectralModel`
        Model with parameters and a covariance.
    n_samples : int
        Number of vectors.
    random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState` or `~numpy.random.Generator`
        Source of the draws (an int gives gammapy's draws for that seed).
    """
    parameters = model.parameters
    if len(parameters) == 0:
        raise ModelError(f"{type(model).__name__} has no parameters: no error to propagate")
    rng = random_state_of(random_state)
    draws = rng.multivariate_normal(parameters.value, model.covariance.data, int(n_samples))
    return [draws[:, k] * par.unit for k, par in enumerate(parameters)]


def sampled_integrals(model, energy_min, energy_max, samples, energy_flux: bool = False) -> u.Quantity:
    """``(*bins, n_samples)`` integrals of ``model`` (of E × model with ``energy_flux``) over each
    bin for every parameter vector of ``samples``."""
    grid = log_energy_grid(u.Quantity(energy_min), u.Quantity(energy_max))  # (*bins, n_points)
    args = [s.to(grid.unit) if s.unit.physical_type == "energy" else s for s in samples]
    values = model.evaluate(grid[..., np.newaxis], *args)  # (*bins, n_points, n_samples)
    grid = np.broadcast_to(grid[..., np.newaxis], values.shape, subok=True)
    if energy_flux:
        values = values * grid
    return trapz_loglog(values, grid, axis=-2).sum(axis=0)


def errors_of_samples(values: u.Quantity, n_sigma: float = 1) -> u.Quantity:
    """``[median, errn, errp]`` of ``values`` along their last axis (non-finite values ignored)."""
    values = u.Quantity(values)
    data = np.where(np.isfinite(values.value), values.value, np.nan)
    low, median, high = np.nanpercentile(
        data, 100 * ndtr([-n_sigma, 0, n_sigma]), axis=-1
    )
    return u.Quantity([median, median - low, high - median], values.unit)
