"""Lookups and interpolation at scattered points against gammapy; windowed reads."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from mapds.errors import GeometryMismatchError, InvalidArgumentError
from mapds.maps import Map


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
