"""Plots of datasets as gammapy draws them (matplotlib, imported when drawing; WCSAxes for images).

Only what a plot shows is computed, and in one ``dask.compute``: the energy-summed images of a
``peek`` at display resolution (see :mod:`mapds.maps.plotting`), the residual image or spectrum, or
the few spectra of a spectrum dataset — never the full cubes.  IRF lookups at the map centre read
the few IRF pixels around it.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from ..errors import GeometryError, InvalidArgumentError
from ..geom import MapAxes, RegionGeom
from ..maps.plotting import (
    DisplayImage,
    compute_display,
    display_image,
    draw_errorbar,
    draw_hist,
    draw_image,
    draw_mask_contours,
    draw_mask_spans,
    image_axes,
    pyplot,
)
from ..stats import CashCountsStatistic
from .residuals import RESIDUAL_LABELS, residual_values

__all__ = [
    "peek_map_dataset",
    "peek_spectrum_dataset",
    "plot_counts",
    "plot_excess",
    "plot_fit",
    "plot_masks",
    "plot_residuals",
    "plot_residuals_spatial",
    "plot_residuals_spectral",
]

#: What a spectrum plot may need, by name, as a function of the dataset (None when absent).
_MEMBERS = {
    "counts": lambda d: d.counts,
    "background": lambda d: d.background,
    "npred_signal": lambda d: d.npred_signal(),
    "exposure": lambda d: d.exposure,
    "mask_fit": lambda d: d.mask_fit,
    "mask_safe": lambda d: d.mask_safe,
}


def _spectra(dataset, *names: str, extra=()) -> tuple[dict, list]:
    """The named members' values (numpy, None when absent) and the ``extra`` dask collections,
    computed in one pass."""
    maps = {name: _MEMBERS[name](dataset) for name in names}
    present = [name for name, m in maps.items() if m is not None]
    computed = dask.compute(*[maps[name].data for name in present], *extra)
    values: dict = dict.fromkeys(names)
    values.update(zip(present, computed[: len(present)], strict=True))
    return values, list(computed[len(present) :])


def _energy_axis(dataset):
    return dataset.counts.geom.axes["energy"]


# -- residuals ---------------------------------------------------------------------------------------


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
    geom = counts_image.geom.to_image()
    ax = image_axes(geom, ax)
    image = DisplayImage(geom, 1, residuals.reshape(geom.data_shape))
    return draw_image(ax, image, unit=npred.unit, **kwargs)


def _residual_spectra(dataset, region) -> list:
    """Lazy counts and npred spectra in ``region`` (masked), and where any pixel is in the fit
    and safe masks."""
    counts, npred, mask = dataset.counts, dataset.npred(), dataset.mask
    if mask is not None:
        counts, npred = counts * mask, npred * mask
    lazy = [counts.get_spectrum(region).data, npred.get_spectrum(region).data]
    # Masks are shaded where any pixel of the map is in them, whatever the region.
    for m in (dataset.mask_fit, dataset.mask_safe):
        lazy.append(None if m is None else m.data.astype(bool).any(axis=(-2, -1)))
    return lazy


def _check_spectral_method(method: str) -> None:
    if method not in ("diff", "diff/sqrt(model)"):
        raise InvalidArgumentError(
            f'Invalid method {method!r} for spectral residuals, choose between "diff" and "diff/sqrt(model)"'
        )


def _draw_residuals_spectral(ax, dataset, computed, method, kwargs_fit=None, kwargs_safe=None, **kwargs):
    """Draw computed :func:`_residual_spectra` as gammapy's ``plot_residuals_spectral``."""
    counts_spec, npred_spec, mask_fit, mask_safe = (None if v is None else np.ravel(v) for v in computed)
    residuals = residual_values(counts_spec.astype(float), npred_spec, method)
    error = CashCountsStatistic(counts_spec, npred_spec).error
    with np.errstate(invalid="ignore", divide="ignore"):  # bins outside the mask have npred 0
        yerr = error if method == "diff" else error / np.sqrt(npred_spec)
    kwargs.setdefault("color", kwargs.pop("c", "black"))
    axis = _energy_axis(dataset)
    shape = (axis.nbin, 1, 1)  # a spectrum's data shape
    residuals, yerr = residuals.reshape(shape), yerr.reshape(shape)
    ax = draw_errorbar(ax, MapAxes([axis]), "energy", residuals, yerr=yerr, **kwargs)
    ax.axhline(0, color=kwargs["color"], lw=0.5)
    ax.set_ylabel(f"Residuals ({RESIDUAL_LABELS[method]})")
    ax.set_yscale("linear")
    with np.errstate(invalid="ignore"):
        ax.set_ylim(1.05 * np.nanmin(residuals - yerr), 1.05 * np.nanmax(residuals + yerr))
    _draw_masks(ax, axis, mask_fit, mask_safe, kwargs_fit, kwargs_safe)
    ax.legend()
    return ax


