"""Spectral models: gammapy's classes, parameters, defaults, tags and numbers.

A spectral model is a differential flux dN/dE.  Formulas live in
:mod:`mapds.modeling.spectral_shapes` and integrals in :mod:`mapds.modeling.spectral_integrals`
as pure functions; the classes hold parameters, convert units and choose analytic or numerical
integration as gammapy does (analytic for the power laws, log-log trapezoid with 100 points per
decade for everything else).
"""

from __future__ import annotations

import operator
from typing import ClassVar

import astropy.units as u
import numpy as np
from astropy.utils.decorators import classproperty

from ...errors import ModelError
from .. import spectral_integrals as integrals
from .. import spectral_shapes as shapes
from ..covariance import CovarianceMixin
from ..parameter import Parameter, Parameters
from . import plotting, spectral_errors
from .core import ModelBase, model_dict
from .registry import SPECTRAL_MODEL_REGISTRY
from .spectrum_tables import read_spectrum_table

__all__ = [
    "CompoundSpectralModel",
    "ConstantSpectralModel",
    "ExpCutoffPowerLawSpectralModel",
    "LogParabolaSpectralModel",
    "PowerLaw2SpectralModel",
    "PowerLawNormSpectralModel",
    "PowerLawSpectralModel",
    "ScaleSpectralModel",
    "SpectralModel",
    "TemplateSpectralModel",
]

#: Operators a `CompoundSpectralModel` may combine its models with, by YAML name.
OPERATORS = {op.__name__: op for op in (operator.add, operator.sub, operator.mul, operator.truediv)}


def _parameters_in_energy_unit(parameters: Parameters, energy) -> dict:
    """Parameter quantities by name, energies converted to the unit of ``energy`` (as gammapy)."""
    unit = u.Quantity(energy).unit
    out = {}
    for par in parameters:
        quantity = par.quantity
        if quantity.unit.physical_type == "energy":
            quantity = quantity.to(unit)
        out[par.name] = quantity
    return out


def _power_law_on_values(function, power: int, energy_min, energy_max, index, amplitude, reference):
    """A power-law integral ``function`` of ``spectral_integrals`` evaluated on plain numbers, in
    the unit of ``reference``, with the unit attached to the result (``amplitude × reference^power``).

    The same arithmetic as on Quantities, so the same numbers, without astropy's unit
    bookkeeping at each of its dozen operations: that cost more than the arithmetic on the few
    bins of a model evaluation, which a fit makes hundreds of times.
    """
    unit = u.Quantity(reference).unit
    amplitude = u.Quantity(amplitude)
    values = function(
        u.Quantity(energy_min).to_value(unit),
        u.Quantity(energy_max).to_value(unit),
        u.Quantity(index).to_value(u.dimensionless_unscaled),
        amplitude.value,
        u.Quantity(reference).value,
    )
    return u.Quantity(values, amplitude.unit * unit**power, copy=False)


