"""Plots of maps as gammapy draws them: WCS images on WCSAxes, region maps as spectra.

matplotlib is an optional dependency, imported inside the functions (``import mapds`` does not
import it).  A WCS image is drawn from its block means at about the pixel resolution of the axes
it is drawn on: the reduction runs on the map's dask chunks, and only its small result and the
full-resolution value range (which sets the colour scale as gammapy's does) are computed, in one
pass.  Labels, scales, colour maps and defaults are gammapy 2.1's.

The building blocks are public so that composite figures (dataset and IRF ``peek``) compute every
image they draw in a single ``dask.compute``: :func:`display_image` plans an image,
:func:`compute_display` computes plans (and any other dask collections) together, and
:func:`draw_image` / :func:`draw_mask_contours` draw the computed plans.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import astropy.units as u
import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..errors import GeometryError, InvalidArgumentError, MissingDependencyError
from ..geom import LabelMapAxis, WcsGeom

__all__ = [
    "LABEL_TEMPLATE",
    "PLOT_AXIS_LABEL",
    "UNIT_STRING_FORMAT",
    "DisplayImage",
    "add_colorbar",
    "axis_plot_center",
    "axis_plot_edges",
    "axis_plot_labels",
    "axis_plot_xerr",
    "compute_display",
    "display_image",
    "draw_errorbar",
    "draw_hist",
    "draw_image",
    "draw_mask_contours",
    "draw_mask_spans",
    "energy_unit_format",
    "format_image_axes",
    "format_plot_xaxis",
    "format_plot_yaxis",
    "image_axes",
    "mask_colormap",
    "plot_grid",
    "plot_interactive",
    "plot_map",
    "plot_mask",
    "plot_region_hist",
    "plot_region_map",
    "plot_region_mask",
    "pyplot",
    "quantity_support",
]

#: Axis labels gammapy gives the axes it knows; other axes are labelled with their capitalised name.
PLOT_AXIS_LABEL = {
    "energy": "Energy",
    "energy_true": "True Energy",
    "offset": "FoV Offset",
    "rad": "Source Offset",
    "migra": "Energy / True Energy",
    "fov_lon": "FoV Lon.",
    "fov_lat": "FoV Lat.",
    "time": "Time",
}
#: How gammapy writes an axis label and its unit.
LABEL_TEMPLATE = "{quantity} [{unit}]"
UNIT_STRING_FORMAT = "latex_inline"

#: matplotlib scale of each axis interpolation.
_MPL_SCALE = {"lin": "linear", "sqrt": "linear", "log": "log"}


def pyplot():
    """``matplotlib.pyplot``, imported on first use (matplotlib is an optional dependency)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "Plotting needs matplotlib, which is not installed: pip install 'mapds[plot]'"
        ) from exc
    return plt


@contextlib.contextmanager
def quantity_support() -> Iterator[None]:
    """astropy's support for Quantities in matplotlib, for the plots drawn inside the block.

    One converter class for every plot: astropy's ``quantity_support()`` makes a new class at each
    call, and matplotlib warns when a second curve drawn on the same axes brings another class.
    """
    from astropy.visualization.units import MplQuantityConverter

    with MplQuantityConverter():
        yield


def mask_colormap():
    """gammapy's colour map of boolean maps: black (False) and white (True), named "mask"."""
    from matplotlib.colors import ListedColormap

    return ListedColormap(["black", "white"], name="mask")


# -- axes of maps on plot axes ---------------------------------------------------------------------


def axis_plot_center(axis):
    """Where each bin of ``axis`` is drawn: bin centres, or 0, 1... for a label axis."""
    return np.arange(axis.nbin) if isinstance(axis, LabelMapAxis) else axis.center


def axis_plot_edges(axis):
    """Bin edges of ``axis`` as drawn (histograms): edges, or -0.5, 0.5... for a label axis."""
    return np.arange(axis.nbin + 1) - 0.5 if isinstance(axis, LabelMapAxis) else axis.edges


