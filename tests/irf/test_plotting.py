"""IRF plots against gammapy's (matplotlib Agg backend), and the PSF containment radius map."""

from __future__ import annotations

import astropy.units as u
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from astropy.visualization.wcsaxes import WCSAxes


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def varying_psf(ns):
    """A PSF whose width changes across the sky (σ grows with longitude) and with energy."""
    energy_true = ns.MapAxis.from_energy_bounds(0.05, 200, 12, unit="TeV", name="energy_true")
    rad = ns.MapAxis.from_bounds(0, 0.8, 40, unit="deg", name="rad")
    geom = ns.WcsGeom.create(
        skydir=(0, 0), frame="galactic", binsz=0.5, width=(3, 2), axes=[rad, energy_true]
    )
    sigma = np.geomspace(0.3, 0.05, 12)[:, None, None, None] * np.linspace(0.7, 1.3, 6)  # (E, 1, 1, x)
    r = rad.center.to_value("deg")[None, :, None, None]
    data = np.exp(-0.5 * (r / sigma) ** 2) / (2 * np.pi * np.radians(sigma) ** 2)
    data = np.broadcast_to(data, geom.data_shape)
    exposure_geom = geom.squash("rad")
    exposure = np.linspace(1, 2, exposure_geom.data_shape[-1]) * np.ones(exposure_geom.data_shape)
    return ns.PSFMap(
        psf_map=ns.Map.from_geom(geom, data=data.copy(), unit="sr-1"),
        exposure_map=ns.Map.from_geom(exposure_geom, data=exposure, unit="m2 s"),
    )


def kernel_map(ns):
    energy_true = ns.MapAxis.from_energy_bounds(0.1, 100, 20, unit="TeV", name="energy_true")
    energy = ns.MapAxis.from_energy_bounds(0.1, 100, 12, unit="TeV", name="energy")
    return ns.EDispKernelMap.from_gauss(energy, energy_true, sigma=0.2, bias=0.05)


def _lines(ax):
    return [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)) for line in ax.lines]


def _assert_same_lines(ax, gp_ax):
    assert [line.get_label() for line in ax.lines] == [line.get_label() for line in gp_ax.lines]
    for (x, y), (gx, gy) in zip(_lines(ax), _lines(gp_ax), strict=True):
        np.testing.assert_allclose(x, gx, rtol=1e-10)
        np.testing.assert_allclose(y, gy, rtol=1e-6)
    for getter in ("get_xlabel", "get_ylabel", "get_xscale", "get_yscale"):
        assert getattr(ax, getter)() == getattr(gp_ax, getter)()


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("plot_containment_radius_vs_energy", {}),
        ("plot_containment_radius_vs_energy", {"fraction": [0.5, 0.8, 0.99]}),
        ("plot_psf_vs_rad", {}),
        ("plot_psf_vs_rad", {"energy_true": [0.3, 3] * u.TeV}),
    ],
)
def test_psf_curves_match_gammapy(both, method, kwargs):
    gp, md = both(varying_psf)
    gp_ax = getattr(gp, method)(**kwargs)
    ax = getattr(md, method)(ax=plt.figure().gca(), **kwargs)
    assert len(ax.lines) > 0
    _assert_same_lines(ax, gp_ax)


def test_reco_psf_vs_rad_takes_reco_energies(both):
    def reco(ns):
        energy = ns.MapAxis.from_energy_bounds(0.1, 100, 6, unit="TeV", name="energy")
        return ns.RecoPSFMap.from_gauss(energy, sigma=np.geomspace(0.3, 0.05, 6) * u.deg)

    gp, md = both(reco)
    gp_ax = gp.plot_psf_vs_rad(energy=[0.5, 5] * u.TeV)
    ax = md.plot_psf_vs_rad(ax=plt.figure().gca(), energy=[0.5, 5] * u.TeV)
    _assert_same_lines(ax, gp_ax)


