"""downsample, upsample and resample_axis against gammapy, laziness and errors."""

from __future__ import annotations

import gammapy.maps as gmaps
import numpy as np
import pytest

from mapds.errors import AxisError, GeometryMismatchError, InvalidArgumentError
from mapds.geom import MapAxis
from mapds.maps import Map


@pytest.mark.parametrize("preserve_counts", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64", bool])
def test_downsample_spatial(make_maps, assert_map_equal, preserve_counts, dtype):
    gp, md = make_maps(npix=(12, 8), dtype=dtype, chunks=(2, 3, 5))
    assert_map_equal(gp.downsample(2, preserve_counts=preserve_counts), md.downsample(2, preserve_counts))


def test_downsample_ignores_nan(make_maps, assert_map_equal):
    gp, md = make_maps(npix=(12, 8))
    gp.data[1, 2, 3] = np.nan
    md = Map.from_geom(md.geom, data=gp.data.copy(), chunks=(1, 5, 7))
    assert_map_equal(gp.downsample(4), md.downsample(4))


@pytest.mark.parametrize("preserve_counts", [True, False])
def test_downsample_weights(make_maps, assert_map_equal, rng, preserve_counts):
    gp, md = make_maps(npix=(12, 8))
    weights = (rng.random(gp.data.shape) > 0.4).astype("float32")
    gp_weights = gmaps.Map.from_geom(gp.geom, data=weights)
    md_weights = Map.from_geom(md.geom, data=weights)
    assert_map_equal(
        gp.downsample(2, preserve_counts=preserve_counts, weights=gp_weights),
        md.downsample(2, preserve_counts=preserve_counts, weights=md_weights),
    )


def test_downsample_axis(make_maps, assert_map_equal):
    gp, md = make_maps(nbin=6, chunks=(4, 3, 3))
    assert_map_equal(gp.downsample(3, axis_name="energy"), md.downsample(3, axis_name="energy"))


def test_downsample_streams_by_chunk(make_maps, raise_if_dask_computes):
    _, md = make_maps(npix=(40, 30), chunks=(1, 7, 9))
    with raise_if_dask_computes():
        out = md.downsample(5)
    # input chunks are rounded to multiples of 5 (9 -> 10, 7 -> 5), then each block shrinks 5x:
    # one output block per input block, nothing is gathered into one chunk
    assert out.data.chunks[-2:] == ((1,) * 6, (2,) * 4)
    np.testing.assert_allclose(out.data.sum().compute(), md.data.sum().compute(), rtol=1e-5)


def test_downsample_errors(make_maps):
    _, md = make_maps(npix=(9, 6))
    with pytest.raises(GeometryMismatchError, match="not divisible"):
        md.downsample(2)
    with pytest.raises(InvalidArgumentError, match="positive integer"):
        md.downsample(1.5)
    with pytest.raises(InvalidArgumentError, match="positive integer"):
        md.downsample(0)
    with pytest.raises(AxisError):
        md.downsample(3, axis_name="energy")


@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("preserve_counts", [True, False])
def test_upsample_spatial(make_maps, assert_map_equal, order, preserve_counts):
    gp, md = make_maps(npix=(7, 5), chunks=(2, 2, 3))
    expected = gp.upsample(3, order=order, preserve_counts=preserve_counts)
    assert_map_equal(expected, md.upsample(3, order=order, preserve_counts=preserve_counts), rtol=1e-5)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_upsample_axis(make_maps, assert_map_equal, order):
    gp, md = make_maps(nbin=4, chunks=(1, 3, 3))
    expected = gp.upsample(2, order=order, axis_name="energy")
    assert_map_equal(expected, md.upsample(2, order=order, axis_name="energy"), rtol=1e-5)


def test_upsample_mask(make_maps, assert_map_equal):
    gp, md = make_maps(dtype=bool)
    assert_map_equal(gp.upsample(2, preserve_counts=False), md.upsample(2, preserve_counts=False))


def test_upsample_lazy(make_maps, raise_if_dask_computes):
    _, md = make_maps(npix=(20, 16), chunks=(2, 5, 5))
    with raise_if_dask_computes():
        out = md.upsample(2, order=1)
    assert out.data.npartitions > 1
    assert out.geom.data_shape == (4, 32, 40)


def test_upsample_bad_order(make_maps):
    _, md = make_maps()
    with pytest.raises(InvalidArgumentError, match="order"):
        md.upsample(2, order=7)


def _axes(gp, md, indices):
    gp_axis = gmaps.MapAxis.from_energy_edges(gp.geom.axes["energy"].edges[indices])
    md_axis = MapAxis.from_energy_edges(md.geom.axes["energy"].edges[indices])
    return gp_axis, md_axis


@pytest.mark.parametrize("indices", [[0, 2, 4], [0, 1, 4], [1, 3]])
def test_resample_axis_sum(make_maps, assert_map_equal, indices):
    gp, md = make_maps(nbin=4, chunks=(1, 3, 4))
    gp_axis, md_axis = _axes(gp, md, indices)
    assert_map_equal(gp.resample_axis(gp_axis), md.resample_axis(md_axis))


def test_resample_axis_mask_or_and_weights(make_maps, assert_map_equal, rng):
    gp, md = make_maps(nbin=4, dtype=bool)
    gp_axis, md_axis = _axes(gp, md, [0, 3, 4])
    assert_map_equal(
        gp.resample_axis(gp_axis, ufunc=np.logical_or), md.resample_axis(md_axis, ufunc=np.logical_or)
    )
    values, _ = make_maps(nbin=4)
    weights = rng.random(gp.data.shape) > 0.5
    gp_values = gmaps.Map.from_geom(gp.geom, data=values.data)
    md_values = Map.from_geom(md.geom, data=values.data, chunks=(2, 3, 3))
    assert_map_equal(
        gp_values.resample_axis(gp_axis, weights=gmaps.Map.from_geom(gp.geom, data=weights)),
        md_values.resample_axis(md_axis, weights=Map.from_geom(md.geom, data=weights)),
    )


def test_resample_axis_lazy_and_unknown_axis(make_maps, raise_if_dask_computes):
    gp, md = make_maps(nbin=4)
    _, md_axis = _axes(gp, md, [0, 2, 4])
    with raise_if_dask_computes():
        md.resample_axis(md_axis)
    with pytest.raises(AxisError, match="energy_true"):
        md.resample_axis(md_axis.rename("energy_true"))