def axis_plot_xerr(axis):
    """Horizontal error bars spanning each bin: ``(centre - low edge, high edge - centre)``."""
    if isinstance(axis, LabelMapAxis):
        return 0.5 * np.ones(axis.nbin)
    return axis.center - axis.edges_min, axis.edges_max - axis.center


def axis_plot_labels(axis) -> list[str]:
    """One legend label per bin: the label, the centre (``node_type="center"``) or the edges."""
    if isinstance(axis, LabelMapAxis):
        return [str(label) for label in axis.center]
    if axis.node_type == "center":
        return [f"{value:.2e}" for value in axis.center]
    return [f"{lo:.2e} - {hi:.2e}" for lo, hi in axis.iter_by_edges]


def _unit_label(units) -> str:
    return "" if units is None else u.Unit(units).to_string(UNIT_STRING_FORMAT)


def _axis_label(axis, units) -> str:
    quantity = PLOT_AXIS_LABEL.get(axis.name, axis.name.capitalize())
    return LABEL_TEMPLATE.format(quantity=quantity, unit=_unit_label(units))


def _in_units(quantity: u.Quantity, units) -> np.ndarray:
    """Values of ``quantity`` in the units a plot axis holds (its own unit if the axis has none)."""
    return quantity.value if units is None else quantity.to_value(units)


def format_plot_xaxis(axis, ax):
    """Scale, label and limits of the x axis of ``ax`` for map axis ``axis`` (gammapy's rules)."""
    if isinstance(axis, LabelMapAxis):
        ax.set_xticks(np.arange(axis.nbin))
        ax.set_xticklabels(axis_plot_labels(axis), rotation=30, ha="right", rotation_mode="anchor")
        return ax
    ax.set_xscale(_MPL_SCALE[axis.interp])
    ax.set_xlabel(_axis_label(axis, ax.xaxis.units))
    lo, hi = _in_units(axis.bounds, ax.xaxis.units)
    if lo != hi:
        ax.set_xlim(lo, hi)
    return ax


def format_plot_yaxis(axis, ax):
    """Scale, label and limits of the y axis of ``ax`` for map axis ``axis``."""
    ax.set_yscale(_MPL_SCALE[axis.interp])
    ax.set_ylabel(_axis_label(axis, ax.yaxis.units))
    ax.set_ylim(*_in_units(axis.bounds, ax.yaxis.units))
    return ax


def energy_unit_format(energy) -> str:
    """An energy as gammapy writes it in titles: in eV, keV, MeV, GeV, TeV or PeV (a unit per
    three decades) with 2, 1 or 0 decimals as the value has 1, 2 or 3 digits.

    Parameters
    ----------
    energy : `~astropy.units.Quantity`
        One energy.
    """
    energy = u.Quantity(energy)
    units = (u.eV, u.keV, u.MeV, u.GeV, u.TeV, u.PeV)
    power = int(np.floor(np.log10(energy.to_value(u.eV)) / 3))
    unit = units[power] if power < 5 else u.PeV
    value = energy.to_value(unit)
    digits = int(np.floor(np.log10(value)))
    # gammapy indexes (2, 1, 0) with the digit count, so values below 1 (index -1) get 0 decimals
    precision = (2, 1, 0)[digits] if digits < 3 else 0
    return f"{value:0.{precision}f} {unit}"


def add_colorbar(image, ax, axes_loc=None, **kwargs):
    """Colour bar in an axes appended to ``ax`` (``axes_loc``: ``AxesDivider.append_axes``
    arguments; default on the right, 5 % wide, 2 % apart), as gammapy adds it.

    Returns
    -------
    `~matplotlib.colorbar.Colorbar`
    """
    import matplotlib.axes as maxes
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    kwargs.setdefault("use_gridspec", True)
    kwargs.setdefault("orientation", "vertical")
    axes_loc = dict(axes_loc or {})
    axes_loc.setdefault("position", "right")
    axes_loc.setdefault("size", "5%")
    axes_loc.setdefault("pad", "2%")
    axes_loc.setdefault("axes_class", maxes.Axes)
    cax = make_axes_locatable(ax).append_axes(**axes_loc)
    return pyplot().colorbar(image, cax=cax, **kwargs)


