"""The synthetic Galactic-plane survey of mapds' performance baseline, as a lazy `MapDataset`.

A *case* is a dict in the schema of ``survey-benchmark-cases.json`` (the benchmark cases of the
project): a CAR grid centred on (0°, 0°), 10 reco and 15 true log energy bins, and

- exposure ``1e13 cm² s × aeff(E_true) × (1 + 0.2 cos(2π l / 5°)) × exp(−b² / (2 · 4°²))`` with
  ``aeff(E) = 1 / (1 + (E / 0.3 TeV)^−3)``;
- background ``2 (E / 0.1 TeV)^−1.5 × aeff(E) ×`` the same spatial factor (counts per voxel);
- a Gaussian PSF map, σ(E_true) = clip(0.1° (E_true / TeV)^−0.2, 0.04°, 0.2°), and a Gaussian energy
  dispersion (kernel map σ = 0.15, an ``EDispMap`` over migra, or none), on a 0.5° grid;
- point (even) and Gaussian (odd) power-law sources plus a FoV background model; mask_safe all True;
  one GTI of 1800 s.

Every map is a dask graph computed chunk by chunk from these formulas: a survey of 10⁹ voxels is
built without allocating it.  :func:`make_survey_case` draws a small case of any size for demos.
"""

from __future__ import annotations

import astropy.units as u
import dask.array as da
import numpy as np

from ..data import GTI
from ..datasets import MapDataset
from ..geom import MapAxis, WcsGeom
from ..irf import EDispKernelMap, EDispMap, PSFMap
from ..maps import Map
from ..modeling.models import (
    FoVBackgroundModel,
    GaussianSpatialModel,
    Models,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)

__all__ = [
    "BACKGROUND0",
    "EDISP_SIGMA",
    "EXPOSURE0",
    "LIVETIME",
    "aeff",
    "background_rate",
    "fit_start_models",
    "make_clustered_case",
    "make_survey_case",
    "migra_density",
    "psf_sigma",
    "spatial_factor",
    "survey_axes",
    "survey_dataset",
    "survey_geom",
    "survey_models",
]

#: Exposure scale (cm² s) and livetime (s) of the survey.
EXPOSURE0 = 1e13
LIVETIME = 1800.0
#: Background counts per voxel at 0.1 TeV.
BACKGROUND0 = 2.0
#: Width of the Gaussian energy dispersion (in ``migra = E_reco / E_true``; no bias).
EDISP_SIGMA = 0.15


# -- formulas (numpy or dask arrays) ----------------------------------------------------------------


def aeff(energy_tev):
    """Relative effective area at ``energy_tev``."""
    return 1.0 / (1.0 + (energy_tev / 0.3) ** -3)


def spatial_factor(lon_deg, lat_deg):
    """Spatial modulation of exposure and background (a 5° ripple in l, a 4° Gaussian in b)."""
    lon = (lon_deg + 180.0) % 360.0 - 180.0
    return (1.0 + 0.2 * np.cos(2 * np.pi * lon / 5.0)) * np.exp(-(lat_deg**2) / (2 * 4.0**2))


def background_rate(energy_tev):
    """Background counts per voxel at reco ``energy_tev`` (before the spatial factor)."""
    return BACKGROUND0 * (energy_tev / 0.1) ** -1.5 * aeff(energy_tev)


def psf_sigma(energy_tev):
    """Gaussian PSF width (deg) at true ``energy_tev``."""
    return np.clip(0.1 * energy_tev**-0.2, 0.04, 0.2)


def migra_density(migra):
    """Gaussian migration density (per unit ``migra``) of the ``EDispMap`` variant."""
    return np.exp(-0.5 * ((migra - 1.0) / EDISP_SIGMA) ** 2) / (np.sqrt(2 * np.pi) * EDISP_SIGMA)


# -- cases ------------------------------------------------------------------------------------------


