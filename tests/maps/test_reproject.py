"""``Map.reproject_to_geom`` against gammapy on identical inputs, lazily."""

from __future__ import annotations

import warnings

import gammapy.maps as gp_maps
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

import mapds.maps as md_maps
from mapds.errors import GeometryMismatchError

DATA = np.random.default_rng(1).random((3, 40, 50)).astype(np.float32)

TARGETS = {
    "coarser-car": {"skydir": (0.3, 0.2), "npix": (20, 15), "binsz": 0.17, "frame": "galactic"},
    "finer-tan-icrs": {
        "skydir": SkyCoord(0.2, 0.1, unit="deg", frame="galactic").icrs,
        "npix": (30, 30),
        "binsz": 0.07,
        "frame": "icrs",
        "proj": "TAN",
    },
}


def _map(maps, cube: bool = True):
    axes = [maps.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")] if cube else []
    geom = maps.WcsGeom.create(skydir=(0, 0), npix=(50, 40), binsz=0.1, frame="galactic", axes=axes)
    return maps.Map.from_geom(geom, data=(DATA if cube else DATA[0]).copy(), unit="cm-2")


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("preserve_counts", [False, True], ids=["mean", "counts"])
@pytest.mark.parametrize("cube", [True, False], ids=["cube", "image"])
def test_reproject_matches_gammapy(target, preserve_counts, cube):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _map(gp_maps, cube).reproject_to_geom(
            gp_maps.WcsGeom.create(**TARGETS[target]), preserve_counts=preserve_counts
        )
    result = _map(md_maps, cube).reproject_to_geom(
        md_maps.WcsGeom.create(**TARGETS[target]), preserve_counts=preserve_counts
    )
    assert result.geom.data_shape == tuple(int(n) for n in expected.geom.data_shape)
    assert result.unit == expected.unit and result.data.dtype == expected.data.dtype
    np.testing.assert_allclose(np.asarray(result.data), expected.data, rtol=1e-5, atol=1e-6)


def test_reproject_is_lazy_and_chunked(raise_if_dask_computes):
    source = _map(md_maps).rechunk({"x": 10, "y": 10})
    with raise_if_dask_computes():
        result = source.reproject_to_geom(md_maps.WcsGeom.create(**TARGETS["coarser-car"]))
    assert result.data.npartitions >= 1
    assert np.isfinite(np.asarray(result.data)).all()


def test_reproject_needs_wcs_geometries_and_the_same_axes():
    source = _map(md_maps)
    other_axis = md_maps.MapAxis.from_energy_bounds(1, 10, 5, unit="TeV")
    with pytest.raises(GeometryMismatchError, match="non-spatial axes"):
        source.reproject_to_geom(md_maps.WcsGeom.create(npix=10, axes=[other_axis]))
    region = md_maps.RegionGeom.create("galactic;circle(0, 0, 0.5)")
    with pytest.raises(GeometryMismatchError, match="WCS geometries"):
        source.reproject_to_geom(region)
