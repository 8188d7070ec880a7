"""One set of storage checks over every back end × every format.

Back ends: a local path, ``memory://``, ``s3://`` (moto on 127.0.0.1) and ``http://`` (a local
server honouring ``Range``); formats: FITS, gzip FITS and zarr.  For each pair a map and a
dataset are stored, opened lazily, summed, cut out and evaluated:

- opening reads no pixel bytes: FITS only headers and small tables; zarr only metadata and
  coordinates; gzip FITS is streamed once into the zarr cache (it cannot be read at random: its
  first 2880 bytes, then the whole file), and opening it again reads only its first 2880 bytes;
  on object storage (S3, HTTP), where a request costs more than the bytes it saves, opening a
  FITS file smaller than ``mapds.storage.merge-gap`` is one request for the whole file;
- sums equal the in-memory values exactly (the values are integers and eighths);
- a cutout reads only its bytes: FITS between 1× and 1.5× the pixels it needs, all inside the
  image's data section — on object storage at most one request per ``merge-gap`` block of the
  file it touches, within those blocks; zarr exactly the chunks it overlaps, each once; gzip
  FITS nothing from the source (the cache serves it);
- a dataset's ``stat_sum`` equals the in-memory one and, exactly, the one of the same file read
  from a local path — so it is the same on every back end.

How bytes are counted (:mod:`mapds.testing.storage`): S3 and HTTP servers count what they send;
a local path is counted through ``countfile://`` and ``memory://`` through ``countmemory://``
(the same files and code paths, but fsspec sees every read — a plain local path is read with
``pread``, which it does not).  mapds writes neither gzip FITS nor anything over HTTP: gzip
files are compressed locally and uploaded, and the HTTP server serves files written locally.
zarr over HTTP is read through fsspec's ``HTTPFileSystem`` (read-only): mapds writes zarr stores
with consolidated metadata, so reading needs no directory listing.
"""

from __future__ import annotations

import gzip
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import dask.config
import fsspec
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.datasets import MapDataset
from mapds.maps import Map
from mapds.testing import MAPDS, ByteCounter, build_dataset, fits_image_spans, image_bytes_read, sky_models

from .conftest import make_cube

BACKENDS = ["local", "memory", "s3", "http"]
FORMATS = ["fits", "gzip", "zarr"]
SUFFIX = {"fits": ".fits", "gzip": ".fits.gz", "zarr": ".zarr"}
#: Chunks of the stored cube (the zarr chunks): 3 × 3 tiles of 40 × 100 pixels.
CUBE_CHUNKS = {"y": 40, "x": 100}
#: A 1° cutout straddling tile boundaries in x and y.
CUTOUT = {"position": SkyCoord(7.5, 0.0, unit="deg", frame="galactic"), "width": 1 * u.deg}
DATASET_MAPS = ("counts", "exposure", "background", "mask_safe", "mask_fit")
DATASET_MAPS += ("psf", "psf_exposure", "edisp", "edisp_exposure")

#: Known failures, checked strictly (an unexpected pass fails too): (test, back end, format) -> reason.
KNOWN_FAILURES: dict[tuple[str, str, str], str] = {}


@dataclass
class Store:
    """Where one test's files live on one back end.

    ``url`` is where files are written and read, ``counted_url`` reaches the same files with
    every read recorded in ``counter``; ``local`` holds a local copy of everything stored (what
    the HTTP server serves, for the others a download), from which expected byte spans are taken.
    """

    backend: str
    url: str
    counted_url: str
    counter: ByteCounter
    storage_options: dict
    local: Path

    @property
    def writable(self) -> bool:
        return self.backend != "http"

    @property
    def remote(self) -> bool:
        """Object storage: ranges closer than the merge gap are one request, reads go ahead."""
        return self.backend in ("s3", "http")

    def head_bytes(self, name: str) -> int:
        """Bytes of ``name`` that opening it reads first (to recognise gzip, and FITS headers)."""
        if not self.remote:
            return 2880
        size = self.size(name)
        return size if size <= _merge_gap() else max(2880, dask.config.get("mapds.storage.header-bytes"))

    def at(self, name: str, counted: bool = False) -> str:
        return f"{self.counted_url if counted else self.url}/{name}"

    def fs(self):
        return fsspec.core.url_to_fs(self.url, **self.storage_options)[0]

    def upload(self, name: str) -> None:
        """Copy ``local/name`` (a file or a directory) to the store (nothing for local/http)."""
        if self.backend in ("memory", "s3"):
            fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            fs.put(str(self.local / name), f"{root}/{name}", recursive=(self.local / name).is_dir())

    def download(self, name: str) -> None:
        """Copy the stored ``name`` to ``local/name`` (nothing for local/http)."""
        if self.backend in ("memory", "s3"):
            fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            fs.get(f"{root}/{name}", str(self.local / name), recursive=fs.isdir(f"{root}/{name}"))

    def size(self, name: str) -> int:
        return (self.local / name).stat().st_size

    def store(self, obj, name: str, fmt: str, **write_kwargs) -> None:
        """Write a map or dataset as ``name`` in format ``fmt``, and keep a local copy."""
        if fmt == "gzip":
            plain = self.local / f"plain-{name.removesuffix('.gz')}"
            obj.write(plain, **write_kwargs)
            (self.local / name).write_bytes(gzip.compress(plain.read_bytes()))
            self.upload(name)
        elif self.backend == "s3":
            # Written locally and uploaded: a zarr store written through moto is hundreds of small
            # requests (tens of seconds); writing to S3 itself is tested in test_remote.py.
            obj.write(self.local / name, **write_kwargs)
            self.upload(name)
        elif self.writable:
            obj.write(self.at(name), storage_options=self.storage_options, **write_kwargs)
            self.download(name)
        else:
            obj.write(self.local / name, **write_kwargs)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path, monkeypatch):
    """A :class:`Store` on each back end (its servers and counters from tests/conftest.py)."""
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "cache"))
    local = tmp_path / "local"
    if request.param == "local":
        counter = request.getfixturevalue("counting_fs")
        local.mkdir()
        return Store("local", str(local), f"countfile://{local}", counter, {}, local)
    if request.param == "memory":
        counter = request.getfixturevalue("counting_memory_fs")
        local.mkdir()
        root = f"mapds-{uuid.uuid4().hex[:12]}"
        memory = fsspec.filesystem("memory")
        request.addfinalizer(lambda: memory.exists(f"/{root}") and memory.rm(f"/{root}", recursive=True))
        return Store("memory", f"memory://{root}", f"countmemory://{root}", counter, {}, local)
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        prefix, options = request.getfixturevalue("s3_bucket")
        local.mkdir()
        return Store("s3", prefix, prefix, server.counter, options, local)
    server = request.getfixturevalue("http_server")
    return Store("http", server.url, server.url, server.counter, {}, Path(server.directory))


