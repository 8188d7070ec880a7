"""Model parameters: `Parameter` and the list-like `Parameters`.

A `Parameter` is a named value with a unit, bounds, a frozen flag and an error.  Optimisers see
a well-scaled ``factor`` instead of the value: ``value = inverse_transform(factor × scale)``,
where the transform is ``scale_transform`` ("lin", "log" or "sqrt") and ``scale`` is chosen by
``scale_method`` ("scale10": a power of ten, "factor1": the value itself) when
:meth:`Parameter.autoscale` is called.  This is gammapy's ``Parameter``.  A parameter may carry
a prior (:mod:`~mapds.modeling.priors`), whose ``−2 log`` density fits add to the statistic.

Parameters are declared on model classes (``index = Parameter("index", 2.0)``); every model
instance holds its own copies, reached through the descriptor protocol.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import astropy.units as u
import numpy as np
from astropy.table import Table

from ..errors import ParameterError, UnitMismatchError, UnknownModelTypeError
from ..geom.scale import INTERP_SCALES, scale, scale_inverse
from .names import make_name

#: Prior classes by the ``type`` written in YAML (filled by :mod:`.priors`, which sits above
#: this module, as its classes are defined).
PRIOR_REGISTRY: dict[str, type] = {}

#: What a parameter's prior is (a `~mapds.modeling.priors.Prior`).
Prior = Any

__all__ = ["PRIOR_REGISTRY", "Parameter", "Parameters"]

log = logging.getLogger(__name__)

SCALE_METHODS = ("scale10", "factor1", None)


def _float(value, unit: u.Unit, what: str) -> float:
    """A bound, error or value given as number, string or Quantity, in ``unit``."""
    if isinstance(value, (u.Quantity, str)):
        try:
            return float(u.Quantity(value).to_value(unit))
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{what}: cannot convert {value!r} to unit {unit}: {exc}") from exc
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{what}: expected a number, got {value!r}") from exc


def _unit(value, what: str) -> u.Unit:
    try:
        return u.Unit(value)
    except (TypeError, ValueError) as exc:
        raise UnitMismatchError(f"{what}: {value!r} is not a valid unit") from exc


def _transform(value, transform: str):
    """Value in the space of ``scale_transform`` (log clips at the smallest float, as gammapy)."""
    return float(scale(value, transform)) if transform != "lin" else value


def _inverse_transform(value, transform: str):
    return float(scale_inverse(value, transform)) if transform != "lin" else value


def _prior_from_dict(data: dict, name: str):
    """The prior a YAML ``prior:`` entry describes (its class chosen by ``type``)."""
    data = data.get("prior", data)
    tag = data.get("type") if isinstance(data, dict) else None
    if tag not in PRIOR_REGISTRY:
        known = ", ".join(PRIOR_REGISTRY)
        raise UnknownModelTypeError(
            f"Unknown prior type {tag!r} for parameter {name!r}; known types: {known}"
        )
    return PRIOR_REGISTRY[tag].from_dict(data)


class Parameter:
    """A model parameter (gammapy's ``Parameter``).

    Parameters
    ----------
    name : str
        Name.
    value : float, str or `~astropy.units.Quantity`
        Value; a Quantity or a string such as ``"1 TeV"`` also sets the unit.
    unit : str or `~astropy.units.Unit`
        Unit when ``value`` is a plain number.
    scale : float
        Scale: ``value = inverse_transform(factor × scale)``.
    min, max : float, str or `~astropy.units.Quantity`
        Bounds (NaN: unbounded).
    frozen : bool
        Whether the parameter is held fixed in fits.
    error : float
        Standard error.
    scan_min, scan_max, scan_n_values, scan_n_sigma, scan_values
        Settings of likelihood-profile scans (gammapy semantics).
    scale_method : {"scale10", "factor1", None}
        How :meth:`autoscale` chooses ``scale``.
    interp : {"lin", "log", "sqrt"}
        Spacing of scan values.
    prior : `~mapds.modeling.priors.Prior` or dict, optional
        Prior on the parameter (a dict is read as in YAML files, ``{"type": ..., ...}``).
    scale_transform : {"lin", "log", "sqrt"}
        Transform between value and factor.
    """

    def __init__(
        self,
        name: str,
        value,
        unit="",
        scale=1,
        min=np.nan,
        max=np.nan,
        frozen=False,
        error=0,
        scan_min=None,
        scan_max=None,
        scan_n_values=11,
        scan_n_sigma=2,
        scan_values=None,
        scale_method="scale10",
        interp="lin",
        prior=None,
        scale_transform="lin",
    ):
        if not isinstance(name, str):
            raise ParameterError(f"Parameter name must be a string, got {name!r}")
        self._name = name
        self._prior: Prior | None = None
        self._check_choice("scale_method", scale_method, SCALE_METHODS)
        self._check_choice("scale_transform", scale_transform, INTERP_SCALES)
        self._check_choice("interp", interp, INTERP_SCALES)
        self._scale_method = scale_method
        self._scale_transform = scale_transform
        self.interp = interp
        self._scale = _float(scale, u.dimensionless_unscaled, f"Parameter {name!r} scale")
        #: Label linking parameters shared between models in YAML files (``link:``), or None.
        self.link_label: str | None = None
        self._type: str | None = None
        self.frozen = frozen
        if isinstance(value, (u.Quantity, str)):
            try:
                quantity = u.Quantity(value)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"Parameter {name!r}: invalid value {value!r}: {exc}") from exc
            self._unit = quantity.unit
            self.value = quantity.value
        else:
            self._unit = _unit(unit, f"Parameter {name!r} unit")
            self.value = _float(value, self._unit, f"Parameter {name!r} value")
        # gammapy keeps the error as given until it is set (so YAML shows ``error: 0``).
        self._error = error if isinstance(error, (int, float)) else self._as_float(error, "error")
        self.min = min
        self.max = max
        self.scan_min = scan_min
        self.scan_max = scan_max
        self.scan_values = scan_values
        self.scan_n_values = int(scan_n_values)
        self.scan_n_sigma = int(scan_n_sigma)
        self.prior = prior

    def _check_choice(self, what: str, value, choices) -> None:
        if value not in choices:
            raise ParameterError(f"Parameter {self._name!r}: {what} must be one of {choices}, got {value!r}")

    def _as_float(self, value, what: str) -> float:
        return _float(value, self.unit, f"Parameter {self._name!r} {what}")

    # -- descriptor protocol: class-level declarations, per-instance copies -----------------------

    def __set_name__(self, owner, name: str) -> None:
        if name != self._name:
            raise ParameterError(f"Parameter declared as {owner.__name__}.{name} is named {self._name!r}")

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return instance.__dict__[self._name]

    def __set__(self, instance, value) -> None:
        if not isinstance(value, Parameter):
            raise TypeError(f"Cannot assign {value!r} to parameter {self._name!r}: expected a Parameter")
        instance.__dict__[self._name] = value

    # -- attributes ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Name."""
        return self._name

    @property
    def type(self) -> str | None:
        """Type of the model holding the parameter ("spectral", "spatial"...)."""
        return self._type

    @property
    def value(self) -> float:
        """Value (float, in :attr:`unit`)."""
        return self._value

    @value.setter
    def value(self, value) -> None:
        self._value = float(value)
        self._factor = self.transform(self._value)

    @property
    def unit(self) -> u.Unit:
        """Unit."""
        return self._unit

    @unit.setter
    def unit(self, value) -> None:
        self._unit = _unit(value, f"Parameter {self._name!r} unit")

    @property
    def quantity(self) -> u.Quantity:
        """Value times unit."""
        return self._value * self._unit

    @quantity.setter
    def quantity(self, value) -> None:
        try:
            value = u.Quantity(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"Parameter {self._name!r}: invalid quantity {value!r}: {exc}") from exc
        if not value.unit.is_equivalent(self._unit):
            raise UnitMismatchError(
                f"Parameter {self._name!r}: unit {value.unit} is not equivalent to {self._unit}"
            )
        self.value = value.value
        self._unit = value.unit

    @property
    def frozen(self) -> bool:
        """Whether the parameter is held fixed in fits."""
        return self._frozen

    @frozen.setter
    def frozen(self, value) -> None:
        if value in ("True", "true"):
            value = True
        elif value in ("False", "false"):
            value = False
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"Parameter {self._name!r}: frozen must be a bool, got {value!r}")
        self._frozen = bool(value)

    @property
    def error(self) -> float:
        """Standard error."""
        return self._error

    @error.setter
    def error(self, value) -> None:
        self._error = self._as_float(value, "error")

    @property
    def min(self) -> float:
        """Lower bound (NaN: none); that of the prior if it sets bounds (uniform priors)."""
        bounds = None if self._prior is None else self._prior.bounds
        return self._min if bounds is None else bounds[0]

    @min.setter
    def min(self, value) -> None:
        self._min = np.nan if value is None or value is np.ma.masked else self._as_float(value, "min")

    @property
    def max(self) -> float:
        """Upper bound (NaN: none); that of the prior if it sets bounds (uniform priors)."""
        bounds = None if self._prior is None else self._prior.bounds
        return self._max if bounds is None else bounds[1]

    @max.setter
    def max(self, value) -> None:
        self._max = np.nan if value is None or value is np.ma.masked else self._as_float(value, "max")

    @property
    def prior(self) -> Prior | None:
        """Prior on the parameter (None: none).

        Set it to a `~mapds.modeling.priors.Prior`, a dict as found in YAML files
        (``{"type": "GaussianPrior", "parameters": [...], "weight": 1}``) or None.
        """
        return self._prior

    @prior.setter
    def prior(self, value) -> None:
        if value is None:
            self._prior = None
            return
        if isinstance(value, dict):
            value = _prior_from_dict(value, self._name)
        elif not isinstance(value, tuple(PRIOR_REGISTRY.values())):
            raise TypeError(
                f"Parameter {self._name!r}: a prior must be a Prior, a dict or None, got {value!r}"
            )
        self._prior = value

    def prior_stat_sum(self) -> float:
        """The prior's ``weight × (−2 log p)`` at the current value (0.0 without a prior)."""
        return 0.0 if self._prior is None else self._prior(self)

    def set_lim(self, min=None, max=None) -> None:
        """Set the bounds given (``None`` leaves a bound unchanged)."""
        if min is not None:
            self.min = min
        if max is not None:
            self.max = max

    # -- factor and scale ------------------------------------------------------------------------

    @property
    def scale(self) -> float:
        """Scale: ``value = inverse_transform(factor × scale)``."""
        return self._scale

    @property
    def factor(self) -> float:
        """The value as the optimiser sees it."""
        return self._factor

    @factor.setter
    def factor(self, value) -> None:
        self._factor = float(value)
        self._value = float(self.inverse_transform(self._factor))

    @property
    def factor_min(self) -> float:
        """Lower bound in factor space."""
        return self.transform(self.min)

    @property
    def factor_max(self) -> float:
        """Upper bound in factor space."""
        return self.transform(self.max)

    @property
    def scale_method(self) -> str | None:
        """``"scale10"``, ``"factor1"`` or None (no scaling)."""
        return self._scale_method

    @scale_method.setter
    def scale_method(self, value) -> None:
        self._check_choice("scale_method", value, SCALE_METHODS)
        self.reset_autoscale()
        self._scale_method = value

    @property
    def scale_transform(self) -> str:
        """Transform between value and factor: ``"lin"``, ``"log"`` or ``"sqrt"``."""
        return self._scale_transform

    @scale_transform.setter
    def scale_transform(self, value) -> None:
        self._check_choice("scale_transform", value, INTERP_SCALES)
        self.reset_autoscale()
        self._scale_transform = value

    def transform(self, value, update_scale: bool = False) -> float:
        """Factor corresponding to ``value`` (optionally choosing the scale first)."""
        transformed = _transform(value, self._scale_transform)
        if update_scale:
            self.update_scale(transformed)
        return transformed / self._scale

    def inverse_transform(self, factor) -> float:
        """Value corresponding to ``factor``."""
        return _inverse_transform(self._scale * factor, self._scale_transform)

    def inverse_transform_derivative(self, factor) -> float:
        """d value / d factor at ``factor`` (used to convert covariance matrices)."""
        scaled = self._scale * factor
        if self._scale_transform == "log":
            return float(scale_inverse(scaled, "log")) * self._scale
        if self._scale_transform == "sqrt":
            return 2.0 * scaled * self._scale
        return self._scale

    def update_scale(self, value) -> None:
        """Choose ``scale`` for the (transformed) ``value`` following :attr:`scale_method`.

        ``scale10``: the power of ten of ``|value|`` (unchanged for 0); ``factor1``: ``value``.
        """
        if self._scale_method == "scale10":
            if value != 0:
                self._scale = float(10.0 ** np.floor(np.log10(np.abs(value))))
        elif self._scale_method == "factor1":
            self._scale = float(value)

    def autoscale(self) -> None:
        """Choose the scale so that the factor is of order one."""
        self.factor = self.transform(self._value, update_scale=True)

    def reset_autoscale(self) -> None:
        """Back to ``scale = 1``, ``factor = value``."""
        self._factor = self._value
        self._scale = 1.0

    # -- scans and confidence ranges -------------------------------------------------------------

    @property
    def _step(self) -> float:
        return self.error if self.error > 0 else abs(self.value)

    @property
    def conf_min(self) -> float:
        """Lower end of confidence-interval searches: ``min`` or far below the value."""
        if not np.isnan(self.min):
            return self.min
        large_step = max(self._step, abs(self.value))
        return min(self.value - self._step * self.scan_n_sigma, -large_step * 1e5)

    @property
    def conf_max(self) -> float:
        """Upper end of confidence-interval searches: ``max`` or far above the value."""
        if not np.isnan(self.max):
            return self.max
        large_step = max(self._step, abs(self.value))
        return max(self.value + self._step * self.scan_n_sigma, large_step * 1e5)

    @property
    def scan_min(self) -> float:
        """Start of a likelihood scan (default ``value − n_sigma × step``)."""
        if self._scan_min is None:
            return self.value - self._step * self.scan_n_sigma
        return self._scan_min

    @scan_min.setter
    def scan_min(self, value) -> None:
        self._scan_min = value

    @property
    def scan_max(self) -> float:
        """End of a likelihood scan (default ``value + n_sigma × step``)."""
        if self._scan_max is None:
            return self.value + self._step * self.scan_n_sigma
        return self._scan_max

    @scan_max.setter
    def scan_max(self, value) -> None:
        self._scan_max = value

    @property
    def scan_values(self) -> np.ndarray:
        """Scan values, spaced according to :attr:`interp` unless set explicitly."""
        if self._scan_values is None:
            low, high = scale(np.array([self.scan_min, self.scan_max]), self.interp)
            return scale_inverse(np.linspace(low, high, self.scan_n_values), self.interp)
        return self._scan_values

    @scan_values.setter
    def scan_values(self, values) -> None:
        self._scan_values = values

    def check_limits(self) -> None:
        """Log a warning if a free parameter lies outside its bounds."""
        if self.frozen:
            return
        if self.value < self.min or self.value > self.max:
            log.warning(
                f"Value {self.value} is outside bounds [{self.min}, {self.max}] for parameter '{self.name}'"
            )

    # -- conversion ------------------------------------------------------------------------------

    def copy(self) -> Parameter:
        """Deep copy."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        """Every serialised field, in gammapy's key order (unit as a FITS string)."""
        data = {
            "name": self.name,
            "value": self.value,
            "unit": self.unit.to_string("fits"),
            "error": self.error,
            "min": self.min,
            "max": self.max,
            "frozen": self.frozen,
            "interp": self.interp,
            "scale_method": self.scale_method,
            "scale_transform": self.scale_transform,
        }
        if self.link_label is not None:
            data["link"] = self.link_label
        if self._prior is not None:
            data["prior"] = self._prior.to_dict()["prior"]
        return data

    def update_from_dict(self, data: dict) -> None:
        """Set value, unit, min, max, frozen and (if given) prior from a dict (e.g. a table row).

        A ``prior`` string, as in parameter tables, only names the prior type: ``""`` removes
        the prior, the current prior's type keeps it.
        """
        for key in ("value", "unit", "min", "max", "frozen"):
            setattr(self, key, data[key])
        if "prior" not in data:
            return
        prior = data["prior"]
        if isinstance(prior, str):
            if prior == "":
                self.prior = None
            elif self._prior is None or prior not in self._prior.tag:
                raise ParameterError(
                    f"Parameter {self._name!r}: a prior type name ({prior!r}) is not a prior"
                )
        else:
            self.prior = prior

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, value={self.value!r}, factor={self.factor!r}, "
            f"scale={self.scale!r}, unit={self.unit!r}, min={self.min!r}, max={self.max!r}, "
            f"frozen={self.frozen!r}, prior={self.prior!r}, id={hex(id(self))})"
        )


