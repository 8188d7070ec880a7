"""Temporal models against gammapy 2.1 on identical inputs: parameters, values, integrals, files, YAML."""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
import pytest
import yaml
from astropy.table import Table
from astropy.time import Time
from gammapy.data import GTI as GammapyGTI
from gammapy.maps import MapAxis as GammapyMapAxis
from gammapy.maps import RegionNDMap as GammapyRegionNDMap
from gammapy.maps import WcsGeom as GammapyWcsGeom
from gammapy.modeling import models as gammapy_models
from numpy.testing import assert_allclose
from scipy.integrate import quad

from mapds.data import GTI
from mapds.errors import CorruptFileError, InvalidArgumentError, ModelError, UnknownModelTypeError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import RegionNDMap
from mapds.modeling import models
from mapds.modeling.models.temporal import temporal_norm

RTOL = 1e-6
T_REF = 55555.2
#: Parameters of the analytic models (the same keywords in both libraries).
ANALYTIC = {
    "ConstantTemporalModel": {},
    "LinearTemporalModel": {"alpha": 1.2, "beta": "0.3 d-1", "t_ref": T_REF * u.d},
    "ExpDecayTemporalModel": {"t0": "1.5 d", "t_ref": T_REF * u.d},
    "GaussianTemporalModel": {"t_ref": T_REF * u.d, "sigma": "0.8 d"},
    "PowerLawTemporalModel": {"alpha": -1.4, "t_ref": (T_REF - 1) * u.d, "t0": "0.5 d"},
}
GENERALIZED = {"t_ref": T_REF * u.d, "t_rise": "0.5 d", "t_decay": "1.3 d", "eta": 0.7}
SINE = {"amp": 0.4, "omega": "2 rad/d", "t_ref": T_REF * u.d}
NODES = np.array([0.0, 0.5, 1.0, 2.0, 3.5])
NORMS = np.array([0.2, 1.0, 0.6, 0.3, 0.1])
PHASE_TABLE = {"PHASE": [0.0, 0.2, 0.45, 0.7, 1.0], "NORM": [1.0, 3.0, 2.0, 0.5, 1.0]}
PHASE_PARAMETERS = {"t_ref": 55555.0 * u.d, "f0": "2 d-1", "f1": "0.01 d-2"}


def intervals(scale: str = "tt") -> tuple[Time, Time]:
    """Three intervals of different lengths around ``T_REF`` (TT, as dataset GTIs are)."""
    start = Time(Time(T_REF + np.array([0.1, 1.0, 2.0]), format="mjd", scale="utc"), scale=scale)
    return start, start + [0.3, 0.5, 1.5] * u.d


TIMES = Time(T_REF + np.array([-1.3, -0.2, 0.1, 0.7, 2.5, 4.0]), format="mjd", scale="tt")


def pair(name: str, **kwargs):
    """The same model in mapds and in gammapy."""
    return getattr(models, name)(**kwargs), getattr(gammapy_models, name)(**kwargs)


def light_curves(energy: bool = False):
    """The same light curve in mapds and gammapy (with a 3-bin energy axis if ``energy``)."""
    out = []
    for maps in ((MapAxis, RegionNDMap), (GammapyMapAxis, GammapyRegionNDMap)):
        axis_cls, map_cls = maps
        axes = [axis_cls.from_nodes(NODES * u.d, name="time")]
        data = NORMS
        if energy:
            axes.insert(0, axis_cls.from_energy_bounds("1 TeV", "10 TeV", nbin=3, name="energy"))
            data = np.random.default_rng(1).uniform(0.1, 2.0, (NODES.size, 3))
        curve = map_cls.create(region=None, axes=axes, data=data)
        t_ref = Time(T_REF, format="mjd", scale="utc")
        module = models if map_cls is RegionNDMap else gammapy_models
        out.append(module.LightCurveTemplateTemporalModel(curve, t_ref=t_ref))
    return tuple(out)


