"""The simulated survey: lazy to build, the formulas of the benchmark cases, reproducible counts."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from mapds.irf import EDispMap
from mapds.simulate import make_survey_case, survey_dataset
from mapds.simulate.survey import EXPOSURE0, aeff, background_rate, migra_density, spatial_factor


def test_building_computes_nothing(raise_if_dask_computes):
    case = make_survey_case(360, 28, 0.01, n_models=50)  # the 1e9-voxel survey of the targets
    with raise_if_dask_computes():
        dataset = survey_dataset(case, with_counts=False)
        npred = dataset.npred()
    assert npred.geom.data_shape == (10, 2800, 36000)
    assert len(dataset.models) == 51


def test_maps_follow_the_formulas():
    case = make_survey_case(2, 1, 0.1, n_models=2, seed=3)
    dataset = survey_dataset(case, with_counts=False)
    coords = dataset.exposure.geom.to_image().get_coord()
    lon, lat = coords.lon.to_value("deg"), coords.lat.to_value("deg")
    e_true = dataset.exposure.geom.axes["energy_true"].center.to_value("TeV")
    expected = EXPOSURE0 * aeff(e_true)[:, None, None] * spatial_factor(lon, lat)
    assert_allclose(np.asarray(dataset.exposure.data), expected, rtol=1e-6)
    e_reco = dataset.background.geom.axes["energy"].center.to_value("TeV")
    expected = background_rate(e_reco)[:, None, None] * spatial_factor(lon, lat)
    assert_allclose(np.asarray(dataset.background.data), expected, rtol=1e-6)
    assert dataset.exposure.unit == "cm2 s"


def test_cases_and_counts_are_reproducible():
    case = make_survey_case(1, 1, 0.05, n_models=4, seed=7)
    assert case == make_survey_case(1, 1, 0.05, n_models=4, seed=7)
    assert [m["spatial"] for m in case["models_params"]] == ["point", "gauss", "point", "gauss"]
    first = np.asarray(survey_dataset(case).counts.data)
    second = np.asarray(survey_dataset(case, chunks={"x": 7}).counts.data)
    assert first.sum() > 0
    # Counts depend on the chunking (one generator per chunk) but not on anything else.
    assert np.array_equal(first, np.asarray(survey_dataset(case).counts.data))
    assert second.shape == first.shape


def test_edisp_variants():
    case = make_survey_case(1, 1, 0.1, n_models=2, seed=1, edisp="migra")
    dataset = survey_dataset(case, with_counts=False)
    assert isinstance(dataset.edisp, EDispMap)
    migra = dataset.edisp.edisp_map.geom.axes["migra"].center.value
    values = np.asarray(dataset.edisp.edisp_map.data)
    assert values.shape[:2] == (15, 48)
    expected = migra_density(migra).astype(np.float32)[None, :, None, None]
    assert np.array_equal(values, np.broadcast_to(expected, values.shape))
    assert np.isfinite(dataset.npred().data.sum().compute())
    assert survey_dataset({**case, "edisp": None}, with_counts=False).edisp is None
