"""zarr stores: xarray-compatible layout, lazy reads, streamed writes, dataset groups."""

from __future__ import annotations

import os

import astropy.units as u
import numpy as np
import pytest
import xarray as xr
import zarr
from astropy.io import fits
from astropy.table import Table

from mapds.errors import MissingHDUError, OverwriteError
from mapds.geom import MapAxis, RegionGeom
from mapds.io import open_zarr_group, write_zarr_group
from mapds.maps import Map

from .conftest import CRAB_HDUS, make_cube


def test_store_opens_directly_with_xarray(tmp_path, cube):
    cube.meta = {"livetime": 3.0 * u.s}
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    ds = xr.open_zarr(tmp_path / "cube.zarr")
    assert list(ds.data_vars) == ["counts"]
    counts = ds["counts"]
    assert counts.dims == ("energy", "y", "x")
    assert {"energy", "energy_min", "energy_max", "spatial_ref"} <= set(counts.coords)
    assert counts.attrs["units"] == "1 / (s cm2)"
    assert fits.Header.fromstring(counts.coords["spatial_ref"].attrs["wcs"])["CTYPE1"] == "GLON-CAR"
    assert counts.coords["spatial_ref"].attrs["grid_mapping_name"] == "latitude_longitude"
    assert "lon" not in counts.coords  # computed from the WCS when asked for, never stored
    np.testing.assert_array_equal(counts.values, cube.data.compute())
    back = Map.from_xarray(counts)
    assert back.geom == cube.geom and back.unit == cube.unit
    np.testing.assert_array_equal(back.data.compute(), cube.data.compute())


def test_round_trip_keeps_geometry_unit_meta_and_values(tmp_path, cube):
    cube.meta = {"livetime": 3.0 * u.s, "name": "obs"}
    cube.write(tmp_path / "cube.zarr")
    back = Map.read(tmp_path / "cube.zarr")
    assert back.geom == cube.geom
    np.testing.assert_array_equal(back.geom.axes[0].edges.value, cube.geom.axes[0].edges.value)
    assert back.unit == cube.unit and back.dtype == cube.dtype
    assert back.meta["livetime"] == 3.0 * u.s and back.meta["name"] == "obs"
    np.testing.assert_array_equal(back.data.compute(), cube.data.compute())


def test_native_chunks_are_the_written_dask_chunks(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr")
    assert zarr.open_array(tmp_path / "cube.zarr" / "data").chunks == (4, 20, 30)
    assert Map.read(tmp_path / "cube.zarr", chunks={}).chunks == cube.chunks


def test_irregular_dask_chunks_are_regularised(tmp_path):
    cube = make_cube(npix=(50, 40)).rechunk({"y": (10, 25, 5), "x": (20, 30)})
    cube.write(tmp_path / "irregular.zarr")
    np.testing.assert_array_equal(Map.read(tmp_path / "irregular.zarr").data.compute(), cube.data.compute())


def test_opening_reads_no_array_bytes(counting_fs, tmp_path, cube):
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    m = Map.read(f"countfile://{tmp_path / 'cube.zarr'}", hdu="counts", chunks={})
    assert counting_fs.reads, "metadata must have been read through the counting filesystem"
    assert not [path for path, _, _ in counting_fs.reads if "/counts/c" in path]
    counting_fs.reset()
    cut = m.slice_by_idx({"x": slice(2, 12), "y": slice(3, 9)})
    np.testing.assert_array_equal(cut.data.compute(), cube.data.compute()[:, 3:9, 2:12])
    chunk_reads = {path for path, _, _ in counting_fs.reads if "/counts/c" in path}
    assert len(chunk_reads) == 1  # the one zarr chunk holding the cutout


def test_graphs_from_zarr_maps_do_not_compute(tmp_path, cube, raise_if_dask_computes):
    cube.write(tmp_path / "cube.zarr")
    with raise_if_dask_computes():
        m = Map.read(tmp_path / "cube.zarr")
        (m * 3).slice_by_idx({"energy": 1}).data.sum()


@pytest.mark.parametrize("dtype", ["bool", "i4", "f8", "u2"])
def test_dtypes_round_trip(tmp_path, dtype):
    cube = make_cube(nbin=2)
    typed = cube > cube * 0.7 if dtype == "bool" else cube.astype(dtype)
    typed.write(tmp_path / "typed.zarr")
    back = Map.read(tmp_path / "typed.zarr")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data.compute(), typed.data.compute())


