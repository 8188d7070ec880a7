"""The synthetic survey case of the performance baseline, built in mapds and in gammapy.

``/work/shared/reference/performance-baseline.md`` defines it; ``survey-benchmark-cases.json``
gives the exact numbers per size (pick a case by label or ``WIDTHxHEIGHT`` and a number of
models).  Both libraries get the same values:

- exposure ``1e13 cm2 s × aeff(E_true) × (1 + 0.2 cos(2π l / 5°)) × exp(−b² / (2 · 4°²))``,
  background ``2 (E / 0.1 TeV)^−1.5 × aeff(E) ×`` the same spatial factor (float32 maps, pixel
  centres and bin centres), ``aeff(E) = 1 / (1 + (E / 0.3 TeV)^−3)``;
- a Gaussian ``PSFMap`` (σ = clip(0.1° (E/TeV)^−0.2, 0.04°, 0.2°)) and a Gaussian EDisp (kernel
  map σ = 0.15, or an ``EDispMap``, or none) on a 0.5° grid; mask_safe all True; one 1800 s GTI;
- point and Gaussian power-law sources from the JSON plus a FoV background model;
- counts drawn from npred chunk by chunk (a Poisson draw seeded by the chunk index), so that they
  never sit in memory at once in mapds; the gammapy dataset gets the same counts.

The mapds dataset is lazy: every map is a dask graph built chunk by chunk from the formulas, so
building it computes nothing.  Write it to a file and read it back to measure from storage.

Usage from a benchmark::

    from survey_case import load_case, mapds_dataset, gammapy_dataset
    case = load_case("w40_h8_b0.02_e10_t15_kernel", n_models=5)
    dataset = mapds_dataset(case)                  # lazy, counts = Poisson(npred) per chunk
    reference = gammapy_dataset(case, counts=np.asarray(dataset.counts.data))
"""

from __future__ import annotations

import json
from pathlib import Path

import astropy.units as u
import dask.array as da
import numpy as np

CASES_FILE = Path("/work/shared/reference/survey-benchmark-cases.json")

EXPOSURE0 = 1e13  # cm2 s
BACKGROUND0 = 2.0  # counts per voxel at 0.1 TeV
LIVETIME = 1800.0  # s


def load_case(spec: str, n_models: int = 5, cases_file: Path = CASES_FILE) -> dict:
    """The case whose label (or ``WIDTHxHEIGHT`` in pixels) is ``spec``, with ``n_models`` sources."""
    cases = json.loads(Path(cases_file).read_text())
    for case in cases:
        size = "x".join(map(str, case["npix"]))
        if spec in (case["label"], size) and case["n_models"] == n_models:
            return case
    known = sorted({c["label"] for c in cases})
    raise KeyError(f"No case {spec!r} with {n_models} models; known labels: {', '.join(known)}")


# -- formulas (numpy or dask) -----------------------------------------------------------------------


def aeff(energy_tev):
    return 1.0 / (1.0 + (energy_tev / 0.3) ** -3)


def spatial_factor(lon_deg, lat_deg):
    lon = (lon_deg + 180.0) % 360.0 - 180.0
    return (1.0 + 0.2 * np.cos(2 * np.pi * lon / 5.0)) * np.exp(-(lat_deg**2) / (2 * 4.0**2))


def psf_sigma(energy_tev):
    return np.clip(0.1 * energy_tev**-0.2, 0.04, 0.2)


# -- shared construction ----------------------------------------------------------------------------


def _axes(lib, case):
    reco, true = case["energy_reco"], case["energy_true"]
    energy = lib.MapAxis.from_energy_bounds(reco["lo_TeV"], reco["hi_TeV"], reco["nbin"], unit="TeV")
    energy_true = lib.MapAxis.from_energy_bounds(
        true["lo_TeV"], true["hi_TeV"], true["nbin"], unit="TeV", name="energy_true"
    )
    rad = case["rad_axis"]
    rad_axis = lib.MapAxis.from_bounds(rad["lo_deg"], rad["hi_deg"], rad["nbin"], unit="deg", name="rad")
    migra_axis = lib.MapAxis.from_bounds(0.2, 5, case["n_migra"], name="migra")
    return energy, energy_true, rad_axis, migra_axis