def make_survey_case(
    width_deg: float = 6.0,
    height_deg: float = 3.0,
    binsz_deg: float = 0.02,
    n_models: int = 5,
    seed: int = 0,
    edisp: str = "kernel",
) -> dict:
    """A survey case (benchmark schema) with ``n_models`` sources drawn from ``seed``.

    Sources are placed uniformly inside 90 % × 80 % of the map; amplitudes 1e-12–1e-11
    cm⁻² s⁻¹ TeV⁻¹, indices 2.0–2.8, Gaussian widths 0.05°–0.3°.
    """
    rng = np.random.default_rng(seed)
    npix = [int(np.rint(width_deg / binsz_deg)), int(np.rint(height_deg / binsz_deg))]
    models = []
    for idx in range(n_models):
        point = idx % 2 == 0
        models.append(
            {
                "name": f"src{idx:03d}",
                "spatial": "point" if point else "gauss",
                "lon_0_deg": float(rng.uniform(-0.45, 0.45) * width_deg),
                "lat_0_deg": float(rng.uniform(-0.4, 0.4) * height_deg),
                "sigma_deg": None if point else float(rng.uniform(0.05, 0.3)),
                "spectral": "pl",
                "amplitude_cm-2s-1TeV-1": float(10 ** rng.uniform(-12, -11)),
                "index": float(rng.uniform(2.0, 2.8)),
                "reference_TeV": 1.0,
            }
        )
    return {
        "skydir_deg": [0.0, 0.0],
        "frame": "galactic",
        "proj": "CAR",
        "binsz_deg": binsz_deg,
        "npix": npix,
        "energy_reco": {"lo_TeV": 0.1, "hi_TeV": 100.0, "nbin": 10},
        "energy_true": {"lo_TeV": 0.05, "hi_TeV": 200.0, "nbin": 15},
        "binsz_irf_deg": 0.5,
        "rad_axis": {"lo_deg": 0.0, "hi_deg": 0.66, "nbin": 66},
        "edisp": edisp,
        "n_migra": 48,
        "n_models": n_models,
        "models_params": models,
        "fov_background_model": {"norm": 1.0, "tilt": 0.0, "reference_TeV": 1.0},
        "fake_random_state": seed,
    }


def make_clustered_case(
    centres_deg=(-4.5, -1.5, 1.5, 4.5),
    offsets_deg=((0.0, 0.0), (0.5, 0.2), (-0.3, -0.4)),
    width_deg: float = 12.0,
    height_deg: float = 2.4,
    binsz_deg: float = 0.02,
    nbin_reco: int = 5,
    seed: int = 0,
) -> dict:
    """A survey case whose point sources come in clusters (the catalogue-fit case).

    One cluster per longitude of ``centres_deg`` (at latitude 0), one source per ``(dl, db)`` of
    ``offsets_deg`` in each, named ``c<cluster>s<source>``; power laws of index 2.3 and amplitudes
    10^-11.4–10^-11 cm⁻² s⁻¹ TeV⁻¹ drawn from ``seed``.
    """
    case = make_survey_case(width_deg, height_deg, binsz_deg, seed=seed)
    case["energy_reco"]["nbin"] = nbin_reco
    rng = np.random.default_rng(seed)
    case["models_params"] = [
        {
            "name": f"c{c}s{j}",
            "spatial": "point",
            "lon_0_deg": float(lon + dl),
            "lat_0_deg": float(db),
            "sigma_deg": None,
            "spectral": "pl",
            "amplitude_cm-2s-1TeV-1": float(10 ** rng.uniform(-11.4, -11.0)),
            "index": 2.3,
            "reference_TeV": 1.0,
        }
        for c, lon in enumerate(centres_deg)
        for j, (dl, db) in enumerate(offsets_deg)
    ]
    case["n_models"] = len(case["models_params"])
    return case


def fit_start_models(case: dict, dataset_name: str = "survey") -> Models:
    """The case's models set up for a catalogue fit: each source's position and amplitude free and
    started away from the truth (longitude +0.02°, amplitude × 1.3), the background norm free,
    every other parameter frozen."""
    models = survey_models(case, dataset_name)
    for model in models:
        for par in model.parameters:
            par.frozen = True
        if isinstance(model, FoVBackgroundModel):
            model.parameters["norm"].frozen = False
            continue
        for name in ("lon_0", "lat_0", "amplitude"):
            model.parameters[name].frozen = False
        model.parameters["lon_0"].value += 0.02
        model.parameters["amplitude"].value *= 1.3
    return models


def survey_axes(case: dict) -> tuple[MapAxis, MapAxis, MapAxis, MapAxis]:
    """``(energy, energy_true, rad, migra)`` axes of a case."""
    reco, true, rad = case["energy_reco"], case["energy_true"], case["rad_axis"]
    energy = MapAxis.from_energy_bounds(reco["lo_TeV"], reco["hi_TeV"], reco["nbin"], unit="TeV")
    energy_true = MapAxis.from_energy_bounds(
        true["lo_TeV"], true["hi_TeV"], true["nbin"], unit="TeV", name="energy_true"
    )
    rad_axis = MapAxis.from_bounds(rad["lo_deg"], rad["hi_deg"], rad["nbin"], unit="deg", name="rad")
    migra_axis = MapAxis.from_bounds(0.2, 5, case["n_migra"], name="migra")
    return energy, energy_true, rad_axis, migra_axis


