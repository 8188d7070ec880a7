"""Map plots against gammapy's (matplotlib Agg backend): what is drawn, and that large lazy maps are
reduced to display resolution before anything is computed."""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import astropy.units as u
import gammapy.maps as gmaps
import matplotlib
import numpy as np
import pytest
from gammapy.utils.units import energy_unit_format as gp_energy_unit_format

from mapds.errors import GeometryError, InvalidArgumentError, MissingDependencyError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map, RegionNDMap
from mapds.maps.plotting import energy_unit_format, pyplot

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from astropy.visualization.wcsaxes import WCSAxes

PACKAGE = Path(__file__).resolve().parents[2] / "mapds"
OPTIONAL = ("matplotlib", "mpl_toolkits", "ipywidgets")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _image(ax):
    return np.asarray(ax.images[0].get_array(), dtype=float)


# -- WCS images ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("frame", "stretch"), [("icrs", "linear"), ("galactic", "sqrt")])
def test_plot_matches_gammapy(make_maps, frame, stretch, raise_if_dask_computes):
    gp, md = make_maps(npix=(40, 30), nbin=0, frame=frame, unit="cm-2", chunks=(10, 16))
    gp_ax = gp.plot(add_cbar=True, stretch=stretch)
    plt.figure()
    with raise_if_dask_computes(max_computes=1):
        ax = md.plot(add_cbar=True, stretch=stretch)
    assert isinstance(ax, WCSAxes)
    np.testing.assert_array_equal(_image(ax), _image(gp_ax))
    image, expected = ax.images[0], gp_ax.images[0]
    assert image.get_cmap().name == expected.get_cmap().name == "afmhot"
    assert (image.norm.vmin, image.norm.vmax) == (expected.norm.vmin, expected.norm.vmax)
    assert type(image.norm.stretch) is type(expected.norm.stretch)
    for coord in (0, 1):
        assert ax.coords[coord].get_axislabel() == gp_ax.coords[coord].get_axislabel()
    assert len(ax.figure.axes) == len(gp_ax.figure.axes) == 2  # the colour bar
    assert ax.figure.axes[1].get_ylabel() == gp_ax.figure.axes[1].get_ylabel() == "1 / cm2"


def test_plot_flat_cube_mask_and_kwargs(make_maps):
    gp, md = make_maps(npix=(12, 10), nbin=1, dtype="bool")
    gp_ax = gp.plot()
    ax = md.plot(ax=plt.figure().add_subplot(projection=md.geom.wcs))
    np.testing.assert_array_equal(_image(ax), _image(gp_ax))
    assert ax.images[0].get_cmap().name == gp_ax.images[0].get_cmap().name == "mask"
    assert (ax.images[0].norm.vmin, ax.images[0].norm.vmax) == (0, 1)
    gp, md = make_maps(npix=(12, 10), nbin=0)
    fig = plt.figure()
    ax = md.plot(fig=fig, cmap="viridis", vmin=0.5, vmax=2, interpolation="bilinear")
    assert ax.figure is fig
    assert ax.images[0].get_cmap().name == "viridis"
    assert (ax.images[0].norm.vmin, ax.images[0].norm.vmax) == (0.5, 2)
    assert ax.images[0].get_interpolation() == "bilinear"


def test_plot_allsky_aitoff_as_gammapy():
    from astropy.visualization.wcsaxes.frame import EllipticalFrame

    kwargs = {"npix": (72, 36), "binsz": 5, "proj": "AIT", "frame": "galactic"}
    data = np.arange(72 * 36, dtype=float).reshape(36, 72)
    gp_ax = gmaps.Map.from_geom(gmaps.WcsGeom.create(**kwargs), data=data).plot()
    plt.figure()
    ax = Map.create(**kwargs, data=data).plot()
    assert isinstance(ax.coords.frame, EllipticalFrame)
    np.testing.assert_allclose(ax.get_xlim(), gp_ax.get_xlim())
    np.testing.assert_allclose(ax.get_ylim(), gp_ax.get_ylim())
    assert [t.get_text() for t in ax.texts] == [t.get_text() for t in gp_ax.texts] == ["galactic coords"]


