"""Stores written by mapds record what they hold: a chunk that is missing or damaged, or a store
replaced after it was opened, is an error naming it, never fill values or other data."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from mapds.errors import CorruptFileError, StaleFileError
from mapds.io import write_zarr_group
from mapds.io.atomic import COMMIT_KEY
from mapds.maps import Map

from .conftest import make_cube

CHUNK = "counts/c/0/1/1"  # the last of the four chunks of `cube` (4 x 40 x 60 in 4 x 20 x 30)


def _flip_byte(path, offset=20):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_complete_store_lists_every_chunk_with_its_checksum(tmp_path):
    zeros = make_cube(chunks={"y": 20, "x": 30}) * 0  # chunks of fill values are written too
    zeros.write(tmp_path / "z.zarr", hdu="counts")
    manifest = json.loads((tmp_path / "z.zarr" / COMMIT_KEY).read_text())["attributes"]
    chunks = sorted(k for k in manifest["chunks"] if k.startswith("counts/"))
    assert chunks == [f"counts/c/0/{i}/{j}" for i in (0, 1) for j in (0, 1)]
    assert all((tmp_path / "z.zarr" / k).exists() for k in manifest["chunks"])
    assert "zarr.json" in manifest["files"] and len(manifest["commit"]) == 32
    # The manifest is an empty zarr group: xarray and zarr open the store without a warning.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(xr.open_zarr(tmp_path / "z.zarr", consolidated=False).data_vars) == ["counts"]
    assert not [w for w in caught if "zarr" in str(w.message).lower()]


def test_missing_chunk_is_an_error_naming_store_array_and_chunk(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    (tmp_path / "cube.zarr" / CHUNK).unlink()
    m = Map.read(tmp_path / "cube.zarr")
    match = r"cube\.zarr.*chunk \(0, 1, 1\) of array 'counts'.*missing"
    with pytest.raises(CorruptFileError, match=match):
        m.data.sum().compute()
    # A cutout that does not touch the lost chunk still reads.
    np.testing.assert_array_equal(
        m.slice_by_idx({"y": slice(0, 20)}).data.compute(), cube.data.compute()[:, :20]
    )


def test_damaged_chunk_is_an_error_naming_it(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    _flip_byte(tmp_path / "cube.zarr" / CHUNK)
    with pytest.raises(CorruptFileError, match=r"chunk \(0, 1, 1\) of array 'counts'.*damaged"):
        Map.read(tmp_path / "cube.zarr").data.compute()
    # A truncated chunk (its stored checksum gone with its end)
    cube.write(tmp_path / "cube.zarr", hdu="counts", overwrite=True)
    path = tmp_path / "cube.zarr" / CHUNK
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CorruptFileError, match=r"chunk \(0, 1, 1\).*bytes long"):
        Map.read(tmp_path / "cube.zarr").data.compute()


def test_dataset_with_a_lost_chunk_has_no_stat_sum(tmp_path):
    counts = make_cube(chunks={"y": 20, "x": 30}, unit="")
    write_zarr_group(tmp_path / "ds.zarr", {"counts": counts, "background": counts * 0 + 1.0})
    (tmp_path / "ds.zarr" / "background" / "background" / "c" / "0" / "0" / "1").unlink()
    from mapds.io import open_zarr_group

    group = open_zarr_group(tmp_path / "ds.zarr")
    total = group.read_map("background").data.sum()
    with pytest.raises(CorruptFileError, match=r"chunk \(0, 0, 1\) of array 'background/background'"):
        total.compute()


def test_store_replaced_after_open_is_stale(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    m = Map.read(tmp_path / "cube.zarr")
    (cube * 2).write(tmp_path / "cube.zarr", hdu="counts", overwrite=True)
    with pytest.raises(StaleFileError, match=r"cube\.zarr.*replaced after it was opened.*reopen"):
        m.data.compute()
    np.testing.assert_array_equal(Map.read(tmp_path / "cube.zarr").data.compute(), 2 * cube.data.compute())
    shutil.rmtree(tmp_path / "cube.zarr")
    with pytest.raises(StaleFileError, match="removed"):
        m.data.compute()


def test_store_without_its_manifest_is_incomplete(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    (tmp_path / "cube.zarr" / COMMIT_KEY).unlink()
    with pytest.raises(CorruptFileError, match=r"cube\.zarr.*incomplete"):
        Map.read(tmp_path / "cube.zarr").data.compute()


def test_plain_zarr_stores_keep_zarr_semantics(tmp_path, cube):
    """A store written by xarray (no manifest) reads as zarr reads it: a missing chunk is the
    fill value."""
    cube.to_xarray("counts").drop_vars(["lon", "lat"], errors="ignore").to_dataset().to_zarr(
        tmp_path / "plain.zarr", zarr_format=3, consolidated=False
    )
    (tmp_path / "plain.zarr" / CHUNK).unlink()
    values = Map.read(tmp_path / "plain.zarr").data.compute()
    assert np.isnan(values[:, 20:, 30:]).all()
    np.testing.assert_array_equal(values[:, :20], cube.data.compute()[:, :20])


def test_opening_is_one_read_of_the_manifest_and_none_per_chunk(tmp_path, cube, counting_fs):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    m = Map.read(f"countfile://{tmp_path / 'cube.zarr'}")
    # the metadata and coordinates are inlined in the manifest: nothing else is read to open
    [(path, _, size)] = counting_fs.reads
    assert path.endswith(COMMIT_KEY) and size < 64 * 2**10
    counting_fs.reset()
    np.testing.assert_array_equal(m.data.compute(), cube.data.compute())
    paths = [path for path, _, _ in counting_fs.reads]
    assert sorted(p.rsplit("cube.zarr/", 1)[1] for p in paths) == [
        f"counts/c/0/{i}/{j}" for i in (0, 1) for j in (0, 1)
    ]
