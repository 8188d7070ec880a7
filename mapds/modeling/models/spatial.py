"""Spatial models: gammapy's classes, parameters, defaults and numbers.

A spatial model is a surface brightness ``S(lon, lat)`` in sr⁻¹, normalised to one over the sky.
The formulas live in :mod:`mapds.modeling.spatial_profiles` as pure functions of radians; the
classes here hold the parameters, convert units, and integrate the profiles over the pixels of a
`~mapds.geom.WcsGeom` the way gammapy does (``SpatialModel.integrate_geom``): rectangle rule,
oversampled on an inner cutout around small sources.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import astropy.units as u
import dask
import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord, frame_transform_graph
from dask.base import tokenize

from ...errors import GeometryMismatchError, ModelError
from ...geom import WcsGeom
from ...io.paths import make_path
from ...io.urls import resolve
from ...maps import Map
from ...maps.chunks import normalize_chunks
from ...maps.dataarray import geom_dims
from .. import spatial_profiles as profiles
from ..parameter import Parameter
from . import plotting
from .core import ModelBase, model_dict
from .registry import SPATIAL_MODEL_REGISTRY

__all__ = [
    "ConstantSpatialModel",
    "DiskSpatialModel",
    "GaussianSpatialModel",
    "GeneralizedGaussianSpatialModel",
    "PointSpatialModel",
    "Shell2SpatialModel",
    "ShellSpatialModel",
    "SpatialModel",
    "TemplateSpatialModel",
]

log = logging.getLogger(__name__)


def _radians(*values):
    """Angles in radians; Quantities are converted, plain numbers are degrees (parameter unit)."""
    out = [v.to_value(u.rad) if isinstance(v, u.Quantity) else np.deg2rad(v) for v in values]
    return out[0] if len(out) == 1 else out


def _number(value):
    """A dimensionless parameter as a plain number."""
    return value.to_value("") if isinstance(value, u.Quantity) else value


def _per_sr(values) -> u.Quantity:
    return u.Quantity(values, "sr-1", copy=None)




def _wcs_geom(geom) -> WcsGeom:
    if not isinstance(geom, WcsGeom):
        raise GeometryMismatchError(
            f"Spatial models are evaluated on a WcsGeom, got {type(geom).__name__}; "
            "region geometries are not supported yet."
        )
    return geom


class SpatialModel(ModelBase):
    """Base class of spatial models.

    Subclasses declare their parameters as class attributes (``lon_0``, ``lat_0`` and the shape
    parameters) and define ``evaluate(lon, lat, **parameters)`` returning sr⁻¹.

    Parameters
    ----------
    frame : {"icrs", "galactic"}
        Frame of the centre position ``lon_0``, ``lat_0``.
    **kwargs
        Parameter values (Quantity, number, string or `Parameter`).
    """

    _type = "spatial"

    def __init__(self, **kwargs):
        frame = kwargs.pop("frame", "icrs")
        super().__init__(**kwargs)
        if not hasattr(self, "frame"):  # models without a position fix their frame on the class
            self.frame = _sky_frame(frame, type(self).__name__)

    def __call__(self, lon, lat, energy=None) -> u.Quantity:
        """Surface brightness at ``lon``, ``lat`` (and true ``energy`` if energy dependent)."""
        kwargs = {par.name: par.quantity for par in self.parameters}
        if energy is None and self.is_energy_dependent:
            raise ModelError(f"{type(self).__name__} is energy dependent: pass energy=")
        if energy is not None:
            kwargs["energy"] = energy
        return self.evaluate(lon, lat, **kwargs)

    @classmethod
    def from_position(cls, position: SkyCoord, **kwargs) -> SpatialModel:
        """Model centred on ``position``, in the frame of ``position``."""
        return cls(lon_0=position.data.lon, lat_0=position.data.lat, frame=position.frame.name, **kwargs)

    @property
    def is_energy_dependent(self) -> bool:
        """Whether the model needs a true energy to be evaluated."""
        return False

    @property
    def unit(self) -> u.Unit:
        """Unit of the values :meth:`evaluate` returns (sr⁻¹)."""
        return u.Unit("sr-1")

    @property
    def position(self) -> SkyCoord:
        """Centre position as a `~astropy.coordinates.SkyCoord` in the model frame."""
        return SkyCoord(self.lon_0.quantity, self.lat_0.quantity, frame=self.frame)

    @position.setter
    def position(self, skycoord: SkyCoord) -> None:
        coord = skycoord.transform_to(self.frame)
        self.lon_0.quantity = coord.data.lon.to(self.lon_0.unit)
        self.lat_0.quantity = coord.data.lat.to(self.lat_0.unit)

    @property
    def position_lonlat(self) -> tuple[float, float]:
        """Centre ``(lon, lat)`` in radians, in the model frame."""
        return self.lon_0.quantity.to_value(u.rad), self.lat_0.quantity.to_value(u.rad)

    @property
    def evaluation_radius(self) -> u.Quantity | None:
        """Radius outside which the model is negligible (``None``: unbounded)."""
        return None

    @property
    def evaluation_bin_size_min(self) -> u.Quantity | None:
        """Largest pixel size that samples the model well (``None``: no oversampling)."""
        return None

    @property
    def position_error(self):
        """95 % containment ellipse of the position (`~regions.EllipseSkyRegion`) from the
        ``lon_0``/``lat_0`` covariance, as gammapy's."""
        return plotting.position_error_region(self)

    # -- plots (matplotlib) ------------------------------------------------------------------------

    def plot(self, ax=None, geom=None, **kwargs):
        """Draw the surface brightness on WCSAxes with :meth:`~mapds.maps.Map.plot`.

        The model is evaluated lazily, chunk by chunk, and only at the resolution drawn.

        Parameters
        ----------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`, optional
            Axes (default: new WCSAxes of the geometry).
        geom : `~mapds.geom.WcsGeom`, optional
            Geometry; default gammapy's: a template's own, else 0.02° pixels over twice the
            evaluation radius (at least 0.2°) around the model.
        **kwargs
            Arguments of :meth:`~mapds.maps.Map.plot`.

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`
        """
        return plotting.plot_spatial_model(self, ax=ax, geom=geom, **kwargs)

    def plot_position_error(self, ax=None, **kwargs):
        """Mark the position (``scatter`` arguments; red cross) and draw :attr:`position_error`
        when the covariance is set.

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`
        """
        return plotting.plot_spatial_position_error(self, ax=ax, **kwargs)

    def plot_error(
        self, ax=None, which="position", size_factor=1.0, kwargs_position=None, kwargs_extension=None
    ):
        """Draw the position and/or extension errors on WCSAxes, as gammapy does.

        Parameters
        ----------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`, optional
            Axes (default: the current axes).
        which : str or list of str
            "position", "extension" or "all".
        size_factor : float
            Size of the extension band, in units of the shape parameter (σ or r_0).
        kwargs_position : dict, optional
            Arguments of :meth:`plot_position_error`.
        kwargs_extension : dict, optional
            ``as_artist`` arguments of the band (default filled red, alpha 0.15); only Gaussian,
            generalized Gaussian and disk models have one.

        Returns
        -------
        ax : `~astropy.visualization.wcsaxes.WCSAxes`
            (gammapy returns None).
        """
        return plotting.plot_spatial_error(
            self,
            ax=ax,
            which=which,
            size_factor=size_factor,
            kwargs_position=kwargs_position,
            kwargs_extension=kwargs_extension,
        )

    # -- evaluation on a geometry ---------------------------------------------------------------

    def evaluate_geom(self, geom: WcsGeom) -> u.Quantity:
        """Surface brightness (sr⁻¹) at the pixel centres of ``geom``.

        Returns a Quantity of shape ``geom.data_shape_image`` (``geom.data_shape`` for energy
        dependent models, which read the ``energy_true`` axis), as gammapy does.
        """
        geom = _wcs_geom(geom)
        coords = geom.get_coord(frame=self.frame, sparse=True)
        if not self.is_energy_dependent:
            values = self(coords.lon, coords.lat)
            return np.broadcast_to(values, geom.data_shape_image, subok=True).copy()
        if "energy_true" not in geom.axes.names:
            raise GeometryMismatchError(
                f"{type(self).__name__} is energy dependent: the geometry needs an 'energy_true' "
                f"axis, it has {geom.axes.names}"
            )
        return self(coords.lon, coords.lat, energy=coords["energy_true"])

    def model_dict_cutout(self, geom: WcsGeom, pixel_scale: float) -> WcsGeom | None:
        """Geometry of width ``2 · max(r_eval, pixel)`` around the model, None if none/outside."""
        radius = self.evaluation_radius
        if radius is None:
            return None
        width = 2 * max(radius.to_value("deg"), pixel_scale)
        try:
            return geom.cutout(self.position, width)
        except ValueError:  # astropy's NoOverlapError is a ValueError
            return None

    def _oversampling_factor(self, pixel_scale: float) -> int:
        bin_size = self.evaluation_bin_size_min
        bin_size = None if bin_size is None else bin_size.to_value("deg")
        return profiles.oversampling_factor(pixel_scale, bin_size)

    def integrate_geom(self, geom: WcsGeom, oversampling_factor: int | None = None) -> Map:
        """Fraction of the model flux in each pixel of ``geom``: dimensionless, or for a template
        in flux-density units (a diffuse map cube in ``cm-2 s-1 MeV-1 sr-1``) the flux density
        integrated over each pixel's solid angle, as gammapy.

        Rectangle rule: value at the pixel centre × pixel solid angle.  Models with an
        ``evaluation_radius`` are evaluated on an inner cutout of width ``2·max(r_eval, pixel)``
        around their position, oversampled by ``min(ceil(pixel / evaluation_bin_size_min), 200)``
        per side (or ``oversampling_factor``); pixels outside that cutout stay 0.  With a factor
        of 1 the model is evaluated on every pixel, as gammapy does.

        Parameters
        ----------
        geom : `~mapds.geom.WcsGeom`
            Geometry (the model's cutout of a dataset, typically).  Non-spatial axes are kept;
            the values are the same in every plane unless the model is energy dependent.
        oversampling_factor : int, optional
            Sub-pixels per pixel side; estimated from the model when None.

        Returns
        -------
        `~mapds.maps.Map`
            float64 map of ``geom``.  With a factor of 1 it is a graph evaluating the model
            chunk by chunk; an oversampled inner cutout is evaluated when the graph is built
            (it spans only a few tens of model scales) and padded lazily.
        """
        geom = _wcs_geom(geom)
        pixel_scale = float(np.max(geom.pixel_scales.deg))
        inner = self.model_dict_cutout(geom, pixel_scale)
        if inner is None and self.evaluation_radius is not None:
            oversampling_factor = 1  # the model lies outside the geometry
        if oversampling_factor is None:
            oversampling_factor = self._oversampling_factor(pixel_scale)

        if oversampling_factor <= 1:
            data = self._integrate_blocks(geom)
        else:
            # The inner cutout spans a few tens of model scales: small enough to evaluate at once.
            target = geom if inner is None else inner
            values = self.evaluate_geom(target.upsample(oversampling_factor)).to_value(self.unit)
            integrated = profiles.integrate_pixels(
                values, target.solid_angle().to_value("sr"), oversampling_factor
            )
            data = _paste(integrated, target, geom)
        return _map_broadcast(geom, data, self.unit * u.sr)

    def _graph_token(self) -> tuple:
        """What the values of the model depend on (dask names of lazy results derive from it)."""
        return type(self).__name__, self.frame, self.parameters.cache_key

    def _integrate_blocks(self, geom: WcsGeom) -> da.Array:
        """Value at the pixel centres × pixel solid angle, as a dask array computed per chunk.

        Shape ``geom.data_shape`` for energy-dependent models, else the image shape.  The
        model is copied into the graph, so later parameter changes do not affect the result.
        """
        image = geom.to_image()
        shape = geom.data_shape if self.is_energy_dependent else image.data_shape
        chunks = normalize_chunks(None, shape, geom_dims(geom)[-len(shape) :], np.float64)
        coords = image.get_coord(chunks=chunks[-2:])
        solid_angle = image.solid_angle(chunks=chunks[-2:])
        arrays = [coords["lon"], coords["lat"], solid_angle]
        if self.is_energy_dependent:
            axis = geom.axes["energy_true"]
            energy = da.from_array(axis.center.value, chunks=(chunks[-3],))
            arrays = [a[np.newaxis] for a in arrays]
            arrays.append(energy.reshape((-1, 1, 1)))
            energy_unit = axis.unit
        else:
            energy_unit = None
        name = "integrate-geom-" + tokenize(self._graph_token(), geom.to_header().tostring(), shape, chunks)
        return da.map_blocks(
            _integrate_block,
            *arrays,
            model=self.copy(),
            frame=geom.frame,
            energy_unit=energy_unit,
            dtype=np.float64,
            name=name,
            meta=np.empty((0,) * len(shape)),
        )

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False) -> dict:
        """``{"spatial": {"type", "frame", "parameters"}}`` as gammapy writes it."""
        data = super().to_dict(full_output)
        spatial = data["spatial"]
        parameters = spatial.pop("parameters")
        spatial["frame"] = self.frame
        spatial["parameters"] = parameters
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> SpatialModel:
        """Model from its dictionary (``{"spatial": {...}}`` or the inner dictionary)."""
        spatial = model_dict(data, "spatial")
        if "frame" in spatial:
            kwargs["frame"] = spatial["frame"]
        return super().from_dict(spatial, **kwargs)