def phase_curves(tmp_path):
    """The same phase curve in mapds and gammapy (gammapy warns without a filename: give one)."""
    filename = str(tmp_path / "phase.fits")
    return tuple(
        module.TemplatePhaseCurveTemporalModel(Table(PHASE_TABLE), filename=filename, **PHASE_PARAMETERS)
        for module in (models, gammapy_models)
    )


# -- classes, parameters, tags --------------------------------------------------------------------


def test_registry_and_parameter_declarations_match_gammapy():
    ours = {cls.__name__: cls for cls in models.TEMPORAL_MODEL_REGISTRY}
    theirs = {cls.__name__: cls for cls in gammapy_models.TEMPORAL_MODEL_REGISTRY}
    assert ours.keys() == theirs.keys()
    for name, cls in ours.items():
        assert cls.tag == theirs[name].tag
        assert models.TEMPORAL_MODEL_REGISTRY.get_cls(cls.tag[1]) is cls
        for par, reference in zip(cls.default_parameters, theirs[name].default_parameters, strict=True):
            assert (par.name, par.unit, par.frozen) == (reference.name, reference.unit, reference.frozen)
            assert par.value == pytest.approx(reference.value, rel=1e-12)


def test_reference_time_and_scale():
    model = models.LinearTemporalModel()
    assert model.scale == "utc" and model.reference_time.mjd == 51544.0
    model.reference_time = Time(55000.0, format="mjd", scale="tt")
    reference = gammapy_models.LinearTemporalModel()
    reference.reference_time = Time(55000.0, format="mjd", scale="tt")
    assert model.t_ref.value == pytest.approx(reference.t_ref.value, rel=1e-15)
    with pytest.raises(ModelError, match="must be a Time"):
        model.reference_time = 55000.0
    with pytest.raises(ModelError, match="'utx' is not a valid time scale"):
        models.ConstantTemporalModel(scale="utx")
    assert models.GaussianTemporalModel(scale="tt").reference_time.scale == "tt"


# -- values and integrals -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ANALYTIC)
def test_analytic_models_match_gammapy(name):
    ours, theirs = pair(name, **ANALYTIC[name])
    with np.errstate(invalid="ignore"):  # the power law is NaN before t_ref, in both
        assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    for scale in ("tt", "utc"):
        t_min, t_max = intervals(scale)
        assert_allclose(ours.integral(t_min, t_max), theirs.integral(t_min, t_max), rtol=RTOL)


def test_power_law_integral_of_index_minus_one():
    ours, theirs = pair("PowerLawTemporalModel", alpha=-1, t_ref=(T_REF - 1) * u.d)
    assert_allclose(ours.integral(*intervals()), theirs.integral(*intervals()), rtol=RTOL)


def test_generalized_gaussian_matches_gammapy():
    ours, theirs = pair("GeneralizedGaussianTemporalModel", **GENERALIZED)
    assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    # gammapy's sampled integral reads the MJD numbers of the bounds in the model's scale: the
    # same in both when the bounds are in that scale (UTC)
    utc = intervals("utc")
    assert_allclose(ours.integral(*utc), theirs.integral(*utc), rtol=RTOL)
    assert_allclose(ours.integral(*utc, oversampling_factor=7), theirs.integral(*utc, oversampling_factor=7))


def test_sampled_integral_does_not_depend_on_the_scale_of_the_bounds():
    """mapds converts the bounds to the model's scale (gammapy shifts TT bounds by TT − UTC)."""
    model = models.GeneralizedGaussianTemporalModel(**GENERALIZED)
    assert_allclose(model.integral(*intervals("tt")), model.integral(*intervals("utc")), rtol=1e-12)


