"""Lookups, interpolation and interp_to_geom against gammapy; windowed reads; laziness."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import numpy as np
import pytest

import mapds.geom
from mapds.errors import GeometryMismatchError, InvalidArgumentError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map


@pytest.fixture
def maps_with_nan(make_maps):
    gp, md = make_maps(npix=(9, 7), nbin=5, chunks=(2, 3, 4))
    gp.data[0, 2, 3] = np.nan
    gp.data[3, 5, 1] = np.inf
    return gp, Map.from_geom(md.geom, data=gp.data.copy(), chunks=(2, 3, 4))


@pytest.fixture
def coords(rng):
    """Points inside, around and outside the 9 x 7 map at (10, 20), energies beyond the axis."""
    n = 60
    return {
        "lon": rng.uniform(5, 15, n),
        "lat": rng.uniform(17, 23, n),
        "energy": 10 ** rng.uniform(-0.2, 1.2, n) * u.TeV,
    }


@pytest.mark.parametrize("method", ["linear", "nearest"])
@pytest.mark.parametrize("fill_value", [None, np.nan, 0])
@pytest.mark.parametrize("values_scale", ["lin", "log", "sqrt"])
@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_interp_by_coord(maps_with_nan, coords, method, fill_value, values_scale):
    gp, md = maps_with_nan
    kwargs = {"method": method, "fill_value": fill_value, "values_scale": values_scale}
    expected = gp.interp_by_coord(dict(coords), **kwargs)
    actual = md.interp_by_coord(dict(coords), **kwargs)
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-6, equal_nan=True)


def test_interp_by_pix_broadcasts(maps_with_nan):
    gp, md = maps_with_nan
    pix = (np.linspace(-1, 9, 4)[:, None], np.linspace(0, 6, 3)[None, :], 1.3)
    expected = gp.interp_by_pix(pix)
    actual = md.interp_by_pix(pix)
    assert actual.shape == expected.shape == (4, 3)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_single_bin_axis_is_ignored(make_maps):
    gp, md = make_maps(nbin=1)
    coords = {"lon": [10.1, 10.3], "lat": [20.0, 19.9], "energy": [0.5, 30] * u.TeV}
    np.testing.assert_allclose(md.interp_by_coord(coords), gp.interp_by_coord(coords), rtol=1e-6)


@pytest.mark.parametrize("fill_value", [np.nan, 0, -1.5])
def test_get_by_coord(maps_with_nan, coords, fill_value):
    gp, md = maps_with_nan
    expected = gp.get_by_coord(dict(coords), fill_value=fill_value)
    actual = md.get_by_coord(dict(coords), fill_value=fill_value)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


def test_get_by_pix_and_idx(maps_with_nan):
    gp, md = maps_with_nan
    # includes the NaN pixel (3, 2, 0) and the inf pixel (1, 5, 3): stored values are returned as they are
    pix = (
        np.array([0.4, 0.5, 8.49, 3.0, 3.2, 1.0]),
        np.array([1.5, 2.2, 6.0, 0.0, 2.4, 5.0]),
        np.array([0.0, 4.4, 2.5, 1.0, 0.0, 3.0]),
    )
    np.testing.assert_array_equal(md.get_by_pix(pix), gp.get_by_pix(pix))
    idx = (np.array([0, 8, -1]), np.array([1, 6, 2]), np.array([0, 4, -2]))
    np.testing.assert_array_equal(md.get_by_idx(idx), gp.get_by_idx(idx))
    with pytest.raises(IndexError, match="lon"):
        md.get_by_idx((np.array([9]), np.array([0]), np.array([0])))


@pytest.mark.parametrize("method", ["linear", "nearest"])
def test_interp_at_nan_coordinates(maps_with_nan, method):
    gp, md = maps_with_nan
    pix = (np.array([4.0, np.nan]), np.array([3.0, 1.0]), np.array([2.0, 1.0]))
    expected = gp.interp_by_pix(pix, method=method)
    np.testing.assert_array_equal(md.interp_by_pix(pix, method=method), expected)
    assert np.isnan(expected[1])


def test_mask_lookup_keeps_bool(make_maps):
    gp, md = make_maps(dtype=bool)
    coords = {"lon": [10.0, 10.5], "lat": [20.0, 20.2], "energy": [2, 3] * u.TeV}
    actual = md.get_by_coord(coords)
    assert actual.dtype == bool
    np.testing.assert_array_equal(actual, gp.get_by_coord(coords))


def test_interp_errors(maps_with_nan, coords):
    _, md = maps_with_nan
    with pytest.raises(InvalidArgumentError, match="method"):
        md.interp_by_coord(dict(coords), method="cubic")
    with pytest.raises(InvalidArgumentError, match="values_scale"):
        md.interp_by_coord(dict(coords), values_scale="exp")
    with pytest.raises(GeometryMismatchError, match="pixel coordinate arrays"):
        md.interp_by_pix((np.array([1.0]), np.array([1.0])))


TARGETS = {
    "finer": {"npix": (20, 15), "binsz": 0.2, "skydir": (10.3, 20.1)},
    "galactic-tan": {
        "npix": (12, 12),
        "binsz": 0.3,
        "skydir": (80.0, 30.0),
        "frame": "galactic",
        "proj": "TAN",
    },
    # pixel centres fall exactly on source pixel edges: tests the rounding of ties
    "aligned-coarser": {"npix": (4, 3), "binsz": 1.0, "skydir": (10.0, 20.0)},
}


def _targets(name, nbin=5):
    g_axis = gmaps.MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")
    m_axis = MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")
    kwargs = TARGETS[name]
    return gmaps.WcsGeom.create(axes=[g_axis], **kwargs), WcsGeom.create(axes=[m_axis], **kwargs)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"method": "nearest"}, {"fill_value": None}, {"preserve_counts": True}, {"values_scale": "log"}],
    ids=["default", "nearest", "extrapolate", "preserve_counts", "log"],
)
@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_interp_to_geom(maps_with_nan, assert_map_equal, target, kwargs):
    gp, md = maps_with_nan
    gp_geom, md_geom = _targets(target)
    expected, actual = (
        gp.interp_to_geom(gp_geom, **kwargs),
        md.interp_to_geom(md_geom, chunks=(2, 7, 5), **kwargs),
    )
    assert_map_equal(expected, actual)


@pytest.mark.parametrize("fill_value", [0, True, None])
def test_interp_to_geom_mask(make_maps, assert_map_equal, fill_value):
    gp, md = make_maps(npix=(9, 7), nbin=5, dtype=bool)
    for target in TARGETS:
        gp_geom, md_geom = _targets(target)
        assert_map_equal(
            gp.interp_to_geom(gp_geom, fill_value=fill_value),
            md.interp_to_geom(md_geom, fill_value=fill_value),
        )


def test_interp_to_geom_image_onto_cube(maps_with_nan, assert_map_equal):
    gp, md = maps_with_nan
    gp_image, md_image = gp.sum_over_axes(keepdims=False), md.sum_over_axes(keepdims=False)
    gp_geom, md_geom = _targets("finer")
    assert_map_equal(gp_image.interp_to_geom(gp_geom), md_image.interp_to_geom(md_geom, chunks=(2, 4, 6)))


def test_interp_to_geom_axes_in_another_order(rng, assert_map_equal):
    """Axes are matched by name: a [rad, energy_true] map onto an [energy_true, rad] geometry."""
    edges = {"rad": np.linspace(0, 0.5, 6), "energy_true": np.geomspace(1, 100, 5)}
    units = {"rad": "deg", "energy_true": "TeV"}
    interps = {"rad": "lin", "energy_true": "log"}

    def axes(module, names):
        return [module.MapAxis.from_edges(edges[n], name=n, unit=units[n], interp=interps[n]) for n in names]

    kwargs = {"npix": (6, 5), "binsz": 0.4, "skydir": (0, 0)}
    gp_geom = gmaps.WcsGeom.create(axes=axes(gmaps, ["rad", "energy_true"]), **kwargs)
    md_geom = WcsGeom.create(axes=axes(mapds.geom, ["rad", "energy_true"]), **kwargs)
    data = rng.random(gp_geom.data_shape).astype("float32")
    gp = gmaps.Map.from_geom(gp_geom, data=data)
    md = Map.from_geom(md_geom, data=data, chunks=(2, 3, 5, 6))
    target = {"npix": (8, 7), "binsz": 0.3, "skydir": (0.1, 0.0)}
    gp_target = gmaps.WcsGeom.create(axes=axes(gmaps, ["energy_true", "rad"]), **target)
    md_target = WcsGeom.create(axes=axes(mapds.geom, ["energy_true", "rad"]), **target)
    assert_map_equal(gp.interp_to_geom(gp_target), md.interp_to_geom(md_target, chunks=(3, 2, 4, 4)))


def test_interp_to_geom_missing_axis(maps_with_nan):
    _, md = maps_with_nan
    with pytest.raises(GeometryMismatchError, match="energy"):
        md.interp_to_geom(WcsGeom.create(npix=5, binsz=0.5, skydir=(10, 20)))


@pytest.fixture
def stored(storage_map, rng):
    """A 4 x 60 x 80 cube (0.1 deg pixels at (10, 20)) in a counting array, 30 x 40 chunks."""
    axis = MapAxis.from_energy_bounds(1, 10, 4, unit="TeV")
    geom = WcsGeom.create(npix=(80, 60), binsz=0.1, skydir=(10, 20), axes=[axis])
    data = rng.normal(size=geom.data_shape).astype("float32")
    md, counting = storage_map(geom, data, chunks=(4, 30, 40))
    return md, counting, data


def test_points_read_only_their_neighbourhood(stored):
    md, counting, data = stored
    # two points in different chunks, far apart
    coords = {"lon": [13.4, 6.6], "lat": [17.2, 22.7], "energy": [2.0, 5.0] * u.TeV}
    values = md.interp_by_coord(coords)
    assert values.shape == (2,)
    # each point needs 2 x 2 x 2 pixels (linear in lon, lat, energy)
    assert counting.elements_read == 2 * 8
    expected = Map.from_geom(md.geom, data=data).interp_by_coord(coords)
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_interp_to_geom_is_lazy_and_reads_the_footprint(stored, raise_if_dask_computes):
    md, counting, data = stored
    target = WcsGeom.create(npix=(10, 10), binsz=0.05, skydir=(13.0, 22.0), axes=md.geom.axes)
    with raise_if_dask_computes():
        out = md.interp_to_geom(target, chunks=(4, 5, 5))
    assert counting.reads == []
    assert out.data.npartitions == 4
    values = out.data.compute()
    # the 0.5 x 0.5 deg target covers ~6 x 6 source pixels, read with a one-pixel margin
    assert counting.elements_read <= 4 * 4 * 10 * 10
    expected = Map.from_geom(md.geom, data=data).interp_to_geom(target)
    np.testing.assert_allclose(values, expected.data.compute(), rtol=1e-6)
