"""Models on (lon, lat, energy) cubes: `SkyModel` and `FoVBackgroundModel` (gammapy's ``cube.py``)."""

from __future__ import annotations

import logging
from typing import ClassVar

import astropy.units as u
import dask.array as da
import numpy as np

from ...errors import GeometryMismatchError, ModelError, UnitMismatchError
from ...geom import WcsGeom
from ...io.urls import resolve
from ...maps import Map
from ...maps.chunks import normalize_chunks
from ...maps.dataarray import geom_dims
from ..covariance import CovarianceMixin
from ..names import make_name
from ..parameter import Parameters
from .core import ModelBase
from .registry import MODEL_REGISTRY, SPATIAL_MODEL_REGISTRY, TEMPORAL_MODEL_REGISTRY
from .spatial import SpatialModel
from .spectral import PowerLawNormSpectralModel, SpectralModel, spectral_model_from_dict
from .temporal import TemporalModel, temporal_norm

__all__ = ["FoVBackgroundModel", "SkyModel", "TemplateNPredModel"]

log = logging.getLogger(__name__)

APPLY_IRF_DEFAULT = {"exposure": True, "psf": True, "edisp": True}


def _datasets_names(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _spatial_model_from_dict(data: dict) -> SpatialModel:
    return SPATIAL_MODEL_REGISTRY.get_cls(data.get("type")).from_dict({"spatial": data})


def _temporal_model_from_dict(data: dict) -> TemporalModel:
    return TEMPORAL_MODEL_REGISTRY.get_cls(data.get("type")).from_dict({"temporal": data})


class _ComponentsModel(CovarianceMixin, ModelBase):
    """A model made of a spectral and an optional spatial component, whose parameters it stacks.

    ``model + other`` (a model, a list or a `Models`) makes a `Models`: the class that
    :mod:`.collection`, which sits above the models it holds, sets as :attr:`collection_class`.
    """

    collection_class: ClassVar[type | None] = None

    def __add__(self, other):
        collection = type(self).collection_class
        if collection is None:
            raise TypeError("mapds.modeling.models.collection is not imported")
        if isinstance(other, (collection, list)):
            return collection([self, *other])
        if isinstance(other, _ComponentsModel):
            return collection([self, other])
        raise TypeError(f"Cannot add {type(other).__name__} to a {type(self).__name__}")

    def __radd__(self, other):
        return self.__add__(other)

    _spectral_model: SpectralModel
    _spatial_model: SpatialModel | None

    @property
    def _models(self) -> list[ModelBase]:
        return [m for m in (self._spectral_model, self._spatial_model) if m is not None]

    @property
    def parameters(self) -> Parameters:
        """The parameters of the components: spectral, spatial, then temporal."""
        return Parameters.from_stack([m.parameters for m in self._models])

    @property
    def parameters_unique_names(self) -> list[str]:
        """``spectral.<name>``, ``spatial.<name>``, ``temporal.<name>``."""
        return [f"{model.type}.{name}" for model in self._models for name in model.parameters_unique_names]


class SkyModel(_ComponentsModel):
    """A source: spectral model × spatial model (× temporal model), flux per energy and solid angle.

    Parameters
    ----------
    spectral_model : `SpectralModel`
        dN/dE.
    spatial_model : `SpatialModel`, optional
        Surface brightness normalised to one (None: the model has no spatial extent, e.g. in
        spectrum datasets).
    temporal_model : `TemporalModel`, optional
        Variation in time: in predicted counts the flux is multiplied by its mean over the
        dataset's GTIs (:func:`~mapds.modeling.models.temporal.temporal_norm`).
    name : str, optional
        Unique name (random when None).
    apply_irf : dict, optional
        Which IRFs apply: ``{"exposure": True, "psf": True, "edisp": True}`` by default.
    datasets_names : list of str, optional
        Datasets the model applies to (None: all).
    covariance_data : array-like, optional
        Covariance matrix of the parameters.
    """

    tag: ClassVar[list[str]] = ["SkyModel", "sky-model"]
    _apply_irf_default: ClassVar[dict] = APPLY_IRF_DEFAULT

    def __init__(
        self,
        spectral_model: SpectralModel,
        spatial_model: SpatialModel | None = None,
        temporal_model: TemporalModel | None = None,
        name: str | None = None,
        apply_irf: dict | None = None,
        datasets_names=None,
        covariance_data=None,
    ):
        self.spectral_model = spectral_model
        self.spatial_model = spatial_model
        self.temporal_model = temporal_model
        self._name = make_name(name)
        self.apply_irf = _apply_irf(apply_irf, self._name)
        self.datasets_names = _datasets_names(datasets_names)
        self._check_unit()
        super().__init__(covariance_data=covariance_data)

    # -- components ------------------------------------------------------------------------------

    @property
    def spectral_model(self) -> SpectralModel:
        """Spectral model."""
        return self._spectral_model

    @spectral_model.setter
    def spectral_model(self, model: SpectralModel) -> None:
        if not isinstance(model, SpectralModel):
            raise ModelError(f"SkyModel needs a SpectralModel, got {model!r}")
        self._spectral_model = model

    @property
    def spatial_model(self) -> SpatialModel | None:
        """Spatial model (None for spectrum-only models)."""
        return self._spatial_model

    @spatial_model.setter
    def spatial_model(self, model: SpatialModel | None) -> None:
        if not (model is None or isinstance(model, SpatialModel)):
            raise ModelError(f"SkyModel spatial_model must be a SpatialModel or None, got {model!r}")
        self._spatial_model = model

    @property
    def temporal_model(self) -> TemporalModel | None:
        """Temporal model (None: the source is steady)."""
        return self._temporal_model

    @temporal_model.setter
    def temporal_model(self, model: TemporalModel | None) -> None:
        if not (model is None or isinstance(model, TemporalModel)):
            raise ModelError(f"SkyModel temporal_model must be a TemporalModel or None, got {model!r}")
        self._temporal_model = model

    @property
    def _models(self) -> list[ModelBase]:
        models = (self._spectral_model, self._spatial_model, self._temporal_model)
        return [m for m in models if m is not None]

    def _check_unit(self) -> None:
        """spectral × spatial (× temporal) must be a flux per energy (and solid angle), as gammapy
        checks (a light curve may carry the flux unit, with a norm spectral model)."""
        reference = u.Unit("cm-2 s-1 MeV-1") if self.apply_irf["exposure"] else u.Unit("MeV-1")
        unit = self._spectral_model(1 * u.TeV).unit
        if self._spatial_model is not None:
            unit = unit * self._spatial_model.unit
            reference = reference / u.sr
        if self._temporal_model is not None:
            unit = unit * self._temporal_model.unit
        if not unit.is_equivalent(reference):
            raise UnitMismatchError(f"SkyModel {self._name!r}: unit {unit} is not equivalent to {reference}")

    @property
    def name(self) -> str:
        """Name."""
        return self._name


    @property
    def position(self):
        """Position of the spatial model (None without one)."""
        return getattr(self._spatial_model, "position", None)

    @property
    def position_lonlat(self):
        """Position ``(lon, lat)`` in radians in the model frame (None without a spatial model)."""
        return getattr(self._spatial_model, "position_lonlat", None)

    @property
    def evaluation_radius(self):
        """Radius outside which the model is negligible (None: unbounded)."""
        return None if self._spatial_model is None else self._spatial_model.evaluation_radius

    @property
    def evaluation_bin_size_min(self):
        """Largest pixel size that samples the spatial model well (None: no constraint)."""
        return None if self._spatial_model is None else self._spatial_model.evaluation_bin_size_min

    @property
    def frame(self) -> str | None:
        """Frame of the spatial model."""
        return None if self._spatial_model is None else self._spatial_model.frame

    # -- evaluation ------------------------------------------------------------------------------

    def __call__(self, lon, lat, energy, time=None) -> u.Quantity:
        return self.evaluate(lon, lat, energy, time)

    def evaluate(self, lon, lat, energy, time=None) -> u.Quantity:
        """dN/dE/dΩ at the points (numpy broadcasting), times the temporal model at ``time`` (a
        `~astropy.time.Time`) when both are given."""
        value = self._spectral_model(energy)
        if self._spatial_model is not None:
            if self._spatial_model.is_energy_dependent:
                value = value * self._spatial_model(lon, lat, energy)
            else:
                value = value * self._spatial_model(lon, lat)
        if self._temporal_model is not None and time is not None:
            value = value * self._temporal_model(time)
        return value

    def evaluate_geom(self, geom: WcsGeom, gti=None) -> u.Quantity:
        """dN/dE/dΩ at the pixel centres of ``geom`` (which needs an ``energy_true`` axis),
        times the mean of the temporal model over ``gti`` when both are given."""
        coords = geom.get_coord(sparse=True)
        value = self._spectral_model(coords["energy_true"])
        if self._spatial_model is not None:
            value = value * self._spatial_model.evaluate_geom(geom)
        return value * self._temporal_factor(gti)

    def _temporal_factor(self, gti) -> u.Quantity | float:
        """What the flux is multiplied with over ``gti``: the mean of the temporal model (1
        without a temporal model or GTI, as gammapy)."""
        if self._temporal_model is None or gti is None:
            return 1.0
        return temporal_norm(self._temporal_model, gti)

    def integrate_geom(self, geom: WcsGeom, gti=None, oversampling_factor: int | None = None) -> Map:
        """Flux in every true-energy bin and pixel of ``geom`` (unit e.g. ``cm-2 s-1``), lazily.

        The spectral integral over each ``energy_true`` bin (numpy, one value per bin) times
        the spatial model integrated over each pixel
        (:meth:`SpatialModel.integrate_geom`, a dask graph), times the mean of the temporal
        model over ``gti``.

        Parameters
        ----------
        geom : `~mapds.geom.WcsGeom`
            Geometry with an ``energy_true`` axis.
        gti : `~mapds.data.GTI`, optional
            Good time intervals the temporal model is averaged over (ignored without a temporal
            model; without GTIs the temporal model is left out, as in gammapy).
        oversampling_factor : int, optional
            Passed to the spatial model.
        """
        if "energy_true" not in geom.axes.names:
            raise GeometryMismatchError(
                f"SkyModel.integrate_geom needs an 'energy_true' axis, the geometry has {geom.axes.names}"
            )
        edges = geom.axes["energy_true"].edges
        shape = [1] * len(geom.data_shape)
        shape[geom.axes.index_data("energy_true")] = -1
        flux = self._spectral_model.integral(edges[:-1], edges[1:]).reshape(shape)
        flux = flux * self._temporal_factor(gti)
        chunks = normalize_chunks(None, geom.data_shape, geom_dims(geom), np.float64)
        if self._spatial_model is None:
            data = da.broadcast_to(da.from_array(flux.value), geom.data_shape).rechunk(chunks)
            return Map.from_geom(geom, data=data, unit=flux.unit)
        spatial = self._spatial_model.integrate_geom(geom, oversampling_factor=oversampling_factor)
        data = da.broadcast_to(spatial.data * flux.value, geom.data_shape).rechunk(chunks)
        return Map.from_geom(geom, data=data, unit=flux.unit * spatial.unit)

    # -- freezing and copies ---------------------------------------------------------------------

    def freeze(self, model_type: str | None = None) -> None:
        """Freeze all parameters, or those of the ``"spectral"``, ``"spatial"`` or ``"temporal"``
        model."""
        if model_type is None:
            self.parameters.freeze_all()
        else:
            model = self._component(model_type)
            if model is not None:
                model.freeze()

    def unfreeze(self, model_type: str | None = None) -> None:
        """Restore default frozen flags of all, or of the ``"spectral"``/``"spatial"``/``"temporal"``
        model."""
        for name in ("spectral", "spatial", "temporal") if model_type is None else (model_type,):
            model = self._component(name)
            if model is not None:
                model.unfreeze()

    def _component(self, model_type: str):
        if model_type not in ("spectral", "spatial", "temporal"):
            raise ModelError(f"model_type must be 'spectral', 'spatial' or 'temporal', got {model_type!r}")
        return getattr(self, f"{model_type}_model")

    def copy(self, name: str | None = None, copy_data: bool = False, **kwargs) -> SkyModel:
        """Copy with copied components; a new random name unless ``name`` is given (gammapy)."""
        kwargs.setdefault("name", make_name(name))
        kwargs.setdefault("spectral_model", self._spectral_model.copy())
        spatial = self._spatial_model
        kwargs.setdefault("spatial_model", None if spatial is None else spatial.copy(copy_data=copy_data))
        temporal = self._temporal_model
        kwargs.setdefault("temporal_model", None if temporal is None else temporal.copy())
        kwargs.setdefault("apply_irf", dict(self.apply_irf))
        kwargs.setdefault("datasets_names", self.datasets_names)
        kwargs.setdefault("covariance_data", self.covariance.data.copy())
        return type(self)(**kwargs)

    # -- serialisation --------------------------------------------------------------------------

    def to_dict(self, full_output: bool = False) -> dict:
        """``name``, ``type``, [``apply_irf``], [``datasets_names``], ``spectral``, [``spatial``],
        [``temporal``]."""
        data = {"name": self.name, "type": self.tag[0]}
        if self.apply_irf != self._apply_irf_default:
            data["apply_irf"] = dict(self.apply_irf)
        if self.datasets_names is not None:
            data["datasets_names"] = list(self.datasets_names)
        data.update(self._spectral_model.to_dict(full_output))
        if self._spatial_model is not None:
            data.update(self._spatial_model.to_dict(full_output))
        if self._temporal_model is not None:
            data.update(self._temporal_model.to_dict(full_output))
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> SkyModel:
        """Model from its dictionary (component types looked up in the registries)."""
        if not isinstance(data.get("spectral"), dict):
            raise ModelError("SkyModel: the dictionary has no 'spectral' model")
        spatial, temporal = data.get("spatial"), data.get("temporal")
        return cls(
            spectral_model=spectral_model_from_dict(data["spectral"]),
            spatial_model=None if spatial is None else _spatial_model_from_dict(spatial),
            temporal_model=None if temporal is None else _temporal_model_from_dict(temporal),
            name=data.get("name"),
            apply_irf=data.get("apply_irf"),
            datasets_names=data.get("datasets_names"),
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, spectral_model={self._spectral_model!r}, "
            f"spatial_model={self._spatial_model!r}, temporal_model={self._temporal_model!r})"
        )

    def __str__(self) -> str:
        spatial = "" if self._spatial_model is None else type(self._spatial_model).__name__
        temporal = "" if self._temporal_model is None else type(self._temporal_model).__name__
        return (
            f"{type(self).__name__}\n\n"
            f"  Name                      : {self.name}\n"
            f"  Datasets names            : {self.datasets_names}\n"
            f"  Spectral model type       : {type(self._spectral_model).__name__}\n"
            f"  Spatial  model type       : {spatial}\n"
            f"  Temporal model type       : {temporal}\n"
            f"  Parameters:\n{self.parameters.to_table()}\n"
        )


def _apply_irf(value: dict | None, name: str) -> dict:
    """``apply_irf`` completed with the defaults; unknown keys are an error."""
    value = {} if value is None else dict(value)
    unknown = sorted(set(value) - set(APPLY_IRF_DEFAULT))
    if unknown:
        raise ModelError(
            f"SkyModel {name!r}: unknown apply_irf key(s) {unknown}; expected {list(APPLY_IRF_DEFAULT)}"
        )
    return {key: bool(value.get(key, default)) for key, default in APPLY_IRF_DEFAULT.items()}


class _NormModel(_ComponentsModel):
    """A model scaling a map of the dataset (its background, or a template of predicted counts)
    by a norm spectral model and an optional spatial norm; it always contributes."""

    _name: str

    @staticmethod
    def contributes(*args, **kwargs) -> bool:
        """A norm model always contributes."""
        return True

    @property
    def name(self) -> str:
        """Name."""
        return self._name

    @property
    def spectral_model(self) -> SpectralModel:
        """Spectral norm model."""
        return self._spectral_model

    @property
    def spatial_model(self) -> SpatialModel | None:
        """Spatial norm model."""
        return self._spatial_model


class FoVBackgroundModel(_NormModel):
    """Correction of a dataset's background map: a norm spectral model (× a spatial norm).

    Parameters
    ----------
    dataset_name : str
        The one dataset this model applies to.
    spectral_model : `SpectralModel`, optional
        A norm model (default `PowerLawNormSpectralModel`).
    spatial_model : `SpatialModel`, optional
        Spatial norm (its unit is dropped on evaluation).
    covariance_data : array-like, optional
        Covariance matrix of the parameters.
    name : str, optional
        Name (default ``"<dataset_name>-bkg"``).
    """

    tag: ClassVar[list[str]] = ["FoVBackgroundModel", "fov-bkg"]

    def __init__(
        self,
        dataset_name: str,
        spectral_model: SpectralModel | None = None,
        spatial_model: SpatialModel | None = None,
        covariance_data=None,
        name: str | None = None,
    ):
        if not isinstance(dataset_name, str):
            raise ModelError(f"FoVBackgroundModel needs one dataset name (a string), got {dataset_name!r}")
        self.datasets_names = [dataset_name]
        spectral_model = PowerLawNormSpectralModel() if spectral_model is None else spectral_model
        if not isinstance(spectral_model, SpectralModel) or not spectral_model.is_norm_spectral_model:
            raise ModelError(
                f"FoVBackgroundModel of {dataset_name!r} needs a norm spectral model, got {spectral_model!r}"
            )
        if not (spatial_model is None or isinstance(spatial_model, SpatialModel)):
            raise ModelError(
                f"FoVBackgroundModel spatial_model must be a SpatialModel, got {spatial_model!r}"
            )
        self._name = f"{dataset_name}-bkg" if name is None else make_name(name)
        self._spectral_model = spectral_model
        self._spatial_model = spatial_model
        super().__init__(covariance_data=covariance_data)



    def evaluate(self, energy, lon=None, lat=None) -> u.Quantity:
        """Norm at ``energy`` (× the spatial norm at ``lon``, ``lat`` when there is one)."""
        value = self._spectral_model(energy)
        if self._spatial_model is None:
            return value
        if lon is None or lat is None:
            raise ModelError(
                f"FoVBackgroundModel {self.name!r} has a spatial model: lon and lat are required"
            )
        if self._spatial_model.is_energy_dependent:
            return self._spatial_model(lon, lat, energy).value * value
        return self._spatial_model(lon, lat).value * value

    def evaluate_geom(self, geom: WcsGeom) -> u.Quantity:
        """The norm at the reco-energy bin centres of ``geom`` (shape ``(n_E, 1, 1)`` without a
        spatial model), to multiply the background map with."""
        coords = geom.get_coord(sparse=True)
        if self._spatial_model is None:
            return self.evaluate(coords["energy"])
        return self.evaluate(coords["energy"], coords.lon, coords.lat)

    def freeze(self, model_type: str | None = "spectral") -> None:
        """Freeze the spectral parameters."""
        if model_type in (None, "spectral"):
            self._spectral_model.freeze()

    def unfreeze(self, model_type: str | None = "spectral") -> None:
        """Restore the default frozen flags of the spectral parameters."""
        if model_type in (None, "spectral"):
            self._spectral_model.unfreeze()

    def reset_to_default(self) -> None:
        """Reset the spectral parameter values to their defaults."""
        self._spectral_model.parameters.value = self._spectral_model.default_parameters.value

    def copy(self, name: str | None = None, copy_data: bool = False, **kwargs) -> FoVBackgroundModel:
        """Copy (``name`` is ignored, as in gammapy: the name follows the dataset)."""
        kwargs.setdefault("dataset_name", self.datasets_names[0])
        kwargs.setdefault("spectral_model", self._spectral_model.copy())
        if self._spatial_model is not None:
            kwargs.setdefault("spatial_model", self._spatial_model.copy())
        kwargs.setdefault("covariance_data", self.covariance.data.copy())
        return type(self)(**kwargs)

    def to_dict(self, full_output: bool = False) -> dict:
        """``type``, ``datasets_names``, ``spectral``, [``spatial``] (no ``name``: gammapy)."""
        data = {"type": self.tag[0], "datasets_names": list(self.datasets_names)}
        data.update(self._spectral_model.to_dict(full_output))
        if self._spatial_model is not None:
            data.update(self._spatial_model.to_dict(full_output))
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> FoVBackgroundModel:
        """Model from its dictionary; exactly one dataset name is required."""
        names = data.get("datasets_names")
        if isinstance(names, str):
            names = [names]
        if not names:
            raise ModelError("FoVBackgroundModel: 'datasets_names' must name the dataset")
        if len(names) > 1:
            raise ModelError(f"FoVBackgroundModel can only be assigned to one dataset, got {names}")
        spectral, spatial = data.get("spectral"), data.get("spatial")
        return cls(
            dataset_name=names[0],
            spectral_model=None if spectral is None else spectral_model_from_dict(spectral),
            spatial_model=None if spatial is None else _spatial_model_from_dict(spatial),
            **kwargs,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dataset_name={self.datasets_names[0]!r}, "
            f"spectral_model={self._spectral_model!r})"
        )


class TemplateNPredModel(_NormModel):
    """Predicted counts given as a map (e.g. a background template), scaled per reco-energy
    bin by a norm spectral model evaluated at the bin centres (× an optional spatial norm).

    Its contribution to a dataset's ``npred`` is ``map × spectral(E) [× spatial]``, on the
    dataset's counts grid; the map stays lazy.

    Parameters
    ----------
    map : `~mapds.maps.Map`
        Predicted counts, with a reco ``energy`` axis of bin edges.
    spectral_model : `SpectralModel`, optional
        Norm model (default `PowerLawNormSpectralModel` with the tilt frozen).
    name : str, optional
        Unique name (random when None).
    filename : str, optional
        File the map is (to be) stored in; written to YAML.
    datasets_names : str or list of str, optional
        The one dataset the model belongs to.
    copy_data : bool
        Accepted for gammapy compatibility; maps are immutable graphs, nothing is copied.
    spatial_model : `SpatialModel`, optional
        Spatial norm (its unit is dropped on evaluation).
    covariance_data : array-like, optional
        Covariance matrix of the parameters.
    """

    tag: ClassVar[str] = "TemplateNPredModel"

    def __init__(
        self,
        map: Map,
        spectral_model: SpectralModel | None = None,
        name: str | None = None,
        filename=None,
        datasets_names=None,
        copy_data: bool = True,
        spatial_model: SpatialModel | None = None,
        covariance_data=None,
    ):
        if "energy" not in map.geom.axes.names or map.geom.axes["energy"].node_type != "edges":
            raise ModelError('TemplateNPredModel needs an integrated map: an "energy" axis of bin edges')
        if spectral_model is None:
            spectral_model = PowerLawNormSpectralModel()
            spectral_model.tilt.frozen = True
        if isinstance(datasets_names, str):
            datasets_names = [datasets_names]
        if datasets_names is not None and len(datasets_names) != 1:
            raise ModelError(f"TemplateNPredModel can only be assigned to one dataset, got {datasets_names}")
        self.map = map
        self.filename = filename
        self.datasets_names = datasets_names
        self._name = make_name(name)
        self._spectral_model = spectral_model
        self._spatial_model = spatial_model
        super().__init__(covariance_data=covariance_data)

    @property
    def _models(self) -> list[ModelBase]:
        # gammapy's parameters (and so the covariance) leave a spatial norm's parameters out
        return [self._spectral_model]

    @property
    def energy_center(self) -> u.Quantity:
        """Reco-energy bin centres of the map, shape ``(n, 1, 1)``."""
        return self.map.geom.axes["energy"].center[:, np.newaxis, np.newaxis]

    def evaluate(self) -> Map:
        """``map × spectral(E) [× spatial]`` as a lazy map on the template's geometry."""
        data = self.map.data * self._spectral_model(self.energy_center).to_value("")
        if self._spatial_model is not None:
            data = data * self._spatial_model.evaluate_geom(self.map.geom).value
        return self.map.copy(data=data)

    def copy(self, name: str | None = None, copy_data: bool = False, **kwargs) -> TemplateNPredModel:
        """Copy (the lazy map shared, parameters copied)."""
        kwargs.setdefault("map", self.map)
        kwargs.setdefault("spectral_model", self._spectral_model.copy())
        if self._spatial_model is not None:
            kwargs.setdefault("spatial_model", self._spatial_model.copy())
        kwargs.setdefault("filename", self.filename)
        kwargs.setdefault("datasets_names", self.datasets_names)
        kwargs.setdefault("covariance_data", self.covariance.data.copy())
        return type(self)(name=name, copy_data=copy_data, **kwargs)

    def write(self, overwrite: bool = False) -> None:
        """Write the map to :attr:`filename` (an existing file is kept unless ``overwrite``, with
        a warning, as gammapy does)."""
        if self.filename is None:
            raise ModelError(f"TemplateNPredModel {self.name!r} has no filename to write its map to")
        if resolve(self.filename).exists() and not overwrite:
            log.warning(f"Template file {self.filename} already exists and overwrite is False")
            return
        self.map.write(self.filename, overwrite=overwrite)

    def to_dict(self, full_output: bool = False) -> dict:
        """``name``, ``type``, [``spatial``], ``spectral``, [``filename``], [``datasets_names``]."""
        data: dict = {"name": self.name, "type": self.tag}
        if self._spatial_model is not None:
            data["spatial"] = self._spatial_model.to_dict(full_output)["spatial"]
        data["spectral"] = self._spectral_model.to_dict(full_output)["spectral"]
        if self.filename is not None:
            data["filename"] = self.filename
        if self.datasets_names is not None:
            data["datasets_names"] = list(self.datasets_names)
        return data

    @classmethod
    def from_dict(cls, data: dict, **kwargs) -> TemplateNPredModel:
        """Model from its dictionary; the map is opened lazily from ``filename``."""
        if "filename" not in data:
            raise ModelError(f"TemplateNPredModel {data.get('name')!r}: 'filename' is missing")
        spectral, spatial = data.get("spectral"), data.get("spatial")
        return cls(
            map=Map.read(data["filename"]),
            spectral_model=None if spectral is None else spectral_model_from_dict(spectral),
            spatial_model=None if spatial is None else _spatial_model_from_dict(spatial),
            name=data.get("name"),
            filename=data["filename"],
            datasets_names=data.get("datasets_names"),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, spectral_model={self._spectral_model!r})"


MODEL_REGISTRY.register(SkyModel, FoVBackgroundModel, TemplateNPredModel)
