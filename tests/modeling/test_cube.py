"""SkyModel and FoVBackgroundModel against gammapy 2.x."""

from __future__ import annotations

import astropy.units as u
import dask.array as da
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.maps import MapAxis as GammapyMapAxis
from gammapy.maps import WcsGeom as GammapyWcsGeom
from gammapy.modeling import models as gammapy_models
from numpy.testing import assert_allclose

from mapds.errors import GeometryMismatchError, ModelError, UnitMismatchError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map
from mapds.modeling import models
from mapds.modeling.parameter import Parameter

# gammapy accumulates spatial integrals in float32 maps; mapds stays in float64.
FLOAT32_RTOL = 2e-6


def make_geoms(axis_name="energy_true", nbin=4, **kwargs):
    kwargs = {"npix": (21, 17), "binsz": 0.05, "frame": "galactic", "skydir": (184.55, -5.78), **kwargs}
    axis = MapAxis.from_energy_bounds("0.5 TeV", "50 TeV", nbin, name=axis_name)
    gp_axis = GammapyMapAxis.from_energy_bounds("0.5 TeV", "50 TeV", nbin, name=axis_name)
    return WcsGeom.create(axes=[axis], **kwargs), GammapyWcsGeom.create(axes=[gp_axis], **kwargs)


def make_sky_models(
    spectral=("LogParabolaSpectralModel", {"alpha": 2.3, "beta": 0.1}), spatial=None, **kwargs
):
    def build(module):
        spectral_model = getattr(module, spectral[0])(**spectral[1])
        spatial_model = None if spatial is None else getattr(module, spatial[0])(**spatial[1])
        return module.SkyModel(
            spectral_model=spectral_model, spatial_model=spatial_model, name="src", **kwargs
        )

    return build(models), build(gammapy_models)


SPATIAL = [
    ("PointSpatialModel", {"lon_0": "184.56 deg", "lat_0": "-5.77 deg", "frame": "galactic"}),
    ("GaussianSpatialModel", {"lon_0": "83.63 deg", "lat_0": "22.01 deg", "sigma": "0.04 deg"}),
    ("DiskSpatialModel", {"lon_0": "184.5 deg", "lat_0": "-5.8 deg", "r_0": "0.2 deg", "frame": "galactic"}),
    ("ConstantSpatialModel", {}),
]


@pytest.mark.parametrize("spatial", SPATIAL, ids=lambda s: s[0])
def test_integrate_geom_matches_gammapy(spatial):
    ours, theirs = make_sky_models(spatial=spatial)
    geom, gp_geom = make_geoms()
    result = ours.integrate_geom(geom)
    expected = theirs.integrate_geom(gp_geom)
    assert isinstance(result.data, da.Array)
    assert result.geom == geom
    assert result.unit.is_equivalent(expected.unit)
    assert_allclose(
        np.asarray(result) * result.unit.to(expected.unit), expected.data, rtol=FLOAT32_RTOL, atol=0
    )


def test_integrate_geom_without_spatial_model_matches_gammapy():
    ours, theirs = make_sky_models(spectral=("ExpCutoffPowerLawSpectralModel", {}))
    geom, gp_geom = make_geoms(npix=(3, 2))
    result, expected = ours.integrate_geom(geom), theirs.integrate_geom(gp_geom)
    assert_allclose(np.asarray(result) * result.unit.to(expected.unit), expected.data, rtol=1e-10)


def test_integrate_geom_builds_a_graph_without_computing(raise_if_dask_computes):
    ours, _ = make_sky_models(spatial=SPATIAL[2])
    geom, _ = make_geoms(npix=(400, 300), binsz=0.01)
    with raise_if_dask_computes():
        result = ours.integrate_geom(geom)
    assert result.data.npartitions >= 1
    total = float(result.data.sum().compute()) * result.unit
    expected = ours.spectral_model.integral(0.5 * u.TeV, 50 * u.TeV)
    # the disk edge is sampled by 0.01 deg pixels without oversampling: 1 % accuracy
    assert_allclose(total.to_value(expected.unit), expected.value, rtol=1e-2)


def test_integrate_geom_keeps_parameter_values_of_build_time():
    ours, _ = make_sky_models(spatial=SPATIAL[1])
    geom, _ = make_geoms()
    before = ours.integrate_geom(geom)
    ours.spectral_model.amplitude.value *= 10
    ours.spatial_model.sigma.value *= 3
    assert_allclose(
        np.asarray(before), np.asarray(make_sky_models(spatial=SPATIAL[1])[0].integrate_geom(geom))
    )


