"""The scripts in ``examples/`` run on real data (the Fermi-LAT Crab files, a moto S3 server)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import s3fs
from gammapy.datasets import MapDataset as GammapyMapDataset
from gammapy.modeling.models import Models as GammapyModels
from numpy.testing import assert_allclose

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CRAB_FITS = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_MODELS = "Fermi-LAT-3FHL_models.yaml"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def crab_on_s3(crab_dir, s3_bucket):
    prefix, options = s3_bucket
    s3fs.S3FileSystem(**options).put(str(crab_dir / CRAB_FITS), f"{prefix}/{CRAB_FITS}")
    return f"{prefix}/{CRAB_FITS}", options


def test_open_lazily(crab_dir):
    result = load_example("open_lazily").main([str(crab_dir / CRAB_FITS)])
    reference = GammapyMapDataset.read(crab_dir / CRAB_FITS)
    assert_allclose(result["total"], reference.counts.data.sum())
    assert result["cutout_shape"] == (5, 10, 10)


def test_cutout_from_object_store(crab_on_s3, crab_dir):
    url, options = crab_on_s3
    example = load_example("cutout_from_object_store")
    cutout = example.main([url, "--lon", "184.5", "--lat", "-5.8", "--width", "1"], storage_options=options)
    reference = GammapyMapDataset.read(crab_dir / CRAB_FITS).counts
    from astropy.coordinates import SkyCoord

    expected = reference.cutout(SkyCoord(184.5, -5.8, unit="deg", frame="galactic"), width="1 deg")
    assert np.array_equal(np.asarray(cutout.data), expected.data)
    assert example.parse_options(["anon=true", "key=abc"]) == {"anon": True, "key": "abc"}


def test_fits_to_zarr(crab_dir, tmp_path):
    argv = [str(crab_dir / CRAB_FITS), str(tmp_path / "crab.zarr"), "--dataset"]
    opened = load_example("fits_to_zarr").main(argv)
    reference = GammapyMapDataset.read(crab_dir / CRAB_FITS)
    assert np.array_equal(opened["counts"].values, reference.counts.data)


def test_dataset_from_url(crab_on_s3, crab_dir, tmp_path):
    url, options = crab_on_s3
    argv = [url, str(crab_dir / CRAB_MODELS), str(tmp_path / "stacked.zarr")]
    result = load_example("dataset_from_url").main(argv, storage_options=options)
    reference = GammapyMapDataset.read(crab_dir / CRAB_FITS, name="Fermi-LAT")
    reference.models = GammapyModels.read(crab_dir / CRAB_MODELS)
    assert_allclose(result["stat_sum"], reference.stat_sum(), rtol=1e-6)
    masked_counts = reference.counts.data[reference.mask_safe.data].sum()
    assert_allclose(result["stacked_counts"], 2 * masked_counts)


def test_fit_crab(crab_dir, tmp_path):
    result = load_example("fit_crab").main([str(crab_dir), "--output", str(tmp_path)])
    assert result["success"]
    assert result["total_stat"] == pytest.approx(-12764.4813, abs=1e-3)
    alpha, alpha_error = result["parameters"]["alpha"]
    assert alpha == pytest.approx(2.199, abs=1e-3) and alpha_error == pytest.approx(0.0261, rel=1e-2)
    assert result["figure"].stat().st_size > 10_000
    models = GammapyModels.read(tmp_path / "fit-result.yaml")  # gammapy reads the result file
    assert models["Crab Nebula"].spectral_model.alpha.value == pytest.approx(alpha, rel=1e-12)


def test_plot_survey(tmp_path):
    argv = ["--output", str(tmp_path / "survey.png"), "--width", "2", "--height", "1", "--sources", "1"]
    result = load_example("plot_survey").main(argv)
    assert result["figure"].stat().st_size > 10_000
    ny, nx = result["counts_shape"]
    drawn_ny, drawn_nx = result["drawn_shape"]
    assert drawn_nx <= nx and drawn_ny <= ny

    import matplotlib.pyplot as plt

    plt.close("all")


def test_fermi_diffuse(crab_dir, tmp_path):
    """A Fermi-LAT-style analysis from YAML ($VAR file names): the Galactic diffuse cube and an
    isotropic table replace the background map; the fit converges and gammapy reads its result."""
    result = load_example("fermi_diffuse").main([str(crab_dir), "--output", str(tmp_path)])
    assert result["success"]
    assert result["models"] == ["galactic-diffuse", "Crab Nebula", "isotropic_Fermi-LAT"]
    assert result["total_stat"] < result["stat_before"]
    norm, error = result["parameters"]["galactic-diffuse.norm"]
    assert 0.5 < norm < 3 and 0 < error < norm
    assert result["figure"].stat().st_size > 10_000
    models = GammapyModels.read(tmp_path / "fit-result.yaml")
    assert models["galactic-diffuse"].spectral_model.norm.value == pytest.approx(norm, rel=1e-12)


def test_survey_on_a_laptop(tmp_path):
    """At its smallest size (4° × 2°, 32-pixel tiles): the fit converges to the simulated spectra,
    and the stat_sum is that of the zarr store reopened, and of the simulated dataset itself."""
    from mapds.datasets import MapDataset
    from mapds.simulate import survey_dataset, survey_models

    result = load_example("survey_on_a_laptop").main(["--output", str(tmp_path), "--chunk", "32"])
    assert result["success"]
    assert len(result["parameters"]) == 7  # amplitude and index of 3 sources, the background norm
    for key, (value, error) in result["parameters"].items():
        assert 0 < error and abs(value - result["truth"][key]) < 3 * error, key
    reopened = MapDataset.read(result["paths"]["dataset"])
    reopened.models = survey_models(result["case"], dataset_name=reopened.name)
    assert reopened.stat_sum() == pytest.approx(result["stat_sum"], rel=1e-12)
    simulated = survey_dataset(result["case"], chunks={"x": 32, "y": 32})  # the same draw, not written
    assert simulated.stat_sum() == pytest.approx(result["stat_sum"], rel=1e-9)
    assert [step["step"] for step in result["steps"]][:2] == ["simulate + write zarr", "reopen lazily"]
    assert result["peak_rss_mib"] >= max(step["peak_rss_mib"] for step in result["steps"]) > 0


def test_stack_on_a_cluster(tmp_path, local_cluster):
    """4 small observations stacked in 2 batches on the session's cluster (2 worker processes):
    the sums of the stacked maps are the sums of the FITS files, as gammapy reads them."""
    argv = ["--output", str(tmp_path), "--address", local_cluster.scheduler_address, "--batch-size", "3"]
    result = load_example("stack_on_a_cluster").main(argv)
    inputs = [GammapyMapDataset.read(path) for path in result["paths"]["inputs"]]
    assert len(inputs) == result["n_observations"] == 4
    expected = {
        "counts": sum(d.counts.data.sum() for d in inputs),
        "background": sum(d.background.data.sum(dtype="f8") for d in inputs),
        "exposure": sum(d.exposure.quantity.to_value("m2 s").sum(dtype="f8") for d in inputs),
    }
    from mapds.datasets import MapDataset

    stacked = MapDataset.read(result["paths"]["stacked"])
    assert stacked.gti.time_sum.to_value("s") == pytest.approx(4 * 1800)
    for name, value in expected.items():
        assert result["inputs"][name] == pytest.approx(value, rel=1e-6), name
        assert result["stacked"][name] == pytest.approx(value, rel=1e-6), name
    assert float(stacked.counts.data.sum()) == expected["counts"] > 0


def test_open_with_xarray(crab_dir):
    """xr.open_dataset(engine="mapds") on the Crab file: the selected bins, their counts and the
    spectra are gammapy's."""
    result = load_example("open_with_xarray").main([str(crab_dir / CRAB_FITS), "--energy", "0.03", "0.3"])
    reference = GammapyMapDataset.read(crab_dir / CRAB_FITS)
    counts = reference.counts.data
    centres = reference.counts.geom.axes["energy"].center.to_value("TeV")
    selected = (centres >= 0.03) & (centres <= 0.3)
    assert_allclose(result["energies"], centres[selected])
    assert result["total"] == counts[selected].sum()
    assert_allclose(result["spectrum"], counts.sum(axis=(1, 2)))
    assert_allclose(result["excess"], (counts - reference.background.data).sum(axis=(1, 2)), rtol=1e-6)
    assert {"counts", "exposure", "background", "psf", "edisp", "mask_safe"} <= set(result["variables"])
    assert result["chunks"]["counts"] == ((5,), (40,), (50,))


