"""Models and DatasetModels: selection, names, freezing, copies, covariance."""

from __future__ import annotations

import numpy as np
import pytest
from gammapy.modeling import models as gammapy_models
from numpy.testing import assert_allclose

from mapds.errors import ModelError
from mapds.modeling import models


def build(module):
    """The same model collection in mapds or gammapy."""
    return module.Models(
        [
            module.SkyModel(
                module.PowerLawSpectralModel(index=2.4),
                module.GaussianSpatialModel(sigma="0.1 deg"),
                name="gauss-src",
                datasets_names=["d1"],
            ),
            module.SkyModel(
                module.LogParabolaSpectralModel(),
                module.PointSpatialModel(),
                name="point-src",
                datasets_names=["d2"],
            ),
            module.SkyModel(module.ExpCutoffPowerLawSpectralModel(), name="spectrum-only"),
            module.FoVBackgroundModel(dataset_name="d1"),
        ]
    )


@pytest.fixture
def both():
    return build(models), build(gammapy_models)


def test_names_parameters_and_background_models_match_gammapy(both):
    ours, theirs = both
    assert ours.names == theirs.names
    assert ours.parameters.names == theirs.parameters.names
    assert ours.parameters_unique_names == theirs.parameters_unique_names
    assert ours.background_models == theirs.background_models == {"d1": "d1-bkg"}
    assert ours["point-src"] is ours[1]
    assert ours.index(ours[2]) == 2
    with pytest.raises(ModelError, match="'nope'"):
        ours["nope"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name_substring": "src"},
        {"datasets_names": "d1"},
        {"datasets_names": ["d2"]},
        {"tag": "sky-model"},
        {"tag": ["fov-bkg", "SkyModel"]},
        {"tag": "point", "model_type": "spatial"},
        {"tag": "pl", "model_type": "spectral"},
        {"frozen": False},
        {"name_substring": "src", "datasets_names": "d2"},
    ],
)
def test_select_matches_gammapy(both, kwargs):
    ours, theirs = both
    selected = ours.select(**kwargs)
    assert isinstance(selected, models.Models)
    assert selected.names == theirs.select(**kwargs).names


def test_freeze_and_unfreeze_by_model_type(both):
    ours, theirs = both
    defaults = [p.frozen for p in ours.parameters]
    ours.freeze("spatial")  # gammapy fails on the model without spatial component
    assert [p.frozen for p in ours.parameters if p.type == "spatial"] == [True] * 7
    assert [p.frozen for p in ours.parameters if p.type == "spectral"] == [
        d for p, d in zip(ours.parameters, defaults, strict=True) if p.type == "spectral"
    ]
    for collection in (ours, theirs):
        collection.freeze()
    assert ours.frozen and ours.select(frozen=True).names == ours.names
    for collection in (ours, theirs):
        collection.unfreeze()
    assert [p.frozen for p in ours.parameters] == [p.frozen for p in theirs.parameters] == defaults


def test_unique_names_and_one_background_per_dataset():
    pl = models.PowerLawSpectralModel
    with pytest.raises(ModelError, match=r"unique.*'a'"):
        models.Models([models.SkyModel(pl(), name="a"), models.SkyModel(pl(), name="a")])
    with pytest.raises(ModelError, match=r"one FoVBackgroundModel per dataset.*'d1'"):
        models.Models([models.FoVBackgroundModel("d1"), models.FoVBackgroundModel("d1", name="other")])
    collection = models.Models([models.SkyModel(pl(), name="a")])
    with pytest.raises(ModelError, match="unique"):
        collection.append(models.SkyModel(pl(), name="a"))
    with pytest.raises(ModelError, match="unique"):
        collection + models.SkyModel(pl(), name="a")
    assert collection.names == ["a"]


def test_models_are_mutable_and_dataset_models_are_not(both):
    ours, _ = both
    ours.append(models.FoVBackgroundModel("d2"))
    assert ours.background_models == {"d1": "d1-bkg", "d2": "d2-bkg"}
    del ours["d2-bkg"]
    assert "d2-bkg" not in ours.names
    ours.insert(0, models.SkyModel(models.PowerLawSpectralModel(), name="first"))
    assert ours.names[0] == "first"
    ours[0] = models.SkyModel(models.PowerLawSpectralModel(), name="replaced")
    assert ours.names[0] == "replaced"
    with pytest.raises(TypeError, match="SkyModel"):
        ours[0] = models.PowerLawSpectralModel()
    frozen = models.DatasetModels(ours)
    assert frozen.names == ours.names
    assert not hasattr(frozen, "append")
    with pytest.raises(TypeError):
        frozen[0] = ours[1]
    ours.pop(0)
    assert frozen.names[0] == "replaced"  # an independent list


def test_add_builds_models():
    a = models.SkyModel(models.PowerLawSpectralModel(), name="a")
    b = models.SkyModel(models.PowerLawSpectralModel(), name="b")
    combined = a + b
    assert isinstance(combined, models.Models) and combined.names == ["a", "b"]
    assert combined.__add__([models.FoVBackgroundModel("x")]).names == ["a", "b", "x-bkg"]
    assert (a + models.Models([b])).names == ["a", "b"]


def test_copy_keeps_names_values_links_and_covariance(both):
    ours, _ = both
    ours[1].spatial_model.lon_0 = ours[0].spatial_model.lon_0  # a linked parameter
    ours[0].spectral_model.index.error = 0.3
    copy = ours.copy()
    assert copy.names == ours.names
    assert copy[0].spectral_model is not ours[0].spectral_model
    assert copy[1].spatial_model.lon_0 is copy[0].spatial_model.lon_0
    assert copy[1].spatial_model.lon_0 is not ours[0].spatial_model.lon_0
    assert_allclose(copy.covariance.data, ours.covariance.data)
    assert len(copy.parameters.unique_parameters) == len(copy.parameters) - 1


def test_covariance_setter_distributes_errors(both):
    ours, theirs = both
    n = len(ours.parameters)
    data = np.diag(np.linspace(0.1, 1, n))
    ours.covariance = data
    theirs.covariance = data
    assert_allclose([p.error for p in ours.parameters], [p.error for p in theirs.parameters])
    assert_allclose(ours.covariance.data, theirs.covariance.data)


def test_restore_status(both):
    ours, _ = both
    values = ours.parameters.value.copy()
    with ours.restore_status():
        ours.parameters.value = values * 2
        ours.freeze()
    assert_allclose(ours.parameters.value, values)
    assert not ours.frozen


def test_parameters_table_names_models(both):
    ours, theirs = both
    table = ours.to_parameters_table()
    assert table.colnames[0] == "model"
    assert list(table["model"]) == list(theirs.to_parameters_table()["model"])
