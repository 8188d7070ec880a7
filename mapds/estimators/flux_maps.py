"""Flux maps: estimated norms with a reference model converting them to fluxes (gammapy's
``FluxMaps``, the "likelihood" SED type)."""

from __future__ import annotations

import dask.array as da
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
    "stat_scan",
    "dnde_scan_values",
)
#: Quantities set to NaN where the fit did not succeed (with ``filter_success_nan``).
FILTERED = ("norm", "norm_err")
#: Suffixes of the norm quantities (``norm``, ``norm_err``...).
NORM_SUFFIXES = ("", "_err", "_errn", "_errp", "_ul", "_sensitivity")
#: SED types and the reference quantity converting a norm to them.
SED_TYPES = ("dnde", "e2dnde", "flux", "eflux")
#: Quantities of each SED type, in gammapy's order (``FluxMaps.all_quantities``).
SED_QUANTITIES = {
    "likelihood": ["norm", "norm_err", "norm_errn", "norm_errp", "norm_ul", "norm_sensitivity"],
    **{
        sed: [sed, f"{sed}_err", f"{sed}_errp", f"{sed}_errn", f"{sed}_ul", f"{sed}_sensitivity"]
        for sed in SED_TYPES
    },
}
#: Quantities of every SED type, in gammapy's order.
COMMON_QUANTITIES = (
    "ts",
    "sqrt_ts",
    "npred",
    "npred_excess",
    "stat",
    "stat_null",
    "stat_scan",
    "dnde_scan_values",
    "niter",
    "is_ul",
    "counts",
    "success",
    "n_dof",
)


def _check_sed_type(sed_type) -> None:
    if sed_type not in SED_QUANTITIES:
        raise InvalidArgumentError(f"Unknown SED type {sed_type!r}; expected one of {list(SED_QUANTITIES)}")


