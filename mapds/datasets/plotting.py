"""Residual plots of a dataset (matplotlib; WCSAxes for images), as gammapy draws them.

Only what a plot shows is computed: the energy-summed, smoothed residual image, or the
residual spectrum in a region, never the full cubes.
"""

from __future__ import annotations

import dask
import numpy as np
from astropy.visualization import quantity_support, simple_norm
from scipy.ndimage import label as connected_runs

from ..errors import GeometryError
from ..geom import RegionGeom
from ..stats import CashCountsStatistic
from .residuals import RESIDUAL_LABELS, residual_values

__all__ = [
    "plot_image",
    "plot_mask_spans",
    "plot_residuals",
    "plot_residuals_spatial",
    "plot_residuals_spectral",
    "plot_spectrum",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_image(image: np.ndarray, wcs, ax=None, add_cbar=False, unit="", **kwargs):
    """Show a 2D image on WCSAxes (gammapy's ``WcsNDMap.plot`` conventions).

    Parameters
    ----------
    image : numpy.ndarray
        Values ``(ny, nx)``.
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image.
    ax : `~astropy.visualization.wcsaxes.WCSAxes`, optional
        Axes; default: new WCSAxes in the current figure.
    add_cbar : bool
        Add a colour bar labelled with ``unit``.
    **kwargs
        ``imshow`` arguments (``vmin``/``vmax`` set a linear normalisation).
    """
    plt = _plt()
    if ax is None:
        ax = plt.gcf().add_subplot(1, 1, 1, projection=wcs)
    data = np.asarray(image, dtype=float)
    kwargs.setdefault("interpolation", "nearest")
    kwargs.setdefault("origin", "lower")
    kwargs.setdefault("cmap", "afmhot")
    finite = np.isfinite(data)
    if finite.any():
        vmin, vmax = kwargs.pop("vmin", None), kwargs.pop("vmax", None)
        kwargs.setdefault("norm", simple_norm(data[finite], "linear", vmin=vmin, vmax=vmax))
    im = ax.imshow(data, **kwargs)
    if add_cbar:
        plt.colorbar(im, ax=ax, label=str(unit))
    if hasattr(ax, "coords"):
        lon, lat = ax.coords[0], ax.coords[1]
        lon.set_axislabel("Galactic Longitude" if "GLON" in wcs.wcs.ctype[0] else "Right Ascension")
        lat.set_axislabel("Galactic Latitude" if "GLAT" in wcs.wcs.ctype[1] else "Declination")
    ax.autoscale(enable=False)
    return ax


def plot_spectrum(values: np.ndarray, axis, ax=None, yerr=None, **kwargs):
    """Error-bar plot of a spectrum along an energy axis (log energy scale)."""
    plt = _plt()
    ax = ax or plt.gca()
    kwargs.setdefault("marker", "o")
    kwargs.setdefault("markersize", 4)
    kwargs.setdefault("ls", "None")
    center = axis.center
    kwargs.setdefault("xerr", (center - axis.edges[:-1], axis.edges[1:] - center))
    with quantity_support():
        ax.errorbar(x=center, y=values, yerr=yerr, **kwargs)
    ax.set_xscale("log")
    ax.set_xlabel(f"{'True ' if axis.name == 'energy_true' else ''}Energy [{axis.unit}]")
    return ax


def plot_mask_spans(mask: np.ndarray, axis, ax=None, **kwargs):
    """Shade the energy ranges where a 1D mask is True (one span per run of True bins)."""
    plt = _plt()
    ax = ax or plt.gca()
    kwargs.setdefault("color", "k")
    kwargs.setdefault("alpha", 0.05)
    kwargs.setdefault("label", "mask")
    edges = axis.edges
    runs, n_runs = connected_runs(np.asarray(mask, dtype=bool))
    for run in range(1, n_runs + 1):
        bins = np.flatnonzero(runs == run)
        ax.axvspan(edges[bins[0]].value, edges[bins[-1] + 1].value, **kwargs)
        kwargs.pop("label", None)  # one legend entry per mask
    return ax


def plot_residuals_spatial(
    dataset, ax=None, method="diff", smooth_kernel="gauss", smooth_radius="0.1 deg", **kwargs
):
    """Energy-summed, smoothed residual image (gammapy's ``plot_residuals_spatial``)."""
    counts, npred, mask = dataset.counts, dataset.npred(), dataset.mask
    if isinstance(counts.geom, RegionGeom):
        raise GeometryError("Cannot plot spatial residuals of a region (spectrum) dataset")
    if mask is not None:
        counts, npred = counts * mask, npred * mask
    counts_image = counts.sum_over_axes().smooth(width=smooth_radius, kernel=smooth_kernel)
    npred_image = npred.sum_over_axes().smooth(width=smooth_radius, kernel=smooth_kernel)
    lazy = [counts_image.data, npred_image.data]
    if mask is not None:
        lazy.append(mask.reduce_over_axes(func=np.logical_or, keepdims=True).data)
    computed = dask.compute(*lazy)
    residuals = residual_values(computed[0].astype(float), computed[1], method)
    if mask is not None:
        residuals = np.where(computed[2], residuals, np.nan)
    kwargs.setdefault("add_cbar", True)
    kwargs.setdefault("cmap", "coolwarm")
    kwargs.setdefault("vmin", -5)
    kwargs.setdefault("vmax", 5)
    geom = counts_image.geom
    return plot_image(residuals.reshape(geom.data_shape[-2:]), geom.wcs, ax=ax, unit=npred.unit, **kwargs)


def plot_residuals_spectral(
    dataset, ax=None, method="diff", region=None, kwargs_fit=None, kwargs_safe=None, **kwargs
):
    """Residual spectrum in ``region`` (default: the whole map) with sqrt(counts) error bars,
    and the fit and safe masks shaded (gammapy's ``plot_residuals_spectral``)."""
    if method not in ("diff", "diff/sqrt(model)"):
        raise ValueError('Invalid method, choose between "diff" and "diff/sqrt(model)"')
    counts, npred, mask = dataset.counts, dataset.npred(), dataset.mask
    if mask is not None:
        counts, npred = counts * mask, npred * mask
    lazy = [counts.get_spectrum(region).data, npred.get_spectrum(region).data]
    masks = {"fit": dataset.mask_fit, "safe": dataset.mask_safe}
    masks = {key: m for key, m in masks.items() if m is not None}
    # Masks are shaded where any pixel of the map is in them, whatever the region.
    lazy += [m.data.astype(bool).any(axis=(-2, -1)) for m in masks.values()]
    counts_spec, npred_spec, *mask_specs = (np.ravel(v) for v in dask.compute(*lazy))
    residuals = residual_values(counts_spec.astype(float), npred_spec, method)
    error = CashCountsStatistic(counts_spec, npred_spec).error
    yerr = error if method == "diff" else error / np.sqrt(npred_spec)
    kwargs.setdefault("color", kwargs.pop("c", "black"))
    axis = counts.geom.axes["energy"]
    ax = plot_spectrum(residuals, axis, ax=ax, yerr=yerr, **kwargs)
    ax.axhline(0, color=kwargs["color"], lw=0.5)
    ax.set_ylabel(f"Residuals ({RESIDUAL_LABELS[method]})")
    ax.set_yscale("linear")
    with np.errstate(invalid="ignore"):
        ax.set_ylim(1.05 * np.nanmin(residuals - yerr), 1.05 * np.nanmax(residuals + yerr))
    styles = {
        "fit": {"label": "Mask fit", "color": "tab:green", **(kwargs_fit or {})},
        "safe": {"label": "Mask safe", "color": "black", **(kwargs_safe or {})},
    }
    for key, values in zip(masks, mask_specs, strict=True):
        plot_mask_spans(values, axis, ax=ax, **styles[key])
    ax.legend()
    return ax


def plot_residuals(dataset, ax_spatial=None, ax_spectral=None, kwargs_spatial=None, kwargs_spectral=None):
    """Spatial and spectral residuals side by side; the spectral region is drawn on the image."""
    plt = _plt()
    wcs = dataset.geoms["geom"].to_image().wcs
    if ax_spatial is None or ax_spectral is None:
        figure = plt.gcf()
        figure.set_size_inches(12, 4)
        ax_spatial = ax_spatial or figure.add_subplot(1, 2, 1, projection=wcs)
        ax_spectral = ax_spectral or figure.add_subplot(1, 2, 2)
    kwargs_spatial = kwargs_spatial or {}
    kwargs_spectral = kwargs_spectral or {}
    plot_residuals_spatial(dataset, ax_spatial, **kwargs_spatial)
    plot_residuals_spectral(dataset, ax_spectral, **kwargs_spectral)
    region = kwargs_spectral.get("region")
    if region is not None:
        region.to_pixel(wcs).plot(ax=ax_spatial)
    return ax_spatial, ax_spectral
