"""``mapds npred`` and ``mapds residuals``: the maps written equal gammapy's npred and residuals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gammapy.datasets import Datasets as GammapyDatasets

from mapds.maps import Map
from mapds.testing import GAMMAPY, MAPDS, build_dataset, sky_models

from .test_stack import assert_fails, run_command

CRAB_DATASETS = "Fermi-LAT-3FHL_datasets.yaml"
CRAB_FITS = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_MODELS = "Fermi-LAT-3FHL_models.yaml"
SOURCES = ["point", "gauss", "disk"]


@pytest.fixture(scope="module")
def crab(crab_dir):
    """gammapy's Crab dataset with its models (the FoV background model included)."""
    with warnings.catch_warnings():  # the YAML files' checksums are stale
        warnings.simplefilter("ignore", UserWarning)
        return GammapyDatasets.read(crab_dir / CRAB_DATASETS, filename_models=crab_dir / CRAB_MODELS)[0]


def _with_other_background(library: str):
    """Sky models and the FoV background of dataset ``ds``, plus a FoV background of another dataset."""
    models = sky_models(library, SOURCES, dataset_name="ds")
    other = sky_models(library, [], dataset_name="other")
    return type(models)([*models, *other])


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A dataset ``ds`` stored as zarr, its models YAML, and gammapy's twin with the same models."""
    directory = tmp_path_factory.mktemp("generated")
    build_dataset(MAPDS, 0, name="ds").write(directory / "ds.zarr")
    _with_other_background(MAPDS).write(directory / "models.yaml")
    reference = build_dataset(GAMMAPY, 0, name="ds")
    reference.models = _with_other_background(GAMMAPY)
    return directory, reference


def _assert_map_equal(path, expected, atol=0.0) -> None:
    written = Map.read(path)
    assert written.geom.data_shape == expected.geom.data_shape
    np.testing.assert_allclose(written.data.compute(), expected.data, rtol=1e-6, atol=atol, equal_nan=True)


# -- the Crab (Fermi-LAT 3FHL) --------------------------------------------------------------------


def test_crab_npred_from_the_datasets_file(crab_dir, crab, tmp_path, capsys):
    out = tmp_path / "npred.fits"
    argv = [crab_dir / CRAB_DATASETS, "--models", crab_dir / CRAB_MODELS, "-o", out]
    code, stdout, stderr = run_command(capsys, "npred", *argv)
    assert code == 0, stderr
    _assert_map_equal(out, crab.npred())
    total = crab.npred().data.sum()
    assert (
        f"npred of dataset 'Fermi-LAT' (models: Crab Nebula, Fermi-LAT-bkg) in {out}: {total:.6g}" in stdout
    )


def test_crab_residuals_from_the_data_file(crab_dir, crab, tmp_path, capsys):
    """The data file, named as the datasets file names it so that the FoV background applies."""
    out = tmp_path / "residuals.zarr"
    argv = [crab_dir / CRAB_FITS, "--dataset-name", "Fermi-LAT", "--models", crab_dir / CRAB_MODELS]
    code, stdout, stderr = run_command(capsys, "residuals", *argv, "--method", "diff/sqrt(model)", "-o", out)
    assert code == 0, stderr
    _assert_map_equal(out, crab.residuals(method="diff/sqrt(model)"))
    assert "note:" not in stdout
    assert "pixels (NaN outside the mask)" in stdout


# -- a generated dataset --------------------------------------------------------------------------


def test_generated_npred(generated, tmp_path, capsys):
    directory, reference = generated
    out = tmp_path / "npred.zarr"
    argv = [directory / "ds.zarr", "--models", directory / "models.yaml", "-o", out, "-q"]
    assert run_command(capsys, "npred", *argv) == (0, "", "")
    _assert_map_equal(out, reference.npred())


def test_generated_residuals_note_the_models_of_other_datasets(generated, tmp_path, capsys):
    directory, reference = generated
    out = tmp_path / "residuals.fits"
    argv = [directory / "ds.zarr", "--models", directory / "models.yaml", "-o", out]
    code, stdout, stderr = run_command(capsys, "residuals", *argv)
    assert code == 0, stderr
    # counts - npred cancels: npred's relative precision is an absolute one on the residuals
    _assert_map_equal(out, reference.residuals(), atol=1e-6 * reference.npred().data.max())
    assert "note: not applied, made for other datasets: other-bkg (this dataset is 'ds'" in stdout
    assert "residuals (diff) of dataset 'ds' (models: point, gauss, disk, ds-bkg)" in stdout


# -- errors ---------------------------------------------------------------------------------------


def test_missing_models_file(generated, tmp_path, capsys):
    directory, _ = generated
    missing = tmp_path / "no-models.yaml"
    argv = ["npred", directory / "ds.zarr", "--models", missing, "-o", tmp_path / "out.fits"]
    assert_fails(capsys, *argv, words=f"models file not found: {missing}")


def test_invalid_models_file(generated, tmp_path, capsys):
    directory, _ = generated
    broken = tmp_path / "models.yaml"
    broken.write_text("components: [\n  - name: x\n")
    argv = ["residuals", directory / "ds.zarr", "--models", broken, "-o", tmp_path / "out.fits"]
    assert_fails(capsys, *argv, words=f"cannot read the models of {broken}")


def test_missing_dataset(generated, tmp_path, capsys):
    directory, _ = generated
    missing = tmp_path / "no-such.zarr"
    argv = ["npred", missing, "--models", directory / "models.yaml", "-o", tmp_path / "out.fits"]
    assert_fails(capsys, *argv, words=f"dataset not found: {missing}")


def test_existing_output(generated, tmp_path, capsys):
    directory, _ = generated
    out = tmp_path / "out.fits"
    out.write_text("an older file")
    argv = ["npred", directory / "ds.zarr", "--models", directory / "models.yaml", "-o", out]
    assert_fails(capsys, *argv, words=f"{out} exists: pass --overwrite")


def test_unknown_dataset_name_in_a_datasets_file(crab_dir, tmp_path, capsys):
    argv = [crab_dir / CRAB_DATASETS, "--models", crab_dir / CRAB_MODELS, "-o", tmp_path / "out.fits"]
    assert_fails(
        capsys,
        "npred",
        *argv,
        "--dataset-name",
        "HESS",
        words="has no dataset 'HESS'; its datasets: Fermi-LAT",
    )


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--method", "ratio"], "argument --method: invalid choice: 'ratio'"),
        (["--models"], "argument --models: expected one argument"),
    ],
)
def test_usage_errors(tmp_path, capsys, options, words):
    assert_fails(capsys, "residuals", "ds.zarr", "-o", tmp_path / "out.fits", *options, words=words, code=2)


def test_gzip_output(generated, tmp_path, capsys):
    directory, _ = generated
    argv = [
        "npred",
        directory / "ds.zarr",
        "--models",
        directory / "models.yaml",
        "-o",
        tmp_path / "out.fits.gz",
    ]
    assert_fails(capsys, *argv, words="does not write gzip-compressed FITS")