def test_integrate_geom_needs_a_true_energy_axis():
    ours, _ = make_sky_models(spatial=SPATIAL[1])
    geom, _ = make_geoms(axis_name="energy")
    with pytest.raises(GeometryMismatchError, match="energy_true"):
        ours.integrate_geom(geom)


def test_evaluate_and_evaluate_geom_match_gammapy():
    ours, theirs = make_sky_models(spatial=SPATIAL[1])
    lon, lat = [83.6, 83.65, 84.0] * u.deg, [22.0, 22.02, 22.5] * u.deg
    energy = [[1.0], [3.0]] * u.TeV
    assert_allclose(ours(lon, lat, energy).value, theirs(lon, lat, energy).value, rtol=1e-12)
    geom, gp_geom = make_geoms(frame="icrs", skydir=(83.63, 22.01))
    value, expected = ours.evaluate_geom(geom), theirs.evaluate_geom(gp_geom)
    assert_allclose(value.to_value(expected.unit), expected.value, rtol=1e-12)


def test_properties_follow_the_spatial_model():
    ours, theirs = make_sky_models(spatial=SPATIAL[2])
    assert ours.position.separation(theirs.position).deg < 1e-12
    assert ours.frame == "galactic"
    assert_allclose(ours.position_lonlat, theirs.position_lonlat)
    assert ours.evaluation_radius == theirs.evaluation_radius
    assert ours.evaluation_bin_size_min == theirs.evaluation_bin_size_min
    assert ours.parameters.names == theirs.parameters.names
    assert ours.parameters_unique_names == theirs.parameters_unique_names
    no_spatial, _ = make_sky_models()
    assert no_spatial.position is None and no_spatial.evaluation_radius is None and no_spatial.frame is None


def test_sky_model_checks_units_types_and_temporal_models():
    pl = models.PowerLawSpectralModel()
    with pytest.raises(UnitMismatchError, match="not equivalent"):
        models.SkyModel(models.PowerLawNormSpectralModel(), models.PointSpatialModel(), name="x")
    per_energy = models.ConstantSpectralModel(const=Parameter("const", "3 TeV-1"))
    models.SkyModel(per_energy, apply_irf={"exposure": False})
    with pytest.raises(UnitMismatchError, match="not equivalent"):
        models.SkyModel(per_energy)
    with pytest.raises(ModelError, match="Temporal"):
        models.SkyModel(pl, temporal_model=object())
    with pytest.raises(ModelError, match="SpectralModel"):
        models.SkyModel(models.PointSpatialModel())
    with pytest.raises(ModelError, match="apply_irf"):
        models.SkyModel(pl, apply_irf={"psf": False, "aeff": True})


def test_apply_irf_and_datasets_names_in_dict():
    model = models.SkyModel(
        models.PowerLawSpectralModel(), name="a", apply_irf={"psf": False}, datasets_names="d1"
    )
    assert model.apply_irf == {"exposure": True, "psf": False, "edisp": True}
    data = model.to_dict()
    assert list(data) == ["name", "type", "apply_irf", "datasets_names", "spectral"]
    assert data["datasets_names"] == ["d1"]
    again = models.SkyModel.from_dict(data)
    assert again.apply_irf == model.apply_irf and again.datasets_names == ["d1"]


def test_copy_freeze_unfreeze_and_random_names():
    ours, _ = make_sky_models(spatial=SPATIAL[1])
    assert (
        models.SkyModel(models.PowerLawSpectralModel()).name
        != models.SkyModel(models.PowerLawSpectralModel()).name
    )
    copy = ours.copy(name="other")
    assert copy.name == "other" and ours.copy().name != ours.name
    assert copy.spectral_model is not ours.spectral_model
    assert copy.parameters.value.tolist() == ours.parameters.value.tolist()
    ours.freeze("spatial")
    assert ours.spatial_model.frozen and not ours.spectral_model.frozen
    ours.freeze()
    assert ours.frozen
    ours.unfreeze()
    assert [p.frozen for p in ours.parameters] == [
        p.frozen for p in make_sky_models(spatial=SPATIAL[1])[0].parameters
    ]
    with pytest.raises(ModelError, match="model_type"):
        ours.freeze("spectrum")