def _exact_mean(reference, t_min: Time, t_max: Time) -> np.ndarray:
    """∫ ψ dt per interval over the summed length, by quadrature of gammapy's ``evaluate``."""
    pars = {p.name: p.quantity for p in reference.parameters}

    def psi(mjd):
        return float(reference.evaluate(mjd * u.d, **pars).to_value(""))

    start, stop = Time(t_min, scale="utc").mjd, Time(t_max, scale="utc").mjd
    values = [quad(psi, a, b, epsabs=0, epsrel=1e-12)[0] for a, b in zip(start, stop, strict=True)]
    return np.array(values) / np.sum(stop - start)


def test_sine_matches_gammapy_values_and_the_exact_integral():
    """gammapy 2.1's sine integral has sines where the cosines are; mapds integrates the model."""
    ours, theirs = pair("SineTemporalModel", **SINE)
    assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    t_min, t_max = intervals()
    assert_allclose(ours.integral(t_min, t_max), _exact_mean(theirs, t_min, t_max), rtol=RTOL)


def test_integrals_are_interval_means_over_the_summed_length():
    t_min, t_max = intervals()
    for name, kwargs in [*ANALYTIC.items(), ("SineTemporalModel", SINE)]:
        ours, theirs = pair(name, **kwargs)
        assert_allclose(ours.integral(t_min, t_max), _exact_mean(theirs, t_min, t_max), rtol=RTOL)
    constant = models.ConstantTemporalModel()
    assert np.sum(constant.integral(t_min, t_max)).to_value("") == pytest.approx(1.0, rel=1e-12)
    gti = GTI.create(t_min, t_max)
    assert temporal_norm(constant, gti).to_value("") == pytest.approx(1.0, rel=1e-12)


def test_light_curve_matches_gammapy():
    ours, theirs = light_curves()
    assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    assert ours(TIMES).min() == 0  # extrapolated below zero, clipped
    utc = intervals("utc")
    assert_allclose(ours.integral(*utc), theirs.integral(*utc), rtol=RTOL)
    assert_allclose(ours.evaluate(TIMES), theirs.evaluate(TIMES), rtol=RTOL)
    nearest = models.LightCurveTemplateTemporalModel(ours.map, t_ref=ours.reference_time, method="nearest")
    reference = gammapy_models.LightCurveTemplateTemporalModel(
        theirs.map, t_ref=theirs.reference_time, method="nearest"
    )
    assert_allclose(nearest(TIMES), reference(TIMES), rtol=RTOL)
    assert "Reference time: 55555.2 MJD" in str(ours)


def test_energy_dependent_light_curve_matches_gammapy():
    ours, theirs = light_curves(energy=True)
    assert ours.is_energy_dependent and ours.values_scale == "log"
    assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    energy = [1.5, 3.0, 8.0] * u.TeV
    assert_allclose(ours(TIMES, energy=energy), theirs(TIMES, energy=energy), rtol=RTOL)
    with pytest.raises(ModelError, match="energy-dependent"):
        ours.integral(*intervals())
    with pytest.raises(ModelError, match="format='map'"):
        ours.to_table()


def test_phase_curve_matches_gammapy(tmp_path):
    ours, theirs = phase_curves(tmp_path)
    assert_allclose(ours.table["NORM"], theirs.table["NORM"], rtol=1e-12)
    assert_allclose(ours(TIMES), theirs(TIMES), rtol=RTOL)
    # gammapy 2.1 integrates one interval at a time (arrays fail) and normalises by its length
    t_min, t_max = intervals("utc")
    lengths = (t_max - t_min).to_value("d")
    per_interval = [float(theirs.integral(a, b)) for a, b in zip(t_min, t_max, strict=True)]
    expected = np.array(per_interval) * lengths / lengths.sum()
    assert_allclose(ours.integral(t_min, t_max), expected, rtol=RTOL)
    table = Table(PHASE_TABLE)
    models.TemplatePhaseCurveTemporalModel(table, filename="x.fits")
    assert list(table["NORM"]) == PHASE_TABLE["NORM"]  # the caller's table is left as it was


