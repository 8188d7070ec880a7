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


# -- storage fixtures ------------------------------------------------------------------------------


class ByteCounter:
    """Records every read made through a :class:`CountingFileSystem` (shared by its instances)."""

    def __init__(self):
        self.reads: list[tuple[str, int, int]] = []

    def reset(self) -> None:
        self.reads.clear()

    @property
    def bytes_read(self) -> int:
        return sum(n for _, _, n in self.reads)

    def ranges(self, path: str | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of the reads (of one file when ``path`` is given)."""
        return [(s, s + n) for p, s, n in self.reads if path is None or p.endswith(path)]

    def bytes_in(self, start: int, end: int, path: str | None = None) -> int:
        """Bytes read that fall inside ``[start, end)``."""
        return sum(max(0, min(e, end) - max(s, start)) for s, e in self.ranges(path))


def _counting_filesystem_class():
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class CountingFile:
        """File object of the real local filesystem that records what ``read`` returns."""

        def __init__(self, f, path, counter):
            self._f, self._path, self._counter = f, path, counter

        def read(self, n=-1):
            start = self._f.tell()
            data = self._f.read(n)
            self._counter.reads.append((self._path, start, len(data)))
            return data

        def readinto(self, buf):
            start = self._f.tell()
            n = self._f.readinto(buf)
            self._counter.reads.append((self._path, start, n or 0))
            return n

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

        def __iter__(self):
            return iter(self._f)

    class CountingFileSystem(LocalFileSystem):
        """The local filesystem under the ``countfile://`` protocol, counting bytes read.

        Every read path of fsspec (``cat_file``, ``cat_ranges``, ``open().read``) goes through
        the file objects returned by ``_open``, so wrapping them counts each byte once.
        """

        protocol = ("countfile",)
        counter = ByteCounter()

        @classmethod
        def _strip_protocol(cls, path):
            path = str(path)
            if path.startswith("countfile://"):
                path = path[len("countfile://") :]
            return LocalFileSystem._strip_protocol(path)

        def unstrip_protocol(self, name):
            return f"countfile://{self._strip_protocol(name)}"

        def _open(self, path, mode="rb", **kwargs):
            f = super()._open(path, mode=mode, **kwargs)
            return CountingFile(f, self._strip_protocol(path), self.counter) if "r" in mode else f

    fsspec.register_implementation("countfile", CountingFileSystem, clobber=True)
    return CountingFileSystem


@pytest.fixture
def counting_fs():
    """A byte-counting wrapper of the local filesystem, registered as ``countfile://``.

    Yields the :class:`ByteCounter` (reset at the start of the test); open files through
    ``f"countfile://{path}"``.
    """
    cls = _counting_filesystem_class()
    cls.counter.reset()
    yield cls.counter
    cls.counter.reset()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (a random free port), for the whole session.

    Yields the fsspec ``storage_options`` that reach it (dummy credentials).
    """
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "key": "testing",
        "secret": "testing",
        "anon": False,
        "client_kwargs": {"endpoint_url": f"http://{host}:{port}"},
        "skip_instance_cache": True,
    }
    yield options
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the moto server: yields ``(s3 url prefix, storage_options)``."""
    import uuid

    import s3fs

    fs = s3fs.S3FileSystem(**s3_server)
    name = f"test-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    yield f"s3://{name}", s3_server
    fs.rm(name, recursive=True)
