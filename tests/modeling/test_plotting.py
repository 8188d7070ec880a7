"""Model plots against gammapy's (matplotlib Agg backend): spectral curves and error bands, spatial
images and error regions."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import gammapy.modeling.models as gp_models
import matplotlib
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

import mapds.modeling.models as md_models
from mapds.errors import InvalidArgumentError, ModelError
from mapds.geom import MapAxis, WcsGeom

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from astropy.visualization.wcsaxes import WCSAxes

BOUNDS = [0.1, 100] * u.TeV


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def power_law(lib):
    model = lib.PowerLawSpectralModel(index=2.3, amplitude="2e-12 cm-2 s-1 TeV-1")
    model.covariance = np.array([[0.01, 2e-14, 0], [2e-14, 1e-25, 0], [0, 0, 0]])
    return model


def cutoff_power_law(lib):
    model = lib.ExpCutoffPowerLawSpectralModel(
        index=2.0, amplitude="2e-12 cm-2 s-1 TeV-1", lambda_="0.1 TeV-1"
    )
    covariance = np.zeros((5, 5))
    covariance[0, 0], covariance[1, 1], covariance[3, 3] = 0.01, 1e-25, 1e-4
    covariance[0, 3] = covariance[3, 0] = 5e-4
    model.covariance = covariance
    return model


def _curve(ax):
    line = ax.lines[0]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def _band(ax):
    return ax.collections[0].get_paths()[0].vertices


@pytest.mark.parametrize("build", [power_law, cutoff_power_law])
@pytest.mark.parametrize(
    ("sed_type", "energy_power"), [("dnde", 0), ("e2dnde", 0), ("flux", 0), ("eflux", 0), ("dnde", 2)]
)
def test_spectral_plot_matches_gammapy(build, sed_type, energy_power):
    gp_ax = build(gp_models).plot(BOUNDS, ax=plt.figure().gca(), sed_type=sed_type, energy_power=energy_power)
    ax = build(md_models).plot(BOUNDS, ax=plt.figure().gca(), sed_type=sed_type, energy_power=energy_power)
    for values, expected in zip(_curve(ax), _curve(gp_ax), strict=True):
        np.testing.assert_allclose(values, expected, rtol=1e-10)
    for getter in ("get_xlabel", "get_ylabel", "get_xscale", "get_yscale"):
        assert getattr(ax, getter)() == getattr(gp_ax, getter)()


@pytest.mark.parametrize("build", [power_law, cutoff_power_law])
@pytest.mark.parametrize(
    ("sed_type", "energy_power"), [("dnde", 0), ("e2dnde", 0), ("eflux", 0), ("dnde", 1)]
)
def test_spectral_error_band_matches_gammapy(build, sed_type, energy_power):
    kwargs = {"sed_type": sed_type, "energy_power": energy_power, "n_points": 30, "n_samples": 300}
    gp_ax = build(gp_models).plot_error(BOUNDS, ax=plt.figure().gca(), **kwargs)
    ax = build(md_models).plot_error(BOUNDS, ax=plt.figure().gca(), **kwargs)
    np.testing.assert_allclose(_band(ax), _band(gp_ax), rtol=1e-9)  # the same draws: the same band
    assert ax.get_ylabel() == gp_ax.get_ylabel()
    band = ax.collections[0]
    assert band.get_alpha() == 0.2 and band.get_linewidth() == 0


def test_error_band_follows_the_covariance():
    model = power_law(md_models)
    energy = MapAxis.from_energy_bounds(0.1, 100, 8, unit="TeV")
    rng = np.random.RandomState(1)
    ax = model.plot_error(energy, ax=plt.figure().gca(), n_samples=2000, random_state=rng)
    vertices = _band(ax)
    low, high = vertices[1:9, 1], vertices[10:18, 1][::-1]  # fill_between: low edge out, high edge back
    # ln F = ln A - Γ ln(E / 1 TeV) is normal: the band is ±σ(ln F) around it, σ from the covariance
    log_energy = np.log(energy.center.to_value("TeV"))
    variance = 1e-25 / 2e-12**2 + 0.01 * log_energy**2 - 2 * log_energy * 2e-14 / 2e-12
    np.testing.assert_allclose(np.log(high / low) / 2, np.sqrt(variance), rtol=0.1)
    # samples given explicitly: a fixed vector gives a band of zero width
    samples = [np.full(10, par.value) * par.unit for par in model.parameters]
    ax = model.plot_error(BOUNDS, ax=plt.figure().gca(), samples=samples, n_points=5)
    vertices = _band(ax)
    np.testing.assert_allclose(vertices[1:6, 1], vertices[7:12, 1][::-1], rtol=1e-12)
    model.plot_error(BOUNDS, ax=plt.figure().gca(), random_state="global-rng", n_samples=10)


def test_norm_models_and_errors():
    ax = md_models.PowerLawNormSpectralModel(tilt=0.5).plot(BOUNDS, sed_type="e2dnde")
    assert ax.get_ylabel().startswith("norm [")
    gp_ax = gp_models.PowerLawNormSpectralModel(tilt=0.5).plot(BOUNDS, ax=plt.figure().gca())
    np.testing.assert_allclose(_curve(ax)[1], _curve(gp_ax)[1])
    model = power_law(md_models)
    with pytest.raises(InvalidArgumentError, match="SED type"):
        model.plot(BOUNDS, sed_type="counts")
    with pytest.raises(InvalidArgumentError, match="energy_bounds"):
        model.plot("1 TeV")
    with pytest.raises(InvalidArgumentError, match="random_state"):
        model.plot_error(BOUNDS, random_state="seed")
    values = [1, 0.1] * u.Unit("cm-2 s-1 TeV-1")
    template = md_models.TemplateSpectralModel(energy=[1, 10] * u.TeV, values=values)
    assert len(template.plot(BOUNDS, ax=plt.figure().gca()).lines) == 1
    with pytest.raises(ModelError, match="parameters"):
        template.plot_error(BOUNDS)


# -- spatial models --------------------------------------------------------------------------------


def gaussian(lib):
    model = lib.GaussianSpatialModel(
        lon_0="0.2 deg", lat_0="0.1 deg", sigma="0.15 deg", e=0.5, phi="30 deg", frame="galactic"
    )
    covariance = np.diag([1e-4, 4e-4, 1e-4, 1e-4, 0])
    covariance[0, 1] = covariance[1, 0] = 1e-4
    model.covariance = covariance
    return model


def disk(lib):
    return lib.DiskSpatialModel(lon_0="83.6 deg", lat_0="22 deg", r_0="0.3 deg", frame="icrs")


def point(lib):
    return lib.PointSpatialModel(lon_0="83.6 deg", lat_0="22 deg", frame="icrs")


def _image(ax):
    return np.asarray(ax.images[0].get_array(), float)


@pytest.mark.parametrize("build", [gaussian, disk, point])
def test_spatial_plot_matches_gammapy(build, raise_if_dask_computes):
    gp_ax = build(gp_models).plot(add_cbar=True)
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        ax = build(md_models).plot(add_cbar=True)
    assert isinstance(ax, WCSAxes)
    expected = _image(gp_ax)
    np.testing.assert_allclose(_image(ax), expected, rtol=1e-6, atol=1e-9 * expected.max())
    assert ax.coords[0].get_axislabel() == gp_ax.coords[0].get_axislabel()
    assert ax.figure.axes[1].get_ylabel() == gp_ax.figure.axes[1].get_ylabel() == "1 / sr"


def test_spatial_plot_on_a_geometry_of_another_frame():
    centre = SkyCoord(0.2, 0.1, unit="deg", frame="galactic").icrs
    kwargs = {"skydir": (centre.ra.deg, centre.dec.deg), "frame": "icrs", "width": 1.2, "binsz": 0.02}
    gp_ax = gaussian(gp_models).plot(geom=gmaps.WcsGeom.create(**kwargs))
    ax = gaussian(md_models).plot(ax=None, geom=WcsGeom.create(**kwargs))
    expected = _image(gp_ax)
    np.testing.assert_allclose(_image(ax), expected, rtol=1e-6, atol=1e-9 * expected.max())
    assert expected.max() > 0


def test_spatial_plot_of_a_large_geometry_is_downsampled(raise_if_dask_computes):
    geom = WcsGeom.create(skydir=(0, 0), frame="galactic", npix=(4000, 200), binsz=0.01)
    fig = plt.figure(figsize=(4, 2))
    with raise_if_dask_computes(max_computes=1):
        ax = gaussian(md_models).plot(fig=fig, geom=geom)
    image = _image(ax)
    assert image.shape[1] < 400
    assert ax.images[0].get_extent()[1] >= 3999.5 and ax.get_xlim() == pytest.approx((-0.5, 3999.5))
    assert np.nanmax(image) > 0


def test_spatial_error_plots_match_gammapy():
    gp, md = gaussian(gp_models), gaussian(md_models)
    for attribute in ("width", "height", "angle"):
        assert getattr(md.position_error, attribute).to_value("deg") == pytest.approx(
            getattr(gp.position_error, attribute).to_value("deg")
        )
    gp_ax = gp.plot()
    gp.plot_error(ax=gp_ax, which="all")
    plt.figure()
    ax = md.plot()
    assert md.plot_error(ax=ax, which="all") is ax
    assert [type(p).__name__ for p in ax.patches] == [type(p).__name__ for p in gp_ax.patches]
    for patch, expected in zip(ax.patches, gp_ax.patches, strict=True):
        np.testing.assert_allclose(patch.get_path().vertices, expected.get_path().vertices, rtol=1e-6)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), gp_ax.collections[0].get_offsets())
    plt.figure()
    ax = md.plot_error(ax=md.plot(), which=["extension"])
    assert len(ax.patches) == 1  # the annulus only
    plt.figure()
    ax = disk(md_models).plot()
    disk(md_models).plot_error(ax=ax)  # no covariance: the position cross alone
    assert len(ax.patches) == 0 and len(ax.collections) == 1
