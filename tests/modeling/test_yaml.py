"""Models YAML files: byte-compatible with gammapy 2.1 both ways, covariance files, named errors."""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
import pytest
import yaml
from gammapy.modeling import models as gammapy_models
from numpy.testing import assert_allclose

from mapds.errors import ModelError, OverwriteError, ParameterError, UnknownModelTypeError
from mapds.maps import Map
from mapds.modeling import models


def build_all(module):
    """A collection using every supported model and the optional YAML keys, in mapds or gammapy."""
    m = module
    lp_pl = m.LogParabolaSpectralModel(alpha=2.1) + m.PowerLawSpectralModel(index=2.8)
    template = m.TemplateSpectralModel(
        energy=[0.3, 1, 3, 10] * u.TeV, values=[5e-11, 2e-12, 1e-13, 4e-15] * u.Unit("cm-2 s-1 TeV-1")
    )
    components = [
        m.SkyModel(
            m.PowerLawSpectralModel(index=2.3, amplitude="2e-12 cm-2 s-1 TeV-1"),
            m.GaussianSpatialModel(lon_0="0.2 deg", lat_0="-0.1 deg", sigma="0.3 deg", frame="galactic"),
            name="gauss",
            datasets_names=["ds1", "ds2"],
        ),
        m.SkyModel(
            m.PowerLaw2SpectralModel(index=2.2),
            m.PointSpatialModel(lon_0="83.6 deg", lat_0="22 deg"),
            name="pt",
        ),
        m.SkyModel(
            m.ExpCutoffPowerLawSpectralModel(lambda_="0.05 TeV-1"),
            m.DiskSpatialModel(r_0="0.5 deg", e=0.3, phi="30 deg", frame="galactic"),
            name="disk",
            apply_irf={"exposure": True, "psf": False, "edisp": True},
        ),
        m.SkyModel(lp_pl, m.ShellSpatialModel(radius="0.4 deg", width="0.1 deg"), name="shell"),
        m.SkyModel(m.ConstantSpectralModel(), m.Shell2SpatialModel(r_0="0.6 deg", eta=0.3), name="shell2"),
        m.SkyModel(
            m.LogParabolaSpectralModel(beta=0.2) * m.PowerLawNormSpectralModel(norm=1.5),
            m.GeneralizedGaussianSpatialModel(r_0="0.2 deg", eta=0.7),
            name="gg",
        ),
        m.SkyModel(template, m.ConstantSpatialModel(), name="iso"),
        m.SkyModel(m.PowerLawSpectralModel(), name="spectrum only"),
        m.FoVBackgroundModel(dataset_name="ds1"),
    ]
    collection = m.Models(components)
    pars = collection.parameters
    pars["sigma"].error = 0.02
    pars["sigma"].min = 0.01
    pars["index"].frozen = True
    pars["r_0"].max = 3.0
    pars["alpha"].frozen = True
    return collection


