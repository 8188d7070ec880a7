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
