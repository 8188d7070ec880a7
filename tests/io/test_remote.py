"""Object storage and other fsspec filesystems: S3 (moto server), memory://, http(s)://."""

from __future__ import annotations

import re
import time
import uuid

import dask.config
import fsspec
import numpy as np
import pytest

from mapds.errors import MissingFileError, OverwriteError, StorageError
from mapds.io import open_zarr_group, write_zarr_group
from mapds.io.fits import FitsFile
from mapds.maps import Map

from .conftest import CRAB_HDUS, make_cube


def test_s3_fits_read_matches_local(s3_bucket, crab_file):
    prefix, options = s3_bucket
    fsspec.filesystem("s3", **options).put(str(crab_file), f"{prefix}/crab.fits")
    f = FitsFile.open(f"{prefix}/crab.fits", storage_options=options)
    assert f.names == FitsFile.open(crab_file).names
    for name in CRAB_HDUS:
        remote = f.read_map(name)
        local = Map.read(crab_file, hdu=name)
        assert remote.geom == local.geom
        np.testing.assert_array_equal(remote.data.compute(), local.data.compute())
    cut = Map.read(f"{prefix}/crab.fits", hdu="COUNTS", storage_options=options)
    cut = cut.slice_by_idx({"x": slice(10, 20), "y": slice(5, 25)})
    expected = Map.read(crab_file, hdu="COUNTS").data.compute()[:, 5:25, 10:20]
    np.testing.assert_array_equal(cut.data.compute(), expected)


def test_s3_reads_an_empty_table(s3_bucket, crab_file):
    # The Crab file's GTI has no rows: its data section is empty, and S3 rejects empty ranges.
    prefix, options = s3_bucket
    fsspec.filesystem("s3", **options).put(str(crab_file), f"{prefix}/crab.fits")
    f = FitsFile.open(f"{prefix}/crab.fits", storage_options=options)
    assert len(f.read_table("GTI")) == 0
    assert len(f.read_table("COUNTS_BANDS")) == 5


def test_s3_fits_write_is_atomic_and_never_clobbers(s3_bucket, cube):
    prefix, options = s3_bucket
    url = f"{prefix}/out/cube.fits"
    cube.write(url, hdu="COUNTS", storage_options=options)
    np.testing.assert_array_equal(
        Map.read(url, hdu="COUNTS", storage_options=options).data.compute(), cube.data.compute()
    )
    with pytest.raises(OverwriteError):
        (cube * 2).write(url, hdu="COUNTS", storage_options=options)
    (cube * 2).write(url, hdu="COUNTS", storage_options=options, overwrite=True)
    back = Map.read(url, hdu="COUNTS", storage_options=options)
    np.testing.assert_array_equal(back.data.compute(), 2 * cube.data.compute())
    fs = fsspec.filesystem("s3", **options)
    assert fs.ls(f"{prefix}/out", detail=False) == [f"{prefix[5:]}/out/cube.fits"]


def test_s3_zarr_map_and_group(s3_bucket, cube):
    prefix, options = s3_bucket
    cube.write(f"{prefix}/cube.zarr", hdu="counts", storage_options=options)
    back = Map.read(f"{prefix}/cube.zarr", storage_options=options)
    assert back.geom == cube.geom
    np.testing.assert_array_equal(back.data.compute(), cube.data.compute())
    write_zarr_group(f"{prefix}/ds.zarr", {"counts": cube}, attrs={"name": "x"}, storage_options=options)
    group = open_zarr_group(f"{prefix}/ds.zarr", storage_options=options)
    assert group.attrs == {"name": "x"}
    np.testing.assert_array_equal(group.read_map("counts").data.compute(), cube.data.compute())


def test_s3_missing_object_and_bucket(s3_bucket):
    prefix, options = s3_bucket
    with pytest.raises(MissingFileError, match=re.escape(f"{prefix}/nothing.fits")):
        Map.read(f"{prefix}/nothing.fits", storage_options=options)
    with pytest.raises(StorageError, match=r"s3://no-such-bucket-mapds/x\.fits"):
        Map.read("s3://no-such-bucket-mapds/x.fits", storage_options=options)


def test_memory_filesystem_round_trips(cube):
    base = f"memory://mapds-{uuid.uuid4().hex[:8]}"
    cube.write(f"{base}/cube.fits", hdu="COUNTS")
    np.testing.assert_array_equal(
        Map.read(f"{base}/cube.fits", hdu="COUNTS").data.compute(), cube.data.compute()
    )
    with pytest.raises(OverwriteError):
        cube.write(f"{base}/cube.fits", hdu="COUNTS")
    cube.write(f"{base}/cube.zarr")
    np.testing.assert_array_equal(Map.read(f"{base}/cube.zarr").data.compute(), cube.data.compute())
    assert sorted(fsspec.filesystem("memory").ls(base, detail=False)) == [
        f"/{base[9:]}/cube.fits",
        f"/{base[9:]}/cube.zarr",
    ]


