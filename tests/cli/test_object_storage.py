"""The commands that read and write datasets, on a moto S3 bucket reached through ``--storage-option``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mapds.cli import main
from mapds.datasets import MapDataset
from mapds.maps import Map
from mapds.modeling import Fit
from mapds.modeling.models import Models
from mapds.simulate import make_survey_case, survey_dataset

CASE = make_survey_case(2, 1, 0.05, n_models=2, seed=5)


@pytest.fixture
def survey_on_s3(s3_bucket, tmp_path, amplitude_models):
    """A small survey dataset on S3, its models in a local file, and the ``--storage-option``s."""
    prefix, options = s3_bucket
    survey_dataset(CASE, name="survey").write(f"{prefix}/survey.fits", storage_options=options)
    amplitude_models(CASE).write(tmp_path / "models.yaml")
    endpoint = options["client_kwargs"]["endpoint_url"]
    flags = ["--storage-option", f"key={options['key']}", "--storage-option", f"secret={options['secret']}"]
    flags += ["--storage-option", f"client_kwargs.endpoint_url={endpoint}"]
    return prefix, options, tmp_path / "models.yaml", flags


def test_stack_npred_and_fit_on_s3(survey_on_s3, amplitude_models, tmp_path, capsys):
    prefix, options, models, flags = survey_on_s3
    source = f"{prefix}/survey.fits"
    dataset = MapDataset.read(source, name="survey", storage_options=options)

    assert main(["-q", "stack", f"{prefix}/stacked.zarr", source, source, *flags]) == 0
    stacked = MapDataset.read(f"{prefix}/stacked.zarr", storage_options=options)
    assert int(np.asarray(stacked.counts.data).sum()) == 2 * int(np.asarray(dataset.counts.data).sum())

    npred_url = f"{prefix}/npred.zarr"
    assert main(["-q", "npred", source, "--models", str(models), "-o", npred_url, *flags]) == 0
    dataset.models = amplitude_models(CASE)
    npred = Map.read(f"{prefix}/npred.zarr", storage_options=options)
    assert_allclose(np.asarray(npred.data), np.asarray(dataset.npred().data), rtol=1e-6)

    out = tmp_path / "fit.yaml"
    assert main(["-q", "fit", source, "--models", str(models), "-o", str(out), "--no-figure", *flags]) == 0
    assert "success    : True" in capsys.readouterr().out
    Fit().run([dataset])
    fitted = Models.read(out)
    for name in ("src000", "src001"):
        value = fitted[name].spectral_model.amplitude.value
        assert_allclose(value, dataset.models[name].spectral_model.amplitude.value, rtol=1e-6)
