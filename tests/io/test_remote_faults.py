"""Remote reads against misbehaving servers: they end quickly, with an error saying what happened.

A fault-injecting proxy (:func:`mapds.testing.fault_proxy`) stands between mapds and a real
server on 127.0.0.1 — moto's S3 server or an HTTP server honouring ``Range`` — and spoils chosen
requests: it stalls, answers slowly, fails with 503, resets the connection, cuts the body short
or lies about its length.  Timeouts are a fraction of a second here (``FAST``) so that every
test takes about a second.
"""

from __future__ import annotations

import copy
import http.server
import re
import threading
import time

import dask.config
import numpy as np
import pytest

from mapds.errors import StorageError
from mapds.io.fits import FitsFile
from mapds.io.remote_options import with_remote_defaults
from mapds.maps import Map
from mapds.testing import fault_proxy

from .conftest import make_cube

#: Short timeouts, one retry, almost no backoff.
FAST = {
    "mapds.storage.connect-timeout": 0.5,
    "mapds.storage.read-timeout": 0.25,
    "mapds.storage.retries": 1,
    "mapds.storage.backoff": 0.01,
}
ATTEMPTS = 2


@pytest.fixture(autouse=True)
def fast_storage():
    with dask.config.set(FAST):
        yield


@pytest.fixture
def small_cube():
    return make_cube(npix=(50, 40), nbin=5)


@pytest.fixture(scope="module")
def s3_cube(s3_server, tmp_path_factory):
    """The cube uploaded once for the module: ``(url, storage_options)`` on the moto server."""
    path = tmp_path_factory.mktemp("s3") / "cube.fits"
    make_cube(npix=(50, 40), nbin=5).write(path, hdu="COUNTS")
    with s3_server.bucket() as prefix:
        s3_server.filesystem().put(str(path), f"{prefix}/cube.fits")
        yield f"{prefix}/cube.fits", s3_server


@pytest.fixture
def remote(request, small_cube):
    """``(url, storage_options, proxy)``: the cube as ``COUNTS`` behind a fault proxy, on the
    back end named by the test's ``backend`` parameter."""
    if request.param == "http":
        server = request.getfixturevalue("http_server")
        small_cube.write(f"{server.directory}/cube.fits", hdu="COUNTS")
        with fault_proxy(server.url) as proxy:
            yield f"{proxy.url}/cube.fits", {}, proxy
        return
    url, s3 = request.getfixturevalue("s3_cube")
    with fault_proxy(s3.endpoint_url) as proxy:
        options = copy.deepcopy(s3.storage_options)
        options["client_kwargs"]["endpoint_url"] = proxy.url
        yield url, options, proxy


def _open(url, options):
    return FitsFile.open(url, storage_options=options).read_map("COUNTS")


def _error_names_url_and_range(error: StorageError, url: str) -> None:
    assert re.search(rf"{re.escape(url)}'?, bytes \d+-\d+: ", str(error)), str(error)


@pytest.mark.parametrize(
    ("remote", "fault"),
    [("http", "stall"), ("http", "stall-body"), ("http", "delay:2"), ("s3", "stall"), ("s3", "stall-body")],
    indirect=["remote"],
)
def test_a_silent_server_fails_after_the_timeouts_and_retries(remote, fault):
    url, options, proxy = remote
    counts = _open(url, options)
    proxy.always(fault)
    start = time.perf_counter()
    with pytest.raises(StorageError) as info:
        counts.data.compute()
    elapsed = time.perf_counter() - start
    _error_names_url_and_range(info.value, url)
    assert "read timeout of 0.25 s" in str(info.value)
    assert f"gave up after {ATTEMPTS} attempts" in str(info.value)
    assert len(proxy.faults_applied()) == ATTEMPTS
    # two timeouts and a backoff (botocore's is up to 1 s): seconds, not minutes (the bound leaves
    # room for a loaded CI machine)
    assert elapsed < 10.0


