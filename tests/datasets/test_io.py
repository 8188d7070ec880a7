"""MapDataset files: gadf FITS both ways with gammapy, zarr groups, laziness (bytes and computes
counted), remote storage, atomic writes, reset_data_cache."""

from __future__ import annotations

import gzip
import shutil

import dask.array as da
import gammapy.datasets
import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from astropy.table import Table

from mapds.datasets import MapDataset, SpectrumDataset
from mapds.errors import CorruptFileError, InvalidArgumentError, MissingHDUError, OverwriteError
from mapds.maps import Map
from mapds.testing import GAMMAPY, MAPDS, image_bytes_read

CRAB = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
EDISPS = ["kernel", "migra", None]
GAMMAPY_HDUS = [
    "PRIMARY", "COUNTS", "COUNTS_BANDS", "EXPOSURE", "EXPOSURE_BANDS", "BACKGROUND", "BACKGROUND_BANDS",
    "EDISP", "EDISP_BANDS", "EDISP_EXPOSURE", "EDISP_EXPOSURE_BANDS", "PSF", "PSF_BANDS", "PSF_EXPOSURE",
    "PSF_EXPOSURE_BANDS", "MASK_SAFE", "MASK_SAFE_BANDS", "MASK_FIT", "MASK_FIT_BANDS", "GTI", "META_TABLE",
]  # fmt: skip


def _cards(header) -> list:
    return [(key, value) for key, value in header.items() if key not in ("CREATOR", "CREATED")]


# -- FITS files, both ways with gammapy ------------------------------------------------------------


@pytest.mark.parametrize("edisp", EDISPS)
def test_mapds_file_reads_in_gammapy(tmp_path, dataset_pair, assert_same, edisp):
    _, md = dataset_pair(seed=1, edisp=edisp)
    md.write(tmp_path / "md.fits")
    read = gammapy.datasets.MapDataset.read(tmp_path / "md.fits")
    assert_same.dataset(md, read)
    assert read.name == "ds"


@pytest.mark.parametrize("edisp", EDISPS)
def test_gammapy_file_reads_in_mapds(tmp_path, dataset_pair, assert_same, edisp):
    gp, _ = dataset_pair(seed=2, edisp=edisp)
    gp.write(tmp_path / "gp.fits")
    md = MapDataset.read(tmp_path / "gp.fits")
    assert_same.dataset(md, gp)
    assert md.counts.chunks == md.background.chunks == md.mask_safe.chunks == md.mask_fit.chunks
    assert md.exposure.chunks[-2:] == md.counts.chunks[-2:]


def test_file_has_gammapy_hdus_and_cards(tmp_path, dataset_pair):
    gp, md = dataset_pair()
    gp.write(tmp_path / "gp.fits")
    md.write(tmp_path / "md.fits")
    with fits.open(tmp_path / "gp.fits") as expected, fits.open(tmp_path / "md.fits") as written:
        assert [h.name for h in written] == [h.name for h in expected] == GAMMAPY_HDUS
        for got, want in zip(written, expected, strict=True):
            assert _cards(got.header) == _cards(want.header), got.name
            assert list(got.header)[-2:] == ["CREATOR", "CREATED"] or got.name == "GTI"
            assert got.header["CREATOR"].startswith("mapds ")
        assert written["MASK_SAFE"].header["BITPIX"] == 64
        assert written["PRIMARY"].header["NAME"] == "ds"


def test_crab_file_reads_as_in_gammapy(crab_dir, assert_same):
    gp = gammapy.datasets.MapDataset.read(crab_dir / CRAB)
    md = MapDataset.read(crab_dir / CRAB, name="crab")
    assert md.name == "crab"
    assert_same.dataset(md, gp, check_name=False)