def plot_residuals_spectral(
    dataset, ax=None, method="diff", region=None, kwargs_fit=None, kwargs_safe=None, **kwargs
):
    """Residual spectrum in ``region`` (default: the whole map) with sqrt(counts) error bars,
    and the fit and safe masks shaded (gammapy's ``plot_residuals_spectral``)."""
    _check_spectral_method(method)
    computed = dask.compute(*_residual_spectra(dataset, region))
    return _draw_residuals_spectral(ax, dataset, computed, method, kwargs_fit, kwargs_safe, **kwargs)


def plot_residuals(dataset, ax_spatial=None, ax_spectral=None, kwargs_spatial=None, kwargs_spectral=None):
    """Spatial and spectral residuals side by side; the spectral region is drawn on the image."""
    wcs = dataset.geoms["geom"].to_image().wcs
    if ax_spatial is None or ax_spectral is None:
        figure = pyplot().gcf()
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


# -- spectrum datasets -----------------------------------------------------------------------------


def _draw_masks(ax, axis, mask_fit, mask_safe, kwargs_fit=None, kwargs_safe=None) -> None:
    """Shade computed fit and safe masks (gammapy's labels and colours), where they exist."""
    styles = (
        (mask_fit, {"label": "Mask fit", "color": "tab:green", **(kwargs_fit or {})}),
        (mask_safe, {"label": "Mask safe", "color": "black", **(kwargs_safe or {})}),
    )
    for mask, style in styles:
        if mask is not None:
            draw_mask_spans(ax, axis, mask, **style)


def _draw_counts(ax, dataset, values, kwargs_counts=None, kwargs_background=None, **kwargs):
    axis = _energy_axis(dataset)
    style = {"label": "Counts", **kwargs, **(kwargs_counts or {})}
    ax = draw_hist(ax, axis, np.ravel(values["counts"]), dataset.counts.unit, **style)
    if values["background"] is not None:
        style = {"label": "Background", **kwargs, **(kwargs_background or {})}
        draw_hist(ax, axis, np.ravel(values["background"]), dataset.background.unit, **style)
    ax.legend(numpoints=1)
    return ax


def _draw_excess(ax, dataset, values, kwargs_excess=None, kwargs_npred_signal=None, **kwargs):
    counts = np.asarray(values["counts"], dtype=float)
    background = 0 if values["background"] is None else values["background"]
    # Cash statistic error of the excess: sqrt(counts), symmetric
    yerr = CashCountsStatistic(counts, background).error
    style = {"label": "Excess counts", **kwargs, **(kwargs_excess or {})}
    excess = (counts - background) * dataset.counts.unit
    ax = draw_errorbar(ax, dataset.counts.geom.axes, "energy", excess, yerr=yerr, **style)
    style = {"label": "Predicted signal counts", **kwargs, **(kwargs_npred_signal or {})}
    draw_hist(ax, _energy_axis(dataset), np.ravel(values["npred_signal"]), dataset.counts.unit, **style)
    ax.legend(numpoints=1)
    return ax


