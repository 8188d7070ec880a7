"""The benchmark survey cases: loading them from the JSON file, and the same survey in gammapy.

The project's performance baseline defines the case; ``cases/survey-benchmark-cases.json`` (in
this directory: a copy of the project's reference file) gives the exact numbers per size.  mapds
builds it itself, lazily (:func:`mapds.simulate.survey_dataset`, with the formulas of
:mod:`mapds.simulate.survey`); this module adds what the package cannot hold:

- :func:`load_case`: a case of the JSON file, by label or ``WIDTHxHEIGHT`` (pixels) and number of
  sources;
- :func:`gammapy_dataset`: the same dataset built in memory by gammapy, for the side-by-side
  figures.  Every input is the one mapds builds: the geometry and axes are mapds' converted, the
  exposure and background come from the package's formulas (float32, pixel and bin centres), the
  IRFs from the same Gaussians, the models from mapds' model dict (the YAML format both read), and
  the counts, which mapds draws chunk by chunk with ``MapDataset.fake``, are passed in.

Usage from a benchmark::

    from survey_case import load_case, gammapy_dataset
    from mapds.simulate import survey_dataset

    case = load_case("w40_h8_b0.02_e10_t15_kernel", n_models=5)
    dataset = survey_dataset(case)                 # lazy; counts = MapDataset.fake(seed)
    reference = gammapy_dataset(case, counts=np.asarray(dataset.counts.data))
"""

from __future__ import annotations

import json
from pathlib import Path

import astropy.units as u
import numpy as np

from mapds.simulate.survey import (
    EDISP_SIGMA,
    EXPOSURE0,
    LIVETIME,
    aeff,
    background_rate,
    migra_density,
    psf_sigma,
    spatial_factor,
    survey_axes,
    survey_geom,
    survey_models,
)

#: The cases, in the repository (paths are relative to this file, never absolute).
CASES_FILE = Path(__file__).resolve().parent / "cases" / "survey-benchmark-cases.json"


def load_case(spec: str, n_models: int = 5, cases_file: Path = CASES_FILE) -> dict:
    """The case whose label (or ``WIDTHxHEIGHT`` in pixels) is ``spec``, with ``n_models`` sources."""
    cases = json.loads(Path(cases_file).read_text())
    for case in cases:
        size = "x".join(map(str, case["npix"]))
        if spec in (case["label"], size) and case["n_models"] == n_models:
            return case
    known = sorted({c["label"] for c in cases})
    raise KeyError(f"No case {spec!r} with {n_models} models; known labels: {', '.join(known)}")


# -- mapds objects converted to gammapy's -------------------------------------------------------------


def gammapy_axis(axis):
    """gammapy's ``MapAxis`` with the edges, name and interpolation of a mapds axis."""
    from gammapy.maps import MapAxis

    return MapAxis.from_edges(axis.edges, name=axis.name, interp=axis.interp)


def gammapy_geom(geom):
    """gammapy's ``WcsGeom`` with the WCS, shape and axes of a mapds ``WcsGeom``."""
    from gammapy.maps import WcsGeom

    return WcsGeom(geom.wcs.deepcopy(), npix=geom.npix, axes=[gammapy_axis(a) for a in geom.axes])


def gammapy_models(case: dict, dataset_name: str = "survey"):
    """The case's models in gammapy, read from mapds' model dict (their common YAML schema)."""
    from gammapy.modeling.models import Models

    return Models.from_dict(survey_models(case, dataset_name=dataset_name).to_dict())


# -- the gammapy dataset -------------------------------------------------------------------------------


def _gammapy_irfs(case: dict, irf_image, energy, energy_true, rad_axis, migra_axis):
    from gammapy.irf import EDispKernelMap, EDispMap, PSFMap
    from gammapy.maps import Map

    sigma = psf_sigma(energy_true.center.to_value("TeV")) * u.deg
    psf = PSFMap.from_gauss(energy_true, rad_axis=rad_axis, sigma=sigma, geom=irf_image)
    if case["edisp"] == "kernel":
        return psf, EDispKernelMap.from_gauss(energy, energy_true, sigma=EDISP_SIGMA, bias=0, geom=irf_image)
    if case["edisp"] == "migra":
        geom = irf_image.to_cube([migra_axis, energy_true])
        density = migra_density(migra_axis.center.value).astype(np.float32)[None, :, None, None]
        return psf, EDispMap(Map.from_geom(geom, data=np.broadcast_to(density, geom.data_shape).copy()))
    return psf, None