class Parameters(Sequence):
    """An ordered list of `Parameter` objects, addressable by position, name or identity.

    Parameters
    ----------
    parameters : iterable of `Parameter`, optional
        The parameters (the same objects, not copies).
    """

    def __init__(self, parameters: Iterable[Parameter] | None = None):
        self._parameters = [] if parameters is None else list(parameters)

    @classmethod
    def from_stack(cls, parameters_list: Iterable[Iterable[Parameter]]) -> Parameters:
        """Concatenation of several parameter lists."""
        return cls(chain.from_iterable(parameters_list))

    def instantiate(self, values: dict, owner: str, parameter_type: str | None) -> Parameters:
        """The parameters of one instance of a class declaring these (a model or a prior).

        Each declaration is copied and given its value from ``values`` (a number, string or
        Quantity in a unit equivalent to the declared one), or replaced by a `Parameter` given
        there, used as is (how models share parameters); each gets ``parameter_type``.

        Raises
        ------
        ParameterError
            ``values`` names an undeclared parameter, or holds a value that is no quantity.
        UnitMismatchError
            A value's unit is not equivalent to the declared one.
        """
        unknown = [key for key in values if key not in self.names]
        if unknown:
            raise ParameterError(f"{owner}: unknown parameter(s) {unknown}; parameters are {self.names}")
        out = []
        for default in self._parameters:
            value = values.get(default.name)
            if isinstance(value, Parameter):
                par = value
            else:
                par = default.copy()
                if value is not None:
                    try:
                        quantity = u.Quantity(value)
                    except (TypeError, ValueError) as exc:
                        raise ParameterError(
                            f"{owner} parameter {default.name!r}: invalid value {value!r}: {exc}"
                        ) from exc
                    try:
                        par.quantity = quantity
                    except UnitMismatchError as exc:
                        raise UnitMismatchError(f"{owner}: {exc}") from exc
            par._type = parameter_type
            out.append(par)
        return type(self)(out)

    # -- sequence --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._parameters)

    def __getitem__(self, key):
        """Parameter by index, name or identity; a `Parameters` for a slice or boolean mask."""
        if isinstance(key, slice):
            return type(self)(self._parameters[key])
        if isinstance(key, np.ndarray) and key.dtype == bool:
            return type(self)(p for p, keep in zip(self._parameters, key, strict=True) if keep)
        return self._parameters[self.index(key)]

    def index(self, key) -> int:
        """Position of a parameter given by index, name or identity."""
        if isinstance(key, (int, np.integer)):
            return int(key)
        if isinstance(key, Parameter):
            for idx, par in enumerate(self._parameters):
                if par is key:
                    return idx
            raise IndexError(f"Parameter {key.name!r} is not in this list")
        if isinstance(key, str):
            for idx, par in enumerate(self._parameters):
                if par.name == key:
                    return idx
            raise IndexError(f"No parameter {key!r}; parameters are {self.names}")
        raise TypeError(f"Invalid parameter key type: {type(key).__name__}")

    def __add__(self, other) -> Parameters:
        if not isinstance(other, Parameters):
            raise TypeError(f"Cannot add {type(other).__name__} to Parameters")
        return Parameters.from_stack([self, other])

    def __eq__(self, other) -> bool:
        """Same parameter objects in the same order."""
        if not isinstance(other, Parameters) or len(self) != len(other):
            return False
        return all(a is b for a, b in zip(self, other, strict=True))

    __hash__ = None

    def copy(self) -> Parameters:
        """Deep copy (new Parameter objects)."""
        return copy.deepcopy(self)

    # -- views -----------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Parameter names."""
        return [par.name for par in self._parameters]

    @property
    def types(self) -> list[str | None]:
        """Model types of the parameters."""
        return [par.type for par in self._parameters]

    @property
    def free_parameters(self) -> Parameters:
        """The parameters that are not frozen."""
        return type(self)(par for par in self._parameters if not par.frozen)

    @property
    def unique_parameters(self) -> Parameters:
        """Each parameter object once (linked parameters appear several times in a list)."""
        return type(self)(dict.fromkeys(self._parameters))

    @property
    def free_unique_parameters(self) -> Parameters:
        """Unique parameters that are not frozen."""
        return type(self)(par for par in self.unique_parameters if not par.frozen)

    @property
    def value(self) -> np.ndarray:
        """Values as a float64 array (settable)."""
        return np.array([par.value for par in self._parameters], dtype=np.float64)

    @value.setter
    def value(self, values) -> None:
        self._set_all("value", values)

    values = value

    @property
    def cache_key(self) -> tuple[float, ...]:
        """The parameter values as a tuple: hashable, and different whenever any value changed.

        Cheap to build; callers cache results computed from these parameters under this key.
        """
        return tuple(par._value for par in self._parameters)

    @property
    def min(self) -> np.ndarray:
        """Lower bounds as a float64 array (settable)."""
        return np.array([par.min for par in self._parameters], dtype=np.float64)

    @min.setter
    def min(self, values) -> None:
        self._set_all("min", values)

    @property
    def max(self) -> np.ndarray:
        """Upper bounds as a float64 array (settable)."""
        return np.array([par.max for par in self._parameters], dtype=np.float64)

    @max.setter
    def max(self, values) -> None:
        self._set_all("max", values)

    def _set_all(self, attribute: str, values) -> None:
        if len(values) != len(self):
            raise ParameterError(f"Expected {len(self)} {attribute} values, got {len(values)}")
        for par, value in zip(self._parameters, values, strict=True):
            setattr(par, attribute, value)

    # -- operations ------------------------------------------------------------------------------

    def select(self, name=None, type=None, frozen=None) -> Parameters:
        """Parameters matching every condition given.

        Parameters
        ----------
        name : str or list of str, optional
            Parameter name(s).
        type : {"spectral", "spatial", "temporal"}, optional
            Model type.
        frozen : bool, optional
            Only frozen (True) or only free (False) parameters.
        """
        names = [name] if isinstance(name, str) else name
        selected = []
        for par in self._parameters:
            if names and par.name not in names:
                continue
            if type and par.type != type:
                continue
            if frozen is not None and par.frozen != frozen:
                continue
            selected.append(par)
        return self.__class__(selected)

    def freeze_all(self) -> None:
        """Freeze every parameter."""
        for par in self._parameters:
            par.frozen = True

    def unfreeze_all(self) -> None:
        """Unfreeze every parameter (also those frozen by default)."""
        for par in self._parameters:
            par.frozen = False

    def autoscale(self) -> None:
        """Autoscale every parameter."""
        for par in self._parameters:
            par.autoscale()

    def set_parameter_factors(self, factors) -> None:
        """Set the factors of the free parameters, in order (optimiser interface)."""
        free = [par for par in self._parameters if not par.frozen]
        if len(factors) != len(free):
            raise ParameterError(f"Expected {len(free)} factors (free parameters), got {len(factors)}")
        for par, factor in zip(free, factors, strict=True):
            par.factor = factor

    def check_limits(self) -> None:
        """Log a warning for every free parameter outside its bounds."""
        for par in self._parameters:
            par.check_limits()

    @property
    def prior(self) -> list[Prior | None]:
        """The prior of every parameter (None where there is none)."""
        return [par.prior for par in self._parameters]

    def prior_stat_sum(self) -> float:
        """Sum of the priors' ``weight × (−2 log p)`` (0.0 without priors).

        Each parameter counts once, even if it appears several times in the list (a parameter
        linked between models); gammapy counts it once per appearance.
        """
        return float(sum(par.prior_stat_sum() for par in self.unique_parameters if par.prior is not None))

    def restore_status(self, restore_values: bool = True) -> _RestoreStatus:
        """Context manager restoring values (optionally) and frozen flags on exit."""
        return _RestoreStatus(self, restore_values)

    def update_link_label(self) -> None:
        """Give parameters shared between several places a ``<name>@<random>`` link label."""
        seen, shared = set(), {}
        for par in self._parameters:
            if par in seen:
                shared[par] = None
            seen.add(par)
        for par in shared:
            par.link_label = f"{par.name}@{make_name()}"

    # -- conversion ------------------------------------------------------------------------------

    def to_dict(self) -> list[dict]:
        """One dict per parameter (:meth:`Parameter.to_dict`)."""
        return [par.to_dict() for par in self._parameters]

    @classmethod
    def from_dict(cls, data: list[dict]) -> Parameters:
        """Parameters from a list of dicts (``link`` labels kept, old ``is_norm`` keys dropped)."""
        parameters = []
        for entry in data:
            entry = dict(entry)
            link = entry.pop("link", None)
            entry.pop("is_norm", None)
            par = Parameter(**entry)
            par.link_label = link
            parameters.append(par)
        return cls(parameters)

    def to_table(self) -> Table:
        """Table with columns type, name, value, unit, error, min, max, frozen, link, prior (type)."""
        self.update_link_label()
        table = Table(
            names=["type", "name", "value", "unit", "error", "min", "max", "frozen", "link", "prior"],
            dtype=["str", "str", "float", "str", "float", "float", "float", "bool", "str", "str"],
        )
        for par in self._parameters:
            table.add_row(
                [
                    par.type or "",
                    par.name,
                    par.value,
                    par.unit.to_string("fits"),
                    par.error,
                    par.min,
                    par.max,
                    par.frozen,
                    par.link_label or "",
                    "" if par.prior is None else par.prior.tag[0],
                ]
            )
        table["value"].format = ".4e"
        for name in ("error", "min", "max"):
            table[name].format = ".3e"
        return table

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.names})"

    def __str__(self) -> str:
        return str(self.to_table())


class _RestoreStatus:
    """Context manager saving parameter values and frozen flags on creation."""

    def __init__(self, parameters: Parameters, restore_values: bool):
        self._parameters = list(parameters)
        self._restore_values = restore_values
        self._values = [par.value for par in self._parameters]
        self._frozen = [par.frozen for par in self._parameters]

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> None:
        for par, value, frozen in zip(self._parameters, self._values, self._frozen, strict=True):
            if self._restore_values:
                par.value = value
            par.frozen = frozen