def _sky_frame(frame, model: str) -> str:
    """``frame`` checked to name an astropy sky frame (``"icrs"``, ``"galactic"``...).

    Checked when the model is built, not when it is first evaluated: a misspelt frame in a
    models YAML file should fail the read, naming the model.
    """
    if not isinstance(frame, str) or frame_transform_graph.lookup_name(frame) is None:
        raise ModelError(f"{model}: unknown sky frame {frame!r}; expected e.g. 'icrs' or 'galactic'")
    return frame


def _integrate_block(lon, lat, solid_angle, energy=None, *, model, frame, energy_unit):
    """One chunk of :meth:`SpatialModel._integrate_blocks` (lon/lat in deg in ``frame``)."""
    if frame != model.frame:
        coord = SkyCoord(lon, lat, unit="deg", frame=frame).transform_to(model.frame)
        lon, lat = coord.data.lon.deg, coord.data.lat.deg
    if energy is None:
        values = model(lon * u.deg, lat * u.deg)
    else:
        values = model(lon * u.deg, lat * u.deg, energy=energy * energy_unit)
    return (
        np.broadcast_to(values.to_value(model.unit), np.broadcast_shapes(lon.shape, np.shape(energy)))
        * solid_angle
    )


def _warn_about_values(negative: bool, all_zero: bool, has_nan: bool) -> None:
    """gammapy's warnings about template values."""
    if negative:
        log.warning("Map has negative values. Check and fix this!")
    if all_zero:
        log.warning("Map values are all zeros. Check and fix this!")
    if has_nan:
        log.warning("Map has NaN values. Check and fix this!")