def test_large_lazy_map_is_downsampled_before_computing(storage_map, rng, raise_if_dask_computes):
    axis = MapAxis.from_energy_bounds(1, 10, 1, unit="TeV")
    geom = WcsGeom.create(npix=(6000, 600), binsz=0.02, frame="galactic", axes=[axis])
    data = rng.normal(size=geom.data_shape).astype("float32")
    data[0, 100, 200] = np.nan
    md, counting = storage_map(geom, data, chunks=(1, 300, 1000))
    fig = plt.figure(figsize=(6, 3), dpi=100)
    with raise_if_dask_computes(max_computes=1):
        ax = md.plot(fig=fig)
    image = _image(ax)
    bbox = ax.get_window_extent()
    factor = 6000 // image.shape[1]
    # about one value per display pixel: never coarser than the axes, never much finer
    assert bbox.width <= image.shape[1] < 2 * bbox.width
    assert image.shape == (int(np.ceil(600 / factor)), int(np.ceil(6000 / factor)))
    assert counting.elements_read == data.size  # every pixel read once
    # block means (NaN skipped) over the pixels each block covers, drawn where those pixels are
    blocks = data[0, : image.shape[0] * factor, : image.shape[1] * factor].astype(float)
    expected = np.nanmean(blocks.reshape(image.shape[0], factor, image.shape[1], factor), axis=(1, 3))
    assert 600 % factor == 0 and 6000 % factor == 0  # so no partial blocks
    np.testing.assert_allclose(image, expected, rtol=1e-6)
    assert ax.images[0].get_extent() == [-0.5, 6000 - 0.5, -0.5, 600 - 0.5]
    np.testing.assert_allclose(ax.get_xlim(), (-0.5, 5999.5))
    # the colour scale spans the full-resolution values, as gammapy's
    assert ax.images[0].norm.vmin == pytest.approx(np.nanmin(data))
    assert ax.images[0].norm.vmax == pytest.approx(np.nanmax(data))


def test_downsampled_partial_blocks_and_mask():
    data = np.zeros((50, 1003), dtype=bool)
    data[:, :500] = True
    md = Map.create(npix=(1003, 50), binsz=0.1, data=data, chunks={"x": 256})
    ax = md.plot(fig=plt.figure(figsize=(4, 2)))
    image = _image(ax)
    factor = int(np.ceil(1003 / image.shape[1]))
    assert factor > 1 and image.shape[1] * factor >= 1003
    assert image[0, 0] == 1 and image[0, -1] == 0  # the last, partial block is a mean too
    assert ax.images[0].get_cmap().name == "mask"
    mask_ax = md.plot_mask(ax=plt.figure(figsize=(4, 2)).add_subplot(projection=md.geom.wcs))
    assert len(mask_ax.collections) == 1


def test_plot_mask_matches_gammapy(make_maps):
    gp, md = make_maps(npix=(12, 10), nbin=0, dtype="bool")
    gp_ax = gp.plot_mask()
    ax = md.plot_mask(ax=plt.figure().add_subplot(projection=md.geom.wcs), alpha=0.3)
    gp_paths = gp_ax.collections[0].get_paths()
    paths = ax.collections[0].get_paths()
    assert len(paths) == len(gp_paths)
    np.testing.assert_allclose(paths[0].vertices, gp_paths[0].vertices)
    assert ax.collections[0].get_alpha() == 0.3
    with pytest.raises(InvalidArgumentError, match="boolean"):
        md.astype(float).plot_mask()


def test_plot_refuses_cubes_and_region_maps(make_maps):
    _, md = make_maps(npix=(6, 5), nbin=3)
    with pytest.raises(GeometryError, match="plot_grid"):
        md.plot()
    region = RegionNDMap.create("icrs;circle(10, 20, 1)", axes=[md.geom.axes[0]])
    with pytest.raises(GeometryError):
        Map.plot(region)
    extra = MapAxis.from_bounds(0, 1, 2, name="x1")
    two_axes = Map.create(npix=(4, 4), binsz=1, axes=[md.geom.axes[0], extra])
    with pytest.raises(GeometryError, match="one non-spatial axis"):
        two_axes.plot_grid()


@pytest.mark.parametrize("node_type", ["edges", "center"])
def test_plot_grid_matches_gammapy(make_maps, node_type, raise_if_dask_computes):
    gp, md = make_maps(npix=(10, 8), nbin=4)
    if node_type == "center":
        gp_axis = gmaps.MapAxis.from_nodes([1, 2, 4, 8], unit="TeV", name="energy", interp="log")
        md_axis = MapAxis.from_nodes([1, 2, 4, 8], unit="TeV", name="energy", interp="log")
        gp = gmaps.Map.from_geom(gp.geom.to_image().to_cube([gp_axis]), data=gp.data)
        md = Map.from_geom(md.geom.to_image().to_cube([md_axis]), data=gp.data.copy())
    gp_axes = gp.plot_grid(add_cbar=True)
    with raise_if_dask_computes(max_computes=1):
        axes = md.plot_grid(add_cbar=True)
    assert axes.shape == gp_axes.shape == (2, 3)
    assert axes.flat[0].figure.get_size_inches() == pytest.approx(gp_axes.flat[0].figure.get_size_inches())
    for ax, gp_ax in zip(axes.flat, gp_axes.flat, strict=True):
        assert ax.get_visible() == gp_ax.get_visible()
        if not ax.get_visible():
            continue
        assert ax.get_title() == gp_ax.get_title()
        np.testing.assert_array_equal(_image(ax), _image(gp_ax))
        assert ax.coords[1].get_axislabel() == gp_ax.coords[1].get_axislabel()


def test_plot_interactive_needs_ipywidgets(make_maps, monkeypatch):
    _, md = make_maps(npix=(6, 5), nbin=3)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(MissingDependencyError, match="ipywidgets"):
        md.plot_interactive()