def test_crab_roundtrip_through_mapds_reads_in_gammapy(tmp_path, crab_dir):
    MapDataset.read(crab_dir / CRAB, name="crab").write(tmp_path / "crab.fits")
    gp = gammapy.datasets.MapDataset.read(crab_dir / CRAB)
    again = gammapy.datasets.MapDataset.read(tmp_path / "crab.fits")
    assert again.name == "crab"
    for member in ("counts", "exposure", "background", "mask_safe"):
        np.testing.assert_array_equal(getattr(again, member).data, getattr(gp, member).data, err_msg=member)
    np.testing.assert_array_equal(again.psf.psf_map.data, gp.psf.psf_map.data)
    np.testing.assert_array_equal(again.edisp.edisp_map.data, gp.edisp.edisp_map.data)


def _spectrum_dataset(ns):
    energy = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    geom = ns.RegionGeom.create("galactic;circle(10, 20, 0.3)", axes=[energy])
    out = ns.SpectrumDataset.create(geom, name="spec", meta_table=Table({"OBS_ID": [7]}))
    out.counts = ns.Map.from_geom(geom, data=np.array([3.0, 1.0, 2.0], dtype="f4").reshape(3, 1, 1))
    out.mask_safe = ns.Map.from_geom(geom, data=np.array([True, False, True]).reshape(3, 1, 1))
    return out


def test_spectrum_dataset_files_both_ways(tmp_path, assert_same):
    gp, md = _spectrum_dataset(GAMMAPY), _spectrum_dataset(MAPDS)
    md.write(tmp_path / "md.fits")
    gp.write(tmp_path / "gp.fits")
    read = SpectrumDataset.read(tmp_path / "gp.fits")
    assert isinstance(read, SpectrumDataset)
    assert_same.dataset(read, gammapy.datasets.SpectrumDataset.read(tmp_path / "gp.fits"))
    # gammapy reads the region radius back in arcsec: compare the maps, not the region strings
    in_gammapy = gammapy.datasets.SpectrumDataset.read(tmp_path / "md.fits")
    assert in_gammapy.name == "spec"
    for member in ("counts", "exposure", "background", "mask_safe"):
        np.testing.assert_array_equal(
            getattr(in_gammapy, member).data, getattr(gp, member).data, err_msg=member
        )
    np.testing.assert_array_equal(in_gammapy.edisp.edisp_map.data, gp.edisp.edisp_map.data)
    assert in_gammapy.counts.geom.region.radius.to_value("deg") == pytest.approx(0.3)
    assert_same.table(md.meta_table, in_gammapy.meta_table)
    with fits.open(tmp_path / "gp.fits") as expected, fits.open(tmp_path / "md.fits") as written:
        assert [h.name for h in written] == [h.name for h in expected]


def test_old_exposure_with_energy_axis_is_renamed(tmp_path, dataset_pair):
    gp, _ = dataset_pair()
    gp.write(tmp_path / "gp.fits")
    with fits.open(tmp_path / "gp.fits") as hdulist:
        for name in ("EXPOSURE", "EXPOSURE_BANDS"):
            hdulist[name].header["AXCOLS1"] = "E_MIN,E_MAX"
        bands = hdulist["EXPOSURE_BANDS"]
        for i, column in enumerate(("ENERGY", "E_MIN", "E_MAX"), start=2):
            bands.header[f"TTYPE{i}"] = column
        hdulist.writeto(tmp_path / "old.fits")
    md = MapDataset.read(tmp_path / "old.fits")
    assert md.exposure.geom.axes.names == ["energy_true"]
    np.testing.assert_array_equal(md.exposure.data.compute(), gp.exposure.data)


def test_partial_file_and_names(tmp_path, dataset_pair):
    _, md = dataset_pair()
    md.counts.write(tmp_path / "counts.fits", hdu="COUNTS")
    read = MapDataset.read(tmp_path / "counts.fits")
    assert read.counts is not None
    absent = ("exposure", "background", "psf", "edisp", "mask_safe", "gti")
    assert all(getattr(read, member) is None for member in absent)
    assert len(read.name) == 8  # no NAME card: a random name
    md.write(tmp_path / "named.fits")
    assert MapDataset.read(tmp_path / "named.fits").name == "ds"
    assert MapDataset.read(tmp_path / "named.fits", name="other").name == "other"