def plot_counts(dataset, ax=None, kwargs_counts=None, kwargs_background=None, **kwargs):
    """Counts and background histograms (see :meth:`mapds.datasets.SpectrumDataset.plot_counts`)."""
    values, _ = _spectra(dataset, "counts", "background")
    return _draw_counts(ax, dataset, values, kwargs_counts, kwargs_background, **kwargs)


def plot_excess(dataset, ax=None, kwargs_excess=None, kwargs_npred_signal=None, **kwargs):
    """Excess with errors and predicted signal (see :meth:`mapds.datasets.SpectrumDataset.plot_excess`)."""
    values, _ = _spectra(dataset, "counts", "background", "npred_signal")
    return _draw_excess(ax, dataset, values, kwargs_excess, kwargs_npred_signal, **kwargs)


def plot_masks(dataset, ax=None, kwargs_fit=None, kwargs_safe=None):
    """Shaded fit and safe masks (see :meth:`mapds.datasets.SpectrumDataset.plot_masks`)."""
    values, _ = _spectra(dataset, "mask_fit", "mask_safe")
    ax = pyplot().gca() if ax is None else ax
    _draw_masks(ax, _energy_axis(dataset), values["mask_fit"], values["mask_safe"], kwargs_fit, kwargs_safe)
    ax.legend()
    return ax


def _fit_axes(ax_spectrum, ax_residuals):
    """gammapy's two panels of ``plot_fit`` (5/7 and 2/7 of the height), in the current figure
    cleared (or a new 8 × 7 inch figure), unless both axes are given."""
    if ax_spectrum is not None and ax_residuals is not None:
        return ax_spectrum, ax_residuals
    if ax_spectrum is not None or ax_residuals is not None:
        raise InvalidArgumentError("plot_fit: give both ax_spectrum and ax_residuals, or neither")
    plt = pyplot()
    from matplotlib.gridspec import GridSpec

    if plt.get_fignums():
        fig = plt.gcf()
        fig.clf()
    else:
        fig = plt.figure(figsize=(8, 7))
    grid = GridSpec(7, 1)
    return fig.add_subplot(grid[:5, :]), fig.add_subplot(grid[5:, :])


def plot_fit(dataset, ax_spectrum=None, ax_residuals=None, kwargs_spectrum=None, kwargs_residuals=None):
    """Excess and predicted signal above, spectral residuals below, masks shaded; every spectrum
    computed in one pass (see :meth:`mapds.datasets.SpectrumDataset.plot_fit`)."""
    kwargs_residuals = dict(kwargs_residuals or {})
    method = kwargs_residuals.pop("method", "diff")
    _check_spectral_method(method)
    region = kwargs_residuals.pop("region", None)
    given = ax_spectrum is not None and ax_residuals is not None
    ax_spectrum, ax_residuals = _fit_axes(ax_spectrum, ax_residuals)
    names = ("counts", "background", "npred_signal", "mask_fit", "mask_safe")
    values, residual_spectra = _spectra(dataset, *names, extra=_residual_spectra(dataset, region))
    _draw_excess(ax_spectrum, dataset, values, **(kwargs_spectrum or {}))
    _draw_residuals_spectral(ax_residuals, dataset, residual_spectra, method, **kwargs_residuals)
    ax_residuals.set_ylabel(f"Residuals\n{RESIDUAL_LABELS[method]}")
    # on new panels the residuals' energy axis labels both
    pyplot().setp(ax_spectrum.get_xticklabels(), visible=given)
    _draw_masks(ax_spectrum, _energy_axis(dataset), values["mask_fit"], values["mask_safe"])
    ax_spectrum.legend()
    return ax_spectrum, ax_residuals


def _draw_exposure_spectrum(ax, exposure, values, **kwargs):
    """A computed exposure spectrum as a line along true energy (no bin-width bars)."""
    values = values * exposure.unit
    return draw_errorbar(ax, exposure.geom.axes, "energy_true", values, xerr=None, **kwargs)