def test_source_maps(tmp_path):
    """At its smallest size: both maps find the simulated point sources and are noise around zero
    away from every source; the FITS files read back to the maps drawn; the picture is an image."""
    import matplotlib.image

    from mapds.estimators import FluxMaps

    result = load_example("source_maps").main(["--output", str(tmp_path)])
    excess_label, ts_label = load_example("source_maps").LABELS
    points = [row for row in result["sources"] if row["kind"] == "point"]
    assert points
    for row in points:
        assert row[ts_label] > 5 and row[excess_label] > 3, row
    geom = counts_image_geom(result["paths"]["dataset"])
    far = far_from_sources(geom, result["case"], radius_deg=1.0)
    for image in result["maps"].values():
        assert np.all(np.isfinite(image))
        assert abs(np.median(image[far])) < 0.5 and 0.5 < np.std(image[far]) < 1.5
    for key, label in (("excess", excess_label), ("ts", ts_label)):
        back = FluxMaps.read(result["paths"][key])
        np.testing.assert_allclose(back["sqrt_ts"].data.compute()[0], result["maps"][label], rtol=1e-6)
    picture = matplotlib.image.imread(result["paths"]["picture"])
    assert picture.ndim == 3 and picture.shape[0] > 300 and picture[..., :3].std() > 0.05


def counts_image_geom(path):
    from mapds.datasets import MapDataset

    return MapDataset.read(path).counts.geom.to_image()


def far_from_sources(geom, case, radius_deg: float) -> np.ndarray:
    """Pixels of ``geom`` farther than ``radius_deg`` from every simulated source (and from the
    map's edge, where the correlation disk and the kernel reach outside)."""
    from astropy.coordinates import SkyCoord

    coords = geom.get_coord()
    positions = SkyCoord(coords["lon"], coords["lat"], frame=case["frame"], unit="deg")
    far = np.ones(geom.data_shape, dtype=bool)
    for params in case["models_params"]:
        source = SkyCoord(params["lon_0_deg"], params["lat_0_deg"], frame=case["frame"], unit="deg")
        far &= positions.separation(source).deg > radius_deg
    edge = int(np.ceil(radius_deg / case["binsz_deg"]))
    far[:edge], far[-edge:], far[:, :edge], far[:, -edge:] = False, False, False, False
    return far
