"""Twins: the same objects built with gammapy (the reference) and with mapds.

mapds keeps gammapy's names and signatures, so one builder serves both libraries when it takes
the library as an argument: :func:`namespace` gives the classes of one library under their
common names (``ns.MapAxis``, ``ns.WcsGeom``, ``ns.Map``, ``ns.PSFMap``, ``ns.MapDataset``...),
:data:`GAMMAPY` and :data:`MAPDS` are the two namespaces, and the builders below make the same
values in both:

- :func:`build_dataset` / :func:`dataset_pair`: a small dataset with every member;
- :func:`map_pair`: a gammapy map and a mapds map on the same geometry with the same data;
- :func:`sky_model` / :func:`sky_models`: the same sky models (:data:`SOURCES`);
- :class:`GeomReference`: the gammapy twin of a mapds axis or geometry.

gammapy is a test extra, not a dependency of mapds: it is imported only when a gammapy twin is
built (or :data:`GAMMAPY` is first used).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType, SimpleNamespace
from typing import Any

import astropy.units as u
import numpy as np

__all__ = [
    "CHUNKS",
    "GAMMAPY",
    "MAPDS",
    "SOURCES",
    "GeomReference",
    "build_dataset",
    "build_onoff_dataset",
    "dataset_pair",
    "map_pair",
    "namespace",
    "sky_model",
    "sky_models",
]

#: Classes of a namespace, looked up in the library's modules in this order.
_NAMES = (
    "MapAxis",
    "MapAxes",
    "LabelMapAxis",
    "WcsGeom",
    "RegionGeom",
    "Map",
    "RegionNDMap",
    "PSFMap",
    "RecoPSFMap",
    "PSFKernel",
    "EDispKernel",
    "EDispKernelMap",
    "EDispMap",
    "MapDataset",
    "MapDatasetOnOff",
    "SpectrumDataset",
    "Datasets",
    "GTI",
)
_MODULES = {
    "gammapy": ("gammapy.maps", "gammapy.irf", "gammapy.datasets", "gammapy.data"),
    "mapds": ("mapds.geom", "mapds.maps", "mapds.irf", "mapds.datasets", "mapds.data"),
}
_MODEL_MODULES = {"gammapy": "gammapy.modeling.models", "mapds": "mapds.modeling.models"}

#: Chunks of the mapds counts-geometry maps of :func:`build_dataset`: several chunks per image,
#: so that every operation is exercised across chunk boundaries.
CHUNKS = {"x": 8, "y": 6}


@functools.cache
def namespace(library: str) -> SimpleNamespace:
    """The classes of ``library`` under their common names.

    Parameters
    ----------
    library : {"gammapy", "mapds"}
        The library.

    Returns
    -------
    types.SimpleNamespace
        ``name`` (the library's name), ``models`` (its ``modeling.models`` module) and the classes
        ``MapAxis, MapAxes, LabelMapAxis, WcsGeom, RegionGeom, Map, RegionNDMap, PSFMap,
        RecoPSFMap, PSFKernel, EDispKernel, EDispKernelMap, EDispMap, MapDataset,
        SpectrumDataset, Datasets, GTI``.
    """
    if library not in _MODULES:
        raise ValueError(f"namespace: library must be 'gammapy' or 'mapds', got {library!r}")
    modules = [importlib.import_module(name) for name in _MODULES[library]]
    classes = {}
    for name in _NAMES:
        found = [getattr(m, name) for m in modules if hasattr(m, name)]
        if not found:
            raise AttributeError(f"{library} has no {name} in {', '.join(_MODULES[library])}")
        classes[name] = found[0]
    models = importlib.import_module(_MODEL_MODULES[library])
    return SimpleNamespace(name=library, models=models, **classes)


#: ``namespace("gammapy")`` and ``namespace("mapds")``, built on first use (module ``__getattr__``),
#: so that importing this module never imports gammapy.
GAMMAPY: SimpleNamespace
MAPDS: SimpleNamespace


def __getattr__(name: str) -> Any:
    if name == "GAMMAPY":
        return namespace("gammapy")
    if name == "MAPDS":
        return namespace("mapds")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _library(ns: SimpleNamespace | str) -> SimpleNamespace:
    return namespace(ns) if isinstance(ns, str) else ns


# -- one synthetic dataset, identical in both libraries -------------------------------------------


def _dataset_arrays(seed: int, shape, shape_true, shape_psf, shape_kernel, shape_migra) -> dict:
    """Random inputs of a dataset (numpy), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    n_e, ny, nx = shape
    threshold = rng.integers(0, 3, size=(ny, nx))
    mask_safe = np.arange(n_e)[:, None, None] >= threshold
    mask_safe[:, :, 0] = False  # a column without any safe bin
    kernel = rng.uniform(0.0, 1.0, shape_kernel)
    kernel /= kernel.sum(axis=1, keepdims=True)
    return {
        "counts": rng.poisson(3.0, shape).astype("float32"),
        "background": rng.uniform(1.0, 3.0, shape).astype("float32"),
        "exposure": rng.uniform(1e8, 2e9, shape_true).astype("float32"),
        "mask_safe": mask_safe,
        "mask_fit": rng.random(shape) > 0.2,
        "psf_scale": rng.uniform(0.8, 1.2, shape_psf[-2:]).astype("float32"),
        "psf_exposure": rng.uniform(1e8, 2e9, (shape_psf[0], 1, *shape_psf[-2:])).astype("float32"),
        "kernel": kernel.astype("float32"),
        "kernel_exposure": rng.uniform(1e8, 2e9, (shape_kernel[0], 1, *shape_kernel[-2:])).astype("float32"),
        "migra": rng.uniform(0.0, 2.0, shape_migra).astype("float32"),
        "migra_exposure": rng.uniform(1e8, 2e9, (shape_migra[0], 1, *shape_migra[-2:])).astype("float32"),
    }


def build_dataset(
    ns: SimpleNamespace | str,
    seed: int = 0,
    *,
    name: str = "ds",
    edisp: str | None = "kernel",
    npix: tuple[int, int] = (20, 16),
    skydir: tuple[float, float] = (0.0, 0.0),
    livetime: bool = True,
    gti_start: float = 0.0,
    obs_id: int | None = None,
    stat_type: str = "cash",
    nan: bool = False,
) -> Any:
    """A small ``MapDataset`` with every member, the same values in both libraries.

    Counts, exposure, background, PSF, EDisp, both masks, GTI and meta table; the same ``seed``
    gives the same values in gammapy and in mapds.  The mapds maps on the counts grid are in
    :data:`CHUNKS`.

    Parameters
    ----------
    ns : types.SimpleNamespace or {"gammapy", "mapds"}
        The library (a :func:`namespace` or its name).
    seed : int
        Seed of the random values (and the OBS_ID, unless ``obs_id`` is given).
    name : str
        Dataset name.
    edisp : {"kernel", "migra", None}
        ``EDispKernelMap``, ``EDispMap`` or no energy dispersion.
    npix, skydir : tuple
        Counts image size (0.1° pixels, galactic) and centre; the IRF grid has 0.5° pixels over
        the same area.
    livetime : bool
        Put a livetime in the exposure metadata.
    gti_start : float
        Start (s after 2010-01-01 TT) of the two 100 s GTIs, 200 s apart.
    obs_id : int, optional
        OBS_ID of the meta table (default ``seed``).
    stat_type : str
        Fit statistic.
    nan : bool
        Put a NaN in the counts and the exposure and an inf in the background.

    Returns
    -------
    MapDataset
        gammapy's or mapds' dataset.
    """
    from astropy.table import Table
    from astropy.time import Time

    ns = _library(ns)
    energy = ns.MapAxis.from_energy_bounds(1, 10, 4, unit="TeV", name="energy")
    energy_true = ns.MapAxis.from_energy_bounds(0.5, 20, 6, unit="TeV", name="energy_true")
    rad = ns.MapAxis.from_bounds(0, 0.66, 33, unit="deg", name="rad")
    migra = ns.MapAxis.from_bounds(0.2, 5, 12, unit="", name="migra")
    kwargs = {"skydir": skydir, "frame": "galactic"}
    geom = ns.WcsGeom.create(npix=npix, binsz=0.1, axes=[energy], **kwargs)
    irf_image = ns.WcsGeom.create(width=(npix[0] * 0.1, npix[1] * 0.1), binsz=0.5, **kwargs)
    geom_exposure = geom.to_image().to_cube([energy_true])
    geom_psf = irf_image.to_cube([rad, energy_true])
    geom_kernel = irf_image.to_cube([energy, energy_true])
    geom_migra = irf_image.to_cube([migra, energy_true])
    values = _dataset_arrays(
        seed,
        geom.data_shape,
        geom_exposure.data_shape,
        geom_psf.data_shape,
        geom_kernel.data_shape,
        geom_migra.data_shape,
    )
    if nan:
        values["counts"][1, 3, 4] = np.nan
        values["exposure"][2, 5, 6] = np.nan
        values["background"][0, 7, 8] = np.inf

    chunks = {"chunks": CHUNKS} if ns.name == "mapds" else {}

    def make(geom_, data, unit="", counts_grid=True, meta=None):
        extra = chunks if counts_grid else {}
        return ns.Map.from_geom(geom_, data=data.copy(), unit=unit, meta=meta, **extra)

    sigma = np.deg2rad(np.linspace(0.3, 0.1, energy_true.nbin))[:, None]
    theta = np.deg2rad(rad.center.to_value("deg"))[None, :]
    profile = np.exp(-0.5 * (theta / sigma) ** 2) / (2 * np.pi * sigma**2)
    psf_data = (profile[:, :, None, None] * values["psf_scale"]).astype("float32")
    psf = ns.PSFMap(
        make(geom_psf, psf_data, "sr-1", counts_grid=False),
        make(geom_psf.squash("rad"), values["psf_exposure"], "m2 s", counts_grid=False),
    )
    if edisp == "kernel":
        edisp_map = ns.EDispKernelMap(
            make(geom_kernel, values["kernel"], counts_grid=False),
            make(geom_kernel.squash("energy"), values["kernel_exposure"], "m2 s", counts_grid=False),
        )
    elif edisp == "migra":
        edisp_map = ns.EDispMap(
            make(geom_migra, values["migra"], counts_grid=False),
            make(geom_migra.squash("migra"), values["migra_exposure"], "m2 s", counts_grid=False),
        )
    elif edisp is None:
        edisp_map = None
    else:
        raise ValueError(f"build_dataset: edisp must be 'kernel', 'migra' or None, got {edisp!r}")

    reference = Time("2010-01-01T00:00:00", scale="tt")
    start = gti_start + np.array([0.0, 200.0])
    gti = ns.GTI.create(start * u.s, (start + 100.0) * u.s, reference_time=reference)
    meta_table = Table(
        {
            "OBS_ID": [seed if obs_id is None else obs_id],
            "TELESCOP": ["CTA"],
            "RA_PNT": u.Quantity([83.6 + seed], "deg"),
        }
    )
    meta = {"livetime": u.Quantity(1000.0 * (seed + 1), "s")} if livetime else None
    return ns.MapDataset(
        counts=make(geom, values["counts"]),
        exposure=make(geom_exposure, values["exposure"], "m2 s", meta=meta),
        background=make(geom, values["background"]),
        psf=psf,
        edisp=edisp_map,
        mask_safe=make(geom, values["mask_safe"]),
        mask_fit=make(geom, values["mask_fit"]),
        gti=gti,
        meta_table=meta_table,
        name=name,
        stat_type=stat_type,
    )


def build_onoff_dataset(
    ns: SimpleNamespace | str, seed: int = 0, *, zeros: bool = True, name: str = "ds", **kwargs: Any
) -> Any:
    """A small ``MapDatasetOnOff``, the same values in both libraries: :func:`build_dataset`'s
    exposure, IRFs, masks, GTI and meta table with on counts, off counts, acceptance and
    acceptance_off of their own.

    Parameters
    ----------
    ns : types.SimpleNamespace or {"gammapy", "mapds"}
        The library.
    seed : int
        Seed of the values.
    zeros : bool
        Put the special cases of WStat in: bins with no on counts, no off counts, an
        acceptance_off of 0 (alpha 0, or the largest float where the acceptance is not 0).
    name : str
        Dataset name.
    **kwargs
        Passed to :func:`build_dataset` (not ``stat_type``).

    Returns
    -------
    MapDatasetOnOff
        gammapy's or mapds' dataset.
    """
    ns = _library(ns)
    dataset = build_dataset(ns, seed, name=name, **kwargs)
    shape = dataset.counts.geom.data_shape
    rng = np.random.default_rng(seed + 1000)
    counts_off = rng.poisson(30.0, shape).astype("float32")
    acceptance = rng.uniform(0.5, 1.5, shape).astype("float32")
    acceptance_off = rng.uniform(3.0, 12.0, shape).astype("float32")
    if zeros:
        counts_off[:, 1, 1:4] = 0
        acceptance_off[:, 2, 2] = 0
        acceptance_off[:, 3, 3] = 0
        acceptance[:, 3, 3] = 0
    chunks = {"chunks": CHUNKS} if ns.name == "mapds" else {}

    def make(data):
        return ns.Map.from_geom(dataset.counts.geom, data=data.copy(), unit="", **chunks)

    counts = rng.poisson(4.0, shape).astype("float32")
    if zeros:
        counts[:, 4, 1:4] = 0
        counts[:, 1, 2] = 0
    return ns.MapDatasetOnOff(
        counts=make(counts),
        counts_off=make(counts_off),
        acceptance=make(acceptance),
        acceptance_off=make(acceptance_off),
        exposure=dataset.exposure,
        psf=dataset.psf,
        edisp=dataset.edisp,
        mask_safe=dataset.mask_safe,
        mask_fit=dataset.mask_fit,
        gti=dataset.gti,
        meta_table=dataset.meta_table,
        name=name,
    )


def dataset_pair(seed: int = 0, **kwargs: Any) -> tuple[Any, Any]:
    """``(gammapy dataset, mapds dataset)`` built by :func:`build_dataset` from the same values.

    Parameters
    ----------
    seed : int
        Seed of the values.
    **kwargs
        Passed to :func:`build_dataset`.

    Returns
    -------
    tuple
        ``(gammapy.datasets.MapDataset, mapds.datasets.MapDataset)``.
    """
    return build_dataset("gammapy", seed, **kwargs), build_dataset("mapds", seed, **kwargs)


# -- one map, identical in both libraries ----------------------------------------------------------


def map_pair(
    rng: np.random.Generator | int | None = None,
    *,
    npix: tuple[int, int] = (8, 6),
    binsz: float = 0.5,
    nbin: int = 4,
    dtype: str = "float32",
    skydir: tuple[float, float] = (10.0, 20.0),
    frame: str = "icrs",
    proj: str = "CAR",
    unit: str = "",
    chunks: tuple[int, ...] = (2, 3, 4),
    data: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """A gammapy map and a mapds map on the same WCS geometry holding the same data.

    Parameters
    ----------
    rng : numpy.random.Generator or int, optional
        Source (or seed) of the random data when ``data`` is not given.
    npix, binsz, skydir, frame, proj
        ``WcsGeom.create`` arguments.
    nbin : int
        Energy bins (1 to 10 TeV); 0 for an image.
    dtype : str
        Data type of the random data (``"bool"``: about 40 % True).
    unit : str
        Map unit.
    chunks : tuple of int
        mapds chunks (the last two are used for an image).
    data : numpy.ndarray, optional
        The data (copied into each map).

    Returns
    -------
    tuple
        ``(gammapy map, mapds map)``.
    """
    import gammapy.maps as gmaps

    from mapds.geom import MapAxis, WcsGeom
    from mapds.maps import Map

    rng = np.random.default_rng(rng)
    g_axes = [gmaps.MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")] if nbin else None
    m_axes = [MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")] if nbin else None
    kwargs = {"npix": npix, "binsz": binsz, "skydir": skydir, "frame": frame, "proj": proj}
    g_geom = gmaps.WcsGeom.create(axes=g_axes, **kwargs)
    m_geom = WcsGeom.create(axes=m_axes, **kwargs)
    if data is None:
        if np.dtype(dtype) == bool:
            data = rng.random(g_geom.data_shape) > 0.6
        else:
            data = rng.normal(1.0, 1.0, size=g_geom.data_shape).astype(dtype)
    chunks = chunks if nbin else chunks[-2:]
    return (
        gmaps.Map.from_geom(g_geom, data=data.copy(), unit=unit),
        Map.from_geom(m_geom, data=data.copy(), unit=unit, chunks=chunks),
    )


# -- the same sky models in both libraries ---------------------------------------------------------

#: Sources of :func:`sky_model`: name -> (spatial kind, lon, lat, spectral kind).  Positions refer
#: to the datasets of :func:`build_dataset` (0.1° pixels, 2° × 1.6° around galactic (0, 0) by
#: default): inside, at the "edge" (the cutout is trimmed by the map border) and outside (beyond
#: the map, contributing only through the PSF, or not at all).
SOURCES = {
    "point": ("point", 0.3, -0.2, "pl"),
    "gauss": ("gauss", -0.45, 0.3, "pl"),
    "disk": ("disk", 0.55, 0.35, "lp"),
    "edge": ("gauss", -0.95, -0.7, "pl"),
    "point-edge": ("point", 0.98, 0.1, "ecpl"),
    "near": ("point", 1.15, 0.0, "pl"),
    "outside": ("point", 5.0, 5.0, "pl"),
}


def _models_module(library: SimpleNamespace | str | ModuleType) -> ModuleType:
    if isinstance(library, ModuleType):
        return library
    if isinstance(library, str):
        if library not in _MODEL_MODULES:
            raise ValueError(f"library must be 'gammapy' or 'mapds', got {library!r}")
        return importlib.import_module(_MODEL_MODULES[library])
    return library.models


def spectral_model(library: SimpleNamespace | str | ModuleType, kind: str, scale: float = 1.0) -> Any:
    """A spectral model of :func:`sky_model`: ``"pl"``, ``"lp"`` or ``"ecpl"``.

    Parameters
    ----------
    library : {"gammapy", "mapds"}, namespace or module
        The library (or its ``modeling.models`` module).
    kind : {"pl", "lp", "ecpl"}
        Power law, log-parabola or power law with exponential cut-off.
    scale : float
        Factor on the amplitude (2e-11 cm-2 s-1 TeV-1).

    Returns
    -------
    SpectralModel
        The library's spectral model.
    """
    lib = _models_module(library)
    amplitude = f"{2e-11 * scale} cm-2 s-1 TeV-1"
    if kind == "pl":
        return lib.PowerLawSpectralModel(index=2.4, amplitude=amplitude)
    if kind == "lp":
        return lib.LogParabolaSpectralModel(amplitude=amplitude, reference="2 TeV", alpha=2.1, beta=0.2)
    if kind == "ecpl":
        return lib.ExpCutoffPowerLawSpectralModel(amplitude=amplitude, index=2.0, lambda_="0.1 TeV-1")
    raise ValueError(kind)


def spatial_model(
    library: SimpleNamespace | str | ModuleType, kind: str | None, lon: float, lat: float
) -> Any:
    """A spatial model of :func:`sky_model` at galactic ``(lon, lat)`` (degrees).

    Parameters
    ----------
    library : {"gammapy", "mapds"}, namespace or module
        The library (or its ``modeling.models`` module).
    kind : {"point", "gauss", "disk", "const", None}
        Point, Gaussian (σ 0.15°), disk (r 0.25°), constant (1e-3 sr-1) or none.
    lon, lat : float
        Position in degrees.

    Returns
    -------
    SpatialModel or None
        The library's spatial model (None for ``kind=None``).
    """
    lib = _models_module(library)
    position = {"lon_0": f"{lon} deg", "lat_0": f"{lat} deg", "frame": "galactic"}
    if kind == "point":
        return lib.PointSpatialModel(**position)
    if kind == "gauss":
        return lib.GaussianSpatialModel(sigma="0.15 deg", **position)
    if kind == "disk":
        return lib.DiskSpatialModel(r_0="0.25 deg", **position)
    if kind == "const":
        return lib.ConstantSpatialModel(value="1e-3 sr-1")
    if kind is None:
        return None
    raise ValueError(kind)


def sky_model(
    library: SimpleNamespace | str,
    name: str,
    apply_irf: dict | None = None,
    scale: float = 1.0,
) -> Any:
    """One of :data:`SOURCES` (or ``"const"``, ``"spectral-only"``) as a ``SkyModel``.

    Parameters
    ----------
    library : {"gammapy", "mapds"} or namespace
        The library.
    name : str
        A key of :data:`SOURCES`, ``"const"`` (a constant spatial model) or ``"spectral-only"``.
    apply_irf : dict, optional
        ``SkyModel.apply_irf`` entries to change (the others stay True).
    scale : float
        Factor on the amplitude.

    Returns
    -------
    SkyModel
        The library's sky model, named ``name``.
    """
    lib = _models_module(library)
    if name == "const":
        spatial, spectral = spatial_model(lib, "const", 0, 0), spectral_model(lib, "pl", 1e3 * scale)
    elif name == "spectral-only":
        spatial, spectral = None, spectral_model(lib, "pl", 1e-7 * scale)
    else:
        kind, lon, lat, spectral_kind = SOURCES[name]
        spatial, spectral = spatial_model(lib, kind, lon, lat), spectral_model(lib, spectral_kind, scale)
    kwargs = {}
    if apply_irf is not None:  # gammapy needs every key
        kwargs["apply_irf"] = {"exposure": True, "psf": True, "edisp": True, **apply_irf}
    return lib.SkyModel(spectral_model=spectral, spatial_model=spatial, name=name, **kwargs)


def sky_models(
    library: SimpleNamespace | str,
    names,
    dataset_name: str = "ds",
    fov: tuple[float, float] | None = (1.1, 0.1),
    apply_irf: dict | None = None,
) -> Any:
    """``Models`` of :func:`sky_model` ``names`` plus, unless ``fov`` is None, a FoV background.

    Parameters
    ----------
    library : {"gammapy", "mapds"} or namespace
        The library.
    names : iterable of str
        Sky models (see :func:`sky_model`).
    dataset_name : str
        Dataset of the ``FoVBackgroundModel``.
    fov : tuple of float, optional
        ``(norm, tilt)`` of the FoV background model; None for none.
    apply_irf : dict, optional
        Passed to :func:`sky_model`.

    Returns
    -------
    Models
        The library's ``Models``.
    """
    lib = _models_module(library)
    out = [sky_model(library, name, apply_irf) for name in names]
    if fov is not None:
        background = lib.FoVBackgroundModel(dataset_name=dataset_name)
        background.spectral_model.norm.value, background.spectral_model.tilt.value = fov
        out.append(background)
    return lib.Models(out)


# -- gammapy twins of mapds geometries -------------------------------------------------------------


class GeomReference:
    """Builds the gammapy twin of a mapds axis or geometry from public constructor arguments.

    Parameters
    ----------
    maps : module, optional
        ``gammapy.maps`` (imported when not given).
    """

    def __init__(self, maps: ModuleType | None = None):
        self.maps = maps if maps is not None else importlib.import_module("gammapy.maps")

    def axis(self, axis: Any) -> Any:
        """The gammapy ``MapAxis`` (or ``LabelMapAxis``) equal to a mapds one."""
        from mapds.geom import LabelMapAxis

        if isinstance(axis, LabelMapAxis):
            return self.maps.LabelMapAxis(list(axis.center), name=axis.name)
        return self.maps.MapAxis(
            axis.nodes, interp=axis.interp, name=axis.name, node_type=axis.node_type, unit=axis.unit
        )

    def axes(self, axes: Any) -> list:
        """The gammapy twins of mapds axes."""
        return [self.axis(axis) for axis in axes]

    def wcs_create(self, **kwargs: Any) -> Any:
        """``gammapy.maps.WcsGeom.create`` with mapds axes in ``axes`` converted."""
        kwargs["axes"] = self.axes(kwargs.get("axes") or [])
        return self.maps.WcsGeom.create(**kwargs)

    def region_create(self, region: Any, **kwargs: Any) -> Any:
        """``gammapy.maps.RegionGeom.create`` with mapds axes in ``axes`` converted."""
        kwargs["axes"] = self.axes(kwargs.get("axes") or [])
        return self.maps.RegionGeom.create(region, **kwargs)
