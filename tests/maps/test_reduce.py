"""Reductions over non-spatial axes against gammapy (NaN values are skipped, as gammapy does)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def pair_with_nan(make_maps):
    gp, md = make_maps(nbin=4)
    gp.data[1, 2, 3] = np.nan
    md.data = gp.data.copy()
    return gp, md


@pytest.mark.parametrize("keepdims", [True, False])
def test_sum_over_axes(pair_with_nan, assert_map_equal, raise_if_dask_computes, keepdims):
    gp, md = pair_with_nan
    with raise_if_dask_computes():
        summed = md.sum_over_axes(keepdims=keepdims)
    assert_map_equal(gp.sum_over_axes(keepdims=keepdims), summed)
    assert_map_equal(
        gp.sum_over_axes(axes_names=["energy"], keepdims=keepdims),
        md.sum_over_axes(axes_names=["energy"], keepdims=keepdims),
    )


def test_reduce(pair_with_nan, make_maps, assert_map_equal):
    gp, md = pair_with_nan
    assert_map_equal(gp.reduce("energy", func=np.add, keepdims=True), md.reduce("energy", keepdims=True))
    gp_mask, md_mask = make_maps(nbin=4, dtype=bool)
    assert_map_equal(
        gp_mask.reduce("energy", func=np.logical_or), md_mask.reduce("energy", func=np.logical_or)
    )


def test_reduce_without_identity(make_maps):
    """gammapy raises for ufuncs without identity (its NaN skipping needs one); mapds reduces."""
    _, md = make_maps(nbin=4)
    expected = np.maximum.reduce(md.data.compute(), axis=0)
    np.testing.assert_array_equal(md.reduce("energy", func=np.maximum).data.compute(), expected)