class SpectralModel(ModelBase):
    """Base class of spectral models.

    Subclasses declare parameters and a static ``evaluate(energy, **parameters)``; those with
    an analytic integral also define ``evaluate_integral(energy_min, energy_max, **parameters)``.
    Models combine with ``+``, ``-`` and ``*`` (with models, numbers or Quantities) into a
    `CompoundSpectralModel`.
    """

    _type = "spectral"
    # Lets ``quantity + model`` reach ``model.__radd__`` instead of numpy's ufunc machinery.
    __array_ufunc__ = None

    def __call__(self, energy) -> u.Quantity:
        """dN/dE at ``energy`` (Quantity)."""
        energy = u.Quantity(energy)
        return self.evaluate(energy, **_parameters_in_energy_unit(self.parameters, energy))

    @classproperty
    def is_norm_spectral_model(cls) -> bool:
        """Whether this is a dimensionless norm model (its class name contains "Norm")."""
        return "Norm" in cls.__name__

    def integral(self, energy_min, energy_max, **kwargs) -> u.Quantity:
        """∫ dN/dE dE over ``[energy_min, energy_max]`` (arrays of bin edges allowed).

        Analytic when the model defines ``evaluate_integral``; otherwise
        :func:`~mapds.modeling.spectral_integrals.integrate_spectrum` (``ndecade=100``).
        """
        energy_min, energy_max = u.Quantity(energy_min), u.Quantity(energy_max)
        if hasattr(self, "evaluate_integral"):
            parameters = _parameters_in_energy_unit(self.parameters, energy_min)
            return self.evaluate_integral(energy_min, energy_max, **parameters)
        return integrals.integrate_spectrum(self, energy_min, energy_max, **kwargs)

    def energy_flux(self, energy_min, energy_max, **kwargs) -> u.Quantity:
        """∫ E dN/dE dE over ``[energy_min, energy_max]`` (analytic for power laws)."""
        energy_min, energy_max = u.Quantity(energy_min), u.Quantity(energy_max)
        if hasattr(self, "evaluate_energy_flux"):
            parameters = _parameters_in_energy_unit(self.parameters, energy_min)
            return self.evaluate_energy_flux(energy_min, energy_max, **parameters)
        return integrals.integrate_spectrum(self, energy_min, energy_max, energy_flux=True, **kwargs)

    # -- errors from the covariance ----------------------------------------------------------------

    def evaluate_error(self, energy, n_samples=3500, random_state=42, samples=None) -> u.Quantity:
        """``[dnde, dnde_errn, dnde_errp]`` at ``energy``: the median and 1σ distances of the
        model evaluated at parameter vectors drawn from the covariance (gammapy's sampling; see
        :mod:`.spectral_errors`).

        Parameters
        ----------
        energy : `~astropy.units.Quantity`
            Energies.
        n_samples : int
            Draws per parameter.
        random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState`
            Source of the draws (an int gives gammapy's draws).
        samples : list of `~astropy.units.Quantity`, optional
            Parameter vectors to use instead (one array per parameter, in parameter order).
        """
        samples = self._error_samples(n_samples, random_state, samples)
        energy = u.Quantity(energy)
        return spectral_errors.errors_of_samples(self.evaluate(energy[..., np.newaxis], *samples))

    def integral_error(self, energy_min, energy_max, n_samples=3500, random_state=42, samples=None, **kwargs):
        """``[flux, flux_errn, flux_errp]`` between ``energy_min`` and ``energy_max`` (arrays of
        bounds allowed), sampled from the covariance as :meth:`evaluate_error` (the integral of
        every vector by the log-log trapezoid, as gammapy's)."""
        samples = self._error_samples(n_samples, random_state, samples)
        values = spectral_errors.sampled_integrals(self, energy_min, energy_max, samples)
        return spectral_errors.errors_of_samples(values)

    def energy_flux_error(
        self, energy_min, energy_max, n_samples=3500, random_state=42, samples=None, **kwargs
    ):
        """``[energy_flux, errn, errp]`` between ``energy_min`` and ``energy_max``, sampled from
        the covariance as :meth:`integral_error`."""
        samples = self._error_samples(n_samples, random_state, samples)
        values = spectral_errors.sampled_integrals(self, energy_min, energy_max, samples, energy_flux=True)
        return spectral_errors.errors_of_samples(values)

    def _error_samples(self, n_samples, random_state, samples) -> list:
        if samples is not None:
            return list(samples)
        return spectral_errors.parameter_samples(self, len(self.parameters) * n_samples, random_state)

    # -- plots (matplotlib) ------------------------------------------------------------------------

    def plot(self, energy_bounds, ax=None, sed_type="dnde", energy_power=0, n_points=100, **kwargs):
        """Draw the model between ``energy_bounds`` on log-log axes, as gammapy does.

        Parameters
        ----------
        energy_bounds : `~astropy.units.Quantity`, pair of Quantities or `~mapds.geom.MapAxis`
            Energy range (drawn at the centres of ``n_points`` log bins) or the axis to draw at.
        ax : `~matplotlib.axes.Axes`, optional
            Axes (default: the current axes).
        sed_type : {"dnde", "e2dnde", "flux", "eflux"}
            What is drawn: dN/dE, E² dN/dE, or the integral (energy) flux in each bin; norm
            models are drawn as "norm".
        energy_power : int
            Multiply by ``E^energy_power``.
        n_points : int
            Number of bins when ``energy_bounds`` are bounds.
        **kwargs
            ``plot`` arguments.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            y in the axes' unit, or gammapy's default unit of ``sed_type`` on new axes.
        """
        return plotting.plot_spectral_model(
            self,
            energy_bounds,
            ax=ax,
            sed_type=sed_type,
            energy_power=energy_power,
            n_points=n_points,
            **kwargs,
        )

    def plot_error(
        self,
        energy_bounds,
        ax=None,
        sed_type="dnde",
        energy_power=0,
        n_points=100,
        n_samples=3500,
        random_state=42,
        samples=None,
        **kwargs,
    ):
        """Draw the 1σ band of the model from its parameter covariance, as gammapy does.

        The model is evaluated at ``n_samples × n_parameters`` parameter vectors drawn from the
        multivariate normal of the values and :attr:`covariance`; the band spans the 16th to
        84th percentiles at each energy.  An int ``random_state`` draws gammapy's vectors.

        Parameters
        ----------
        energy_bounds, ax, sed_type, energy_power, n_points
            As in :meth:`plot`.
        n_samples : int
            Draws per parameter.
        random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState` or `~numpy.random.Generator`
            Source of the draws.
        samples : list of `~astropy.units.Quantity`, optional
            Parameter vectors to use instead (one array per parameter, in parameter order).
        **kwargs
            ``fill_between`` arguments (defaults black, alpha 0.2, no edge).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`

        Raises
        ------
        ModelError
            The model has no parameters.
        """  # noqa: E501 (type list)
        return plotting.plot_spectral_error(
            self,
            energy_bounds,
            ax=ax,
            sed_type=sed_type,
            energy_power=energy_power,
            n_points=n_points,
            n_samples=n_samples,
            random_state=random_state,
            samples=samples,
            **kwargs,
        )

    # -- arithmetic ------------------------------------------------------------------------------

    def __add__(self, other) -> CompoundSpectralModel:
        return CompoundSpectralModel(self, _as_spectral_model(other), operator.add)

    def __radd__(self, other) -> CompoundSpectralModel:
        return self.__add__(other)

    def __sub__(self, other) -> CompoundSpectralModel:
        return CompoundSpectralModel(self, _as_spectral_model(other), operator.sub)

    def __rsub__(self, other) -> CompoundSpectralModel:
        return CompoundSpectralModel(_as_spectral_model(other), self, operator.sub)

    def __mul__(self, other) -> CompoundSpectralModel:
        return CompoundSpectralModel(self, _as_spectral_model(other), operator.mul)

    def __rmul__(self, other) -> CompoundSpectralModel:
        return self.__mul__(other)