def test_plot_interactive_draws_the_chosen_image(make_maps, monkeypatch):
    gp, md = make_maps(npix=(6, 5), nbin=3)
    controls = {}

    class Widget:
        def __init__(self, options, value=None, **kwargs):
            self.options, self.value = options, options[-1] if value is None else value

    def interact(**kwargs):
        controls.update(kwargs)

        def run(function):
            chosen = {key: getattr(w, "value", w) for key, w in kwargs.items()}
            function(**chosen)

        return run

    fake = types.SimpleNamespace(
        SelectionSlider=Widget, RadioButtons=Widget, fixed=lambda value: value, interact=interact
    )
    monkeypatch.setitem(sys.modules, "ipywidgets", fake)
    monkeypatch.setattr(plt, "show", lambda: None)
    md.plot_interactive(cmap="viridis")
    assert controls["energy"].options == ["1.00 TeV - 2.15 TeV", "2.15 TeV - 4.64 TeV", "4.64 TeV - 10.0 TeV"]
    assert controls["stretch"].value == "sqrt"
    ax = plt.gca()
    np.testing.assert_allclose(_image(ax), gp.data[-1])  # the last option of the fake slider
    assert ax.images[0].get_cmap().name == "viridis"
    with pytest.raises(GeometryError, match=r"Map\.plot"):
        md.get_image_by_idx((0,)).plot_interactive()


def test_energy_unit_format_as_gammapy():
    for value in [3e-7, 0.02, 0.5, 1, 12.3456, 345.6, 2e3, 7e6] * u.TeV:
        assert energy_unit_format(value) == gp_energy_unit_format(value)


# -- region maps -----------------------------------------------------------------------------------


def _region_pair(axes=None, data=None, unit="cm-2"):
    def build(lib, axes):
        energy = lib.MapAxis.from_energy_bounds("1 TeV", "10 TeV", 5)
        region = "icrs;circle(83.63, 22.01, 0.5)"
        return lib.RegionNDMap.create(region, axes=axes or [energy], data=data, unit=unit)

    return build(gmaps, axes and axes[0]), build(sys.modules["mapds.maps"], axes and axes[1])


def _line_data(ax):
    return [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)) for line in ax.lines]


def test_region_plot_and_hist_match_gammapy():
    gp, md = _region_pair(data=np.arange(1, 6.0))
    gp_ax = gp.plot()
    ax = md.plot(ax=plt.figure().gca())
    for (x, y), (gx, gy) in zip(_line_data(ax), _line_data(gp_ax), strict=True):
        np.testing.assert_allclose(x, gx)
        np.testing.assert_allclose(y, gy)
    for getter in ("get_xlabel", "get_ylabel", "get_xscale", "get_yscale", "get_xlim"):
        assert getattr(ax, getter)() == getattr(gp_ax, getter)()
    gp_ax = gp.plot_hist(ax=plt.figure().gca())
    ax = md.plot_hist(ax=plt.figure().gca(), color="red")
    np.testing.assert_allclose(ax.patches[0].get_path().vertices, gp_ax.patches[0].get_path().vertices)
    assert ax.get_ylabel() == gp_ax.get_ylabel() == "Data [$\\mathrm{cm^{-2}}$]"
    assert ax.get_yscale() == gp_ax.get_yscale() == "log"


def test_region_plot_of_two_axes_and_mask():
    def axes(lib):
        energy = lib.MapAxis.from_energy_bounds("1 TeV", "10 TeV", 4)
        return [energy, lib.MapAxis.from_bounds(0, 2, 2, name="offset", unit="deg")]

    data = np.arange(8.0).reshape(2, 4)
    gp, md = _region_pair(axes=(axes(gmaps), axes(sys.modules["mapds.maps"])), data=data)
    with pytest.raises(InvalidArgumentError, match="axis_name"):
        md.plot()
    gp_ax = gp.plot(axis_name="energy")
    ax = md.plot(ax=plt.figure().gca(), axis_name="energy")
    assert [line.get_label() for line in ax.lines] == [line.get_label() for line in gp_ax.lines]
    for (_, y), (_, gy) in zip(_line_data(ax), _line_data(gp_ax), strict=True):
        np.testing.assert_allclose(y, gy)
    mask = np.array([1, 1, 0, 1, 0], dtype=bool)
    gp, md = _region_pair(data=mask, unit="")
    gp_ax = gp.plot_mask()
    ax = md.plot_mask(ax=plt.figure().gca())
    assert [p.get_x() for p in ax.patches] == pytest.approx([p.get_x() for p in gp_ax.patches])
    assert len(ax.patches) == 2


# -- matplotlib stays optional ---------------------------------------------------------------------


def _module_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    if not any(name in path.read_text() for name in OPTIONAL):
        return names
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_mapds_imports_no_plotting_library_at_import_time():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _module_level_imports(path) & set(OPTIONAL)
    ]
    assert offenders == []


def test_missing_matplotlib_is_a_mapds_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependencyError, match="matplotlib"):
        pyplot()
