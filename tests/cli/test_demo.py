"""``mapds demo`` runs end to end, fits, and its outputs agree with each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imread
from numpy.testing import assert_allclose

from mapds.cli import main
from mapds.datasets import MapDataset
from mapds.estimators import ExcessMapEstimator
from mapds.maps import Map
from mapds.modeling.models import Models
from mapds.simulate import make_survey_case, survey_models

ARGS = ["--width", "2", "--height", "1", "--binsz", "0.05", "--sources", "3"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), *ARGS]) == 0
    return out


def test_demo_writes_every_result(demo_dir):
    names = {p.name for p in demo_dir.iterdir()}
    expected = {"survey.fits", "survey.zarr", "npred.fits", "summary.json", "survey.png"}
    assert expected | {"fit-result.yaml", "fit-result_covariance.dat", "residual-significance.fits"} <= names


def test_demo_picture_is_an_image_with_data(demo_dir):
    image = imread(demo_dir / "survey.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 1000  # not a blank canvas


def test_demo_summary_matches_the_stored_dataset(demo_dir):
    summary = json.loads((demo_dir / "summary.json").read_text())
    dataset = MapDataset.read(demo_dir / "survey.zarr")
    dataset.models = survey_models(make_survey_case(2, 1, 0.05, n_models=3), dataset_name=dataset.name)
    assert summary["counts"] == int(np.asarray(dataset.counts.data).sum())
    assert_allclose(summary["stat_sum"], dataset.stat_sum(), rtol=1e-10)
    best_fit_npred = Map.read(demo_dir / "npred.fits")
    assert_allclose(best_fit_npred.data.sum().compute(), summary["fit"]["npred"], rtol=1e-6)


def test_demo_fit_converges_near_the_simulated_amplitudes(demo_dir):
    fit = json.loads((demo_dir / "summary.json").read_text())["fit"]
    assert fit["success"]
    assert fit["total_stat"] <= json.loads((demo_dir / "summary.json").read_text())["stat_sum"]
    for amplitude in fit["amplitudes"].values():
        assert abs(amplitude["value"] - amplitude["true"]) < 4 * amplitude["error"]


def test_demo_fit_result_reproduces_its_statistic(demo_dir):
    """The written best-fit models give the statistic the fit reported."""
    dataset = MapDataset.read(demo_dir / "survey.zarr", name="survey")
    dataset.models = Models.read(demo_dir / "fit-result.yaml")
    fit = json.loads((demo_dir / "summary.json").read_text())["fit"]
    assert_allclose(dataset.stat_sum(), fit["total_stat"], rtol=1e-9)
    significance = Map.read(demo_dir / "residual-significance.fits")
    expected = ExcessMapEstimator(correlation_radius="0.1 deg").run(dataset)["sqrt_ts"].compute()
    assert_allclose(significance.data, expected.data, rtol=1e-6, atol=1e-6)
    assert np.nanstd(significance.data) < 2  # residuals of a good fit are noise


def test_demo_without_a_command_is_a_usage_error():
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code == 2