def _paste(values: np.ndarray, cutout: WcsGeom, geom: WcsGeom) -> da.Array:
    """``values`` on ``cutout`` placed (lazily) into zeros covering the spatial grid of ``geom``."""
    slices = cutout.cutout_slices(geom)
    (parent_y, parent_x), cutout_yx = slices["parent-slices"], slices["cutout-slices"]
    inner = values[(..., *cutout_yx)]
    ny, nx = geom.data_shape[-2:]
    pad = [(0, 0)] * (inner.ndim - 2)
    pad += [(parent_y.start, ny - parent_y.stop), (parent_x.start, nx - parent_x.stop)]
    return da.pad(da.from_array(inner, chunks=inner.shape), pad, mode="constant")


def _map_broadcast(geom: WcsGeom, data: da.Array, unit: u.UnitBase) -> Map:
    """Float64 map of ``geom`` holding ``data`` broadcast over the non-spatial axes, rechunked."""
    chunks = normalize_chunks(None, geom.data_shape, geom_dims(geom), np.float64)
    data = da.broadcast_to(data, geom.data_shape).rechunk(chunks)
    return Map.from_geom(geom, data=data, unit=unit)


class PointSpatialModel(SpatialModel):
    """Point source.

    Integrated over pixels as bilinear weights of the four pixels around the position, so the
    centroid is preserved and the weights sum to one.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Position (default 0 deg, 0 deg).
    frame : {"icrs", "galactic"}
        Frame of the position.
    """

    tag: ClassVar[list[str]] = ["PointSpatialModel", "point"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)

    @property
    def evaluation_radius(self) -> u.Quantity:
        return 0 * u.deg

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        return 0 * u.deg

    def integrate_geom(self, geom: WcsGeom, oversampling_factor: int | None = None) -> Map:
        """Bilinear pixel weights of the position on the image of ``geom`` (sum 1 inside)."""
        image = _wcs_geom(geom).to_image()
        x0, y0 = (float(p) for p in self.position.to_pixel(image.wcs))
        chunks = normalize_chunks(None, image.data_shape, geom_dims(image), np.float64)
        name = "point-weights-" + tokenize(x0, y0, image.data_shape, chunks)
        weights = da.map_blocks(
            _point_weights_block,
            x0=x0,
            y0=y0,
            chunks=chunks,
            dtype=np.float64,
            name=name,
            meta=np.empty((0, 0)),
        )
        return Map.from_geom(image, data=weights, unit="")

    def evaluate_geom(self, geom: WcsGeom) -> u.Quantity:
        """Pixel weights divided by the pixel solid angle (sr⁻¹)."""
        weights = np.asarray(self.integrate_geom(geom))
        return weights.reshape(geom.data_shape_image) / geom.to_image().solid_angle().reshape(
            geom.data_shape_image
        )


