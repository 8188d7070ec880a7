"""Temporal models: gammapy's classes, parameters, defaults, tags, files and numbers.

A temporal model is a factor ``ψ(t)`` on a source's flux (dimensionless, but for light curves
given in flux units).  Times are `~astropy.time.Time` objects; a model reads them in its own time
scale (``scale``, UTC by default), and its ``t_ref`` parameter is an MJD in that scale.

``integral(t_min, t_max)`` gives, for each interval ``i``, ``∫ψ dt`` over the interval divided
by the *summed* length of all the intervals: the sum over a dataset's GTIs is the mean of ``ψ``
over the observation, the factor gammapy's ``MapEvaluator`` multiplies a model's flux with
(:func:`temporal_norm`).  Models with a closed form integrate analytically; the others
(`GeneralizedGaussianTemporalModel`, `LightCurveTemplateTemporalModel`) sum 100 samples per
interval, as gammapy does.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, ClassVar

import astropy.units as u
import numpy as np
import scipy.special
from astropy.io import fits
from astropy.io.registry import identify_format
from astropy.table import Table
from astropy.time import Time

from ...errors import CorruptFileError, ModelError
from ...geom import MapAxis
from ...io.atomic import atomic_file
from ...io.paths import make_path
from ...io.urls import resolve, storage_errors
from ...maps import Map, RegionNDMap, pixel_interp
from ..parameter import Parameter
from .core import ModelBase, model_dict
from .registry import TEMPORAL_MODEL_REGISTRY

if TYPE_CHECKING:
    from scipy.interpolate import InterpolatedUnivariateSpline

__all__ = [
    "ConstantTemporalModel",
    "ExpDecayTemporalModel",
    "GaussianTemporalModel",
    "GeneralizedGaussianTemporalModel",
    "LightCurveTemplateTemporalModel",
    "LinearTemporalModel",
    "PowerLawTemporalModel",
    "SineTemporalModel",
    "TemplatePhaseCurveTemporalModel",
    "TemporalModel",
    "temporal_norm",
]

log = logging.getLogger(__name__)

#: gammapy's default reference time of the temporal models: 2000-01-01, MJD 51544 (UTC).
T_REF_DEFAULT_MJD = 51544.0


def _days(delta) -> np.ndarray:
    """A `~astropy.time.TimeDelta` (or time Quantity) in days, as plain numbers."""
    return np.asarray(delta.to_value(u.d))


def temporal_norm(model: TemporalModel, gti) -> u.Quantity:
    """The factor a temporal model puts on a source's flux over a dataset's GTIs.

    The sum over the intervals of ``model.integral`` (gammapy's
    ``MapEvaluator.compute_temporal_norm``): the mean of the model over the observation time.

    Parameters
    ----------
    model : TemporalModel
        The temporal model.
    gti : `~mapds.data.GTI`
        Good time intervals.

    Returns
    -------
    `~astropy.units.Quantity`
        Scalar (dimensionless, or the light curve's unit).
    """
    return u.Quantity(np.sum(model.integral(gti.time_start, gti.time_stop)))


class TemporalModel(ModelBase):
    """Base class of temporal models.

    Subclasses declare parameters and ``evaluate(time, **parameters)`` with ``time`` (and
    ``t_ref``) MJD Quantities in the model's time scale; those with a closed-form integral
    override :meth:`integral`.

    Parameters
    ----------
    scale : str
        Time scale of the model (an `astropy.time.Time` scale, default "utc").
    **kwargs
        Parameter values by name (and ``covariance_data``).
    """

    _type = "temporal"

    def __init__(self, scale: str = "utc", **kwargs):
        if scale not in Time.SCALES:
            raise ModelError(
                f"{type(self).__name__}: {scale!r} is not a valid time scale; choose from {Time.SCALES}"
            )
        self.scale = scale
        super().__init__(**kwargs)

    def __call__(self, time: Time, energy=None) -> u.Quantity:
        """The model at ``time`` (a `~astropy.time.Time`, converted to the model's scale).

        Parameters
        ----------
        time : `~astropy.time.Time`
            Times.
        energy : `~astropy.units.Quantity`, optional
            Energies (energy-dependent light curves only).
        """
        kwargs = {par.name: par.quantity for par in self.parameters}
        if energy is not None:
            kwargs["energy"] = energy
        return self.evaluate(self._in_scale(time).mjd * u.d, **kwargs)

    def _in_scale(self, time: Time) -> Time:
        return Time(time, scale=self.scale)

    @property
    def is_energy_dependent(self) -> bool:
        """Whether the model depends on energy (only light curves given per energy do)."""
        return False

    @property
    def unit(self) -> u.UnitBase:
        """Unit of the model values (dimensionless but for light curves in flux units)."""
        return u.dimensionless_unscaled

    @property
    def reference_time(self) -> Time:
        """``t_ref`` as a `~astropy.time.Time` in the model's scale (settable with a Time)."""
        return Time(self.t_ref.value, format="mjd", scale=self.scale)

    @reference_time.setter
    def reference_time(self, t_ref: Time) -> None:
        if not isinstance(t_ref, Time):
            raise ModelError(f"{type(self).__name__}: the reference time must be a Time, got {t_ref!r}")
        self.t_ref.value = self._in_scale(t_ref).mjd

    @staticmethod
    def time_sum(t_min: Time, t_max: Time) -> u.Quantity:
        """Summed length of the intervals ``[t_min, t_max]``, in days."""
        return u.Quantity(np.sum(_days(t_max - t_min)), u.d)

    def integral(self, t_min: Time, t_max: Time, oversampling_factor: int = 100) -> u.Quantity:
        """Integral of the model over each interval, divided by the summed interval length.

        The numerical rule of gammapy: ``oversampling_factor`` samples from ``t_min`` to
        ``t_max`` (both included) times the sample spacing.

        Parameters
        ----------
        t_min, t_max : `~astropy.time.Time`
            Interval bounds (same shape).
        oversampling_factor : int
            Samples per interval.

        Returns
        -------
        `~astropy.units.Quantity`
            One value per interval (their sum is the mean of the model over the intervals).
        """
        # gammapy takes the MJD numbers of t_min and t_max in their own scale (TT for GTIs) as if
        # they were in the model's scale; converting first puts the samples at the right instants.
        t_min, t_max = self._in_scale(t_min), self._in_scale(t_max)
        mjd, step = np.linspace(t_min.mjd, t_max.mjd, oversampling_factor, retstep=True, axis=-1)
        values = self(Time(mjd, format="mjd", scale=self.scale))
        return np.sum(values, axis=-1) * step / self.time_sum(t_min, t_max).to_value(u.d)

    def to_dict(self, full_output: bool = False) -> dict:
        """gammapy's dictionary: ``type``, ``parameters`` and ``scale``."""
        data = super().to_dict(full_output)
        data["temporal"]["scale"] = self.scale
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> TemporalModel:
        """Model from its dictionary (``scale`` optional, default UTC)."""
        temporal = model_dict(data, "temporal")
        if "scale" in temporal:
            kwargs["scale"] = temporal["scale"]
        return super().from_dict(data, **kwargs)

    def _days_since_reference(self, time: Time) -> np.ndarray:
        return _days(time - self.reference_time)


class ConstantTemporalModel(TemporalModel):
    """Constant temporal model: ``ψ(t) = 1``."""

    tag: ClassVar[list[str]] = ["ConstantTemporalModel", "const"]

    @staticmethod
    def evaluate(time) -> u.Quantity:
        """Ones of the shape of ``time``."""
        return np.ones(np.shape(time)) * u.one

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """Each interval's share of the summed length."""
        return u.Quantity(_days(t_max - t_min) / self.time_sum(t_min, t_max).to_value(u.d))


class LinearTemporalModel(TemporalModel):
    """Linear variation ``ψ(t) = α + β (t − t_ref)``.

    Parameters
    ----------
    alpha : float
        α (default 1).
    beta : `~astropy.units.Quantity`
        β (default 0 d⁻¹).
    t_ref : `~astropy.units.Quantity`
        Reference time, MJD (default 2000-01-01, frozen).
    """

    tag: ClassVar[list[str]] = ["LinearTemporalModel", "linear"]
    alpha = Parameter("alpha", 1.0)
    beta = Parameter("beta", 0.0, unit="d-1")
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day", frozen=True)

    @staticmethod
    def evaluate(time, alpha, beta, t_ref) -> u.Quantity:
        """``α + β (t − t_ref)``."""
        return alpha + beta * (time - t_ref)

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """``α Δt + β/2 [(t_max − t_ref)² − (t_min − t_ref)²]`` per interval, over the summed length."""
        alpha = self.alpha.quantity.to_value("")
        beta = self.beta.quantity.to_value("d-1")
        x_min, x_max = self._days_since_reference(t_min), self._days_since_reference(t_max)
        value = alpha * (x_max - x_min) + beta / 2.0 * (x_max**2 - x_min**2)
        return u.Quantity(value / self.time_sum(t_min, t_max).to_value(u.d))


class ExpDecayTemporalModel(TemporalModel):
    """Exponential decay ``ψ(t) = exp(−(t − t_ref) / t0)``.

    Parameters
    ----------
    t0 : `~astropy.units.Quantity`
        Decay time (default 1 d).
    t_ref : `~astropy.units.Quantity`
        Reference time, MJD (default 2000-01-01, frozen).
    """

    tag: ClassVar[list[str]] = ["ExpDecayTemporalModel", "exp-decay"]
    t0 = Parameter("t0", "1 d")
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day", frozen=True)

    @staticmethod
    def evaluate(time, t0, t_ref) -> u.Quantity:
        """``exp(−(t − t_ref) / t0)``."""
        return np.exp(-(time - t_ref) / t0)

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """``t0 [ψ(t_min) − ψ(t_max)]`` per interval, over the summed length."""
        t0 = self.t0.quantity.to_value(u.d)
        x_min, x_max = self._days_since_reference(t_min), self._days_since_reference(t_max)
        value = t0 * (np.exp(-x_min / t0) - np.exp(-x_max / t0))
        return u.Quantity(value / self.time_sum(t_min, t_max).to_value(u.d))


class GaussianTemporalModel(TemporalModel):
    """Gaussian pulse ``ψ(t) = exp(−(t − t_ref)² / 2σ²)``.

    Parameters
    ----------
    t_ref : `~astropy.units.Quantity`
        Time of the peak, MJD (default 2000-01-01).
    sigma : `~astropy.units.Quantity`
        Width σ (default 1 d).
    """

    tag: ClassVar[list[str]] = ["GaussianTemporalModel", "gauss"]
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day")
    sigma = Parameter("sigma", "1 d")

    @staticmethod
    def evaluate(time, t_ref, sigma) -> u.Quantity:
        """``exp(−(t − t_ref)² / 2σ²)``."""
        return np.exp(-((time - t_ref) ** 2) / (2 * sigma**2))

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """``σ √(π/2) [erf(x_max) − erf(x_min)]``, ``x = (t − t_ref) / (σ√2)``, over the summed length."""
        sigma = self.sigma.quantity.to_value(u.d)
        scale = np.sqrt(2) * sigma
        x_min, x_max = self._days_since_reference(t_min) / scale, self._days_since_reference(t_max) / scale
        value = np.sqrt(np.pi / 2) * sigma * (scipy.special.erf(x_max) - scipy.special.erf(x_min))
        return u.Quantity(value / self.time_sum(t_min, t_max).to_value(u.d))


class GeneralizedGaussianTemporalModel(TemporalModel):
    """Generalised Gaussian pulse: ``exp(−½ (|t − t_ref| / τ)^(1/η))`` with ``τ = t_rise``
    before ``t_ref`` and ``t_decay`` after (integrated numerically).

    Parameters
    ----------
    t_ref : `~astropy.units.Quantity`
        Time of the peak, MJD (default 2000-01-01).
    t_rise, t_decay : `~astropy.units.Quantity`
        Rise and decay times (default 1 d).
    eta : float
        Inverse sharpness η (default 1/2: a Gaussian).
    """

    tag: ClassVar[list[str]] = ["GeneralizedGaussianTemporalModel", "gengauss"]
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day")
    t_rise = Parameter("t_rise", "1 d")
    t_decay = Parameter("t_decay", "1 d")
    eta = Parameter("eta", 0.5, unit="")

    @staticmethod
    def evaluate(time, t_ref, t_rise, t_decay, eta) -> u.Quantity:
        """``exp(−½ (|t − t_ref| / τ)^(1/η))``, ``τ = t_rise`` before ``t_ref``, else ``t_decay``."""
        delta = np.abs(u.Quantity(time - t_ref, u.d).value)
        power = 1 / u.Quantity(eta).to_value("")
        rise = np.exp(-0.5 * delta**power / u.Quantity(t_rise).to_value(u.d) ** power)
        decay = np.exp(-0.5 * delta**power / u.Quantity(t_decay).to_value(u.d) ** power)
        return u.Quantity(np.where(time < t_ref, rise, decay))


class PowerLawTemporalModel(TemporalModel):
    """Power law ``ψ(t) = ((t − t_ref) / t0)^α``.

    Parameters
    ----------
    alpha : float
        α (default 1).
    t_ref : `~astropy.units.Quantity`
        Reference time, MJD (default 2000-01-01, frozen).
    t0 : `~astropy.units.Quantity`
        Time scale (default 1 d, frozen).
    """

    tag: ClassVar[list[str]] = ["PowerLawTemporalModel", "powerlaw"]
    alpha = Parameter("alpha", 1.0)
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day", frozen=True)
    t0 = Parameter("t0", "1 d", frozen=True)

    @staticmethod
    def evaluate(time, alpha, t_ref, t0=1 * u.d) -> u.Quantity:
        """``((t − t_ref) / t0)^α``."""
        return np.power((time - t_ref) / t0, alpha)

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """``t0/(α+1) [x_max^(α+1) − x_min^(α+1)]``, ``x = (t − t_ref)/t0`` (``t0 ln(x_max/x_min)``
        for α = −1), over the summed length."""
        alpha = self.alpha.quantity.to_value("")
        t0 = self.t0.quantity.to_value(u.d)
        x_min, x_max = self._days_since_reference(t_min) / t0, self._days_since_reference(t_max) / t0
        if alpha == -1:
            value = t0 * np.log(x_max / x_min)
        else:
            value = t0 / (alpha + 1) * (x_max ** (alpha + 1) - x_min ** (alpha + 1))
        return u.Quantity(value / self.time_sum(t_min, t_max).to_value(u.d))


class SineTemporalModel(TemporalModel):
    """Sinusoidal modulation ``ψ(t) = 1 + A sin(ω (t − t_ref))``.

    Parameters
    ----------
    amp : float
        Amplitude A (default 1).
    omega : `~astropy.units.Quantity`
        Angular frequency ω (default 1 rad/d).
    t_ref : `~astropy.units.Quantity`
        Reference time, MJD (default 2000-01-01).
    """

    tag: ClassVar[list[str]] = ["SineTemporalModel", "sinus"]
    amp = Parameter("amp", 1.0)
    omega = Parameter("omega", "1. rad/day")
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day")

    @staticmethod
    def evaluate(time, amp, omega, t_ref) -> u.Quantity:
        """``1 + A sin(ω (t − t_ref))``."""
        return 1.0 + amp * np.sin(omega * (time - t_ref))

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """``Δt − A/ω [cos(ω x_max) − cos(ω x_min)]``, ``x = t − t_ref``, over the summed length.

        gammapy 2.1 writes sines where the cosines are (its value is the integral of
        ``1 − A cos(ω x)``); this is the integral of the model it evaluates.
        """
        amp = self.amp.quantity.to_value("")
        omega = self.omega.quantity.to_value("rad/d")
        x_min, x_max = self._days_since_reference(t_min), self._days_since_reference(t_max)
        value = (x_max - x_min) - amp / omega * (np.cos(omega * x_max) - np.cos(omega * x_min))
        return u.Quantity(value / self.time_sum(t_min, t_max).to_value(u.d))


# -- templates ------------------------------------------------------------------------------------


def _table_format(filename: str, origin: str) -> str | None:
    """The table format astropy recognises from a file name (None: let astropy read the content)."""
    formats = identify_format(origin, Table, filename, None, [], {})
    return formats[0] if len(formats) == 1 else None


def _read_bytes(filename: str) -> bytes:
    location = resolve(filename)
    with storage_errors(filename), location.fs.open(location.path, "rb") as f:
        return f.read()


def _read_table(filename: str, owner: str) -> Table:
    """A table file (local or any fsspec URL), in whichever format astropy recognises."""
    content = _read_bytes(filename)
    try:
        return Table.read(io.BytesIO(content), format=_table_format(filename, "read"))
    except (OSError, ValueError, TypeError) as exc:
        raise CorruptFileError(f"{owner}: cannot read a table from {filename!r}: {exc}") from exc


def _write_table(table: Table, filename: str, overwrite: bool) -> None:
    # The temporary file has no suffix: the format comes from the target's name (FITS by default).
    table_format = _table_format(filename, "write") or "fits"
    with atomic_file(resolve(filename), overwrite=overwrite) as tmp:
        table.write(tmp, format=table_format)


def _time_ref_from_header(header, scale: str) -> Time:
    """Reference time from ``MJDREFI``/``MJDREFF`` and ``TIMESYS`` (``scale`` when absent)."""
    try:
        mjd_int, mjd_frac = float(header["MJDREFI"]), float(header["MJDREFF"])
    except KeyError as exc:
        raise ModelError(f"The light curve has no reference time: {exc.args[0]!r} is missing") from exc
    return Time(mjd_int, mjd_frac, format="mjd", scale=str(header.get("TIMESYS", scale)).lower())


def _time_ref_to_header(time: Time, scale: str) -> dict:
    """``MJDREFI``, ``MJDREFF``, ``TIMESYS`` of ``time`` in ``scale`` (gammapy's split of the MJD)."""
    mjd = Time(time, scale=scale).mjd
    mjd_int = np.floor(mjd).astype(np.int64)
    return {"MJDREFI": mjd_int, "MJDREFF": mjd - mjd_int, "TIMESYS": scale}


class LightCurveTemplateTemporalModel(TemporalModel):
    """Tabulated light curve: a norm given at times (and optionally energies), interpolated.

    The curve is a `~mapds.maps.RegionNDMap` with a ``time`` axis (times relative to
    :attr:`reference_time`) and optionally an ``energy`` axis; values are interpolated linearly
    (in ``values_scale``), extrapolated beyond the nodes, and clipped at 0.  Files are gammapy's:
    a table (``TIME``, ``NORM`` columns; ``MJDREFI``/``MJDREFF``/``TIMESYS`` in its header) or a
    region map (the reference time in the ``SKYMAP_BANDS`` header).

    Parameters
    ----------
    map : `~mapds.maps.RegionNDMap`
        The light curve (read into memory: it is small).
    t_ref : `~astropy.time.Time`, optional
        Reference time of the ``time`` axis (default 2000-01-01).
    filename : str, optional
        File the curve is (to be) stored in; written to YAML.
    method : {"linear", "nearest"}, optional
        Interpolation method (default "linear").
    values_scale : {"lin", "log", "sqrt"}, optional
        Scale the values are interpolated in (default "log" with an energy axis, else "lin").
    """

    tag: ClassVar[list[str]] = ["LightCurveTemplateTemporalModel", "template"]
    t_ref = Parameter("t_ref", T_REF_DEFAULT_MJD, unit="day", frozen=True)

    def __init__(self, map: Map, t_ref: Time | None = None, filename=None, method=None, values_scale=None):
        if "time" not in map.geom.axes.names:
            raise ModelError(
                "LightCurveTemplateTemporalModel needs a map with a 'time' axis, got axes "
                f"{map.geom.axes.names}"
            )
        self.map = map.compute()
        if (np.asarray(self.map.data) < 0).any():
            log.warning("Map has negative values. Check and fix this!")
        super().__init__()
        if t_ref is not None:
            self.reference_time = t_ref
        self.filename = None if filename is None else make_path(filename)
        method = "linear" if method is None else method
        if values_scale is None:
            values_scale = "log" if self.is_energy_dependent else "lin"
        pixel_interp.check_interp_args(method, values_scale)
        self.method = method
        self.values_scale = values_scale

    def __str__(self) -> str:
        edges = self.map.geom.axes["time"].edges
        start, end = self.t_ref.quantity + edges[0], self.t_ref.quantity + edges[-1]
        data = np.asarray(self.map.data)
        text = (
            f"{type(self).__name__} model summary:\n "
            f"Reference time: {self.t_ref.value} MJD \n "
            f"Start time: {start.to_value(u.d)} MJD \n "
            f"End time: {end.to_value(u.d)} MJD \n "
            f"Norm min: {np.nanmin(data)} \n"
            f"Norm max: {np.nanmax(data)}"
        )
        if self.is_energy_dependent:
            energy = self.map.geom.axes[self._energy_name].center
            text += f"\nEnergy min: {energy[0]} \nEnergy max: {energy[-1]} \n"
        return text

    @property
    def is_energy_dependent(self) -> bool:
        """Whether the curve has an energy axis."""
        return self.map.geom.has_energy_axis

    @property
    def _energy_name(self) -> str:
        return "energy" if "energy" in self.map.geom.axes.names else "energy_true"

    @property
    def unit(self) -> u.UnitBase:
        """Unit of the curve's values."""
        return self.map.unit

    # -- files ----------------------------------------------------------------------------------

    @classmethod
    def from_table(cls, table: Table, filename=None) -> LightCurveTemplateTemporalModel:
        """Light curve from a table with ``TIME`` and ``NORM`` columns.

        ``TIME`` is relative to the reference time of the table's ``MJDREFI``/``MJDREFF``
        (``TIMESYS``, default UTC), in its unit, else the ``TIMEUNIT`` of the header.
        """
        if "time" not in [name.lower() for name in table.colnames]:
            raise ModelError(f"A light curve table needs a TIME column, got columns {table.colnames}")
        t_ref = _time_ref_from_header(table.meta, scale="utc")
        nodes = table["TIME"]
        unit = u.Unit(nodes.unit) if nodes.unit is not None else u.dimensionless_unscaled
        if not unit.is_equivalent(u.d):
            if "TIMEUNIT" not in table.meta:
                raise ModelError(
                    f"The light curve's TIME column has unit {unit!r} and the table has no TIMEUNIT"
                )
            unit = u.Unit(table.meta["TIMEUNIT"])
        axis = MapAxis.from_nodes(np.asarray(nodes, dtype=float), name="time", unit=unit)
        curve = RegionNDMap.create(region=None, axes=[axis], data=np.asarray(table["NORM"]))
        return cls(curve, t_ref=t_ref, filename=filename)

    @classmethod
    def read(cls, filename, format: str = "table") -> LightCurveTemplateTemporalModel:
        """Light curve from a file (local or any fsspec URL).

        Parameters
        ----------
        filename : str
            File name.
        format : {"table", "map"}
            A table file (:meth:`from_table`) or a region map whose ``SKYMAP_BANDS`` header holds
            the reference time (TT unless ``TIMESYS`` says otherwise).
        """
        filename = make_path(filename)
        if format == "table":
            return cls.from_table(_read_table(filename, cls.__name__), filename=filename)
        if format == "map":
            with fits.open(io.BytesIO(_read_bytes(filename))) as hdulist:
                if "SKYMAP_BANDS" not in hdulist:
                    raise CorruptFileError(f"{filename!r} has no SKYMAP_BANDS HDU: not a light curve map")
                t_ref = _time_ref_from_header(hdulist["SKYMAP_BANDS"].header, scale="tt")
                curve = Map.from_hdulist(hdulist).compute()
            return cls(curve, t_ref=t_ref, filename=filename)
        raise ModelError(f"Not a valid light curve format: {format!r}; choose from 'table', 'map'")

    def to_table(self) -> Table:
        """The curve as gammapy's table (``TIME`` at the nodes, ``NORM``, reference time in meta)."""
        if self.is_energy_dependent:
            raise ModelError("An energy-dependent light curve cannot be written as a table; use format='map'")
        return Table(
            data=[self.map.geom.axes["time"].center, self.map.quantity],
            names=["TIME", "NORM"],
            meta=_time_ref_to_header(self.reference_time, self.scale),
        )

    def write(self, filename=None, format: str = "table", overwrite: bool = False) -> None:
        """Write the curve to :attr:`filename` (or ``filename``, which then becomes it).

        Parameters
        ----------
        filename : str, optional
            File name (local or fsspec URL).
        format : {"table", "map"}
            gammapy's table or region map file.
        overwrite : bool
            Replace an existing file.
        """
        if filename is not None:
            self.filename = make_path(filename)
        if self.filename is None:
            raise ModelError("LightCurveTemplateTemporalModel has no filename to write to")
        if format == "table":
            _write_table(self.to_table(), self.filename, overwrite)
        elif format == "map":
            hdulist = self.map.to_hdulist()
            hdulist["SKYMAP_BANDS"].header.update(_time_ref_to_header(self.reference_time, self.scale))
            with atomic_file(resolve(self.filename), overwrite=overwrite) as tmp:
                hdulist.writeto(tmp)
        else:
            raise ModelError(f"Not a valid light curve format: {format!r}; choose from 'table', 'map'")

    # -- evaluation -----------------------------------------------------------------------------

    def evaluate(self, time, t_ref=None, energy=None) -> u.Quantity:
        """The interpolated curve (clipped at 0).

        Parameters
        ----------
        time : `~astropy.time.Time` or `~astropy.units.Quantity`
            Times (a Time, or MJD like ``t_ref``).
        t_ref : `~astropy.units.Quantity` or `~astropy.time.Time`, optional
            Reference time (default :attr:`reference_time`).
        energy : `~astropy.units.Quantity`, optional
            Energies (energy-dependent curves; default the axis centres): the result is
            ``(n_energy, *time.shape)``.
        """
        if t_ref is None:
            t_ref = self.reference_time
        geom = self.map.geom
        coords = {"time": (time - t_ref).to(geom.axes["time"].unit)}
        if self.is_energy_dependent:
            name = self._energy_name
            energy = geom.axes[name].center if energy is None else u.Quantity(energy)
            coords[name] = energy.reshape(-1, 1)
        pix = np.broadcast_arrays(*[axis.coord_to_pix(coords[axis.name]) for axis in geom.axes])
        values = np.asarray(self.map.data)[..., 0, 0]
        # Data dimensions run over the axes in reverse order (as maps store them).
        dims = list(zip(pix[::-1], values.shape, strict=True))
        cells = [pixel_interp.grid_cells(p.ravel(), n, self.method) for p, n in dims]
        # As scipy's interpolator: NaN at non-finite coordinates of interpolated dimensions.
        nans = np.any([np.isnan(p.ravel()) for p, n in dims if n > 1], axis=0)
        result = pixel_interp.evaluate(values, cells, self.values_scale, nans).reshape(pix[0].shape)
        return u.Quantity(np.clip(result, 0, None), self.map.unit, copy=False)

    def integral(self, t_min: Time, t_max: Time, oversampling_factor: int = 100) -> u.Quantity:
        """See :meth:`TemporalModel.integral` (energy-independent curves only)."""
        if self.is_energy_dependent:
            raise ModelError(
                "The integral of an energy-dependent light curve is not supported (as in gammapy)"
            )
        return super().integral(t_min, t_max, oversampling_factor)

    # -- YAML -----------------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False, format: str | None = None) -> dict:
        """gammapy's dictionary: parameters, ``scale``, ``filename``, ``format`` and ``unit``."""
        data = super().to_dict(full_output)
        if format is None:
            format = "map" if self.is_energy_dependent else "table"
        data["temporal"]["filename"] = self.filename
        data["temporal"]["format"] = format
        data["temporal"]["unit"] = str(self.map.unit)
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> LightCurveTemplateTemporalModel:
        """The curve read from ``filename`` (``format`` default "table"); as gammapy, the
        reference time comes from the file, not from the parameters written beside it."""
        data = model_dict(data, "temporal")
        if data.get("filename") is None:
            raise ModelError("LightCurveTemplateTemporalModel: the dictionary has no 'filename'")
        return cls.read(data["filename"], data.get("format", "table"))


class TemplatePhaseCurveTemporalModel(TemporalModel):
    """Periodic source: a phase curve (``PHASE``, ``NORM`` table) and a timing solution.

    The phase at time ``t`` is ``φ_ref + Δ (f0 + Δ/2 (f1 + Δ/3 f2))``, ``Δ = t − t_ref``, modulo
    1; the norm is interpolated linearly in the table.  The integral counts whole periods at the
    frequency of the interval's start.

    Parameters
    ----------
    table : `~astropy.table.Table`
        ``PHASE`` (in [0, 1]) and ``NORM`` columns.
    filename : str, optional
        File the table is (to be) stored in; written to YAML.
    normalize : bool
        Scale the norms to unit integral over one period (default True).
    **kwargs
        ``t_ref`` (MJD, default 48442.5), ``phi_ref`` (0), ``f0`` (29.946923 s⁻¹), ``f1`` (0 s⁻²),
        ``f2`` (0 s⁻³), all frozen; ``scale``.
    """

    tag: ClassVar[list[str]] = ["TemplatePhaseCurveTemporalModel", "template-phase"]
    t_ref = Parameter("t_ref", 48442.5, unit="day", frozen=True)
    phi_ref = Parameter("phi_ref", 0.0, unit="", frozen=True)
    f0 = Parameter("f0", "29.946923 s-1", frozen=True)
    f1 = Parameter("f1", "0 s-2", frozen=True)
    f2 = Parameter("f2", "0 s-3", frozen=True)

    def __init__(self, table: Table, filename=None, normalize: bool = True, **kwargs):
        if not isinstance(normalize, bool):
            raise ModelError(f"TemplatePhaseCurveTemporalModel: normalize must be a bool, got {normalize!r}")
        missing = [name for name in ("PHASE", "NORM") if name not in table.colnames]
        if missing:
            raise ModelError(f"A phase curve table needs the columns {missing}, got {table.colnames}")
        self.normalize = normalize
        # A copy: the norms are rescaled, and the caller's table stays as it was.
        self.table = Table(table, copy=True)
        self.table["NORM"] = np.asarray(self.table["NORM"], dtype=float)
        if normalize:
            self.table["NORM"] /= self._spline().integral(0, 1)
        self._interpolator = self._spline()
        if filename is None:
            log.warning(
                "The filename is not defined. Therefore, the model will not be serialised correctly. "
                'To set the filename, the "template_model.filename" attribute can be used.'
            )
        self.filename = None if filename is None else make_path(filename)
        super().__init__(**kwargs)

    def _spline(self) -> InterpolatedUnivariateSpline:
        """Linear interpolation of the table over one period (an error outside [0, 1])."""
        from scipy.interpolate import InterpolatedUnivariateSpline  # deferred: not needed at import time

        phase = np.asarray(self.table["PHASE"], dtype=float)
        return InterpolatedUnivariateSpline(
            phase, self.table["NORM"], k=1, ext="raise", bbox=[0.0, 1.0]
        )

    @classmethod
    def read(cls, path, normalize: bool = True, **kwargs) -> TemplatePhaseCurveTemporalModel:
        """Phase curve from a table file (local or any fsspec URL); ``kwargs`` are parameters
        (not read from the file)."""
        filename = make_path(path)
        return cls(_read_table(filename, cls.__name__), filename=filename, normalize=normalize, **kwargs)

    def write(self, path=None, overwrite: bool = False) -> None:
        """Write the (normalised) table to :attr:`filename` (or ``path``, which then becomes it)."""
        if path is not None:
            self.filename = make_path(path)
        if self.filename is None:
            raise ModelError("TemplatePhaseCurveTemporalModel has no filename to write to")
        _write_table(self.table, self.filename, overwrite)

    @staticmethod
    def _time_to_phase(time, t_ref, phi_ref, f0, f1, f2) -> tuple[np.ndarray, np.ndarray]:
        """Phase in [0, 1) and the number of whole periods since ``t_ref`` at MJD ``time``."""
        delta = time - t_ref
        phase = (phi_ref + delta * (f0 + delta / 2.0 * (f1 + delta / 3 * f2))).to_value("")
        periods = np.floor(phase)
        return phase - periods, periods

    def evaluate(self, time, t_ref, phi_ref, f0, f1, f2) -> u.Quantity:
        """The table's norm at the phase of ``time``."""
        phase, _ = self._time_to_phase(time, t_ref, phi_ref, f0, f1, f2)
        return self._interpolator(phase) * u.one

    def integral(self, t_min: Time, t_max: Time) -> u.Quantity:
        """Whole periods plus the partial ones at both ends, over the summed length.

        The time per unit phase is taken at each interval's start (the frequency is assumed
        constant within an interval, as in gammapy).
        """
        t_min, t_max = self._in_scale(t_min), self._in_scale(t_max)
        parameters = {par.name: par.quantity for par in self.parameters}
        phase_min, periods_min = self._time_to_phase(t_min.mjd * u.d, **parameters)
        phase_max, periods_max = self._time_to_phase(t_max.mjd * u.d, **parameters)
        delta = (t_min - self.reference_time).to(u.d)
        frequency = self.f0.quantity + delta * (self.f1.quantity + delta * self.f2.quantity / 2)
        primitive = self._interpolator.antiderivative()
        period = primitive(1) - primitive(0)
        # (n_max − n_min − 1) whole periods, the end of the first and the start of the last
        phases = (
            period * (periods_max - periods_min - 1)
            + (primitive(1) - primitive(phase_min))
            + (primitive(phase_max) - primitive(0))
        )
        return (phases / frequency / self.time_sum(t_min, t_max)).to(u.one)

    def to_dict(self, full_output: bool = False) -> dict:
        """gammapy's dictionary: parameters, ``scale``, ``filename`` and ``normalize``.

        As gammapy, the parameters are always written compactly (``full_output`` is ignored).
        """
        data = super().to_dict()
        data["temporal"]["filename"] = self.filename
        data["temporal"]["normalize"] = self.normalize
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> TemplatePhaseCurveTemporalModel:
        """The phase curve read from ``filename`` with the parameters (and ``scale``) written."""
        data = model_dict(data, "temporal")
        if data.get("filename") is None:
            raise ModelError("TemplatePhaseCurveTemporalModel: the dictionary has no 'filename'")
        parameters = {par.name: par for par in cls._parameters_from_dict(data.get("parameters"))}
        if "scale" in data:
            parameters["scale"] = data["scale"]
        return cls.read(data["filename"], data.get("normalize", True), **parameters)


TEMPORAL_MODEL_REGISTRY.register(
    ConstantTemporalModel,
    LinearTemporalModel,
    LightCurveTemplateTemporalModel,
    ExpDecayTemporalModel,
    GaussianTemporalModel,
    GeneralizedGaussianTemporalModel,
    PowerLawTemporalModel,
    SineTemporalModel,
    TemplatePhaseCurveTemporalModel,
)
