"""Fixtures for the geometry tests: gammapy (the reference) and ways to compare with it.

Every conformance test builds the same object in mapds and in gammapy from identical public
constructor arguments and compares results with :func:`assert_same` (rtol 1e-6, units and shapes
exact, NaNs in the same places).
"""

from __future__ import annotations

import warnings

import astropy.units as u
import dask
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

import mapds.geom as mg


def assert_same(ours, ref, rtol=1e-6, atol=None, path="value"):
    """Recursively compare a mapds result with gammapy's.

    Tuples/lists element-wise, SkyCoords by frame and lon/lat, Quantities by unit then values,
    arrays by shape then values (``rtol``, NaN == NaN), anything else with ``==``.  The default
    ``atol`` is 1e-12 of the largest value, so that rounding noise around zero (an edge
    extrapolated to 0) does not count.
    """
    if isinstance(ref, (tuple, list)):
        assert isinstance(ours, (tuple, list)), f"{path}: expected a sequence, got {type(ours).__name__}"
        assert len(ours) == len(ref), f"{path}: length {len(ours)} != {len(ref)}"
        for idx, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert_same(a, b, rtol=rtol, atol=atol, path=f"{path}[{idx}]")
    elif isinstance(ref, SkyCoord):
        assert isinstance(ours, SkyCoord), f"{path}: expected a SkyCoord, got {type(ours).__name__}"
        assert ours.frame.name == ref.frame.name, f"{path}: frame {ours.frame.name} != {ref.frame.name}"
        assert_same(ours.data.lon.deg, ref.data.lon.deg, rtol=rtol, atol=atol, path=f"{path}.lon")
        assert_same(ours.data.lat.deg, ref.data.lat.deg, rtol=rtol, atol=atol, path=f"{path}.lat")
    elif isinstance(ref, u.Quantity):
        assert isinstance(ours, u.Quantity), f"{path}: expected a Quantity, got {type(ours).__name__}"
        assert ours.unit == ref.unit, f"{path}: unit {ours.unit} != {ref.unit}"
        assert_same(ours.value, ref.value, rtol=rtol, atol=atol, path=path)
    elif isinstance(ref, np.ndarray) and ref.dtype.kind in "fciub":
        ours = np.asarray(ours)
        assert ours.shape == ref.shape, f"{path}: shape {ours.shape} != {ref.shape}"
        if ref.dtype.kind == "b":
            np.testing.assert_array_equal(ours, ref, err_msg=path)
        else:
            if atol is None:
                finite = np.abs(ref[np.isfinite(ref)])
                atol = 1e-12 * finite.max() if finite.size else 0.0
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=path)
    elif isinstance(ref, (float, np.floating)):
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol or 0.0, err_msg=path)
    else:
        assert np.all(ours == ref), f"{path}: {ours!r} != {ref!r}"


class Reference:
    """Builds the gammapy twin of a mapds axis or geometry from public constructor arguments."""

    def __init__(self, maps):
        self.maps = maps

    def axis(self, axis):
        if isinstance(axis, mg.LabelMapAxis):
            return self.maps.LabelMapAxis(list(axis.center), name=axis.name)
        return self.maps.MapAxis(
            axis.nodes, interp=axis.interp, name=axis.name, node_type=axis.node_type, unit=axis.unit
        )

    def axes(self, axes):
        return [self.axis(axis) for axis in axes]

    def wcs_create(self, **kwargs):
        """``gammapy.maps.WcsGeom.create`` with mapds axes in ``axes`` converted."""
        kwargs["axes"] = self.axes(kwargs.get("axes") or [])
        return self.maps.WcsGeom.create(**kwargs)

    def region_create(self, region, **kwargs):
        """``gammapy.maps.RegionGeom.create`` with mapds axes in ``axes`` converted."""
        kwargs["axes"] = self.axes(kwargs.get("axes") or [])
        return self.maps.RegionGeom.create(region, **kwargs)


@pytest.fixture(scope="session")
def ref():
    """The gammapy reference (skips the test when gammapy is not installed)."""
    maps = pytest.importorskip("gammapy.maps")
    return Reference(maps)


@pytest.fixture(autouse=True)
def _quiet_reference_warnings():
    # gammapy and astropy warn about deprecated/changed behaviour of their own internals.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.fixture
def energy_axis():
    return mg.MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)


@pytest.fixture
def rad_axis():
    return mg.MapAxis.from_bounds(0, 0.5, 4, name="rad", unit="deg")


@pytest.fixture(scope="session")
def same():
    """:func:`assert_same`, the comparison used against gammapy."""
    return assert_same


class TaskCounter:
    """A dask scheduler that runs graphs synchronously and records how many tasks each had."""

    def __init__(self):
        self.tasks: list[int] = []

    def __call__(self, dsk, keys, **kwargs):
        self.tasks.append(len(dsk.__dask_graph__()))
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def task_counter():
    """Every dask computation of the test runs on this :class:`TaskCounter`."""
    counter = TaskCounter()
    with dask.config.set(scheduler=counter):
        yield counter