def _point_weights_block(x0: float, y0: float, block_info=None) -> np.ndarray:
    (y_start, y_stop), (x_start, x_stop) = block_info[None]["array-location"]
    y, x = np.mgrid[y_start:y_stop, x_start:x_stop].astype(float)
    return profiles.point_source_weights(x, y, x0, y0)


class GaussianSpatialModel(SpatialModel):
    r"""Two-dimensional (optionally elongated) Gaussian.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Centre (default 0 deg, 0 deg).
    sigma : `~astropy.coordinates.Angle`
        Semi-major axis σ (default 1 deg, min 0).
    e : float
        Eccentricity, ``0 <= e <= 1`` (default 0, frozen).
    phi : `~astropy.coordinates.Angle`
        Position angle of the major axis, east of north (default 0 deg, frozen, [-180, 180]).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tag: ClassVar[list[str]] = ["GaussianSpatialModel", "gauss"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)
    sigma = Parameter("sigma", "1 deg", min=0)
    e = Parameter("e", 0, min=0, max=1, frozen=True)
    phi = Parameter("phi", "0 deg", frozen=True, min=-180, max=180)

    @property
    def evaluation_radius(self) -> u.Quantity:
        """5 σ."""
        return 5 * self.sigma.quantity

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        """σ / 3."""
        return self.sigma.quantity / 3.0

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, sigma, e, phi) -> u.Quantity:
        """Surface brightness (sr⁻¹); see :func:`~mapds.modeling.spatial_profiles.gaussian`."""
        lon, lat, lon_0, lat_0, sigma, phi = _radians(lon, lat, lon_0, lat_0, sigma, phi)
        return _per_sr(profiles.gaussian(lon, lat, lon_0, lat_0, sigma, _number(e), phi))


class GeneralizedGaussianSpatialModel(SpatialModel):
    r"""Generalized Gaussian ``exp(−(θ / r_eff)^(1/η))``.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Centre (default 0 deg, 0 deg).
    r_0 : `~astropy.coordinates.Angle`
        Semi-major axis (default 1 deg).
    eta : float
        Shape: → 0 disk, 0.5 Gaussian, 1 Laplace (default 0.5, [0.01, 1]).
    e : float
        Eccentricity (default 0, frozen).
    phi : `~astropy.coordinates.Angle`
        Position angle of the major axis (default 0 deg, frozen).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tag: ClassVar[list[str]] = ["GeneralizedGaussianSpatialModel", "gauss-general"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)
    r_0 = Parameter("r_0", "1 deg")
    eta = Parameter("eta", 0.5, min=0.01, max=1.0)
    e = Parameter("e", 0.0, min=0.0, max=1.0, frozen=True)
    phi = Parameter("phi", "0 deg", frozen=True, min=-180, max=180)

    @property
    def evaluation_radius(self) -> u.Quantity:
        """``r_0 (1 + 8η)``."""
        return self.r_0.quantity * (1 + 8 * self.eta.value)

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        """``r_0 / (3 + 8η) / (1 + e)``."""
        return self.r_0.quantity / (3 + 8 * self.eta.value) / (self.e.value + 1)

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, eta, e, phi) -> u.Quantity:
        """Surface brightness (sr⁻¹); see :func:`~mapds.modeling.spatial_profiles.generalized_gaussian`."""
        lon, lat, lon_0, lat_0, r_0, phi = _radians(lon, lat, lon_0, lat_0, r_0, phi)
        return _per_sr(
            profiles.generalized_gaussian(lon, lat, lon_0, lat_0, r_0, _number(eta), _number(e), phi)
        )


