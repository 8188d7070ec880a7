"""RegionNDMap and to_region_nd_map against gammapy; laziness and windowed reads."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, PointSkyRegion

from mapds.errors import GeometryMismatchError, InvalidArgumentError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map, RegionNDMap

CIRCLE = CircleSkyRegion(SkyCoord(10.2, 19.8, unit="deg"), 0.5 * u.deg)
POINT = SkyCoord(10.33, 20.1, unit="deg")


@pytest.fixture
def cube_pair(make_maps):
    gp, md = make_maps(npix=(20, 16), binsz=0.2, nbin=4, chunks=(2, 5, 7))
    gp.data[1, 5, 5] = np.nan
    return gp, Map.from_geom(md.geom, data=gp.data.copy(), chunks=(2, 5, 7))


@pytest.fixture
def spectrum_pair(cube_pair):
    gp, md = cube_pair
    return gp.to_region_nd_map(CIRCLE), md.to_region_nd_map(CIRCLE)


def _edges(gp_map, md_map, indices):
    return (
        gmaps.MapAxis.from_energy_edges(gp_map.geom.axes["energy"].edges[indices]),
        MapAxis.from_energy_edges(md_map.geom.axes["energy"].edges[indices]),
    )


@pytest.mark.parametrize("func", [np.nansum, np.sum, np.mean, np.nanmean, np.max])
def test_to_region_nd_map(cube_pair, assert_map_equal, raise_if_dask_computes, func):
    gp, md = cube_pair
    with raise_if_dask_computes():
        spectrum = md.to_region_nd_map(CIRCLE, func=func)
    assert isinstance(spectrum, RegionNDMap)
    assert spectrum.geom.region.center.separation(CIRCLE.center) < 1e-10 * u.deg
    assert_map_equal(gp.to_region_nd_map(CIRCLE, func=func), spectrum)


def test_to_region_nd_map_whole_map_and_mask(cube_pair, make_maps, assert_map_equal):
    gp, md = cube_pair
    assert_map_equal(gp.to_region_nd_map(), md.to_region_nd_map())
    assert_map_equal(gp.get_spectrum(CIRCLE), md.get_spectrum(CIRCLE))
    gp_mask, md_mask = make_maps(npix=(20, 16), binsz=0.2, nbin=4, dtype=bool)
    assert_map_equal(
        gp_mask.to_region_nd_map(CIRCLE, func=np.any), md_mask.to_region_nd_map(CIRCLE, func=np.any)
    )


@pytest.mark.parametrize("weights_dtype", [bool, "float32"])
def test_to_region_nd_map_weights(cube_pair, assert_map_equal, rng, weights_dtype):
    gp, md = cube_pair
    weights = rng.random(gp.data.shape)
    weights = weights > 0.3 if weights_dtype is bool else weights.astype(weights_dtype)
    gp_weights = gmaps.Map.from_geom(gp.geom, data=weights)
    md_weights = Map.from_geom(md.geom, data=weights)
    assert_map_equal(
        gp.to_region_nd_map(CIRCLE, weights=gp_weights), md.to_region_nd_map(CIRCLE, weights=md_weights)
    )


@pytest.mark.parametrize("region", [POINT, PointSkyRegion(POINT)], ids=["skycoord", "point-region"])
@pytest.mark.parametrize("method", ["nearest", "linear"])
def test_to_region_nd_map_point(cube_pair, assert_map_equal, rng, region, method):
    gp, md = cube_pair
    weights = rng.random(gp.data.shape).astype("float32")
    gp_weights, md_weights = gmaps.Map.from_geom(gp.geom, data=weights), Map.from_geom(md.geom, data=weights)
    assert_map_equal(gp.to_region_nd_map(region, method=method), md.to_region_nd_map(region, method=method))
    assert_map_equal(
        gp.to_region_nd_map(region, method=method, weights=gp_weights),
        md.to_region_nd_map(region, method=method, weights=md_weights),
    )


def test_to_region_nd_map_errors(cube_pair, make_maps):
    _, md = cube_pair
    _, other = make_maps(npix=(10, 8), binsz=0.2, nbin=4)
    with pytest.raises(GeometryMismatchError, match="weights"):
        md.to_region_nd_map(CIRCLE, weights=other)
    with pytest.raises(InvalidArgumentError, match="method"):
        md.to_region_nd_map(POINT, method="cubic")


def test_to_region_nd_map_reads_only_the_region(storage_map, rng):
    axis = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    geom = WcsGeom.create(npix=(100, 80), binsz=0.05, skydir=(10, 20), axes=[axis])
    data = rng.random(geom.data_shape).astype("float32")
    md, counting = storage_map(geom, data, chunks=(3, 40, 50))
    region = CircleSkyRegion(SkyCoord(11.0, 20.5, unit="deg"), 0.2 * u.deg)
    spectrum = md.to_region_nd_map(region, func=np.sum)
    assert counting.reads == []
    values = spectrum.data.compute()
    # the region's 0.4 deg bounding box is ~8 x 8 pixels of 0.05 deg, times 3 energies
    assert counting.elements_read <= 3 * 10 * 10
    mask = geom.to_image().region_mask([region]).data.compute()
    np.testing.assert_allclose(values[:, 0, 0], data[:, mask].sum(axis=1), rtol=1e-6)
    point = md.to_region_nd_map(SkyCoord(9.0, 19.5, unit="deg")).data.compute()
    assert point.shape == (3, 1, 1)
    assert counting.elements_read <= 3 * 10 * 10 + 3


def test_create(assert_map_equal):
    g_axis = gmaps.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    m_axis = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    region = "icrs;circle(10, 20, 0.5)"
    assert_map_equal(
        gmaps.RegionNDMap.create(region, axes=[g_axis], unit="cm-2"),
        RegionNDMap.create(region, axes=[m_axis], unit="cm-2"),
    )
    data = np.arange(3.0)
    gp = gmaps.RegionNDMap.create(region, axes=[g_axis], data=data)
    md = RegionNDMap.create(region, axes=[m_axis], data=data)
    assert md.data.shape == (3, 1, 1)
    assert_map_equal(gp, md)
    assert isinstance(Map.from_geom(md.geom), RegionNDMap)


def test_region_arithmetic_and_reductions(spectrum_pair, assert_map_equal):
    gp, md = spectrum_pair
    assert_map_equal(gp.sum_over_axes(), md.sum_over_axes())
    assert_map_equal(gp * 2 + gp, md * 2 + md)
    assert isinstance(md * 2, RegionNDMap)


@pytest.mark.parametrize("preserve_counts", [True, False])
def test_region_downsample_upsample(spectrum_pair, assert_map_equal, preserve_counts):
    gp, md = spectrum_pair
    assert_map_equal(gp.downsample(2, preserve_counts=preserve_counts), md.downsample(2, preserve_counts))
    assert_map_equal(
        gp.upsample(2, preserve_counts=preserve_counts), md.upsample(2, preserve_counts=preserve_counts)
    )


def test_region_downsample_mask_is_and(make_maps, assert_map_equal):
    gp, md = make_maps(npix=(20, 16), binsz=0.2, nbin=4, dtype=bool)
    gp_spectrum = gp.to_region_nd_map(CIRCLE, func=np.any)
    md_spectrum = md.to_region_nd_map(CIRCLE, func=np.any)
    assert_map_equal(
        gp_spectrum.downsample(2, preserve_counts=False), md_spectrum.downsample(2, preserve_counts=False)
    )


def test_region_resample_axis(spectrum_pair, assert_map_equal):
    gp, md = spectrum_pair
    gp_axis, md_axis = _edges(gp, md, [0, 1, 4])
    assert_map_equal(gp.resample_axis(gp_axis), md.resample_axis(md_axis))


@pytest.mark.parametrize(
    "kwargs", [{}, {"method": "nearest"}, {"fill_value": 0}, {"values_scale": "log"}, {"fill_value": np.nan}]
)
def test_region_interp_by_coord(spectrum_pair, kwargs):
    gp, md = spectrum_pair
    energy = np.array([1.5, 3, 20, 0.5]) * u.TeV
    expected = gp.interp_by_coord({"energy": energy}, **kwargs)
    actual = md.interp_by_coord({"energy": energy}, **kwargs)
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-6, equal_nan=True)


def test_region_get_by(spectrum_pair):
    gp, md = spectrum_pair
    energy = np.array([1.5, 3, 20, 0.5]) * u.TeV
    np.testing.assert_array_equal(md.get_by_coord({"energy": energy}), gp.get_by_coord({"energy": energy}))
    np.testing.assert_array_equal(md.get_by_idx((0, 0, [1, 2])), gp.get_by_idx((0, 0, [1, 2])))


def test_region_stack(spectrum_pair, assert_map_equal, raise_if_dask_computes):
    gp, md = spectrum_pair
    gp_total, md_total = gp.copy(), md.copy()
    gp_total.stack(gp)
    with raise_if_dask_computes():
        md_total.stack(md)
    assert_map_equal(gp_total, md_total)
    with pytest.raises(GeometryMismatchError, match="same axes"):
        md_total.stack(md.sum_over_axes())


def test_interp_to_region_geom(cube_pair, spectrum_pair, make_maps, assert_map_equal, raise_if_dask_computes):
    gp, md = cube_pair
    gp_spectrum, md_spectrum = spectrum_pair
    with raise_if_dask_computes():
        out = md.interp_to_geom(md_spectrum.geom)
    assert_map_equal(gp.interp_to_geom(gp_spectrum.geom), out)
    gp_mask, md_mask = make_maps(npix=(20, 16), binsz=0.2, nbin=4, dtype=bool)
    assert_map_equal(gp_mask.interp_to_geom(gp_spectrum.geom), md_mask.interp_to_geom(md_spectrum.geom))
    gp_region_mask = gp_mask.to_region_nd_map(CIRCLE, func=np.any)
    md_region_mask = md_mask.to_region_nd_map(CIRCLE, func=np.any)
    assert_map_equal(
        gp_region_mask.interp_to_geom(gp_spectrum.geom), md_region_mask.interp_to_geom(md_spectrum.geom)
    )


def test_region_map_has_no_image(spectrum_pair):
    _, md = spectrum_pair
    assert md.cutout(POINT, 1 * u.deg) is md
    assert md.to_region_nd_map(CIRCLE) is md
    with pytest.raises(NotImplementedError):
        md.pad(1)
    with pytest.raises(NotImplementedError):
        md.crop(1)