def strip_metadata(text: str) -> str:
    """The text without the lines that necessarily differ (creator and creation date)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(("    creator:", "    date:")))


@pytest.mark.parametrize("full_output", [False, True])
def test_written_files_are_identical_to_gammapy(tmp_path, full_output):
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    build_all(models).write(tmp_path / "ours" / "models.yaml", full_output=full_output)
    build_all(gammapy_models).write(tmp_path / "theirs" / "models.yaml", full_output=full_output)
    ours = (tmp_path / "ours" / "models.yaml").read_text()
    theirs = (tmp_path / "theirs" / "models.yaml").read_text()
    assert strip_metadata(ours) == strip_metadata(theirs)
    assert len(ours.splitlines()) == len(theirs.splitlines())
    assert "    creator: mapds " in ours and "\ncovariance: models_covariance.dat\nmetadata:\n" in ours
    covariance = (tmp_path / "ours" / "models_covariance.dat").read_bytes()
    assert covariance == (tmp_path / "theirs" / "models_covariance.dat").read_bytes()


def test_to_yaml_matches_gammapy_text():
    ours, theirs = build_all(models).to_yaml(), build_all(gammapy_models).to_yaml()
    assert strip_metadata(ours) == strip_metadata(theirs)
    assert "covariance" not in ours


@pytest.mark.parametrize("full_output", [False, True])
def test_files_written_by_gammapy_read_into_equal_models(tmp_path, full_output, plain):
    path = tmp_path / "models.yaml"
    expected = build_all(gammapy_models)
    expected.covariance = _random_covariance(len(expected.parameters))
    expected.write(path, full_output=full_output)
    ours = models.Models.read(path)
    theirs = gammapy_models.Models.read(path)
    assert ours.names == theirs.names
    assert plain(ours.to_dict(full_output=True)) == plain(theirs.to_dict(full_output=True))
    assert_allclose(ours.covariance.data, theirs.covariance.data, rtol=1e-12)
    assert_allclose([p.error for p in ours.parameters], [p.error for p in theirs.parameters])
    energy = np.geomspace(0.1, 50, 7) * u.TeV
    for model, gp_model in zip(ours, theirs, strict=True):
        assert type(model).__name__ == type(gp_model).__name__
        assert_allclose(model.spectral_model(energy).value, gp_model.spectral_model(energy).value, rtol=1e-12)


def test_files_written_by_mapds_read_by_gammapy(tmp_path, plain):
    path = tmp_path / "models.yaml"
    ours = build_all(models)
    ours.covariance = _random_covariance(len(ours.parameters))
    ours.write(path)
    theirs = gammapy_models.Models.read(path)
    assert plain(theirs.to_dict(full_output=True)) == plain(ours.to_dict(full_output=True))
    assert_allclose(theirs.covariance.data, ours.covariance.data, rtol=1e-12)
    again = models.Models.read(path)
    assert strip_metadata(again.to_yaml()) == strip_metadata(ours.to_yaml())


def _random_covariance(n: int) -> np.ndarray:
    """A valid covariance matrix with off-diagonal terms."""
    a = np.random.default_rng(7).normal(0, 0.1, (n, n))
    return a @ a.T


def test_crab_models_file(crab_dir, tmp_path, plain):
    path = crab_dir / "Fermi-LAT-3FHL_models.yaml"
    ours, theirs = models.Models.read(path), gammapy_models.Models.read(path)
    assert ours.names == theirs.names == ["Crab Nebula", "Fermi-LAT-bkg"]
    crab = ours["Crab Nebula"]
    assert isinstance(crab.spectral_model, models.LogParabolaSpectralModel)
    assert isinstance(crab.spatial_model, models.PointSpatialModel)
    assert_allclose(crab.spectral_model.alpha.value, 1.652368617859867)
    assert_allclose(crab.spectral_model.amplitude.error, 0.003026327991562108)
    assert crab.spatial_model.lon_0.frozen
    assert ours.background_models == {"Fermi-LAT": "Fermi-LAT-bkg"}
    assert ours["Fermi-LAT-bkg"].spectral_model.parameters.names == ["tilt", "norm", "reference"]
    assert plain(ours.to_dict(full_output=True)) == plain(theirs.to_dict(full_output=True))
    assert_allclose(ours.covariance.data, theirs.covariance.data)
    energy = np.geomspace(1e4, 2e6, 6) * u.MeV
    assert_allclose(crab.spectral_model(energy).value, theirs[0].spectral_model(energy).value, rtol=1e-12)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours.write(tmp_path / "a" / "crab.yaml")
    theirs.write(tmp_path / "b" / "crab.yaml")
    assert strip_metadata((tmp_path / "a" / "crab.yaml").read_text()) == strip_metadata(
        (tmp_path / "b" / "crab.yaml").read_text()
    )


def test_template_file_is_read_lazily_like_gammapy(crab_dir, tmp_path, plain):
    iem = crab_dir / "Fermi-LAT-3FHL_iem.fits"
    text = (
        "components:\n-   name: diffuse\n    type: SkyModel\n    spectral:\n"
        "        type: PowerLawNormSpectralModel\n        parameters: []\n"
        f"    spatial:\n        type: TemplateSpatialModel\n        frame: galactic\n"
        f"        parameters: []\n        filename: {iem}\n        normalize: false\n"
    )
    path = tmp_path / "diffuse.yaml"
    path.write_text(text)
    ours, theirs = models.Models.read(path), gammapy_models.Models.read(path)
    spatial, gp_spatial = ours[0].spatial_model, theirs[0].spatial_model
    assert spatial.is_energy_dependent and spatial.unit == gp_spatial.map.unit
    lon, lat = [184.3, 184.6, 185.0] * u.deg, [-5.9, -5.7, -5.5] * u.deg
    energy = [20, 100, 500] * u.GeV
    assert_allclose(spatial(lon, lat, energy).value, gp_spatial(lon, lat, energy).value, rtol=1e-6)
    assert plain(ours.to_dict()) == plain(theirs.to_dict())


# -- covariance files ------------------------------------------------------------------------------


def test_covariance_file_round_trip_with_off_diagonal_terms(tmp_path):
    ours = build_all(models)
    data = _random_covariance(len(ours.parameters))
    ours.covariance = data
    ours.write(tmp_path / "m.yaml")
    again = models.Models.read(tmp_path / "m.yaml")
    assert_allclose(again.covariance.data, data, rtol=1e-14)
    assert again.to_dict()["covariance"] == "m_covariance.dat"
    assert (tmp_path / "m_covariance.dat").exists()


def test_write_without_covariance_and_overwrite(tmp_path):
    collection = build_all(models)
    collection.write(tmp_path / "m.yaml", write_covariance=False)
    assert not (tmp_path / "m_covariance.dat").exists()
    assert "covariance:" not in (tmp_path / "m.yaml").read_text()
    with pytest.raises(OverwriteError, match=r"m\.yaml"):
        collection.write(tmp_path / "m.yaml")
    collection.write(tmp_path / "m.yaml", overwrite=True)


def test_unusable_covariance_file_only_warns(tmp_path, caplog):
    build_all(models).write(tmp_path / "m.yaml")
    small = models.Models([models.SkyModel(models.PowerLawSpectralModel(), name="x")])
    small.write(tmp_path / "small.yaml")
    text = (tmp_path / "m.yaml").read_text().replace("m_covariance.dat", "small_covariance.dat")
    (tmp_path / "m.yaml").write_text(text)
    with caplog.at_level(logging.WARNING):
        read = models.Models.read(tmp_path / "m.yaml")
    assert "Impossible to read the covariance" in caplog.text
    assert read.names == build_all(models).names


def test_missing_covariance_file_is_an_error(tmp_path):
    build_all(models).write(tmp_path / "m.yaml")
    (tmp_path / "m_covariance.dat").unlink()
    with pytest.raises(FileNotFoundError, match=r"m_covariance\.dat"):
        models.Models.read(tmp_path / "m.yaml")


# -- reading variants ------------------------------------------------------------------------------


def test_short_tags_old_keys_and_missing_parameters(caplog):
    text = """
