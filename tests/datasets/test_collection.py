"""Datasets: the list, its models, statistics and YAML files, against gammapy."""

from __future__ import annotations

import gammapy.datasets
import gammapy.modeling.models as gp_models
import numpy as np
import pytest
import yaml

import mapds.modeling.models as md_models
from mapds.datasets import Datasets, MapDataset
from mapds.errors import CorruptFileError, InvalidArgumentError, ModelError, OverwriteError
from mapds.testing import GAMMAPY, MAPDS, build_dataset


def _source(lib, name="src", datasets_names=None, lon="0.1 deg"):
    return lib.SkyModel(
        spectral_model=lib.PowerLawSpectralModel(amplitude="2e-11 cm-2 s-1 TeV-1"),
        spatial_model=lib.PointSpatialModel(lon_0=lon, lat_0="0 deg", frame="galactic"),
        name=name,
        datasets_names=datasets_names,
    )


def _models(lib):
    return [
        _source(lib, "shared"),
        _source(lib, "only-b", datasets_names=["b"], lon="-0.2 deg"),
        lib.FoVBackgroundModel(dataset_name="a"),
        lib.FoVBackgroundModel(dataset_name="b"),
    ]


@pytest.fixture
def collections():
    """``(gammapy Datasets, mapds Datasets)`` of two datasets ``a`` and ``b`` with the same models."""
    gp = gammapy.datasets.Datasets([build_dataset(GAMMAPY, s, name=n) for s, n in ((0, "a"), (1, "b"))])
    md = Datasets([build_dataset(MAPDS, s, name=n) for s, n in ((0, "a"), (1, "b"))])
    gp.models = _models(gp_models)
    md.models = _models(md_models)
    return gp, md


# -- the list --------------------------------------------------------------------------------------


def test_construction_and_access():
    a, b, c = (build_dataset(MAPDS, i, name=n) for i, n in enumerate("abc"))
    assert Datasets(a).names == ["a"]
    datasets = Datasets([a, b])
    assert Datasets(datasets).names == ["a", "b"]
    assert datasets["b"] is b and datasets[0] is a and datasets[b] is b
    assert datasets[0:1] == [a]  # a list, as in gammapy
    datasets.append(c)
    assert datasets.names == ["a", "b", "c"] and len(datasets) == 3
    del datasets["a"]
    datasets.insert(0, a)
    assert datasets.index("c") == 2
    datasets[2] = c.copy(name="d")
    assert datasets.names == ["a", "b", "d"]
    assert (a + b).names == ["a", "b"]
    assert (a + [b, c]).names == ["a", "b", "c"]  # noqa: RUF005 (dataset + list makes Datasets)
    assert (a + Datasets([b])).names == ["a", "b"]
    assert (Datasets([a]) + b).names == ["a", "b"]


def test_bad_members_are_refused():
    a, b = (build_dataset(MAPDS, i, name=n) for i, n in enumerate("ab"))
    with pytest.raises(InvalidArgumentError, match=r"unique.*'a'"):
        Datasets([a, a.copy(name="a")])
    datasets = Datasets([a, b])
    with pytest.raises(InvalidArgumentError, match="unique"):
        datasets.append(a.copy(name="b"))
    with pytest.raises(InvalidArgumentError, match="unique"):
        datasets[0] = b.copy(name="b")
    with pytest.raises(TypeError, match="MapDataset"):
        Datasets([a, "b"])
    with pytest.raises(TypeError):
        Datasets("a")
    with pytest.raises(KeyError, match="'z'"):
        datasets["z"]
    with pytest.raises(TypeError):
        a + 1


# -- models ----------------------------------------------------------------------------------------


def test_models_are_distributed_as_gammapy(collections):
    gp, md = collections
    assert md.models.names == gp.models.names
    for gp_dataset, md_dataset in zip(gp, md, strict=True):
        assert md_dataset.models.names == gp_dataset.models.names
    assert md.parameters.names == gp.parameters.names
    # one object per model, shared by the datasets
    assert md["a"].models["shared"] is md["b"].models["shared"]


