"""A file replaced under an open lazy map: its reads raise ``StaleFileError``, never other data.

Replacing a file (``Map.write(..., overwrite=True)`` renames a new file over it, as most tools
do) changes its size and modification time, or its ETag on object storage; each read of a lazy
map compares what it finds with what was recorded when the map was opened — locally with an
``fstat`` of the descriptor it reads, remotely with the ``If-Match`` condition the server checks
— and the record travels with the pickled graph to dask workers.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from mapds.errors import StaleFileError
from mapds.maps import Map

from .conftest import make_cube


def _backdate(path) -> None:
    """Make ``path`` look written a second ago, so that a rewrite now changes its mtime even on
    filesystems whose clock ticks coarsely."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))


@pytest.fixture
def original():
    return make_cube(npix=(30, 20), nbin=2)


def _replacement(original: Map, layout: str) -> Map:
    """Other values in the same layout (same size, same offsets), or another shape."""
    if layout == "same":
        m = original.copy()
        m.data = original.data[::-1] + 1
        return m
    return make_cube(npix=(40, 20), nbin=2)


def _assert_stale(lazy: Map) -> None:
    with pytest.raises(StaleFileError, match=r"changed since it was opened.*reopen it to see the new file"):
        lazy.data.compute()


@pytest.mark.parametrize("layout", ["same", "other"])
def test_a_local_file_replaced_under_a_lazy_map(tmp_path, original, layout):
    replacement = _replacement(original, layout)
    path = tmp_path / "cube.fits"
    original.write(path, hdu="COUNTS")
    _backdate(path)
    counts = Map.read(path, hdu="COUNTS")
    shipped = pickle.loads(pickle.dumps(counts.data))  # what a dask worker receives
    replacement.write(path, hdu="COUNTS", overwrite=True)
    _assert_stale(counts)
    with pytest.raises(StaleFileError, match=r"cube\.fits"):
        shipped.compute()
    np.testing.assert_array_equal(Map.read(path, hdu="COUNTS").data.compute(), replacement.data.compute())


def test_a_local_file_truncated_in_place_is_stale_not_corrupt(tmp_path, original):
    path = tmp_path / "cube.fits"
    original.write(path, hdu="COUNTS")
    counts = Map.read(path, hdu="COUNTS")
    with open(path, "r+b") as f:
        f.truncate(2 * 2880)
    _assert_stale(counts)


# S3 decides by the ETag alone (the layout does not matter to it) and costs ~2 s a case.
@pytest.mark.parametrize(("backend", "layout"), [("http", "same"), ("http", "other"), ("s3", "same")])
def test_a_remote_file_replaced_under_a_lazy_map(request, tmp_path, original, backend, layout):
    replacement = _replacement(original, layout)
    if backend == "http":
        server = request.getfixturevalue("http_server")
        path = f"{server.directory}/cube.fits"
        original.write(path, hdu="COUNTS")
        _backdate(path)
        url, options = f"{server.url}/cube.fits", {}

        def replace() -> None:
            replacement.write(path, hdu="COUNTS", overwrite=True)

    else:
        s3 = request.getfixturevalue("s3_server")
        prefix, options = request.getfixturevalue("s3_bucket")
        url = f"{prefix}/cube.fits"
        fs = s3.filesystem()
        original.write(tmp_path / "original.fits", hdu="COUNTS")
        replacement.write(tmp_path / "replacement.fits", hdu="COUNTS")
        fs.put(str(tmp_path / "original.fits"), url)

        def replace() -> None:
            fs.put(str(tmp_path / "replacement.fits"), url)

    counts = Map.read(url, hdu="COUNTS", storage_options=options)
    cutout = counts.slice_by_idx({"x": slice(5, 15), "y": slice(2, 12)})
    shipped = pickle.loads(pickle.dumps(cutout.data))
    replace()
    _assert_stale(counts)
    _assert_stale(cutout)
    with pytest.raises(StaleFileError):
        shipped.compute()
    reopened = Map.read(url, hdu="COUNTS", storage_options=options)
    np.testing.assert_array_equal(reopened.data.compute(), replacement.data.compute())
