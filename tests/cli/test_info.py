"""``mapds info``: descriptions of FITS, gzip FITS, zarr and YAML inputs at any URL, read from
metadata alone (no dask computation, no pixel byte), and one-line errors."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from astropy.io import fits

from mapds.cli import main
from mapds.cli.locations import storage_options
from mapds.datasets import MapDataset
from mapds.errors import InvalidArgumentError, RangeRequestsUnsupportedError
from mapds.maps import Map
from mapds.testing import MAPDS, build_dataset, image_bytes_read

CRAB = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_HDUS = [
    "PRIMARY", "COUNTS", "COUNTS_BANDS", "EXPOSURE", "EXPOSURE_BANDS", "BACKGROUND", "BACKGROUND_BANDS",
    "EDISP", "EDISP_BANDS", "EDISP_EXPOSURE", "EDISP_EXPOSURE_BANDS", "PSF", "PSF_BANDS", "PSF_EXPOSURE",
    "PSF_EXPOSURE_BANDS", "MASK_SAFE", "MASK_SAFE_BANDS", "GTI",
]  # fmt: skip
MAPS = [
    "counts",
    "background",
    "mask_safe",
    "mask_fit",
    "exposure",
    "psf",
    "psf_exposure",
    "edisp",
    "edisp_exposure",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A generated dataset as FITS and zarr, with a datasets and a models YAML file beside them."""
    directory = tmp_path_factory.mktemp("info")
    dataset = build_dataset(MAPDS, 0, name="survey")
    dataset.write(directory / "survey.fits")
    dataset.write(directory / "survey.zarr")
    (directory / "datasets.yaml").write_text(
        "datasets:\n- {name: survey, type: MapDataset, filename: survey.fits}\n"
    )
    return directory


