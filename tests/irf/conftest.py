"""Fixtures for the IRF tests: the same objects built with gammapy (the reference) and mapds."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from dask.callbacks import Callback

from mapds.testing import GAMMAPY, MAPDS


@pytest.fixture
def both():
    """``both(build)`` -> ``(build(gammapy namespace), build(mapds namespace))``.

    The namespaces expose ``MapAxis, WcsGeom, Map, PSFMap, RecoPSFMap, PSFKernel, EDispKernel,
    EDispKernelMap, EDispMap`` of each library, so one builder makes identical inputs.
    """

    def build(builder):
        return builder(GAMMAPY), builder(MAPDS)

    return build


def survey_psf(ns, width=(6, 3)):
    """The survey benchmark's PSF (σ(E) = clip(0.1° (E/TeV)^-0.2, 0.04°, 0.2°), 66 rad bins,
    15 true-energy bins, 0.5° IRF grid) and its 0.02° exposure geometry, in library ``ns``."""
    energy_true = ns.MapAxis.from_energy_bounds(0.05, 200, 15, unit="TeV", name="energy_true")
    rad = ns.MapAxis.from_bounds(0, 0.66, 66, unit="deg", name="rad")
    irf_geom = ns.WcsGeom.create(skydir=(0, 0), frame="galactic", binsz=0.5, width=width)
    sigma = np.clip(0.1 * energy_true.center.to_value("TeV") ** -0.2, 0.04, 0.2) * u.deg
    psf = ns.PSFMap.from_gauss(energy_true, rad, sigma=sigma, geom=irf_geom)
    geom = ns.WcsGeom.create(skydir=(0, 0), frame="galactic", binsz=0.02, width=width, axes=[energy_true])
    return psf, geom


@pytest.fixture
def survey_pair(both):
    """``((gammapy psf, geom), (mapds psf, geom))`` for :func:`survey_psf`."""
    return both(survey_psf)


class ChunkSizes(Callback):
    """Dask callback recording the size (elements) of every task result computed."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []

    def _posttask(self, key, result, dsk, state, worker_id):
        self.sizes.append(int(np.size(result)))


@pytest.fixture
def chunk_sizes():
    """Context manager recording the size of every dask task result computed inside it."""
    return ChunkSizes