def _edisp_kernel(dataset, position=None):
    """The dispersion kernel of a dataset at ``position`` (default: the IRF map centre), on the
    dataset's reco axis (whether its IRF is a kernel or a migration map)."""
    return dataset.edisp.get_edisp_kernel(position=position, energy_axis=_energy_axis(dataset))


def peek_spectrum_dataset(dataset, figsize=(16, 4)):
    """Counts and masks, exposure, and energy dispersion side by side (see
    :meth:`mapds.datasets.SpectrumDataset.peek`)."""
    _, (ax_counts, ax_exposure, ax_edisp) = pyplot().subplots(1, 3, figsize=figsize)
    names = ("counts", "background", "exposure", "mask_fit", "mask_safe")
    values, _ = _spectra(dataset, *names)
    ax_counts.set_title("Counts")
    _draw_counts(ax_counts, dataset, values)
    _draw_masks(ax_counts, _energy_axis(dataset), values["mask_fit"], values["mask_safe"])
    ax_counts.legend()
    ax_exposure.set_title("Exposure")
    if values["exposure"] is not None:
        _draw_exposure_spectrum(ax_exposure, dataset.exposure, values["exposure"], ls="-", markersize=0)
    ax_edisp.set_title("Energy Dispersion")
    if dataset.edisp is not None:
        _edisp_kernel(dataset).plot_matrix(ax=ax_edisp, add_cbar=True)
    return np.array([ax_counts, ax_exposure, ax_edisp])


# -- map datasets ----------------------------------------------------------------------------------


_FIT_SHADING = {"alpha": 0.2}
_SAFE_SHADING = {"hatches": ["///"], "colors": "w"}


def _exposure_title(energy) -> str:
    """gammapy's title of the exposure panel: fewer decimals the further from 1 the value is."""
    value = energy.value
    if value < 1e-2 or value > 1e2:
        return f"Exposure map at {energy:.1e}"
    if value < 1e-1 or value > 1e1:
        return f"Exposure map at {energy:.1f}"
    return f"Exposure map at {energy:.2f}"


def _sky_panel(fig, axes, row, col, geom):
    """Replace the plain axes of a grid cell by WCSAxes of ``geom``."""
    axes[row, col].remove()
    return fig.add_subplot(axes.shape[0], axes.shape[1], row * axes.shape[1] + col + 1, projection=geom.wcs)


def _draw_central_panels(dataset, axes, central_exposure, central_values) -> None:
    """The lower row of :func:`peek_map_dataset`: exposure spectrum, PSF containment radii and
    dispersion matrix at the map centre."""
    ax_profile, ax_containment, ax_edisp = axes
    _draw_exposure_spectrum(ax_profile, central_exposure, central_values, ls="solid", marker=None)
    ax_profile.set_ylabel(f"Exposure [{central_exposure.unit.to_string('latex')}]")
    ax_profile.set_title("Exposure (at FoV center)")
    if dataset.psf is not None:
        dataset.psf.plot_containment_radius_vs_energy(ax=ax_containment)
        ax_containment.legend(fontsize="small")
    ax_containment.set_title("Containment radius (at FoV center)")
    ax_containment.set_xscale("log")
    ax_containment.set_yscale("log")
    if dataset.edisp is not None:
        kernel = _edisp_kernel(dataset, dataset.counts.geom.center_skydir)
        kernel.plot_matrix(ax=ax_edisp, add_cbar=False)
    ax_edisp.set_xscale("log")
    ax_edisp.set_yscale("log")
    ax_edisp.set_title("Energy Dispersion (at FoV center)")