def gammapy_dataset(case: dict, counts=None, name: str = "survey"):
    """The survey as a gammapy ``MapDataset`` in memory, with every input equal to mapds'.

    Parameters
    ----------
    case : dict
        An entry of ``survey-benchmark-cases.json`` (or :func:`mapds.simulate.make_survey_case`).
    counts : array-like, optional
        Counts cube (e.g. mapds' draw, ``np.asarray(survey_dataset(case).counts.data)``);
        none by default (call ``fake`` for gammapy's own draw).
    name : str
        Dataset name (the FoV background model refers to it).
    """
    from gammapy.data import GTI
    from gammapy.datasets import MapDataset
    from gammapy.maps import Map

    geom = gammapy_geom(survey_geom(case))
    energy, energy_true, rad_axis, migra_axis = (gammapy_axis(a) for a in survey_axes(case))
    image = geom.to_image()
    coords = image.get_coord()
    spatial = spatial_factor(coords.lon.to_value("deg"), coords.lat.to_value("deg")).astype(np.float32)

    def cube(spectrum):
        return np.asarray(spectrum, np.float32)[:, None, None] * spatial[None]

    psf, edisp = _gammapy_irfs(
        case, image.to_binsz(case["binsz_irf_deg"]), energy, energy_true, rad_axis, migra_axis
    )
    dataset = MapDataset(
        counts=None if counts is None else Map.from_geom(geom, data=np.asarray(counts)),
        exposure=Map.from_geom(
            image.to_cube([energy_true]),
            data=cube(EXPOSURE0 * aeff(energy_true.center.to_value("TeV"))),
            unit="cm2 s",
            meta={"livetime": LIVETIME * u.s},
        ),
        background=Map.from_geom(geom, data=cube(background_rate(energy.center.to_value("TeV")))),
        psf=psf,
        edisp=edisp,
        mask_safe=Map.from_geom(geom, data=np.ones(geom.data_shape, dtype=bool)),
        gti=GTI.create([0.0] * u.s, [LIVETIME] * u.s, reference_time="2000-01-01"),
        name=name,
    )
    dataset.models = gammapy_models(case, dataset_name=name)
    return dataset


def case_info(case: dict) -> dict:
    """The sizes of a case, for the results files and tables."""
    width, height = case["npix"]
    return {
        "label": case["label"],
        "npix": list(case["npix"]),
        "width_deg": case.get("width_deg", round(width * case["binsz_deg"], 6)),
        "height_deg": case.get("height_deg", round(height * case["binsz_deg"], 6)),
        "binsz_deg": case["binsz_deg"],
        "nbin_reco": case["energy_reco"]["nbin"],
        "nbin_true": case["energy_true"]["nbin"],
        "voxels": width * height * case["energy_reco"]["nbin"],
        "n_models": len(case["models_params"]),
        "edisp": case["edisp"],
    }


def target_case(size: str, binsz: float, n_models: int) -> dict:
    """A survey of ``WIDTHxHEIGHT`` degrees at ``binsz`` (the 1e9-voxel target is 360x28 at 0.01)."""
    from mapds.simulate import make_survey_case

    width, height = (float(v) for v in size.split("x"))
    case = make_survey_case(width, height, binsz, n_models=n_models)
    return {**case, "label": f"w{width:g}_h{height:g}_b{binsz:g}_target"}


def with_sources(case: dict, n_sources: int | None) -> dict:
    """The case with only its first ``n_sources`` sources (all when None): for quick smoke runs.
    The label says so (``..._1src``), so that such a run never overwrites the full case's results."""
    if n_sources is None or n_sources >= len(case["models_params"]):
        return case
    label = f"{case['label']}_{n_sources}src"
    return {**case, "models_params": case["models_params"][:n_sources], "label": label}