def _as_spectral_model(value) -> SpectralModel:
    """A model as is; a number or Quantity as a `ConstantSpectralModel` of that value and unit."""
    if isinstance(value, SpectralModel):
        return value
    try:
        quantity = u.Quantity(value)
    except TypeError as exc:
        raise TypeError(f"Cannot combine a spectral model with {value!r}") from exc
    return ConstantSpectralModel(const=Parameter("const", quantity))


class ConstantSpectralModel(SpectralModel):
    """Constant spectrum ``k``.

    Parameters
    ----------
    const : `~astropy.units.Quantity`
        ``k`` (default 1e-12 cm-2 s-1 TeV-1).
    """

    tag: ClassVar[list[str]] = ["ConstantSpectralModel", "const"]
    const = Parameter("const", "1e-12 cm-2 s-1 TeV-1")

    #: A constant may carry any unit (e.g. a dimensionless factor in a compound model).
    _unit_free_parameters: ClassVar[frozenset[str]] = frozenset({"const"})

    @staticmethod
    def evaluate(energy, const):
        """``const`` broadcast to the shape of ``energy``."""
        return np.ones(np.atleast_1d(energy).shape) * const


class PowerLawSpectralModel(SpectralModel):
    r"""Power law ``φ0 (E / E0)^−Γ``.

    Parameters
    ----------
    index : float
        Γ (default 2).
    amplitude : `~astropy.units.Quantity`
        φ0 (default 1e-12 cm-2 s-1 TeV-1).
    reference : `~astropy.units.Quantity`
        E0 (default 1 TeV, frozen).
    """

    tag: ClassVar[list[str]] = ["PowerLawSpectralModel", "pl"]
    index = Parameter("index", 2.0)
    amplitude = Parameter("amplitude", "1e-12 cm-2 s-1 TeV-1", scale_method="scale10", interp="log")
    reference = Parameter("reference", "1 TeV", frozen=True)

    @staticmethod
    def evaluate(energy, index, amplitude, reference):
        """See :func:`~mapds.modeling.spectral_shapes.power_law`."""
        return shapes.power_law(energy, index, amplitude, reference)

    @staticmethod
    def evaluate_integral(energy_min, energy_max, index, amplitude, reference):
        """See :func:`~mapds.modeling.spectral_integrals.power_law_integral`."""
        return _power_law_on_values(
            integrals.power_law_integral, 1, energy_min, energy_max, index, amplitude, reference
        )

    @staticmethod
    def evaluate_energy_flux(energy_min, energy_max, index, amplitude, reference):
        """See :func:`~mapds.modeling.spectral_integrals.power_law_energy_flux`."""
        return _power_law_on_values(
            integrals.power_law_energy_flux, 2, energy_min, energy_max, index, amplitude, reference
        )