def test_phase_curve_integral_does_not_depend_on_the_scale_of_the_bounds(tmp_path):
    ours, _ = phase_curves(tmp_path)
    assert_allclose(ours.integral(*intervals("tt")), ours.integral(*intervals("utc")), rtol=1e-9)


def test_template_errors(tmp_path, caplog):
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=2, name="energy")
    with pytest.raises(ModelError, match="'time' axis"):
        models.LightCurveTemplateTemporalModel(RegionNDMap.create(region=None, axes=[axis]))
    ours, _ = light_curves()
    with pytest.raises(InvalidArgumentError, match="values_scale"):
        models.LightCurveTemplateTemporalModel(ours.map, values_scale="cubic")
    with pytest.raises(ModelError, match="no filename"):
        ours.write()
    with pytest.raises(ModelError, match="'csv'"):
        ours.write(tmp_path / "lc.fits", format="csv")
    with pytest.raises(ModelError, match="normalize must be a bool"):
        models.TemplatePhaseCurveTemporalModel(Table(PHASE_TABLE), filename="x.fits", normalize="yes")
    with pytest.raises(ModelError, match=r"\['NORM'\]"):
        models.TemplatePhaseCurveTemporalModel(Table({"PHASE": [0.0, 1.0]}), filename="x.fits")
    with caplog.at_level(logging.WARNING):
        models.TemplatePhaseCurveTemporalModel(Table(PHASE_TABLE))
    assert "filename is not defined" in caplog.text
    with pytest.raises(ModelError, match="TIME column"):
        models.LightCurveTemplateTemporalModel.from_table(Table({"NORM": [1.0]}))
    with pytest.raises(ModelError, match="'MJDREFI' is missing"):
        models.LightCurveTemplateTemporalModel.from_table(Table({"TIME": [0.0, 1.0] * u.d, "NORM": [1, 2]}))
    (tmp_path / "bad.fits").write_text("not a table")
    with pytest.raises(CorruptFileError, match=r"bad\.fits"):
        models.TemplatePhaseCurveTemporalModel.read(tmp_path / "bad.fits")
    with pytest.raises(FileNotFoundError, match=r"missing\.fits"):
        models.LightCurveTemplateTemporalModel.read(tmp_path / "missing.fits")


# -- files and YAML, both ways --------------------------------------------------------------------


@pytest.mark.parametrize("energy", [False, True])
def test_light_curve_files_both_ways(tmp_path, energy):
    ours, theirs = light_curves(energy)
    file_format = "map" if energy else "table"
    ours.write(tmp_path / "ours.fits", format=file_format)
    theirs.write(str(tmp_path / "theirs.fits"), format=file_format)
    read_by_gammapy = gammapy_models.LightCurveTemplateTemporalModel.read(
        str(tmp_path / "ours.fits"), format=file_format
    )
    read_by_mapds = models.LightCurveTemplateTemporalModel.read(tmp_path / "theirs.fits", format=file_format)
    for model in (read_by_gammapy, read_by_mapds):
        assert model.reference_time.mjd == pytest.approx(T_REF, abs=1e-9)
        assert_allclose(model(TIMES), theirs(TIMES), rtol=RTOL)
    if not energy:
        written, reference = Table.read(tmp_path / "ours.fits"), Table.read(tmp_path / "theirs.fits")
        assert written.colnames == reference.colnames and written.meta == reference.meta
        assert written["NORM"].shape == reference["NORM"].shape
    with pytest.raises(FileExistsError):
        ours.write(format=file_format)


def test_phase_curve_files_both_ways(tmp_path):
    ours, theirs = phase_curves(tmp_path)
    ours.write(tmp_path / "ours.fits")
    theirs.write(str(tmp_path / "theirs.fits"))
    read_by_gammapy = gammapy_models.TemplatePhaseCurveTemporalModel.read(str(tmp_path / "ours.fits"))
    read_by_mapds = models.TemplatePhaseCurveTemporalModel.read(tmp_path / "theirs.fits")
    assert_allclose(read_by_mapds.table["NORM"], theirs.table["NORM"], rtol=1e-12)
    assert_allclose(read_by_gammapy.table["NORM"], ours.table["NORM"], rtol=1e-12)
    (tmp_path / "phase.ecsv").write_text("")
    ours.write(tmp_path / "phase.ecsv", overwrite=True)
    assert Table.read(tmp_path / "phase.ecsv").colnames == ["PHASE", "NORM"]


