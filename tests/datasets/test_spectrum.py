"""SpectrumDataset (region-geometry maps) against gammapy: predicted counts, statistic, summary,
and the datasets `to_spectrum_dataset` makes."""

from __future__ import annotations

import astropy.units as u
import gammapy.datasets
import gammapy.modeling.models as gp_models
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import mapds.modeling.models as md_models
from mapds.datasets import SpectrumDataset
from mapds.testing import GAMMAPY, MAPDS, assert_info_same


def _spectrum(ns, lib, signal=False):
    energy = ns.MapAxis.from_energy_bounds(1, 10, 4, unit="TeV")
    energy_true = ns.MapAxis.from_energy_bounds(0.5, 20, 6, unit="TeV", name="energy_true")
    geom = ns.RegionGeom.create("galactic;circle(10, 20, 0.3)", axes=[energy])
    dataset = ns.SpectrumDataset.create(geom, energy_axis_true=energy_true, name="spec")
    rng = np.random.default_rng(1)
    dataset.counts = ns.Map.from_geom(geom, data=rng.poisson(20, (4, 1, 1)).astype("f4"))
    dataset.background = ns.Map.from_geom(geom, data=rng.uniform(5, 10, (4, 1, 1)).astype("f4"))
    exposure = rng.uniform(1e9, 2e9, (6, 1, 1)).astype("f4")
    dataset.exposure = ns.Map.from_geom(dataset.exposure.geom, data=exposure, unit="m2 s")
    dataset.mask_safe = ns.Map.from_geom(geom, data=np.array([False, True, True, True]).reshape(4, 1, 1))
    background = lib.FoVBackgroundModel(dataset_name="spec")
    background.spectral_model.norm.value = 1.2
    models = [background]
    if signal:
        spectral = lib.PowerLawSpectralModel(amplitude="1e-12 cm-2 s-1 TeV-1")
        models.insert(0, lib.SkyModel(spectral_model=spectral, name="src"))
    dataset.models = models
    return dataset


def test_background_model_npred_and_statistic_match_gammapy():
    gp, md = _spectrum(GAMMAPY, gp_models), _spectrum(MAPDS, md_models)
    assert isinstance(md, SpectrumDataset)
    np.testing.assert_allclose(md.npred().data.compute(), gp.npred().data, rtol=1e-6)
    np.testing.assert_allclose(md.npred_background().data.compute(), gp.npred_background().data, rtol=1e-6)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-9)
    assert_info_same(md.info_dict(), gp.info_dict())
    assert str(md).startswith("SpectrumDataset\n---------------\n")


def test_sky_model_npred_matches_gammapy():
    gp, md = _spectrum(GAMMAPY, gp_models, signal=True), _spectrum(MAPDS, md_models, signal=True)
    np.testing.assert_allclose(md.npred().data.compute(), gp.npred().data, rtol=1e-6)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-9)


def test_to_spectrum_dataset_gives_a_spectrum_dataset(tmp_path, dataset_pair):
    gp, md = dataset_pair(seed=4)
    # gammapy needs a mask uniform inside the region: safe everywhere but the lowest energy bin
    for dataset in (gp, md):
        safe = np.ones(dataset.data_shape, dtype=bool)
        safe[0] = False
        dataset.mask_safe = type(dataset.counts).from_geom(dataset.counts.geom, data=safe)
        dataset.mask_fit = None
    region = CircleSkyRegion(SkyCoord(0.1, 0.0, unit="deg", frame="galactic"), radius=0.3 * u.deg)
    gp_spectrum = gp.to_spectrum_dataset(region, name="on")
    spectrum = md.to_spectrum_dataset(region, name="on")
    assert isinstance(spectrum, SpectrumDataset) and spectrum.tag == "SpectrumDataset"
    assert spectrum.psf is None
    assert spectrum.to_dict()["type"] == "SpectrumDataset"
    spectrum.write(tmp_path / "on.fits")
    read = gammapy.datasets.SpectrumDataset.read(tmp_path / "on.fits")
    assert read.name == "on"
    for member in ("counts", "background", "exposure", "mask_safe"):
        np.testing.assert_allclose(
            getattr(read, member).data, getattr(gp_spectrum, member).data, rtol=1e-6, err_msg=member
        )
    again = SpectrumDataset.read(tmp_path / "on.fits")
    np.testing.assert_allclose(again.counts.data.compute(), gp_spectrum.counts.data, rtol=1e-6)
    # region maps do not keep the exposure's livetime in files, in gammapy either
    assert_info_same(again.info_dict(), read.info_dict())
