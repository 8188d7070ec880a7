"""Spatial models and profiles against gammapy 2.x on identical inputs."""

from __future__ import annotations

import logging

import astropy.units as u
import dask.array
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.maps import Map as GammapyMap
from gammapy.maps import MapAxis as GammapyMapAxis
from gammapy.maps import WcsGeom as GammapyWcsGeom
from gammapy.modeling.models import spatial as gammapy_spatial
from numpy.testing import assert_allclose

from mapds.errors import GeometryMismatchError, ModelError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map
from mapds.modeling import spatial_profiles as profiles
from mapds.modeling.models import spatial

# gammapy accumulates integrate_geom in float32 maps; mapds stays in float64.
FLOAT32_RTOL = 2e-6


def make_geoms(axes=None, **kwargs):
    """The same WcsGeom in mapds and in gammapy (``axes``: (name, lo, hi, nbin) energy axes)."""
    m_axes = [MapAxis.from_energy_bounds(lo, hi, n, name=name) for name, lo, hi, n in axes or []]
    g_axes = [GammapyMapAxis.from_energy_bounds(lo, hi, n, name=name) for name, lo, hi, n in axes or []]
    return WcsGeom.create(axes=m_axes, **kwargs), GammapyWcsGeom.create(axes=g_axes, **kwargs)


def make_models(name, **kwargs):
    """The same model in mapds and in gammapy."""
    return getattr(spatial, name)(**kwargs), getattr(gammapy_spatial, name)(**kwargs)


def gammapy_integral(model, geom, **kwargs):
    """gammapy's integrate_geom as plain numbers (its unit can be e.g. ``sr / deg2``)."""
    return model.integrate_geom(geom, **kwargs).quantity.to_value("")


ANALYTIC_MODELS = [
    ("GaussianSpatialModel", {"sigma": "0.3 deg"}),
    ("GaussianSpatialModel", {"sigma": "0.4 deg", "e": 0.7, "phi": "35 deg"}),
    ("GaussianSpatialModel", {"sigma": "0.4 deg", "e": 0.5, "phi": "-150 deg"}),
    ("GeneralizedGaussianSpatialModel", {"r_0": "0.5 deg", "eta": 0.3}),
    ("GeneralizedGaussianSpatialModel", {"r_0": "0.5 deg", "eta": 0.8, "e": 0.6, "phi": "70 deg"}),
    ("DiskSpatialModel", {"r_0": "0.8 deg"}),
    ("DiskSpatialModel", {"r_0": "0.8 deg", "edge_width": 0.2}),
    ("DiskSpatialModel", {"r_0": "1.2 deg", "e": 0.8, "phi": "20 deg", "edge_width": 0.05}),
    ("ShellSpatialModel", {"radius": "0.6 deg", "width": "0.3 deg"}),
    ("Shell2SpatialModel", {"r_0": "0.9 deg", "eta": 0.4}),
]
POSITIONS = [
    {"lon_0": "0.2 deg", "lat_0": "-0.1 deg", "frame": "icrs"},
    {"lon_0": "184.55 deg", "lat_0": "-5.78 deg", "frame": "galactic"},
    {"lon_0": "359.8 deg", "lat_0": "62 deg", "frame": "galactic"},
]


def model_id(value):
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)


# -- pure profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize("sigma_deg", [0.01, 1.0, 20.0])
def test_gaussian_profile_integrates_to_one_on_the_sphere(sigma_deg):
    sigma = np.deg2rad(sigma_deg)
    theta = np.linspace(0, min(np.pi, 20 * sigma), 200001)
    values = profiles.gaussian(0.0, theta, 0.0, 0.0, sigma)
    integral = 2 * np.pi * np.trapezoid(values * np.sin(theta), theta)
    assert_allclose(integral, 1, rtol=1e-6)


@pytest.mark.parametrize("r_0_deg", [0.05, 1.0, 30.0])
def test_disk_norm_of_circle_is_inverse_cap_area(r_0_deg):
    r_0 = np.deg2rad(r_0_deg)
    cap_area = 4 * np.pi * np.sin(r_0 / 2) ** 2  # 2π (1 − cos r_0) without cancellation
    assert_allclose(profiles.disk_norm(r_0), 1 / cap_area, rtol=1e-12)


