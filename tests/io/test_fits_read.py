"""Lazy FITS reading: byte accounting, laziness, gammapy parity and errors."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits

from mapds.errors import AxisError, CorruptFileError, MissingFileError, MissingHDUError, UnitMismatchError
from mapds.io.fits import FitsFile
from mapds.maps import Map, RegionNDMap
from mapds.testing import image_bytes_read

from .conftest import CRAB_HDUS, CRAB_IEM, make_cube


def test_opening_reads_no_image_bytes(counting_fs, crab_file):
    f = FitsFile.open(f"countfile://{crab_file}")
    maps = [f.read_map(name) for name in CRAB_HDUS]
    assert counting_fs.bytes_read > 0  # headers and bands tables
    assert image_bytes_read(counting_fs, crab_file) == 0
    assert all(m.data.shape == m.geom.data_shape for m in maps)


def test_map_read_reads_no_image_bytes(counting_fs, cube_file):
    path, _ = cube_file
    m = Map.read(f"countfile://{path}", hdu="COUNTS")
    sub = m.slice_by_idx({"energy": slice(1, 3), "x": slice(5, 25)}) * 2
    assert sub.data.shape == (2, 40, 20)
    assert image_bytes_read(counting_fs, path) == 0


@pytest.mark.parametrize("chunks", [None, {}, {"y": 7, "x": 11}])
def test_cutout_reads_only_its_bytes(counting_fs, tmp_path, chunks):
    m = make_cube(npix=(300, 120), nbin=3)
    path = tmp_path / "c.fits"
    m.write(path, hdu="COUNTS")
    opened = Map.read(f"countfile://{path}", hdu="COUNTS", chunks=chunks)
    counting_fs.reset()
    cut = opened.slice_by_idx({"x": slice(100, 160), "y": slice(30, 70)})
    values = cut.data.compute()
    np.testing.assert_array_equal(values, m.data.compute()[:, 30:70, 100:160])
    needed = values.nbytes
    assert needed <= counting_fs.bytes_read <= 1.5 * needed
    assert image_bytes_read(counting_fs, path) == counting_fs.bytes_read


def test_map_cutout_reads_only_its_bytes(counting_fs, tmp_path):
    m = make_cube(npix=(300, 120), nbin=3)
    path = tmp_path / "c.fits"
    m.write(path, hdu="COUNTS")
    opened = Map.read(f"countfile://{path}", hdu="COUNTS")
    counting_fs.reset()
    cut = opened.cutout(SkyCoord(10.0, 1.0, unit="deg", frame="galactic"), width=1 * u.deg)
    values = cut.data.compute()
    assert 0 < values.nbytes <= counting_fs.bytes_read <= 1.5 * values.nbytes
    expected = m.cutout(SkyCoord(10.0, 1.0, unit="deg", frame="galactic"), width=1 * u.deg)
    np.testing.assert_array_equal(values, expected.data.compute())


def test_full_rows_are_read_as_one_range_per_plane(counting_fs, tmp_path):
    m = make_cube(npix=(100, 80), nbin=3)
    path = tmp_path / "rows.fits"
    m.write(path, hdu="COUNTS")
    opened = Map.read(f"countfile://{path}", hdu="COUNTS", chunks={})
    counting_fs.reset()
    opened.slice_by_idx({"y": slice(10, 20)}).data.compute()
    assert len(counting_fs.reads) == 3
    assert counting_fs.bytes_read == 3 * 10 * 100 * 4
    # Close planes: the gaps between them are read too, as long as it costs <= 1.5x.
    counting_fs.reset()
    opened.slice_by_idx({"y": slice(10, 70)}).data.compute()
    assert len(counting_fs.reads) == 1
    assert counting_fs.bytes_read == (2 * 80 + 60) * 100 * 4


def test_native_chunks_are_whole_row_slabs(cube_file):
    path, cube = cube_file
    m = Map.read(path, hdu="COUNTS", chunks={})
    assert m.chunks[-1] == (cube.geom.data_shape[-1],)
    assert m.chunks[0] == (cube.geom.data_shape[0],)


def test_graphs_from_opened_maps_do_not_compute(cube_file, raise_if_dask_computes):
    path, cube = cube_file
    with raise_if_dask_computes():
        m = Map.read(path, hdu="COUNTS")
        total = (m * 2).slice_by_idx({"energy": 0, "y": slice(2, 9)}).data.sum()
        mask = m > m * 0.5
    assert float(total.compute()) == pytest.approx(float((cube.data[0, 2:9] * 2).sum().compute()))
    assert mask.dtype == bool


def test_map_read_matches_gammapy_on_the_crab_dataset(crab_file, gammapy_maps):
    for name in CRAB_HDUS:
        ours = Map.read(crab_file, hdu=name)
        theirs = gammapy_maps.Map.read(crab_file, hdu=name)
        values = ours.data.compute()
        assert values.dtype == theirs.data.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(values, theirs.data, err_msg=name)
        assert ours.unit == theirs.unit, name
        assert ours.geom.data_shape == theirs.geom.data_shape, name
        assert ours.geom.wcs.to_header() == theirs.geom.wcs.to_header(), name
        for ax, gax in zip(ours.geom.axes, theirs.geom.axes, strict=True):
            assert (ax.name, ax.node_type, ax.interp) == (gax.name, gax.node_type, gax.interp), name
            np.testing.assert_allclose(ax.edges.to_value(gax.unit), gax.edges.value, rtol=1e-12)
    assert Map.read(crab_file).geom.axes.names == ["energy"]  # hdu=None: first image, COUNTS


def test_masks_are_read_as_bool(crab_file):
    with fits.open(crab_file) as hdulist:
        assert hdulist["MASK_SAFE"].data.dtype == np.dtype(">i8")
    mask = Map.read(crab_file, hdu="MASK_SAFE")
    assert mask.dtype == bool and mask.is_mask


def test_fermi_template_with_center_axis(crab_dir, gammapy_maps):
    ours = Map.read(crab_dir / CRAB_IEM)
    theirs = gammapy_maps.Map.read(crab_dir / CRAB_IEM)
    np.testing.assert_array_equal(ours.data.compute(), theirs.data)
    assert ours.unit == theirs.unit == u.Unit("cm-2 MeV-1 s-1 sr-1")
    np.testing.assert_allclose(ours.geom.axes[0].center.value, theirs.geom.axes[0].center.value, rtol=1e-12)


@pytest.mark.parametrize("fmt", ["fgst-ccube", "fgst-template"])
def test_fermi_formats_written_by_gammapy(tmp_path, gammapy_maps, fmt):
    axis = gammapy_maps.MapAxis.from_energy_bounds("1 GeV", "100 GeV", 4)
    theirs = gammapy_maps.Map.create(npix=(8, 6), binsz=0.5, axes=[axis])
    theirs.data = np.arange(theirs.data.size, dtype="f4").reshape(theirs.data.shape)
    theirs.write(tmp_path / "fermi.fits", format=fmt)
    expected = gammapy_maps.Map.read(tmp_path / "fermi.fits")
    ours = Map.read(tmp_path / "fermi.fits")
    np.testing.assert_array_equal(ours.data.compute(), expected.data)
    assert ours.unit == expected.unit
    assert ours.geom.axes[0].name == expected.geom.axes[0].name
    np.testing.assert_allclose(ours.geom.axes[0].edges.value, expected.geom.axes[0].edges.value, rtol=1e-12)


def test_fermi_ccube_with_ebounds_table(tmp_path, gammapy_maps):
    """A Fermi science-tools counts cube: 3D primary image, ``EBOUNDS`` in keV, no BANDSHDU."""
    data = np.arange(3 * 4 * 5, dtype=">f4").reshape(3, 4, 5)
    header = gammapy_maps.WcsGeom.create(npix=(5, 4), binsz=0.1).wcs.to_header()
    ebounds = fits.BinTableHDU.from_columns(
        [
            fits.Column("CHANNEL", "I", array=np.arange(3)),
            fits.Column("E_MIN", "E", unit="keV", array=[1e6, 2e6, 4e6]),
            fits.Column("E_MAX", "E", unit="keV", array=[2e6, 4e6, 8e6]),
        ],
        name="EBOUNDS",
    )
    fits.HDUList([fits.PrimaryHDU(data, header=header), ebounds]).writeto(tmp_path / "ccube.fits")
    ours = Map.read(tmp_path / "ccube.fits")
    theirs = gammapy_maps.Map.read(tmp_path / "ccube.fits")
    np.testing.assert_array_equal(ours.data.compute(), theirs.data)
    np.testing.assert_allclose(
        ours.geom.axes[0].edges.to_value("keV"), theirs.geom.axes[0].edges.to_value("keV")
    )


def test_region_map_written_by_gammapy(tmp_path, gammapy_maps):
    axis = gammapy_maps.MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
    geom = gammapy_maps.RegionGeom.create("icrs;circle(83.63,22.01,0.5)", axes=[axis])
    theirs = gammapy_maps.Map.from_geom(geom, unit="cm-2", data=np.arange(3.0).reshape(3, 1, 1))
    theirs.write(tmp_path / "region.fits")
    ours = Map.read(tmp_path / "region.fits")
    assert isinstance(ours, RegionNDMap)
    np.testing.assert_array_equal(ours.data.compute(), theirs.data)
    assert ours.unit == theirs.unit
    assert ours.geom.region.center.separation(theirs.geom.region.center).deg < 1e-9
    assert ours.geom.region.radius.to_value("deg") == pytest.approx(theirs.geom.region.radius.to_value("deg"))


def test_from_hdulist_matches_read(crab_file):
    with fits.open(crab_file) as hdulist:
        from_list = Map.from_hdulist(hdulist, hdu="EXPOSURE")
        np.testing.assert_array_equal(
            from_list.data.compute(), Map.read(crab_file, hdu="EXPOSURE").data.compute()
        )
        assert from_list.geom == Map.read(crab_file, hdu="EXPOSURE").geom


def test_table_and_header_access(crab_file):
    f = FitsFile.open(crab_file)
    assert f.names[:3] == ["PRIMARY", "COUNTS", "COUNTS_BANDS"]
    assert "gti" in f and "NOPE" not in f
    gti = f.read_table("GTI")
    assert gti.colnames == ["START", "STOP"] and len(gti) == 0
    assert gti.meta["TIMESYS"] == "tt"
    bands = f.read_table("COUNTS_BANDS")
    assert bands["E_MIN"].unit == u.TeV and len(bands) == 5
    assert f.header("counts")["BANDSHDU"] == "COUNTS_BANDS"
    with pytest.raises(CorruptFileError, match="not a table"):
        f.read_table("COUNTS")


# -- errors ------------------------------------------------------------------------------------


def test_missing_hdu_lists_available(cube_file):
    path, _ = cube_file
    with pytest.raises(MissingHDUError, match="COUNTS_BANDS") as info:
        Map.read(path, hdu="EXPOSURE")
    assert "EXPOSURE" in str(info.value) and isinstance(info.value, KeyError)


def test_truncated_file_names_the_hdu(tmp_path, cube_file):
    path, _ = cube_file
    data = path.read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(data[: 2 * 2880 + 1200])
    with pytest.raises(
        CorruptFileError, match=r"HDU 'COUNTS' \(#1\) claims 38400 bytes of data but the file ends after 1200"
    ):
        FitsFile.open(truncated)


def test_truncated_header_and_garbage(tmp_path, cube_file):
    path, _ = cube_file
    (tmp_path / "half_header.fits").write_bytes(path.read_bytes()[: 2880 + 1000])
    with pytest.raises(CorruptFileError, match="ends inside the header of HDU #1"):
        FitsFile.open(tmp_path / "half_header.fits")
    (tmp_path / "garbage.fits").write_bytes(b"hello world" * 1000)
    with pytest.raises(CorruptFileError, match="not a FITS file"):
        Map.read(tmp_path / "garbage.fits")
    (tmp_path / "empty.fits").write_bytes(b"")
    with pytest.raises(CorruptFileError):
        Map.read(tmp_path / "empty.fits")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MissingFileError, match=r"nowhere\.fits"):
        Map.read(tmp_path / "nowhere.fits")


def test_unknown_bunit(tmp_path, cube_file):
    path, _ = cube_file
    with fits.open(path) as hdulist:
        hdulist["COUNTS"].header["BUNIT"] = "furlongs per fortnight"
        hdulist.writeto(tmp_path / "bad_unit.fits")
    with pytest.raises(UnitMismatchError, match=r"COUNTS.*furlongs per fortnight"):
        Map.read(tmp_path / "bad_unit.fits", hdu="COUNTS")


def test_non_monotonic_bands_table(tmp_path, cube_file):
    path, _ = cube_file
    with fits.open(path) as hdulist:
        bands = hdulist["COUNTS_BANDS"].data
        for column in ("ENERGY", "E_MIN", "E_MAX"):
            bands[column][[1, 2]] = bands[column][[2, 1]]
        hdulist.writeto(tmp_path / "scrambled.fits")
    with pytest.raises(AxisError, match=r"COUNTS_BANDS.*E_MIN.*monotonic"):
        Map.read(tmp_path / "scrambled.fits", hdu="COUNTS")


def test_bands_table_naming_missing_column(tmp_path, cube_file):
    path, _ = cube_file
    with fits.open(path) as hdulist:
        hdulist["COUNTS_BANDS"].header["AXCOLS1"] = "E_LO,E_HI"
        hdulist.writeto(tmp_path / "badcols.fits")
    with pytest.raises(AxisError, match="E_LO"):
        Map.read(tmp_path / "badcols.fits", hdu="COUNTS")


def test_healpix_is_refused_clearly(tmp_path):
    header = fits.Header({"PIXTYPE": "HEALPIX", "ORDERING": "RING", "NSIDE": 1})
    table = fits.BinTableHDU.from_columns([fits.Column("CHANNEL1", "E", array=np.zeros(12))], header=header)
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "hpx.fits")
    with pytest.raises(NotImplementedError, match="HEALPix"):
        Map.read(tmp_path / "hpx.fits")


def test_hdus_by_index_and_case_insensitive_name(crab_file):
    by_index = Map.read(crab_file, hdu=3)
    by_name = Map.read(crab_file, hdu="exposure")
    assert by_index.geom == by_name.geom and by_index.unit == by_name.unit
    with pytest.raises(MissingHDUError, match="99"):
        Map.read(crab_file, hdu=99)


def test_photon_and_count_units_are_dropped_like_gammapy(tmp_path, cube_file, gammapy_maps):
    path, _ = cube_file
    with fits.open(path) as hdulist:
        hdulist["COUNTS"].header["BUNIT"] = "ph cm-2 s-1"
        hdulist.writeto(tmp_path / "ph.fits")
    ours = Map.read(tmp_path / "ph.fits", hdu="COUNTS")
    assert ours.unit == gammapy_maps.Map.read(tmp_path / "ph.fits", hdu="COUNTS").unit == u.Unit("cm-2 s-1")