# -- WCS images ------------------------------------------------------------------------------------


def _image_geom(m, what: str) -> WcsGeom:
    """The 2-D geometry of a WCS map that can be drawn as one image (all other axes one bin)."""
    geom = m.geom
    if not isinstance(geom, WcsGeom):
        raise GeometryError(f"{what} draws WCS maps; a {type(geom).__name__} map has no image")
    if not geom.is_flat:
        raise GeometryError(
            f"{what} draws one image, the map has axes {geom.axes.names} of shape {geom.axes.shape}: "
            "select an image (get_image_by_idx, slice_by_idx, sum_over_axes) or use "
            "plot_grid() / plot_interactive()"
        )
    return geom.to_image()


def image_axes(geom: WcsGeom, ax=None, fig=None):
    """``ax``, or new WCSAxes of ``geom`` filling ``fig`` (default: the current figure); an
    elliptical frame for the all-sky Aitoff projection, as gammapy."""
    if ax is not None:
        return ax
    fig = pyplot().gcf() if fig is None else fig
    kwargs: dict[str, Any] = {"projection": geom.wcs}
    if geom.projection == "AIT":
        from astropy.visualization.wcsaxes.frame import EllipticalFrame

        kwargs["frame_class"] = EllipticalFrame
    return fig.add_subplot(1, 1, 1, **kwargs)


def format_image_axes(ax, geom: WcsGeom):
    """Coordinate labels (Galactic Longitude / Right Ascension...), or gammapy's all-sky style."""
    if not hasattr(ax, "coords"):
        return ax  # plain matplotlib axes: no sky coordinates to label
    if geom.is_allsky:
        return _format_allsky(ax, geom)
    lon, lat = ax.coords[0], ax.coords[1]
    if geom.frame == "galactic":
        lon.set_axislabel("Galactic Longitude")
        lat.set_axislabel("Galactic Latitude")
    else:
        lon.set_axislabel("Right Ascension")
        lat.set_axislabel("Declination")
    return ax


def _format_allsky(ax, geom: WcsGeom):
    """gammapy's all-sky look: no frame, the whole sphere in view, a faint white grid."""
    ax.coords.frame.set_linewidth(0)
    image = geom.to_image()
    xmin, _ = image.coord_to_pix({"lon": 180, "lat": 0})
    xmax, _ = image.coord_to_pix({"lon": -180, "lat": 0})
    _, ymin = image.coord_to_pix({"lon": 0, "lat": -90})
    _, ymax = image.coord_to_pix({"lon": 0, "lat": 90})
    ax.set_xlim(xmin[0], xmax[0])
    ax.set_ylim(ymin[0], ymax[0])
    ax.text(0, ymax[0], f"{geom.frame} coords")
    lon, lat = ax.coords
    lon.set_ticks(spacing=45 * u.deg, color="w", alpha=0.8)
    lat.set_ticks(spacing=15 * u.deg)
    lon.set_ticks_visible(False)
    lon.set_major_formatter("d")
    lat.set_major_formatter("d")
    lon.set_ticklabel(color="w", alpha=0.8)
    lon.grid(alpha=0.2, linestyle="solid", color="w")
    lat.grid(alpha=0.2, linestyle="solid", color="w")
    return ax