@pytest.mark.parametrize(("energy", "fraction"), [(1 * u.TeV, 0.68), (7 * u.TeV, 0.9)])
def test_containment_radius_map_matches_gammapy(both, energy, fraction, raise_if_dask_computes):
    gp, md = both(varying_psf)
    with raise_if_dask_computes():
        radius_map = md.containment_radius_map(energy, fraction=fraction)
    assert radius_map.geom == md.psf_map.geom.to_image() and radius_map.unit == "deg"
    expected = gp.containment_radius_map(energy, fraction=fraction)
    np.testing.assert_allclose(radius_map.data.compute(), expected.data, rtol=1e-6)
    assert np.ptp(expected.data) > 0.05  # the map does vary across the sky


def test_psf_peek_matches_gammapy(both):
    gp, md = both(varying_psf)
    axes = md.peek()
    gp.peek()
    gp_axes = plt.gcf().axes
    assert [ax.get_title() for ax in axes] == [
        "Containment radius at center of map",
        "PSF at center of map",
        "Exposure",
        "Containment radius at 1 TeV",
    ]
    by_title = {ax.get_title(): ax for ax in gp_axes if ax.get_title()}
    for ax in axes[:2]:
        _assert_same_lines(ax, by_title[ax.get_title()])
    for ax in axes[2:]:
        assert isinstance(ax, WCSAxes)
        np.testing.assert_allclose(
            ax.images[0].get_array(), by_title[ax.get_title()].images[0].get_array(), rtol=1e-6
        )
    assert len(axes[0].figure.axes) == len(gp_axes)  # the colour bars


def test_edisp_kernel_plots_match_gammapy(both):
    gp, md = (edisp.get_edisp_kernel() for edisp in both(kernel_map))
    energy = md.axes["energy_true"].center
    np.testing.assert_allclose(md.get_bias(energy), gp.get_bias(energy), rtol=1e-10)
    np.testing.assert_allclose(md.get_mean(energy).to_value("TeV"), gp.get_mean(energy).to_value("TeV"))
    gp_ax = gp.plot_bias(ax=plt.figure().gca())
    ax = md.plot_bias(ax=plt.figure().gca())
    _assert_same_lines(ax, gp_ax)
    gp_ax = gp.plot_matrix(ax=plt.figure().gca(), add_cbar=True)
    ax = md.plot_matrix(ax=plt.figure().gca(), add_cbar=True)
    mesh, gp_mesh = ax.collections[0], gp_ax.collections[0]
    np.testing.assert_allclose(mesh.get_array(), gp_mesh.get_array())
    assert mesh.get_cmap().name == gp_mesh.get_cmap().name == "GnBu"
    assert mesh.norm.gamma == gp_mesh.norm.gamma == 0.5
    for getter in ("get_xlabel", "get_ylabel", "get_xscale", "get_yscale", "get_xlim", "get_ylim"):
        assert getattr(ax, getter)() == getattr(gp_ax, getter)()
    assert ax.figure.axes[1].get_ylabel() == "Probability density (A.U.)"


def test_edisp_peeks(both):
    """Bias and matrix of the kernel at the centre (gammapy's peek draws ``get_edisp_kernel()``)."""
    gp, md = both(kernel_map)
    axes = md.peek()
    assert len(axes) == 2 and len(axes[0].lines) == 1
    kernel = gp.get_edisp_kernel()
    np.testing.assert_allclose(axes[1].collections[0].get_array(), kernel.data.T)
    bias = kernel.get_bias(kernel.axes["energy_true"].center)
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), bias)

    def migra(ns):
        energy_true = ns.MapAxis.from_energy_bounds(0.1, 100, 10, unit="TeV", name="energy_true")
        return ns.EDispMap.from_diagonal_response(energy_true)

    gp, md = both(migra)
    axes = md.peek()
    # gammapy's peek: a reco axis with the true axis' range and number of bins
    energy_axis = type(gp.edisp_map.geom.axes[0]).from_energy_bounds(0.1, 100, 10, unit="TeV", name="energy")
    np.testing.assert_allclose(
        axes[1].collections[0].get_array(), gp.get_edisp_kernel(energy_axis=energy_axis).data.T, atol=1e-12
    )
