"""Fixtures for the dataset tests: the same small datasets built with gammapy (the reference) and
mapds (:mod:`mapds.testing.twins`), and checks that compare every member
(:mod:`mapds.testing.compare`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mapds.testing import (
    GAMMAPY,
    MAPDS,
    assert_dataset_same,
    assert_gti_same,
    assert_irf_same,
    assert_map_same,
    assert_table_same,
    build_dataset,
)
from mapds.testing import (
    dataset_pair as build_dataset_pair,
)

# Test modules of this folder import these from here as well as from mapds.testing.
__all__ = ["GAMMAPY", "MAPDS", "build_dataset", "write_observations"]


def write_observations(directory, n: int, nan_at: int | None = None) -> list:
    """``n`` mapds datasets (``obs<seed>``, GTIs 300 s apart) written alternately as zarr stores and
    gadf FITS files into ``directory``; the one at ``nan_at`` holds non-finite values."""
    paths = []
    for seed in range(n):
        dataset = build_dataset(MAPDS, seed, name=f"obs{seed}", gti_start=300.0 * seed, nan=seed == nan_at)
        path = directory / (f"obs{seed}.fits" if seed % 2 else f"obs{seed}.zarr")
        dataset.write(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def dataset_pair():
    """``dataset_pair(seed=0, **kwargs)`` -> ``(gammapy dataset, mapds dataset)``, built by
    :func:`mapds.testing.build_dataset` from the same values."""
    return build_dataset_pair


@pytest.fixture(scope="session")
def assert_same():
    """The comparison functions: ``assert_same.dataset(md, gp)``, ``.map``, ``.irf``, ``.gti``,
    ``.table``."""
    return SimpleNamespace(
        dataset=assert_dataset_same,
        map=assert_map_same,
        irf=assert_irf_same,
        gti=assert_gti_same,
        table=assert_table_same,
    )