def _info(capsys, *argv) -> dict:
    assert main(["info", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)["files"]


def _map(description: dict, name: str) -> dict:
    return next(m for m in description["maps"] if m["name"] == name)


def _storage_args(options: dict) -> list[str]:
    """``--storage-option`` arguments for ``options`` (nested dicts as dotted keys)."""
    flat = {key: value for key, value in options.items() if not isinstance(value, dict)}
    flat |= {f"{k}.{kk}": vv for k, v in options.items() if isinstance(v, dict) for kk, vv in v.items()}
    return [arg for key, value in flat.items() for arg in ("--storage-option", f"{key}={value}")]


# -- what is described ---------------------------------------------------------------------------


def test_crab_dataset_is_described_without_reading_pixels(
    crab_dir, tmp_path, counting_fs, raise_if_dask_computes, capsys
):
    shutil.copy(crab_dir / CRAB, tmp_path / CRAB)
    counting_fs.reset()
    with raise_if_dask_computes():
        (crab,) = _info(capsys, f"countfile://{tmp_path / CRAB}")
    assert image_bytes_read(counting_fs, tmp_path / CRAB) == 0
    assert (crab["kind"], crab["format"], crab["name"]) == ("MapDataset", "FITS", None)
    assert [hdu["name"] for hdu in crab["hdus"]] == CRAB_HDUS
    assert crab["bytes_on_disk"] == (tmp_path / CRAB).stat().st_size == sum(h["bytes"] for h in crab["hdus"])
    assert crab["members"] == {
        "counts": "Map", "background": "Map", "mask_safe": "Map", "exposure": "Map",
        "psf": "PSFMap", "edisp": "EDispKernelMap",
    }  # fmt: skip
    counts = _map(crab, "counts")
    assert (counts["dims"], counts["shape"], counts["dtype"]) == (
        ["energy", "y", "x"],
        [5, 40, 50],
        "float32",
    )
    assert counts["geom"]["projection"] == "CAR" and counts["geom"]["frame"] == "galactic"
    assert counts["geom"]["npix"] == [50, 40]
    np.testing.assert_allclose(counts["geom"]["width_deg"], [5, 4])
    np.testing.assert_allclose(counts["geom"]["pixel_size_deg"], [0.1, 0.1])
    (energy,) = counts["axes"]
    assert (energy["name"], energy["nbin"], energy["unit"], energy["interp"]) == ("energy", 5, "TeV", "log")
    np.testing.assert_allclose([energy["min"], energy["max"]], [0.01, 2])
    assert _map(crab, "exposure")["unit"] == "cm2 s"
    assert crab["gti"] == {"n_intervals": 0, "time_sum_s": 0.0}


def test_crab_text_names_what_a_reader_needs(crab_dir, capsys):
    assert main(["info", str(crab_dir / CRAB)]) == 0
    text = capsys.readouterr().out
    assert "MapDataset (no stored name): FITS, 639.4 kB on disk, 18 HDUs" in text
    assert "members: counts, background, mask_safe, exposure, psf (PSFMap), edisp (EDispKernelMap)" in text
    assert re.search(r"counts +energy=5 y=40 x=50 +float32 +- +5 x 40 x 50 \(1 chunk\) +40\.0 kB", text)
    assert (
        "CAR, galactic, centre (184.5529, -5.7815) deg, width 5 x 4 deg, pixel 0.1 deg, 50 x 40 pixels"
        in text
    )
    assert "energy: 5 bins, 0.01 to 2 TeV, log, edges  (counts, background, mask_safe, edisp)" in text
    assert "GTI: 0 intervals" in text


def test_crab_datasets_and_models_yaml(crab_dir, capsys):
    datasets, models = _info(
        capsys, str(crab_dir / "Fermi-LAT-3FHL_datasets.yaml"), str(crab_dir / "Fermi-LAT-3FHL_models.yaml")
    )
    (entry,) = datasets["datasets"]
    assert (datasets["kind"], entry["name"], entry["file"]["kind"]) == ("Datasets", "Fermi-LAT", "MapDataset")
    assert entry["file"]["url"] == str(crab_dir / CRAB)
    assert models["kind"] == "Models"
    crab, background = models["models"]
    assert (crab["name"], crab["spectral"], crab["spatial"]) == (
        "Crab Nebula", "LogParabolaSpectralModel", "PointSpatialModel",
    )  # fmt: skip
    assert (background["name"], background["type"]) == ("Fermi-LAT-bkg", "FoVBackgroundModel")
    assert background["datasets_names"] == ["Fermi-LAT"]


def test_generated_dataset_fits_and_zarr_agree(files, capsys, raise_if_dask_computes):
    with raise_if_dask_computes():
        from_fits, from_zarr = _info(capsys, str(files / "survey.fits"), str(files / "survey.zarr"))
    assert from_fits["name"] == from_zarr["name"] == "survey"
    assert from_fits["members"] == from_zarr["members"]
    assert [m["name"] for m in from_fits["maps"]] == [m["name"] for m in from_zarr["maps"]] == MAPS
    storage = ("bytes_on_disk", "chunks", "n_chunks")
    for ours, theirs in zip(from_fits["maps"], from_zarr["maps"], strict=True):
        assert {k: v for k, v in ours.items() if k not in storage} == {
            k: v for k, v in theirs.items() if k not in storage
        }
    assert from_fits["gti"] == from_zarr["gti"]
    assert from_fits["gti"]["n_intervals"] == 2 and from_fits["gti"]["time_sum_s"] == pytest.approx(200)
    assert from_fits["gti"]["start"].startswith("2010-01-01T00:00:00")
    dataset = MapDataset.read(files / "survey.fits")
    counts = _map(from_fits, "counts")
    assert counts["chunks"] == [max(c) for c in dataset.counts.chunks]
    assert counts["bytes_in_memory"] == dataset.counts.geom.data_shape[0] * 16 * 20 * 4
    with fits.open(files / "survey.fits") as hdulist:
        assert [h["name"] for h in from_fits["hdus"]] == [h.name for h in hdulist]
    assert {g["name"] for g in from_zarr["groups"]} == {*MAPS, "gti", "meta_table"}
    root_metadata = from_zarr["bytes_on_disk"] - sum(g["bytes"] for g in from_zarr["groups"])
    assert root_metadata > 0  # the root zarr.json, with the consolidated metadata of every array
    assert _map(from_zarr, "counts")["bytes_on_disk"] == next(
        g["bytes"] for g in from_zarr["groups"] if g["name"] == "counts"
    )


def test_zarr_store_is_described_without_reading_chunks(files, tmp_path, counting_fs, capsys):
    shutil.copytree(files / "survey.zarr", tmp_path / "survey.zarr")
    counting_fs.reset()
    (description,) = _info(capsys, f"countfile://{tmp_path / 'survey.zarr'}")
    assert description["kind"] == "MapDataset"
    read = counting_fs.paths()
    assert read  # the manifest, at least
    assert not [path for path in read if re.search(r"/(\w+)/\1/c(/|$)", path)], read


def test_single_map_files(tmp_path, capsys):
    m = Map.create(npix=(12, 10), binsz=0.2, frame="icrs", skydir=(83.6, 22.0), unit="cm-2 s-1", chunks=5)
    m.write(tmp_path / "flux.fits", hdu="flux")
    m.write(tmp_path / "flux.zarr", hdu="flux")
    from_fits, from_zarr = _info(capsys, str(tmp_path / "flux.fits"), str(tmp_path / "flux.zarr"))
    assert from_fits["kind"] == from_zarr["kind"] == "Map"
    assert [m["name"] for m in from_fits["maps"]] == [m["name"] for m in from_zarr["maps"]] == ["flux"]
    flux = _map(from_zarr, "flux")
    assert (flux["shape"], flux["unit"], flux["axes"], flux["chunks"]) == (
        [10, 12],
        "1 / (s cm2)",
        [],
        [5, 5],
    )
    assert flux["geom"]["frame"] == "icrs"
    np.testing.assert_allclose(flux["geom"]["center_deg"], [83.6, 22.0])
    assert flux["bytes_on_disk"] == from_zarr["bytes_on_disk"]
    assert from_fits["gti"] is None and "members" not in from_fits


def test_gzip_fits(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "cache"))
    with open(files / "survey.fits", "rb") as src, gzip.open(tmp_path / "survey.fits.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain, compressed = _info(capsys, str(files / "survey.fits"), str(tmp_path / "survey.fits.gz"))
    assert compressed["format"] == "FITS (gzip)"
    assert compressed["bytes_on_disk"] == (tmp_path / "survey.fits.gz").stat().st_size
    assert compressed["hdus"] == plain["hdus"]  # sizes as in a plain FITS file
    assert [m["shape"] for m in compressed["maps"]] == [m["shape"] for m in plain["maps"]]
    assert all(m["bytes_on_disk"] is None for m in compressed["maps"])


def test_datasets_yaml_lists_its_dataset_files(files, capsys):
    assert main(["info", str(files / "datasets.yaml")]) == 0
    text = capsys.readouterr().out
    assert "datasets file listing 1 dataset: YAML" in text
    assert "  dataset 'survey' (MapDataset): survey.fits" in text
    assert "      MapDataset 'survey': FITS" in text  # the dataset file, indented below its entry
    assert (
        "GTI: 2 intervals, 200 s in all, from 2010-01-01T00:00:00.000 to 2010-01-01T00:05:00.000 (TT)" in text
    )


def test_s3(files, tmp_path, s3_server, s3_bucket, capsys):
    prefix, options = s3_bucket
    Map.create(npix=(12, 10), binsz=0.2, unit="sr-1").write(tmp_path / "map.zarr", hdu="flux")
    fs = s3_server.filesystem()
    fs.put(str(files / "survey.fits"), f"{prefix}/survey.fits")
    fs.put(str(tmp_path / "map.zarr"), f"{prefix}/map.zarr", recursive=True)
    local = _info(capsys, str(files / "survey.fits"), str(tmp_path / "map.zarr"))
    remote = _info(capsys, f"{prefix}/survey.fits", f"{prefix}/map.zarr", *_storage_args(options))
    assert [r["url"] for r in remote] == [f"{prefix}/survey.fits", f"{prefix}/map.zarr"]
    for ours, theirs in zip(local, remote, strict=True):
        assert {k: v for k, v in ours.items() if k != "url"} == {
            k: v for k, v in theirs.items() if k != "url"
        }


def test_python_dash_m(files):
    done = subprocess.run(
        [sys.executable, "-m", "mapds", "info", "--json", str(files / "survey.fits")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (description,) = json.loads(done.stdout)["files"]
    assert description["name"] == "survey"


def test_storage_options_nest_dotted_keys():
    pairs = [("anon", False), ("client_kwargs.endpoint_url", "http://h:1"), ("client_kwargs.verify", True)]
    assert storage_options(pairs) == {
        "anon": False,
        "client_kwargs": {"endpoint_url": "http://h:1", "verify": True},
    }
    assert storage_options([]) is None
    with pytest.raises(InvalidArgumentError, match="both as a value and as a group"):
        storage_options([("a", 1), ("a.b", 2)])


# -- a server that ignores Range -------------------------------------------------------------------


class _SilentHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class _SilentServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # mapds drops the connection of a whole-file answer: the server's send fails


@pytest.fixture
def rangeless_server(tmp_path):
    """``python -m http.server`` on 127.0.0.1: every GET gets the whole file (200), Range or not."""
    handler = functools.partial(_SilentHandler, directory=str(tmp_path))
    server = _SilentServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a whole-file answer that mapds refuses is never read to its end
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    server.shutdown()
    thread.join()
    server.server_close()


def test_a_server_without_ranges_is_a_named_error(rangeless_server, capsys):
    pytest.importorskip("aiohttp")
    url, directory = rangeless_server
    # Larger than the one request a remote file is read in when small (mapds.storage.merge-gap).
    Map.create(npix=(400, 400), binsz=0.01, dtype="float64").write(directory / "big.fits")
    Map.create(npix=(40, 40), binsz=0.01).write(directory / "small.fits")
    with pytest.raises(
        RangeRequestsUnsupportedError, match=r"does not serve byte ranges \(HTTP Range requests\)"
    ):
        Map.read(f"{url}/big.fits")
    small = Map.read(f"{url}/small.fits")  # read whole when opened: its headers are there
    with pytest.raises(RangeRequestsUnsupportedError, match="download the file"):
        small.slice_by_idx({"x": slice(0, 5)}).data.compute()
    assert main(["info", f"{url}/big.fits"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    (line,) = captured.err.splitlines()
    assert line.startswith(f"mapds info: error: '{url}/big.fits', bytes 0-")
    assert "does not serve byte ranges (HTTP Range requests)" in line and "or download the file" in line


# -- errors ----------------------------------------------------------------------------------------


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("missing.fits", "No such file: "),
        ("missing.zarr", "No such zarr store: "),
        ("missing.yaml", "No such file: "),
        ("random.fits", "is not a FITS file: it does not start with 'SIMPLE  ='"),
        ("directory", "is a directory but not a zarr store (no zarr.json)"),
        ("directory.zarr", "is not a zarr store: it has no zarr.json"),
        ("list.yaml", "is neither a datasets file ('datasets:' list) nor a models file"),
        ("lost.yaml", "lost.yaml: dataset 'lost' is in lost.fits, which does not exist (No such file: "),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, capsys, name, words):
    (tmp_path / "random.fits").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "directory").mkdir()
    (tmp_path / "directory.zarr").mkdir()
    (tmp_path / "list.yaml").write_text("other: [1, 2]\n")
    (tmp_path / "lost.yaml").write_text("datasets:\n- {name: lost, type: MapDataset, filename: lost.fits}\n")
    err = _one_line_error(capsys, ["info", str(tmp_path / name)])
    assert err.startswith("mapds info: error: ") and words in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["info"], "the following arguments are required: URL"),
        (["info", "x.fits", "--storage-option", "anon"], "--storage-option: expected key=value, got 'anon'"),
        (["info", "x.fits", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    err = capsys.readouterr().err
    assert excinfo.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
