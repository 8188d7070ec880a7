"""Spectral models against gammapy 2.x on identical inputs."""

from __future__ import annotations

import operator

import astropy.units as u
import numpy as np
import pytest
from gammapy.modeling.models import spectral as gammapy_spectral
from numpy.testing import assert_allclose

from mapds.errors import ModelError, ParameterError, UnitMismatchError
from mapds.modeling.models import spectral

MODELS = [
    ("PowerLawSpectralModel", {}),
    ("PowerLawSpectralModel", {"index": 2.6, "amplitude": "3e-11 cm-2 s-1 TeV-1", "reference": "300 GeV"}),
    ("PowerLawSpectralModel", {"index": 1.0}),
    ("PowerLawSpectralModel", {"index": 1.0 + 1e-9}),
    ("PowerLawSpectralModel", {"index": 1.0 + 1e-6}),
    ("PowerLawNormSpectralModel", {"tilt": 0.3, "norm": 1.4}),
    ("PowerLawNormSpectralModel", {"tilt": 1.0}),
    ("PowerLaw2SpectralModel", {"amplitude": "2e-11 cm-2 s-1", "index": 2.4}),
    ("PowerLaw2SpectralModel", {"index": 2.0, "emin": "1 TeV", "emax": "10 TeV"}),
    ("ExpCutoffPowerLawSpectralModel", {}),
    ("ExpCutoffPowerLawSpectralModel", {"index": 2.1, "lambda_": "0.4 TeV-1", "alpha": 1.7}),
    ("LogParabolaSpectralModel", {}),
    ("LogParabolaSpectralModel", {"alpha": 2.3, "beta": 0.08, "reference": "1 TeV"}),
    ("ConstantSpectralModel", {"const": "3e-13 cm-2 s-1 TeV-1"}),
]


def model_id(value):
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "defaults"
    return str(value)


def make_models(name, **kwargs):
    return getattr(spectral, name)(**kwargs), getattr(gammapy_spectral, name)(**kwargs)


ENERGY = np.geomspace(0.05, 80, 37) * u.TeV
BINS = [
    np.geomspace(0.1, 100, 25) * u.TeV,  # 1/8-decade bins: 100 points per decade -> 12 points
    np.array([10, 17.8, 31.6, 56.2]) * u.GeV,  # other unit, where most models are near their peak
    np.array([1.0, 1.0005]) * u.TeV,  # a tiny bin: 2 points
]


@pytest.mark.parametrize(("name", "pars"), MODELS, ids=model_id)
def test_values_match_gammapy(name, pars):
    ours, theirs = make_models(name, **pars)
    for energy in (ENERGY, ENERGY.to("MeV"), 3 * u.TeV):
        value, expected = ours(energy), theirs(energy)
        assert value.unit.is_equivalent(expected.unit)
        assert_allclose(value.to_value(expected.unit), expected.value, rtol=1e-12)
        assert np.shape(value) == np.shape(expected)


@pytest.mark.parametrize("edges", BINS, ids=["tev", "gev", "tiny"])
@pytest.mark.parametrize(("name", "pars"), MODELS, ids=model_id)
def test_integral_matches_gammapy(name, pars, edges):
    ours, theirs = make_models(name, **pars)
    value = ours.integral(edges[:-1], edges[1:])
    expected = theirs.integral(edges[:-1], edges[1:])
    assert value.unit.is_equivalent(expected.unit)
    assert_allclose(value.to_value(expected.unit), expected.value, rtol=1e-10)


@pytest.mark.parametrize(("name", "pars"), MODELS[:12], ids=model_id)
def test_energy_flux_matches_gammapy(name, pars):
    ours, theirs = make_models(name, **pars)
    edges = BINS[0]
    expected = theirs.energy_flux(edges[:-1], edges[1:])
    assert_allclose(
        ours.energy_flux(edges[:-1], edges[1:]).to_value(expected.unit), expected.value, rtol=1e-10
    )


def test_analytic_models_are_integrated_analytically():
    assert hasattr(spectral.PowerLawSpectralModel, "evaluate_integral")
    assert hasattr(spectral.PowerLaw2SpectralModel, "evaluate_integral")
    assert hasattr(spectral.PowerLawNormSpectralModel, "evaluate_integral")
    assert not hasattr(spectral.ExpCutoffPowerLawSpectralModel, "evaluate_integral")
    # a power law integrated by hand equals the analytic value
    model = spectral.PowerLawSpectralModel(index=2.2)
    assert_allclose(model.integral(1 * u.TeV, 10 * u.TeV).to_value("cm-2 s-1"), 1e-12 / 1.2 * (1 - 10**-1.2))