components:
-   name: src
    type: sky-model
    spectral:
        type: pl
        parameters:
        -   {name: amplitude, value: 3.0e-12, unit: cm-2 s-1 TeV-1, is_norm: false}
        -   {name: index, value: 2.6}
    spatial:
        type: gauss
        frame: icrs
        parameters:
        -   {name: sigma, value: 6.0, unit: arcmin}
-   type: fov-bkg
    datasets_names: [ds]
    spectral:
        type: pl-norm
        parameters:
        -   {name: norm, value: 1.2}
"""
    with caplog.at_level(logging.WARNING):
        collection = models.Models.from_yaml(text)
    assert "Parameter 'reference' not defined in YAML file" in caplog.text
    src = collection["src"]
    assert isinstance(src.spectral_model, models.PowerLawSpectralModel)
    assert src.spectral_model.parameters.names == ["index", "amplitude", "reference"]
    assert_allclose(src.spectral_model.reference.value, 1.0)
    assert src.spatial_model.sigma.unit == u.arcmin
    assert_allclose(src.spatial_model.evaluation_radius.to_value("deg"), 0.5)
    assert collection["ds-bkg"].spectral_model.norm.value == 1.2


def test_linked_parameters_are_shared_after_reading():
    text = """
components:
-   name: a
    type: SkyModel
    spectral:
        type: PowerLawSpectralModel
        parameters:
        -   {name: index, value: 2.5, link: index@shared}