def test_disk_norm_of_ellipse_matches_flat_sky_area_for_small_disks():
    r_0, e = np.deg2rad(0.1), 0.8
    flat_area = np.pi * r_0 * r_0 * np.sqrt(1 - e**2)
    assert_allclose(profiles.disk_norm(r_0, e), 1 / flat_area, rtol=1e-5)


def test_shell_profile_integrates_to_one():
    radius_in, radius_out = np.deg2rad(0.5), np.deg2rad(0.7)
    theta = np.linspace(0, radius_out, 400001)
    values = profiles.shell(0.0, theta, 0.0, 0.0, radius_in, radius_out)
    assert_allclose(2 * np.pi * np.trapezoid(values * theta, theta), 1, rtol=1e-4)
    assert profiles.shell(0.0, 1.1 * radius_out, 0.0, 0.0, radius_in, radius_out) == 0


def test_effective_radius_along_the_axes():
    major, e, phi = 0.02, 0.6, np.deg2rad(30)
    minor = major * np.sqrt(1 - e**2)
    # Points a tiny step away from the centre along the major and the minor axis.
    along_major = (1e-4 * np.sin(phi), 1e-4 * np.cos(phi))
    along_minor = (1e-4 * np.cos(phi), -1e-4 * np.sin(phi))
    assert_allclose(profiles.effective_radius(*along_major, 0.0, 0.0, major, e, phi), major, rtol=1e-6)
    assert_allclose(profiles.effective_radius(*along_minor, 0.0, 0.0, major, e, phi), minor, rtol=1e-6)


def test_point_source_weights_sum_to_one_and_keep_the_centroid():
    y, x = np.mgrid[0:6, 0:7].astype(float)
    weights = profiles.point_source_weights(x, y, 3.3, 2.8)
    assert_allclose(weights.sum(), 1)
    assert np.count_nonzero(weights) == 4
    assert_allclose([(weights * x).sum(), (weights * y).sum()], [3.3, 2.8])


@pytest.mark.parametrize(
    ("pixel_scale", "bin_size", "expected"),
    [(0.1, None, 1), (0.1, 0.0, 200), (0.1, 0.03, 4), (0.1, 0.1, 1), (0.1, 1e-5, 200), (0.1, 0.2, 1)],
)
def test_oversampling_factor(pixel_scale, bin_size, expected):
    assert profiles.oversampling_factor(pixel_scale, bin_size) == expected