def test_http_fits_read(http_server, cube):
    cube.write(f"{http_server.directory}/cube.fits", hdu="COUNTS")
    m = Map.read(f"{http_server.url}/cube.fits", hdu="COUNTS")
    np.testing.assert_array_equal(m.data.compute(), cube.data.compute())
    cut = m.slice_by_idx({"x": slice(3, 9), "energy": 2})
    np.testing.assert_array_equal(cut.data.compute(), cube.data.compute()[2, :, 3:9])


def test_unreachable_url_names_it():
    with pytest.raises(StorageError, match=r"http://127\.0\.0\.1:9/nothing\.fits"):
        Map.read("http://127.0.0.1:9/nothing.fits")


def test_remote_gzip_is_cached(tmp_path, s3_bucket, caplog):
    import gzip

    prefix, options = s3_bucket
    cube = make_cube(nbin=2)
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    fs = fsspec.filesystem("s3", **options)
    fs.pipe(f"{prefix}/cube.fits.gz", gzip.compress((tmp_path / "cube.fits").read_bytes()))
    m = Map.read(f"{prefix}/cube.fits.gz", hdu="COUNTS", storage_options=options, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(m.data.compute(), cube.data.compute())
    assert "gzip-compressed" in caplog.text


# -- requests on object storage ----------------------------------------------------------------------


def _multi_hdu_file(path) -> list[str]:
    """Three 5 × 40 × 50 float32 images (40 kB each) with their bands tables; their names."""
    from mapds.io.fits.maps import map_to_hdus
    from mapds.io.fits.writer import write_fits

    cube = make_cube(npix=(50, 40), nbin=5)
    names = ["COUNTS", "EXPOSURE", "BACKGROUND"]
    write_fits(path, [hdu for name in names for hdu in map_to_hdus(cube, hdu=name)])
    return names


def test_s3_cutout_is_one_request_and_opening_one_more(s3_server, s3_bucket, tmp_path):
    # Before: opening cost 22 requests (2 HEADs, a zarr probe, a GET per 2880-byte header
    # block) and this cutout 67 GETs of ~80 bytes; a file smaller than the merge gap is now read
    # whole when opened, and the cutout's 100 rows of 80 bytes are one request.
    prefix, options = s3_bucket
    cube = make_cube(npix=(50, 40), nbin=5)
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    fsspec.filesystem("s3", **options).put(str(tmp_path / "cube.fits"), f"{prefix}/cube.fits")
    counter = s3_server.counter
    counter.reset()
    counts = Map.read(f"{prefix}/cube.fits", hdu="COUNTS", storage_options=options)
    assert [method for method, _, _ in counter.requests] == ["HEAD", "GET"]
    counter.reset()
    cutout = counts.slice_by_idx({"x": slice(10, 30), "y": slice(10, 30)}).data.compute()
    np.testing.assert_array_equal(cutout, cube.data.compute()[:, 10:30, 10:30])
    assert counter.gets() == 1
    # from the first row of the cutout to its last: 4 planes and 20 rows of 200 bytes
    assert counter.bytes_read == 4 * 40 * 50 * 4 + 19 * 50 * 4 + 20 * 4


def test_s3_open_reads_headers_in_few_requests(s3_server, s3_bucket, tmp_path):
    prefix, options = s3_bucket
    names = _multi_hdu_file(tmp_path / "maps.fits")
    fsspec.filesystem("s3", **options).put(str(tmp_path / "maps.fits"), f"{prefix}/maps.fits")
    local = FitsFile.open(tmp_path / "maps.fits")
    counter = s3_server.counter

    def open_counting() -> int:
        counter.reset()
        remote = FitsFile.open(f"{prefix}/maps.fits", storage_options=options)
        assert remote.names == local.names
        assert all(remote.header(name) == local.header(name) for name in local.names)
        return counter.gets("/maps.fits")

    # The file (133 kB) is larger than this merge gap, so its headers are scanned: one request
    # for the head, then one for each header after an image's data, with its bands table and
    # the next header in it (block by block, as before, took 8).
    with dask.config.set({"mapds.storage.merge-gap": 8192, "mapds.storage.header-bytes": 16384}):
        assert open_counting() == 1 + len(names)
    assert open_counting() == 1  # by default (1 MiB merge gap): the whole file in one request


def test_http_ranges_are_requested_concurrently(http_server):
    from mapds.testing import fault_proxy

    cube = make_cube(npix=(50, 40), nbin=5)
    cube.write(f"{http_server.directory}/cube.fits", hdu="COUNTS")
    with fault_proxy(http_server.url) as proxy, dask.config.set({"mapds.storage.merge-gap": 0}):
        counts = Map.read(f"{proxy.url}/cube.fits", hdu="COUNTS")
        proxy.always("delay:0.5")
        start = time.perf_counter()
        values = counts.slice_by_idx({"x": slice(10, 20), "y": slice(0, 4)}).data.compute()
        elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(values, cube.data.compute()[:, 0:4, 10:20])
    delayed = len(proxy.faults_applied())
    assert delayed >= 8  # rows too far apart to merge without a merge gap
    assert elapsed < 0.5 * delayed / 2, f"{delayed} requests of 0.5 s took {elapsed:.2f} s"
