"""Parameter priors (gammapy's ``Prior`` classes).

A prior is a probability density ``p`` set on a model parameter (``parameter.prior = ...``).
Fits add ``weight × (−2 log p(value))`` to the statistic of the datasets; the densities are
those of :mod:`scipy.stats`:

| class | parameters (defaults) | density |
|---|---|---|
| `GaussianPrior` | mu=0, sigma=1 | ``norm(loc=mu, scale=sigma)`` |
| `UniformPrior` | min=0, max=1 | ``uniform(loc=min, scale=max − min)`` |
| `LogUniformPrior` | min=1e-14, max=1e-10 | ``loguniform(min, max)`` |
| `GeneralizedGaussianPrior` | mu=0, sigma=1, eta=0.5 | ``gennorm(1/eta, loc=mu, scale=sigma √2)`` |

A uniform or log-uniform prior also sets the bounds of its parameter (``Parameter.min`` and
``max`` return the prior's), as in gammapy.  Outside ``[min, max]`` the uniform priors give
``inf``.  Prior parameter values are used as plain numbers: their units are not converted.

In models YAML files a prior is written under its parameter's ``prior:`` key as
``{type: <class name>, parameters: [{name, value, unit, ...}], weight: <weight>}``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import astropy.units as u
import numpy as np

from ..errors import ModelError, ParameterError, UnknownModelTypeError
from .parameter import PRIOR_REGISTRY, Parameter, Parameters

__all__ = [
    "PRIOR_REGISTRY",
    "GaussianPrior",
    "GeneralizedGaussianPrior",
    "LogUniformPrior",
    "Prior",
    "PriorParameter",
    "UniformPrior",
    "gaussian_distribution",
    "generalized_gaussian_distribution",
    "log_uniform_distribution",
    "prior_class",
    "uniform_distribution",
]

log = logging.getLogger(__name__)

#: Keys a prior parameter entry of a YAML file may have (gammapy's ``PriorParameter`` arguments).
PRIOR_PARAMETER_KEYS = frozenset(
    {"name", "value", "unit", "scale", "min", "max", "error", "scale_method", "scale_transform"}
)


# -- densities -------------------------------------------------------------------------------------


def gaussian_distribution(mu: float, sigma: float):
    """Normal distribution of mean ``mu`` and standard deviation ``sigma`` (frozen scipy rv)."""
    from scipy.stats import norm  # deferred: scipy.stats costs ~1 s to import

    return norm(loc=mu, scale=sigma)


def uniform_distribution(min: float, max: float):
    """Uniform distribution on ``[min, max]`` (frozen scipy rv)."""
    from scipy.stats import uniform

    return uniform(loc=min, scale=max - min)


def log_uniform_distribution(min: float, max: float):
    """Distribution uniform in ``log(x)`` on ``[min, max]``, ``0 < min < max`` (frozen scipy rv)."""
    from scipy.stats import loguniform

    return loguniform(min, max)


def generalized_gaussian_distribution(mu: float, sigma: float, eta: float):
    """Generalised normal distribution ``∝ exp(−|x − mu|^(1/eta) / (σ√2)^(1/eta))`` (frozen scipy rv).

    ``eta = 0.5`` is the normal distribution of standard deviation ``sigma``; ``eta = 1`` a
    Laplace distribution.
    """
    from scipy.stats import gennorm

    return gennorm(1.0 / eta, loc=mu, scale=sigma * np.sqrt(2.0))


# -- prior parameters ------------------------------------------------------------------------------


class PriorParameter(Parameter):
    """Parameter of a prior (gammapy's ``PriorParameter``).

    A `Parameter` serialised with ``name``, ``value``, ``unit``, ``error``, ``min`` and ``max``
    only; its type is ``"prior"``.

    Parameters
    ----------
    name : str
        Name.
    value : float, str or `~astropy.units.Quantity`
        Value; a Quantity or a string such as ``"1 TeV"`` also sets the unit.
    unit : str or `~astropy.units.Unit`
        Unit when ``value`` is a plain number.
    scale : float
        Scale (see `Parameter`).
    min, max : float
        Bounds (NaN: unbounded).
    error : float
        Standard error.
    scale_method : {"scale10", "factor1", None}
        See `Parameter`.
    scale_transform : {"lin", "log", "sqrt"}
        See `Parameter`.
    """

    def __init__(
        self,
        name: str,
        value,
        unit="",
        scale=1,
        min=np.nan,
        max=np.nan,
        error=0,
        scale_method="scale10",
        scale_transform="lin",
    ):
        super().__init__(
            name,
            value,
            unit=unit,
            scale=scale,
            min=min,
            max=max,
            error=error,
            scale_method=scale_method,
            scale_transform=scale_transform,
        )
        self._type = "prior"

    def to_dict(self) -> dict:
        """``name``, ``value``, ``unit`` (FITS string), ``error``, ``min`` and ``max``."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit.to_string("fits"),
            "error": self.error,
            "min": self.min,
            "max": self.max,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, value={self.value!r}, unit={self.unit!r}, "
            f"min={self.min!r}, max={self.max!r})"
        )