def test_block_sum_counts_nan_as_zero():
    values = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    values[0, 0, 0] = np.nan
    out = profiles.block_sum(values, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == 1 + 6 + 7
    assert out[1, 1, 2] == values[1, 2:4, 4:6].sum()


@pytest.mark.parametrize("values_scale", ["lin", "log", "sqrt"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_interpolate_grid_matches_gammapy_interp_by_pix(values_scale, dtype):
    rng = np.random.default_rng(1)
    axis = GammapyMapAxis.from_energy_bounds("1 TeV", "10 TeV", 3, name="energy_true")
    m = GammapyMap.create(npix=(6, 5), binsz=0.2, axes=[axis], dtype=dtype)
    data = rng.uniform(0, 1, m.data.shape).astype(dtype)
    data[data < 0.2] = 0
    m.data = data
    pix = (rng.uniform(-0.5, 5.5, 300), rng.uniform(-0.5, 4.5, 300), rng.uniform(-0.5, 2.5, 300))
    expected = m.interp_by_pix(pix, values_scale=values_scale)
    assert_allclose(profiles.interpolate_grid(data, pix, values_scale=values_scale), expected, rtol=1e-12)


# -- evaluate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("position", POSITIONS, ids=model_id)
@pytest.mark.parametrize(("name", "pars"), ANALYTIC_MODELS, ids=model_id)
def test_evaluate_matches_gammapy(name, pars, position):
    ours, theirs = make_models(name, **pars, **position)
    rng = np.random.default_rng(3)
    lon = ours.lon_0.quantity + rng.uniform(-2, 2, 2000) * u.deg
    lat = np.clip(ours.lat_0.quantity + rng.uniform(-2, 2, 2000) * u.deg, -90 * u.deg, 90 * u.deg)
    value = ours(lon, lat)
    expected = theirs(lon, lat)
    assert value.unit == "sr-1"
    assert_allclose(value.to_value("sr-1"), expected.to_value("sr-1"), rtol=1e-9, atol=1e-300)
    static = type(ours).evaluate(lon, lat, *[p.quantity for p in ours.parameters])
    assert_allclose(static.to_value("sr-1"), value.to_value("sr-1"))


def test_evaluate_takes_degrees_for_plain_numbers():
    model = spatial.GaussianSpatialModel(lon_0="1 deg", lat_0="2 deg", sigma="0.5 deg")
    expected = model(1.2 * u.deg, 2.1 * u.deg)
    assert_allclose(model.evaluate(1.2, 2.1, 1.0, 2.0, 0.5, 0.0, 0.0).value, expected.value)


@pytest.mark.parametrize(("name", "pars"), ANALYTIC_MODELS, ids=model_id)
def test_evaluation_radius_and_bin_size_match_gammapy(name, pars):
    ours, theirs = make_models(name, **pars)
    assert_allclose(ours.evaluation_radius.to_value("deg"), theirs.evaluation_radius.to_value("deg"))
    assert_allclose(
        ours.evaluation_bin_size_min.to_value("deg"), theirs.evaluation_bin_size_min.to_value("deg")
    )


def test_point_and_constant_radius_and_bin_size():
    point = spatial.PointSpatialModel()
    assert point.evaluation_radius == 0 * u.deg
    assert point.evaluation_bin_size_min == 0 * u.deg
    const = spatial.ConstantSpatialModel()
    assert const.evaluation_radius is None
    assert const.evaluation_bin_size_min is None
    assert const.position is None


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
@pytest.mark.parametrize(("name", "pars"), ANALYTIC_MODELS[:6], ids=model_id)
def test_evaluate_geom_matches_gammapy(name, pars, frame):
    ours, theirs = make_models(name, lon_0="83.6 deg", lat_0="22.0 deg", **pars)
    skydir = SkyCoord(83.6, 22.0, unit="deg").transform_to(frame)
    axes = [("energy", "1 TeV", "10 TeV", 2)]
    geom, gp_geom = make_geoms(npix=(30, 20), binsz=0.1, frame=frame, skydir=skydir, axes=axes)
    value = ours.evaluate_geom(geom)
    expected = theirs.evaluate_geom(gp_geom)
    assert value.shape == expected.shape == (1, 20, 30)
    assert_allclose(value.to_value("sr-1"), expected.to_value("sr-1"), rtol=1e-9)


# -- integrate_geom ----------------------------------------------------------------------------

INTEGRATION_CASES = [
    # small sources: oversampled on an inner cutout
    ("GaussianSpatialModel", {"sigma": "0.02 deg"}, 0.05),
    ("GaussianSpatialModel", {"sigma": "0.05 deg", "e": 0.8, "phi": "60 deg"}, 0.05),
    ("DiskSpatialModel", {"r_0": "0.15 deg", "e": 0.5, "phi": "10 deg"}, 0.05),
    ("ShellSpatialModel", {"radius": "0.2 deg", "width": "0.04 deg"}, 0.05),
    ("Shell2SpatialModel", {"r_0": "0.3 deg", "eta": 0.1}, 0.05),
    ("GeneralizedGaussianSpatialModel", {"r_0": "0.1 deg", "eta": 0.4}, 0.05),
    # large sources on fine pixels: factor 1, every pixel evaluated
    ("GaussianSpatialModel", {"sigma": "0.5 deg"}, 0.1),
    ("DiskSpatialModel", {"r_0": "1.0 deg", "edge_width": 0.1}, 0.1),
]


@pytest.mark.parametrize("frame", ["icrs", "galactic"])
@pytest.mark.parametrize(("name", "pars", "binsz"), INTEGRATION_CASES, ids=model_id)
def test_integrate_geom_matches_gammapy(name, pars, binsz, frame):
    ours, theirs = make_models(name, lon_0="0.13 deg", lat_0="-0.07 deg", frame="galactic", **pars)
    skydir = SkyCoord(0.1, 0.0, unit="deg", frame="galactic").transform_to(frame)
    geom, gp_geom = make_geoms(npix=(41, 31), binsz=binsz, frame=frame, skydir=skydir)
    result = ours.integrate_geom(geom)
    expected = gammapy_integral(theirs, gp_geom)
    assert isinstance(result, Map)
    assert result.geom == geom
    assert result.unit == u.dimensionless_unscaled
    values = np.asarray(result)
    assert_allclose(values, expected, rtol=FLOAT32_RTOL, atol=1e-12)
    assert np.array_equal(values == 0, expected == 0)


def test_integrate_geom_small_source_sums_to_one():
    model = spatial.GaussianSpatialModel(lon_0="0.03 deg", lat_0="0.01 deg", sigma="0.01 deg")
    geom = WcsGeom.create(npix=(21, 21), binsz=0.1)
    values = np.asarray(model.integrate_geom(geom))
    assert_allclose(values.sum(), 1, rtol=1e-5)
    # the inner cutout is 2 x max(5 sigma, pixel) = 0.2 deg wide: 2 x 2 pixels are non-zero
    assert np.count_nonzero(values) == 4


def test_integrate_geom_pixels_outside_the_inner_cutout_stay_zero():
    # factor 2 but a Gaussian wider than its 5-sigma cutout: the tails are truncated, as gammapy
    model, gp_model = make_models("GaussianSpatialModel", sigma="0.16 deg")
    geom, gp_geom = make_geoms(npix=(31, 31), binsz=0.1)
    values = np.asarray(model.integrate_geom(geom))
    inner = geom.cutout(model.position, 2 * 0.8)
    assert np.count_nonzero(values) == np.prod(inner.data_shape)
    assert_allclose(values, gammapy_integral(gp_model, gp_geom), rtol=FLOAT32_RTOL, atol=1e-12)


@pytest.mark.parametrize("factor", [1, 3])
def test_integrate_geom_explicit_oversampling_factor(factor):
    model, gp_model = make_models("DiskSpatialModel", r_0="0.3 deg", lon_0="0.05 deg")
    geom, gp_geom = make_geoms(npix=(25, 25), binsz=0.05)
    values = np.asarray(model.integrate_geom(geom, oversampling_factor=factor))
    expected = gammapy_integral(gp_model, gp_geom, oversampling_factor=factor)
    assert_allclose(values, expected, rtol=FLOAT32_RTOL, atol=1e-12)


def test_integrate_geom_model_outside_the_map():
    model, gp_model = make_models("GaussianSpatialModel", lon_0="20 deg", sigma="0.1 deg")
    geom, gp_geom = make_geoms(npix=(11, 11), binsz=0.1)
    values = np.asarray(model.integrate_geom(geom))
    assert_allclose(values, gammapy_integral(gp_model, gp_geom), atol=1e-30)


def test_integrate_geom_model_at_the_map_edge():
    model, gp_model = make_models("DiskSpatialModel", lon_0="0.98 deg", lat_0="0.3 deg", r_0="0.2 deg")
    geom, gp_geom = make_geoms(npix=(21, 21), binsz=0.1)
    values = np.asarray(model.integrate_geom(geom))
    assert_allclose(values, gammapy_integral(gp_model, gp_geom), rtol=FLOAT32_RTOL, atol=1e-12)
    assert 0.2 < values.sum() < 0.8


def test_integrate_geom_broadcasts_over_non_spatial_axes():
    model, gp_model = make_models("GaussianSpatialModel", sigma="0.05 deg")
    axes = [("energy_true", "1 TeV", "10 TeV", 3)]
    geom, gp_geom = make_geoms(npix=(15, 15), binsz=0.05, axes=axes)
    result = model.integrate_geom(geom)
    assert result.geom == geom
    values = np.asarray(result)
    assert_allclose(values, gammapy_integral(gp_model, gp_geom), rtol=FLOAT32_RTOL, atol=1e-12)
    assert_allclose(values[0], values[2])


@pytest.mark.parametrize(
    ("lon", "lat"),
    [("0.0 deg", "0.0 deg"), ("0.0123 deg", "-0.031 deg"), ("0.52 deg", "0.47 deg"), ("0.58 deg", "0 deg")],
)
def test_point_source_integrate_geom_matches_gammapy(lon, lat):
    model, gp_model = make_models("PointSpatialModel", lon_0=lon, lat_0=lat, frame="galactic")
    geom, gp_geom = make_geoms(npix=(11, 10), binsz=0.1, frame="galactic")
    result = model.integrate_geom(geom)
    expected = gp_model.integrate_geom(gp_geom).data
    assert_allclose(np.asarray(result), expected, rtol=1e-12, atol=1e-15)
    evaluated = model.evaluate_geom(geom)
    assert_allclose(evaluated.to_value("sr-1"), gp_model.evaluate_geom(gp_geom).to_value("sr-1"))


def test_point_source_weights_at_a_fractional_pixel_position():
    geom = WcsGeom.create(npix=(10, 10), binsz=0.1, frame="galactic")
    position = SkyCoord.from_pixel(4.25, 6.5, geom.wcs)
    model = spatial.PointSpatialModel.from_position(position)
    values = np.asarray(model.integrate_geom(geom))
    assert_allclose(values.sum(), 1)
    assert_allclose(values[6:8, 4:6], [[0.375, 0.125], [0.375, 0.125]], rtol=1e-9)


def test_point_source_beyond_the_edge_loses_flux_and_returns_the_image():
    geom = WcsGeom.create(npix=(10, 10), binsz=0.1, axes=[MapAxis.from_energy_bounds(1, 10, 2, "TeV")])
    position = SkyCoord.from_pixel(-0.25, 3.0, geom.wcs)
    model = spatial.PointSpatialModel.from_position(position)
    result = model.integrate_geom(geom)
    assert result.geom == geom.to_image()
    assert_allclose(np.asarray(result).sum(), 0.75)


def test_constant_model_integrates_to_solid_angle():
    model, gp_model = make_models("ConstantSpatialModel")
    geom, gp_geom = make_geoms(npix=(8, 6), binsz=0.5, frame="galactic")
    values = np.asarray(model.integrate_geom(geom))
    assert_allclose(values, geom.solid_angle().to_value("sr"))
    assert_allclose(values, gammapy_integral(gp_model, gp_geom), rtol=FLOAT32_RTOL)
    assert model.evaluate_geom(geom).shape == (6, 8)


def test_non_wcs_geometry_is_rejected():
    geom = WcsGeom.create(npix=(3, 3), binsz=0.1)
    with pytest.raises(GeometryMismatchError, match="WcsGeom"):
        spatial.GaussianSpatialModel().integrate_geom(geom.to_image().wcs)


# -- position ----------------------------------------------------------------------------------


def test_position_get_set_and_lonlat():
    model = spatial.DiskSpatialModel(lon_0="10 deg", lat_0="-20 deg", frame="galactic")
    assert model.position.frame.name == "galactic"
    assert_allclose(model.position_lonlat, (np.deg2rad(10), np.deg2rad(-20)))
    target = SkyCoord(83.63, 22.01, unit="deg", frame="icrs")
    model.position = target
    assert model.frame == "galactic"
    assert model.position.separation(target).deg < 1e-10
    assert_allclose(model.lon_0.quantity.to_value("deg"), target.galactic.l.deg)
    assert model.lon_0.unit == "deg"


def test_from_position_uses_the_frame_of_the_coordinate():
    position = SkyCoord(184.5, -5.8, unit="deg", frame="galactic")
    model = spatial.GaussianSpatialModel.from_position(position, sigma="0.2 deg")
    assert model.frame == "galactic"
    assert_allclose([model.lon_0.value, model.lat_0.value, model.sigma.value], [184.5, -5.8, 0.2])


# -- template ----------------------------------------------------------------------------------


def make_templates(axes=None, normalize=True, unit="", seed=4, **geom_kwargs):
    """The same template model in mapds and gammapy, with zeros in the data."""
    geom_kwargs = {"npix": (30, 20), "binsz": 0.1, "frame": "galactic", "skydir": (10, 1), **geom_kwargs}
    geom, gp_geom = make_geoms(axes=axes, **geom_kwargs)
    data = np.random.default_rng(seed).uniform(0, 1, geom.data_shape)
    data[data < 0.3] = 0
    template = Map.from_geom(geom, data=data, unit=unit)
    gp_template = GammapyMap.from_geom(gp_geom, data=data, unit=unit)
    model = spatial.TemplateSpatialModel(template, normalize=normalize, filename="template.fits")
    gp_model = gammapy_spatial.TemplateSpatialModel(
        gp_template, normalize=normalize, filename="template.fits"
    )
    return model, gp_model


def random_points(model, n=600, seed=5):
    rng = np.random.default_rng(seed)
    lon = model.map_center.data.lon + rng.uniform(-1.8, 1.8, n) * u.deg
    lat = model.map_center.data.lat + rng.uniform(-1.3, 1.3, n) * u.deg
    return lon, lat


def test_template_defaults_to_map_centre_frozen():
    model, gp_model = make_templates()
    assert model.frame == "galactic"
    assert model.lon_0.frozen and model.lat_0.frozen
    assert_allclose([model.lon_0.value, model.lat_0.value], [gp_model.lon_0.value, gp_model.lat_0.value])
    assert_allclose(model.evaluation_radius.to_value("deg"), gp_model.evaluation_radius.to_value("deg"))
    assert model.evaluation_bin_size_min is None
    assert not model.is_energy_dependent


def test_template_normalisation_matches_gammapy():
    model, gp_model = make_templates()
    normalised = model.map
    assert normalised.unit == "sr-1"
    assert_allclose(np.asarray(normalised), gp_model.map.data, rtol=1e-12)
    solid_angle = model.map.geom.solid_angle().to_value("sr")
    assert_allclose((np.asarray(normalised) * solid_angle).sum(), 1)


@pytest.mark.parametrize("normalize", [True, False])
def test_template_evaluate_matches_gammapy(normalize):
    model, gp_model = make_templates(normalize=normalize, unit="sr-1")
    lon, lat = random_points(model)
    value = model(lon, lat)
    expected = gp_model(lon, lat)
    assert value.unit == expected.unit == "sr-1"
    assert_allclose(value.value, expected.value, rtol=1e-10, atol=1e-300)
    assert (value == 0).sum() > 0  # points outside the map are filled with 0


def test_template_shifted_position_matches_gammapy():
    model, gp_model = make_templates()
    for m in (model, gp_model):
        m.lon_0.value += 0.23
        m.lat_0.value -= 0.11
    lon, lat = random_points(model)
    assert_allclose(model(lon, lat).value, gp_model(lon, lat).value, rtol=1e-10, atol=1e-300)


def test_template_unitless_without_normalisation_warns_and_assumes_per_sr(caplog):
    with caplog.at_level(logging.WARNING):
        model, _ = make_templates(normalize=False)
    assert "assuming sr^-1" in caplog.text
    assert model.map.unit == "sr-1"


def test_template_integrate_geom_matches_gammapy():
    model, gp_model = make_templates()
    geom, gp_geom = make_geoms(npix=(24, 18), binsz=0.07, frame="icrs", skydir=(271.5, -19.6))
    values = np.asarray(model.integrate_geom(geom))
    expected = gammapy_integral(gp_model, gp_geom)
    assert_allclose(values, expected, rtol=FLOAT32_RTOL, atol=1e-12 * expected.max())


def test_energy_dependent_template_matches_gammapy():
    axes = [("energy_true", "1 TeV", "100 TeV", 4)]
    model, gp_model = make_templates(axes=axes)
    assert model.is_energy_dependent
    lon, lat = random_points(model)
    energy = np.geomspace(0.6, 160, lon.size) * u.TeV
    assert_allclose(model(lon, lat, energy).value, gp_model(lon, lat, energy).value, rtol=1e-10, atol=1e-300)
    with pytest.raises(ModelError, match="energy"):
        model(lon, lat)

    geom, gp_geom = make_geoms(
        npix=(20, 16),
        binsz=0.1,
        frame="galactic",
        skydir=(10.3, 0.8),
        axes=[("energy_true", "2 TeV", "50 TeV", 3)],
    )
    result = model.integrate_geom(geom)
    assert result.geom == geom
    expected = gammapy_integral(gp_model, gp_geom)
    assert_allclose(np.asarray(result), expected, rtol=FLOAT32_RTOL, atol=1e-12 * expected.max())
    with pytest.raises(GeometryMismatchError, match="energy_true"):
        model.evaluate_geom(geom.to_image())


def test_template_evaluation_reads_only_a_window():
    geom, gp_geom = make_geoms(npix=(200, 150), binsz=0.02, frame="galactic")
    data = np.random.default_rng(6).uniform(0.1, 1, geom.data_shape)
    blocks_read = []

    def read_block(block, block_info=None):
        blocks_read.append(tuple(block_info[0]["chunk-location"]))
        return block

    lazy = dask.array.from_array(data, chunks=(10, 10)).map_blocks(read_block, dtype=float)
    model = spatial.TemplateSpatialModel(Map.from_geom(geom, data=lazy), filename="template.fits")
    gp_model = gammapy_spatial.TemplateSpatialModel(
        GammapyMap.from_geom(gp_geom, data=data), filename="t.fits"
    )
    assert not blocks_read  # building the model reads nothing
    lon, lat = [0.01, 0.05, 0.3] * u.deg, [0.0, -0.03, 0.31] * u.deg
    model(lon[:1], lat[:1])  # the first evaluation sums every plane once
    assert len(blocks_read) > 300
    blocks_read.clear()
    assert_allclose(model(lon, lat).value, gp_model(lon, lat).value, rtol=1e-10)
    assert 0 < len(set(blocks_read)) <= 9  # the bounding box of the points: 3 x 3 of 300 blocks


# -- serialisation -----------------------------------------------------------------------------

SERIALISED_MODELS = [
    ("PointSpatialModel", {"lon_0": "83.6 deg", "lat_0": "22.0 deg"}),
    ("GaussianSpatialModel", {"lon_0": "1 deg", "sigma": "0.2 deg", "e": 0.3, "frame": "galactic"}),
    ("GeneralizedGaussianSpatialModel", {"r_0": "0.3 deg", "eta": 0.7}),
    ("DiskSpatialModel", {"r_0": "0.4 deg", "edge_width": 0.05, "frame": "galactic"}),
    ("ShellSpatialModel", {"radius": "0.5 deg", "width": "0.1 deg"}),
    ("Shell2SpatialModel", {"r_0": "0.5 deg", "eta": 0.3}),
    ("ConstantSpatialModel", {}),
]


@pytest.mark.parametrize("full_output", [False, True])
@pytest.mark.parametrize(("name", "pars"), SERIALISED_MODELS, ids=model_id)
def test_to_dict_matches_gammapy(name, pars, full_output, plain):
    ours, theirs = make_models(name, **pars)
    data = ours.to_dict(full_output=full_output)
    expected = theirs.to_dict(full_output=full_output)
    assert list(data["spatial"]) == list(expected["spatial"])
    assert plain(data) == plain(expected)


@pytest.mark.parametrize(("name", "pars"), SERIALISED_MODELS, ids=model_id)
def test_from_dict_round_trip_and_gammapy_dict(name, pars, plain):
    ours, theirs = make_models(name, **pars)
    for data in (ours.to_dict(), theirs.to_dict(), theirs.to_dict(full_output=True)):
        model = getattr(spatial, name).from_dict(data)
        assert model.frame == ours.frame
        assert plain(model.to_dict()) == plain(ours.to_dict())


def test_template_to_dict_matches_gammapy(plain):
    model, gp_model = make_templates()
    assert plain(model.to_dict()) == plain(gp_model.to_dict())


def test_models_declare_gammapy_tags():
    for name in spatial.__all__:
        if name == "SpatialModel":
            continue
        assert getattr(spatial, name).tag == getattr(gammapy_spatial, name).tag


# -- pure profiles on dask arrays and graphs that travel --------------------------------------


@pytest.mark.parametrize(
    ("profile", "args"),
    [
        (profiles.gaussian, (0.001, 0.01, 0.5, 0.3)),
        (profiles.gaussian, (0.001, 0.01, 0.005, 0.6, 0.4)),
        (profiles.generalized_gaussian, (0.001, 0.01, 0.004, 0.3, 0.2, 0.1)),
        (profiles.disk, (0.001, 0.01, 0.005, 0.3, 0.2, 0.05)),
        (profiles.shell, (0.001, 0.01, 0.003, 0.006)),
    ],
)
def test_profiles_accept_dask_coordinates(profile, args):
    rng = np.random.default_rng(8)
    lon, lat = rng.uniform(-0.01, 0.01, (2, 40, 30))
    lazy = profile(dask.array.from_array(lon, chunks=10), dask.array.from_array(lat, chunks=10), *args)
    assert isinstance(lazy, dask.array.Array)
    assert_allclose(lazy.compute(), profile(lon, lat, *args), rtol=1e-14)


def test_integrate_geom_graph_survives_pickling():
    import cloudpickle

    model = spatial.DiskSpatialModel(r_0="0.5 deg", frame="galactic")
    geom = WcsGeom.create(npix=(30, 30), binsz=0.1, frame="galactic")
    result = model.integrate_geom(geom)
    restored = cloudpickle.loads(cloudpickle.dumps(result.data))
    assert_allclose(restored.compute(), np.asarray(result))