class DiskSpatialModel(SpatialModel):
    r"""Uniform (optionally elliptical) disk with a smooth edge.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Centre (default 0 deg, 0 deg).
    r_0 : `~astropy.coordinates.Angle`
        Semi-major axis (default 1 deg, min 0).
    e : float
        Eccentricity (default 0, frozen).
    phi : `~astropy.coordinates.Angle`
        Position angle of the major axis (default 0 deg, frozen).
    edge_width : float
        Width of the edge over which the profile falls from 95 % to 5 %, as a fraction of
        ``r_0`` (default 0.01, frozen, [0, 1]).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tag: ClassVar[list[str]] = ["DiskSpatialModel", "disk"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)
    r_0 = Parameter("r_0", "1 deg", min=0)
    e = Parameter("e", 0, min=0, max=1, frozen=True)
    phi = Parameter("phi", "0 deg", frozen=True, min=-180, max=180)
    edge_width = Parameter("edge_width", value=0.01, min=0, max=1, frozen=True)

    @property
    def evaluation_radius(self) -> u.Quantity:
        """``1.1 r_0 (1 + edge_width)``."""
        return 1.1 * self.r_0.quantity * (1 + self.edge_width.value)

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        """``r_0 (1 − edge_width) / 10``."""
        return self.r_0.quantity * (1 - self.edge_width.value) / 10.0

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, e, phi, edge_width) -> u.Quantity:
        """Surface brightness (sr⁻¹); see :func:`~mapds.modeling.spatial_profiles.disk`."""
        lon, lat, lon_0, lat_0, r_0, phi = _radians(lon, lat, lon_0, lat_0, r_0, phi)
        return _per_sr(profiles.disk(lon, lat, lon_0, lat_0, r_0, _number(e), phi, _number(edge_width)))


class ShellSpatialModel(SpatialModel):
    r"""Projected homogeneous spherical shell.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Centre (default 0 deg, 0 deg).
    radius : `~astropy.coordinates.Angle`
        Inner radius (default 1 deg).
    width : `~astropy.coordinates.Angle`
        Shell width, outer radius = radius + width (default 0.2 deg).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tag: ClassVar[list[str]] = ["ShellSpatialModel", "shell"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)
    radius = Parameter("radius", "1 deg")
    width = Parameter("width", "0.2 deg")

    @property
    def evaluation_radius(self) -> u.Quantity:
        """Outer radius."""
        return self.radius.quantity + self.width.quantity

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        """Shell width."""
        return self.width.quantity

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, radius, width) -> u.Quantity:
        """Surface brightness (sr⁻¹); see :func:`~mapds.modeling.spatial_profiles.shell`."""
        lon, lat, lon_0, lat_0, radius, width = _radians(lon, lat, lon_0, lat_0, radius, width)
        return _per_sr(profiles.shell(lon, lat, lon_0, lat_0, radius, radius + width))


