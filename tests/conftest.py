"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import dask
import pytest


def _test_data_dir() -> Path:
    """Where the real (gammapy-written) test data live: $MAPDS_TEST_DATA or ../shared/data."""
    env = os.environ.get("MAPDS_TEST_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


TEST_DATA = _test_data_dir()
CRAB_DIR = TEST_DATA / "fermi-3fhl-crab"


@pytest.fixture(scope="session")
def crab_dir() -> Path:
    """The Fermi-LAT 3FHL Crab dataset written by gammapy (skips when absent)."""
    if not (CRAB_DIR / "Fermi-LAT-3FHL_data_Fermi-LAT.fits").exists():
        pytest.skip(f"Fermi-LAT Crab test data not found in {CRAB_DIR}")
    return CRAB_DIR


class ComputeCounter:
    """A dask scheduler that counts (or forbids) computations."""

    def __init__(self, max_computes: int = 0):
        self.max_computes = max_computes
        self.count = 0

    def __call__(self, dsk, keys, **kwargs):
        self.count += 1
        if self.count > self.max_computes:
            raise RuntimeError(f"Too many dask computations: {self.count} > {self.max_computes}")
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def raise_if_dask_computes():
    """Context manager factory: ``with raise_if_dask_computes(): ...`` fails on any compute."""

    def factory(max_computes: int = 0):
        return dask.config.set(scheduler=ComputeCounter(max_computes))

    return factory