-   name: b
    type: SkyModel
    spectral:
        type: PowerLawSpectralModel
        parameters:
        -   {name: index, value: 2.5, link: index@shared}
"""
    collection = models.Models.from_yaml(text)
    assert collection["a"].spectral_model.index is collection["b"].spectral_model.index
    written = yaml.safe_load(collection.to_yaml())
    links = [c["spectral"]["parameters"][0]["link"] for c in written["components"]]
    assert links[0] == links[1] and links[0].startswith("index@")
    assert len(collection.parameters.unique_parameters) == len(collection.parameters) - 1


def test_checksum_written_and_verified(tmp_path):
    path = tmp_path / "m.yaml"
    build_all(models).write(path, checksum=True)
    lines = path.read_text().splitlines()
    assert lines[-1].startswith("checksum: ") and len(lines[-1]) == len("checksum: ") + 32
    models.Models.read(path, checksum=True)
    path.write_text(path.read_text().replace("value: 2.3", "value: 2.4"))
    with pytest.warns(UserWarning, match="Checksum verification failed"):
        models.Models.read(path, checksum=True)
    gammapy_models.Models.read(path)  # gammapy reads mapds checksum files too


def test_read_and_write_on_an_fsspec_url():
    url = "memory://mapds-test-models/sub/models.yaml"
    collection = build_all(models)
    collection.covariance = _random_covariance(len(collection.parameters))
    collection.write(url)
    again = models.Models.read(url)
    assert again.names == collection.names
    assert_allclose(again.covariance.data, collection.covariance.data, rtol=1e-14)


def test_dataset_models_read_and_from_dict():
    data = build_all(models).to_dict()
    assert isinstance(models.DatasetModels.from_dict(data), models.DatasetModels)
    assert models.Models.from_dict(data).names == build_all(models).names


def test_non_default_interp_and_scale_method_are_written_in_compact_output():
    # (gammapy 2.1 fails on these in compact output: it calls isnan on the strings)
    model = models.PowerLawSpectralModel()
    model.index.interp = "log"
    model.amplitude.scale_method = "factor1"
    index, amplitude, _ = model.to_dict()["spectral"]["parameters"]
    assert index == {"name": "index", "value": 2.0, "interp": "log"}
    assert amplitude["scale_method"] == "factor1" and "interp" not in amplitude
    again = models.PowerLawSpectralModel.from_dict(model.to_dict())
    assert again.index.interp == "log" and again.amplitude.scale_method == "factor1"


# -- errors ----------------------------------------------------------------------------------------

GOOD = {
    "name": "src",
    "type": "SkyModel",
    "spectral": {"type": "PowerLawSpectralModel", "parameters": [{"name": "index", "value": 2.0}]},
    "spatial": {
        "type": "PointSpatialModel",
        "frame": "icrs",
        "parameters": [{"name": "lon_0", "value": 1.0, "unit": "deg"}],
    },
}


def read_component(**changes):
    component = yaml.safe_load(yaml.safe_dump(GOOD))
    for path, value in changes.items():
        *keys, last = path.split("__")
        target = component
        for key in keys:
            target = target[key] if not key.isdigit() else target[int(key)]
        target[last] = value
    return models.Models.from_dict({"components": [{"name": "ok", **GOOD}, component]})


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        (
            {"type": "SkyModl"},
            UnknownModelTypeError,
            r"components\[1\].*'src'.*'SkyModl'.*known types: SkyModel",
        ),
        (
            {"spectral__type": "plaw"},
            UnknownModelTypeError,
            r"'src'.*spectral model type 'plaw'.*PowerLawSpectralModel",
        ),
        ({"spatial__type": "gaus"}, UnknownModelTypeError, r"'src'.*spatial model type 'gaus'.*gauss"),
        (
            {"spectral__parameters__0__unit": "TeV"},
            ParameterError,
            r"'src'.*PowerLawSpectralModel.*'index'.*TeV",
        ),
        ({"spatial__parameters__0__unit": "furlong^2"}, ParameterError, r"'src'.*PointSpatialModel.*'lon_0'"),
        ({"spectral__parameters__0__name": "indx"}, ParameterError, r"'src'.*unknown parameter 'indx'"),
        ({"spectral__parameters__0__frozen": "maybe"}, ParameterError, r"'src'.*'index'.*frozen"),
        ({"spectral__parameters__0__value": "abc"}, ParameterError, r"'src'.*'index'.*'abc'"),
        ({"spectral__parameters__0__color": 1}, ParameterError, r"'src'.*'index'.*unknown key.*'color'"),
        ({"spectral__parameters": [{"value": 2}]}, ParameterError, r"'src'.*has no 'name'"),
        ({"spectral__parameters": {"index": 2}}, ParameterError, r"'src'.*must be a list"),
        ({"spectral": None}, ModelError, r"'src'.*no 'spectral'"),
        ({"temporal": {"type": "steady"}}, UnknownModelTypeError, r"'src'.*temporal model type 'steady'"),
        ({"apply_irf": {"aeff": False}}, ModelError, r"'src'.*apply_irf.*'aeff'"),
    ],
)
def test_bad_components_raise_named_errors(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        read_component(**changes)


def test_structural_errors():
    with pytest.raises(ModelError, match="components"):
        models.Models.from_dict({"models": []})
    with pytest.raises(ModelError, match=r"components\[0\].*mapping"):
        models.Models.from_dict({"components": ["SkyModel"]})
    with pytest.raises(ModelError, match="not valid YAML"):
        models.Models.from_yaml("components: [\n")
    with pytest.raises(ModelError, match="mapping at the top level"):
        models.Models.from_yaml("- a\n- b\n")
    fov = {"type": "FoVBackgroundModel", "datasets_names": ["a", "b"], "spectral": GOOD["spectral"]}
    with pytest.raises(ModelError, match=r"components\[0\].*'a-bkg'.*one dataset"):
        models.Models.from_dict({"components": [fov]})
    with pytest.raises(ModelError, match="unique"):
        models.Models.from_dict({"components": [GOOD, GOOD]})
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        models.Models.read("/nonexistent-dir/nope.yaml")


def test_unknown_type_error_is_also_a_key_error():
    with pytest.raises(KeyError):
        read_component(type="nope")


def test_template_written_with_the_models_and_read_back(tmp_path, raise_if_dask_computes):
    from gammapy.maps import Map as GammapyMap

    from mapds.geom import MapAxis, WcsGeom

    axis = MapAxis.from_energy_bounds("1 TeV", "100 TeV", 3, name="energy_true")
    geom = WcsGeom.create(npix=(20, 16), binsz=0.1, frame="galactic", skydir=(10, 1), axes=[axis])
    data = np.random.default_rng(3).uniform(0.1, 1, geom.data_shape)
    filename = tmp_path / "template.fits"
    spatial = models.TemplateSpatialModel(Map.from_geom(geom, data=data), filename=filename)
    collection = models.Models([models.SkyModel(models.PowerLawSpectralModel(), spatial, name="tpl")])
    collection.write(tmp_path / "models.yaml")
    assert filename.exists()
    with raise_if_dask_computes():
        ours = models.Models.read(tmp_path / "models.yaml")
    theirs = gammapy_models.Models.read(tmp_path / "models.yaml")
    # a template next to the models file is written back by its relative name (gammapy)
    assert ours[0].spatial_model.filename == theirs[0].spatial_model.filename == "template.fits"
    lon, lat, energy = [9.5, 10.2] * u.deg, [0.6, 1.3] * u.deg, [2, 30] * u.TeV
    expected = theirs[0].spatial_model(lon, lat, energy)
    assert_allclose(ours[0].spatial_model(lon, lat, energy).value, expected.value, rtol=1e-6)
    gp_map = GammapyMap.read(filename)
    assert gp_map.unit == "sr-1"
