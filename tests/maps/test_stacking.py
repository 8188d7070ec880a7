"""stack (in place), from_stack and split_by_axis against gammapy; errors; laziness."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.errors import GeometryMismatchError, UnitMismatchError
from mapds.geom import LabelMapAxis, WcsGeom
from mapds.maps import Map


@pytest.fixture
def two_pairs(make_maps):
    """Two (gammapy, mapds) pairs on the same 30 x 24 grid; the second has a NaN and an inf."""
    first = make_maps(npix=(30, 24), binsz=0.1, nbin=3, chunks=(1, 7, 9))
    gp, _ = make_maps(npix=(30, 24), binsz=0.1, nbin=3)
    gp.data[0, 0, 0] = np.inf
    gp.data[1, 10, 12] = np.nan
    second = gp, Map.from_geom(first[1].geom, data=gp.data.copy(), chunks=(1, 7, 9))
    return first, second


@pytest.mark.parametrize(
    ("position", "mode"),
    [(None, None), ((10.5, 20.3), "trim"), ((8.6, 19.0), "trim"), ((8.6, 19.0), "partial")],
    ids=["same-geometry", "inner-cutout", "edge-cutout", "partial-cutout"],
)
def test_stack(two_pairs, assert_map_equal, raise_if_dask_computes, position, mode):
    (gp, md), (gp2, md2) = two_pairs
    if position is not None:
        skydir = SkyCoord(*position, unit="deg")
        gp2, md2 = gp2.cutout(skydir, 1 * u.deg, mode=mode), md2.cutout(skydir, 1 * u.deg, mode=mode)
    gp.stack(gp2)
    with raise_if_dask_computes():
        md.stack(md2)
    assert_map_equal(gp, md)


def test_stack_units_weights_and_nan(two_pairs, assert_map_equal, rng):
    (gp, md), (gp2, md2) = two_pairs
    gp_target = gmaps.Map.from_geom(gp.geom, data=gp.data.copy(), unit="m2 s")
    md_target = Map.from_geom(md.geom, data=gp.data, unit="m2 s")
    gp_other = gmaps.Map.from_geom(gp2.geom, data=gp2.data, unit="cm2 s")
    md_other = Map.from_geom(md2.geom, data=gp2.data, unit="cm2 s")
    weights = rng.random(gp.data.shape) > 0.5
    gp_target.stack(gp_other, weights=gmaps.Map.from_geom(gp.geom, data=weights))
    md_target.stack(md_other, weights=Map.from_geom(md.geom, data=weights))
    assert_map_equal(gp_target, md_target)
    # without nan_to_num the NaN and inf of other propagate, as in gammapy
    gp.stack(gp2, nan_to_num=False)
    md.stack(md2, nan_to_num=False)
    assert_map_equal(gp, md)


def test_stack_masks_or(make_maps, assert_map_equal):
    gp, md = make_maps(dtype=bool)
    gp2, md2 = make_maps(dtype=bool)
    gp.stack(gp2)
    md.stack(md2)
    assert_map_equal(gp, md)


def test_stack_cutout_reads_only_what_it_needs(storage_map, rng):
    """Stacking a cutout of a stored map: chunks away from it do not read the other map."""
    geom = WcsGeom.create(npix=(40, 30), binsz=0.1, skydir=(10, 20))
    data = rng.random((2, *geom.data_shape)).astype("float32")
    target, _ = storage_map(geom, data[0], chunks=(10, 10))
    other, counting = storage_map(geom, data[1], chunks=(10, 10))
    cutout = other.cutout(SkyCoord(11.5, 21.2, unit="deg"), 0.5 * u.deg)
    target.stack(cutout)
    far_corner = target.data.blocks[0, 0].compute()
    np.testing.assert_array_equal(far_corner, data[0, :10, :10])
    assert counting.reads == []
    values = target.data.compute()
    assert counting.elements_read == cutout.data.size
    slices = cutout.geom.cutout_slices(geom)["parent-slices"]
    expected = data[0].copy()
    expected[slices] += data[1][slices]
    np.testing.assert_array_equal(values, expected)


def test_stack_errors(two_pairs, make_maps):
    (_, md), (_, md2) = two_pairs
    other = Map.from_geom(WcsGeom.create(npix=(30, 24), binsz=0.11, skydir=(10, 20), axes=md.geom.axes))
    with pytest.raises(GeometryMismatchError, match=r"equivalent maps or cutout.*\(3, 24, 30\)"):
        md.stack(other)
    with pytest.raises(UnitMismatchError, match="deg"):
        md.stack(Map.from_geom(md2.geom, data=md2.data, unit="deg"))
    weights = Map.from_geom(WcsGeom.create(npix=(5, 5), binsz=0.1))
    with pytest.raises(GeometryMismatchError, match="weights"):
        md.stack(md2, weights=weights)
    with pytest.raises(GeometryMismatchError, match="inconsistent geometries"):
        md + other


def test_from_stack_along_existing_axis(two_pairs, assert_map_equal, raise_if_dask_computes):
    """Energy bins 0-1 of one map (in m2) and bin 2 of another (in cm2), joined in m2."""
    (gp, md), (gp2, md2) = two_pairs
    low, high = {"energy": slice(0, 2)}, {"energy": slice(2, 3)}
    gp_low, md_low = gp.slice_by_idx(low), md.slice_by_idx(low)
    gp_high, md_high = gp2.slice_by_idx(high), md2.slice_by_idx(high)
    gp_parts = [
        gmaps.Map.from_geom(gp_low.geom, data=gp_low.data, unit="m2"),
        gmaps.Map.from_geom(gp_high.geom, data=gp_high.data, unit="cm2"),
    ]
    md_parts = [
        Map.from_geom(md_low.geom, data=md_low.data, unit="m2"),
        Map.from_geom(md_high.geom, data=md_high.data, unit="cm2"),
    ]
    with raise_if_dask_computes():
        stacked = Map.from_stack(md_parts)
    assert_map_equal(gmaps.Map.from_stack(gp_parts), stacked)
    assert_map_equal(
        gmaps.Map.from_stack(gp_parts, axis_name="energy"), Map.from_stack(md_parts, axis_name="energy")
    )


def test_from_stack_new_axis_and_split(two_pairs, assert_map_equal):
    (gp, md), (gp2, md2) = two_pairs
    gp_stacked = gmaps.Map.from_stack([gp, gp2], axis=gmaps.LabelMapAxis(["a", "b"], name="obs"))
    md_stacked = Map.from_stack([md, md2], axis=LabelMapAxis(["a", "b"], name="obs"))
    assert md_stacked.geom.axes.names == ["energy", "obs"]
    assert_map_equal(gp_stacked, md_stacked)
    for gp_part, md_part in zip(
        gp_stacked.split_by_axis("obs"), md_stacked.split_by_axis("obs"), strict=True
    ):
        assert_map_equal(gp_part, md_part)


def test_from_stack_errors(two_pairs, make_maps):
    (_, md), _ = two_pairs
    _, other = make_maps(npix=(30, 24), binsz=0.2, nbin=3)
    with pytest.raises(GeometryMismatchError, match="not aligned"):
        Map.from_stack([md, other], axis=LabelMapAxis(["a", "b"], name="obs"))
    _, image = make_maps(nbin=0)
    with pytest.raises(GeometryMismatchError, match="non-spatial axis"):
        Map.from_stack([image, image])


def test_add_values_zeroes_only_non_finite_values():
    """The finite-sum shortcut: a sum that overflows (finite values) or is NaN (a NaN among
    them) falls back to the element-wise check."""
    from mapds.maps.stacking import add_values

    big = np.array([3e38, 3e38, -1.0], dtype=np.float32)  # finite, but its sum overflows
    np.testing.assert_array_equal(add_values(np.zeros(3, np.float32), big), big)
    mixed = np.array([np.nan, 2.0, np.inf], dtype=np.float32)
    np.testing.assert_array_equal(add_values(np.ones(3, np.float32), mixed), [1.0, 3.0, 1.0])
    counts = np.array([0, 3, 65535], dtype=np.uint16)  # counts as stored, added to float32
    np.testing.assert_array_equal(add_values(np.ones(3, np.float32), counts, scale=2.0), [1.0, 7.0, 131071.0])