# -- priors ----------------------------------------------------------------------------------------


def _weight(value) -> int | float:
    """The weight as a Python int or float (so that YAML shows ``weight: 1`` as gammapy does)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"Prior weight must be a number, got {value!r}") from exc


def _same(value, default) -> bool:
    both_nan = (
        isinstance(value, float) and isinstance(default, float) and np.isnan(value) and np.isnan(default)
    )
    return both_nan or value == default


class Prior:
    """Base class of priors: ``weight × (−2 log p(value))`` for a density ``p`` of parameters.

    Subclasses declare their parameters as `PriorParameter` class attributes and the function
    building their scipy distribution from the parameter values::

        class GaussianPrior(Prior):
            tag = ["GaussianPrior"]
            _distribution = staticmethod(gaussian_distribution)
            mu = PriorParameter("mu", 0)
            sigma = PriorParameter("sigma", 1)

    Parameters
    ----------
    weight : float
        Factor applied to ``−2 log p`` (None: 1).
    **kwargs
        Prior parameter values by name: a number, string, Quantity (in a unit equivalent to the
        declared one), or a `PriorParameter` used as is.
    """

    _type: ClassVar[str] = "prior"
    tag: ClassVar[list[str]] = []
    default_parameters: ClassVar[Parameters] = Parameters()
    _distribution: ClassVar[Callable[..., Any]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.default_parameters = Parameters(v for v in cls.__dict__.values() if isinstance(v, PriorParameter))
        for tag in cls.__dict__.get("tag", []):
            if tag in PRIOR_REGISTRY:
                raise ModelError(f"Prior tag {tag!r} is already registered")
            PRIOR_REGISTRY[tag] = cls

    def __init__(self, weight=1, **kwargs):
        for par in self.default_parameters.instantiate(kwargs, type(self).__name__, self._type):
            setattr(self, par.name, par)
        self.weight = 1 if weight is None else weight

    @classmethod
    def from_parameters(cls, parameters, **kwargs) -> Prior:
        """Prior using the given `PriorParameter` objects."""
        for par in parameters:
            kwargs[par.name] = par
        return cls(**kwargs)

    @property
    def type(self) -> str:
        """``"prior"``."""
        return self._type

    @property
    def parameters(self) -> Parameters:
        """The prior's parameters (the objects themselves)."""
        return Parameters(self.__dict__[name] for name in self.default_parameters.names)

    @property
    def weight(self) -> int | float:
        """Factor applied to ``−2 log p``."""
        return self._weight

    @weight.setter
    def weight(self, value) -> None:
        self._weight = _weight(value)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """Bounds the prior imposes on its parameter (``None``: none)."""
        return None

    # -- evaluation ------------------------------------------------------------------------------

    def _values(self) -> dict[str, float]:
        return {par.name: par.value for par in self.parameters}

    @classmethod
    def evaluate(cls, value, *args, **kwargs):
        """``−2 log p(value)`` for the density of the given prior parameter values."""
        return -2.0 * cls._distribution(*args, **kwargs).logpdf(value)

    def __call__(self, parameter: Parameter | float):
        """``weight × evaluate(value)`` at the value of ``parameter`` (a `Parameter` or a number)."""
        value = parameter.value if isinstance(parameter, (Parameter, u.Quantity)) else parameter
        return self.weight * self.evaluate(value, **self._values())

    @property
    def distribution(self):
        """The density as a frozen `scipy.stats` distribution."""
        return self._distribution(**self._values())

    def inverse_cdf(self, quantile):
        """Value at which the cumulative distribution reaches ``quantile`` (sampling priors)."""
        return self.distribution.ppf(quantile)

    # -- conversion ------------------------------------------------------------------------------

    def copy(self) -> Prior:
        """Deep copy."""
        return copy.deepcopy(self)

    def to_dict(self, full_output: bool = False) -> dict:
        """``{"prior": {"type": tag, "parameters": [...], "weight": weight}}`` as gammapy writes it.

        Compact output (``full_output=False``) drops the parameter fields ``error``, ``min`` and
        ``max`` equal to the class default.
        """
        parameters = self.parameters.to_dict()
        if not full_output:
            for data, default in zip(parameters, self.default_parameters, strict=True):
                defaults = default.to_dict()
                for key in ("min", "max", "error"):
                    if _same(data[key], defaults[key]):
                        del data[key]
        return {self._type: {"type": self.tag[0], "parameters": parameters, "weight": self.weight}}

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> Prior:
        """Prior from its dictionary (``{"prior": {...}}`` or the inner dictionary).

        On `Prior` itself the class is looked up from ``type``; prior parameters missing from
        ``parameters`` keep their defaults (with a warning, as gammapy).
        """
        if not isinstance(data, dict):
            raise ModelError(f"Prior data must be a dictionary, got {data!r}")
        if isinstance(data.get("prior"), dict):
            data = data["prior"]
        tag = data.get("type")
        if cls is Prior:
            return prior_class(tag).from_dict(data, **kwargs)
        if tag not in cls.tag:
            raise ModelError(f"Invalid prior type {tag!r} for {cls.__name__} (expected {cls.tag})")
        missing = [key for key in ("parameters", "weight") if key not in data]
        if missing:
            raise ParameterError(
                f"{cls.__name__}: missing key(s) {missing}; priors have keys type, parameters and weight"
            )
        parameters = cls._parameters_from_dict(data["parameters"])
        return cls.from_parameters(parameters, weight=data["weight"], **kwargs)

    @classmethod
    def _parameters_from_dict(cls, data) -> list[PriorParameter]:
        if not isinstance(data, list):
            raise ParameterError(f"{cls.__name__}: 'parameters' must be a list, got {data!r}")
        names = cls.default_parameters.names
        entries = {}
        for entry in data:
            if not isinstance(entry, dict) or entry.get("name") not in names:
                raise ParameterError(
                    f"{cls.__name__}: invalid prior parameter {entry!r}; parameters are {names}"
                )
            unknown = sorted(set(entry) - PRIOR_PARAMETER_KEYS)
            if unknown:
                raise ParameterError(
                    f"{cls.__name__}: prior parameter {entry['name']!r} has unknown key(s) {unknown}"
                )
            entries[entry["name"]] = entry
        parameters = []
        for default in cls.default_parameters:
            fields = default.to_dict()
            if default.name in entries:
                fields.update(entries[default.name])
            else:
                log.warning(
                    f"PriorParameter '{default.name}' not defined in YAML file. "
                    f"Using default value: {fields['value']} {fields['unit']}"
                )
            parameters.append(PriorParameter(**fields))
        return parameters

    def __repr__(self) -> str:
        values = ", ".join(f"{par.name}={par.quantity}" for par in self.parameters)
        return f"{type(self).__name__}({values}, weight={self.weight})"