class Shell2SpatialModel(SpatialModel):
    r"""Projected spherical shell parametrised by outer radius and relative width.

    Parameters
    ----------
    lon_0, lat_0 : `~astropy.coordinates.Angle`
        Centre (default 0 deg, 0 deg).
    r_0 : `~astropy.coordinates.Angle`
        Outer radius (default 1 deg).
    eta : float
        Width relative to ``r_0``, inner radius ``(1 − η) r_0`` (default 0.2, [0.02, 1]).
    frame : {"icrs", "galactic"}
        Frame of the centre.
    """

    tag: ClassVar[list[str]] = ["Shell2SpatialModel", "shell2"]
    lon_0 = Parameter("lon_0", "0 deg")
    lat_0 = Parameter("lat_0", "0 deg", min=-90, max=90)
    r_0 = Parameter("r_0", "1 deg")
    eta = Parameter("eta", 0.2, min=0.02, max=1)

    @property
    def evaluation_radius(self) -> u.Quantity:
        """Outer radius ``r_0``."""
        return self.r_0.quantity

    @property
    def evaluation_bin_size_min(self) -> u.Quantity:
        """``η r_0``."""
        return self.eta.value * self.r_0.quantity

    @property
    def r_in(self) -> u.Quantity:
        """Inner radius ``(1 − η) r_0``."""
        return (1 - self.eta.quantity) * self.r_0.quantity

    @staticmethod
    def evaluate(lon, lat, lon_0, lat_0, r_0, eta) -> u.Quantity:
        """Surface brightness (sr⁻¹); see :func:`~mapds.modeling.spatial_profiles.shell`."""
        lon, lat, lon_0, lat_0, r_0 = _radians(lon, lat, lon_0, lat_0, r_0)
        return _per_sr(profiles.shell(lon, lat, lon_0, lat_0, (1 - _number(eta)) * r_0, r_0))


class ConstantSpatialModel(SpatialModel):
    """Isotropic model: the same surface brightness everywhere.

    Parameters
    ----------
    value : `~astropy.units.Quantity`
        Surface brightness (default 1 sr⁻¹, frozen).
    """

    tag: ClassVar[list[str]] = ["ConstantSpatialModel", "const"]
    value = Parameter("value", "1 sr-1", frozen=True)

    frame = "icrs"
    evaluation_radius = None
    position = None

    @staticmethod
    def evaluate(lon, lat, value) -> u.Quantity:
        """``value`` (broadcast by the caller)."""
        return value

    def to_dict(self, full_output: bool = False) -> dict:
        """``{"spatial": {"type": "ConstantSpatialModel", "parameters": []}}`` (gammapy)."""
        data = super().to_dict(full_output)
        data["spatial"].pop("frame")
        data["spatial"]["parameters"] = []
        return data