def peek_map_dataset(dataset, figsize=(13, 7)):
    """gammapy's six-panel summary of a map dataset (see :meth:`mapds.datasets.MapDataset.peek`).

    The three sky images (at display resolution), their masks and value ranges, and the exposure
    spectrum of the central pixel are computed in one pass.
    """
    plt = pyplot()  # first: it says how to install matplotlib when it is missing
    import matplotlib
    from matplotlib.colors import LogNorm
    from regions import RectangleSkyRegion

    geom = dataset.counts.geom
    exposure = dataset.exposure
    index = exposure.geom.axes[0].nbin // 2
    exposure_image = exposure.get_image_by_idx([index])
    counts_image = dataset.counts.reduce_over_axes()
    npred_image = dataset.npred().reduce_over_axes()
    # gammapy reads the central IRFs from a spectrum dataset of the central pixel: its exposure
    # is the mean in the pixel, its dispersion the kernel at the centre; only those are made here
    width, height = geom.pixel_scales
    central_pixel = RectangleSkyRegion(geom.center_skydir, width=1.01 * width, height=1.01 * height)
    central_exposure = exposure.to_region_nd_map(central_pixel, func=np.mean)

    fig, axes = plt.subplots(nrows=2, ncols=3, figsize=figsize)
    ax_exposure = _sky_panel(fig, axes, 0, 0, exposure.geom)
    ax_counts = _sky_panel(fig, axes, 0, 1, geom)
    ax_npred = _sky_panel(fig, axes, 0, 2, geom)
    ax_profile, ax_containment, ax_edisp = axes[1]

    # gammapy's shading: the fit mask lightly on the counts and npred, the safe mask hatched on all
    masks = []  # (axes, plan, contourf arguments)
    fit, safe = dataset.mask_fit_image, dataset.mask_safe_image
    for ax in (ax_exposure, ax_counts, ax_npred):
        if fit is not None and ax is not ax_exposure:
            masks.append((ax, display_image(fit, ax, value_range=False), _FIT_SHADING))
        if safe is not None:
            masks.append((ax, display_image(safe, ax, value_range=False), _SAFE_SHADING))
    positive = exposure_image.data.astype(float)
    positive = da.where(positive > 0, positive, np.nan)
    plans = [
        display_image(exposure_image, ax_exposure, value_range=False),
        display_image(counts_image, ax_counts),
        display_image(npred_image, ax_npred),
    ]
    computed = compute_display(
        *plans,
        *(plan for _, plan, _ in masks),
        da.nanmin(positive),
        da.nanmax(positive),
        central_exposure.data,
    )
    exposure_plan, counts_plan, npred_plan = computed[:3]
    mask_plans = computed[3 : 3 + len(masks)]
    exposure_min, exposure_max, central_values = computed[3 + len(masks) :]

    cmap = matplotlib.colormaps["afmhot"].with_extremes(bad="black")
    unit = exposure.unit.to_string("latex")
    draw_image(
        ax_exposure,
        exposure_plan,
        cmap=cmap,
        norm=LogNorm(vmin=exposure_min, vmax=exposure_max),
        add_cbar=True,
        kwargs_colorbar={"label": f"Exposure [{unit}]"},
    )
    ax_exposure.set_title(_exposure_title(exposure.geom.axes[0].center[index]))
    # gammapy's colour range: that of npred, else of a few percent of the counts
    vmin, vmax = npred_plan.low, npred_plan.high
    if np.isclose(vmin, 0.0):
        vmin = max(counts_plan.high * 0.02, counts_plan.low)
    if np.isclose(vmax, 0.0):
        vmax = counts_plan.high
    for ax, plan, title in ((ax_counts, counts_plan, "Counts map"), (ax_npred, npred_plan, "Model npred")):
        draw_image(
            ax,
            plan,
            unit=dataset.counts.unit,
            cmap=cmap,
            add_cbar=True,
            interpolation="bilinear",
            norm=LogNorm(vmin=vmin, vmax=vmax),
        )
        ax.set_title(title)
    for (ax, _, style), plan in zip(masks, mask_plans, strict=True):
        draw_mask_contours(ax, plan, **style)

    _draw_central_panels(dataset, (ax_profile, ax_containment, ax_edisp), central_exposure, central_values)
    panels = np.array([[ax_exposure, ax_counts, ax_npred], [ax_profile, ax_containment, ax_edisp]])
    for ax in panels.flat:
        ax.set_box_aspect(1)
    plt.tight_layout(w_pad=0)
    return panels
