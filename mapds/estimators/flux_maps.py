"""Flux maps: estimated norms with a reference model converting them to fluxes (gammapy's
``FluxMaps``, the "likelihood" SED type)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from ..maps import Map
from ..modeling.models import PowerLawSpectralModel, SkyModel

__all__ = ["FluxMaps"]

#: Maps stored as they are (no conversion by the reference model).
STORED = (
    "counts",
    "npred",
    "npred_excess",
    "ts",
    "stat",
    "stat_null",
    "niter",
    "success",
    "n_dof",
    "alpha",
    "acceptance_on",
    "acceptance_off",
)
#: Suffixes of the norm quantities (``norm``, ``norm_err``...).
NORM_SUFFIXES = ("", "_err", "_errn", "_errp", "_ul", "_sensitivity")
#: SED types and the reference quantity converting a norm to them.
SED_TYPES = ("dnde", "e2dnde", "flux", "eflux")


class FluxMaps:
    """Maps of estimated norms and related quantities, with a reference model.

    Quantities are read as attributes or items (``maps.sqrt_ts``, ``maps["sqrt_ts"]``); the SED
    types ``dnde``, ``e2dnde``, ``flux`` and ``eflux`` (with the suffixes ``_err``, ``_errn``,
    ``_errp``, ``_ul``, ``_sensitivity``) are the norms times the reference model's value in each
    energy bin.

    Parameters
    ----------
    data : dict of Map
        The maps; ``norm`` is required.
    reference_model : SkyModel or SpectralModel
        Reference model of the norms.
    meta : dict, optional
        Metadata (``n_sigma``, ``n_sigma_ul``, ``sed_type_init``...).
    gti : GTI, optional
        Time intervals of the maps.
    """

    def __init__(self, data, reference_model, meta=None, gti=None, filter_success_nan=True):
        self._data = dict(data)
        if not isinstance(reference_model, SkyModel):
            reference_model = SkyModel(reference_model)
        self._reference_model = reference_model
        self.meta = {} if meta is None else dict(meta)
        self.meta.setdefault("sed_type_init", "likelihood")
        self.gti = gti
        self.filter_success_nan = filter_success_nan

    @classmethod
    def from_maps(cls, maps, sed_type=None, reference_model=None, gti=None, meta=None) -> FluxMaps:
        """From a dictionary of maps in the "likelihood" SED type (norms)."""
        sed_type = "likelihood" if sed_type is None else sed_type
        if sed_type != "likelihood":
            raise InvalidArgumentError(f"FluxMaps.from_maps: only sed_type 'likelihood', got {sed_type!r}")
        if reference_model is None:
            reference_model = cls.reference_model_default()
        return cls(data=dict(maps), reference_model=reference_model, meta=meta, gti=gti)

    @staticmethod
    def reference_model_default() -> SkyModel:
        """A power law of index 2."""
        return SkyModel(PowerLawSpectralModel(index=2))

    # -- description ----------------------------------------------------------------------------

    @property
    def available_quantities(self) -> list[str]:
        """Names of the stored maps."""
        return list(self._data)

    @property
    def reference_model(self) -> SkyModel:
        """Reference model."""
        return self._reference_model

    @property
    def reference_spectral_model(self):
        """Spectral model of the reference model."""
        return self._reference_model.spectral_model

    @property
    def geom(self):
        """Geometry of the norm map."""
        return self._data["norm"].geom

    @property
    def energy_axis(self):
        """Energy axis of the maps."""
        return self.geom.axes["energy"]

    @property
    def energy_ref(self):
        return self.energy_axis.center

    @property
    def energy_min(self):
        return self.energy_axis.edges[:-1]

    @property
    def energy_max(self):
        return self.energy_axis.edges[1:]

    @property
    def n_sigma(self):
        return self.meta.get("n_sigma", 1)

    @property
    def n_sigma_ul(self):
        return self.meta.get("n_sigma_ul")

    @property
    def sqrt_ts_threshold_ul(self):
        return self.meta.get("sqrt_ts_threshold_ul", 2)

    @property
    def sed_type_init(self):
        return self.meta.get("sed_type_init")

    @property
    def has_ul(self) -> bool:
        return "norm_ul" in self._data

    @property
    def has_any_ts(self) -> bool:
        return "ts" in self._data

    # -- quantities -----------------------------------------------------------------------------

    def _check_quantity(self, name: str) -> None:
        if name not in self._data:
            raise AttributeError(f"Quantity '{name}' is not defined on current flux estimate.")

    def _stored(self, name: str) -> Map:
        self._check_quantity(name)
        return self._data[name]

    @property
    def npred_background(self) -> Map:
        """``npred − npred_excess``."""
        return self._stored("npred") - self._stored("npred_excess")

    @property
    def sqrt_ts(self) -> Map:
        """Signed significance (stored, or ``±sqrt(ts)`` with the sign of the norm)."""
        if "sqrt_ts" in self._data:
            return self._data["sqrt_ts"]
        ts = np.clip(self._stored("ts"), 0, None)
        return Map.from_geom(self.geom, data=np.where(self._data["norm"] > 0, np.sqrt(ts), -np.sqrt(ts)))

    def _reference(self, sed_type: str) -> np.ndarray:
        """The reference ``sed_type`` value per energy bin, shaped to broadcast on the maps."""
        axis = self.energy_axis
        model = self.reference_spectral_model
        if sed_type == "dnde":
            value = model(axis.center)
        elif sed_type == "e2dnde":
            value = model(axis.center) * axis.center**2
        elif sed_type == "flux":
            value = model.integral(axis.edges[:-1], axis.edges[1:])
        else:
            value = model.energy_flux(axis.edges[:-1], axis.edges[1:])
        shape = [1] * len(self.geom.data_shape)
        shape[self.geom.axes.index_data("energy")] = -1
        return value.reshape(shape)

    @property
    def dnde_ref(self):
        return self._reference("dnde")

    @property
    def e2dnde_ref(self):
        return self._reference("e2dnde")

    @property
    def flux_ref(self):
        return self._reference("flux")

    @property
    def eflux_ref(self):
        return self._reference("eflux")

    def get(self, name: str) -> Map:
        """A quantity by name (stored map, norm quantity or SED-type conversion)."""
        if name in STORED or name.startswith("norm"):
            return self._stored(name)
        if name == "npred_background":
            return self.npred_background
        if name == "sqrt_ts":
            return self.sqrt_ts
        sed_type, _, suffix = name.partition("_")
        if sed_type in SED_TYPES and suffix == "ref":
            return self._reference(sed_type)
        suffix = f"_{suffix}" if suffix else ""
        if sed_type in SED_TYPES and suffix in NORM_SUFFIXES:
            return self._stored(f"norm{suffix}") * self._reference(sed_type)
        raise AttributeError(f"'{type(self).__name__}' has no quantity {name!r}")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __getitem__(self, item: str):
        return getattr(self, item)

    def compute(self, **kwargs) -> FluxMaps:
        """The same maps computed (one dask computation)."""
        import dask

        names = list(self._data)
        computed = dask.compute(*[self._data[name] for name in names], **kwargs)
        return FluxMaps(dict(zip(names, computed, strict=True)), self._reference_model, self.meta, self.gti)

    def __str__(self) -> str:
        lines = [
            self.__class__.__name__,
            "-" * len(self.__class__.__name__),
            "",
            f"  geom                   : {self.geom.__class__.__name__}",
            f"  axes                   : {self.geom.axes_names}",
            f"  shape                  : {self.geom.data_shape[::-1]}",
            f"  quantities             : {self.available_quantities}",
            f"  ref. model             : {self.reference_spectral_model.tag[-1]}",
            f"  n_sigma                : {self.n_sigma}",
            f"  n_sigma_ul             : {self.n_sigma_ul}",
            f"  sqrt_ts_threshold_ul   : {self.sqrt_ts_threshold_ul}",
            f"  sed type init          : {self.sed_type_init}",
        ]
        return "\n".join(lines) + "\n"
