"""Plots of spectral and spatial models as gammapy draws them (matplotlib, imported when drawing).

Spectral curves are the model at the centres of an energy axis (``n_points`` log bins between the
bounds); their error band is gammapy's: the 16th and 84th percentiles of the model evaluated at
parameter vectors drawn from the multivariate normal of the values and the covariance (``n_samples``
draws per parameter, seeded as gammapy seeds them, so the same ``random_state`` gives gammapy's
band).  Spatial models are drawn as a lazy map of their surface brightness, computed chunk by
chunk at display resolution by :meth:`mapds.maps.Map.plot`.  `regions` (which imports matplotlib)
is imported by the functions that return regions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import dask.array as da
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from scipy.special import ndtr  # the normal CDF (scipy.stats costs ~1 s to import)

from ...errors import GeometryError, InvalidArgumentError, ModelError
from ...geom import MapAxis, WcsGeom
from ...maps import Map
from ...maps.plotting import UNIT_STRING_FORMAT, pyplot, quantity_support
from .spectral_errors import parameter_samples, sampled_integrals

if TYPE_CHECKING:
    from regions import EllipseAnnulusSkyRegion, EllipseSkyRegion

__all__ = [
    "DEFAULT_SED_UNIT",
    "extension_error_region",
    "plot_spatial_error",
    "plot_spatial_model",
    "plot_spatial_position_error",
    "plot_spectral_error",
    "plot_spectral_model",
    "position_error_region",
    "spatial_model_map",
]

#: Unit of the y axis of each SED type, when the axes has none yet (gammapy's ``DEFAULT_UNIT``).
DEFAULT_SED_UNIT = {
    "dnde": u.Unit("cm-2 s-1 TeV-1"),
    "e2dnde": u.Unit("erg cm-2 s-1"),
    "flux": u.Unit("cm-2 s-1"),
    "eflux": u.Unit("erg cm-2 s-1"),
    "norm": u.Unit(""),
}

#: Shape parameter whose ±1σ range makes the extension error band, per spatial model class.
_EXTENSION_PARAMETER = {
    "GaussianSpatialModel": "sigma",
    "GeneralizedGaussianSpatialModel": "r_0",
    "DiskSpatialModel": "r_0",
}


# -- spectral models -------------------------------------------------------------------------------


def _energy_axis(energy_bounds, n_points: int) -> MapAxis:
    """The energy axis of a spectral plot: ``energy_bounds`` itself, or ``n_points`` log bins."""
    if isinstance(energy_bounds, MapAxis):
        return energy_bounds
    if isinstance(energy_bounds, (tuple, list, u.Quantity)) and len(energy_bounds) == 2:
        energy_min, energy_max = energy_bounds
        return MapAxis.from_energy_bounds(energy_min, energy_max, n_points)
    raise InvalidArgumentError(
        f"energy_bounds must be a MapAxis or two energies (min, max), got {energy_bounds!r}"
    )


def _sed_type(model, sed_type: str) -> str:
    """gammapy's rule: norm models are always drawn as "norm"."""
    sed_type = "norm" if model.is_norm_spectral_model else sed_type
    if sed_type not in DEFAULT_SED_UNIT:
        raise InvalidArgumentError(
            f"Not a valid SED type: {sed_type!r}, choose from {list(DEFAULT_SED_UNIT)}"
        )
    return sed_type


def _times_energy_power(values: u.Quantity, energy: u.Quantity, energy_power: int) -> u.Quantity:
    """``values × E^power``, in the values' unit times its own energy unit to the power (else the
    axis' energy unit), as gammapy scales SEDs."""
    energy_units = [base for base in values.unit.bases if base.physical_type == "energy"]
    energy_unit = energy_units[0] if energy_units else energy.unit
    return (values * energy**energy_power).to(values.unit * energy_unit**energy_power)


def _sed_values(model, energy: MapAxis, sed_type: str) -> u.Quantity:
    if sed_type in ("dnde", "norm"):
        return model(energy.center)
    if sed_type == "e2dnde":
        return energy.center**2 * model(energy.center)
    if sed_type == "flux":
        return model.integral(energy.edges_min, energy.edges_max)
    return model.energy_flux(energy.edges_min, energy.edges_max)


def _prepare_sed_axes(ax, sed_type: str, energy: MapAxis, energy_power: int):
    ax = pyplot().gca() if ax is None else ax
    if ax.yaxis.units is None:
        ax.yaxis.set_units(DEFAULT_SED_UNIT[sed_type] * energy.unit**energy_power)
    return ax