@dataclasses.dataclass(frozen=True)
class DisplayImage:
    """A WCS map's image at display resolution: lazy until :func:`compute_display` fills it.

    Attributes
    ----------
    geom : `~mapds.geom.WcsGeom`
        Image geometry of the full-resolution map (what the axes' WCS describes).
    factor : int
        Block size: ``values[j, i]`` is the mean of the non-NaN pixels ``[j f, (j + 1) f) ×
        [i f, (i + 1) f)`` (1: the pixels themselves).
    values : dask or numpy array
        The block means, float64.
    low, high : dask or numpy scalar, or None
        Smallest and largest finite full-resolution value (None when not asked for).
    """

    geom: WcsGeom
    factor: int
    values: Any
    low: Any = None
    high: Any = None

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``imshow`` extent of the blocks in the full-resolution pixel coordinates."""
        ny, nx = np.shape(self.values)
        f = self.factor
        return -0.5, -0.5 + f * nx, -0.5, -0.5 + f * ny

    def block_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of the block centres in full-resolution pixel coordinates."""
        ny, nx = np.shape(self.values)
        f = self.factor
        return (np.arange(nx) + 0.5) * f - 0.5, (np.arange(ny) + 0.5) * f - 0.5


def _coarsen_factor(shape: tuple[int, ...], ax) -> int:
    """Block size bringing an image of ``shape`` ``(ny, nx)`` to at least the resolution at which
    ``ax`` shows it (equal aspect: the tighter of its width and height sets the scale)."""
    bbox = ax.get_window_extent()
    ny, nx = shape
    scale = min(bbox.width / nx, bbox.height / ny)  # display pixels per map pixel
    if not np.isfinite(scale) or scale <= 0 or scale >= 1:
        return 1
    return int(1 / scale)


def display_image(m, ax, value_range: bool = True) -> DisplayImage:
    """Plan the image of a flat WCS map as ``ax`` shows it (nothing is computed).

    Parameters
    ----------
    m : `~mapds.maps.Map`
        WCS map whose non-spatial axes have one bin.
    ax : `~matplotlib.axes.Axes`
        Axes the image will be drawn on (its size in display pixels sets the block size).
    value_range : bool
        Also plan the finite minimum and maximum of the full-resolution values.
    """
    geom = _image_geom(m, "Map.plot")
    data = m.dask_data
    image = data.reshape(data.shape[-2:]).astype(np.float64)
    factor = _coarsen_factor(image.shape, ax)
    values = image
    if factor > 1:
        # xarray pads the last partial blocks with NaN, which the (NaN-skipping) mean ignores.
        blocks = xr.DataArray(image, dims=("y", "x")).coarsen(y=factor, x=factor, boundary="pad")
        values = blocks.mean().data
    low = high = None
    if value_range:
        finite = da.where(da.isfinite(image), image, np.nan)
        low, high = da.nanmin(finite), da.nanmax(finite)
    return DisplayImage(geom, factor, values, low, high)


def compute_display(*items) -> list:
    """Compute :class:`DisplayImage` plans and any other dask collections in one ``dask.compute``.

    Returns the items in order, plans filled with numpy values, collections computed.
    """
    lazy = [(i.values, i.low, i.high) if isinstance(i, DisplayImage) else i for i in items]
    with warnings.catch_warnings():
        # All-NaN blocks (outside a survey's footprint) have a NaN mean: that is what is drawn.
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        computed = dask.compute(*lazy)
    out = []
    for item, value in zip(items, computed, strict=True):
        if isinstance(item, DisplayImage):
            values, low, high = value
            item = dataclasses.replace(item, values=np.asarray(values), low=low, high=high)
            out.append(item)
        else:
            out.append(value)
    return out


