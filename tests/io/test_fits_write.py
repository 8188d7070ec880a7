"""Streamed, atomic FITS writing in gammapy's layout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import astropy.units as u
import dask.array as da
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from mapds.errors import OverwriteError
from mapds.geom import MapAxis, RegionGeom
from mapds.io.fits import FitsFile, map_to_hdus, write_fits
from mapds.maps import Map

from .conftest import CRAB_HDUS, make_cube


def _assert_same_hdus(ours: fits.HDUList, theirs: fits.HDUList) -> None:
    """Same HDU names, header cards and data (tables: values equal to float precision)."""
    assert [h.name for h in ours] == [h.name for h in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.header.tostring() == b.header.tostring(), a.name
        if isinstance(a, fits.BinTableHDU):
            assert a.columns.names == b.columns.names and a.columns.formats == b.columns.formats
            for name in a.columns.names:
                np.testing.assert_allclose(a.data[name], b.data[name], rtol=1e-14, err_msg=f"{a.name}.{name}")
        elif a.data is not None:
            assert a.data.dtype.newbyteorder("=") == b.data.dtype.newbyteorder("="), a.name
            np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("hdu", [None, "COUNTS"])
@pytest.mark.parametrize("name", CRAB_HDUS)
def test_written_files_match_gammapy(tmp_path, crab_file, gammapy_maps, name, hdu):
    hdu = None if hdu is None else name
    Map.read(crab_file, hdu=name).write(tmp_path / "ours.fits", hdu=hdu)
    gammapy_maps.Map.read(crab_file, hdu=name).write(tmp_path / "theirs.fits", hdu=hdu)
    assert (tmp_path / "ours.fits").stat().st_size == (tmp_path / "theirs.fits").stat().st_size
    with fits.open(tmp_path / "ours.fits") as ours, fits.open(tmp_path / "theirs.fits") as theirs:
        _assert_same_hdus(ours, theirs)
        image = 0 if hdu is None else 1
        # Image HDUs are byte-identical: header blocks and big-endian data with padding.
        start = ours[image].fileinfo()["hdrLoc"]
        end = ours[image].fileinfo()["datLoc"] + ours[image].fileinfo()["datSpan"]
        raw_ours = (tmp_path / "ours.fits").read_bytes()[start:end]
        raw_theirs = (tmp_path / "theirs.fits").read_bytes()[start:end]
        assert raw_ours == raw_theirs


def test_gammapy_reads_what_mapds_writes(tmp_path, gammapy_maps):
    cube = make_cube(chunks={"y": 16, "x": 25}, unit="m2 s")
    cube.meta = {"livetime": 5.0 * u.s, "obs": 3}
    cube.write(tmp_path / "cube.fits", hdu="exposure")
    theirs = gammapy_maps.Map.read(tmp_path / "cube.fits", hdu="EXPOSURE")
    np.testing.assert_array_equal(theirs.data, cube.data.compute())
    assert theirs.unit == u.Unit("m2 s")
    assert theirs.meta["livetime"] == 5 * u.s
    assert theirs.geom.data_shape == cube.geom.data_shape
    assert theirs.geom.wcs.to_header() == cube.geom.wcs.to_header()
    np.testing.assert_allclose(theirs.geom.axes[0].edges.value, cube.geom.axes[0].edges.value, rtol=1e-14)
    back = Map.read(tmp_path / "cube.fits", hdu="EXPOSURE")
    assert back.meta == {"livetime": 5.0 * u.s, "obs": 3 * u.one}  # gammapy's META decoding


def test_masks_are_written_as_int64(tmp_path, gammapy_maps):
    mask = make_cube() > make_cube() * 0.9
    mask.write(tmp_path / "mask.fits", hdu="MASK_FIT")
    with fits.open(tmp_path / "mask.fits") as hdulist:
        assert hdulist["MASK_FIT"].header["BITPIX"] == 64
    theirs = gammapy_maps.Map.read(tmp_path / "mask.fits", hdu="MASK_FIT")
    assert theirs.data.dtype == bool
    np.testing.assert_array_equal(theirs.data, mask.data.compute())
    assert Map.read(tmp_path / "mask.fits", hdu="MASK_FIT").dtype == bool


@pytest.mark.parametrize("fmt", ["fgst-ccube", "fgst-template"])
def test_fermi_formats_round_trip_through_gammapy(tmp_path, gammapy_maps, fmt):
    cube = make_cube(unit="")
    cube.write(tmp_path / "fermi.fits", format=fmt)
    theirs = gammapy_maps.Map.read(tmp_path / "fermi.fits")
    with fits.open(tmp_path / "fermi.fits") as hdulist:
        assert [h.name for h in hdulist] == ["PRIMARY", "EBOUNDS" if fmt == "fgst-ccube" else "ENERGIES"]
    ours = Map.read(tmp_path / "fermi.fits")
    np.testing.assert_array_equal(ours.data.compute(), theirs.data)
    assert ours.unit == theirs.unit
    with pytest.raises(ValueError, match="fgst"):
        axes = [MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2), MapAxis.from_bounds(0, 1, 2, name="rad")]
        Map.create(npix=(3, 3), axes=axes).write(tmp_path / "x.fits", format=fmt)


def test_to_hdulist_matches_gammapy(crab_file, gammapy_maps):
    for name in ("EXPOSURE", "MASK_SAFE"):
        for hdu in (None, name):
            ours = Map.read(crab_file, hdu=name).to_hdulist(hdu=hdu)
            theirs = gammapy_maps.Map.read(crab_file, hdu=name).to_hdulist(hdu=hdu)
            _assert_same_hdus(ours, theirs)
            back = Map.from_hdulist(ours, hdu=hdu)
            np.testing.assert_array_equal(back.data.compute(), Map.read(crab_file, hdu=name).data.compute())


def test_region_maps_round_trip_through_gammapy(tmp_path, gammapy_maps):
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
    geom = RegionGeom.create("icrs;circle(83.63,22.01,0.5)", axes=[axis])
    region_map = Map.from_geom(geom, data=np.arange(3.0).reshape(3, 1, 1), unit="cm-2")
    region_map.write(tmp_path / "region.fits")
    with fits.open(tmp_path / "region.fits") as hdulist:
        assert [h.name for h in hdulist] == ["PRIMARY", "SKYMAP", "SKYMAP_BANDS", "SKYMAP_REGION"]
        assert hdulist["SKYMAP"].columns.names == ["CHANNEL", "DATA"]
    # gammapy's Map.read(hdu=None) fails on region maps (format None); its class reader works.
    theirs = gammapy_maps.RegionNDMap.read(tmp_path / "region.fits")
    np.testing.assert_array_equal(theirs.data, region_map.data.compute())
    assert theirs.unit == u.Unit("cm-2")
    assert theirs.geom.region.center.separation(geom.region.center).deg < 1e-9
    back = Map.read(tmp_path / "region.fits")
    np.testing.assert_array_equal(back.data.compute(), region_map.data.compute())
    assert str(back.geom.region.center) == str(geom.region.center)


def test_writing_streams_chunk_by_chunk(tmp_path, raise_if_dask_computes):
    computed = []

    def block(x, block_info=None):
        computed.append(block_info[None]["chunk-location"])
        return x

    cube = make_cube(chunks={"y": 10, "x": 15})
    traced = cube.copy(data=cube.data.map_blocks(block, dtype=cube.dtype))
    with raise_if_dask_computes(max_computes=1):
        traced.write(tmp_path / "streamed.fits", hdu="COUNTS")
    assert sorted(computed) == sorted(np.ndindex(*traced.data.numblocks))
    np.testing.assert_array_equal(fits.getdata(tmp_path / "streamed.fits", "COUNTS"), cube.data.compute())


def test_overwrite_false_never_clobbers(tmp_path, cube_file):
    path, cube = cube_file
    before = path.read_bytes()
    with pytest.raises(OverwriteError, match="overwrite=True") as info:
        (cube * 2).write(path, hdu="COUNTS")
    assert isinstance(info.value, FileExistsError)
    assert path.read_bytes() == before
    (cube * 2).write(path, hdu="COUNTS", overwrite=True)
    np.testing.assert_array_equal(fits.getdata(path, "COUNTS"), 2 * cube.data.compute())
    assert sorted(os.listdir(path.parent)) == ["cube.fits"]  # no temporary file left


def test_failed_write_leaves_target_and_no_temporary(tmp_path, cube_file):
    path, cube = cube_file
    before = path.read_bytes()

    def fail(x):
        raise RuntimeError("boom")

    broken = cube.copy(data=cube.data.map_blocks(fail, dtype=cube.dtype))
    with pytest.raises(RuntimeError, match="boom"):
        broken.write(path, hdu="COUNTS", overwrite=True)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["cube.fits"]


def test_killed_write_leaves_the_earlier_file_intact(tmp_path, cube_file):
    path, _ = cube_file
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import time
        import dask.array as da
        from mapds.geom import MapAxis
        from mapds.maps import Map

        def slow(x):
            time.sleep(0.05)
            return x + 1

        axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 4)
        m = Map.create(npix=(2000, 1000), binsz=0.01, axes=[axis], chunks={{"y": 50, "x": 500}})
        m = m.copy(data=m.data.map_blocks(slow, dtype=m.dtype))
        print("writing", flush=True)
        m.write({str(path)!r}, hdu="COUNTS", overwrite=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while not any(".mapds-tmp-" in name for name in os.listdir(path.parent)):
            assert time.monotonic() < deadline, "the writer never created its temporary file"
            assert proc.poll() is None, "the writer finished before it could be killed"
            time.sleep(0.01)
        time.sleep(0.3)
        assert proc.poll() is None, "the writer finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert path.read_bytes() == before
    leftovers = [name for name in os.listdir(path.parent) if name != "cube.fits"]
    assert leftovers and all(name.startswith(".cube.fits.mapds-tmp-") for name in leftovers)


def test_checksums_verify_in_astropy(tmp_path, cube):
    cube.write(tmp_path / "sum.fits", hdu="COUNTS", checksum=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(tmp_path / "sum.fits", checksum=True) as hdulist:
            assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in hdulist)
            np.testing.assert_array_equal(hdulist["COUNTS"].data, cube.data.compute())
        Map.read(tmp_path / "sum.fits", hdu="COUNTS", checksum=True)
    raw = bytearray((tmp_path / "sum.fits").read_bytes())
    offset = FitsFile.open(tmp_path / "sum.fits").info_of("COUNTS").data_offset
    raw[offset + 5] ^= 0xFF
    (tmp_path / "bad.fits").write_bytes(bytes(raw))
    with pytest.warns(UserWarning) as record:
        Map.read(tmp_path / "bad.fits", hdu="COUNTS", checksum=True)
    messages = sorted(str(w.message).split(": ", 1)[1] for w in record)
    assert messages == [
        "CHECKSUM verification failed for HDU 'COUNTS' (#1)",
        "DATASUM verification failed for HDU 'COUNTS' (#1)",
    ]


@pytest.mark.parametrize("dtype", ["f8", "i2", "i4", "i8", "u1", "u2", "u4", "i1"])
def test_integer_and_unsigned_maps_round_trip(tmp_path, dtype):
    cube = make_cube(nbin=2, dtype=dtype)
    cube.write(tmp_path / "typed.fits", hdu="X")
    expected = fits.getdata(tmp_path / "typed.fits", "X")
    assert expected.dtype.newbyteorder("=") == np.dtype(dtype)
    np.testing.assert_array_equal(expected, cube.data.compute())
    back = Map.read(tmp_path / "typed.fits", hdu="X")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data.compute(), cube.data.compute())


def test_multi_hdu_dataset_file(tmp_path, gammapy_maps):
    counts = make_cube(chunks={"y": 20}, unit="")
    exposure = make_cube(unit="m2 s").to_unit("cm2 s")
    mask = counts > counts * 0.5
    primary = fits.PrimaryHDU()
    primary.header["NAME"] = "survey"
    gti = Table(
        {"START": [0.0, 10.0] * u.s, "STOP": [5.0, 20.0] * u.s}, meta={"MJDREFI": 51544, "TIMESYS": "tt"}
    )
    hdus = [primary]
    hdus += map_to_hdus(counts, hdu="COUNTS")
    hdus += map_to_hdus(exposure, hdu="EXPOSURE")
    hdus += map_to_hdus(mask, hdu="MASK_SAFE")
    hdus.append(fits.BinTableHDU(gti, name="GTI"))
    write_fits(tmp_path / "dataset.fits", hdus)
    f = FitsFile.open(tmp_path / "dataset.fits")
    assert f.names == [
        "PRIMARY",
        "COUNTS",
        "COUNTS_BANDS",
        "EXPOSURE",
        "EXPOSURE_BANDS",
        "MASK_SAFE",
        "MASK_SAFE_BANDS",
        "GTI",
    ]
    assert f.header("PRIMARY")["NAME"] == "survey"
    np.testing.assert_array_equal(f.read_map("EXPOSURE").data.compute(), exposure.data.compute())
    assert f.read_map("MASK_SAFE").dtype == bool
    table = f.read_table("GTI")
    assert table["STOP"].unit == u.s and table.meta["MJDREFI"] == 51544
    for name, m in [("COUNTS", counts), ("EXPOSURE", exposure), ("MASK_SAFE", mask)]:
        theirs = gammapy_maps.Map.read(tmp_path / "dataset.fits", hdu=name)
        np.testing.assert_array_equal(theirs.data, m.data.compute())
    with pytest.raises(ValueError, match="first HDU"):
        write_fits(tmp_path / "bad.fits", [fits.ImageHDU(), fits.PrimaryHDU()])


def test_streamed_image_has_zero_padding_and_exact_size(tmp_path):
    cube = make_cube(npix=(7, 5), nbin=3, chunks={"y": 2, "x": 3})
    cube.write(tmp_path / "odd.fits", hdu="COUNTS")
    info = FitsFile.open(tmp_path / "odd.fits").info_of("COUNTS")
    raw = (tmp_path / "odd.fits").read_bytes()
    assert raw[info.data_offset + info.data_size : info.end] == b"\0" * (
        info.end - info.data_offset - info.data_size
    )
    assert len(raw) % 2880 == 0


def test_dask_data_of_another_dtype_is_written_as_given(tmp_path):
    cube = make_cube(nbin=2)
    doubled = cube.copy(data=da.asarray(cube.data, chunks=(2, 10, 20)).astype("f8"))
    doubled.write(tmp_path / "f8.fits", hdu="D")
    assert fits.getheader(tmp_path / "f8.fits", "D")["BITPIX"] == -64


def test_runs_longer_than_the_scratch_buffer(tmp_path):
    """Whole planes of 4.4 MB: written and read piece by piece through the 4 MiB buffers."""
    axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2)
    m = Map.create(npix=(1100, 1000), binsz=0.01, axes=[axis], chunks=-1)
    m.data = da.random.default_rng(1).random(m.geom.data_shape, chunks=-1).astype("f4")
    m.write(tmp_path / "long.fits", hdu="X")
    expected = m.data.compute()
    np.testing.assert_array_equal(fits.getdata(tmp_path / "long.fits", "X"), expected)
    np.testing.assert_array_equal(
        Map.read(tmp_path / "long.fits", hdu="X", chunks=-1).data.compute(), expected
    )


def test_two_axis_region_map_matches_gammapy(tmp_path, gammapy_maps):
    """An IRF-like region map (rad x energy_true), as fermi-3fhl-gc stores its PSF."""
    rad = MapAxis.from_bounds(0, 0.5, 4, name="rad", unit="deg")
    energy = MapAxis.from_energy_bounds("1 GeV", "100 GeV", 3, name="energy_true")
    values = np.arange(12.0).reshape(3, 4, 1, 1)
    ours = Map.from_geom(RegionGeom.create(None, axes=[rad, energy]), data=values, unit="sr-1")
    g_rad = gammapy_maps.MapAxis.from_bounds(0, 0.5, 4, name="rad", unit="deg")
    g_energy = gammapy_maps.MapAxis.from_energy_bounds("1 GeV", "100 GeV", 3, name="energy_true")
    theirs = gammapy_maps.Map.from_geom(
        gammapy_maps.RegionGeom.create(None, axes=[g_rad, g_energy]), data=values, unit="sr-1"
    )
    ours.write(tmp_path / "ours.fits", hdu="PSF")
    theirs.write(tmp_path / "theirs.fits", hdu="PSF")
    with fits.open(tmp_path / "ours.fits") as a, fits.open(tmp_path / "theirs.fits") as b:
        _assert_same_hdus(a, b)
    back = Map.read(tmp_path / "theirs.fits", hdu="PSF")
    np.testing.assert_array_equal(back.data.compute(), values)
    assert back.geom.axes.names == ["rad", "energy_true"]


@pytest.mark.parametrize("nbin", [0, 3])
def test_sparse_maps_match_gammapy(tmp_path, gammapy_maps, nbin):
    cube = make_cube(npix=(20, 10), nbin=max(nbin, 1), chunks={"y": 4, "x": 7})
    cube = cube.slice_by_idx({"energy": 0}) if nbin == 0 else cube
    sparse = cube.copy(data=da.where(cube.data > 6, cube.data, 0))
    sparse.write(tmp_path / "ours.fits", sparse=True)
    theirs = gammapy_maps.Map.read(tmp_path / "ours.fits")
    np.testing.assert_array_equal(theirs.data, sparse.data.compute())
    theirs.write(tmp_path / "theirs.fits", sparse=True)
    with fits.open(tmp_path / "ours.fits") as a, fits.open(tmp_path / "theirs.fits") as b:
        _assert_same_hdus(a, b)
    back = Map.read(tmp_path / "theirs.fits")
    np.testing.assert_array_equal(back.data.compute(), sparse.data.compute())
    with pytest.raises(ValueError, match="PRIMARY"):
        sparse.write(tmp_path / "x.fits", sparse=True, hdu="primary")
