"""The scipy fit backend: ``scipy.optimize.minimize`` to optimise (Nelder-Mead by default, as
gammapy), a numerical Hessian of the statistic for the covariance (gammapy has none), and root
finding on the statistic profile for confidence intervals (as gammapy).
"""

from __future__ import annotations

import numpy as np

from .likelihood import Likelihood, factor_bounds
from .parameter import Parameters

__all__ = ["confidence_scipy", "covariance_scipy", "hessian", "optimize_scipy"]


def optimize_scipy(parameters: Parameters, function, store_trace: bool = False, **kwargs):
    """``scipy.optimize.minimize`` over the free factors (``method`` default ``"Nelder-Mead"``).

    Returns
    -------
    factors, info, None
        Best factors and ``success``/``nfev``/``message``/``trace``.
    """
    import scipy.optimize  # deferred: ~0.5 s to import, and the default backend is iminuit

    method = kwargs.pop("method", "Nelder-Mead")
    likelihood = Likelihood(function, parameters, store_trace)
    free = parameters.free_parameters
    start = [par.factor for par in free]
    bounds = [factor_bounds(par) for par in free]
    result = scipy.optimize.minimize(likelihood.fcn, start, bounds=bounds, method=method, **kwargs)
    info = {
        "success": bool(result.success),
        "nfev": likelihood.nfev,
        "message": str(result.message),
        "trace": likelihood.trace,
    }
    return np.atleast_1d(result.x), info, None


def _steps(parameters: Parameters) -> np.ndarray:
    """Finite-difference steps in factor units: a tenth of the error when known, else 1e-3 of the
    factor (at least 1e-3), kept inside the bounds' room."""
    steps = []
    for par in parameters.free_parameters:
        error = par.error / par.scale if np.isfinite(par.error) and par.error > 0 else np.nan
        step = 0.1 * error if np.isfinite(error) else 1e-3 * max(abs(par.factor), 1.0)
        room = [abs(par.factor - b) for b in (par.factor_min, par.factor_max) if np.isfinite(b)]
        if room and min(room) > 0:
            step = min(step, 0.5 * min(room))
        steps.append(step)
    return np.array(steps)


def hessian(fcn, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central finite-difference Hessian of ``fcn`` at ``x`` (``1 + 2n + 2n(n-1)`` evaluations)."""
    n = len(x)
    f0 = fcn(x)
    h = np.zeros((n, n))
    shifted = {}

    def at(*moves):
        point = x.copy()
        for index, sign in moves:
            point[index] += sign * steps[index]
        key = tuple(sorted(moves))
        if key not in shifted:
            shifted[key] = fcn(point)
        return shifted[key]

    for i in range(n):
        h[i, i] = (at((i, 1)) - 2 * f0 + at((i, -1))) / steps[i] ** 2
        for j in range(i):
            value = (
                at((i, 1), (j, 1)) - at((i, 1), (j, -1)) - at((i, -1), (j, 1)) + at((i, -1), (j, -1))
            ) / (4 * steps[i] * steps[j])
            h[i, j] = h[j, i] = value
    return h


def covariance_scipy(parameters: Parameters, function, **kwargs):
    """Covariance of the free factors: ``2 H⁻¹`` of the statistic's Hessian ``H`` (the statistic
    is ``-2 ln L``), from central finite differences at the current values."""
    likelihood = Likelihood(function, parameters)
    free = parameters.free_parameters
    x = np.array([par.factor for par in free], dtype=float)
    with parameters.restore_status():
        h = hessian(likelihood.fcn, x, _steps(parameters))
    n = len(x)
    try:
        matrix = 2 * np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.full((n, n), np.nan), {"success": False, "message": "Hessian is singular"}
    ok = np.all(np.isfinite(matrix)) and np.all(np.diag(matrix) > 0)
    if not ok:
        return matrix, {"success": False, "message": "Hessian is not positive definite"}
    return matrix, {"success": True, "message": "Numerical Hessian computed successfully."}


def _crossing(
    parameters: Parameters, parameter, function, sigma: float, reoptimize: bool, upper: bool, **kwargs
):
    """Where the statistic has risen by ``sigma²`` above its value now, on one side of
    ``parameter`` (the others re-optimised with L-BFGS-B if ``reoptimize``)."""
    import scipy.optimize

    stat_null = function()
    start = parameter.factor
    end = (parameter.conf_max if upper else parameter.conf_min) / parameter.scale
    nfev = [0]

    def difference(factor: float) -> float:
        parameter.factor = factor
        if reoptimize:
            parameter.frozen = True
            optimize_scipy(parameters, function, method="L-BFGS-B")
        nfev[0] += 1
        return function() - stat_null - sigma**2

    suffix = "errp" if upper else "errn"
    out = {f"nfev_{suffix}": 0, suffix: np.nan, f"success_{suffix}": False, "stat_null": stat_null}
    if not np.isfinite(end) or end == start:
        out[f"message_{suffix}"] = "Confidence estimation failed. Try to set the parameter.min/max by hand."
        return out
    try:
        root, info = scipy.optimize.brentq(difference, start, end, full_output=True, **kwargs)
    except ValueError:
        out[f"nfev_{suffix}"] = nfev[0]
        out[f"message_{suffix}"] = "Confidence estimation failed. Try to set the parameter.min/max by hand."
        return out
    out.update(
        {
            f"nfev_{suffix}": nfev[0],
            suffix: abs(root - start),
            f"success_{suffix}": bool(info.converged),
            f"message_{suffix}": "Confidence terminated successfully.",
        }
    )
    return out


def confidence_scipy(parameters: Parameters, parameter, function, sigma=1.0, reoptimize=True, **kwargs):
    """Confidence interval of ``parameter`` from the statistic profile (both sides)."""
    if len(parameters.free_parameters) <= 1:
        reoptimize = False
    with parameters.restore_status():
        result = _crossing(parameters, parameter, function, sigma, reoptimize, upper=False, **kwargs)
    with parameters.restore_status():
        result.update(_crossing(parameters, parameter, function, sigma, reoptimize, upper=True, **kwargs))
    result["success"] = result["success_errn"] and result["success_errp"]
    result["nfev"] = result["nfev_errn"] + result["nfev_errp"]
    result["message"] = result["message_errp"]
    return result
