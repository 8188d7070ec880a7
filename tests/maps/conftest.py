"""Fixtures of the map tests: identical gammapy / mapds maps, and a storage array that records reads."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import numpy as np
import pytest

from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map
from mapds.maps.lazy import WindowedArray


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
    """Factory of a (gammapy map, mapds map) pair on the same geometry with the same data.

    Keyword arguments: ``npix``, ``binsz``, ``nbin`` (energy bins; 0 for an image), ``dtype``,
    ``skydir``, ``frame``, ``proj``, ``unit``, ``chunks`` (mapds chunking) and ``data``.
    """

    def factory(
        npix=(8, 6),
        binsz=0.5,
        nbin=4,
        dtype="float32",
        skydir=(10.0, 20.0),
        frame="icrs",
        proj="CAR",
        unit="",
        chunks=(2, 3, 4),
        data=None,
    ):
        g_axes = [gmaps.MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")] if nbin else None
        m_axes = [MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")] if nbin else None
        kwargs = {"npix": npix, "binsz": binsz, "skydir": skydir, "frame": frame, "proj": proj}
        g_geom = gmaps.WcsGeom.create(axes=g_axes, **kwargs)
        m_geom = WcsGeom.create(axes=m_axes, **kwargs)
        if data is None:
            if np.dtype(dtype) == bool:
                data = rng.random(g_geom.data_shape) > 0.6
            else:
                data = rng.normal(1.0, 1.0, size=g_geom.data_shape).astype(dtype)
        chunks = chunks if nbin else chunks[-2:]
        return (
            gmaps.Map.from_geom(g_geom, data=data.copy(), unit=unit),
            Map.from_geom(m_geom, data=data.copy(), unit=unit, chunks=chunks),
        )

    return factory


@pytest.fixture
def assert_map_equal():
    """Check a mapds map against the gammapy map: values, dtype, shape, unit and geometry."""

    def check(gp_map, md_map, rtol=1e-6, atol=0.0):
        values = np.asarray(md_map.data.compute())
        assert values.shape == gp_map.data.shape
        # same type; mapds reads FITS big-endian data into native byte order
        assert values.dtype == gp_map.data.dtype.newbyteorder("=")
        assert md_map.unit == gp_map.unit
        np.testing.assert_allclose(values, gp_map.data, rtol=rtol, atol=atol, equal_nan=True)
        assert md_map.geom.axes_names == list(gp_map.geom.axes_names)
        for md_axis, gp_axis in zip(md_map.geom.axes, gp_map.geom.axes, strict=True):
            if isinstance(gp_axis, gmaps.LabelMapAxis):
                assert list(md_axis.center) == list(gp_axis.center)
                continue
            np.testing.assert_allclose(md_axis.edges.value, gp_axis.edges.value, rtol=1e-12)
            assert md_axis.edges.unit == gp_axis.edges.unit
        if hasattr(gp_map.geom, "wcs") and not hasattr(gp_map.geom, "region"):
            for name in ("crpix", "cdelt", "crval"):
                np.testing.assert_allclose(
                    getattr(md_map.geom.wcs.wcs, name), getattr(gp_map.geom.wcs.wcs, name), rtol=1e-12
                )
            assert list(md_map.geom.wcs.wcs.ctype) == list(gp_map.geom.wcs.wcs.ctype)

    return check


@pytest.fixture
def storage_map():
    """Factory of a map whose data come from a :class:`CountingArray` through ``_from_source``.

    Returns ``(map, counting_array)``.
    """

    def factory(geom, data, chunks=None, unit=""):
        counting = CountingArray(np.asarray(data))
        source = WindowedArray(counting, token=f"counting-{id(counting)}")
        return Map._from_source(geom, source, chunks=chunks, unit=u.Unit(unit)), counting

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
