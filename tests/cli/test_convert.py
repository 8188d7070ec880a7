"""``mapds convert``: FITS (plain or gzip) to zarr and back with the data unchanged, at any URL,
with chunks, overwrite protection and one-line errors."""

from __future__ import annotations

import gzip
import shutil

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from regions import CircleSkyRegion

from mapds.cli import main
from mapds.datasets import MapDataset
from mapds.geom import MapAxis, RegionGeom
from mapds.io import map_to_hdus, write_fits
from mapds.maps import Map
from mapds.testing import MAPDS, build_dataset

CRAB = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """A generated dataset with every member, as FITS."""
    path = tmp_path_factory.mktemp("convert") / "survey.fits"
    build_dataset(MAPDS, 0, name="survey").write(path)
    return path


def _convert(*argv: str) -> None:
    assert main(["convert", "-q", *argv]) == 0


def _assert_same_fits(original, converted, tables: bool = True) -> None:
    """The same HDUs with exactly the same image data (NaN == NaN), and tables too."""
    with fits.open(original) as first, fits.open(converted) as second:
        assert sorted(h.name for h in first) == sorted(h.name for h in second)
        for hdu in first:
            other = second[hdu.name]
            if hdu.is_image and hdu.data is not None:
                assert other.data.dtype == hdu.data.dtype, hdu.name
                assert np.array_equal(other.data, hdu.data, equal_nan=True), hdu.name
            elif tables and not hdu.is_image:
                assert other.columns.names == hdu.columns.names, hdu.name
                for name in hdu.columns.names:
                    assert np.array_equal(other.data[name], hdu.data[name]), (hdu.name, name)


def test_generated_dataset_round_trip_is_exact(survey, tmp_path, capsys):
    assert main(["convert", "--progress", str(survey), str(tmp_path / "survey.zarr")]) == 0
    out = capsys.readouterr().out
    assert (
        f"- opening {survey} ..." in out and f"- writing MapDataset to {tmp_path / 'survey.zarr'} ..." in out
    )
    assert out.splitlines()[-1].startswith(f"wrote {tmp_path / 'survey.zarr'} (")
    _convert(str(tmp_path / "survey.zarr"), str(tmp_path / "back.fits"))
    _assert_same_fits(survey, tmp_path / "back.fits")
    back = MapDataset.read(tmp_path / "back.fits")
    assert back.name == "survey" and len(back.gti.table) == 2 and back.meta_table is not None


def test_crab_round_trip_keeps_the_data(crab_dir, tmp_path):
    _convert(str(crab_dir / CRAB), str(tmp_path / "crab.zarr"))
    _convert(str(tmp_path / "crab.zarr"), str(tmp_path / "crab.fits"))
    # gammapy and mapds write the same bands tables with other column names (PSF: THETA / RAD).
    _assert_same_fits(crab_dir / CRAB, tmp_path / "crab.fits", tables=False)
    original, back = MapDataset.read(crab_dir / CRAB), MapDataset.read(tmp_path / "crab.fits")
    for member in ("counts", "exposure", "background", "mask_safe"):
        assert getattr(back, member).geom == getattr(original, member).geom, member
    assert back.psf.psf_map.geom == original.psf.psf_map.geom
    assert back.edisp.edisp_map.geom == original.edisp.edisp_map.geom