class PowerLawNormSpectralModel(SpectralModel):
    r"""Dimensionless power law ``norm (E / E0)^−tilt`` (a correction factor).

    Parameters
    ----------
    tilt : float
        Index (default 0, frozen).
    norm : float
        Normalisation (default 1).
    reference : `~astropy.units.Quantity`
        E0 (default 1 TeV, frozen).
    """

    tag: ClassVar[list[str]] = ["PowerLawNormSpectralModel", "pl-norm"]
    tilt = Parameter("tilt", 0, frozen=True)
    norm = Parameter("norm", 1, unit="", interp="log")
    reference = Parameter("reference", "1 TeV", frozen=True)

    @staticmethod
    def evaluate(energy, tilt, norm, reference):
        """See :func:`~mapds.modeling.spectral_shapes.power_law`."""
        return shapes.power_law(energy, tilt, norm, reference)

    @staticmethod
    def evaluate_integral(energy_min, energy_max, tilt, norm, reference):
        """See :func:`~mapds.modeling.spectral_integrals.power_law_integral`."""
        return _power_law_on_values(
            integrals.power_law_integral, 1, energy_min, energy_max, tilt, norm, reference
        )

    @staticmethod
    def evaluate_energy_flux(energy_min, energy_max, tilt, norm, reference):
        """See :func:`~mapds.modeling.spectral_integrals.power_law_energy_flux`."""
        return _power_law_on_values(
            integrals.power_law_energy_flux, 2, energy_min, energy_max, tilt, norm, reference
        )


class PowerLaw2SpectralModel(SpectralModel):
    r"""Power law normalised by its integral flux between ``emin`` and ``emax``.

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        Integral flux F0 between ``emin`` and ``emax`` (default 1e-12 cm-2 s-1).
    index : float
        Γ (default 2).
    emin, emax : `~astropy.units.Quantity`
        Energy range of ``amplitude`` (default 0.1 and 100 TeV, frozen).
    """

    tag: ClassVar[list[str]] = ["PowerLaw2SpectralModel", "pl-2"]
    amplitude = Parameter("amplitude", "1e-12 cm-2 s-1", scale_method="scale10", interp="log")
    index = Parameter("index", 2)
    emin = Parameter("emin", "0.1 TeV", frozen=True)
    emax = Parameter("emax", "100 TeV", frozen=True)

    @staticmethod
    def evaluate(energy, amplitude, index, emin, emax):
        """See :func:`~mapds.modeling.spectral_shapes.power_law2`."""
        return shapes.power_law2(energy, amplitude, index, emin, emax)

    @staticmethod
    def evaluate_integral(energy_min, energy_max, amplitude, index, emin, emax):
        """See :func:`~mapds.modeling.spectral_integrals.power_law2_integral`."""
        index = u.Quantity(index).to_value("")
        return integrals.power_law2_integral(energy_min, energy_max, amplitude, index, emin, emax)


class ExpCutoffPowerLawSpectralModel(SpectralModel):
    r"""Power law with exponential cut-off ``φ0 (E / E0)^−Γ exp(−(λ E)^α)``.

    Parameters
    ----------
    index : float
        Γ (default 1.5).
    amplitude : `~astropy.units.Quantity`
        φ0 (default 1e-12 cm-2 s-1 TeV-1).
    reference : `~astropy.units.Quantity`
        E0 (default 1 TeV, frozen).
    lambda_ : `~astropy.units.Quantity`
        Inverse cut-off energy λ (default 0.1 TeV-1).
    alpha : float
        Cut-off sharpness α (default 1, frozen).
    """

    tag: ClassVar[list[str]] = ["ExpCutoffPowerLawSpectralModel", "ecpl"]
    index = Parameter("index", 1.5)
    amplitude = Parameter("amplitude", "1e-12 cm-2 s-1 TeV-1", scale_method="scale10", interp="log")
    reference = Parameter("reference", "1 TeV", frozen=True)
    lambda_ = Parameter("lambda_", "0.1 TeV-1")
    alpha = Parameter("alpha", "1.0", frozen=True)

    @staticmethod
    def evaluate(energy, index, amplitude, reference, lambda_, alpha):
        """See :func:`~mapds.modeling.spectral_shapes.exp_cutoff_power_law`."""
        return shapes.exp_cutoff_power_law(energy, index, amplitude, reference, lambda_, alpha)