@pytest.mark.parametrize(("name", "pars"), MODELS, ids=model_id)
def test_parameters_defaults_and_tags_match_gammapy(name, pars, plain):
    ours, theirs = make_models(name, **pars)
    assert ours.tag == theirs.tag
    assert ours.parameters.names == theirs.parameters.names
    assert plain(ours.parameters.to_dict()) == plain(theirs.parameters.to_dict())
    assert ours.is_norm_spectral_model == theirs.is_norm_spectral_model
    assert type(ours).is_norm_spectral_model == ("Norm" in name)


def test_parameters_belong_to_instances():
    a, b = spectral.PowerLawSpectralModel(), spectral.PowerLawSpectralModel()
    a.index.value = 3.0
    assert b.index.value == 2.0
    assert spectral.PowerLawSpectralModel.index.value == 2.0
    assert a.parameters["index"] is a.index
    assert a.index.type == "spectral"
    with pytest.raises(TypeError, match="index"):
        a.index = 3


def test_linked_parameter_is_shared():
    a = spectral.PowerLawSpectralModel()
    b = spectral.PowerLawSpectralModel(index=a.index)
    a.index.value = 2.7
    assert b.index.value == 2.7


def test_unknown_parameter_and_bad_values_raise_named_errors():
    with pytest.raises(ParameterError, match=r"PowerLawSpectralModel.*'indx'"):
        spectral.PowerLawSpectralModel(indx=2)
    with pytest.raises(UnitMismatchError, match="amplitude"):
        spectral.PowerLawSpectralModel(amplitude=1e-12)
    with pytest.raises(ParameterError, match="reference"):
        spectral.PowerLawSpectralModel(reference="one TeV")


def test_log_parabola_from_log10_matches_gammapy():
    kwargs = {"amplitude": "2e-12 cm-2 s-1 TeV-1", "reference": "1 TeV", "alpha": 2.1, "beta": 0.3}
    ours = spectral.LogParabolaSpectralModel.from_log10(**kwargs)
    theirs = gammapy_spectral.LogParabolaSpectralModel.from_log10(**kwargs)
    assert_allclose(ours.beta.value, 0.3 / np.log(10))
    assert_allclose(ours(ENERGY).value, theirs(ENERGY).value, rtol=1e-12)


TEMPLATE_ENERGY = np.array([0.3, 1.0, 3.0, 10.0, 30.0]) * u.TeV
TEMPLATE_VALUES = np.array([4e-11, 2e-12, 1.5e-13, 3e-15, 0.0]) * u.Unit("cm-2 s-1 TeV-1")


def make_templates(**kwargs):
    return (
        spectral.TemplateSpectralModel(TEMPLATE_ENERGY, TEMPLATE_VALUES, **kwargs),
        gammapy_spectral.TemplateSpectralModel(TEMPLATE_ENERGY, TEMPLATE_VALUES, **kwargs),
    )


def test_template_values_and_integral_match_gammapy():
    ours, theirs = make_templates()
    energy = np.geomspace(0.1, 25, 40) * u.TeV
    assert_allclose(ours(energy).value, theirs(energy).value, rtol=1e-12)
    assert_allclose(ours(energy.to("GeV")).value, theirs(energy.to("GeV")).value, rtol=1e-12)
    edges = np.geomspace(0.2, 20, 9) * u.TeV
    value, expected = ours.integral(edges[:-1], edges[1:]), theirs.integral(edges[:-1], edges[1:])
    assert_allclose(value.to_value(expected.unit), expected.value, rtol=1e-10)


def test_template_without_extrapolation_and_single_point():
    ours, theirs = make_templates(interp_kwargs={"extrapolate": False})
    energy = [0.1, 2.0, 50.0] * u.TeV
    assert_allclose(ours(energy).value, theirs(energy).value, rtol=1e-12, equal_nan=True)
    assert np.isnan(ours(energy).value[0])
    single = spectral.TemplateSpectralModel([1.0] * u.TeV, [2e-12] * u.Unit("cm-2 s-1 TeV-1"))
    assert_allclose(single(energy).value, 2e-12)


def test_template_rejects_mismatched_arrays():
    with pytest.raises(ModelError, match="same length"):
        spectral.TemplateSpectralModel([1, 2] * u.TeV, [1, 2, 3] * u.Unit("cm-2 s-1 TeV-1"))


