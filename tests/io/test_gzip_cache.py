"""Gzip-compressed FITS: decompressed once into a zarr cache, with a message, then reused."""

from __future__ import annotations

import gzip
import logging
import os
import shutil

import numpy as np
import pytest

from mapds.errors import CorruptFileError
from mapds.geom import MapAxis
from mapds.io.fits import FitsFile
from mapds.io.gzip_cache import slab_chunks
from mapds.maps import Map

from .conftest import CRAB_HDUS, make_cube


def _gzip(src, dst):
    with open(src, "rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def test_gzip_file_is_cached_with_a_message_and_reused(tmp_path, crab_file, caplog):
    gz = _gzip(crab_file, tmp_path / "crab.fits.gz")
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="mapds.io.gzip_cache"):
        first = {name: Map.read(gz, hdu=name, cache_dir=cache) for name in CRAB_HDUS}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "gzip-compressed" in warnings[0].getMessage() and str(cache) in warnings[0].getMessage()
    entries = os.listdir(cache)
    assert len(entries) == 1 and entries[0].startswith("crab.fits.gz-")
    for name, m in first.items():
        expected = Map.read(crab_file, hdu=name)
        assert m.geom == expected.geom and m.unit == expected.unit and m.dtype == expected.dtype
        np.testing.assert_array_equal(m.data.compute(), expected.data.compute())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mapds.io.gzip_cache"):
        again = FitsFile.open(gz, cache_dir=cache)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("from its decompressed cache" in r.getMessage() for r in caplog.records)
    assert again.names == FitsFile.open(crab_file).names
    assert again.read_table("GTI").colnames == ["START", "STOP"]


def test_cache_is_keyed_by_content_version(tmp_path, caplog):
    cube = make_cube()
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    gz = _gzip(tmp_path / "cube.fits", tmp_path / "cube.fits.gz")
    cache = tmp_path / "cache"
    Map.read(gz, hdu="COUNTS", cache_dir=cache).data.compute()
    (cube * 2).write(tmp_path / "cube.fits", hdu="COUNTS", overwrite=True)
    _gzip(tmp_path / "cube.fits", gz)
    os.utime(gz, (1e9, 1e9))  # a different modification time, whatever the clock resolution
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mapds.io.gzip_cache"):
        updated = Map.read(gz, hdu="COUNTS", cache_dir=cache)
    assert len(caplog.records) == 1
    np.testing.assert_array_equal(updated.data.compute(), 2 * cube.data.compute())
    assert len(os.listdir(cache)) == 2


def test_gzip_magic_is_detected_without_suffix(tmp_path, monkeypatch):
    cube = make_cube(nbin=2)
    cube.write(tmp_path / "plain.fits", hdu="COUNTS")
    disguised = _gzip(tmp_path / "plain.fits", tmp_path / "disguised.fits")
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "env-cache"))
    np.testing.assert_array_equal(Map.read(disguised, hdu="COUNTS").data.compute(), cube.data.compute())
    assert len(os.listdir(tmp_path / "env-cache")) == 1


def test_conversion_writes_bounded_slabs(tmp_path):
    assert slab_chunks((10, 500, 4000), 4, target=32 * 2**20) == (4, 500, 4000)
    assert slab_chunks((10, 5000, 4000), 4, target=32 * 2**20) == (1, 2097, 4000)
    assert slab_chunks((17, 300, 1, 2), 8, target=2**20) == (17, 300, 1, 2)
    assert slab_chunks((3, 10, 2**22), 4, target=2**20) == (1, 1, 2**18)


def test_truncated_gzip_is_a_corrupt_file(tmp_path, crab_file):
    gz = _gzip(crab_file, tmp_path / "crab.fits.gz")
    (tmp_path / "cut.fits.gz").write_bytes(gz.read_bytes()[: len(gz.read_bytes()) // 2])
    with pytest.raises(CorruptFileError, match=r"cut\.fits\.gz"):
        FitsFile.open(tmp_path / "cut.fits.gz", cache_dir=tmp_path / "cache")
    assert not [p for p in os.listdir(tmp_path / "cache") if not p.startswith(".")]


def test_gzip_with_a_bad_crc_is_a_corrupt_file(tmp_path):
    make_cube(nbin=2).write(tmp_path / "cube.fits", hdu="COUNTS")
    data = bytearray(_gzip(tmp_path / "cube.fits", tmp_path / "cube.fits.gz").read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the trailer: only reading to the end finds it
    (tmp_path / "bad.fits.gz").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"bad\.fits\.gz.*corrupt or truncated gzip"):
        FitsFile.open(tmp_path / "bad.fits.gz", cache_dir=tmp_path / "cache")
    assert not [p for p in os.listdir(tmp_path / "cache") if not p.startswith(".")]


def _entry(cache) -> str:
    [entry] = [p for p in os.listdir(cache) if not p.startswith(".")]
    return os.path.join(cache, entry)


def test_damaged_cache_entry_is_rebuilt(tmp_path, caplog):
    cube = make_cube(chunks={"y": 20})
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    gz = _gzip(tmp_path / "cube.fits", tmp_path / "cube.fits.gz")
    cache = tmp_path / "cache"
    Map.read(gz, hdu="COUNTS", cache_dir=cache)
    chunk = os.path.join(_entry(cache), "hdu1", "c", "0", "0", "0")
    # A chunk file lost: found when the entry is reused, which rebuilds it.
    os.unlink(chunk)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mapds.io.gzip_cache"):
        m = Map.read(gz, hdu="COUNTS", cache_dir=cache)
    assert "is damaged ('hdu1/c/0/0/0' is missing); decompressing" in caplog.text
    np.testing.assert_array_equal(m.data.compute(), cube.data.compute())
    # A chunk whose bytes changed: found when read (never fill values), and the entry is
    # invalidated so that the next open rebuilds it.
    data = bytearray(open(chunk, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(chunk, "wb").write(bytes(data))
    match = r"cache entry .*cube\.fits\.gz.*chunk \(0, 0, 0\).*rebuilds it"
    with pytest.raises(CorruptFileError, match=match):
        Map.read(gz, hdu="COUNTS", cache_dir=cache).data.compute()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mapds.io.gzip_cache"):
        m = Map.read(gz, hdu="COUNTS", cache_dir=cache)
    assert "is incomplete" in caplog.text
    np.testing.assert_array_equal(m.data.compute(), cube.data.compute())
    assert len(os.listdir(cache)) == 1


def test_cache_entry_is_compressed(tmp_path):
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 4)
    sparse = Map.create(npix=(600, 400), binsz=0.01, axes=[axis], unit="")
    values = np.zeros(sparse.geom.data_shape, dtype="f4")
    values[:, 100:110, 200:220] = 3.0  # a mostly empty counts cube: 3.8 MB, a few kB gzipped
    sparse.data = values
    sparse.write(tmp_path / "sparse.fits", hdu="COUNTS")
    gz = _gzip(tmp_path / "sparse.fits", tmp_path / "sparse.fits.gz")
    m = Map.read(gz, hdu="COUNTS", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(m.data.compute(), values)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tmp_path / "cache") for f in fs)
    assert size < 100_000 < os.path.getsize(tmp_path / "sparse.fits") / 30