def _finite_or_none(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def draw_image(
    ax,
    image: DisplayImage,
    unit="",
    is_mask: bool = False,
    add_cbar: bool = False,
    stretch: str = "linear",
    axes_loc=None,
    kwargs_colorbar=None,
    **kwargs,
):
    """Draw a computed :class:`DisplayImage` as gammapy's ``WcsNDMap.plot`` draws a map.

    Defaults: ``interpolation="nearest"``, ``origin="lower"``, ``cmap="afmhot"``, and an
    ``astropy.visualization.simple_norm`` of ``stretch`` from the full-resolution finite range
    (or ``vmin``/``vmax``); boolean maps use the black/white "mask" colour map on [0, 1].
    Blocks of a downsampled image are drawn over the pixels they cover.

    Returns
    -------
    ax : `~astropy.visualization.wcsaxes.WCSAxes`
    """
    from astropy.visualization import simple_norm

    values = np.asarray(image.values, dtype=float)
    kwargs.setdefault("interpolation", "nearest")
    kwargs.setdefault("origin", "lower")
    kwargs.setdefault("cmap", "afmhot")
    if is_mask:
        kwargs.setdefault("vmin", 0)
        kwargs.setdefault("vmax", 1)
        kwargs["cmap"] = mask_colormap()
    finite = np.isfinite(values)
    if finite.any():
        vmin, vmax = kwargs.pop("vmin", None), kwargs.pop("vmax", None)
        vmin = _finite_or_none(image.low) if vmin is None else vmin
        vmax = _finite_or_none(image.high) if vmax is None else vmax
        kwargs.setdefault("norm", simple_norm(values[finite], stretch, vmin=vmin, vmax=vmax))
    if image.factor > 1:
        kwargs.setdefault("extent", image.extent)
    drawn = ax.imshow(values, **kwargs)
    if image.factor > 1:
        ny, nx = image.geom.data_shape[-2:]
        ax.set_xlim(-0.5, nx - 0.5)
        ax.set_ylim(-0.5, ny - 0.5)
    if add_cbar:
        kwargs_colorbar = dict(kwargs_colorbar or {})
        kwargs_colorbar.setdefault("label", str(unit))
        add_colorbar(drawn, ax=ax, axes_loc=axes_loc, **kwargs_colorbar)
    format_image_axes(ax, image.geom)
    # later overlays (regions, scatter) must not move the view off the map
    ax.autoscale(enable=False)
    return ax


def draw_mask_contours(ax, image: DisplayImage, **kwargs):
    """Shade where a computed boolean image is False (``contourf`` levels [0, 0.5], default
    white at alpha 0.5), as gammapy's ``WcsNDMap.plot_mask``."""
    kwargs.setdefault("alpha", 0.5)
    kwargs.setdefault("colors", "w")
    values = np.asarray(image.values, dtype=float)
    if image.factor > 1:
        ax.contourf(*image.block_centres(), values, levels=[0, 0.5], **kwargs)
    else:
        ax.contourf(values, levels=[0, 0.5], **kwargs)
    format_image_axes(ax, image.geom)
    ax.autoscale(enable=False)
    return ax


def plot_map(
    m, ax=None, fig=None, add_cbar=False, stretch="linear", axes_loc=None, kwargs_colorbar=None, **kwargs
):
    """Draw a flat WCS map on WCSAxes (gammapy's ``WcsNDMap.plot``), computing only its image at
    display resolution and its value range, in one pass.  See :meth:`mapds.maps.Map.plot`."""
    geom = _image_geom(m, "Map.plot")
    ax = image_axes(geom, ax, fig)
    (image,) = compute_display(display_image(m, ax, value_range=not m.is_mask))
    return draw_image(
        ax,
        image,
        unit=m.unit,
        is_mask=m.is_mask,
        add_cbar=add_cbar,
        stretch=stretch,
        axes_loc=axes_loc,
        kwargs_colorbar=kwargs_colorbar,
        **kwargs,
    )


def plot_mask(m, ax=None, **kwargs):
    """Shade the False pixels of a flat boolean WCS map (gammapy's ``WcsNDMap.plot_mask``)."""
    geom = _image_geom(m, "Map.plot_mask")
    if not m.is_mask:
        raise InvalidArgumentError(f"plot_mask draws boolean maps, this map holds {m.dtype}")
    ax = image_axes(geom, ax)
    (image,) = compute_display(display_image(m, ax, value_range=False))
    return draw_mask_contours(ax, image, **kwargs)


def _bin_title(axis, idx: int) -> str:
    """gammapy's panel title of bin ``idx`` of ``axis`` in :func:`plot_grid`."""
    energy = axis.name in ("energy", "energy_true")
    if isinstance(axis, LabelMapAxis):
        info = f"{axis.center[idx]}"
    elif axis.node_type == "center":
        info = energy_unit_format(axis.center[idx]) if energy else f"{axis.center[idx]:.1f}"
    elif energy:
        info = f"{energy_unit_format(axis.edges[idx])} - {energy_unit_format(axis.edges[idx + 1])}"
    else:
        info = f"{axis.edges_min[idx]:.1f} - {axis.edges_max[idx]:.1f} "
    return f"{axis.name.capitalize()} {info}"


def plot_grid(m, figsize=None, ncols=3, **kwargs):
    """One WCSAxes panel per bin of the map's single non-spatial axis (gammapy's
    ``Map.plot_grid``); every panel's image is computed in one pass.  See
    :meth:`mapds.maps.Map.plot_grid`."""
    geom = m.geom
    if not isinstance(geom, WcsGeom):
        raise GeometryError(f"Map.plot_grid draws WCS maps, not {type(geom).__name__} maps")
    if len(geom.axes) != 1:
        raise GeometryError(
            f"Map.plot_grid needs exactly one non-spatial axis, the map has {geom.axes.names}"
        )
    axis = geom.axes[0]
    cols = min(ncols, axis.nbin)
    rows = 1 + (axis.nbin - 1) // cols
    if figsize is None:
        figsize = (12, 12 * rows / cols)
    _, axes = pyplot().subplots(
        ncols=cols,
        nrows=rows,
        subplot_kw={"projection": geom.wcs},
        figsize=figsize,
        gridspec_kw={"hspace": 0.1, "wspace": 0.1},
    )
    panels = np.asarray(axes).ravel()
    plans = [
        display_image(m.get_image_by_idx((idx,)), panels[idx], value_range=not m.is_mask)
        for idx in range(axis.nbin)
    ]
    images = compute_display(*plans)
    for idx, ax in enumerate(panels):
        if idx >= axis.nbin:
            ax.set_visible(False)
            continue
        draw_image(ax, images[idx], unit=m.unit, is_mask=m.is_mask, **kwargs)
        ax.set_title(_bin_title(axis, idx))
        lon, lat = ax.coords[0], ax.coords[1]
        lon.set_ticks_position("b")
        lat.set_ticks_position("l")
        row, col = np.unravel_index(idx, shape=(rows, cols))
        if col > 0:
            lat.set_ticklabel_visible(False)
            lat.set_axislabel("")
        if row < rows - 1:
            lon.set_ticklabel_visible(False)
            lon.set_axislabel("")
    return axes


def _slider_options(axis) -> list[str]:
    """The choices of an axis' slider in :func:`plot_interactive` (gammapy's)."""
    energy = axis.name in ("energy", "energy_true")
    if not isinstance(axis, LabelMapAxis) and energy:
        if axis.node_type == "center":
            return [energy_unit_format(value) for value in axis.center]
        edges = [energy_unit_format(value) for value in axis.edges]
        return [f"{lo} - {hi}" for lo, hi in itertools.pairwise(edges)]
    return axis_plot_labels(axis)


def plot_interactive(m, rc_params=None, **kwargs) -> None:
    """Sliders over the non-spatial bins and a stretch selector (gammapy's
    ``Map.plot_interactive``); each choice computes one image at display resolution.  Needs
    ipywidgets.  See :meth:`mapds.maps.Map.plot_interactive`."""
    try:
        from ipywidgets import RadioButtons, SelectionSlider, fixed, interact
    except ImportError as exc:
        raise MissingDependencyError(
            "Map.plot_interactive needs ipywidgets, which is not installed: pip install ipywidgets"
        ) from exc
    plt = pyplot()  # first: it says how to install matplotlib when it is missing
    import matplotlib as mpl

    geom = m.geom
    if not isinstance(geom, WcsGeom):
        raise GeometryError(f"Map.plot_interactive draws WCS maps, not {type(geom).__name__} maps")
    if geom.is_image:
        raise GeometryError("Map.plot_interactive needs non-spatial axes to explore; use Map.plot for images")
    kwargs.setdefault("interpolation", "nearest")
    kwargs.setdefault("origin", "lower")
    kwargs.setdefault("cmap", "afmhot")
    rc_params = rc_params or {}
    stretch = kwargs.pop("stretch", "sqrt")
    controls: dict[str, Any] = {}
    for axis in geom.axes:
        options = _slider_options(axis)
        controls[axis.name] = SelectionSlider(
            options=options,
            description=f"Select {axis.name}:",
            continuous_update=False,
            style={"description_width": "initial"},
            layout={"width": "50%"},
        )
        controls[f"{axis.name}_options"] = fixed(options)
    controls["stretch"] = RadioButtons(
        options=["linear", "sqrt", "log"],
        value=stretch,
        description="Select stretch:",
        style={"description_width": "initial"},
    )

    @interact(**controls)
    def _draw(**chosen) -> None:
        idx = [chosen[f"{axis.name}_options"].index(chosen[axis.name]) for axis in geom.axes]
        with mpl.rc_context(rc=rc_params):
            plot_map(m.get_image_by_idx(idx), stretch=chosen["stretch"], **kwargs)
            plt.show()


# -- region maps (spectra) -------------------------------------------------------------------------


def draw_errorbar(ax, axes, axis_name: str, values: u.Quantity, **kwargs):
    """Error-bar plot of region-map values along ``axis_name``, one line per bin of the other
    axes (gammapy's ``RegionNDMap.plot``).

    Parameters
    ----------
    ax : `~matplotlib.axes.Axes` or None
        Axes (default: the current axes).
    axes : `~mapds.geom.MapAxes`
        The map's non-spatial axes.
    axis_name : str
        Axis along the x axis.
    values : `~astropy.units.Quantity`
        Computed values, the map's data shape.
    **kwargs
        ``errorbar`` arguments; ``yerr`` and ``uplims`` may be arrays of the data shape (or a
        pair of them), sliced like the values.
    """
    plt = pyplot()
    axis = axes[axis_name]
    with quantity_support():
        ax = ax or plt.gca()
        kwargs.setdefault("marker", "o")
        kwargs.setdefault("markersize", 4)
        kwargs.setdefault("ls", "None")
        kwargs.setdefault("xerr", axis_plot_xerr(axis))
        yerr_nd, yerr = kwargs.pop("yerr", None), None
        uplims_nd, uplims = kwargs.pop("uplims", None), None
        label_default = kwargs.pop("label", None)
        labels = itertools.product(*[axis_plot_labels(other) for other in axes if other.name != axis.name])
        idx_axis = axes.index_data(axis.name)
        shape = list(values.shape)
        shape[idx_axis] = 1
        for label_axis, idx in zip(labels, np.ndindex(*shape), strict=True):
            index = list(idx)
            index[idx_axis] = slice(None)
            index_tuple = tuple(index)
            if isinstance(yerr_nd, tuple):
                yerr = yerr_nd[0][index_tuple], yerr_nd[1][index_tuple]
            elif yerr_nd is not None:
                yerr = np.asarray(yerr_nd)[index_tuple]
            if uplims_nd is not None:
                uplims = np.asarray(uplims_nd)[index_tuple]
            label = " ".join(label_axis) if label_default is None else label_default
            x = axis_plot_center(axis)
            ax.errorbar(x=x, y=values[index_tuple], yerr=yerr, uplims=uplims, label=label, **kwargs)
        format_plot_xaxis(axis, ax)
        if "energy" in axis_name:
            ax.set_yscale("log", nonpositive="clip")
    return ax


def draw_hist(ax, axis, weights: np.ndarray, unit, **kwargs):
    """Step histogram of computed values along ``axis`` (gammapy's ``RegionNDMap.plot_hist``)."""
    plt = pyplot()
    with quantity_support():
        ax = plt.gca() if ax is None else ax
        kwargs.setdefault("histtype", "step")
        kwargs.setdefault("lw", 1)
        ax.hist(axis_plot_center(axis), bins=axis_plot_edges(axis), weights=weights, **kwargs)
    unit = u.Unit(unit)
    if not unit.is_unity():
        ax.set_ylabel(f"Data [{unit.to_string(UNIT_STRING_FORMAT)}]")
    format_plot_xaxis(axis, ax)
    ax.set_yscale("log")
    return ax


def draw_mask_spans(ax, axis, mask: np.ndarray, **kwargs):
    """Shade the ranges of ``axis`` where a computed 1-D mask is True, one span per run of True
    bins (gammapy's ``RegionNDMap.plot_mask``; default black at alpha 0.05, label "mask")."""
    from scipy.ndimage import label as connected_runs  # deferred, as matplotlib

    ax = pyplot().gca() if ax is None else ax
    kwargs.setdefault("color", "k")
    kwargs.setdefault("alpha", 0.05)
    kwargs.setdefault("label", "mask")
    edges = axis.edges
    runs, n_runs = connected_runs(np.ravel(np.asarray(mask, dtype=bool)))
    with quantity_support():
        for run in range(1, n_runs + 1):
            bins = np.flatnonzero(runs == run)
            ax.axvspan(edges[bins[0]], edges[bins[-1] + 1], **kwargs)
    return ax


def plot_region_map(m, ax=None, axis_name=None, **kwargs):
    """Error-bar plot of a region map along ``axis_name`` (computed once).  See
    :meth:`mapds.maps.RegionNDMap.plot`."""
    axes = m.geom.axes
    if axis_name is None:
        if not axes.is_unidimensional:
            raise InvalidArgumentError(
                f"RegionNDMap.plot: the map has several axes with more than one bin ({axes.names}); "
                "choose the x axis with axis_name="
            )
        axis_name = axes.primary_axis.name
    if axis_name not in axes.names:
        raise InvalidArgumentError(f"RegionNDMap.plot: no axis {axis_name!r}, the map has {axes.names}")
    return draw_errorbar(ax, axes, axis_name, m.quantity, **kwargs)


def plot_region_hist(m, ax=None, **kwargs):
    """Step histogram of a one-axis region map.  See :meth:`mapds.maps.RegionNDMap.plot_hist`."""
    axes = m.geom.axes
    if not axes.is_unidimensional:
        raise InvalidArgumentError(
            f"RegionNDMap.plot_hist draws maps with one axis of several bins, the map has {axes.names} "
            f"of shape {axes.shape}"
        )
    # one axis has every bin (the others have one): the values in data order are its bins
    return draw_hist(ax, axes.primary_axis, np.ravel(np.asarray(m.data)), m.unit, **kwargs)


def plot_region_mask(m, ax=None, **kwargs):
    """Shade the energy ranges where a boolean region map is True.  See
    :meth:`mapds.maps.RegionNDMap.plot_mask`."""
    if not m.is_mask:
        raise InvalidArgumentError(f"plot_mask draws boolean maps, this map holds {m.dtype}")
    axes = m.geom.axes
    if "energy" not in axes.names or axes["energy"].nbin != np.prod(axes.shape):
        raise InvalidArgumentError(
            f"plot_mask shades energy ranges of a map with one energy axis, the map has axes {axes.names} "
            f"of shape {axes.shape}"
        )
    return draw_mask_spans(ax, axes["energy"], np.asarray(m.data), **kwargs)
