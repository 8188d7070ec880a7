"""``mapds fit``: the same best fit as the library, gammapy's result files, one-line errors."""

from __future__ import annotations

import pytest
from matplotlib.image import imread
from numpy.testing import assert_allclose

from mapds.cli import main
from mapds.datasets import Datasets, MapDataset
from mapds.modeling import Fit
from mapds.modeling.models import Models
from mapds.simulate import make_survey_case, survey_dataset

CASE = make_survey_case(2, 1, 0.05, n_models=2, seed=3)


@pytest.fixture(scope="module")
def survey_files(tmp_path_factory, amplitude_models):
    """A small simulated survey in a FITS file and its models (amplitudes and norm free)."""
    path = tmp_path_factory.mktemp("fit")
    survey_dataset(CASE, name="survey").write(path / "survey.fits")
    amplitude_models(CASE).write(path / "models.yaml")
    return path


def _library_fit(survey_files, amplitude_models):
    dataset = MapDataset.read(survey_files / "survey.fits", name="survey")
    dataset.models = amplitude_models(CASE)
    Fit().run([dataset])
    return dataset.models


def _fit_argv(survey_files, out) -> list[str]:
    """``mapds fit`` of the survey file with its models, into ``out``."""
    return [
        "fit",
        str(survey_files / "survey.fits"),
        "--models",
        str(survey_files / "models.yaml"),
        "-o",
        str(out),
    ]


def test_fit_gives_the_library_result(survey_files, amplitude_models, capsys):
    out = survey_files / "result" / "fit.yaml"
    argv = _fit_argv(survey_files, out)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "success    : True" in printed and "amplitude" in printed
    expected = _library_fit(survey_files, amplitude_models)
    fitted = Models.read(out)
    for name in ("src000", "src001"):
        value = fitted[name].spectral_model.amplitude.value
        assert_allclose(value, expected[name].spectral_model.amplitude.value, rtol=1e-6)
    assert (out.parent / "fit_covariance.dat").exists()
    image = imread(out.parent / "fit_residuals.png")
    assert image.shape[0] > 200 and image.std() > 0


def test_fit_of_a_datasets_yaml_quietly(survey_files, capsys):
    """A datasets YAML names the dataset file; ``-q`` prints the result, no steps."""
    datasets = Datasets([MapDataset.read(survey_files / "survey.fits", name="survey")])
    datasets.write(survey_files / "yaml" / "datasets.yaml", overwrite=True)
    out = survey_files / "yaml" / "fit.yaml"
    argv = [
        "fit",
        str(survey_files / "yaml" / "datasets.yaml"),
        "--models",
        str(survey_files / "models.yaml"),
    ]
    assert main(["-q", *argv, "-o", str(out), "--no-figure", "--backend", "scipy"]) == 0
    printed = capsys.readouterr().out
    assert "- read" not in printed and "backend    : scipy" in printed
    assert out.exists() and not (out.parent / "fit_residuals.png").exists()


def test_fit_refuses_to_overwrite_and_to_fit_nothing(survey_files, capsys):
    out = survey_files / "exists.yaml"
    out.write_text("keep me")
    argv = _fit_argv(survey_files, out)
    assert main(argv) == 1
    assert capsys.readouterr().err == f"mapds fit: error: {out} exists; pass --overwrite to replace it\n"
    assert out.read_text() == "keep me"
    assert main(["fit", str(survey_files / "survey.fits"), "-o", str(survey_files / "none.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no free model parameters" in err and "--models" in err


def test_fit_of_the_crab_dataset_reports_the_call_limit(crab_dir, tmp_path, capsys):
    """gammapy's own Crab files stop MIGRAD at its call limit (see examples/fit_crab.py): exit status 3."""
    argv = ["fit", str(crab_dir / "Fermi-LAT-3FHL_datasets.yaml"), "--models"]
    argv += [str(crab_dir / "Fermi-LAT-3FHL_models.yaml"), "-o", str(tmp_path / "crab.yaml"), "--no-figure"]
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert "Call limit was reached" in captured.out
    assert "Traceback" not in captured.err
    assert Models.read(tmp_path / "crab.yaml")["Crab Nebula"].spectral_model.amplitude.error > 0
