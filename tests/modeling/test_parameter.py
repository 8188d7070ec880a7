"""Parameter, Parameters and Covariance against gammapy 2.x."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from gammapy.modeling import Covariance as GammapyCovariance
from gammapy.modeling import Parameter as GammapyParameter
from gammapy.modeling import Parameters as GammapyParameters
from numpy.testing import assert_allclose

from mapds.errors import ParameterError, UnitMismatchError
from mapds.modeling.covariance import Covariance, read_covariance_table, write_covariance_table
from mapds.modeling.parameter import Parameter, Parameters

PARAMETER_KWARGS = [
    {"name": "amplitude", "value": "3.7e-12 cm-2 s-1 TeV-1", "interp": "log"},
    {"name": "index", "value": -2.45, "min": -5, "max": "5"},
    {"name": "sigma", "value": 0.032, "unit": "deg", "min": "0 arcmin", "error": 0.001},
    {"name": "norm", "value": 0.0, "frozen": True},
    {"name": "lambda_", "value": 0.02, "unit": "TeV-1", "scale_method": "factor1"},
    {"name": "r", "value": 250.0, "scale_transform": "log"},
    {"name": "s", "value": 0.09, "scale_transform": "sqrt", "scale_method": "factor1"},
]


def both(**kwargs):
    return Parameter(**kwargs), GammapyParameter(**kwargs)


def test_value_quantity_and_unit_from_string():
    par = Parameter("amplitude", "2e-12 cm-2 s-1 TeV-1")
    assert par.value == 2e-12
    assert par.unit == u.Unit("cm-2 s-1 TeV-1")
    assert par.quantity == 2e-12 * u.Unit("cm-2 s-1 TeV-1")
    assert isinstance(par.value, float)


@pytest.mark.parametrize("kwargs", PARAMETER_KWARGS, ids=lambda k: k["name"])
def test_fields_and_to_dict_match_gammapy(kwargs, plain):
    ours, theirs = both(**kwargs)
    assert plain(ours.to_dict()) == plain(theirs.to_dict())
    assert list(ours.to_dict()) == list(theirs.to_dict())
    for name in (
        "value",
        "factor",
        "scale",
        "min",
        "max",
        "factor_min",
        "factor_max",
        "conf_min",
        "conf_max",
    ):
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-15, err_msg=name)
    assert_allclose(ours.scan_values, theirs.scan_values, rtol=1e-12)


@pytest.mark.parametrize("kwargs", PARAMETER_KWARGS, ids=lambda k: k["name"])
def test_autoscale_and_factor_round_trip_match_gammapy(kwargs):
    ours, theirs = both(**kwargs)
    ours.autoscale()
    theirs.autoscale()
    assert_allclose([ours.factor, ours.scale, ours.value], [theirs.factor, theirs.scale, theirs.value])
    for factor in (0.3, 1.7, 12.0):
        ours.factor = factor
        theirs.factor = factor
        assert_allclose(ours.value, theirs.value, rtol=1e-15)
        assert_allclose(
            ours.inverse_transform_derivative(factor),
            theirs._inverse_transform_derivative(factor),
            rtol=1e-12,
        )
    ours.reset_autoscale()
    assert ours.scale == 1 and ours.factor == ours.value


def test_scale10_keeps_the_sign_in_the_factor():
    par = Parameter("index", -340.0)
    par.autoscale()
    assert par.scale == 100
    assert_allclose(par.factor, -3.4)


def test_changing_scale_method_resets_the_scale():
    par = Parameter("amplitude", 3e-12)
    par.autoscale()
    par.scale_method = "factor1"
    assert par.scale == 1 and par.factor == 3e-12
    with pytest.raises(ParameterError, match="scale_method"):
        par.scale_method = "scale2"


def test_bounds_accept_quantities_and_none():
    par = Parameter("sigma", "1 deg", min="6 arcmin", max=2)
    assert_allclose([par.min, par.max], [0.1, 2])
    par.min = None
    assert np.isnan(par.min)
    par.set_lim(max="30 arcmin")
    assert_allclose(par.max, 0.5)
    with pytest.raises(ParameterError, match="sigma"):
        par.min = "3 TeV"


def test_frozen_parses_strings_and_rejects_other_types():
    par = Parameter("x", 1.0)
    par.frozen = "False"
    assert par.frozen is False
    par.frozen = "True"
    assert par.frozen is True
    with pytest.raises(ParameterError, match="frozen"):
        par.frozen = 1


def test_quantity_setter_converts_unit_and_rejects_incompatible():
    par = Parameter("sigma", "1 deg")
    par.quantity = "30 arcmin"
    assert par.unit == u.arcmin and par.value == 30
    with pytest.raises(UnitMismatchError, match="sigma"):
        par.quantity = 3 * u.TeV


def test_invalid_unit_and_name_are_rejected():
    with pytest.raises(UnitMismatchError, match=r"'x'.*not a valid unit"):
        Parameter("x", 1.0, unit="furlongs per what")
    with pytest.raises(ParameterError, match="string"):
        Parameter(3, 1.0)
    with pytest.raises(ParameterError, match="priors"):
        Parameter("x", 1.0, prior={"type": "GaussianPrior"})


def test_check_limits_warns_for_free_parameters_only(caplog):
    par = Parameter("x", 5.0, min=0, max=1)
    par.check_limits()
    assert "outside bounds" in caplog.text
    caplog.clear()
    par.frozen = True
    par.check_limits()
    assert caplog.text == ""


def test_error_keeps_the_given_type_until_set():
    par = Parameter("x", 1.0)
    assert par.to_dict()["error"] == 0 and isinstance(par.to_dict()["error"], int)
    par.error = 0.5
    assert isinstance(par.error, float)


def make_parameters(module_parameter=Parameter, module_parameters=Parameters):
    a = module_parameter("a", 1.0, frozen=True)
    b = module_parameter("b", "2 deg")
    c = module_parameter("c", 3.0, error=0.2)
    return module_parameters([a, b, c, b])


def test_parameters_access_and_views():
    pars = make_parameters()
    assert pars.names == ["a", "b", "c", "b"]
    assert pars["c"] is pars[2]
    assert pars.index(pars[3]) == 1  # identity of the linked parameter: first occurrence
    assert pars.free_parameters.names == ["b", "c", "b"]
    assert pars.unique_parameters.names == ["a", "b", "c"]
    assert pars.free_unique_parameters.names == ["b", "c"]
    assert pars[1:3].names == ["b", "c"]
    assert pars[np.array([True, False, True, False])].names == ["a", "c"]
    with pytest.raises(IndexError, match="'z'"):
        pars["z"]


def test_parameters_values_and_cache_key():
    pars = make_parameters()
    assert_allclose(pars.value, [1, 2, 3, 2])
    key = pars.cache_key
    assert pars.cache_key == key and hash(key) == hash(pars.cache_key)
    pars["c"].value = 3.5
    assert pars.cache_key != key
    assert_allclose(pars.values, [1, 2, 3.5, 2])
    pars.value = [4, 5, 6, 5]
    assert pars["b"].value == 5
    with pytest.raises(ParameterError, match="Expected 4"):
        pars.value = [1, 2]


def test_parameters_freeze_select_and_restore():
    pars = make_parameters()
    with pars.restore_status():
        pars.freeze_all()
        pars["a"].value = 10
        assert all(p.frozen for p in pars)
    assert pars["a"].value == 1 and not pars["b"].frozen and pars["a"].frozen
    pars.unfreeze_all()
    assert not any(p.frozen for p in pars)
    pars["a"].frozen = True
    assert pars.select(frozen=True).names == ["a"]
    assert pars.select(name=["a", "c"]).names == ["a", "c"]
    assert pars.select(name="b", frozen=False).names == ["b", "b"]


def test_set_parameter_factors_sets_free_parameters_in_order():
    pars = Parameters([Parameter("a", 1.0, frozen=True), Parameter("b", 2.0), Parameter("c", 3.0)])
    pars.autoscale()
    pars.set_parameter_factors([7, 8])
    assert_allclose(pars.value, [1, 7, 8])


def test_to_table_matches_gammapy_columns(plain):
    ours = make_parameters().to_table()
    theirs = make_parameters(GammapyParameter, GammapyParameters).to_table()
    for name in ("name", "value", "unit", "error", "min", "max", "frozen"):
        assert plain([_python(v) for v in ours[name]]) == plain([_python(v) for v in theirs[name]])
    assert ours["link"][1] == ours["link"][3] and ours["link"][1].startswith("b@")


def test_from_dict_drops_is_norm_and_keeps_links():
    pars = Parameters.from_dict(
        [{"name": "norm", "value": 1.0, "is_norm": True}, {"name": "x", "value": 2.0, "link": "x@abc"}]
    )
    assert pars.names == ["norm", "x"]
    assert pars["x"].link_label == "x@abc"


# -- covariance ----------------------------------------------------------------------------------


def test_covariance_defaults_to_squared_errors_and_subcovariance():
    pars = make_parameters().unique_parameters
    covariance = Covariance(pars)
    assert_allclose(covariance.data, np.diag([0, 0, 0.04]))
    sub = Covariance(Parameters([pars["a"], pars["c"]]), data=[[1.0, 0.5], [0.5, 2.0]])
    covariance.set_subcovariance(sub)
    assert_allclose(covariance.data, [[1, 0, 0.5], [0, 0, 0], [0.5, 0, 2]])
    assert_allclose(covariance.get_subcovariance(["c", "a"]).data, [[2, 0.5], [0.5, 1]])
    assert_allclose(covariance.correlation[0, 2], 0.5 / np.sqrt(2))


def test_covariance_from_factor_matrix_matches_gammapy():
    def build(par_cls, pars_cls, cov_cls):
        a = par_cls("a", 3e-12, scale_transform="log")
        b = par_cls("b", 2.0, frozen=True)
        c = par_cls("c", 0.4, scale_transform="sqrt")
        pars = pars_cls([a, b, c, a])
        pars.autoscale()
        matrix = np.array([[0.04, 0.01], [0.01, 0.09]])  # free, unique: a and c
        return cov_cls.from_factor_matrix(pars, matrix).data

    expected = build(GammapyParameter, GammapyParameters, GammapyCovariance)
    assert_allclose(build(Parameter, Parameters, Covariance), expected, rtol=1e-12)


def test_covariance_shape_is_checked():
    covariance = Covariance(Parameters([Parameter("a", 1.0)]))
    with pytest.raises(ValueError, match="shape"):
        covariance.data = np.eye(2)


def test_covariance_table_round_trip_and_gammapy_format(tmp_path):
    data = np.array([[0.01, 1e-3], [1e-3, 2.5e-13]])
    text = write_covariance_table(["src.spectral.index", "src.spectral.amplitude"], data)
    assert text.splitlines()[0].startswith("|") and "Parameters" in text.splitlines()[0]
    assert_allclose(read_covariance_table(text), data)
    from astropy.table import Table

    table = Table.read(text.splitlines(), format="ascii.fixed_width")
    assert table.colnames == ["Parameters", "0", "1"]


def _python(value):
    """Table cell as a Python scalar."""
    return value.item() if hasattr(value, "item") else value