class LogParabolaSpectralModel(SpectralModel):
    r"""Log parabola ``φ0 x^(−α − β ln x)``, ``x = E / E0`` (natural logarithm).

    Parameters
    ----------
    amplitude : `~astropy.units.Quantity`
        φ0 (default 1e-12 cm-2 s-1 TeV-1).
    reference : `~astropy.units.Quantity`
        E0 (default 10 TeV, frozen).
    alpha : float
        α (default 2).
    beta : float
        β (default 1).
    """

    tag: ClassVar[list[str]] = ["LogParabolaSpectralModel", "lp"]
    amplitude = Parameter("amplitude", "1e-12 cm-2 s-1 TeV-1", scale_method="scale10", interp="log")
    reference = Parameter("reference", "10 TeV", frozen=True)
    alpha = Parameter("alpha", 2)
    beta = Parameter("beta", 1)

    @classmethod
    def from_log10(cls, amplitude, reference, alpha, beta) -> LogParabolaSpectralModel:
        """Model from the ``log10`` parametrisation (β divided by ln 10)."""
        return cls(amplitude=amplitude, reference=reference, alpha=alpha, beta=beta / np.log(10))

    @staticmethod
    def evaluate(energy, amplitude, reference, alpha, beta):
        """See :func:`~mapds.modeling.spectral_shapes.log_parabola`."""
        return shapes.log_parabola(energy, amplitude, reference, alpha, beta)


