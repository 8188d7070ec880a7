"""The ``mapds demo`` command runs end to end and its outputs agree with each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mapds.cli import main
from mapds.datasets import MapDataset
from mapds.maps import Map
from mapds.simulate import make_survey_case, survey_models


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    args = ["demo", "--out", str(out), "--width", "2", "--height", "1", "--binsz", "0.05", "--sources", "3"]
    assert main(args) == 0
    return out


def test_demo_writes_every_result(demo_dir, capsys):
    names = {p.name for p in demo_dir.iterdir()}
    assert {"survey.fits", "survey.zarr", "npred.fits", "models.yaml", "summary.json", "survey.png"} <= names
    assert (demo_dir / "survey.png").stat().st_size > 10_000


def test_demo_summary_matches_the_stored_dataset(demo_dir):
    summary = json.loads((demo_dir / "summary.json").read_text())
    dataset = MapDataset.read(demo_dir / "survey.zarr")
    dataset.models = survey_models(make_survey_case(2, 1, 0.05, n_models=3), dataset_name=dataset.name)
    assert summary["counts"] == int(np.asarray(dataset.counts.data).sum())
    assert_allclose(summary["stat_sum"], dataset.stat_sum(), rtol=1e-10)
    npred = Map.read(demo_dir / "npred.fits")
    assert_allclose(npred.data.sum().compute(), summary["npred"], rtol=1e-6)


def test_demo_without_a_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main([])
    assert excinfo.value.code == 2
