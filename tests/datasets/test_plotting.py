"""Residual maps and residual plots against gammapy (matplotlib Agg backend)."""

from __future__ import annotations

import astropy.units as u
import gammapy.modeling.models as gp_models
import matplotlib
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

import mapds.modeling.models as md_models
from mapds.errors import InvalidArgumentError

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from astropy.visualization.wcsaxes import WCSAxes

METHODS = ["diff", "diff/model", "diff/sqrt(model)"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _models(lib, name):
    source = lib.SkyModel(
        spectral_model=lib.PowerLawSpectralModel(amplitude="2e-11 cm-2 s-1 TeV-1"),
        spatial_model=lib.GaussianSpatialModel(
            lon_0="0.1 deg", lat_0="0 deg", sigma="0.15 deg", frame="galactic"
        ),
        name="src",
    )
    return [source, lib.FoVBackgroundModel(dataset_name=name)]


@pytest.fixture
def pair(dataset_pair):
    gp, md = dataset_pair(seed=8)
    gp.models = _models(gp_models, gp.name)
    md.models = _models(md_models, md.name)
    return gp, md


# -- residual maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_residuals_match_gammapy(pair, method):
    gp, md = pair
    expected = gp.residuals(method=method)
    residuals = md.residuals(method=method)
    assert residuals.geom == md.counts.geom
    # npred agrees to ~1e-6 relative: where counts and npred almost cancel, compare absolutely
    np.testing.assert_allclose(residuals.data.compute(), expected.data, rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("method", METHODS)
def test_smoothed_residuals_match_gammapy(pair, method):
    gp, md = pair
    expected = gp.residuals(method=method, width="0.2 deg")
    residuals = md.residuals(method=method, width="0.2 deg")
    np.testing.assert_allclose(residuals.data.compute(), expected.data, rtol=1e-4, atol=1e-6, equal_nan=True)


def test_residuals_without_mask(pair):
    gp, md = pair
    for dataset in (gp, md):
        dataset.mask_safe = dataset.mask_fit = None
    np.testing.assert_allclose(md.residuals().data.compute(), gp.residuals().data, rtol=1e-5, atol=1e-5)
    assert np.isfinite(md.residuals().data.compute()).all()


def test_residuals_are_lazy_and_check_method(pair, raise_if_dask_computes):
    _, md = pair
    md.npred().data.compute()
    with raise_if_dask_computes():
        md.residuals(method="diff/model", width="0.2 deg")
    with pytest.raises(InvalidArgumentError, match="diff/counts"):
        md.residuals(method="diff/counts")


# -- plots -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["diff", "diff/sqrt(model)"])
def test_plot_residuals_spatial_matches_gammapy(pair, method, raise_if_dask_computes):
    gp, md = pair
    gp_ax = gp.plot_residuals_spatial(method=method)
    md.npred().data.compute()
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        ax = md.plot_residuals_spatial(method=method, smooth_radius="0.1 deg")
    assert isinstance(ax, WCSAxes)
    image, expected = ax.images[0], gp_ax.images[0]
    np.testing.assert_allclose(image.get_array(), expected.get_array(), rtol=1e-5, atol=1e-8)
    assert image.get_cmap().name == expected.get_cmap().name == "coolwarm"
    assert image.norm.vmin == expected.norm.vmin == -5 and image.norm.vmax == 5
    assert len(ax.figure.axes) == 2  # the colour bar


def test_plot_residuals_spatial_kwargs(pair):
    _, md = pair
    ax = md.plot_residuals_spatial(cmap="RdBu", vmin=-1, vmax=1, add_cbar=False, smooth_kernel="box")
    assert ax.images[0].get_cmap().name == "RdBu"
    assert ax.images[0].norm.vmax == 1
    assert len(ax.figure.axes) == 1


def _errorbar_data(ax):
    line = ax.lines[0]
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


@pytest.mark.parametrize("method", ["diff", "diff/sqrt(model)"])
def test_plot_residuals_spectral_matches_gammapy(pair, method, raise_if_dask_computes):
    gp, md = pair
    region = CircleSkyRegion(SkyCoord(0.1, 0.0, unit="deg", frame="galactic"), radius=0.4 * u.deg)
    gp_ax = gp.plot_residuals_spectral(method=method, region=region)
    md.npred().data.compute()
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        ax = md.plot_residuals_spectral(method=method, region=region)
    x, y = _errorbar_data(ax)
    gp_x, gp_y = _errorbar_data(gp_ax)
    np.testing.assert_allclose(x, gp_x, rtol=1e-10)
    np.testing.assert_allclose(y, gp_y, rtol=1e-5)
    assert ax.get_ylabel() == gp_ax.get_ylabel()
    np.testing.assert_allclose(ax.get_ylim(), gp_ax.get_ylim(), rtol=1e-5)
    assert ax.get_xscale() == "log"
    # mask spans: one rectangle per run of True bins, per mask, with gammapy's legend labels
    assert len(ax.patches) == len(gp_ax.patches)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"Mask fit", "Mask safe"} <= set(labels)


def test_plot_residuals_spectral_refuses_diff_model(pair):
    _, md = pair
    with pytest.raises(ValueError, match="diff/sqrt"):
        md.plot_residuals_spectral(method="diff/model")


def test_plot_residuals_both_panels(pair):
    _, md = pair
    region = CircleSkyRegion(SkyCoord(0.1, 0.0, unit="deg", frame="galactic"), radius=0.4 * u.deg)
    ax_spatial, ax_spectral = md.plot_residuals(kwargs_spectral={"region": region})
    assert isinstance(ax_spatial, WCSAxes) and not isinstance(ax_spectral, WCSAxes)
    assert ax_spatial.figure is ax_spectral.figure
    assert len(ax_spatial.patches) == 1  # the region outline
    figure = plt.figure()
    given = (figure.add_subplot(121, projection=md.counts.geom.wcs), figure.add_subplot(122))
    assert md.plot_residuals(*given) == given


def test_spectrum_dataset_has_no_spatial_plot():
    from mapds.datasets import SpectrumDataset
    from mapds.geom import MapAxis, RegionGeom

    energy = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    dataset = SpectrumDataset.create(RegionGeom.create("galactic;circle(0, 0, 0.3)", axes=[energy]))
    with pytest.raises(NotImplementedError):
        dataset.plot_residuals_spatial()


# -- peeks and spectrum plots ----------------------------------------------------------------------


@pytest.fixture
def no_tight_layout(monkeypatch):
    """``plt.tight_layout`` as a no-op: it only moves the panels, and costs seconds on WCSAxes."""
    monkeypatch.setattr(plt, "tight_layout", lambda **kwargs: None)


def _by_title(axes):
    return {ax.get_title(): ax for ax in axes if ax.get_title()}


def test_map_dataset_peek_matches_gammapy(dataset_pair, no_tight_layout, raise_if_dask_computes):
    # an odd number of pixels: gammapy's central-pixel spectrum needs a uniform mask in the pixel
    gp, md = dataset_pair(seed=8, npix=(21, 17))
    gp.models = _models(gp_models, gp.name)
    md.models = _models(md_models, md.name)
    gp.peek()
    expected = _by_title(plt.gcf().axes)
    md.npred().data.compute()
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        axes = md.peek()
    assert axes.shape == (2, 3)
    titles = [ax.get_title() for ax in axes.flat]
    assert titles == [
        "Exposure map at 4.30 TeV",
        "Counts map",
        "Model npred",
        "Exposure (at FoV center)",
        "Containment radius (at FoV center)",
        "Energy Dispersion (at FoV center)",
    ]
    for ax in axes[0]:
        gp_ax = expected[ax.get_title()]
        assert isinstance(ax, WCSAxes)
        image, gp_image = ax.images[0], gp_ax.images[0]
        np.testing.assert_allclose(image.get_array(), gp_image.get_array(), rtol=1e-5)
        limits, gp_limits = (image.norm.vmin, image.norm.vmax), (gp_image.norm.vmin, gp_image.norm.vmax)
        np.testing.assert_allclose(limits, gp_limits)
        assert len(ax.collections) == len(gp_ax.collections)  # the mask shadings
    for ax in axes[1]:
        gp_ax = expected[ax.get_title()]
        for line, gp_line in zip(ax.lines, gp_ax.lines, strict=True):
            np.testing.assert_allclose(line.get_ydata(), gp_line.get_ydata(), rtol=1e-6)
        assert (ax.get_xlabel(), ax.get_ylabel()) == (gp_ax.get_xlabel(), gp_ax.get_ylabel())
    gp_matrix = expected["Energy Dispersion (at FoV center)"].collections[0].get_array()
    np.testing.assert_allclose(axes[1, 2].collections[0].get_array(), gp_matrix)


def _spectrum_dataset(lib, datasets_lib, models_lib):
    rng = np.random.default_rng(3)
    energy = lib.MapAxis.from_energy_bounds(0.1, 100, 12, unit="TeV")
    energy_true = lib.MapAxis.from_energy_bounds(0.05, 200, 20, unit="TeV", name="energy_true")
    geom = lib.RegionGeom.create("galactic;circle(0.1, 0, 0.3)", axes=[energy])
    dataset = datasets_lib.SpectrumDataset.create(geom, energy_axis_true=energy_true, name="spec")
    column = (-1, 1, 1)
    dataset.counts = lib.Map.from_geom(geom, data=rng.poisson(20, 12).astype(float).reshape(column))
    dataset.background = lib.Map.from_geom(geom, data=rng.uniform(5, 10, 12).reshape(column))
    exposure = np.geomspace(1e9, 1e11, 20).reshape(column)
    dataset.exposure = lib.Map.from_geom(dataset.exposure.geom, data=exposure, unit="m2 s")
    safe, fit = np.ones(12, bool), np.ones(12, bool)
    safe[:2], fit[-3:] = False, False
    dataset.mask_safe = lib.Map.from_geom(geom, data=safe.reshape(column))
    dataset.mask_fit = lib.Map.from_geom(geom, data=fit.reshape(column))
    spectral = models_lib.PowerLawSpectralModel(amplitude="1e-12 cm-2 s-1 TeV-1")
    dataset.models = [models_lib.SkyModel(spectral_model=spectral, name="src")]
    return dataset


@pytest.fixture
def spectrum_pair():
    import gammapy.datasets as gp_datasets
    import gammapy.maps as gp_maps

    import mapds.datasets as md_datasets
    import mapds.maps as md_maps

    return (
        _spectrum_dataset(gp_maps, gp_datasets, gp_models),
        _spectrum_dataset(md_maps, md_datasets, md_models),
    )


def _assert_same_artists(ax, gp_ax):
    for line, gp_line in zip(ax.lines, gp_ax.lines, strict=True):
        np.testing.assert_allclose(line.get_ydata(), gp_line.get_ydata(), rtol=1e-6)
    assert len(ax.patches) == len(gp_ax.patches) > 0
    for patch, gp_patch in zip(ax.patches, gp_ax.patches, strict=True):
        np.testing.assert_allclose(patch.get_path().vertices, gp_patch.get_path().vertices, rtol=1e-6)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        t.get_text() for t in gp_ax.get_legend().get_texts()
    ]
    for getter in ("get_xlabel", "get_ylabel", "get_xscale", "get_yscale"):
        assert getattr(ax, getter)() == getattr(gp_ax, getter)()


