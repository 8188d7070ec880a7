"""File names as gammapy resolves them: ``$VAR``, ``~`` and names relative to a YAML file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mapds.datasets import Datasets, MapDataset
from mapds.errors import UndefinedVariableError
from mapds.io.paths import join, make_path
from mapds.maps import Map
from mapds.modeling.models import FoVBackgroundModel, Models

CRAB_DATA = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_MODELS = "Fermi-LAT-3FHL_models.yaml"


def test_make_path_expands_variables_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("MAPDS_SOME_DIR", "/data/somewhere")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert make_path("$MAPDS_SOME_DIR/x.fits") == "/data/somewhere/x.fits"
    assert make_path("${MAPDS_SOME_DIR}/y/x.fits") == "/data/somewhere/y/x.fits"
    assert make_path("~/x.fits") == os.path.join(str(tmp_path), "x.fits")
    assert make_path("s3://bucket/$NOT_EXPANDED/x.fits") == "s3://bucket/$NOT_EXPANDED/x.fits"


@pytest.mark.parametrize("name", ["$MAPDS_UNSET_VARIABLE/x.fits", "${MAPDS_UNSET_VARIABLE}/x.fits"])
def test_an_undefined_variable_is_an_error_naming_it(monkeypatch, name):
    monkeypatch.delenv("MAPDS_UNSET_VARIABLE", raising=False)
    with pytest.raises(UndefinedVariableError, match="'MAPDS_UNSET_VARIABLE' is not set"):
        make_path(name)
    with pytest.raises(UndefinedVariableError, match="MAPDS_UNSET_VARIABLE"):
        Map.read(name)


def test_join_keeps_absolute_names_and_urls(monkeypatch):
    monkeypatch.setenv("MAPDS_SOME_DIR", "/abs")
    assert join("/yaml/dir", "x.fits") == os.path.join("/yaml/dir", "x.fits")
    assert join("/yaml/dir", "$MAPDS_SOME_DIR/x.fits") == "/abs/x.fits"
    assert join("s3://bucket/dir", "x.fits") == "s3://bucket/dir/x.fits"
    assert join("/yaml/dir", "memory://x.fits") == "memory://x.fits"


def test_readers_expand_variables_and_home(crab_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MAPDS_CRAB", str(crab_dir))
    counts = Map.read(f"$MAPDS_CRAB/{CRAB_DATA}", hdu="counts")
    monkeypatch.setenv("HOME", str(crab_dir))
    dataset = MapDataset.read(f"~/{CRAB_DATA}")
    assert float(counts.data.sum()) == float(dataset.counts.data.sum()) > 0


def _write_joint_yaml(crab_dir, directory) -> tuple[str, str]:
    """Datasets YAML naming one file through ``$MAPDS_CRAB`` and one by a name relative to the
    YAML's directory; models YAML (the Crab model shared, a FoV background per dataset) beside it."""
    (directory / "data").mkdir(parents=True)
    (directory / "data" / "crab.fits").symlink_to(crab_dir / CRAB_DATA)
    (directory / "datasets.yaml").write_text(
        "datasets:\n"
        f"- name: by-variable\n  type: MapDataset\n  filename: $MAPDS_CRAB/{CRAB_DATA}\n"
        "- name: relative\n  type: MapDataset\n  filename: data/crab.fits\n"
    )
    crab = Models.read(crab_dir / CRAB_MODELS)["Crab Nebula"]
    backgrounds = [FoVBackgroundModel(dataset_name=name) for name in ("by-variable", "relative")]
    backgrounds[1].spectral_model.norm.value = 1.1
    Models([crab, *backgrounds]).write(directory / "models.yaml")
    return str(directory / "datasets.yaml"), str(directory / "models.yaml")


def test_joint_datasets_from_yaml_with_variables_and_relative_names_match_gammapy(
    crab_dir, monkeypatch, tmp_path
):
    gammapy_datasets = pytest.importorskip("gammapy.datasets")
    monkeypatch.setenv("MAPDS_CRAB", str(crab_dir))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    datasets_yaml, models_yaml = _write_joint_yaml(crab_dir, tmp_path / "analysis")
    monkeypatch.chdir(elsewhere)  # relative names resolve against the YAML's directory, not here
    ours = Datasets.read(datasets_yaml, filename_models=models_yaml, checksum=False)
    theirs = gammapy_datasets.Datasets.read(datasets_yaml, filename_models=models_yaml, checksum=False)
    assert ours.names == theirs.names == ["by-variable", "relative"]
    np.testing.assert_allclose(ours.stat_sum(), theirs.stat_sum(), rtol=1e-6)


def test_undefined_variable_in_a_datasets_yaml(monkeypatch, tmp_path):
    monkeypatch.delenv("MAPDS_UNSET_VARIABLE", raising=False)
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets:\n- name: a\n  type: MapDataset\n  filename: $MAPDS_UNSET_VARIABLE/a.fits\n")
    with pytest.raises(UndefinedVariableError, match="MAPDS_UNSET_VARIABLE"):
        Datasets.read(path, checksum=False)