class TemplateSpatialModel(SpatialModel):
    """Sky map template, interpolated at the evaluation points.

    The template stays a lazy `~mapds.maps.Map`: an evaluation reads only the window of pixels
    (and energy planes) around the points asked for.  With ``normalize=True`` each non-spatial
    slice is divided by its sum and by the pixel solid angle (unit sr⁻¹); the per-slice sums are
    computed once, in one pass over the template, at the first evaluation (which is also when
    gammapy's warnings about negative, NaN or all-zero data are logged).  Without ``normalize``
    the template is never read whole: the warnings about negative or NaN values come from the
    windows an evaluation reads.  A template in flux-density units (a Galactic diffuse cube in
    ``cm-2 s-1 MeV-1 sr-1`` with a true-energy axis) gives the flux density; its `SkyModel`
    takes a norm spectral model, as in gammapy.

    Parameters
    ----------
    map : `~mapds.maps.Map`
        Template (WCS geometry, optionally with an ``energy_true`` axis).
    meta : dict, optional
        Free metadata.
    normalize : bool
        Normalise each slice to unit integral.
    interp_kwargs : dict, optional
        ``method`` ("linear"), ``fill_value`` (0; None extrapolates), ``values_scale`` ("log").
    filename : str, optional
        File the template is (to be) stored in; written to YAML.
    copy_data : bool
        Accepted for gammapy compatibility; maps are immutable graphs, nothing is copied.
    **kwargs
        ``lon_0``, ``lat_0`` (default: the map centre, frozen).  Moving them shifts the
        template in planar lon/lat of its frame.
    """

    tag: ClassVar[list[str]] = ["TemplateSpatialModel", "template"]
    lon_0 = Parameter("lon_0", np.nan, unit="deg", frozen=True)
    lat_0 = Parameter("lat_0", np.nan, unit="deg", min=-90, max=90, frozen=True)

    def __init__(
        self,
        map: Map,
        meta=None,
        normalize: bool = True,
        interp_kwargs=None,
        filename=None,
        copy_data: bool = True,
        **kwargs,
    ):
        geom = _wcs_geom(map.geom)
        if filename is None:
            log.warning(
                "The filename is not defined. Therefore, the model will not be serialised correctly. "
                'To set the filename, the "template_model.filename" attribute can be used.'
            )
        self.filename = None if filename is None else make_path(filename)
        self.normalize = normalize
        self.meta = {} if meta is None else meta
        unit = map.unit
        if normalize or unit.is_equivalent(""):
            if not normalize:
                log.warning("Missing spatial template unit, assuming sr^-1")
            unit = u.Unit("sr-1")
        self._template = map
        self._unit = unit
        self._slice_sums = None
        interp_kwargs = dict(interp_kwargs or {})
        interp_kwargs.setdefault("method", "linear")
        interp_kwargs.setdefault("fill_value", 0)
        interp_kwargs.setdefault("values_scale", "log")
        self._interp_kwargs = interp_kwargs

        kwargs["frame"] = geom.frame
        center = geom.center_skydir
        for name, default in (("lon_0", center.data.lon), ("lat_0", center.data.lat)):
            value = kwargs.get(name)
            if value is None or (isinstance(value, Parameter) and np.isnan(value.value)):
                kwargs[name] = default
        super().__init__(**kwargs)

    @classmethod
    def read(cls, filename, normalize: bool = True, **kwargs) -> TemplateSpatialModel:
        """Template from a map file (FITS or zarr, local or URL); ``kwargs`` go to `Map.read`."""
        return cls(Map.read(filename, **kwargs), normalize=normalize, filename=filename)

    def copy(self, copy_data: bool = False, **kwargs) -> TemplateSpatialModel:
        """Copy (parameters copied, the lazy template map shared)."""
        kwargs.setdefault("map", self._template)
        kwargs.setdefault("meta", dict(self.meta))
        kwargs.setdefault("normalize", self.normalize)
        kwargs.setdefault("interp_kwargs", self._interp_kwargs)
        kwargs.setdefault("filename", self.filename)
        kwargs.setdefault("lon_0", self.lon_0.copy())
        kwargs.setdefault("lat_0", self.lat_0.copy())
        model = self.__class__(copy_data=copy_data, **kwargs)
        if model._template is self._template:
            model._slice_sums = self._slice_sums
        return model

    # -- the template ---------------------------------------------------------------------------

    @property
    def map(self) -> Map:
        """The template as used by the model (normalised when ``normalize``), lazily."""
        if not self.normalize:
            return self._template.copy(unit=self._unit)
        data = self._template.data.astype(float)
        sums = data.sum(axis=(-2, -1), keepdims=True)
        solid_angle = self._template.geom.to_image().solid_angle(chunks=data.chunks[-2:])
        return self._template.copy(data=profiles.normalize_template(data, sums, solid_angle), unit=self._unit)

    @property
    def map_center(self) -> SkyCoord:
        """Centre of the template map."""
        return self._template.geom.center_skydir

    @property
    def is_energy_dependent(self) -> bool:
        return "energy_true" in self._template.geom.axes.names

    @property
    def unit(self) -> u.Unit:
        """sr⁻¹ when normalised (or unitless), else the unit of the template."""
        return self._unit

    @property
    def evaluation_radius(self) -> u.Quantity:
        """Half the largest map width."""
        return np.max(self._template.geom.width) / 2.0

    @property
    def position_lonlat(self) -> tuple[float, float]:
        return self.position.data.lon.rad, self.position.data.lat.rad

    def _graph_token(self) -> tuple:
        return (*super()._graph_token(), tokenize(self._template.data), self.normalize, self._interp_kwargs)

    def _integrate_blocks(self, geom: WcsGeom) -> da.Array:
        if self.normalize:
            self._sums()  # the one pass over the template, before the graph copies the model
        return super()._integrate_blocks(geom)

    def _sums(self) -> np.ndarray:
        """Per-slice sums of the template (shape ``(..., 1, 1)``), computed once, with checks.

        Only a normalised template needs them (a pass over the whole template, chunk by chunk);
        without ``normalize`` an evaluation reads only the pixels around its points.
        """
        if self._slice_sums is None:
            data = self._template.data
            sums, negative, all_zero, has_nan = dask.compute(
                data.astype(float).sum(axis=(-2, -1), keepdims=True),
                (data < 0).any(),
                (data == 0).all(),
                da.isnan(data).any(),
            )
            _warn_about_values(negative, all_zero, has_nan)
            if sums.size > 1 and (sums == 0).any():
                log.warning("Map values are all zeros in at least one energy bin. Check and fix this!")
            self._slice_sums = sums
        return self._slice_sums

    def _window(self, pix, valid) -> tuple[np.ndarray, list[int]]:
        """Template values (model units) on the pixel window covering the valid points.

        Returns the window data and the window's lower pixel index for each map dimension
        (``x``, ``y``, axes...).
        """
        geom = self._template.geom
        sizes = (*geom.data_shape[::-1],)
        names = ["x", "y", *geom.axes.names]
        slices, lower = {}, []
        for name, p, n in zip(names, pix, sizes, strict=True):
            p = np.broadcast_to(p, valid.shape)[valid]
            lo = int(np.clip(np.floor(p.min()), 0, n - 1))
            hi = int(np.clip(np.floor(p.max()) + 2, 1, n))
            if hi - lo < min(2, n):  # a one-pixel dimension would not be interpolated
                lo = max(0, min(lo, n - 2))
                hi = min(n, lo + 2)
            slices[name] = slice(lo, hi)
            lower.append(lo)
        window = self._template.slice_by_idx(slices)
        data = window.compute().data
        if not self.normalize:
            # gammapy checks the whole map when it is made; a lazy template is checked where read
            # (a window of zeros says nothing about the map: only negative and NaN values warn)
            _warn_about_values(bool((data < 0).any()), False, bool(np.isnan(data).any()))
        else:
            sums = self._sums()[tuple(slices[axis.name] for axis in reversed(list(geom.axes)))]
            solid_angle = window.geom.to_image().solid_angle().to_value("sr")
            data = profiles.normalize_template(data.astype(float), sums, solid_angle)
        return data, lower

    def evaluate(self, lon, lat, energy=None, lon_0=None, lat_0=None) -> u.Quantity:
        """Interpolated template value at the points (negative values clipped to 0)."""
        center = self.map_center.data
        offset_lon = 0.0 if lon_0 is None else u.Quantity(lon_0, "deg").value - center.lon.deg
        offset_lat = 0.0 if lat_0 is None else u.Quantity(lat_0, "deg").value - center.lat.deg
        coords = {
            "lon": u.Quantity(lon, "deg").value - offset_lon,
            "lat": u.Quantity(lat, "deg").value - offset_lat,
        }
        if energy is not None:
            coords["energy_true"] = energy
        geom = self._template.geom
        pix = geom.coord_to_pix(coords)
        shape = np.broadcast_shapes(*(np.shape(p) for p in pix))
        fill_value = self._interp_kwargs["fill_value"]
        if fill_value is None:
            valid = np.ones(shape, dtype=bool)
        else:
            idx = geom.pix_to_idx(pix)
            valid = np.all(np.broadcast_arrays(*(i != -1 for i in idx)), axis=0)
        values = np.full(shape, 0.0 if fill_value is None else float(fill_value))
        if valid.any():
            data, lower = self._window(pix, valid)
            local = [np.broadcast_to(p, shape)[valid] - lo for p, lo in zip(pix, lower, strict=False)]
            interpolated = profiles.interpolate_grid(
                data,
                local,
                method=self._interp_kwargs["method"],
                values_scale=self._interp_kwargs["values_scale"],
            )
            if fill_value is not None:
                interpolated[~np.isfinite(interpolated)] = fill_value
            values[valid] = interpolated
        return u.Quantity(np.clip(values, 0, None), self._unit, copy=None)

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False) -> dict:
        """Adds ``filename``, ``normalize`` and ``unit`` to the spatial dictionary (gammapy)."""
        data = super().to_dict(full_output)
        data["spatial"]["filename"] = self.filename
        data["spatial"]["normalize"] = self.normalize
        data["spatial"]["unit"] = str(self._unit)
        return data

    def write(self, overwrite: bool = False, filename=None) -> None:
        """Write the template (as used by the model, i.e. normalised) to :attr:`filename`.

        Parameters
        ----------
        overwrite : bool
            Replace an existing file; otherwise an existing file is kept (with a warning, as
            gammapy does).
        filename : str, optional
            New file name, stored in :attr:`filename`.
        """
        if filename is not None:
            self.filename = str(filename)
        if self.filename is None:
            raise ModelError("TemplateSpatialModel has no filename to write its template to")
        if resolve(self.filename).exists() and not overwrite:
            log.warning(f"Template file {self.filename} already exists and overwrite is False")
            return
        self.map.write(self.filename, overwrite=overwrite)

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> TemplateSpatialModel:
        """Model from its dictionary; the template is opened lazily from ``filename``."""
        spatial = model_dict(data, "spatial")
        filename = spatial.get("filename")
        if filename is None:
            raise ModelError("TemplateSpatialModel: the dictionary has no 'filename'")
        parameters = {}
        if spatial.get("parameters") is not None:
            parameters = {p.name: p for p in cls._parameters_from_dict(spatial["parameters"])}
        return cls(
            Map.read(filename),
            normalize=spatial.get("normalize", True),
            filename=filename,
            **parameters,
            **kwargs,
        )


SPATIAL_MODEL_REGISTRY.register(
    ConstantSpatialModel,
    TemplateSpatialModel,
    DiskSpatialModel,
    GaussianSpatialModel,
    GeneralizedGaussianSpatialModel,
    PointSpatialModel,
    ShellSpatialModel,
    Shell2SpatialModel,
)
