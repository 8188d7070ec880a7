"""Predicted counts (npred, npred_signal, npred_background) against gammapy on identical inputs."""

from __future__ import annotations

import warnings

import astropy.units as u
import gammapy.datasets
import gammapy.irf
import gammapy.maps
import gammapy.modeling.models
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import mapds.datasets
import mapds.geom
import mapds.irf
import mapds.maps
import mapds.modeling.models
from mapds.datasets import MapDataset
from mapds.datasets.engine import evaluator as evaluator_module
from mapds.datasets.engine.tasks import evaluate_model
from mapds.errors import GeometryMismatchError
from mapds.maps import Map
from mapds.testing import GAMMAPY, MAPDS, assert_close, build_dataset, image_bytes_read
from mapds.testing import sky_models as models

# gammapy and mapds warn alike about models outside the map; the tests check numbers.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

ALL_SOURCES = ["point", "gauss", "disk", "edge", "point-edge", "near", "outside"]


def _pair(prepare=None, names=ALL_SOURCES, fov=(1.1, 0.1), apply_irf=None, **kwargs):
    gp, md = build_dataset(GAMMAPY, 0, **kwargs), build_dataset(MAPDS, 0, **kwargs)
    for dataset in (gp, md):
        if prepare is not None:
            prepare(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.models = models("gammapy", names, fov=fov, apply_irf=apply_irf)
    md.models = models("mapds", names, fov=fov, apply_irf=apply_irf)
    return gp, md


def _irf_lib(dataset):
    return gammapy.irf if type(dataset).__module__.startswith("gammapy") else mapds.irf


def _no_psf(dataset):
    dataset.psf = None


def _no_masks(dataset):
    dataset.mask_safe = dataset.mask_fit = None


def _safe_mask_only(dataset):
    dataset.mask_fit = None


def _reco_psf(dataset):
    energy = dataset.counts.geom.axes["energy"]
    image = dataset.psf.psf_map.geom.to_image()
    sigma = [0.3, 0.25, 0.2, 0.15] * u.deg
    dataset.psf = _irf_lib(dataset).RecoPSFMap.from_gauss(energy, sigma=sigma, geom=image)


def _single_bin_psf(dataset):
    energy = dataset.exposure.geom.axes["energy_true"]
    dataset.psf = _irf_lib(dataset).PSFMap.from_gauss(energy, sigma=np.linspace(0.3, 0.1, 6) * u.deg)


PREPARE = {
    "psf": None,
    "no-psf": _no_psf,
    "reco-psf": _reco_psf,
    "single-bin-psf": _single_bin_psf,
}
MASKS = {"both-masks": None, "mask-safe": _safe_mask_only, "no-mask": _no_masks}


def _combined(*steps):
    def prepare(dataset):
        for step in steps:
            if step is not None:
                step(dataset)

    return prepare


@pytest.mark.parametrize("edisp", ["kernel", "migra", None])
@pytest.mark.parametrize("psf", list(PREPARE))
@pytest.mark.parametrize("mask", list(MASKS))
def test_npred_matches_gammapy(edisp, psf, mask):
    gp, md = _pair(_combined(PREPARE[psf], MASKS[mask]), edisp=edisp)
    assert_close(md.npred(), gp.npred())
    assert_close(md.npred_signal(), gp.npred_signal())
    assert_close(md.npred_background(), gp.npred_background())
    assert [md.evaluators[n].contributes for n in ALL_SOURCES] == [
        gp.evaluators[n].contributes for n in ALL_SOURCES
    ]


@pytest.mark.parametrize(
    "apply_irf",
    [{"psf": False}, {"edisp": False}, {"psf": False, "edisp": False}],
    ids=["no-psf", "no-edisp", "no-psf-no-edisp"],
)
def test_apply_irf_flags(apply_irf):
    gp, md = _pair(names=["point", "gauss", "edge"], apply_irf=apply_irf)
    assert_close(md.npred_signal(), gp.npred_signal())


@pytest.mark.parametrize("names", [["const"], ["spectral-only"], ["const", "point"]])
@pytest.mark.parametrize("edisp", ["kernel", None])
def test_global_mode_models(names, edisp):
    """Models without a bounded extent are evaluated chunk by chunk on the whole map."""
    gp, md = _pair(names=names, edisp=edisp)
    assert md.evaluators[names[0]].evaluation_mode == "global"
    assert_close(md.npred(), gp.npred())
    assert_close(md.npred_signal(), gp.npred_signal())


def test_npred_signal_per_model():
    gp, md = _pair()
    gp_planes, md_planes = gp.npred_signal(stack=False), md.npred_signal(stack=False)
    assert list(md_planes.geom.axes["models"].center) == list(gp_planes.geom.axes["models"].center)
    assert "outside" not in list(md_planes.geom.axes["models"].center)
    assert_close(md_planes, gp_planes)
    assert_close(md.npred_signal(model_names="gauss"), gp.npred_signal(model_names="gauss"))
    selected = ["point", "disk"]
    assert_close(md.npred_signal(model_names=selected), gp.npred_signal(model_names=selected))
    with pytest.raises(KeyError):
        md.npred_signal(model_names="nothing")


def test_npred_without_models_or_background():
    gp, md = _pair(names=[], fov=None)
    assert_close(md.npred(), gp.npred())
    assert md.npred_background() is md.background
    assert_close(md.npred_signal(), gp.npred_signal())
    md.background = None
    np.testing.assert_array_equal(np.asarray(md.npred().data), 0.0)
    assert md.npred_background() is None


def test_non_finite_inputs():
    """gammapy adds non-finite model values as 0 and keeps a non-finite background."""
    gp, md = _pair(nan=True)
    assert_close(md.npred(), gp.npred())


def test_negative_values_clipped_only_in_npred():
    def negative_background(dataset):
        data = np.asarray(dataset.background.data).copy()
        data[:, 2:5, 3:6] = -5.0
        dataset.background = type(dataset.background).from_geom(dataset.background.geom, data=data)

    gp, md = _pair(negative_background)
    npred = md.npred()
    assert float(np.asarray(npred.data).min()) == 0.0
    assert_close(npred, gp.npred())
    assert float(np.asarray(md.npred_background().data).min()) < 0


@pytest.mark.parametrize("chunks", [{"energy": 1, "y": 5, "x": 7}, {"energy": 2, "y": -1, "x": -1}])
def test_chunking_does_not_change_npred(chunks):
    gp, md = _pair(names=[*ALL_SOURCES, "const"])
    for member in ("counts", "background", "mask_safe", "mask_fit"):
        m = getattr(md, member)
        setattr(md, member, m.rechunk(tuple(_chunk_spec(m, chunks))))
    md.exposure = md.exposure.rechunk((-1, *md.counts.data.chunks[-2:]))
    npred = md.npred()
    assert npred.data.chunks == md.counts.data.chunks
    assert_close(npred, gp.npred())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-7)


