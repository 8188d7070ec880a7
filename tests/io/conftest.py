"""Fixtures of the I/O tests: small synthetic maps and files written by gammapy."""

from __future__ import annotations

import numpy as np
import pytest

from mapds.geom import MapAxis
from mapds.maps import Map

CRAB_FILE = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_IEM = "Fermi-LAT-3FHL_iem.fits"
CRAB_HDUS = [
    "COUNTS",
    "EXPOSURE",
    "BACKGROUND",
    "EDISP",
    "EDISP_EXPOSURE",
    "PSF",
    "PSF_EXPOSURE",
    "MASK_SAFE",
]


def ramp(shape, dtype="f4", seed=0) -> np.ndarray:
    """Distinct, reproducible values (counts-like integers plus a fraction)."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(5.0, size=shape) + np.arange(np.prod(shape)).reshape(shape) % 7 / 8
    return values.astype(dtype)


def make_cube(npix=(60, 40), nbin=4, dtype="f4", chunks=None, unit="cm-2 s-1", **kwargs) -> Map:
    """A WCS map with an energy axis and distinct values."""
    axis = MapAxis.from_energy_bounds("0.1 TeV", "100 TeV", nbin)
    geom_kwargs = {"npix": npix, "binsz": 0.05, "frame": "galactic", "skydir": (10.0, 1.0), "axes": [axis]}
    geom_kwargs.update(kwargs)
    m = Map.create(**geom_kwargs, unit=unit, chunks=chunks)
    m.data = ramp(m.geom.data_shape, dtype=dtype)
    return m.rechunk(chunks) if chunks is not None else m


@pytest.fixture
def cube() -> Map:
    """A 4 x 40 x 60 float32 cube in four dask chunks."""
    return make_cube(chunks={"y": 20, "x": 30})


@pytest.fixture
def cube_file(tmp_path, cube):
    """``cube`` written to FITS as HDU ``COUNTS`` (path, map)."""
    path = tmp_path / "cube.fits"
    cube.write(path, hdu="COUNTS")
    return path, cube


@pytest.fixture
def crab_file(crab_dir):
    """The Fermi-LAT 3FHL Crab dataset file written by gammapy."""
    return crab_dir / CRAB_FILE


@pytest.fixture
def gammapy_maps():
    """gammapy.maps (skips when gammapy is absent)."""
    return pytest.importorskip("gammapy.maps")