@pytest.fixture(params=FORMATS)
def fmt(request, store):
    key = (request.node.originalname, store.backend, request.param)
    if key in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[key]))
    return request.param


def _read_map(store: Store, name: str, fmt: str, counted: bool = False) -> Map:
    hdu = "counts" if fmt == "zarr" else "COUNTS"
    return Map.read(store.at(name, counted), hdu=hdu, storage_options=store.storage_options)


def _read_dataset(store: Store, name: str, counted: bool = False) -> MapDataset:
    return MapDataset.read(store.at(name, counted), storage_options=store.storage_options)


def _chunk_reads(counter: ByteCounter, variables) -> list[tuple[str, int, int]]:
    """Reads of zarr chunks of the given data variables (``<var>/c/...`` keys)."""
    pattern = re.compile(rf"/({'|'.join(variables)})/c/[\d/]+$")
    return [read for read in counter.reads if pattern.search(read[0])]


def _assert_streamed_once(store: Store, name: str) -> None:
    """A gzip file was read once, whole, into the cache (after its head, read to recognise the
    gzip magic)."""
    size = store.size(name)
    assert size <= store.counter.bytes_of(f"/{name}") <= size + store.head_bytes(name)


def _merge_gap() -> int:
    return int(dask.config.get("mapds.storage.merge-gap"))


def _assert_one_request_opens(store: Store, name: str) -> None:
    """On object storage, a FITS file smaller than the merge gap is opened with one request."""
    assert store.size(name) <= _merge_gap()
    assert store.counter.gets(f"/{name}") == 1