def test_covariance_of_a_sky_model_follows_errors():
    ours, _ = make_sky_models(spatial=SPATIAL[1])
    ours.spectral_model.alpha.error = 0.2
    ours.spatial_model.sigma.error = 0.01
    diagonal = np.diag(ours.covariance.data)
    assert_allclose(diagonal[[2, 6]], [0.04, 1e-4])
    data = np.eye(len(ours.parameters)) * 4
    data[2, 6] = data[6, 2] = 0.1
    ours.covariance = data
    assert_allclose(ours.spatial_model.sigma.error, 2)
    assert_allclose(ours.covariance.data[2, 6], 0.1)
    copy = ours.copy()
    assert_allclose(copy.covariance.data, ours.covariance.data)


def test_fov_background_model_matches_gammapy():
    geom, gp_geom = make_geoms(axis_name="energy")
    spectral = {"norm": 1.3, "tilt": 0.2}
    ours = models.FoVBackgroundModel("ds1", spectral_model=models.PowerLawNormSpectralModel(**spectral))
    theirs = gammapy_models.FoVBackgroundModel(
        dataset_name="ds1", spectral_model=gammapy_models.PowerLawNormSpectralModel(**spectral)
    )
    assert ours.name == theirs.name == "ds1-bkg"
    value, expected = ours.evaluate_geom(geom), theirs.evaluate_geom(gp_geom)
    assert value.shape == expected.shape == (4, 1, 1)
    assert_allclose(value.value, expected.value, rtol=1e-14)
    assert ours.to_dict() == theirs.to_dict()
    assert ours.parameters_unique_names == theirs.parameters_unique_names
    assert ours.contributes()


def test_fov_background_model_with_spatial_norm():
    geom, _ = make_geoms(axis_name="energy", nbin=2)
    spatial = models.ConstantSpatialModel(value="2 sr-1")
    model = models.FoVBackgroundModel("ds1", spatial_model=spatial)
    assert_allclose(model.evaluate_geom(geom).value, 2.0)
    with pytest.raises(ModelError, match="lon and lat"):
        model.evaluate(1 * u.TeV)


def test_fov_background_model_checks():
    with pytest.raises(ModelError, match="norm spectral model"):
        models.FoVBackgroundModel("ds1", spectral_model=models.PowerLawSpectralModel())
    with pytest.raises(ModelError, match="one dataset"):
        models.FoVBackgroundModel(["a", "b"])
    with pytest.raises(ModelError, match="one dataset"):
        models.FoVBackgroundModel.from_dict({"type": "FoVBackgroundModel", "datasets_names": ["a", "b"]})
    with pytest.raises(ModelError, match="datasets_names"):
        models.FoVBackgroundModel.from_dict({"type": "FoVBackgroundModel"})
    model = models.FoVBackgroundModel("ds1", name="custom")
    assert model.name == "custom"
    model.spectral_model.norm.value = 2
    model.freeze()
    assert model.frozen
    model.unfreeze()
    assert not model.spectral_model.norm.frozen
    model.reset_to_default()
    assert model.spectral_model.norm.value == 1
    assert model.copy().datasets_names == ["ds1"]


def test_template_sky_model_integrates_like_gammapy():
    from gammapy.maps import Map as GammapyMap

    geom, gp_geom = make_geoms(npix=(30, 24), binsz=0.1)
    data = np.random.default_rng(2).uniform(0, 1, geom.data_shape)
    spatial = models.TemplateSpatialModel(Map.from_geom(geom, data=data), filename="t.fits")
    gp_spatial = gammapy_models.TemplateSpatialModel(
        GammapyMap.from_geom(gp_geom, data=data), filename="t.fits"
    )
    ours = models.SkyModel(models.PowerLawSpectralModel(), spatial, name="t")
    theirs = gammapy_models.SkyModel(gammapy_models.PowerLawSpectralModel(), gp_spatial, name="t")
    target, gp_target = make_geoms(npix=(12, 10), binsz=0.07)
    result, expected = ours.integrate_geom(target), theirs.integrate_geom(gp_target)
    assert_allclose(
        np.asarray(result) * result.unit.to(expected.unit),
        expected.data,
        rtol=FLOAT32_RTOL,
        atol=1e-9 * expected.data.max(),
    )


def test_position_from_skycoord_on_sky_model():
    ours, _ = make_sky_models(spatial=SPATIAL[1])
    ours.spatial_model.position = SkyCoord(10, 20, unit="deg")
    assert_allclose([ours.position.ra.deg, ours.position.dec.deg], [10, 20])
