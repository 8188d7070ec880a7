"""Fixtures of the map tests: identical gammapy / mapds maps, and a storage array that records reads."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map
from mapds.maps.lazy import WindowedArray
from mapds.testing import assert_map_same, map_pair


class CountingArray:
    """An in-memory array served through the storage protocol, recording every read.

    Wrapped in a :class:`~mapds.maps.lazy.WindowedArray` it plays the role of a FITS or zarr
    reader, so tests can check which bytes a computation asks storage for.
    """

    def __init__(self, data: np.ndarray):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads: list[tuple] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.data[key]

    @property
    def elements_read(self) -> int:
        return sum(int(np.prod(self.data[key].shape)) for key in self.reads)

    def read_bounds(self) -> list[tuple[int, int]]:
        """Smallest ``[start, stop)`` per dimension covering every slice read."""
        bounds = []
        for dim in range(self.data.ndim):
            keys = [key[dim] for key in self.reads]
            bounds.append((min(k.start for k in keys), max(k.stop for k in keys)))
        return bounds


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def make_maps(rng):
    """Factory of a (gammapy map, mapds map) pair on the same geometry with the same data
    (:func:`mapds.testing.map_pair`, random data drawn from ``rng``).

    Keyword arguments: ``npix``, ``binsz``, ``nbin`` (energy bins; 0 for an image), ``dtype``,
    ``skydir``, ``frame``, ``proj``, ``unit``, ``chunks`` (mapds chunking) and ``data``.
    """

    def factory(**kwargs):
        return map_pair(rng, **kwargs)

    return factory


@pytest.fixture
def assert_map_equal():
    """Check a mapds map against the gammapy map: values, dtype, shape, unit and geometry
    (:func:`mapds.testing.assert_map_same`, called as ``check(gp_map, md_map, rtol, atol)``)."""

    def check(gp_map, md_map, rtol=1e-6, atol=0.0):
        assert_map_same(md_map, gp_map, rtol=rtol, atol=atol)

    return check


@pytest.fixture
def storage_map():
    """Factory of a map whose data come from a :class:`CountingArray` through ``Map.from_lazy_array``.

    Returns ``(map, counting_array)``.
    """

    def factory(geom, data, chunks=None, unit=""):
        counting = CountingArray(np.asarray(data))
        source = WindowedArray(counting, token=f"counting-{id(counting)}")
        return Map.from_lazy_array(geom, source, chunks=chunks, unit=u.Unit(unit)), counting

    return factory


@pytest.fixture
def maps_with_nan(make_maps):
    """A 5 x 7 x 9 pair with a NaN at (x=3, y=2, e=0) and an inf at (x=1, y=5, e=3)."""
    gp, md = make_maps(npix=(9, 7), nbin=5, chunks=(2, 3, 4))
    gp.data[0, 2, 3] = np.nan
    gp.data[3, 5, 1] = np.inf
    return gp, Map.from_geom(md.geom, data=gp.data.copy(), chunks=(2, 3, 4))


@pytest.fixture
def stored(storage_map, rng):
    """``(map, counting array, data)``: a 4 x 60 x 80 cube (0.1 deg pixels at (10, 20)) stored
    in a :class:`CountingArray`, opened with 4 x 30 x 40 chunks."""
    axis = MapAxis.from_energy_bounds(1, 10, 4, unit="TeV")
    geom = WcsGeom.create(npix=(80, 60), binsz=0.1, skydir=(10, 20), axes=[axis])
    data = rng.normal(size=geom.data_shape).astype("float32")
    md, counting = storage_map(geom, data, chunks=(4, 30, 40))
    return md, counting, data