def _sky_models(module, tmp_path):
    """A collection with every temporal model (templates written to ``tmp_path`` first)."""
    light_curve, _ = light_curves()
    light_curve.write(tmp_path / "lc.fits", overwrite=True)
    phase, _ = phase_curves(tmp_path)
    phase.write(tmp_path / "phase.fits", overwrite=True)
    temporal = {name: getattr(module, name)(**kwargs) for name, kwargs in ANALYTIC.items()}
    temporal["SineTemporalModel"] = module.SineTemporalModel(**SINE)
    temporal["GeneralizedGaussianTemporalModel"] = module.GeneralizedGaussianTemporalModel(**GENERALIZED)
    temporal["LightCurveTemplateTemporalModel"] = module.LightCurveTemplateTemporalModel.read(
        str(tmp_path / "lc.fits")
    )
    temporal["TemplatePhaseCurveTemporalModel"] = module.TemplatePhaseCurveTemporalModel.read(
        str(tmp_path / "phase.fits"), **PHASE_PARAMETERS
    )
    temporal["LinearTemporalModel"].beta.error = 0.05
    temporal["GaussianTemporalModel"].scale = "tt"
    spatial = module.PointSpatialModel(lon_0="0.1 deg", lat_0="0.2 deg", frame="galactic")
    return module.Models(
        [
            module.SkyModel(module.PowerLawSpectralModel(), spatial.copy(), model, name=name)
            for name, model in temporal.items()
        ]
    )


def _components(path) -> list:
    return yaml.safe_load(path.read_text())["components"]


@pytest.mark.parametrize("full_output", [False, True])
def test_models_yaml_both_ways(tmp_path, full_output):
    ours, theirs = _sky_models(models, tmp_path), _sky_models(gammapy_models, tmp_path)
    ours.write(tmp_path / "ours.yaml", full_output=full_output, write_covariance=False)
    theirs.write(tmp_path / "theirs.yaml", full_output=full_output, write_covariance=False)
    assert str(_components(tmp_path / "ours.yaml")) == str(_components(tmp_path / "theirs.yaml"))

    read_by_gammapy = gammapy_models.Models.read(tmp_path / "ours.yaml")
    read_by_mapds = models.Models.read(tmp_path / "theirs.yaml")
    for model, reference, own in zip(read_by_mapds, read_by_gammapy, ours, strict=True):
        assert type(model.temporal_model).__name__ == type(reference.temporal_model).__name__
        assert model.temporal_model.scale == reference.temporal_model.scale == own.temporal_model.scale
        assert model.parameters.names == reference.parameters.names
        assert_allclose(model.parameters.value, reference.parameters.value, rtol=1e-12)
        assert [p.error for p in model.parameters] == [p.error for p in reference.parameters]
        assert model.temporal_model.parameters.free_parameters.names == [
            p.name for p in reference.temporal_model.parameters if not p.frozen
        ]
        with np.errstate(invalid="ignore"):
            assert_allclose(model.temporal_model(TIMES), reference.temporal_model(TIMES), rtol=RTOL)
    # template file names inside the YAML's directory are kept relative, as gammapy keeps them
    assert read_by_mapds["LightCurveTemplateTemporalModel"].temporal_model.filename == "lc.fits"


def test_unknown_temporal_type_and_missing_filename():
    spectral = {"type": "pl", "parameters": []}  # an empty list: defaults (a missing list is an error)
    data = {"name": "src", "type": "SkyModel", "spectral": spectral, "temporal": {"type": "gaus"}}
    with pytest.raises(UnknownModelTypeError, match="temporal model type 'gaus'"):
        models.Models.from_dict({"components": [data]})
    data["temporal"] = {"type": "template", "parameters": []}
    with pytest.raises(ModelError, match=r"'src'.*no 'filename'"):
        models.Models.from_dict({"components": [data]})


