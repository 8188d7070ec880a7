"""Plots of instrument responses as gammapy draws them (matplotlib, imported when drawing).

Lookups at the map centre read the few IRF pixels around it (see :mod:`mapds.irf.irf_map`); the
sky images of ``PSFMap.peek`` are computed at display resolution, together, in one pass.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from ..maps.plotting import (
    UNIT_STRING_FORMAT,
    add_colorbar,
    compute_display,
    display_image,
    draw_image,
    energy_unit_format,
    format_plot_xaxis,
    format_plot_yaxis,
    pyplot,
    quantity_support,
)

__all__ = [
    "peek_edisp_kernel",
    "peek_psf_map",
    "plot_containment_radius_vs_energy",
    "plot_edisp_bias",
    "plot_edisp_matrix",
    "plot_psf_vs_rad",
]

#: Energies at which ``plot_psf_vs_rad`` draws the PSF by default (gammapy's).
PSF_PLOT_ENERGIES = [0.1, 1, 10] * u.TeV


def _two_decimals(axis) -> None:
    from matplotlib.ticker import FormatStrFormatter

    axis.set_major_formatter(FormatStrFormatter("%.2f"))


def plot_containment_radius_vs_energy(psf, ax=None, fraction=(0.68, 0.95), **kwargs):
    """Containment radii at the PSF map centre versus energy, one line per fraction.

    Every fraction comes from one lookup of the IRF pixels around the centre.
    """
    ax = pyplot().gca() if ax is None else ax
    geom = psf.psf_map.geom
    energy_axis = geom.axes[psf.energy_name]
    fractions = np.ravel(fraction)
    radii = psf.containment_radius(fractions.reshape((-1, 1)), energy_axis.center, geom.center_skydir)
    with quantity_support():
        for frac, radius in zip(fractions, radii, strict=True):
            ax.plot(energy_axis.center, radius, label=f"Containment: {100 * frac:.1f}%", **kwargs)
    ax.semilogx()
    ax.legend(loc="best")
    _two_decimals(ax.yaxis)
    format_plot_xaxis(energy_axis, ax)
    ax.set_ylabel(f"Containment radius [{ax.yaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    return ax


def plot_psf_vs_rad(psf, ax=None, energy_true=PSF_PLOT_ENERGIES, **kwargs):
    """PSF profiles at the map centre versus offset, one line per energy (one lookup)."""
    ax = pyplot().gca() if ax is None else ax
    psf_map = psf.psf_map
    rad = psf_map.geom.axes["rad"].center
    energies = u.Quantity(energy_true).ravel()
    coords = {"skycoord": psf_map.geom.center_skydir, psf.energy_name: energies[:, np.newaxis], "rad": rad}
    profiles = psf_map.interp_by_coord(coords) * psf_map.unit
    with quantity_support():
        for energy, profile in zip(energies, profiles, strict=True):
            ax.plot(rad, profile, label=energy_unit_format(energy), **kwargs)
    ax.set_yscale("log")
    ax.set_xlabel(f"Rad [{ax.xaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    ax.set_ylabel(f"PSF [{ax.yaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    _two_decimals(ax.xaxis)
    ax.legend()
    return ax


def peek_psf_map(psf, figsize=(12, 10)):
    """gammapy's four-panel summary of a PSF map: containment radii and profiles at the centre,
    the exposure summed over its axes and the 68 % containment radius at 1 TeV on the sky.

    Returns
    -------
    list of `~matplotlib.axes.Axes`
        The four panels.
    """
    plt = pyplot()
    geom = psf.psf_map.geom
    fig, axes = plt.subplots(
        ncols=2,
        nrows=2,
        subplot_kw={"projection": geom.wcs},
        figsize=figsize,
        gridspec_kw={"hspace": 0.3, "wspace": 0.3},
    )
    axes = axes.flat
    # the top panels are curves: plain axes in place of the WCSAxes
    axes[0].remove()
    ax_radius = fig.add_subplot(2, 2, 1)
    ax_radius.set_title("Containment radius at center of map")
    plot_containment_radius_vs_energy(psf, ax=ax_radius)
    axes[1].remove()
    ax_profile = fig.add_subplot(2, 2, 2)
    ax_profile.set_ylim(1e-4, 1e4)
    ax_profile.set_title("PSF at center of map")
    plot_psf_vs_rad(psf, ax=ax_profile)

    ax_exposure, ax_radius_map = axes[2], axes[3]
    ax_exposure.set_title("Exposure")
    ax_radius_map.set_title("Containment radius at 1 TeV")
    radius_map = psf.containment_radius_map(1 * u.TeV)
    images = [(ax_radius_map, radius_map)]
    if psf.exposure_map is not None:
        images.insert(0, (ax_exposure, psf.exposure_map.reduce_over_axes()))
    computed = compute_display(*[display_image(m, ax) for ax, m in images])
    for (ax, m), image in zip(images, computed, strict=True):
        draw_image(ax, image, unit=m.unit, add_cbar=True)
    return [ax_radius, ax_profile, ax_exposure, ax_radius_map]


def plot_edisp_matrix(kernel, ax=None, add_cbar=False, axes_loc=None, kwargs_colorbar=None, **kwargs):
    """The dispersion matrix as a ``pcolormesh``: true energy along x, reco energy along y."""
    ax = pyplot().gca() if ax is None else ax
    from matplotlib.colors import PowerNorm

    kwargs.setdefault("cmap", "GnBu")
    kwargs.setdefault("norm", PowerNorm(gamma=0.5, vmin=0, vmax=1))
    energy_axis_true, energy_axis = kernel.axes["energy_true"], kernel.axes["energy"]
    with quantity_support():
        mesh = ax.pcolormesh(energy_axis_true.edges, energy_axis.edges, kernel.data.T, **kwargs)
    if add_cbar:
        kwargs_colorbar = dict(kwargs_colorbar or {})
        kwargs_colorbar.setdefault("label", "Probability density (A.U.)")
        add_colorbar(mesh, ax=ax, axes_loc=axes_loc, **kwargs_colorbar)
    format_plot_xaxis(energy_axis_true, ax)
    format_plot_yaxis(energy_axis, ax)
    return ax


def plot_edisp_bias(kernel, ax=None, **kwargs):
    """Reconstruction bias versus true energy (log x)."""
    ax = pyplot().gca() if ax is None else ax
    energy = kernel.axes["energy_true"].center
    with quantity_support():
        ax.plot(energy, kernel.get_bias(energy), **kwargs)
    ax.set_xlabel(f"$E_\\mathrm{{True}}$ [{ax.xaxis.units.to_string(UNIT_STRING_FORMAT)}]")
    ax.set_ylabel("($E_\\mathrm{{Reco}} - E_\\mathrm{{True}}) / E_\\mathrm{{True}}$")
    ax.set_xscale("log")
    return ax


def peek_edisp_kernel(kernel, figsize=(15, 5)):
    """Bias (left) and matrix (right) of a dispersion kernel.

    Returns
    -------
    `~numpy.ndarray` of `~matplotlib.axes.Axes`
    """
    plt = pyplot()
    _, axes = plt.subplots(nrows=1, ncols=2, figsize=figsize)
    plot_edisp_bias(kernel, ax=axes[0])
    plot_edisp_matrix(kernel, ax=axes[1])
    plt.tight_layout()
    return axes
