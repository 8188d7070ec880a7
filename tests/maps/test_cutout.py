"""cutout and crop against gammapy; storage push-down of cutouts."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.errors import InvalidArgumentError

INSIDE = SkyCoord(11.0, 20.5, unit="deg")
ON_EDGE = SkyCoord(8.5, 19.0, unit="deg")


@pytest.mark.parametrize("mode", ["trim", "partial"])
@pytest.mark.parametrize(
    ("position", "width"), [(INSIDE, 2 * u.deg), (ON_EDGE, (2 * u.deg, 3 * u.deg)), (INSIDE, "1.2 deg")]
)
def test_cutout(make_maps, assert_map_equal, mode, position, width):
    gp, md = make_maps(npix=(10, 8))
    assert_map_equal(gp.cutout(position, width, mode=mode), md.cutout(position, width, mode=mode))


def test_cutout_options_and_mask(make_maps, assert_map_equal):
    gp, md = make_maps(npix=(10, 8), dtype=bool)
    kwargs = {"mode": "partial", "odd_npix": True, "min_npix": 3}
    assert_map_equal(gp.cutout(ON_EDGE, 0.4 * u.deg, **kwargs), md.cutout(ON_EDGE, 0.4 * u.deg, **kwargs))


def test_cutout_strict(make_maps, assert_map_equal):
    gp, md = make_maps(npix=(10, 8))
    assert_map_equal(gp.cutout(INSIDE, 1 * u.deg, mode="strict"), md.cutout(INSIDE, 1 * u.deg, mode="strict"))
    with pytest.raises(ValueError, match="overlap only partially"):
        md.cutout(ON_EDGE, 3 * u.deg, mode="strict")
    with pytest.raises(InvalidArgumentError, match="cutout mode"):
        md.cutout(INSIDE, 1 * u.deg, mode="exact")


@pytest.mark.parametrize("width", [2, (1, 3), 1 * u.deg])
def test_crop(make_maps, assert_map_equal, width):
    gp, md = make_maps(npix=(10, 8))
    assert_map_equal(gp.crop(width), md.crop(width))


def test_crop_too_much(make_maps):
    _, md = make_maps(npix=(10, 8))
    with pytest.raises(InvalidArgumentError, match="crop"):
        md.crop(4)


@pytest.mark.parametrize("mode", ["trim", "partial"])
def test_cutout_reads_only_the_cutout(stored, raise_if_dask_computes, mode):
    md, counting, data = stored
    with raise_if_dask_computes():
        cut = md.cutout(SkyCoord(9.0, 20.5, unit="deg"), 0.5 * u.deg, mode=mode)
    assert counting.reads == []
    values = cut.data.compute()
    slices = cut.geom.cutout_slices(md.geom, mode=mode)["parent-slices"]
    window = (slice(None), *slices)
    np.testing.assert_array_equal(values, data[window])
    # one storage read per dask chunk the window crosses, together exactly the window
    assert counting.elements_read == data[window].size
    assert counting.read_bounds() == [
        (0, 4),
        (slices[0].start, slices[0].stop),
        (slices[1].start, slices[1].stop),
    ]


def test_partial_cutout_beyond_edge_reads_overlap_only(stored):
    md, counting, data = stored
    position = SkyCoord.from_pixel(1.0, 2.0, md.geom.wcs)
    cut = md.cutout(position, 1.0 * u.deg, mode="partial")
    values = cut.data.compute()
    slices = cut.geom.cutout_slices(md.geom, mode="partial")
    inner = (slice(None), *slices["cutout-slices"])
    np.testing.assert_array_equal(values[inner], data[(slice(None), *slices["parent-slices"])])
    assert np.count_nonzero(values) == values[inner].size
    assert counting.elements_read == values[inner].size


def test_crop_reads_only_the_kept_part(stored):
    md, counting, data = stored
    values = md.crop(25).data.compute()
    np.testing.assert_array_equal(values, data[:, 25:35, 25:55])
    assert counting.elements_read == values.size
