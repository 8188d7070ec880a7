"""Parameter priors: values, bounds, copies, YAML (gammapy 2.1 is the reference where it is installed)."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import yaml
from numpy.testing import assert_allclose

from mapds.errors import ParameterError, UnknownModelTypeError
from mapds.modeling import Parameter, Parameters, PriorParameter
from mapds.modeling import models as mapds_models
from mapds.modeling.priors import PRIOR_REGISTRY, Prior

#: (class name, keyword arguments, values at which the prior is evaluated).
PRIORS = [
    ("GaussianPrior", {}, [-3.0, 0.0, 0.4, 2.5]),
    ("GaussianPrior", {"mu": 2.3, "sigma": 0.2, "weight": 2.5}, [1.7, 2.3, 2.41, 5.0]),
    ("UniformPrior", {}, [-0.5, 0.0, 0.3, 1.0, 1.5]),
    ("UniformPrior", {"min": -2, "max": 3, "weight": 0.5}, [-2.1, -2.0, 0.0, 2.9, 3.1]),
    ("LogUniformPrior", {}, [1e-15, 1e-14, 3e-12, 1e-10, 2e-10, -1.0]),
    ("LogUniformPrior", {"min": 0.1, "max": 100.0, "weight": 3}, [0.05, 0.1, 7.0, 100.0]),
    ("GeneralizedGaussianPrior", {}, [-1.0, 0.0, 0.7, 3.0]),
    ("GeneralizedGaussianPrior", {"mu": 1.0, "sigma": 0.3, "eta": 1.0}, [0.2, 1.0, 1.1, 4.0]),
    ("GeneralizedGaussianPrior", {"mu": -1.0, "sigma": 2.0, "eta": 0.1, "weight": 2}, [-3.0, -1.0, 1.5]),
]


@pytest.fixture
def gammapy_models():
    """``gammapy.modeling.models`` (tests using it are skipped without gammapy)."""
    return pytest.importorskip("gammapy.modeling.models")


@pytest.fixture
def gammapy_parameter():
    return pytest.importorskip("gammapy.modeling").Parameter


def with_priors(m):
    """Models with every prior type, a linked parameter with a prior and non-default prior fields."""
    pl = m.PowerLawSpectralModel(index=2.2)
    pl.index.prior = m.GaussianPrior(mu=2.3, sigma=0.2)
    pl.amplitude.prior = m.LogUniformPrior(min=1e-13, max=1e-11, weight=2)
    gauss = m.GaussianSpatialModel(lon_0="0.1 deg", lat_0="0.2 deg", sigma="0.3 deg")
    gauss.sigma.prior = m.UniformPrior(min=0.05, max=1.5, weight=0.5)
    generalized = m.GeneralizedGaussianPrior(mu=0.1, sigma=0.05, eta=0.8)
    generalized.sigma.error = 0.01
    generalized.mu.min = -1.0
    gauss.lon_0.prior = generalized
    ecpl = m.ExpCutoffPowerLawSpectralModel(index=pl.index)  # linked: the prior is written twice
    return m.Models(
        [
            m.SkyModel(pl, gauss, name="a"),
            m.SkyModel(ecpl, m.PointSpatialModel(lon_0="1 deg", lat_0="0 deg"), name="b"),
        ]
    )


def summary(collection) -> list:
    """(parameter name, prior type, prior parameter values, weight) for the parameters with a prior."""
    return [
        (par.name, type(par.prior).__name__, [p.value for p in par.prior.parameters], par.prior.weight)
        for par in collection.parameters
        if par.prior is not None
    ]


def strip_metadata(text: str) -> str:
    """The text without creator, date and the random part of link labels."""
    lines = [line for line in text.splitlines() if not line.startswith(("    creator:", "    date:"))]
    return re.sub(r"link: (\w+)@\S+", r"link: \1@", "\n".join(lines))


# -- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs", "values"), PRIORS, ids=lambda x: str(x))
def test_prior_values_match_gammapy(name, kwargs, values, gammapy_models, gammapy_parameter):
    ours, theirs = getattr(mapds_models, name)(**kwargs), getattr(gammapy_models, name)(**kwargs)
    for value in values:
        expected = theirs(gammapy_parameter("x", value))
        assert_allclose(ours(Parameter("x", value)), expected, rtol=1e-15, err_msg=str(value))
        assert_allclose(ours(value), expected, rtol=1e-15)
    quantiles = np.array([0.05, 0.5, 0.9])
    assert_allclose(ours.inverse_cdf(quantiles), theirs._inverse_cdf(quantiles), rtol=1e-15)


def test_evaluate_is_minus_two_log_density():
    x = np.array([-1.0, 0.5, 2.0])
    expected = ((x - 0.5) / 2.0) ** 2 + np.log(2 * np.pi * 2.0**2)
    assert_allclose(mapds_models.GaussianPrior.evaluate(x, 0.5, 2.0), expected, rtol=1e-14)
    # eta = 0.5: the generalised Gaussian is the Gaussian
    assert_allclose(mapds_models.GeneralizedGaussianPrior.evaluate(x, 0.5, 2.0, 0.5), expected, rtol=1e-14)
    uniform = mapds_models.UniformPrior.evaluate(np.array([-3.0, 0.0, 1.0, 2.0]), -3.0, 1.0)
    assert_allclose(uniform, [2 * np.log(4), 2 * np.log(4), 2 * np.log(4), np.inf])
    log_uniform = mapds_models.LogUniformPrior.evaluate(np.array([1.0, 10.0]), 1.0, 100.0)
    assert_allclose(log_uniform, 2 * np.log(np.array([1.0, 10.0]) * np.log(100.0)), rtol=1e-14)


def test_defaults_weight_and_parameters():
    prior = mapds_models.GeneralizedGaussianPrior()
    assert prior.parameters.names == ["mu", "sigma", "eta"]
    assert [p.value for p in prior.parameters] == [0.0, 1.0, 0.5]
    assert prior.weight == 1 and prior.type == "prior"
    assert all(isinstance(p, PriorParameter) and p.type == "prior" for p in prior.parameters)
    assert [p.value for p in mapds_models.LogUniformPrior().parameters] == [1e-14, 1e-10]
    prior = mapds_models.GaussianPrior(mu=1.0, sigma=0.5)
    once = prior(Parameter("x", 2.0))
    prior.weight = 3
    assert_allclose(prior(Parameter("x", 2.0)), 3 * once)
    assert mapds_models.GaussianPrior(weight=None).weight == 1
    with pytest.raises(ParameterError, match="weight"):
        prior.weight = "heavy"
    with pytest.raises(ParameterError, match="unknown parameter"):
        mapds_models.GaussianPrior(eta=1)
    assert set(PRIOR_REGISTRY) == {
        "GaussianPrior",
        "UniformPrior",
        "LogUniformPrior",
        "GeneralizedGaussianPrior",
    }


# -- parameters with priors ------------------------------------------------------------------------


def test_parameter_prior_setter_accepts_prior_dict_and_none():
    par = Parameter("index", 2.0, prior=mapds_models.GaussianPrior(mu=2.1))
    assert isinstance(par.prior, mapds_models.GaussianPrior)
    par.prior = {"type": "UniformPrior", "parameters": [{"name": "max", "value": 3.0}], "weight": 2}
    assert isinstance(par.prior, mapds_models.UniformPrior)
    assert (par.prior.min.value, par.prior.max.value, par.prior.weight) == (0.0, 3.0, 2)
    par.prior = None
    assert par.prior is None and par.prior_stat_sum() == 0.0
    with pytest.raises(TypeError, match="prior"):
        par.prior = 3
    with pytest.raises(UnknownModelTypeError, match="Unknown prior type 'Foo'"):
        par.prior = {"type": "Foo", "parameters": [], "weight": 1}
    with pytest.raises(ParameterError, match="priors"):
        par.prior = {"type": "GaussianPrior"}


def test_uniform_priors_set_parameter_bounds(gammapy_models, gammapy_parameter):
    for name in ("UniformPrior", "LogUniformPrior"):
        ours = Parameter("x", 0.5, min=0.0, max=10.0, scale_transform="log")
        theirs = gammapy_parameter("x", 0.5, min=0.0, max=10.0, scale_transform="log")
        ours.prior = getattr(mapds_models, name)(min=0.1, max=2.0)
        theirs.prior = getattr(gammapy_models, name)(min=0.1, max=2.0)
        for attr in ("min", "max", "factor_min", "factor_max", "conf_min", "conf_max"):
            assert_allclose(getattr(ours, attr), getattr(theirs, attr), rtol=1e-15, err_msg=attr)
        assert (ours.min, ours.max) == (0.1, 2.0)
        ours.prior = mapds_models.GaussianPrior()
        assert (ours.min, ours.max) == (0.0, 10.0)
    pars = Parameters(
        [Parameter("a", 1.0, prior=mapds_models.UniformPrior(min=-1, max=4)), Parameter("b", 2.0)]
    )
    assert_allclose(pars.min, [-1, np.nan])
    assert_allclose(pars.max, [4, np.nan])


def test_parameters_prior_stat_sum_and_prior_list(gammapy_models):
    ours, theirs = with_priors(mapds_models), with_priors(gammapy_models)
    pars = ours.parameters
    with_prior = [par for par in pars.unique_parameters if par.prior is not None]
    assert len(with_prior) == 4
    assert_allclose(pars.prior_stat_sum(), sum(par.prior(par) for par in with_prior))
    assert [type(p).__name__ for p in pars.prior] == [type(p).__name__ for p in theirs.parameters.prior]
    # gammapy adds the prior of the linked index once per model using it; mapds once.
    index = ours[0].spectral_model.index
    assert_allclose(theirs.parameters.prior_stat_sum(), pars.prior_stat_sum() + index.prior_stat_sum())
    assert_allclose(theirs.parameters.unique_parameters.prior_stat_sum(), pars.prior_stat_sum())
    assert Parameters([Parameter("a", 1.0)]).prior_stat_sum() == 0.0
    assert Parameters().prior_stat_sum() == 0.0
    pars["sigma"].value = 2.0  # outside its uniform prior
    assert pars.prior_stat_sum() == np.inf


def test_copies_do_not_share_priors():
    par = Parameter("index", 2.0, prior=mapds_models.GaussianPrior(mu=2.1))
    copied = par.copy()
    assert copied.prior is not par.prior and copied.prior.mu is not par.prior.mu
    copied.prior.mu.value = 5.0
    copied.prior.weight = 4
    assert par.prior.mu.value == 2.1 and par.prior.weight == 1

    collection = with_priors(mapds_models)
    for copy in (collection[0].copy(), collection.copy()[0]):
        index = copy.spectral_model.index
        assert index.prior is not collection[0].spectral_model.index.prior
        index.prior.sigma.value = 9.0
        copy.spatial_model.sigma.prior.max.value = 7.0
    assert collection[0].spectral_model.index.prior.sigma.value == 0.2
    assert collection[0].spatial_model.sigma.max == 1.5
    again = collection.copy()
    assert again[0].spectral_model.index is again[1].spectral_model.index  # links kept, with the prior
    assert summary(again) == summary(collection)


def test_parameter_table_has_prior_column(gammapy_models):
    ours, theirs = (
        with_priors(mapds_models).parameters.to_table(),
        with_priors(gammapy_models).parameters.to_table(),
    )
    assert list(ours["prior"]) == list(theirs["prior"])
    assert ours.colnames == theirs.colnames


def test_update_from_table_row_keeps_or_removes_the_prior():
    par = Parameter("index", 2.0, prior=mapds_models.GaussianPrior())
    row = dict(zip(*[Parameters([par]).to_table().colnames, Parameters([par]).to_table()[0]], strict=True))
    row["value"] = 2.5
    par.update_from_dict(row)
    assert par.value == 2.5 and isinstance(par.prior, mapds_models.GaussianPrior)
    with pytest.raises(ParameterError, match="UniformPrior"):
        par.update_from_dict({**row, "prior": "UniformPrior"})
    par.update_from_dict({**row, "prior": ""})
    assert par.prior is None


# -- serialisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("full_output", [False, True])
def test_prior_to_dict_matches_gammapy(full_output, gammapy_models, plain):
    for name, kwargs, _ in PRIORS:
        ours, theirs = getattr(mapds_models, name)(**kwargs), getattr(gammapy_models, name)(**kwargs)
        for prior in (ours, theirs):
            prior.parameters[0].error = 0.1
            prior.parameters[-1].max = 1e3
        assert plain(ours.to_dict(full_output)) == plain(theirs.to_dict(full_output))
        again = Prior.from_dict(ours.to_dict(full_output))
        assert plain(again.to_dict(True)) == plain(ours.to_dict(True))


def test_prior_from_dict_checks_type_and_fills_missing_parameters(caplog):
    with caplog.at_level(logging.WARNING):
        prior = mapds_models.GaussianPrior.from_dict(
            {"prior": {"type": "GaussianPrior", "parameters": [{"name": "mu", "value": 3.0}], "weight": 1}}
        )
    assert (prior.mu.value, prior.sigma.value) == (3.0, 1.0)
    assert "PriorParameter 'sigma' not defined" in caplog.text
    with pytest.raises(ValueError, match="Invalid prior type"):
        mapds_models.UniformPrior.from_dict(prior.to_dict())
    with pytest.raises(ParameterError, match="unknown key"):
        Prior.from_dict(
            {"type": "GaussianPrior", "parameters": [{"name": "mu", "value": 1, "frozen": True}], "weight": 1}
        )


@pytest.mark.parametrize("full_output", [False, True])
def test_models_files_with_priors_are_identical_to_gammapy(tmp_path, full_output, gammapy_models):
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    with_priors(mapds_models).write(tmp_path / "ours" / "m.yaml", full_output=full_output)
    with_priors(gammapy_models).write(tmp_path / "theirs" / "m.yaml", full_output=full_output)
    ours = (tmp_path / "ours" / "m.yaml").read_text()
    assert strip_metadata(ours) == strip_metadata((tmp_path / "theirs" / "m.yaml").read_text())
    priors = [
        par["prior"]
        for component in yaml.safe_load(ours)["components"]
        for par in component["spectral"]["parameters"] + component["spatial"]["parameters"]
        if "prior" in par
    ]
    assert [p["type"] for p in priors] == [
        "GaussianPrior",
        "LogUniformPrior",
        "GeneralizedGaussianPrior",
        "UniformPrior",
        "GaussianPrior",
    ]


def test_file_written_by_mapds_is_read_by_gammapy(tmp_path, gammapy_models):
    ours = with_priors(mapds_models)
    ours.write(tmp_path / "m.yaml")
    theirs = gammapy_models.Models.read(tmp_path / "m.yaml")
    assert summary(theirs) == summary(ours)
    again = mapds_models.Models.read(tmp_path / "m.yaml")  # errors read from the covariance file
    assert strip_metadata(theirs.to_yaml(full_output=True)) == strip_metadata(again.to_yaml(full_output=True))
    assert_allclose(theirs.parameters.unique_parameters.prior_stat_sum(), ours.parameters.prior_stat_sum())


def test_file_written_by_gammapy_is_read_by_mapds(tmp_path, gammapy_models):
    theirs = with_priors(gammapy_models)
    theirs.write(tmp_path / "m.yaml", full_output=True)
    ours = mapds_models.Models.read(tmp_path / "m.yaml")
    assert summary(ours) == summary(theirs)
    assert ours[0].spectral_model.index is ours[1].spectral_model.index
    assert ours[0].spatial_model.lon_0.prior.sigma.error == 0.01
    theirs_read = gammapy_models.Models.read(tmp_path / "m.yaml")  # errors read from the covariance file
    assert strip_metadata(ours.to_yaml(full_output=True)) == strip_metadata(
        theirs_read.to_yaml(full_output=True)
    )
    assert_allclose(ours.parameters.prior_stat_sum(), theirs.parameters.unique_parameters.prior_stat_sum())
    assert (ours[0].spatial_model.sigma.min, ours[0].spatial_model.sigma.max) == (0.05, 1.5)


def test_unknown_prior_type_in_models_file_names_the_parameter():
    data = with_priors(mapds_models).to_dict()
    data["components"][0]["spectral"]["parameters"][0]["prior"]["type"] = "CauchyPrior"
    with pytest.raises(ParameterError, match=r"'index'.*CauchyPrior"):
        mapds_models.Models.from_dict(data)