def _cutout_blocks(store: Store, name: str, cube: Map, cutout: Map) -> tuple[int, int]:
    """The ``merge-gap`` blocks of the file the pixels of a cutout lie in, and their bytes."""
    ys, xs = cutout.geom.cutout_slices(cube.geom)["parent-slices"]
    (data_start, _), *_ = fits_image_spans(store.local / name)
    nbin, ny, nx = cube.data.shape
    itemsize = cube.data.dtype.itemsize
    gap = _merge_gap()
    blocks = set()
    for plane in range(nbin):
        for y in range(ys.start, ys.stop):
            start = data_start + ((plane * ny + y) * nx + xs.start) * itemsize
            end = start + (xs.stop - xs.start) * itemsize
            blocks.update(range(start // gap, (end - 1) // gap + 1))
    return len(blocks), len(blocks) * gap


# -- what is stored ---------------------------------------------------------------------------------


@pytest.fixture
def cube() -> Map:
    """A 3 × 120 × 300 float32 cube in 3 × 3 chunks (integers and eighths: exact sums)."""
    return make_cube(npix=(300, 120), nbin=3, chunks=CUBE_CHUNKS)


@pytest.fixture(scope="module")
def dataset() -> MapDataset:
    """A dataset with every member, built in memory."""
    return build_dataset(MAPDS, seed=3, name="obs")


def _with_models(dataset: MapDataset) -> MapDataset:
    dataset.models = sky_models("mapds", ["point", "gauss"], dataset_name=dataset.name)
    return dataset


# -- the checks ------------------------------------------------------------------------------------


class TestStorageMatrix:
    """Each test runs on every back end × format (the ``store`` and ``fmt`` fixtures)."""

    def test_map_opens_lazily(self, store, fmt, cube):
        name = f"cube{SUFFIX[fmt]}"
        store.store(cube, name, fmt, hdu="counts" if fmt == "zarr" else "COUNTS")
        store.counter.reset()
        m = _read_map(store, name, fmt, counted=True)
        assert m.geom == cube.geom and m.unit == cube.unit and m.dtype == cube.dtype
        assert store.counter.bytes_read > 0, "the headers or metadata were read through the counted URL"
        if fmt == "fits" and store.remote:
            _assert_one_request_opens(store, name)
        elif fmt == "fits":
            assert image_bytes_read(store.counter, store.local / name, f"/{name}") == 0
        elif fmt == "zarr":
            assert not _chunk_reads(store.counter, ["counts"])
        else:
            _assert_streamed_once(store, name)
            store.counter.reset()
            again = _read_map(store, name, fmt, counted=True)
            assert again.geom == cube.geom
            # only the head again, to recognise the gzip magic: the cache serves the rest
            head = store.head_bytes(name)
            assert store.counter.bytes_in(head, store.size(name), f"/{name}") == 0

    def test_map_sum_equals_in_memory(self, store, fmt, cube):
        name = f"cube{SUFFIX[fmt]}"
        store.store(cube, name, fmt, hdu="counts" if fmt == "zarr" else "COUNTS")
        m = _read_map(store, name, fmt)
        expected = cube.data.compute()
        assert float(m.data.sum(dtype="f8").compute()) == float(expected.sum(dtype="f8"))
        image = m.sum_over_axes(keepdims=False)
        assert float(image.data.max().compute()) == float(expected.sum(axis=0).max())

    def test_map_cutout_reads_only_its_bytes(self, store, fmt, cube):
        name = f"cube{SUFFIX[fmt]}"
        store.store(cube, name, fmt, hdu="counts" if fmt == "zarr" else "COUNTS")
        m = _read_map(store, name, fmt, counted=True)
        expected = cube.cutout(**CUTOUT)
        store.counter.reset()
        values = m.cutout(**CUTOUT).data.compute()
        np.testing.assert_array_equal(values, expected.data.compute())
        if fmt == "fits":
            needed = values.nbytes
            if store.remote:
                # One request per block of the file touched, and nothing outside those blocks.
                n_blocks, block_bytes = _cutout_blocks(store, name, cube, expected)
                assert 1 <= store.counter.gets(f"/{name}") <= n_blocks
                assert needed <= store.counter.bytes_read <= max(1.5 * needed, block_bytes)
            else:
                assert needed <= store.counter.bytes_read <= 1.5 * needed
            assert image_bytes_read(store.counter, store.local / name, f"/{name}") == store.counter.bytes_read
        elif fmt == "zarr":
            ys, xs = expected.geom.cutout_slices(cube.geom)["parent-slices"]
            tiles = {
                f"counts/c/0/{iy}/{ix}"
                for iy in range(ys.start // CUBE_CHUNKS["y"], (ys.stop - 1) // CUBE_CHUNKS["y"] + 1)
                for ix in range(xs.start // CUBE_CHUNKS["x"], (xs.stop - 1) // CUBE_CHUNKS["x"] + 1)
            }
            assert len(tiles) > 1, "the cutout should straddle tile boundaries"
            reads = _chunk_reads(store.counter, ["counts"])
            read_tiles = [path.split(f"{name}/", 1)[1] for path, _, _ in reads]
            assert sorted(read_tiles) == sorted(tiles), "exactly the overlapping chunks, each once"
            tile_bytes = sum((store.local / name / tile).stat().st_size for tile in tiles)
            assert store.counter.bytes_read == tile_bytes, "nothing but those chunks"
        else:
            assert store.counter.bytes_of(f"/{name}") == 0, "a gzip file is read from its cache"

    def test_dataset_opens_lazily(self, store, fmt, dataset):
        name = f"ds{SUFFIX[fmt]}"
        store.store(dataset, name, fmt)
        store.counter.reset()
        read = _read_dataset(store, name, counted=True)
        assert read.name == "obs" and read.counts.geom == dataset.counts.geom
        assert store.counter.bytes_read > 0
        if fmt == "fits" and store.remote:
            _assert_one_request_opens(store, name)
        elif fmt == "fits":
            assert image_bytes_read(store.counter, store.local / name, f"/{name}") == 0
        elif fmt == "zarr":
            assert not _chunk_reads(store.counter, DATASET_MAPS)
        else:
            _assert_streamed_once(store, name)

    def test_dataset_stat_sum_is_the_same_everywhere(self, store, fmt, dataset):
        name = f"ds{SUFFIX[fmt]}"
        store.store(dataset, name, fmt)
        read = _with_models(_read_dataset(store, name))
        stat = read.stat_sum()
        assert stat == pytest.approx(_with_models(dataset.copy()).stat_sum(), rel=1e-12)
        local = _with_models(MapDataset.read(store.local / name))
        assert stat == local.stat_sum(), "the same file gives the same number on every back end"