def prior_class(tag) -> type[Prior]:
    """The prior class registered under ``tag``."""
    try:
        return PRIOR_REGISTRY[tag]
    except (KeyError, TypeError):
        raise UnknownModelTypeError(
            f"Unknown prior type {tag!r}; known types: {', '.join(PRIOR_REGISTRY)}"
        ) from None


class GaussianPrior(Prior):
    """Gaussian prior: ``−2 log`` of a normal density.

    Parameters
    ----------
    mu : float
        Mean. Default is 0.
    sigma : float
        Standard deviation. Default is 1.
    weight : float
        Factor applied to ``−2 log p``. Default is 1.
    """

    tag: ClassVar[list[str]] = ["GaussianPrior"]
    _distribution = staticmethod(gaussian_distribution)
    mu = PriorParameter("mu", 0)
    sigma = PriorParameter("sigma", 1)


class UniformPrior(Prior):
    """Uniform prior: ``2 log(max − min)`` inside ``[min, max]``, ``inf`` outside.

    Also the bounds of the parameter it is set on.  Only defined for finite ``min`` and ``max``.

    Parameters
    ----------
    min : float
        Lower bound. Default is 0.
    max : float
        Upper bound. Default is 1.
    weight : float
        Factor applied to ``−2 log p``. Default is 1.
    """

    tag: ClassVar[list[str]] = ["UniformPrior"]
    _distribution = staticmethod(uniform_distribution)
    min = PriorParameter("min", 0.0)
    max = PriorParameter("max", 1.0)

    @property
    def bounds(self) -> tuple[float, float]:
        """``(min, max)``: the parameter's bounds."""
        return self.min.value, self.max.value


class LogUniformPrior(Prior):
    """Log-uniform prior: uniform in ``log(value)`` on ``[min, max]``, ``inf`` outside.

    Also the bounds of the parameter it is set on.  Note that ``−2 log p`` depends on the
    value here (``2 log(value log(max/min))``), unlike for `UniformPrior`.

    Parameters
    ----------
    min : float
        Lower bound (> 0). Default is 1e-14.
    max : float
        Upper bound. Default is 1e-10.
    weight : float
        Factor applied to ``−2 log p``. Default is 1.
    """

    tag: ClassVar[list[str]] = ["LogUniformPrior"]
    _distribution = staticmethod(log_uniform_distribution)
    min = PriorParameter("min", 1e-14)
    max = PriorParameter("max", 1e-10)

    @property
    def bounds(self) -> tuple[float, float]:
        """``(min, max)``: the parameter's bounds."""
        return self.min.value, self.max.value


class GeneralizedGaussianPrior(Prior):
    """Generalised Gaussian prior: ``−2 log`` of a generalised normal density.

    Parameters
    ----------
    mu : float
        Centre. Default is 0.
    sigma : float
        Width: the standard deviation for ``eta = 0.5``. Default is 1.
    eta : float
        Shape: 0.5 gives a Gaussian, 1 a Laplace distribution (scaled by √2). Default is 0.5.
    weight : float
        Factor applied to ``−2 log p``. Default is 1.
    """

    tag: ClassVar[list[str]] = ["GeneralizedGaussianPrior"]
    _distribution = staticmethod(generalized_gaussian_distribution)
    mu = PriorParameter("mu", 0)
    sigma = PriorParameter("sigma", 1)
    eta = PriorParameter("eta", 0.5)