def test_models_for_absent_datasets_are_refused(collections):
    _, md = collections
    with pytest.raises(ModelError, match=r"'lost'.*\['c'\]"):
        md.models = [_source(md_models, "lost", datasets_names=["c"])]
    with pytest.raises(ModelError, match="'c-bkg'"):
        md.models = [md_models.FoVBackgroundModel(dataset_name="c")]
    # one named dataset present is enough; the dataset itself silently drops models of others
    md.models = [_source(md_models, "partly", datasets_names=["b", "c"])]
    assert md["a"].models.names == [] and md["b"].models.names == ["partly"]
    md["a"].models = [_source(md_models, "elsewhere", datasets_names=["c"])]
    assert md["a"].models.names == []
    md.models = None
    assert md.models.names == [] and md["a"].models is None


def test_models_keep_covariance(collections):
    _, md = collections
    # in the order the collection lists its models (dataset a's, then b's new ones)
    models = md_models.DatasetModels([md.models[name] for name in md.models.names])
    n = len(models.parameters)
    covariance = np.diag(np.arange(1, n + 1, dtype=float))
    covariance[0, n - 1] = covariance[n - 1, 0] = 0.5  # a term across two models
    md.models = md_models.DatasetModels(models, covariance_data=covariance)
    np.testing.assert_allclose(md.models.covariance.data, covariance)


def test_a_covariance_set_through_the_models_is_not_lost(collections):
    """Setting ``datasets.models.covariance`` (what a fit does) reaches every later
    ``datasets.models``, also when the models came with a covariance of their own."""
    _, md = collections
    n = len(md.models.parameters)
    md.models = md_models.DatasetModels(md.models, covariance_data=np.eye(n))
    new = np.diag(np.arange(2, n + 2, dtype=float))
    md.models.covariance = new
    np.testing.assert_allclose(md.models.covariance.data, new)
    assert md.models.parameters[0].error == pytest.approx(np.sqrt(2.0))


def test_stat_sum_matches_gammapy_in_one_computation(collections, raise_if_dask_computes):
    gp, md = collections
    expected = gp.stat_sum()
    assert md.stat_sum() == pytest.approx(expected, rel=1e-9)
    with raise_if_dask_computes():
        lazy = md.stat_sum(compute=False)
    with raise_if_dask_computes(max_computes=1):
        assert float(lazy.compute()) == pytest.approx(expected, rel=1e-9)
    md["a"].models["shared"].spectral_model.index.value = 2.5
    gp["a"].models["shared"].spectral_model.index.value = 2.5
    with raise_if_dask_computes(max_computes=1):
        assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-9)


def test_copy_shares_model_copies(collections):
    _, md = collections
    copy = md.copy()
    assert copy.names == md.names
    assert copy["a"].models.names == md["a"].models.names
    shared = copy["a"].models["shared"]
    assert shared is copy["b"].models["shared"] and shared is not md["a"].models["shared"]
    shared.spectral_model.index.value = 3.0
    assert md["a"].models["shared"].spectral_model.index.value != 3.0
    assert copy.stat_sum() != md.stat_sum()


def test_properties_match_gammapy(collections):
    gp, md = collections
    assert md.is_all_same_type and md.is_all_same_shape and md.is_all_same_energy_shape
    assert md.is_all_same_geom == gp.is_all_same_geom
    assert md.energy_axes_are_aligned == gp.energy_axes_are_aligned
    np.testing.assert_array_equal(md.contributes_to_stat, gp.contributes_to_stat)
    assert md.meta_table.colnames == gp.meta_table.colnames
    np.testing.assert_array_equal(md.meta_table["OBS_ID"], gp.meta_table["OBS_ID"])
    np.testing.assert_allclose(md.gti.met_start.value, gp.gti.met_start.value)
    np.testing.assert_allclose(md.gti.met_stop.value, gp.gti.met_stop.value)
    assert str(md) == str(gp)


# -- files -----------------------------------------------------------------------------------------