def _chunk_spec(m: Map, chunks: dict):
    return [chunks.get(dim, -1) for dim in ("energy", "y", "x")]


def test_building_npred_computes_nothing(raise_if_dask_computes):
    _, md = _pair()
    with raise_if_dask_computes():
        npred = md.npred()
        md.npred_signal()
        md.npred_background()
        md.stat_array()
        md.stat_sum(compute=False)
    values = npred.data.compute(scheduler="sync")
    assert values.shape == md.counts.data.shape


def test_npred_identical_on_schedulers():
    _, md = _pair()
    threaded = md.npred().data.compute(scheduler="threads")
    for evaluator in md.evaluators.values():
        evaluator.reset_cache_properties()
    synchronous = md.npred().data.compute(scheduler="sync")
    np.testing.assert_array_equal(threaded, synchronous)


def test_model_cutouts_are_cached(monkeypatch):
    """After a statistic the evaluators hold the models' cutouts: the next npred's graph carries
    them as data instead of model tasks; a changed parameter re-evaluates only its model."""
    _, md = _pair()
    first = md.npred().data.compute()
    md.stat_sum()  # computes, and hands the cutouts back to the evaluators (in this process)
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return evaluate_model(*args, **kwargs)

    monkeypatch.setattr(evaluator_module, "evaluate_model", counting)
    np.testing.assert_array_equal(first, md.npred().data.compute())
    assert calls == []
    md.models["gauss"].spectral_model.index.value += 0.1
    md.npred().data.compute()
    assert len(calls) == 1


# -- from files -------------------------------------------------------------------------------------