def _geoms(lib, case):
    energy, energy_true, rad_axis, migra_axis = _axes(lib, case)
    geom = lib.WcsGeom.create(
        skydir=tuple(case["skydir_deg"]),
        npix=tuple(case["npix"]),
        binsz=case["binsz_deg"],
        frame=case["frame"],
        proj=case["proj"],
        axes=[energy],
    )
    irf_image = geom.to_image().to_binsz(case["binsz_irf_deg"])
    return geom, irf_image, energy, energy_true, rad_axis, migra_axis


def _irfs(lib, case, irf_image, energy, energy_true, rad_axis, migra_axis):
    sigma = psf_sigma(energy_true.center.to_value("TeV")) * u.deg
    psf = lib.PSFMap.from_gauss(energy_true, rad_axis=rad_axis, sigma=sigma, geom=irf_image)
    edisp = None
    if case["edisp"] == "kernel":
        edisp = lib.EDispKernelMap.from_gauss(energy, energy_true, sigma=0.15, bias=0, geom=irf_image)
    elif case["edisp"] == "migra":
        # a Gaussian migration density (σ = 0.15, no bias) at every IRF pixel and true energy
        migra = migra_axis.center.value
        density = np.exp(-0.5 * ((migra - 1.0) / 0.15) ** 2) / (np.sqrt(2 * np.pi) * 0.15)
        geom = irf_image.to_cube([migra_axis, energy_true])
        data = np.broadcast_to(density[None, :, None, None], geom.data_shape).astype(np.float32)
        edisp = lib.EDispMap(lib.Map.from_geom(geom, data=data))
    return psf, edisp


def _models(lib, case, dataset_name):
    models = []
    for p in case["models_params"]:
        spectral = lib.PowerLawSpectralModel(
            index=p["index"],
            amplitude=p["amplitude_cm-2s-1TeV-1"] * u.Unit("cm-2 s-1 TeV-1"),
            reference=p["reference_TeV"] * u.TeV,
        )
        position = {"lon_0": p["lon_0_deg"] * u.deg, "lat_0": p["lat_0_deg"] * u.deg, "frame": case["frame"]}
        if p["spatial"] == "point":
            spatial = lib.PointSpatialModel(**position)
        else:
            spatial = lib.GaussianSpatialModel(sigma=p["sigma_deg"] * u.deg, **position)
        models.append(lib.SkyModel(spectral, spatial, name=p["name"]))
    fov = case["fov_background_model"]
    background = lib.FoVBackgroundModel(dataset_name=dataset_name)
    background.spectral_model.norm.value = fov["norm"]
    background.spectral_model.tilt.value = fov["tilt"]
    return [*models, background]


def _gti(lib):
    return lib.GTI.create([0.0] * u.s, [LIVETIME] * u.s, reference_time="2000-01-01")


# -- mapds --------------------------------------------------------------------------------------------


def _mapds():
    from types import SimpleNamespace

    import mapds.data
    import mapds.datasets
    import mapds.geom
    import mapds.irf
    import mapds.maps
    from mapds.modeling import models

    return SimpleNamespace(
        MapAxis=mapds.geom.MapAxis,
        WcsGeom=mapds.geom.WcsGeom,
        Map=mapds.maps.Map,
        PSFMap=mapds.irf.PSFMap,
        EDispKernelMap=mapds.irf.EDispKernelMap,
        EDispMap=mapds.irf.EDispMap,
        MapDataset=mapds.datasets.MapDataset,
        GTI=mapds.data.GTI,
        SkyModel=models.SkyModel,
        PowerLawSpectralModel=models.PowerLawSpectralModel,
        PointSpatialModel=models.PointSpatialModel,
        GaussianSpatialModel=models.GaussianSpatialModel,
        FoVBackgroundModel=models.FoVBackgroundModel,
    )


def _poisson_block(npred, seed, block_info=None):
    index = block_info[0]["chunk-location"]
    rng = np.random.default_rng([seed, *index])
    return rng.poisson(np.nan_to_num(npred)).astype(np.float32)