def test_fits_zarr_fits_round_trip_is_bit_identical(tmp_path, crab_file):
    for name in CRAB_HDUS:
        m = Map.read(crab_file, hdu=name)
        m.write(tmp_path / f"{name}.zarr", hdu=name)
        Map.read(tmp_path / f"{name}.zarr").write(tmp_path / f"{name}-via-zarr.fits", hdu=name)
        m.write(tmp_path / f"{name}-direct.fits", hdu=name)
        via_zarr = (tmp_path / f"{name}-via-zarr.fits").read_bytes()
        assert via_zarr == (tmp_path / f"{name}-direct.fits").read_bytes(), name
        with fits.open(crab_file) as original, fits.open(tmp_path / f"{name}-via-zarr.fits") as again:
            a, b = original[name], again[name]
            np.testing.assert_array_equal(a.data, b.data)
            for card in ("CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CRVAL1", "CRVAL2"):
                assert a.header[card] == b.header[card], (name, card)
            for card in ("WCSSHAPE", "BUNIT", "INTERP1", "INTERP2", "BITPIX", "NAXIS"):
                assert a.header.get(card) == b.header.get(card), (name, card)


def test_region_maps_round_trip(tmp_path):
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
    geom = RegionGeom.create("icrs;circle(83.63,22.01,0.5)", axes=[axis])
    region_map = Map.from_geom(geom, data=np.arange(3.0).reshape(3, 1, 1), unit="cm-2")
    region_map.write(tmp_path / "region.zarr")
    back = Map.read(tmp_path / "region.zarr")
    assert back.geom == geom
    np.testing.assert_array_equal(back.data.compute(), region_map.data.compute())


def test_overwrite_and_missing_names(tmp_path, cube):
    cube.write(tmp_path / "cube.zarr")
    with pytest.raises(OverwriteError):
        (cube * 2).write(tmp_path / "cube.zarr")
    (cube * 2).write(tmp_path / "cube.zarr", overwrite=True)
    np.testing.assert_array_equal(Map.read(tmp_path / "cube.zarr").data.compute(), 2 * cube.data.compute())
    assert sorted(os.listdir(tmp_path)) == ["cube.zarr"]
    with pytest.raises(MissingHDUError, match="data"):
        Map.read(tmp_path / "cube.zarr", hdu="exposure")
    cube.write(tmp_path / "other", format="zarr")
    assert Map.read(tmp_path / "other").geom == cube.geom  # found by its zarr.json


def test_dataset_group(tmp_path, counting_fs):
    counts = make_cube(chunks={"y": 20}, unit="")
    psf = make_cube(npix=(6, 5), nbin=2, unit="sr-1")
    mask = counts > counts * 0.5
    gti = Table(
        {"START": [0.0, 10.0] * u.s, "STOP": [5.0, 20.0] * u.s}, meta={"MJDREFI": 51544, "TIMESYS": "tt"}
    )
    empty = Table({"START": np.zeros(0) * u.s, "STOP": np.zeros(0) * u.s})
    write_zarr_group(
        tmp_path / "ds.zarr",
        {"counts": counts, "psf": psf, "mask_safe": mask},
        attrs={"name": "survey", "stat_type": "cash"},
        tables={"gti": gti, "empty_gti": empty},
    )
    group = open_zarr_group(f"countfile://{tmp_path / 'ds.zarr'}")
    assert group.attrs == {"name": "survey", "stat_type": "cash"}
    assert group.map_names == ["counts", "psf", "mask_safe"]
    assert group.table_names == ["gti", "empty_gti"]
    maps = {name: group.read_map(name) for name in group.map_names}
    assert not [path for path, _, _ in counting_fs.reads for name in maps if f"/{name}/{name}/c" in path]
    np.testing.assert_array_equal(maps["psf"].data.compute(), psf.data.compute())
    assert maps["psf"].geom == psf.geom and maps["psf"].unit == u.Unit("sr-1")
    assert maps["mask_safe"].dtype == bool
    table = group.read_table("gti")
    assert table["START"].unit == u.s and table.meta["MJDREFI"] == 51544
    np.testing.assert_array_equal(table["STOP"], [5.0, 20.0])
    assert len(group.read_table("empty_gti")) == 0
    # Each map is a plain xarray dataset, and Map.read finds maps by name.
    assert xr.open_zarr(tmp_path / "ds.zarr", group="psf")["psf"].dims == ("energy", "y", "x")
    assert Map.read(tmp_path / "ds.zarr", hdu="PSF").geom == psf.geom
    with pytest.raises(MissingHDUError, match="exposure"):
        group.read_map("exposure")