class TemplateSpectralModel(SpectralModel):
    """Tabulated spectrum, interpolated log-log and extrapolated beyond the table.

    Parameters
    ----------
    energy : `~astropy.units.Quantity`
        Energies of the table (increasing).
    values : `~astropy.units.Quantity`
        dN/dE at ``energy``.
    interp_kwargs : dict, optional
        ``values_scale`` ("log"), ``points_scale`` (("log",)), ``method`` ("linear"; "nearest"
        for a single point), ``extrapolate`` (True) and ``fill_value`` (NaN, used outside the
        table when not extrapolating).
    meta : dict, optional
        Free metadata.
    """

    tag: ClassVar[list[str]] = ["TemplateSpectralModel", "template"]

    def __init__(self, energy, values, interp_kwargs=None, meta=None):
        self.energy = u.Quantity(energy)
        self.values = u.Quantity(values)
        if self.energy.shape != self.values.shape or self.energy.ndim != 1:
            raise ModelError(
                f"TemplateSpectralModel needs 1-d energy and values of the same length, got shapes "
                f"{self.energy.shape} and {self.values.shape}"
            )
        self.meta = {} if meta is None else meta
        interp_kwargs = dict(interp_kwargs or {})
        interp_kwargs.setdefault("values_scale", "log")
        interp_kwargs.setdefault("points_scale", ("log",))
        if len(self.energy) == 1:
            interp_kwargs["method"] = "nearest"
        self._interp_kwargs = interp_kwargs
        super().__init__()

    def evaluate(self, energy) -> u.Quantity:
        """Interpolated dN/dE at ``energy`` (negative values clipped to 0)."""
        kwargs = self._interp_kwargs
        points_scale = kwargs["points_scale"]
        values = shapes.template_spectrum(
            u.Quantity(energy).to_value(self.energy.unit),
            self.energy.value,
            self.values.value,
            values_scale=kwargs["values_scale"],
            points_scale=points_scale[0] if isinstance(points_scale, (list, tuple)) else points_scale,
            method=kwargs.get("method", "linear"),
            extrapolate=kwargs.get("extrapolate", True),
            fill_value=kwargs.get("fill_value", np.nan),
        )
        return u.Quantity(values, self.values.unit, copy=None)

    @classmethod
    def read_table(
        cls,
        filename,
        energy_unit="MeV",
        values_unit="MeV-1 s-1 cm-2",
        *,
        storage_options: dict | None = None,
        **kwargs,
    ) -> TemplateSpectralModel:
        """Spectrum from a table file: energies in the first column, dN/dE in the second.

        Text tables are read as ``numpy.loadtxt`` reads them (whitespace-separated numbers,
        ``#`` comments; further columns, such as the uncertainties of Fermi-LAT's isotropic
        spectra, are ignored), in ``energy_unit`` and ``values_unit``.  FITS tables (``.fits``,
        ``.fit``, optionally gzipped) are read from their first table HDU; a column with a unit
        (``TUNIT``) keeps it.  Local paths (``$VAR`` and ``~`` expanded) or fsspec URLs.

        Parameters
        ----------
        filename : str or os.PathLike
            The table.
        energy_unit, values_unit : str or `~astropy.units.Unit`
            Units of columns that carry none.
        storage_options : dict, optional, keyword-only
            fsspec options for a URL.
        **kwargs
            Passed to the model (``interp_kwargs``, ``meta``).
        """
        columns = read_spectrum_table(filename, storage_options=storage_options)
        energy, values = (
            c if isinstance(c, u.Quantity) else u.Quantity(c, unit)
            for c, unit in zip(columns, (energy_unit, values_unit), strict=True)
        )
        return cls(energy=energy, values=values, **kwargs)

    def to_dict(self, full_output: bool = False) -> dict:
        """Adds ``energy`` and ``values`` (``data`` list and ``unit`` string) to the dict."""
        data = super().to_dict(full_output)
        data["spectral"]["energy"] = {"data": self.energy.value.tolist(), "unit": str(self.energy.unit)}
        data["spectral"]["values"] = {"data": self.values.value.tolist(), "unit": str(self.values.unit)}
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> TemplateSpectralModel:
        """Model from its dictionary."""
        data = model_dict(data, "spectral")
        try:
            energy = u.Quantity(data["energy"]["data"], data["energy"]["unit"])
            values = u.Quantity(data["values"]["data"], data["values"]["unit"])
        except (KeyError, TypeError) as exc:
            raise ModelError(
                f"TemplateSpectralModel: 'energy' and 'values' need 'data' and 'unit' ({exc!r} missing "
                "or invalid)"
            ) from exc
        except ValueError as exc:
            raise ModelError(f"TemplateSpectralModel: invalid energy or values: {exc}") from exc
        return cls(energy=energy, values=values, **kwargs)


class CompoundSpectralModel(CovarianceMixin, SpectralModel):
    """Arithmetic combination ``operator(model1(E), model2(E))`` of two spectral models.

    Parameters
    ----------
    model1, model2 : `SpectralModel`
        The operands.
    operator : callable
        ``operator.add``, ``operator.sub``, ``operator.mul`` or ``operator.truediv``.
    """

    tag: ClassVar[list[str]] = ["CompoundSpectralModel", "compound"]

    def __init__(self, model1: SpectralModel, model2: SpectralModel, operator):
        if getattr(operator, "__name__", None) not in OPERATORS:
            raise ModelError(
                f"CompoundSpectralModel operator must be one of {list(OPERATORS)}, got {operator!r}"
            )
        self.model1 = model1
        self.model2 = model2
        self.operator = operator
        super().__init__()

    @property
    def _models(self) -> list[SpectralModel]:
        return [self.model1, self.model2]

    @property
    def parameters(self) -> Parameters:
        """Parameters of ``model1`` then ``model2``."""
        return self.model1.parameters + self.model2.parameters

    @property
    def parameters_unique_names(self) -> list[str]:
        """``model1.<name>`` and ``model2.<name>``."""
        return [
            f"model{idx}.{name}"
            for idx, model in enumerate(self._models, start=1)
            for name in model.parameters_unique_names
        ]

    def __call__(self, energy) -> u.Quantity:
        return self.operator(self.model1(energy), self.model2(energy))

    def evaluate(self, energy, *args):
        """Operator applied to the models' ``evaluate`` (parameters of model1 first)."""
        n1 = len(self.model1.parameters)
        return self.operator(
            self.model1.evaluate(energy, *args[:n1]), self.model2.evaluate(energy, *args[n1:])
        )

    def unfreeze(self) -> None:
        """Restore the default frozen flags of both models."""
        self.model1.unfreeze()
        self.model2.unfreeze()

    def copy(self, **kwargs) -> CompoundSpectralModel:
        """Copy (both models copied)."""
        return type(self)(self.model1.copy(), self.model2.copy(), self.operator)

    def to_dict(self, full_output: bool = False) -> dict:
        """``{"spectral": {"type", "model1", "model2", "operator"}}``."""
        return {
            "spectral": {
                "type": self.tag[0],
                "model1": self.model1.to_dict(full_output)["spectral"],
                "model2": self.model2.to_dict(full_output)["spectral"],
                "operator": self.operator.__name__,
            }
        }

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> CompoundSpectralModel:
        """Model from its dictionary (operand types looked up in the spectral registry)."""
        data = model_dict(data, "spectral")
        models = []
        for key in ("model1", "model2"):
            if not isinstance(data.get(key), dict):
                raise ModelError(f"CompoundSpectralModel: missing or invalid {key!r}")
            models.append(spectral_model_from_dict(data[key]))
        name = data.get("operator")
        if name not in OPERATORS:
            raise ModelError(
                f"CompoundSpectralModel: operator must be one of {list(OPERATORS)}, got {name!r}"
            )
        return cls(*models, OPERATORS[name])


