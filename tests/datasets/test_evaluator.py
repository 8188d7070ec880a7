"""`MapEvaluator`: lookups, cutouts and caching rules against gammapy's evaluator."""

from __future__ import annotations

import pickle

import astropy.units as u
import gammapy.datasets.evaluator
import numpy as np
import pytest

import mapds.irf
from mapds.datasets.engine import evaluator as evaluator_module
from mapds.datasets.engine import tasks as tasks_module
from mapds.datasets.evaluator import MapEvaluator

from .conftest import GAMMAPY, MAPDS, build_dataset
from .sky_models import models, sky_model
from .test_npred import ALL_SOURCES, _pair, assert_close

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _evaluated_pair(names=ALL_SOURCES):
    """A pair after a computation whose results the mapds evaluators keep (the statistic)."""
    gp, md = _pair(names=names)
    gp.npred()
    md.stat_sum()
    return gp, md


@pytest.mark.parametrize("name", ALL_SOURCES)
def test_lookup_and_cutout_match_gammapy(name):
    gp, md = _evaluated_pair()
    ours, theirs = md.evaluators[name], gp.evaluators[name]
    assert ours.contributes == theirs.contributes
    assert not ours.needs_update
    assert ours.position.separation(theirs.position).deg < 1e-10
    if not theirs.contributes:
        return
    np.testing.assert_allclose(ours.psf.data, theirs.psf.psf_kernel_map.data, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.edisp.pdf_matrix, theirs.edisp.pdf_matrix, rtol=1e-6)
    assert ours.psf_width == theirs.psf_width
    assert ours.cutout_width.to_value("deg") == pytest.approx(theirs.cutout_width.to_value("deg"))
    assert ours.exposure.geom.data_shape == theirs.exposure.geom.data_shape
    np.testing.assert_allclose(ours.exposure.geom.wcs.wcs.crpix, theirs.exposure.geom.wcs.wcs.crpix)
    np.testing.assert_allclose(np.asarray(ours.exposure.data), theirs.exposure.data)
    assert_close(ours.compute_npred(), theirs.compute_npred())


def test_irfs_looked_up_again_only_after_moving_away():
    _, md = _evaluated_pair(["gauss"])
    evaluator, model = md.evaluators["gauss"], md.models["gauss"]
    position = evaluator.position
    # Gaussian: r_eval = 5 sigma = 0.75 deg; moving less than r_eval + 0.1 deg keeps the lookup
    model.spatial_model.lon_0.value += 0.5
    assert not evaluator.needs_update
    md.npred().data.compute()
    assert evaluator.position.separation(position).deg == 0
    model.spatial_model.lon_0.value += 0.5
    assert evaluator.needs_update
    md.npred().data.compute()
    assert evaluator.position.separation(model.position).deg < 1e-10


def test_model_moved_back_into_the_map_is_evaluated():
    """gammapy bug #6492: a model that stopped contributing is not looked up again."""
    _, md = _evaluated_pair(["outside"])
    evaluator = md.evaluators["outside"]
    assert not evaluator.contributes
    md.models["outside"].spatial_model.lon_0.value = 0.2
    md.models["outside"].spatial_model.lat_0.value = 0.1
    assert evaluator.needs_update
    npred = md.npred_signal()
    assert evaluator.contributes

    reference = build_dataset(GAMMAPY, 0)
    model = sky_model("gammapy", "outside")
    model.spatial_model.lon_0.value, model.spatial_model.lat_0.value = 0.2, 0.1
    reference.models = [model]
    assert_close(npred, reference.npred_signal())


class Calls:
    def __init__(self, monkeypatch, module, name):
        self.count = 0
        original = getattr(module, name)

        def counting(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)