def test_template_to_dict_matches_gammapy():
    ours, theirs = make_templates()
    assert ours.to_dict() == theirs.to_dict()
    model = spectral.TemplateSpectralModel.from_dict(theirs.to_dict())
    assert_allclose(model(ENERGY).value, ours(ENERGY).value)


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul])
def test_compound_models_match_gammapy(op):
    ours = op(spectral.PowerLawSpectralModel(index=2.5), spectral.ExpCutoffPowerLawSpectralModel())
    theirs = op(
        gammapy_spectral.PowerLawSpectralModel(index=2.5), gammapy_spectral.ExpCutoffPowerLawSpectralModel()
    )
    assert isinstance(ours, spectral.CompoundSpectralModel)
    assert_allclose(ours(ENERGY).value, theirs(ENERGY).value, rtol=1e-12)
    edges = BINS[0]
    value, expected = ours.integral(edges[:-1], edges[1:]), theirs.integral(edges[:-1], edges[1:])
    assert_allclose(value.to_value(expected.unit), expected.value, rtol=1e-10)
    assert ours.parameters.names == theirs.parameters.names
    assert ours.parameters_unique_names == theirs.parameters_unique_names
    assert ours.to_dict() == theirs.to_dict()
    args = [p.quantity for p in ours.parameters]
    assert_allclose(ours.evaluate(ENERGY, *args).value, ours(ENERGY).value)


def test_compound_with_numbers_and_quantities():
    pl = spectral.PowerLawSpectralModel()
    flux = 1e-13 * u.Unit("cm-2 s-1 TeV-1")
    assert_allclose((pl + flux)(1 * u.TeV).value, 1.1e-12)
    assert_allclose((flux + pl)(1 * u.TeV).value, 1.1e-12)
    assert_allclose((pl - flux)(1 * u.TeV).value, 0.9e-12)
    assert_allclose((2e-12 * u.Unit("cm-2 s-1 TeV-1") - pl)(1 * u.TeV).value, 1e-12)
    assert_allclose((pl * 3)(2 * u.TeV).value, 3 * pl(2 * u.TeV).value)
    assert_allclose((3 * pl)(2 * u.TeV).value, 3 * pl(2 * u.TeV).value)
    norm = spectral.PowerLawNormSpectralModel(norm=2) + 1
    assert_allclose(norm(1 * u.TeV).value, 3)
    with pytest.raises(TypeError, match="combine"):
        pl + "abc"


def test_compound_round_trip_through_dict():
    model = spectral.LogParabolaSpectralModel(alpha=2.2) * spectral.PowerLawNormSpectralModel(norm=1.3) * 2
    again = spectral.CompoundSpectralModel.from_dict(model.to_dict())
    assert_allclose(again(ENERGY).value, model(ENERGY).value, rtol=1e-15)
    assert again.to_dict() == model.to_dict()
    assert again.model2.const.unit == u.one


def test_compound_rejects_unknown_operator():
    data = (spectral.PowerLawSpectralModel() + spectral.PowerLawSpectralModel()).to_dict()
    data["spectral"]["operator"] = "matmul"
    with pytest.raises(ModelError, match="operator"):
        spectral.CompoundSpectralModel.from_dict(data)
    with pytest.raises(ModelError, match="operator"):
        spectral.CompoundSpectralModel(
            spectral.PowerLawSpectralModel(), spectral.PowerLawSpectralModel(), max
        )


def test_compound_freeze_unfreeze_and_covariance():
    model = spectral.PowerLawSpectralModel() + spectral.LogParabolaSpectralModel()
    model.freeze()
    assert model.frozen
    model.unfreeze()
    assert [p.frozen for p in model.parameters] == [False, False, True, False, True, False, False]
    model.model1.index.error = 0.1
    assert_allclose(model.covariance.data[0, 0], 0.01)
    data = np.diag(np.arange(1.0, 8.0))
    model.covariance = data
    assert_allclose(model.model2.alpha.error, np.sqrt(6))


@pytest.mark.parametrize(("name", "pars"), MODELS, ids=model_id)
def test_to_dict_and_from_dict_match_gammapy(name, pars, plain):
    ours, theirs = make_models(name, **pars)
    for full_output in (False, True):
        assert plain(ours.to_dict(full_output)) == plain(theirs.to_dict(full_output))
    for data in (theirs.to_dict(), theirs.to_dict(full_output=True)):
        model = getattr(spectral, name).from_dict(data)
        assert plain(model.to_dict(True)) == plain(ours.to_dict(True))