@pytest.mark.parametrize("method", ["plot_counts", "plot_excess", "plot_masks"])
def test_spectrum_plots_match_gammapy(spectrum_pair, method, raise_if_dask_computes):
    gp, md = spectrum_pair
    gp_ax = plt.figure().gca()
    getattr(gp, method)(ax=gp_ax)
    md.npred().data.compute()
    with raise_if_dask_computes(max_computes=1):
        ax = getattr(md, method)(ax=plt.figure().gca())
    _assert_same_artists(ax, gp_ax)


def test_spectrum_plot_fit_matches_gammapy(spectrum_pair, raise_if_dask_computes):
    gp, md = spectrum_pair
    gp_axes = gp.plot_fit()
    md.npred().data.compute()
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        axes = md.plot_fit(kwargs_residuals={"method": "diff/sqrt(model)"})
    plt.figure()
    gp_axes = gp.plot_fit(kwargs_residuals={"method": "diff/sqrt(model)"})
    for ax, gp_ax in zip(axes, gp_axes, strict=True):
        _assert_same_artists(ax, gp_ax)
        assert ax.get_position().bounds == pytest.approx(gp_ax.get_position().bounds)
    np.testing.assert_allclose(axes[1].get_ylim(), gp_axes[1].get_ylim(), rtol=1e-6)
    assert not any(label.get_visible() for label in axes[0].get_xticklabels())
    figure = plt.figure()
    given = (figure.add_subplot(211), figure.add_subplot(212))
    assert md.plot_fit(*given) == given
    with pytest.raises(InvalidArgumentError, match="both"):
        md.plot_fit(ax_spectrum=given[0])


def test_spectrum_peek_matches_gammapy(spectrum_pair):
    gp, md = spectrum_pair
    axes = md.peek()
    gp.peek()
    gp_axes = plt.gcf().axes
    assert [ax.get_title() for ax in axes] == ["Counts", "Exposure", "Energy Dispersion"]
    _assert_same_artists(axes[0], gp_axes[0])
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(), gp_axes[1].lines[0].get_ydata())
    np.testing.assert_allclose(axes[2].collections[0].get_array(), gp_axes[2].collections[0].get_array())
    assert len(axes[0].figure.axes) == len(gp_axes) == 4  # the matrix' colour bar