class ScaleSpectralModel(SpectralModel):
    """Another spectral model times a dimensionless ``norm`` (gammapy's ``ScaleSpectralModel``).

    Flux estimators fit this ``norm`` with the wrapped model's shape fixed.  As in gammapy, the
    parameters are the ``norm`` alone: the wrapped model's parameters are not fitted through it.

    Parameters
    ----------
    model : `SpectralModel`
        The model to scale.
    norm : float
        Multiplicative factor (default 1).
    """

    tag: ClassVar[list[str]] = ["ScaleSpectralModel", "scale"]
    norm = Parameter("norm", 1, unit="", interp="log")

    def __init__(self, model: SpectralModel, norm=1, **kwargs):
        self.model = model
        super().__init__(norm=norm, **kwargs)

    def evaluate(self, energy, norm):
        """``norm`` times the wrapped model at ``energy``."""
        return norm * self.model(energy)

    def integral(self, energy_min, energy_max, **kwargs) -> u.Quantity:
        """``norm`` times the wrapped model's integral (analytic where the model's is)."""
        return self.norm.value * self.model.integral(energy_min, energy_max, **kwargs)

    def energy_flux(self, energy_min, energy_max, **kwargs) -> u.Quantity:
        """``norm`` times the wrapped model's energy flux."""
        return self.norm.value * self.model.energy_flux(energy_min, energy_max, **kwargs)

    @property
    def cache_identity(self) -> tuple:
        """What a cached evaluation depends on besides :attr:`parameters`: the wrapped model's
        type and parameter values (hidden from :attr:`parameters`, as in gammapy)."""
        inner = getattr(self.model, "cache_identity", type(self.model).__name__)
        return (type(self).__name__, inner, self.model.parameters.cache_key)

    def copy(self, **kwargs) -> ScaleSpectralModel:
        """Copy (the wrapped model copied too)."""
        return type(self)(self.model.copy(), norm=self.norm.copy())

    def to_dict(self, full_output: bool = False) -> dict:
        """The ``norm`` as gammapy writes it, and the wrapped model under ``model``."""
        data = super().to_dict(full_output)
        data["spectral"]["model"] = self.model.to_dict(full_output)["spectral"]
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> ScaleSpectralModel:
        """Model from its dictionary (the wrapped model from ``model``)."""
        inner = model_dict(data, "spectral").get("model")
        if not isinstance(inner, dict):
            raise ModelError("ScaleSpectralModel: missing or invalid 'model'")
        return super().from_dict(data, model=spectral_model_from_dict(inner), **kwargs)


def spectral_model_from_dict(data: dict) -> SpectralModel:
    """Any registered spectral model from its dictionary (``{"type": ..., ...}``)."""
    data = model_dict(data, "spectral")
    return SPECTRAL_MODEL_REGISTRY.get_cls(data.get("type")).from_dict({"spectral": data})


SPECTRAL_MODEL_REGISTRY.register(
    ConstantSpectralModel,
    CompoundSpectralModel,
    PowerLawSpectralModel,
    PowerLawNormSpectralModel,
    PowerLaw2SpectralModel,
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    ScaleSpectralModel,
    TemplateSpectralModel,
)