@pytest.mark.parametrize("remote", ["http", "s3"], indirect=True)
def test_a_transient_failure_is_retried(remote, small_cube):
    url, options, proxy = remote
    counts = _open(url, options)
    expected = small_cube.data.compute()
    faults = ["status:503", "reset", "truncate", "short-length"]
    if "s3" not in url:  # botocore retries a 500 as it retries a 503 (and waits up to 1 s)
        faults.append("status:500")
    for fault in faults:
        proxy.inject(fault)
        np.testing.assert_array_equal(counts.data.compute(), expected)
    assert proxy.faults_applied() == faults


@pytest.mark.parametrize("remote", ["http", "s3"], indirect=True)
def test_a_persistent_503_gives_up_with_the_status(remote):
    url, options, proxy = remote
    counts = _open(url, options)
    proxy.always("status:503")
    with pytest.raises(StorageError, match=r"503") as info:
        counts.data.compute()
    _error_names_url_and_range(info.value, url)
    assert f"gave up after {ATTEMPTS} attempts" in str(info.value)
    assert len(proxy.faults_applied()) == ATTEMPTS


def test_timeouts_in_storage_options_win_over_the_config(http_server, small_cube):
    import aiohttp

    small_cube.write(f"{http_server.directory}/cube.fits", hdu="COUNTS")
    with fault_proxy(http_server.url) as proxy, dask.config.set({"mapds.storage.read-timeout": 60}):
        options = {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_read=0.2)}}
        counts = _open(f"{proxy.url}/cube.fits", options)
        proxy.always("stall")
        with pytest.raises(StorageError, match=r"read timeout of 0\.2 s"):
            counts.data.compute()


def test_remote_defaults_fill_only_what_storage_options_leave_open():
    s3 = with_remote_defaults("s3://bucket/key", {"config_kwargs": {"read_timeout": 7}})
    assert s3["config_kwargs"] == {
        "read_timeout": 7,
        "connect_timeout": 0.5,
        "retries": {"total_max_attempts": ATTEMPTS, "mode": "standard"},
    }
    http = with_remote_defaults("https://host/file.fits", None)
    timeout = http["client_kwargs"]["timeout"]
    assert (timeout.sock_connect, timeout.sock_read, timeout.total) == (0.5, 0.25, None)
    assert with_remote_defaults("/local/file.fits", {"auto_mkdir": True}) == {"auto_mkdir": True}


# -- a server that ignores Range ------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def plain_http_server(tmp_path):
    """``python -m http.server``: it answers every GET with the whole file (200), Range or not."""
    directory = tmp_path / "plain"
    directory.mkdir()

    def handler(*args, **kwargs):
        return _QuietHandler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a refused whole-file answer is never read to its end
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", directory
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_a_server_ignoring_range_is_named_as_such(plain_http_server, small_cube):
    url, directory = plain_http_server
    small_cube.write(directory / "cube.fits", hdu="COUNTS")
    # A file smaller than the merge gap is read whole when opened (asking for all of it is fine)...
    counts = Map.read(f"{url}/cube.fits", hdu="COUNTS")
    cutout = counts.slice_by_idx({"x": slice(10, 20), "y": slice(5, 15)})
    with pytest.raises(StorageError, match="does not serve byte ranges") as info:
        cutout.data.compute()
    _error_names_url_and_range(info.value, f"{url}/cube.fits")
    assert "file ends" not in str(info.value)
    # ... a larger one fails when opened, without downloading it.
    with dask.config.set({"mapds.storage.merge-gap": 4096, "mapds.storage.header-bytes": 2880}):
        with pytest.raises(StorageError, match="does not serve byte ranges"):
            Map.read(f"{url}/cube.fits", hdu="COUNTS")


def test_a_503_when_opening_is_retried_and_not_read_as_a_missing_file(http_server, small_cube):
    small_cube.write(f"{http_server.directory}/cube.fits", hdu="COUNTS")
    with fault_proxy(http_server.url, ranged_only=False) as proxy:
        url = f"{proxy.url}/cube.fits"
        # fsspec asks with HEAD, then with GET: both fail once, the retry succeeds
        proxy.inject("status:503", "status:503")
        assert FitsFile.open(url).names == ["PRIMARY", "COUNTS", "COUNTS_BANDS"]
        proxy.always("status:503")
        with pytest.raises(StorageError, match=r"cube\.fits'?: the server answered HTTP 503") as info:
            FitsFile.open(url)
        assert not isinstance(info.value, FileNotFoundError)
