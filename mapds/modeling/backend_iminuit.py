"""The iminuit fit backend: MIGRAD to optimise, HESSE for the covariance, MINOS and MNCONTOUR for
confidence intervals and contours, with gammapy's settings (tolerance 0.1, ``errordef`` 1,
strategy 1) and parameter names ``par_000_<name>``.

Each function takes the `~mapds.modeling.Parameters` (their free ones are varied, as factors)
and the statistic ``function``; what they return is turned into results by
`~mapds.modeling.Fit`.

Unlike gammapy, MINUIT is handed the statistic shifted by a constant when it is larger than
``±1e4`` at the start (`.likelihood.OFFSET_LEVEL`): MINUIT's step sizes follow the magnitude of
the function, and a survey's statistic of ~1e7 otherwise makes MIGRAD stall and HESSE's matrix
wrong (see :mod:`.likelihood`).  ``minuit.fval`` is then shifted too; the results give the
statistic itself.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtr, ndtr  # the χ² and normal CDFs (scipy.stats costs ~1 s to import)

from .likelihood import Likelihood, factor_bounds
from .parameter import Parameters

__all__ = ["confidence_iminuit", "contour_iminuit", "covariance_iminuit", "optimize_iminuit"]

#: Minuit settings gammapy uses unless given.
MINUIT_DEFAULTS = {"tol": 0.1, "errordef": 1, "print_level": 0, "strategy": 1}


def parameter_name(index: int, name: str) -> str:
    """Minuit's name of the free parameter ``index``."""
    return f"par_{index:03d}_{name}"


def setup_minuit(parameters: Parameters, likelihood: Likelihood, **kwargs):
    """A ``Minuit`` over the free parameters' factors: start values, step sizes (the error in
    factor units, else 1) and limits; ``kwargs`` override :data:`MINUIT_DEFAULTS`."""
    from iminuit import Minuit  # an optional dependency: imported when a fit uses it

    free = parameters.free_parameters
    names = [parameter_name(i, par.name) for i, par in enumerate(free)]
    minuit = Minuit(likelihood, *[par.factor for par in free], name=names)
    for attribute, default in MINUIT_DEFAULTS.items():
        setattr(minuit, attribute, kwargs.pop(attribute, default))
    for name, par in zip(names, free, strict=True):
        error = par.error
        minuit.errors[name] = 1.0 if error == 0 or not np.isfinite(error) else error / par.scale
        minuit.limits[name] = factor_bounds(par)
    return minuit


def message(minuit, parameters: Parameters) -> str:
    """MIGRAD's verdict in words (as ``iminuit.minimize`` and gammapy phrase it)."""
    if minuit.valid and np.all(np.isfinite(parameters.value)):
        text = "Optimization terminated successfully"
        return text + ("." if minuit.accurate else ", but uncertainties are unreliable.")
    text = "Optimization failed."
    if minuit.fmin.has_reached_call_limit:
        text += " Call limit was reached."
    if minuit.fmin.is_above_max_edm:
        text += " Estimated distance to minimum too large."
    return text


def optimize_iminuit(parameters: Parameters, function, store_trace: bool = False, **kwargs):
    """MIGRAD from the parameters' values; ``kwargs["migrad_opts"]`` go to ``migrad()``.

    Returns
    -------
    factors, info, minuit
        Best factors, ``success``/``nfev``/``message``/``trace``, and the ``Minuit`` object.
    """
    migrad_opts = kwargs.pop("migrad_opts", {})
    likelihood = Likelihood(function, parameters, store_trace, offset=True)
    minuit = setup_minuit(parameters, likelihood, **kwargs)
    minuit.migrad(**migrad_opts)
    info = {
        "success": bool(minuit.valid),
        "nfev": minuit.nfcn,
        "message": message(minuit, parameters),
        "trace": likelihood.trace,
    }
    return np.array(minuit.values), info, minuit


def covariance_iminuit(parameters: Parameters, function, minuit=None, **kwargs):
    """HESSE: the covariance of the free factors (that of ``minuit`` after MIGRAD if given)."""
    if minuit is None:
        minuit = setup_minuit(parameters, Likelihood(function, parameters, offset=True), **kwargs)
        minuit.hesse()
    try:
        matrix = np.array(minuit.covariance)
    except (TypeError, RuntimeError):
        n = len(minuit.values)
        return np.full((n, n), np.nan), {"success": False, "message": "Hesse failed"}
    if matrix.ndim != 2 or not np.all(np.isfinite(matrix)):
        n = len(minuit.values)
        return np.full((n, n), np.nan), {"success": False, "message": "Hesse failed"}
    return matrix, {"success": True, "message": "Hesse terminated successfully."}


def confidence_iminuit(parameters: Parameters, function, parameter, reoptimize=True, sigma=1.0, **kwargs):
    """MINOS interval of ``parameter`` at ``sigma`` (others re-optimised, as MINOS does)."""
    migrad_opts = kwargs.pop("migrad_opts", {})
    minuit = setup_minuit(parameters, Likelihood(function, parameters, offset=True), **kwargs)
    minuit.migrad(**migrad_opts)
    index = parameters.free_parameters.index(parameter)
    name = parameter_name(index, parameter.name)
    try:
        minuit.minos(name, cl=2 * ndtr(sigma) - 1)
        error = minuit.merrors[name]
    except (AttributeError, RuntimeError) as exc:
        return {"success": False, "message": str(exc), "errp": np.nan, "errn": np.nan, "nfev": 0}
    text = "Minos terminated successfully." if error.is_valid else "Minos terminated, but result is invalid."
    return {
        "success": bool(error.is_valid),
        "message": text,
        "errp": error.upper,
        "errn": -error.lower,
        "nfev": error.nfcn,
    }


def contour_iminuit(parameters: Parameters, function, x, y, numpoints=10, sigma=1.0, **kwargs):
    """MNCONTOUR of the free parameters ``x`` and ``y`` (factors) at ``sigma``."""
    minuit = setup_minuit(parameters, Likelihood(function, parameters, offset=True), **kwargs)
    minuit.migrad()
    free = parameters.free_parameters
    name_x = parameter_name(free.index(x), x.name)
    name_y = parameter_name(free.index(y), y.name)
    try:
        contour = np.asarray(minuit.mncontour(name_x, name_y, size=numpoints, cl=chdtr(2, sigma**2)))
    except RuntimeError as exc:
        return {"success": False, "message": str(exc), "x": np.array([]), "y": np.array([])}
    return {"success": True, "message": "Contour terminated.", "x": contour[:, 0], "y": contour[:, 1]}
