"""`Fit`: gammapy's fitting interface on mapds datasets.

The backends (:mod:`.backend_iminuit`, :mod:`.backend_scipy`) see the free parameters as factors
and call the datasets' joint ``stat_sum()``; the datasets make each call cost only what changed
since the last one (their caches, see `~mapds.datasets.MapDataset.stat_sum`).  Results are
gammapy's: `FitResult` (an `OptimizeResult` and a `CovarianceResult`), the covariance written
back into the models (so into their YAML and covariance files).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

import numpy as np
from astropy.table import Table

from ..errors import InvalidArgumentError, ParameterError
from . import backend_iminuit, backend_scipy
from .covariance import Covariance
from .parameter import Parameters

__all__ = ["CovarianceResult", "Fit", "FitResult", "FitStepResult", "OptimizeResult"]

log = logging.getLogger(__name__)

#: What each backend offers: ``task -> function``.
BACKENDS: dict[str, dict[str, Callable]] = {
    "minuit": {
        "optimize": backend_iminuit.optimize_iminuit,
        "covariance": backend_iminuit.covariance_iminuit,
        "confidence": backend_iminuit.confidence_iminuit,
    },
    "scipy": {
        "optimize": backend_scipy.optimize_scipy,
        "covariance": backend_scipy.covariance_scipy,
        "confidence": backend_scipy.confidence_scipy,
    },
}

#: The collection class a list of datasets (or one dataset) becomes for a fit: `Datasets`, set by
#: :mod:`mapds.datasets` when it is imported (datasets sit above modeling).
DATASETS_CLASS: list[type] = []


def _backend(task: str, backend: str) -> Callable:
    try:
        return BACKENDS[backend][task]
    except KeyError:
        raise InvalidArgumentError(
            f"Fit backend {backend!r} has no {task!r} step; backends: {sorted(BACKENDS)}"
        ) from None


def parse_datasets(datasets):
    """``datasets`` as a `Datasets` collection and its (unique) parameters."""
    if not DATASETS_CLASS:
        raise InvalidArgumentError("Fitting needs mapds.datasets (import it first)")
    collection = DATASETS_CLASS[0]
    if not isinstance(datasets, collection):
        datasets = collection(datasets)
    return datasets, datasets.parameters


class Fit:
    """Fit models to datasets: gammapy's ``Fit``.

    Parameters
    ----------
    backend : {"minuit", "scipy"}
        Backend of every step (each ``*_opts`` may name another with a ``"backend"`` key).
    optimize_opts : dict, optional
        For "minuit": ``Minuit`` settings (``tol``, ``strategy``, ``print_level``...) and
        ``migrad_opts`` for ``migrad()``; for "scipy": ``scipy.optimize.minimize`` keywords
        (``method``, default ``"Nelder-Mead"``).
    covariance_opts : dict, optional
        Covariance options ("minuit": HESSE; "scipy": a numerical Hessian).
    confidence_opts : dict, optional
        Confidence options ("minuit": MINOS; "scipy": ``scipy.optimize.brentq`` keywords).
    store_trace : bool
        Keep the parameter values and statistic of every evaluation in the result's ``trace``.
    """

    def __init__(self, backend="minuit", optimize_opts=None, covariance_opts=None, confidence_opts=None,
                 store_trace=False):  # fmt: skip
        if backend not in BACKENDS:
            raise InvalidArgumentError(f"Unknown fit backend {backend!r}; expected one of {sorted(BACKENDS)}")
        self.backend = backend
        self.store_trace = store_trace
        self.optimize_opts = {"backend": backend} if optimize_opts is None else dict(optimize_opts)
        self.covariance_opts = {"backend": backend} if covariance_opts is None else dict(covariance_opts)
        self.confidence_opts = {"backend": backend} if confidence_opts is None else dict(confidence_opts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r})"

    # -- the steps ------------------------------------------------------------------------------

    def run(self, datasets) -> FitResult:
        """Optimise, then estimate the covariance (written into the models)."""
        datasets, _ = parse_datasets(datasets)
        optimize_result = self.optimize(datasets)
        covariance_result = self.covariance(datasets, optimize_result=optimize_result)
        optimize_result.models.covariance = Covariance(
            optimize_result.models.parameters, covariance_result.matrix
        )
        datasets.covariance = Covariance(datasets.models.parameters, covariance_result.matrix)
        return FitResult(optimize_result, covariance_result)

    def optimize(self, datasets) -> OptimizeResult:
        """Minimise the joint statistic over the free parameters (values set to the best fit).

        Raises
        ------
        InvalidArgumentError
            No parameter is free.
        ParameterError
            A free parameter starts outside its bounds (gammapy only logs a warning, and the
            optimiser then starts from somewhere else).
        """
        datasets, parameters = parse_datasets(datasets)
        if len(parameters.free_parameters) == 0:
            raise InvalidArgumentError("No free parameters for fitting")
        outside = [par for par in parameters.free_parameters if par.value < par.min or par.value > par.max]
        if outside:
            text = ", ".join(f"{par.name}={par.value} not in [{par.min}, {par.max}]" for par in outside)
            raise ParameterError(f"Fit cannot start outside the parameter bounds: {text}")
        parameters.autoscale()
        kwargs = dict(self.optimize_opts)
        backend = kwargs.pop("backend", self.backend)
        method = "migrad" if backend == "minuit" else kwargs.get("method", backend)
        start_stat = datasets.stat_sum()
        if not np.isfinite(start_stat):
            # no optimiser finds its way from a NaN: say so at once
            return OptimizeResult(
                models=datasets.models.copy(),
                total_stat=start_stat,
                backend=backend,
                method=method,
                trace=Table(),
                nfev=1,
                success=False,
                message=f"The statistic at the start values is not finite ({start_stat}): look for NaN "
                "or infinite counts, background or exposure inside the mask.",
            )
        optimize = _backend("optimize", backend)
        factors, info, optimizer = optimize(
            parameters=parameters, function=datasets.stat_sum, store_trace=self.store_trace, **kwargs
        )
        trace = info.pop("trace")
        if self.store_trace and len(trace):
            index = [parameters.index(par) for par in parameters.unique_parameters.free_parameters]
            names = np.array(datasets.models.parameters_unique_names)[index]
            trace.rename_columns(trace.colnames[1:], list(names))
        parameters.set_parameter_factors(factors)
        parameters.check_limits()
        total_stat = datasets.stat_sum()
        success = info.pop("success") and bool(np.isfinite(total_stat))
        message = info.pop("message")
        if not np.isfinite(total_stat):
            message = f"{message} The statistic at the result is not finite ({total_stat})."
        return OptimizeResult(
            models=datasets.models.copy(),
            total_stat=total_stat,
            backend=backend,
            method=method,
            trace=trace,
            minuit=optimizer,
            success=success,
            message=message,
            **info,
        )

    def covariance(self, datasets, optimize_result=None) -> CovarianceResult:
        """The covariance of the parameters at their current values, written into the models."""
        datasets, unique = parse_datasets(datasets)
        parameters = datasets.models.parameters
        kwargs = dict(self.covariance_opts)
        backend = kwargs.pop("backend", self.backend)
        if optimize_result is not None and optimize_result.backend == "minuit" and backend == "minuit":
            kwargs["minuit"] = optimize_result.minuit
        covariance = _backend("covariance", backend)
        with unique.restore_status():
            factor_matrix, info = covariance(parameters=unique, function=datasets.stat_sum, **kwargs)
            matrix = Covariance.from_factor_matrix(parameters=parameters, matrix=factor_matrix)
            datasets.models.covariance = matrix
        if optimize_result is not None:
            optimize_result.models.covariance = matrix.data.copy()
        method = "hesse" if backend == "minuit" else "hessian"
        return CovarianceResult(
            backend=backend,
            method=method,
            success=info["success"],
            message=info["message"],
            matrix=matrix.data,
        )

    def confidence(self, datasets, parameter, sigma=1, reoptimize=True) -> dict:
        """Confidence interval of ``parameter``: ``errp``, ``errn``, ``success``, ``nfev``...

        With "minuit" MINOS (the others always re-optimised); with "scipy" the crossings of the
        statistic profile.  Parameter values are restored afterwards.
        """
        datasets, parameters = parse_datasets(datasets)
        kwargs = dict(self.confidence_opts)
        backend = kwargs.pop("backend", self.backend)
        confidence = _backend("confidence", backend)
        parameter = parameters[parameter]
        if backend == "minuit" and not reoptimize:
            log.warning("Reoptimize = False ignored for iminuit backend")
        with parameters.restore_status():
            result = confidence(
                parameters=parameters,
                parameter=parameter,
                function=datasets.stat_sum,
                sigma=sigma,
                reoptimize=reoptimize,
                **kwargs,
            )
        result["errp"] *= parameter.scale
        result["errn"] *= parameter.scale
        return result

    # -- scans ----------------------------------------------------------------------------------

    def _scan(self, datasets, parameters: Parameters, scanned, points, reoptimize: bool):
        stats, fit_results = [], []
        with parameters.restore_status():
            for values in points:
                for par, value in zip(scanned, values, strict=True):
                    par.value = value
                if reoptimize:
                    for par in scanned:
                        par.frozen = True
                    result = self.optimize(datasets)
                    fit_results.append(result)
                    stats.append(result.total_stat)
                else:
                    stats.append(datasets.stat_sum())
        return np.array(stats), fit_results

    def _unique_name(self, datasets, parameter) -> str:
        return datasets.models.parameters_unique_names[datasets.models.parameters.index(parameter)]

    def stat_profile(self, datasets, parameter, reoptimize=False) -> dict:
        """The statistic at ``parameter.scan_values``, the others fixed (or re-optimised).

        Returns
        -------
        dict
            ``"<name>_scan"``, ``"stat_scan"`` and ``"fit_results"`` (empty unless
            ``reoptimize``).
        """
        datasets, parameters = parse_datasets(datasets)
        parameter = parameters[parameter]
        values = parameter.scan_values
        stats, fit_results = self._scan(datasets, parameters, [parameter], ([v] for v in values), reoptimize)
        return {
            f"{self._unique_name(datasets, parameter)}_scan": values,
            "stat_scan": stats,
            "fit_results": fit_results,
        }

    def stat_surface(self, datasets, x, y, reoptimize=False) -> dict:
        """The statistic on the grid of ``x.scan_values`` × ``y.scan_values``."""
        datasets, parameters = parse_datasets(datasets)
        x, y = parameters[x], parameters[y]
        points = itertools.product(x.scan_values, y.scan_values)
        stats, fit_results = self._scan(datasets, parameters, [x, y], points, reoptimize)
        shape = (len(x.scan_values), len(y.scan_values))
        if reoptimize:
            grid = np.empty(shape, dtype=object)
            grid.ravel()[:] = fit_results
            fit_results = grid
        return {
            f"{self._unique_name(datasets, x)}_scan": x.scan_values,
            f"{self._unique_name(datasets, y)}_scan": y.scan_values,
            "stat_scan": stats.reshape(shape),
            "fit_results": fit_results,
        }

    def stat_contour(self, datasets, x, y, numpoints=10, sigma=1) -> dict:
        """MNCONTOUR of ``x`` and ``y`` at ``sigma`` (the others re-optimised at each point)."""
        datasets, parameters = parse_datasets(datasets)
        x, y = parameters[x], parameters[y]
        with parameters.restore_status():
            result = backend_iminuit.contour_iminuit(
                parameters=parameters, function=datasets.stat_sum, x=x, y=y, numpoints=numpoints, sigma=sigma
            )
        return {
            self._unique_name(datasets, x): result["x"] * x.scale,
            self._unique_name(datasets, y): result["y"] * y.scale,
            "success": result["success"],
        }


class FitStepResult:
    """What a fit step did: ``backend``, ``method``, ``success`` and ``message``."""

    def __init__(self, backend, method, success, message):
        self._backend, self._method, self._success, self._message = backend, method, success, message

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def method(self) -> str:
        return self._method

    @property
    def success(self) -> bool:
        return self._success

    @property
    def message(self) -> str:
        return self._message

    def __str__(self) -> str:
        return (
            f"{type(self).__name__}\n\n"
            f"\tbackend    : {self.backend}\n"
            f"\tmethod     : {self.method}\n"
            f"\tsuccess    : {self.success}\n"
            f"\tmessage    : {self.message}\n"
        )

    def to_dict(self) -> dict:
        """The step as gammapy writes it at the top of a fit result file."""
        values = {"backend": self.backend, "method": self.method, "success": bool(self.success)}
        return {type(self).__name__: {**values, "message": str(self.message)}}


class CovarianceResult(FitStepResult):
    """The covariance step: its ``matrix`` (of every model parameter, frozen ones 0)."""

    def __init__(self, matrix=None, **kwargs):
        self._matrix = matrix
        super().__init__(**kwargs)

    @property
    def matrix(self) -> np.ndarray | None:
        return self._matrix


class OptimizeResult(FitStepResult):
    """The optimisation step: best-fit ``models`` (a copy), ``total_stat``, ``nfev``, ``trace``."""

    def __init__(self, models, nfev, total_stat, trace, minuit=None, **kwargs):
        self._models, self._nfev, self._total_stat = models, nfev, total_stat
        self._trace, self._minuit = trace, minuit
        super().__init__(**kwargs)

    @property
    def minuit(self):
        """The ``iminuit.Minuit`` object (minuit backend), else None."""
        return self._minuit

    @property
    def parameters(self) -> Parameters:
        return self.models.parameters

    @property
    def models(self):
        return self._models

    @property
    def trace(self) -> Table:
        return self._trace

    @property
    def nfev(self) -> int:
        return self._nfev

    @property
    def total_stat(self) -> float:
        return self._total_stat

    def __str__(self) -> str:
        return super().__str__() + f"\tnfev       : {self.nfev}\n\ttotal stat : {self.total_stat:.2f}\n\n"

    def to_dict(self) -> dict:
        out = super().to_dict()
        out[type(self).__name__].update({"nfev": int(self.nfev), "total_stat": float(self.total_stat)})
        return out


class FitResult:
    """The result of `Fit.run`: its `OptimizeResult` and `CovarianceResult`."""

    def __init__(self, optimize_result=None, covariance_result=None):
        self._optimize_result, self._covariance_result = optimize_result, covariance_result

    optimize_result = property(lambda self: self._optimize_result)
    covariance_result = property(lambda self: self._covariance_result)
    minuit = property(lambda self: self.optimize_result.minuit)
    parameters = property(lambda self: self.optimize_result.parameters)
    models = property(lambda self: self.optimize_result.models)
    total_stat = property(lambda self: self.optimize_result.total_stat)
    trace = property(lambda self: self.optimize_result.trace)
    nfev = property(lambda self: self.optimize_result.nfev)
    backend = property(lambda self: self.optimize_result.backend)
    method = property(lambda self: self.optimize_result.method)
    message = property(lambda self: self.optimize_result.message)

    @property
    def success(self) -> bool:
        """Both steps succeeded."""
        success = self.optimize_result.success
        if self.covariance_result is not None:
            success = success and self.covariance_result.success
        return bool(success)

    def write(self, path, overwrite=False, full_output=True, overwrite_templates=False, write_covariance=True,
              checksum=False) -> None:  # fmt: skip
        """The best-fit models as a gammapy models YAML file, preceded by the steps' summaries
        (and their covariance file next to it)."""
        extra = {}
        for step in (self.optimize_result, self.covariance_result):
            if step is not None:
                extra.update(step.to_dict())
        self.models.write(
            path,
            overwrite=overwrite,
            full_output=full_output,
            overwrite_templates=overwrite_templates,
            write_covariance=write_covariance,
            checksum=checksum,
            extra=extra,
        )

    def __str__(self) -> str:
        return "".join(str(step) for step in (self.optimize_result, self.covariance_result) if step)