def reference_values(model, geom, sed_type: str):
    """The reference ``sed_type`` value of a spectral model per energy bin of ``geom``, shaped to
    broadcast on its maps (a Quantity)."""
    axis = geom.axes["energy"]
    if sed_type == "dnde":
        value = model(axis.center)
    elif sed_type == "e2dnde":
        value = model(axis.center) * axis.center**2
    elif sed_type == "flux":
        value = model.integral(axis.edges[:-1], axis.edges[1:])
    elif sed_type == "eflux":
        value = model.energy_flux(axis.edges[:-1], axis.edges[1:])
    else:
        _check_sed_type(sed_type)
        raise InvalidArgumentError("The 'likelihood' SED type has no reference values")
    shape = [1] * len(geom.data_shape)
    shape[geom.axes.index_data("energy")] = -1
    return value.reshape(shape)


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
        """From a dictionary of maps in one SED type.

        ``sed_type`` "likelihood" (the default) keeps the maps as they are; "dnde", "e2dnde",
        "flux" and "eflux" divide the SED maps (``dnde``, ``dnde_err``...) by the reference
        model's values into norms and keep the common quantities (``ts``, ``counts``...), as
        gammapy does.
        """
        sed_type = "likelihood" if sed_type is None else sed_type
        _check_sed_type(sed_type)
        required = SED_QUANTITIES[sed_type][0]
        if required not in maps:
            raise InvalidArgumentError(f"Missing data / column for SED type {sed_type!r}: {{{required!r}}}")
        if reference_model is None:
            reference_model = cls.reference_model_default()
        if sed_type == "likelihood":
            return cls(data=dict(maps), reference_model=reference_model, meta=meta, gti=gti)
        if not isinstance(reference_model, SkyModel):
            reference_model = SkyModel(reference_model)
        map_ref = maps[sed_type]
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = reference_values(reference_model.spectral_model, map_ref.geom, sed_type).to(map_ref.unit)
        data = {}
        for name in SED_QUANTITIES[sed_type]:
            if name in maps:
                data[name.replace(sed_type, "norm", 1)] = maps[name] / factor
        data.update({name: maps[name] for name in COMMON_QUANTITIES if name in maps})
        return cls(data=data, reference_model=reference_model, meta=meta, gti=gti)

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
        m = self._data[name]
        if name in FILTERED and self.filter_success_nan and "success" in self._data:
            success = self._data["success"]
            if success.data.shape == m.data.shape:  # lazy: NaN where the fit failed, as gammapy
                return m.copy(data=da.where(da.asarray(success.data, dtype=bool), m.data, np.nan))
        return m

    @property
    def npred_background(self) -> Map:
        """``npred − npred_excess``."""
        return self._stored("npred") - self._stored("npred_excess")

    @property
    def sqrt_ts(self) -> Map:
        """Signed significance (stored, or ``±sqrt(ts)`` with the sign of the norm)."""
        if "sqrt_ts" in self._data:
            return self._data["sqrt_ts"]
        root = da.sqrt(da.clip(self._stored("ts").data, 0, None))  # dask all the way: stays lazy
        return Map.from_geom(self.geom, data=da.where(self._data["norm"].data > 0, root, -root))

    @property
    def is_ul(self) -> Map:
        """Whether each value is an upper limit (stored, or from ``sqrt_ts``, ``norm_ul`` or
        ``norm`` as gammapy decides)."""
        if "is_ul" in self._data:
            return self._data["is_ul"]
        if self.has_any_ts and self.has_ul:
            return self.sqrt_ts < self.sqrt_ts_threshold_ul
        if self.has_ul:
            return np.isfinite(self._data["norm_ul"])
        return np.isnan(self._data["norm"])

    @staticmethod
    def all_quantities(sed_type: str) -> list[str]:
        """The quantities a ``sed_type`` can hold, in gammapy's order."""
        _check_sed_type(sed_type)
        scan = ["stat_scan", "stat"] if sed_type == "likelihood" else []
        return [*SED_QUANTITIES[sed_type], *COMMON_QUANTITIES, *scan]

    def to_maps(self, sed_type=None) -> dict[str, Map]:
        """The maps of ``sed_type`` (default: :attr:`sed_type_init`) that can be computed, lazily,
        in gammapy's order."""
        sed_type = self.sed_type_init if sed_type is None else sed_type
        maps = {}
        for name in self.all_quantities(sed_type):
            if name not in maps:
                try:
                    maps[name] = self.get(name)
                except AttributeError:
                    continue
        return maps

    def _reference(self, sed_type: str) -> np.ndarray:
        """The reference ``sed_type`` value per energy bin, shaped to broadcast on the maps."""
        return reference_values(self.reference_spectral_model, self.geom, sed_type)

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
        if name == "is_ul":
            return self.is_ul
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
        return type(self)(dict(zip(names, computed, strict=True)), self._reference_model, self.meta, self.gti)

    # -- files --------------------------------------------------------------------------------

    def write(
        self,
        filename,
        filename_model=None,
        overwrite=False,
        sed_type=None,
        checksum=False,
        *,
        storage_options=None,
    ) -> None:
        """Write the maps to a FITS file and the reference model to a YAML file, as gammapy does.

        The maps are streamed chunk by chunk into a temporary file, published only once complete.

        Parameters
        ----------
        filename : str or os.PathLike
            FITS file (local or fsspec URL).
        filename_model : str, optional
            YAML file of the reference model; default ``<filename>_model.yaml`` (gammapy's
            default).  Its name goes into the primary ``MODEL`` card.
        overwrite : bool
            Replace existing files; otherwise :class:`~mapds.errors.OverwriteError`.
        sed_type : {None, "likelihood", "dnde", "e2dnde", "flux", "eflux"}
            SED type of the written maps; default :attr:`sed_type_init`.
        checksum : bool
            Add ``CHECKSUM``/``DATASUM`` cards (and a checksum to nothing else: the YAML file
            is written as gammapy writes it).
        storage_options : dict, optional, keyword-only
            fsspec options of the FITS target.
        """
        from .flux_maps_io import write_flux_maps  # deferred: file I/O is not needed to estimate

        write_flux_maps(self, filename, filename_model, overwrite, sed_type, checksum, storage_options)

    @classmethod
    def read(cls, filename, filename_model=None, checksum=False, *, storage_options=None) -> FluxMaps:
        """Read flux maps written by :meth:`write` or gammapy, lazily (headers only).

        Parameters
        ----------
        filename : str or os.PathLike
            FITS file (local or fsspec URL).
        filename_model : str, optional
            YAML file of the reference model; default the primary ``MODEL`` card (as written,
            else next to ``filename``); none: the default reference model.
        checksum : bool
            Verify the FITS checksums.
        storage_options : dict, optional, keyword-only
            fsspec options of the FITS file.
        """
        from .flux_maps_io import read_flux_maps

        return read_flux_maps(
            cls, filename, filename_model=filename_model, checksum=checksum, storage_options=storage_options
        )

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