def _without_metadata(text: str) -> dict:
    data = yaml.safe_load(text)
    data.pop("metadata")
    data.pop("checksum", None)
    return data


def test_yaml_files_as_gammapy(tmp_path, collections):
    gp, md = collections
    gp.write(tmp_path / "gp" / "datasets.yaml", filename_models=tmp_path / "gp" / "models.yaml")
    md.write(tmp_path / "md" / "datasets.yaml", filename_models=tmp_path / "md" / "models.yaml")
    gp_text = (tmp_path / "gp" / "datasets.yaml").read_text()
    md_text = (tmp_path / "md" / "datasets.yaml").read_text()
    assert _without_metadata(md_text) == _without_metadata(gp_text)
    assert md_text.split("metadata:")[0] == gp_text.split("metadata:")[0]
    assert "checksum: " in md_text
    listing = {key: sorted(p.name for p in (tmp_path / key).iterdir()) for key in ("md", "gp")}
    assert listing["md"] == listing["gp"]
    # mapds files read in gammapy (checksums verified), gammapy files in mapds
    again = gammapy.datasets.Datasets.read(
        tmp_path / "md" / "datasets.yaml", filename_models=tmp_path / "md" / "models.yaml"
    )
    assert again.names == ["a", "b"] and again.models.names == gp.models.names
    assert again.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)
    read = Datasets.read(tmp_path / "gp" / "datasets.yaml", filename_models=tmp_path / "gp" / "models.yaml")
    assert read.names == ["a", "b"] and read.models.names == gp.models.names
    assert read.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_crab_datasets_and_models_load(crab_dir):
    with pytest.warns(UserWarning, match="Checksum"):
        md = Datasets.read(
            crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=crab_dir / "Fermi-LAT-3FHL_models.yaml"
        )
    with pytest.warns(UserWarning, match="Checksum"):
        gp = gammapy.datasets.Datasets.read(
            crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=crab_dir / "Fermi-LAT-3FHL_models.yaml"
        )
    assert md.names == ["Fermi-LAT"]
    assert isinstance(md[0], MapDataset)
    assert md[0].models.names == gp[0].models.names == ["Crab Nebula", "Fermi-LAT-bkg"]
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)
    # without checksum verification, no warning
    Datasets.read(crab_dir / "Fermi-LAT-3FHL_datasets.yaml", checksum=False)


def test_write_never_clobbers(tmp_path, collections):
    _, md = collections
    md.write(tmp_path / "datasets.yaml")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(OverwriteError, match=r"datasets\.yaml"):
        md.write(tmp_path / "datasets.yaml")
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    md.write(tmp_path / "datasets.yaml", overwrite=True, checksum=False)
    assert "checksum" not in (tmp_path / "datasets.yaml").read_text()


def test_bad_datasets_files(tmp_path):
    entry = "-   name: x\n    type: FluxPointsDataset\n    filename: x.fits\n"
    (tmp_path / "bad.yaml").write_text("datasets:\n" + entry)
    with pytest.raises(CorruptFileError, match="FluxPointsDataset"):
        Datasets.read(tmp_path / "bad.yaml", checksum=False)
    (tmp_path / "empty.yaml").write_text("components: []\n")
    with pytest.raises(InvalidArgumentError, match="datasets"):
        Datasets.read(tmp_path / "empty.yaml", checksum=False)


def test_cumulative_info_table_matches_gammapy(collections, raise_if_dask_computes):
    gp, md = collections
    expected = gp.info_table(cumulative=True)
    # one computation for the table, plus stacking's small "any safe bin" flag per dataset stacked
    with raise_if_dask_computes(max_computes=len(md) + 1):
        table = md.info_table(cumulative=True)
    assert table.colnames == expected.colnames
    assert list(table["name"]) == list(expected["name"]) == ["stacked", "stacked"]
    for name in ("counts", "background", "npred_background", "n_fit_bins", "exposure_max", "ontime"):
        np.testing.assert_allclose(
            np.asarray(table[name]), np.asarray(expected[name]), rtol=1e-6, err_msg=name
        )