def _format_sed_axes(ax, energy_power: int, sed_type: str) -> None:
    ax.set_xlabel(f"Energy [{ax.xaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    quantity = f"e{energy_power} * {sed_type}" if energy_power > 0 else sed_type
    ax.set_ylabel(f"{quantity} [{ax.yaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    ax.set_xscale("log", nonpositive="clip")
    ax.set_yscale("log", nonpositive="clip")


def plot_spectral_model(
    model, energy_bounds, ax=None, sed_type="dnde", energy_power=0, n_points=100, **kwargs
):
    """The model curve (see :meth:`mapds.modeling.models.SpectralModel.plot`)."""
    sed_type = _sed_type(model, sed_type)
    energy = _energy_axis(energy_bounds, n_points)
    ax = _prepare_sed_axes(ax, sed_type, energy, energy_power)
    values = u.Quantity(_sed_values(model, energy, sed_type))
    values = _times_energy_power(values, energy.center, energy_power)
    with quantity_support():
        ax.plot(energy.center, values, **kwargs)
    _format_sed_axes(ax, energy_power, sed_type)
    return ax


def _sampled_sed(model, energy: MapAxis, sed_type: str, samples) -> u.Quantity:
    """The SED at every parameter vector: ``(n_bins, n_samples)``."""
    if sed_type in ("flux", "eflux"):
        return sampled_integrals(model, energy.edges_min, energy.edges_max, samples, sed_type == "eflux")
    values = model.evaluate(energy.center[:, np.newaxis], *samples)
    return energy.center[:, np.newaxis] ** 2 * values if sed_type == "e2dnde" else values


def plot_spectral_error(
    model,
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
    """The 1σ band of the model (see :meth:`mapds.modeling.models.SpectralModel.plot_error`)."""
    if len(model.parameters) == 0:
        raise ModelError(f"plot_error needs parameters with a covariance; {type(model).__name__} has none")
    sed_type = _sed_type(model, sed_type)
    energy = _energy_axis(energy_bounds, n_points)
    ax = _prepare_sed_axes(ax, sed_type, energy, energy_power)
    kwargs.setdefault("facecolor", "black")
    kwargs.setdefault("alpha", 0.2)
    kwargs.setdefault("linewidth", 0)
    if samples is None:
        samples = parameter_samples(model, len(model.parameters) * n_samples, random_state)
    sed = u.Quantity(_sampled_sed(model, energy, sed_type, samples))
    values = np.where(np.isfinite(sed.value), sed.value, np.nan)
    low, high = np.nanpercentile(values, 100 * ndtr([-1, 1]), axis=-1) * sed.unit
    with quantity_support():
        ax.fill_between(
            energy.center,
            _times_energy_power(low, energy.center, energy_power),
            _times_energy_power(high, energy.center, energy_power),
            **kwargs,
        )
    _format_sed_axes(ax, energy_power, sed_type)
    return ax


# -- spatial models --------------------------------------------------------------------------------


def _default_geom(model) -> WcsGeom:
    """gammapy's plotting geometry: a template's own, else 0.02° pixels over twice the
    evaluation radius (at least 0.2°) around the model."""
    template = getattr(model, "map", None)
    if template is not None:
        return template.geom
    if model.evaluation_radius is None:
        raise GeometryError(f"{type(model).__name__} has no extent: give geom= to plot it")
    width = 2 * max(model.evaluation_radius, 0.1 * u.deg)
    return WcsGeom.create(skydir=model.position, frame=model.frame, width=width, binsz=0.02)


def spatial_model_map(model, geom=None) -> Map:
    """The surface brightness of a spatial model at the pixel centres of ``geom``'s image (as
    gammapy's ``evaluate_geom``), as a lazy map evaluated chunk by chunk.

    Parameters
    ----------
    model : `~mapds.modeling.models.SpatialModel`
        Model not depending on energy.
    geom : `~mapds.geom.WcsGeom`, optional
        Geometry (default: gammapy's plotting geometry of the model).
    """
    geom = _default_geom(model) if geom is None else geom
    if not isinstance(geom, WcsGeom):
        raise GeometryError(f"Spatial models are drawn on a WcsGeom, got {type(geom).__name__}")
    if model.is_energy_dependent:
        raise GeometryError(
            f"{type(model).__name__} depends on energy: draw an image of it, e.g. "
            "Map.from_geom(geom, data=model.evaluate_geom(geom)).plot_grid()"
        )
    image = Map.from_geom(geom.to_image())
    if not hasattr(model, "evaluate"):
        # a point source has no surface brightness function: its pixel weights per solid angle
        weights = model.integrate_geom(image.geom)
        solid_angle = image.geom.solid_angle(chunks=weights.data.chunks)
        return weights / Map.from_geom(image.geom, data=solid_angle, unit="sr")
    frame = image.geom.frame

    def brightness(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        coord = SkyCoord(lon, lat, unit="deg", frame=frame)
        if frame != model.frame:
            coord = coord.transform_to(model.frame)
        spherical = coord.spherical
        return u.Quantity(model(spherical.lon.to("deg"), spherical.lat.to("deg"))).to_value(model.unit)

    data = da.map_blocks(brightness, image.lon.data, image.lat.data, dtype=np.float64)
    return Map.from_geom(image.geom, data=data, unit=model.unit)


def plot_spatial_model(model, ax=None, geom=None, **kwargs):
    """Draw :func:`spatial_model_map` with :meth:`mapds.maps.Map.plot` (``kwargs``)."""
    return spatial_model_map(model, geom).plot(ax=ax, **kwargs)


def position_error_region(model) -> EllipseSkyRegion:
    """95 % containment ellipse of the position from the ``lon_0``/``lat_0`` covariance
    (gammapy's ``SpatialModel.position_error``)."""
    from regions import EllipseSkyRegion

    covariance = model.covariance.get_subcovariance(["lon_0", "lat_0"]).data.copy()
    cos_lat = np.cos(model.lat_0.quantity.to_value("rad"))
    # longitude errors are angles on the sky only once scaled by cos(lat)
    covariance[0, 0] *= cos_lat**2
    covariance[0, 1] *= cos_lat
    covariance[1, 0] *= cos_lat
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    lon_err, lat_err = np.sqrt(eigenvalues)
    angle = Angle(np.arctan2(eigenvectors[1, 0], eigenvectors[0, 0]), "rad").to("deg")
    r95 = np.sqrt(-2 * np.log(1 - 0.95))  # 95 % containment radius of a unit 2-D Gaussian
    minor, major = np.sort([lon_err, lat_err]) * r95
    lon_unit, lat_unit = model.lon_0.unit, model.lat_0.unit
    if major == lon_err * r95:
        angle += 90 * u.deg
        height, width = 2 * major * lon_unit, 2 * minor * lat_unit
    else:
        height, width = 2 * major * lat_unit, 2 * minor * lon_unit
    return EllipseSkyRegion(center=model.position, height=height, width=width, angle=angle)


def extension_error_region(model, size_factor=1.0) -> EllipseAnnulusSkyRegion | None:
    """The band between the model outline at size −1σ and +1σ (size and eccentricity), for
    Gaussian, generalized Gaussian and disk models; None for other models (gammapy's rule)."""
    from regions import EllipseAnnulusSkyRegion

    name = _EXTENSION_PARAMETER.get(type(model).__name__)
    if name is None:
        return None
    size, e = model.parameters[name], model.e
    low = size.quantity - size.error * size.unit
    high = size.quantity + size.error * size.unit
    minor_low = Angle(low * np.sqrt(1 - (e.quantity - e.error) ** 2))
    minor_high = Angle(high * np.sqrt(1 - (e.quantity + e.error) ** 2))
    return EllipseAnnulusSkyRegion(
        center=model.position,
        inner_height=2 * size_factor * low,
        outer_height=2 * size_factor * high,
        inner_width=2 * size_factor * minor_low,
        outer_width=2 * size_factor * minor_high,
        angle=model.phi.quantity,
    )


def plot_spatial_position_error(model, ax=None, **kwargs):
    """A cross at the position and, when the covariance is set, its 95 % ellipse."""
    ax = pyplot().gca() if ax is None else ax
    kwargs.setdefault("marker", "x")
    kwargs.setdefault("color", "red")
    kwargs.setdefault("label", "position")
    ax.scatter(model.lon_0.value, model.lat_0.value, transform=ax.get_transform(model.frame), **kwargs)
    if not np.all(model.covariance.data == 0):
        region = position_error_region(model).to_pixel(ax.wcs)
        ax.add_artist(region.as_artist(facecolor="none", edgecolor=kwargs["color"]))
    return ax


def plot_spatial_error(
    model, ax=None, which="position", size_factor=1.0, kwargs_position=None, kwargs_extension=None
):
    """Position and/or extension errors (see :meth:`mapds.modeling.models.SpatialModel.plot_error`)."""
    ax = pyplot().gca() if ax is None else ax
    kwargs_extension = dict(kwargs_extension or {})
    kwargs_extension.setdefault("edgecolor", "red")
    kwargs_extension.setdefault("facecolor", "red")
    kwargs_extension.setdefault("alpha", 0.15)
    kwargs_extension.setdefault("fill", True)
    if "all" in which or "position" in which:
        plot_spatial_position_error(model, ax, **(kwargs_position or {}))
    if "all" in which or "extension" in which:
        region = extension_error_region(model, size_factor=size_factor)
        if region is not None:
            ax.add_artist(region.to_pixel(ax.wcs).as_artist(**kwargs_extension))
    return ax