# -- SkyModel with a temporal model ---------------------------------------------------------------


def _gaussian_sky_models():
    return tuple(
        module.SkyModel(
            module.PowerLawSpectralModel(),
            module.GaussianSpatialModel(sigma="0.2 deg"),
            module.GaussianTemporalModel(**ANALYTIC["GaussianTemporalModel"]),
            name="src",
        )
        for module in (models, gammapy_models)
    )


def test_sky_model_parameters_copy_freeze_and_text():
    ours, theirs = _gaussian_sky_models()
    assert ours.parameters.names == theirs.parameters.names
    assert ours.parameters_unique_names == theirs.parameters_unique_names
    assert ours.covariance.data.shape == (len(theirs.parameters),) * 2
    copy = ours.copy(name="copy")
    assert copy.temporal_model is not ours.temporal_model
    assert copy.temporal_model.sigma.value == ours.temporal_model.sigma.value
    ours.freeze("temporal")
    assert ours.temporal_model.frozen and not ours.spectral_model.frozen
    ours.unfreeze()
    assert not ours.temporal_model.t_ref.frozen
    assert "Temporal model type       : GaussianTemporalModel" in str(ours)
    assert "temporal_model=" in repr(ours)
    ours.temporal_model = None
    assert ours.parameters.names == theirs.parameters.names[:-2]
    with pytest.raises(ModelError, match="TemporalModel or None"):
        ours.temporal_model = models.PowerLawSpectralModel()


def test_sky_model_units_include_the_light_curve_unit():
    curve, _ = light_curves()
    in_flux = models.LightCurveTemplateTemporalModel(
        curve.map.copy(unit="cm-2 s-1 TeV-1"), t_ref=curve.reference_time
    )
    models.SkyModel(models.PowerLawNormSpectralModel(), temporal_model=in_flux)
    with pytest.raises(ValueError, match="not equivalent"):
        models.SkyModel(models.PowerLawSpectralModel(), temporal_model=in_flux)


def test_sky_model_evaluate_and_integrate_geom_match_gammapy():
    ours, theirs = _gaussian_sky_models()
    t_min, t_max = intervals()
    gti, reference_gti = GTI.create(t_min, t_max), GammapyGTI.create(t_min, t_max)
    energy = [1.0, 3.0] * u.TeV
    lon, lat = [0.0, 0.1] * u.deg, [0.0, 0.05] * u.deg
    time = TIMES[2:4]
    assert_allclose(ours(lon, lat, energy, time), theirs(lon, lat, energy, time), rtol=RTOL)
    kwargs = {"skydir": (0, 0), "npix": (5, 4), "binsz": 0.1}
    axis = {"name": "energy_true", "nbin": 2}
    geom = WcsGeom.create(axes=[MapAxis.from_energy_bounds("1 TeV", "10 TeV", **axis)], **kwargs)
    reference_geom = GammapyWcsGeom.create(
        axes=[GammapyMapAxis.from_energy_bounds("1 TeV", "10 TeV", **axis)], **kwargs
    )
    assert_allclose(
        ours.evaluate_geom(geom, gti), theirs.evaluate_geom(reference_geom, reference_gti), rtol=RTOL
    )
    flux = ours.integrate_geom(geom, gti)
    reference = theirs.integrate_geom(reference_geom, reference_gti)
    assert flux.unit == reference.unit
    assert_allclose(np.asarray(flux.data), reference.data, rtol=RTOL)
    # without GTIs the temporal model is left out, as in gammapy
    assert_allclose(
        np.asarray(ours.integrate_geom(geom).data), theirs.integrate_geom(reference_geom).data, rtol=RTOL
    )
