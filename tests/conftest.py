"""Fixtures shared by the whole suite."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

import mapds.testing


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


@pytest.fixture
def quiet():
    """Silence warnings and log messages below ERROR (both libraries warn about checksums and
    models near the edge of the small test grids)."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


@pytest.fixture(scope="session")
def local_cluster():
    """One ``distributed.LocalCluster`` of two single-threaded worker processes for the session.

    Starting a cluster costs seconds (each worker process imports mapds), so every test that only
    needs *a* cluster shares this one; tests that kill or starve workers start their own.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture
def raise_if_dask_computes():
    """Context manager factory: ``with raise_if_dask_computes(): ...`` fails on any compute."""
    return mapds.testing.raise_if_dask_computes


# -- storage fixtures ------------------------------------------------------------------------------


@pytest.fixture
def counting_fs():
    """A byte-counting wrapper of the local filesystem, registered as ``countfile://``.

    Yields the :class:`mapds.testing.ByteCounter` (reset at the start of the test); open files
    through ``f"countfile://{path}"``.
    """
    counter = mapds.testing.counting_filesystem("file").counter
    counter.reset()
    yield counter
    counter.reset()


@pytest.fixture
def counting_memory_fs():
    """The ``countmemory://`` variant of ``memory://`` (same store), counting bytes read.

    Yields its :class:`mapds.testing.ByteCounter`, reset at the start of the test.
    """
    counter = mapds.testing.counting_filesystem("memory").counter
    counter.reset()
    yield counter
    counter.reset()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a random free port), for the whole session.

    Yields the :class:`mapds.testing.S3Server`: ``storage_options`` reach it (dummy
    credentials), ``counter`` counts the bytes it sends.
    """
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    with mapds.testing.moto_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the moto server: yields ``(s3 url prefix, storage_options)``."""
    with s3_server.bucket() as prefix:
        yield prefix, s3_server.storage_options


@pytest.fixture
def http_server(tmp_path):
    """An HTTP server on 127.0.0.1 honouring ``Range`` requests, serving a fresh directory.

    Yields the :class:`mapds.testing.HTTPServer` (``directory``, ``url``, ``counter``).
    fsspec's HTTP filesystem needs aiohttp (skips without it).
    """
    pytest.importorskip("aiohttp")
    directory = tmp_path / "http"
    directory.mkdir()
    with mapds.testing.http_range_server(directory) as server:
        yield server