def test_building_from_a_file_reads_no_image_bytes(tmp_path, counting_fs, raise_if_dask_computes):
    gp, md = _pair()
    md.write(tmp_path / "ds.fits")
    counting_fs.reset()
    read = MapDataset.read(f"countfile://{tmp_path / 'ds.fits'}")
    read.models = models("mapds", ALL_SOURCES)
    with raise_if_dask_computes():
        npred = read.npred()
        read.npred_signal()
        read.stat_array()
        lazy = read.stat_sum(compute=False)
    assert image_bytes_read(counting_fs, tmp_path / "ds.fits") == 0
    assert_close(npred, gp.npred())
    assert float(lazy.compute()) == pytest.approx(md.stat_sum(), rel=1e-12)


def test_fermi_crab_matches_gammapy(crab_dir):
    filename = crab_dir / "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
    models_file = crab_dir / "Fermi-LAT-3FHL_models.yaml"
    gp = gammapy.datasets.MapDataset.read(filename, name="Fermi-LAT")
    gp.models = gammapy.modeling.models.Models.read(models_file)
    md = MapDataset.read(filename, name="Fermi-LAT")
    md.models = mapds.modeling.models.Models.read(models_file)
    assert_close(md.npred(), gp.npred())
    assert_close(md.npred_signal(), gp.npred_signal())
    assert_close(md.npred_background(), gp.npred_background())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-10)
    model = md.models["Crab Nebula"]
    model.spectral_model.alpha.value = 1.8
    gp.models["Crab Nebula"].spectral_model.alpha.value = 1.8
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-10)


# -- region geometries --------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [["point"], ["point", "spectral-only"], ["gauss"], ["outside"]])
@pytest.mark.parametrize("psf", [True, False], ids=["psf", "no-psf"])
def test_region_geometry_matches_gammapy(names, psf):
    """Spectrum-like datasets: PSF containment for a point source in a circle, a PSF kernel on a
    WCS grid around the region otherwise, the full flux without a PSF."""
    region = CircleSkyRegion(SkyCoord(0.3, -0.2, unit="deg", frame="galactic"), 0.3 * u.deg)
    datasets = []
    for ns, library in ((GAMMAPY, "gammapy"), (MAPDS, "mapds")):
        dataset = build_dataset(ns, 0)
        dataset.mask_safe = dataset.mask_fit = None
        dataset = dataset.to_region_map_dataset(region, name="ds")
        if not psf:
            dataset.psf = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.models = models(library, names)
        datasets.append(dataset)
    gp, md = datasets
    assert_close(md.npred(), gp.npred())
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-9)
    assert [e.contributes for e in md.evaluators.values()] == [e.contributes for e in gp.evaluators.values()]


def _event_type_datasets():
    """A background-only dataset whose counts have an ``event_type`` axis, in both libraries."""
    rng = np.random.default_rng(3)
    counts, background = rng.poisson(2.0, (2, 2, 3, 4)).astype(float), rng.uniform(1, 3, (2, 2, 3, 4))
    mask = rng.random((2, 2, 3, 4)) > 0.2
    out = []
    for maps, datasets in ((gammapy.maps, gammapy.datasets), (mapds.maps, mapds.datasets)):
        energy = maps.MapAxis.from_energy_bounds(1, 10, 2, unit="TeV")
        event_type = maps.LabelMapAxis(["a", "b"], name="event_type")
        geom = maps.WcsGeom.create(npix=(4, 3), binsz=0.1, axes=[energy, event_type])
        out.append(
            datasets.MapDataset(
                counts=maps.Map.from_geom(geom, data=counts.copy()),
                background=maps.Map.from_geom(geom, data=background.copy()),
                mask_safe=maps.Map.from_geom(geom, data=mask.copy()),
                name="ds",
            )
        )
    return out


def test_counts_with_extra_axes_and_no_models_match_gammapy():
    """gammapy accepts an extra axis (an event type) on a dataset without models."""
    gp, md = _event_type_datasets()
    assert_close(md.npred(), gp.npred())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-12)
    assert float(md.npred_signal().data.sum().compute()) == 0.0
    assert md.info_dict()["npred"] == pytest.approx(gp.info_dict()["npred"], rel=1e-12)


def test_extra_axes_with_models_are_a_clear_error():
    _, dataset = _event_type_datasets()
    dataset.models = [mapds.modeling.models.FoVBackgroundModel(dataset_name="ds")]
    with pytest.raises(GeometryMismatchError, match="event_type"):
        dataset.npred()