def survey_geom(case: dict) -> WcsGeom:
    """Counts geometry of a case."""
    return WcsGeom.create(
        skydir=tuple(case["skydir_deg"]),
        npix=tuple(case["npix"]),
        binsz=case["binsz_deg"],
        frame=case["frame"],
        proj=case["proj"],
        axes=[survey_axes(case)[0]],
    )


def survey_models(case: dict, dataset_name: str = "survey") -> Models:
    """The case's sources (power laws; point or Gaussian) and its FoV background model."""
    models = []
    for params in case["models_params"]:
        spectral = PowerLawSpectralModel(
            index=params["index"],
            amplitude=params["amplitude_cm-2s-1TeV-1"] * u.Unit("cm-2 s-1 TeV-1"),
            reference=params["reference_TeV"] * u.TeV,
        )
        position = {
            "lon_0": params["lon_0_deg"] * u.deg,
            "lat_0": params["lat_0_deg"] * u.deg,
            "frame": case["frame"],
        }
        if params["spatial"] == "point":
            spatial = PointSpatialModel(**position)
        else:
            spatial = GaussianSpatialModel(sigma=params["sigma_deg"] * u.deg, **position)
        models.append(SkyModel(spectral, spatial, name=params["name"]))
    fov = case["fov_background_model"]
    background = FoVBackgroundModel(dataset_name=dataset_name)
    background.spectral_model.norm.value = fov["norm"]
    background.spectral_model.tilt.value = fov["tilt"]
    return Models([*models, background])


def _survey_irfs(case: dict, geom: WcsGeom):
    energy, energy_true, rad_axis, migra_axis = survey_axes(case)
    irf_image = geom.to_image().to_binsz(case["binsz_irf_deg"])
    sigma = psf_sigma(energy_true.center.to_value("TeV")) * u.deg
    psf = PSFMap.from_gauss(energy_true, rad_axis=rad_axis, sigma=sigma, geom=irf_image)
    if case["edisp"] == "kernel":
        return psf, EDispKernelMap.from_gauss(energy, energy_true, sigma=EDISP_SIGMA, bias=0, geom=irf_image)
    if case["edisp"] == "migra":
        # The same density at every IRF pixel and true energy (float32, as the kernel maps).
        edisp_geom = irf_image.to_cube([migra_axis, energy_true])
        density = migra_density(migra_axis.center.value).astype(np.float32)[None, :, None, None]
        return psf, EDispMap(Map.from_geom(edisp_geom, data=da.broadcast_to(density, edisp_geom.data_shape)))
    return psf, None


def survey_dataset(case: dict, *, chunks=None, name: str = "survey", with_counts: bool = True) -> MapDataset:
    """The survey as a lazy `MapDataset` (nothing is computed here).

    Parameters
    ----------
    case : dict
        A case (see :func:`make_survey_case` or the benchmark cases file).
    chunks : optional, keyword-only
        Chunks of the counts-grid maps (``Map`` semantics; default ~64 MiB tiles × all energies).
    name : str
        Dataset name.
    with_counts : bool
        Draw counts from npred (``MapDataset.fake`` with the case's seed).
    """
    geom = survey_geom(case)
    energy, energy_true, _, _ = survey_axes(case)
    template = Map.from_geom(geom, dtype="float32", chunks=chunks)
    coords = geom.to_image().get_coord(chunks=template.chunks[-2:])
    spatial = spatial_factor(coords["lon"], coords["lat"]).astype(np.float32)

    def cube(spectrum) -> da.Array:
        return da.from_array(np.asarray(spectrum, np.float32)[:, None, None], chunks=-1) * spatial[None]

    exposure = cube(EXPOSURE0 * aeff(energy_true.center.to_value("TeV")))
    background = cube(background_rate(energy.center.to_value("TeV"))).rechunk(template.chunks)
    psf, edisp = _survey_irfs(case, geom)
    dataset = MapDataset(
        exposure=Map.from_geom(
            geom.to_image().to_cube([energy_true]),
            data=exposure,
            unit="cm2 s",
            meta={"livetime": LIVETIME * u.s},
        ),
        background=Map.from_geom(geom, data=background),
        psf=psf,
        edisp=edisp,
        mask_safe=Map.from_geom(geom, data=da.ones(geom.data_shape, dtype=bool, chunks=template.chunks)),
        gti=GTI.create([0.0] * u.s, [LIVETIME] * u.s, reference_time="2000-01-01"),
        name=name,
    )
    dataset.models = survey_models(case, dataset_name=name)
    if with_counts:
        dataset.fake(random_state=case["fake_random_state"])
    return dataset
