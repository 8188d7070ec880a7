"""Fixtures for the geometry tests: gammapy (the reference) and ways to compare with it.

Every conformance test builds the same object in mapds and in gammapy from identical public
constructor arguments (:class:`mapds.testing.GeomReference`) and compares results with
:func:`mapds.testing.assert_same` (rtol 1e-6, units and shapes exact, NaNs in the same places).
"""

from __future__ import annotations

import warnings

import dask
import pytest

import mapds.geom as mg
from mapds.testing import GeomReference, assert_same


@pytest.fixture(scope="session")
def ref():
    """The gammapy reference, a :class:`mapds.testing.GeomReference` (skips the test when gammapy
    is not installed)."""
    maps = pytest.importorskip("gammapy.maps")
    return GeomReference(maps)


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
    """:func:`mapds.testing.assert_same`, the comparison used against gammapy."""
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
