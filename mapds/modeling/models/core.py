"""`ModelBase`: parameters declared on the class, copied per instance, serialised as gammapy does."""

from __future__ import annotations

import copy
import logging
from typing import ClassVar

import numpy as np

from ...errors import ModelError, ParameterError, UnitMismatchError
from ..covariance import Covariance
from ..parameter import Parameter, Parameters

__all__ = ["ModelBase"]

log = logging.getLogger(__name__)

#: Keys a parameter entry of a YAML file may have.
PARAMETER_KEYS = frozenset(
    {
        "name",
        "value",
        "unit",
        "scale",
        "min",
        "max",
        "frozen",
        "error",
        "scan_min",
        "scan_max",
        "scan_n_values",
        "scan_n_sigma",
        "scan_values",
        "scale_method",
        "interp",
        "prior",
        "scale_transform",
        "link",
        "is_norm",  # written by gammapy < 1.0, ignored
    }
)

#: Parameter fields that compact YAML output drops when they equal the class default.
_COMPACT_FIELDS = ("min", "max", "error", "interp", "scale_method", "scale_transform")


def _same(value, default) -> bool:
    if isinstance(value, float) and isinstance(default, float) and np.isnan(value) and np.isnan(default):
        return True
    return value == default


class ModelBase:
    """Base class of models.

    Subclasses declare their parameters as class attributes::

        class PowerLawSpectralModel(SpectralModel):
            index = Parameter("index", 2.0)

    Each instance gets copies of these declarations, in declaration order, with the values
    passed as keyword arguments (a number, string, Quantity, or a `Parameter` object that is
    then used as is, which is how parameters are linked between models).

    Parameters
    ----------
    covariance_data : array-like, optional
        Covariance matrix of the parameters.
    **kwargs
        Parameter values by name.
    """

    _type: ClassVar[str | None] = None
    tag: ClassVar[list[str]] = []
    default_parameters: ClassVar[Parameters] = Parameters()
    #: Parameters whose unit need not be equivalent to the declared one when read from YAML.
    _unit_free_parameters: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.default_parameters = Parameters(v for v in cls.__dict__.values() if isinstance(v, Parameter))

    def __init__(self, covariance_data=None, **kwargs):
        for par in self.default_parameters.instantiate(kwargs, type(self).__name__, self._type):
            setattr(self, par.name, par)
        self._covariance = None
        if covariance_data is not None:
            self.covariance = covariance_data

    @property
    def type(self) -> str | None:
        """``"spectral"``, ``"spatial"`` or None (top-level models)."""
        return self._type

    @classmethod
    def from_parameters(cls, parameters, **kwargs):
        """Model using the given `Parameter` objects."""
        for par in parameters:
            kwargs[par.name] = par
        return cls(**kwargs)

    @property
    def parameters(self) -> Parameters:
        """The model's parameters (the objects themselves)."""
        return Parameters(self.__dict__[name] for name in self.default_parameters.names)

    @property
    def parameters_unique_names(self) -> list[str]:
        """Names of the unique parameters, as used in covariance files."""
        return self.parameters.unique_parameters.names

    # -- covariance ------------------------------------------------------------------------------

    def _check_covariance(self) -> None:
        if self._covariance is None or not self.parameters == self._covariance.parameters:
            self._covariance = Covariance(self.parameters)

    @property
    def covariance(self) -> Covariance:
        """Covariance of the parameters; its diagonal follows the parameter errors."""
        self._check_covariance()
        for par in self.parameters:
            variance = np.nan_to_num(par.error**2, nan=1)
            self._covariance.set_subcovariance(Covariance(Parameters([par]), data=[[variance]]))
        return self._covariance

    @covariance.setter
    def covariance(self, value) -> None:
        self._check_covariance()
        self._covariance.data = value.data if isinstance(value, Covariance) else value
        for idx, par in enumerate(self.parameters):
            par.error = np.sqrt(self._covariance.data[idx, idx])

    # -- freezing --------------------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        """Whether every parameter is frozen."""
        return bool(np.all([par.frozen for par in self.parameters]))

    def freeze(self) -> None:
        """Freeze every parameter."""
        self.parameters.freeze_all()

    def unfreeze(self) -> None:
        """Restore every parameter's frozen flag to the class default."""
        for par, default in zip(self.parameters, self.default_parameters, strict=True):
            par.frozen = default.frozen

    def copy(self, **kwargs):
        """Deep copy."""
        return copy.deepcopy(self)

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False) -> dict:
        """``{type: {"type": tag, "parameters": [...]}}`` as gammapy writes it.

        Compact output (``full_output=False``) drops the parameter fields equal to the class
        default, and the unit of parameters whose default unit is dimensionless.
        """
        parameters = self.parameters.to_dict()
        if not full_output:
            for data, default in zip(parameters, self.default_parameters, strict=True):
                defaults = default.to_dict()
                for key in _COMPACT_FIELDS:
                    if _same(data[key], defaults[key]):
                        del data[key]
                if data["frozen"] == defaults["frozen"]:
                    del data["frozen"]
                if defaults["unit"] == "":
                    del data["unit"]
        data = {"type": self.tag[0], "parameters": parameters}
        return data if self._type is None else {self._type: data}

    @classmethod
    def from_dict(cls, data: dict, **kwargs):
        """Model from its dictionary (``{type: {...}}`` or the inner dictionary)."""
        data = model_dict(data, cls._type)
        if data.get("type") not in cls.tag:
            raise ModelError(
                f"Invalid model type {data.get('type')!r} for {cls.__name__} (expected {cls.tag})"
            )
        if "parameters" not in data:
            # gammapy fails here with KeyError('parameters'); a partial list only warns.
            raise ParameterError(f"{cls.__name__}: the model dictionary has no 'parameters' list")
        parameters = cls._parameters_from_dict(data["parameters"])
        return cls.from_parameters(parameters, **kwargs)

    @classmethod
    def _parameters_from_dict(cls, data) -> Parameters:
        """The class's parameters updated from YAML entries, in declaration order.

        Parameters missing from ``data`` keep their defaults (with a warning, as gammapy);
        unknown names or keys, invalid values and units raise `ParameterError`.
        """
        if data is None:
            data = []
        if not isinstance(data, list):
            raise ParameterError(f"{cls.__name__}: 'parameters' must be a list, got {data!r}")
        names = cls.default_parameters.names
        entries = {}
        for entry in data:
            if not isinstance(entry, dict) or "name" not in entry:
                raise ParameterError(f"{cls.__name__}: parameter entry {entry!r} has no 'name'")
            name = entry["name"]
            if name not in names:
                raise ParameterError(f"{cls.__name__}: unknown parameter {name!r}; parameters are {names}")
            unknown = sorted(set(entry) - PARAMETER_KEYS)
            if unknown:
                raise ParameterError(f"{cls.__name__}: parameter {name!r} has unknown key(s) {unknown}")
            entries[name] = entry

        parameters = []
        for default in cls.default_parameters:
            fields = default.to_dict()
            if default.name in entries:
                fields.update(entries[default.name])
            else:
                log.warning(
                    f"Parameter '{default.name}' not defined in YAML file. "
                    f"Using default value: {fields['value']} {fields['unit']}"
                )
            try:
                par = Parameters.from_dict([fields])[0]
            except (ModelError, UnitMismatchError) as exc:
                raise ParameterError(f"{cls.__name__}: parameter {default.name!r}: {exc}") from exc
            if default.name not in cls._unit_free_parameters and not par.unit.is_equivalent(default.unit):
                raise ParameterError(
                    f"{cls.__name__}: parameter {default.name!r} has unit {fields['unit']!r}, "
                    f"which is not equivalent to {default.unit.to_string('fits')!r}"
                )
            parameters.append(par)
        return Parameters(parameters)

    def __str__(self) -> str:
        text = f"{type(self).__name__}\n"
        if len(self.parameters) > 0:
            text += f"\n{self.parameters.to_table()}"
        return text


def model_dict(data: dict, model_type: str | None) -> dict:
    """The model's own dictionary, unwrapping ``{"spectral": {...}}`` style nesting."""
    if not isinstance(data, dict):
        raise ModelError(f"Model data must be a dictionary, got {data!r}")
    if model_type is not None and model_type in data and isinstance(data[model_type], dict):
        return data[model_type]
    return data
