"""pad against gammapy (and numpy where gammapy ignores ``mode``), laziness and errors."""

from __future__ import annotations

import numpy as np
import pytest

from mapds.errors import InvalidArgumentError


@pytest.mark.parametrize("pad_width", [2, (1, 3)])
@pytest.mark.parametrize("cval", [0, 5.5])
def test_pad_spatial_constant(make_maps, assert_map_equal, pad_width, cval):
    gp, md = make_maps()
    assert_map_equal(gp.pad(pad_width, cval=cval), md.pad(pad_width, cval=cval))


def test_pad_mask(make_maps, assert_map_equal):
    gp, md = make_maps(dtype=bool)
    assert_map_equal(gp.pad(2), md.pad(2))


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric", "wrap"])
def test_pad_spatial_mode_is_honoured(make_maps, assert_map_equal, mode):
    """gammapy 2.1 pads images with ``cval`` whatever the mode; mapds honours the mode.

    The geometry must still be gammapy's; the values are numpy's ``pad`` with that mode.
    """
    gp, md = make_maps()
    padded = md.pad((2, 1), mode=mode)
    expected = gp.pad((2, 1))
    expected.data = np.pad(gp.data, [(0, 0), (1, 1), (2, 2)], mode=mode)
    assert_map_equal(expected, padded)


@pytest.mark.parametrize("mode", ["constant", "edge"])
@pytest.mark.parametrize("pad_width", [1, (0, 2)])
def test_pad_axis(make_maps, assert_map_equal, mode, pad_width):
    gp, md = make_maps(chunks=(1, 3, 4))
    expected = gp.pad(pad_width, axis_name="energy", mode=mode)
    assert_map_equal(expected, md.pad(pad_width, axis_name="energy", mode=mode))


def test_pad_shifts_crpix_and_is_lazy(make_maps, raise_if_dask_computes):
    _, md = make_maps(npix=(30, 20), chunks=(2, 5, 5))
    with raise_if_dask_computes():
        padded = md.pad(3, mode="edge")
    np.testing.assert_allclose(padded.geom.wcs.wcs.crpix, md.geom.wcs.wcs.crpix + 3)
    assert padded.data.npartitions > 1


def test_pad_errors(make_maps):
    _, md = make_maps()
    with pytest.raises(InvalidArgumentError, match="pad mode"):
        md.pad(1, mode="interp")
    with pytest.raises(InvalidArgumentError, match="pad_width"):
        md.pad(-1)
    with pytest.raises(InvalidArgumentError, match="pad_width"):
        md.pad(1.5)