def test_hdulist_both_ways(dataset_pair, assert_same):
    gp, md = dataset_pair(edisp="migra")
    hdulist = md.to_hdulist()
    assert [h.name for h in hdulist] == [h.name for h in gp.to_hdulist()]
    # gammapy's from_hdulist does not take the name from the file (read does)
    assert_same.dataset(md, gammapy.datasets.MapDataset.from_hdulist(hdulist), check_name=False)
    assert_same.dataset(MapDataset.from_hdulist(gp.to_hdulist()), gp, check_name=False)
    assert MapDataset.from_hdulist(md.to_hdulist()).name == "ds"
    assert MapDataset.from_hdulist(gp.to_hdulist(), name="x").name == "x"


def test_to_dict_and_from_dict(tmp_path, dataset_pair):
    _, md = dataset_pair(name="my data")
    entry = md.to_dict()
    assert entry == {"name": "my data", "type": "MapDataset", "filename": "my_data.fits"}
    md.write(tmp_path / entry["filename"])
    read = MapDataset.from_dict({**entry, "filename": str(tmp_path / entry["filename"])})
    assert read.name == "my data"


def test_checksum_cards(tmp_path, dataset_pair):
    _, md = dataset_pair()
    md.write(tmp_path / "sum.fits", checksum=True)
    with fits.open(tmp_path / "sum.fits", checksum=True) as hdulist:
        assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in hdulist)
    MapDataset.read(tmp_path / "sum.fits", checksum=True)


# -- laziness --------------------------------------------------------------------------------------


def test_read_reads_no_image_bytes_and_computes_nothing(
    tmp_path, counting_fs, raise_if_dask_computes, dataset_pair
):
    _, md = dataset_pair()
    md.write(tmp_path / "lazy.fits")
    counting_fs.reset()
    with raise_if_dask_computes():
        read = MapDataset.read(f"countfile://{tmp_path / 'lazy.fits'}")
        masks = (read.mask, read.mask_image, read.mask_safe_image)
    assert counting_fs.bytes_read > 0  # headers and small tables
    assert image_bytes_read(counting_fs, tmp_path / "lazy.fits") == 0
    assert all(m is not None for m in masks)
    assert read.gti is not None and read.meta_table is not None


def test_crab_read_reads_no_image_bytes(crab_dir, tmp_path, counting_fs):
    shutil.copy(crab_dir / CRAB, tmp_path / CRAB)
    counting_fs.reset()
    MapDataset.read(f"countfile://{tmp_path / CRAB}")
    assert image_bytes_read(counting_fs, tmp_path / CRAB) == 0
    assert counting_fs.bytes_read < 250_000  # headers, bands tables (PSF_BANDS: 5100 rows), GTI


def test_read_chunks_follow_the_counts(tmp_path, dataset_pair):
    gp, _ = dataset_pair()
    gp.write(tmp_path / "gp.fits")
    md = MapDataset.read(tmp_path / "gp.fits", chunks={"x": 7, "y": 5})
    expected = ((4,), (5, 5, 5, 1), (7, 7, 6))
    for member in ("counts", "background", "mask_safe", "mask_fit"):
        assert getattr(md, member).chunks == expected, member
    assert md.exposure.chunks == ((6,), *expected[1:])
    # chunks come straight from storage: no rechunk layer in the graphs
    assert not any("rechunk" in layer for layer in md.exposure.data.__dask_graph__().layers)