def mapds_dataset(case: dict, chunks=None, name: str = "survey", with_counts: bool = True):
    """The survey dataset in mapds, every map a lazy graph (nothing is computed here).

    Parameters
    ----------
    case : dict
        An entry of ``survey-benchmark-cases.json``.
    chunks : dict, optional
        Chunks of the counts-grid maps (default: whole energy axis × ~64 MiB float32 tiles).
    name : str
        Dataset name.
    with_counts : bool
        Add counts drawn from npred (per chunk, seeded by the chunk index).
    """
    lib = _mapds()
    geom, irf_image, energy, energy_true, rad_axis, migra_axis = _geoms(lib, case)
    template = lib.Map.from_geom(geom, dtype="float32", chunks=chunks)
    spatial_chunks = template.data.chunks[-2:]
    coords = geom.to_image().get_coord(chunks=spatial_chunks)
    spatial = spatial_factor(coords["lon"], coords["lat"]).astype(np.float32)

    e_true = energy_true.center.to_value("TeV")
    exposure_spectrum = (EXPOSURE0 * aeff(e_true)).astype(np.float32)
    exposure = da.from_array(exposure_spectrum[:, None, None], chunks=-1) * spatial[None]
    e_reco = energy.center.to_value("TeV")
    background_spectrum = (BACKGROUND0 * (e_reco / 0.1) ** -1.5 * aeff(e_reco)).astype(np.float32)
    background = da.from_array(background_spectrum[:, None, None], chunks=-1) * spatial[None]
    background = background.rechunk(template.data.chunks)

    psf, edisp = _irfs(lib, case, irf_image, energy, energy_true, rad_axis, migra_axis)
    mask_safe = da.ones(geom.data_shape, dtype=bool, chunks=template.data.chunks)
    dataset = lib.MapDataset(
        exposure=lib.Map.from_geom(
            geom.to_image().to_cube([energy_true]),
            data=exposure.astype(np.float32),
            unit="cm2 s",
            meta={"livetime": LIVETIME * u.s},
        ),
        background=lib.Map.from_geom(geom, data=background.astype(np.float32)),
        psf=psf,
        edisp=edisp,
        mask_safe=lib.Map.from_geom(geom, data=mask_safe),
        gti=_gti(lib),
        name=name,
    )
    dataset.models = _models(lib, case, name)
    if with_counts:
        npred = dataset.npred().data
        counts = da.map_blocks(_poisson_block, npred, case["fake_random_state"], dtype=np.float32)
        dataset.counts = lib.Map.from_geom(geom, data=counts)
    return dataset


# -- gammapy ------------------------------------------------------------------------------------------


def gammapy_dataset(case: dict, counts=None, name: str = "survey"):
    """The same dataset in gammapy (in memory), with ``counts`` (e.g. mapds' draw) if given."""
    from types import SimpleNamespace

    import gammapy.data
    import gammapy.datasets
    import gammapy.irf
    import gammapy.maps
    from gammapy.modeling import models

    lib = SimpleNamespace(
        MapAxis=gammapy.maps.MapAxis,
        WcsGeom=gammapy.maps.WcsGeom,
        Map=gammapy.maps.Map,
        PSFMap=gammapy.irf.PSFMap,
        EDispKernelMap=gammapy.irf.EDispKernelMap,
        EDispMap=gammapy.irf.EDispMap,
        GTI=gammapy.data.GTI,
        SkyModel=models.SkyModel,
        PowerLawSpectralModel=models.PowerLawSpectralModel,
        PointSpatialModel=models.PointSpatialModel,
        GaussianSpatialModel=models.GaussianSpatialModel,
        FoVBackgroundModel=models.FoVBackgroundModel,
    )
    geom, irf_image, energy, energy_true, rad_axis, migra_axis = _geoms(lib, case)
    coords = geom.to_image().get_coord()
    lon, lat = coords.lon.to_value("deg"), coords.lat.to_value("deg")
    spatial = spatial_factor(lon, lat).astype(np.float32)
    e_true = energy_true.center.to_value("TeV")
    exposure = (EXPOSURE0 * aeff(e_true)).astype(np.float32)[:, None, None] * spatial[None]
    e_reco = energy.center.to_value("TeV")
    background = (BACKGROUND0 * (e_reco / 0.1) ** -1.5 * aeff(e_reco)).astype(np.float32)[:, None, None]
    psf, edisp = _irfs(lib, case, irf_image, energy, energy_true, rad_axis, migra_axis)
    dataset = gammapy.datasets.MapDataset(
        counts=None if counts is None else lib.Map.from_geom(geom, data=np.asarray(counts, dtype=np.float32)),
        exposure=lib.Map.from_geom(
            geom.to_image().to_cube([energy_true]),
            data=exposure.astype(np.float32),
            unit="cm2 s",
            meta={"livetime": LIVETIME * u.s},
        ),
        background=lib.Map.from_geom(geom, data=(background * spatial[None]).astype(np.float32)),
        psf=psf,
        edisp=edisp,
        mask_safe=lib.Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=bool)),
        gti=_gti(lib),
        name=name,
    )
    dataset.models = _models(lib, case, name)
    return dataset