def test_a_store_replaces_a_file_only_with_overwrite(tmp_path, cube):
    (tmp_path / "x.zarr").write_bytes(b"not a store")
    with pytest.raises(OverwriteError):
        cube.write(tmp_path / "x.zarr")
    cube.write(tmp_path / "x.zarr", overwrite=True)
    assert Map.read(tmp_path / "x.zarr").geom == cube.geom
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"]
    with pytest.raises(ValueError, match="sparse"):
        cube.write(tmp_path / "y.zarr", sparse=True)


def test_meta_table_with_array_and_string_columns(tmp_path, cube, recwarn):
    table = Table({"OBS_ID": [[1, 2, 3]], "TELESCOP": ["CTA"], "RA_PNT": [83.6] * u.deg})
    write_zarr_group(tmp_path / "ds.zarr", {"counts": cube}, tables={"meta_table": table})
    back = open_zarr_group(tmp_path / "ds.zarr").read_table("meta_table")
    assert back["OBS_ID"].shape == (1, 3) and back["TELESCOP"][0] == "CTA"
    assert back["RA_PNT"].unit == u.deg
    assert not [w for w in recwarn if "zarr" in str(w.category).lower() or "zarr" in str(w.message).lower()]


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        (np.arange(4 * 40 * 60) % 7, "uint16"),  # whole numbers: stored as integers
        (np.arange(4 * 40 * 60) % 7 + 0.5, "float64"),  # fractions: kept as they are
        (np.arange(4 * 40 * 60) - 3.0, "float64"),  # negative
        (np.arange(4 * 40 * 60) * 100.0, "float64"),  # past the integer range
    ],
)
def test_counts_are_stored_as_integers_only_when_exact(tmp_path, values, stored):
    counts = make_cube(chunks={"y": 20, "x": 30}, unit="", dtype="f8")
    counts.data = values.reshape(counts.data.shape).astype("f8")
    write_zarr_group(tmp_path / "ds.zarr", {"counts": counts, "background": counts.copy()})
    assert zarr.open_array(tmp_path / "ds.zarr" / "counts" / "counts").dtype == np.dtype(stored)
    assert zarr.open_array(tmp_path / "ds.zarr" / "background" / "background").dtype == np.dtype("f8")
    group = open_zarr_group(tmp_path / "ds.zarr")
    for name in ("counts", "background"):
        back = group.read_map(name)
        assert back.dtype == np.dtype("f8")
        np.testing.assert_array_equal(back.data.compute(), counts.data.compute())


def test_as_stored_dtype_reads_the_stored_integers(tmp_path):
    counts = make_cube(chunks={"y": 20, "x": 30}, unit="", dtype="f8")
    counts.data = (np.arange(counts.data.size) % 7).reshape(counts.data.shape).astype("f8")
    write_zarr_group(tmp_path / "ds.zarr", {"counts": counts, "background": counts * 0.5})
    group = open_zarr_group(tmp_path / "ds.zarr")
    back = group.read_map("counts")
    stored = back.as_stored_dtype()
    assert stored.dtype == np.dtype("uint16") and stored.data.chunks == back.data.chunks
    np.testing.assert_array_equal(stored.data.compute(), back.data.compute())
    assert back.as_stored_dtype() is stored  # kept for the next evaluation of a fit
    np.testing.assert_array_equal(
        stored.cutout(back.geom.center_skydir, 0.5).data.compute(),
        back.cutout(back.geom.center_skydir, 0.5).data.compute(),
    )
    # nothing converted on reading, a computed map, or data replaced in place: the map itself
    background = group.read_map("background")
    assert background.as_stored_dtype() is background
    doubled = back * 2
    assert doubled.as_stored_dtype() is doubled
    back.data[0, 0, 0] = 100.0
    assert back.as_stored_dtype() is back


@pytest.mark.parametrize("chunks", [{}, {"y": 7, "x": 11}])
def test_whole_chunks_decoded_directly_equal_zarrs_reads(tmp_path, chunks):
    from mapds.io.chunk_decoder import ChunkDecoder

    cube = make_cube(npix=(61, 39), chunks={"y": 20, "x": 30})  # edge chunks are partial
    cube.write(tmp_path / "cube.zarr")
    array = zarr.open_array(tmp_path / "cube.zarr" / "data")
    decoder = ChunkDecoder.for_array(array, "cube")
    assert decoder is not None
    assert decoder.whole_chunk((slice(0, 4), slice(20, 39), slice(60, 61))) == (0, 1, 2)
    assert decoder.whole_chunk((slice(0, 4), slice(0, 10), slice(0, 30))) is None
    np.testing.assert_array_equal(decoder.read((0, 1, 2)), array[:, 20:39, 60:61])
    back = Map.read(tmp_path / "cube.zarr", chunks=chunks)
    np.testing.assert_array_equal(back.data.compute(), cube.data.compute())