def test_gzip_file_reads_through_the_cache(tmp_path, monkeypatch, dataset_pair, assert_same):
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "cache"))
    gp, _ = dataset_pair(seed=3)
    gp.write(tmp_path / "gp.fits")
    with open(tmp_path / "gp.fits", "rb") as src, gzip.open(tmp_path / "gp.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert_same.dataset(MapDataset.read(tmp_path / "gp.fits.gz"), gp)


def test_s3_write_and_read(s3_bucket, dataset_pair, assert_same):
    url, options = s3_bucket
    gp, md = dataset_pair(seed=4)
    md.write(f"{url}/data/ds.fits", storage_options=options)
    read = MapDataset.read(f"{url}/data/ds.fits", storage_options=options)
    assert_same.dataset(read, gp)
    with pytest.raises(OverwriteError):
        md.write(f"{url}/data/ds.fits", storage_options=options)


# -- zarr ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
def test_zarr_roundtrip(tmp_path, dataset_pair, assert_same, edisp):
    gp, md = dataset_pair(seed=5, edisp=edisp)
    md.write(tmp_path / "ds.zarr")
    read = MapDataset.read(tmp_path / "ds.zarr")
    assert_same.dataset(read, gp)
    assert read.counts.chunks == md.counts.chunks  # zarr chunks are the written dask chunks
    again = MapDataset.read(tmp_path / "ds.zarr", format="zarr", chunks={"x": 5})
    assert again.counts.chunks[-1] == (5, 5, 5, 5)
    assert again.exposure.chunks[-2:] == again.counts.chunks[-2:]


def test_zarr_is_opened_by_xarray(tmp_path, dataset_pair):
    gp, md = dataset_pair()
    md.write(tmp_path / "ds.zarr")
    counts = xr.open_zarr(tmp_path / "ds.zarr", group="counts")["counts"]
    assert counts.dims == ("energy", "y", "x")
    np.testing.assert_array_equal(counts.values, gp.counts.data)
    psf = xr.open_zarr(tmp_path / "ds.zarr", group="psf")["psf"]
    assert psf.dims == ("energy_true", "rad", "y", "x")
    mask = xr.open_zarr(tmp_path / "ds.zarr", group="mask_safe")["mask_safe"]
    np.testing.assert_array_equal(mask.values, gp.mask_safe.data)


def test_zarr_read_reads_no_chunk(tmp_path, counting_fs, raise_if_dask_computes, dataset_pair):
    _, md = dataset_pair()
    md.write(tmp_path / "ds.zarr", format="zarr")
    counting_fs.reset()
    with raise_if_dask_computes():
        read = MapDataset.read(f"countfile://{tmp_path / 'ds.zarr'}")
    assert read.name == "ds"
    # axis coordinates and the small tables (GTI, meta table) are read; no chunk of a map is
    assert counting_fs.bytes_read > 0
    maps = ("counts", "exposure", "background", "psf", "psf_exposure", "edisp", "edisp_exposure", "mask_safe")
    assert not [path for path, _, n in counting_fs.reads if n and any(f"/{m}/{m}/c/" in path for m in maps)]


def test_spectrum_dataset_zarr(tmp_path):
    energy = MAPDS.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    geom = MAPDS.RegionGeom.create("galactic;circle(10, 20, 0.3)", axes=[energy])
    md = SpectrumDataset.create(geom, name="spec", meta_table=Table({"OBS_ID": [7], "RA": [1.5]}))
    md.write(tmp_path / "spec.zarr")
    read = SpectrumDataset.read(tmp_path / "spec.zarr")
    assert read.counts.geom == geom
    assert read.meta_table.colnames == ["OBS_ID", "RA"]


# -- safe writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["fits", "zarr"])
def test_write_never_clobbers(tmp_path, dataset_pair, suffix):
    _, md = dataset_pair()
    path = tmp_path / f"ds.{suffix}"
    md.write(path)
    before = MapDataset.read(path).counts.data.compute()
    other = md.copy(name="other")
    other.counts = other.counts * 2
    with pytest.raises(OverwriteError):
        other.write(path)
    np.testing.assert_array_equal(MapDataset.read(path).counts.data.compute(), before)
    other.write(path, overwrite=True)
    np.testing.assert_array_equal(MapDataset.read(path).counts.data.compute(), 2 * before)


def _failing(m: Map) -> Map:
    def fail(block, block_info=None):
        if block_info[0]["chunk-location"][-1] == 1:
            raise RuntimeError("disk unplugged")
        return block

    return m.copy(data=da.map_blocks(fail, m.data, dtype=m.dtype))


@pytest.mark.parametrize("suffix", ["fits", "zarr"])
def test_failed_write_leaves_the_earlier_file(tmp_path, dataset_pair, suffix):
    _, md = dataset_pair()
    path = tmp_path / f"ds.{suffix}"
    md.write(path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    broken = md.copy(name="broken")
    broken.background = _failing(broken.background)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        broken.write(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no temporary left over
    read = MapDataset.read(path)
    assert read.name == "ds"
    np.testing.assert_array_equal(read.background.data.compute(), md.background.data.compute())


def test_unknown_format(tmp_path, dataset_pair):
    _, md = dataset_pair()
    with pytest.raises(InvalidArgumentError, match="ogip"):
        md.write(tmp_path / "x.fits", format="ogip")
    md.write(tmp_path / "x.fits")
    with pytest.raises(InvalidArgumentError, match="ogip"):
        MapDataset.read(tmp_path / "x.fits", format="ogip")


def test_truncated_file_is_a_named_error(tmp_path, dataset_pair):
    _, md = dataset_pair()
    md.write(tmp_path / "ds.fits")
    data = (tmp_path / "ds.fits").read_bytes()
    with fits.open(tmp_path / "ds.fits") as hdulist:
        edisp_data = hdulist["EDISP"].fileinfo()["datLoc"]
        bands_header = hdulist["EDISP_BANDS"].fileinfo()["hdrLoc"]
    (tmp_path / "cut.fits").write_bytes(data[: edisp_data + 100])
    with pytest.raises(CorruptFileError, match=r"cut\.fits.*EDISP"):
        MapDataset.read(tmp_path / "cut.fits")
    # cut exactly after an HDU: the file is valid FITS, but the bands table EDISP names is gone
    (tmp_path / "short.fits").write_bytes(data[:bands_header])
    with pytest.raises(MissingHDUError, match=r"short\.fits.*EDISP_BANDS"):
        MapDataset.read(tmp_path / "short.fits")


# -- reset_data_cache ------------------------------------------------------------------------------


def test_reset_data_cache_reopens_file_members_only(tmp_path, dataset_pair):
    _, md = dataset_pair()
    path = tmp_path / "ds.fits"
    md.write(path)
    read = MapDataset.read(path)
    chunks = read.counts.chunks
    read.counts = read.counts.persist()  # cached in memory, same graph keys
    in_memory = Map.from_geom(read.background.geom, data=np.full(read.data_shape, 7.0, dtype="f4"))
    read.background = in_memory
    # the file changes behind the dataset's back
    changed = md.copy(name="ds")
    changed.counts = changed.counts + 1
    changed.exposure = changed.exposure * 3
    changed.write(path, overwrite=True)
    read.reset_data_cache()
    counts = read.counts.data.compute()
    np.testing.assert_array_equal(counts, md.counts.data.compute() + 1)  # re-read, not the persisted copy
    np.testing.assert_allclose(read.exposure.data.compute(), 3 * md.exposure.data.compute(), rtol=1e-6)
    assert read.background is in_memory  # exists only in memory: kept
    assert read.counts.chunks == chunks


def test_reset_data_cache_keeps_in_memory_datasets(dataset_pair):
    # gammapy deletes the members of an in-memory dataset (the next access raises KeyError);
    # mapds never drops data that exist nowhere else.
    gp, md = dataset_pair()
    expected = gp.counts.data.copy()
    gp.reset_data_cache()
    with pytest.raises(KeyError):
        gp.counts  # noqa: B018
    md.reset_data_cache()
    np.testing.assert_array_equal(md.counts.data.compute(), expected)