def test_gzip_fits_to_zarr(tmp_path, monkeypatch):
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "cache"))
    energy = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    m = Map.create(npix=(12, 10), binsz=0.2, axes=[energy], data=np.arange(360.0).reshape(3, 10, 12))
    m.write(tmp_path / "m.fits", hdu="counts")
    with open(tmp_path / "m.fits", "rb") as src, gzip.open(tmp_path / "m.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    _convert(str(tmp_path / "m.fits.gz"), str(tmp_path / "m.zarr"))
    converted = Map.read(tmp_path / "m.zarr", hdu="counts")
    assert converted.geom == m.geom
    np.testing.assert_array_equal(converted.data.compute(), m.data)


def test_single_map_keeps_its_name_and_takes_chunks(tmp_path):
    m = Map.create(npix=(30, 20), binsz=0.1, unit="cm-2", data=np.arange(600.0).reshape(20, 30))
    m.write(tmp_path / "flux.fits", hdu="FLUX")
    _convert("--chunks", "lon=16,lat=8", str(tmp_path / "flux.fits"), str(tmp_path / "flux.zarr"))
    stored = Map.read(tmp_path / "flux.zarr", hdu="flux")  # the zarr chunks, as written
    assert stored.chunks == ((8, 8, 4), (16, 14))
    _convert(str(tmp_path / "flux.zarr"), str(tmp_path / "back.fits"))
    with fits.open(tmp_path / "back.fits") as hdulist:
        assert "FLUX" in hdulist
    _assert_same_fits(tmp_path / "flux.fits", tmp_path / "back.fits")
    _convert("--chunks", "7", str(tmp_path / "flux.fits"), str(tmp_path / "seven.zarr"))
    assert Map.read(tmp_path / "seven.zarr").chunks == ((7, 7, 6), (7, 7, 7, 7, 2))


def test_hdu_chooses_one_of_several_maps(tmp_path, capsys):
    first = Map.create(npix=(6, 4), binsz=0.5, data=np.ones((4, 6)))
    second = Map.create(npix=(6, 4), binsz=0.5, data=np.full((4, 6), 2.0))
    write_fits(tmp_path / "two.fits", map_to_hdus(first, hdu="FIRST") + map_to_hdus(second, hdu="SECOND"))
    assert main(["convert", str(tmp_path / "two.fits"), str(tmp_path / "out.zarr")]) == 1
    err = capsys.readouterr().err
    assert err.endswith("holds 2 maps (FIRST, SECOND): choose one with --hdu\n"), err
    _convert("--hdu", "second", str(tmp_path / "two.fits"), str(tmp_path / "out.zarr"))
    np.testing.assert_array_equal(Map.read(tmp_path / "out.zarr", hdu="second").data.compute(), second.data)


def test_region_map_round_trip(tmp_path):
    region = CircleSkyRegion(SkyCoord(83.6, 22.0, unit="deg"), 0.1 * u.deg)
    geom = RegionGeom.create(region, axes=[MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")])
    Map.from_geom(geom, data=np.arange(3.0).reshape(3, 1, 1)).write(tmp_path / "spectrum.fits")
    _convert(str(tmp_path / "spectrum.fits"), str(tmp_path / "spectrum.zarr"))
    _convert(str(tmp_path / "spectrum.zarr"), str(tmp_path / "back.fits"))
    _assert_same_fits(tmp_path / "spectrum.fits", tmp_path / "back.fits", tables=False)
    np.testing.assert_array_equal(Map.read(tmp_path / "back.fits").data, np.arange(3.0).reshape(3, 1, 1))


def test_s3_in_and_out(tmp_path, s3_bucket):
    prefix, options = s3_bucket
    flat = {key: value for key, value in options.items() if not isinstance(value, dict)}
    flat |= {f"{k}.{kk}": vv for k, v in options.items() if isinstance(v, dict) for kk, vv in v.items()}
    args = [arg for key, value in flat.items() for arg in ("--storage-option", f"{key}={value}")]
    Map.create(npix=(12, 10), binsz=0.2, data=np.arange(120.0).reshape(10, 12)).write(tmp_path / "m.fits")
    _convert(str(tmp_path / "m.fits"), f"{prefix}/m.zarr", *args)
    _convert(f"{prefix}/m.zarr", str(tmp_path / "back.fits"), *args)
    _assert_same_fits(tmp_path / "m.fits", tmp_path / "back.fits")


def test_existing_output_needs_overwrite(survey, tmp_path, capsys):
    target = tmp_path / "out.fits"
    target.write_bytes(b"earlier")
    assert main(["convert", str(survey), str(target)]) == 1
    captured = capsys.readouterr()
    expected = f"{target} exists: pass --overwrite to replace it, or choose another output"
    assert captured.err == f"mapds convert: error: {expected}\n"
    assert captured.out == "" and target.read_bytes() == b"earlier"
    _convert("--overwrite", str(survey), str(target))
    _assert_same_fits(survey, target)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "words"),
    [
        ("missing.fits", "out.zarr", "No such file: "),
        ("random.fits", "out.zarr", "is not a FITS file: it does not start with 'SIMPLE  ='"),
        ("directory", "out.zarr", "is a directory but not a zarr store (no zarr.json)"),
        ("directory.zarr", "out.fits", "is not a zarr store: it has no zarr.json"),
        ("survey.fits", "out.fits.gz", "mapds does not write gzip-compressed FITS"),
        ("survey.fits", "out.txt", "cannot tell the output format of"),
        ("survey.fits", "survey.fits", "is also an input: give another output"),
        ("datasets.yaml", "out.zarr", "is a datasets YAML file: convert takes one FITS file or zarr store"),
    ],
)
def test_bad_inputs_are_one_line_errors(survey, tmp_path, capsys, source, target, words):
    shutil.copy(survey, tmp_path / "survey.fits")
    (tmp_path / "random.fits").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "directory").mkdir()
    (tmp_path / "directory.zarr").mkdir()
    (tmp_path / "datasets.yaml").write_text(
        "datasets:\n- {name: s, type: MapDataset, filename: survey.fits}\n"
    )
    assert main(["convert", str(tmp_path / source), str(tmp_path / target)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("mapds convert: error: ") and words in err
    assert not (tmp_path / "out.zarr").exists()


def test_unknown_chunk_dimension_is_one_line_error(survey, tmp_path, capsys):
    assert main(["convert", "--chunks", "time=3", str(survey), str(tmp_path / "out.zarr")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "chunks name unknown dimensions ['time']" in err, err


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--chunks", "0"], "--chunks: a chunk size is at least 1 pixel (or -1 for the whole axis), got 0"),
        (["--chunks", "foo"], "--chunks: expected a chunk size in pixels or -1, got 'foo'"),
        (["--chunks", "x=1,y"], "--chunks: expected name=size, got 'y'"),
        (["--storage-option", "anon"], "--storage-option: expected key=value, got 'anon'"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, options, words):
    with pytest.raises(SystemExit) as excinfo:
        main(["convert", *options, "in.fits", "out.zarr"])
    err = capsys.readouterr().err
    assert excinfo.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