def test_spatial_integral_cached_by_spatial_parameters(monkeypatch):
    _, md = _evaluated_pair(["gauss"])
    spatial = Calls(monkeypatch, tasks_module.model_npred, "spatial_integral")
    md.models["gauss"].spectral_model.index.value = 2.2
    md.stat_sum()
    assert spatial.count == 0
    md.models["gauss"].spatial_model.sigma.value = 0.16
    md.stat_sum()
    assert spatial.count == 1


def test_norm_shortcut(monkeypatch):
    _, md = _evaluated_pair(["gauss"])
    evaluator = md.evaluators["gauss"]
    full = Calls(monkeypatch, evaluator_module, "evaluate_model")
    md.models["gauss"].spectral_model.amplitude.value *= 3
    scaled = md.npred_signal()
    np.asarray(scaled.data)
    assert full.count == 0
    evaluator.reset_cache_properties()
    recomputed = np.asarray(md.npred_signal().data)
    assert full.count == 1
    np.testing.assert_allclose(np.asarray(scaled.data), recomputed, rtol=1e-12)
    md.models["gauss"].spectral_model.amplitude.value = 0
    assert np.asarray(md.npred_signal().data).max() == 0


def test_update_looks_up_now():
    gp, md = _pair(names=["point"])
    evaluator = md.evaluators["point"]
    assert evaluator.needs_update and evaluator.psf is None
    evaluator.update(md.exposure, md.psf, md.edisp, md._geom, md.mask_image)
    assert not evaluator.needs_update
    gp.npred()
    reference = gp.evaluators["point"]
    np.testing.assert_allclose(evaluator.psf.data, reference.psf.psf_kernel_map.data, rtol=1e-6)
    assert evaluator.exposure.geom.data_shape == reference.exposure.geom.data_shape


def test_standalone_evaluator_matches_gammapy():
    """Given an exposure and kernels, both evaluate on the whole exposure map."""
    gp_dataset, md_dataset = build_dataset(GAMMAPY, 0), build_dataset(MAPDS, 0)
    position = gp_dataset.counts.geom.center_skydir
    kernels = []
    for dataset in (gp_dataset, md_dataset):
        psf = dataset.psf.get_psf_kernel(geom=dataset.exposure.geom, position=position)
        energy = dataset.counts.geom.axes["energy"]
        edisp = dataset.edisp.get_edisp_kernel(position=position, energy_axis=energy)
        kernels.append((psf, edisp))
    theirs = gammapy.datasets.evaluator.MapEvaluator(
        sky_model("gammapy", "gauss"), exposure=gp_dataset.exposure, psf=kernels[0][0], edisp=kernels[0][1]
    )
    ours = MapEvaluator(
        sky_model("mapds", "gauss"), exposure=md_dataset.exposure, psf=kernels[1][0], edisp=kernels[1][1]
    )
    assert_close(ours.compute_npred(), theirs.compute_npred())


def test_evaluator_pickles():
    _, md = _evaluated_pair(["point"])
    evaluator = md.evaluators["point"]
    copy = pickle.loads(pickle.dumps(evaluator))
    expected = np.asarray(evaluator.compute_npred().data)
    np.testing.assert_array_equal(np.asarray(copy.compute_npred().data), expected)


def test_only_sky_models():
    with pytest.raises(ValueError, match="SkyModel"):
        MapEvaluator(models("mapds", [], fov=(1.0, 0.0))[0])
    with pytest.raises(ValueError, match="evaluation_mode"):
        MapEvaluator(sky_model("mapds", "point"), evaluation_mode="nowhere")


def test_psf_map_replaced_refreshes_lookups():
    """Replacing the PSF (gammapy needs the models re-assigned, #3682) takes effect at once."""
    _, md = _evaluated_pair(["point"])
    before = md.evaluators["point"].psf.data.copy()
    energy = md.exposure.geom.axes["energy_true"]
    md.psf = mapds.irf.PSFMap.from_gauss(energy, sigma=0.05 * u.deg)
    md.npred().data.compute()
    assert md.evaluators["point"].psf.data.shape != before.shape
