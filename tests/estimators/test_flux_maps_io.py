"""FluxMaps.write / FluxMaps.read against gammapy 2.1's files (issue 14)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits

from mapds.errors import OverwriteError
from mapds.estimators import ExcessMapEstimator, FluxMaps
from mapds.modeling.models import PowerLawSpectralModel, SkyModel
from mapds.testing import build_dataset

gammapy_estimators = pytest.importorskip("gammapy.estimators")
gammapy_models = pytest.importorskip("gammapy.modeling.models")

NPIX = (20, 18)
EXTRA = ["dnde", "dnde_err", "e2dnde_errn", "flux_ul", "eflux_errp", "is_ul", "sqrt_ts"]


@pytest.fixture(scope="module")
def mapds_maps():
    dataset = build_dataset("mapds", 0, npix=NPIX)
    return ExcessMapEstimator("0.2 deg", selection_optional="all").run(dataset)


@pytest.fixture(scope="module")
def gammapy_maps():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = build_dataset("gammapy", 0, npix=NPIX)
        return gammapy_estimators.ExcessMapEstimator("0.2 deg", selection_optional="all").run(dataset)


def _get(maps, name):
    return maps.get(name) if isinstance(maps, FluxMaps) else getattr(maps, name)


def _assert_same(actual, expected, same_dtype=True):
    """Every quantity of ``expected`` (and SED conversions) equal in ``actual``; ``same_dtype``:
    the dtypes too (a file of another SED type gives float64 norms, in gammapy as well)."""
    # written in gammapy's order, with the derived is_ul (and sqrt_ts)
    assert set(expected.available_quantities) <= set(actual.available_quantities)
    assert set(actual.available_quantities) - set(expected.available_quantities) <= {"is_ul", "sqrt_ts"}
    for name in [*expected.available_quantities, *EXTRA]:
        a, e = _get(actual, name), _get(expected, name)
        assert a.unit == e.unit, name
        assert a.geom.data_shape == e.geom.data_shape, name
        np.testing.assert_allclose(a.geom.axes["energy"].edges, e.geom.axes["energy"].edges, rtol=1e-12)
        values, reference = np.asarray(a.data), np.asarray(e.data)
        if same_dtype or not name.startswith("norm"):
            assert values.dtype.newbyteorder("=") == reference.dtype.newbyteorder("="), name
        np.testing.assert_allclose(values, reference, rtol=1e-6, equal_nan=True, err_msg=name)
    model, reference = actual.reference_model, expected.reference_model
    assert model.spectral_model.tag[0] == reference.spectral_model.tag[0]
    for par, ref in zip(model.spectral_model.parameters, reference.spectral_model.parameters, strict=True):
        assert (par.name, par.unit) == (ref.name, ref.unit)
        np.testing.assert_allclose(par.value, ref.value, rtol=1e-12)


@pytest.mark.parametrize("sed_type", [None, "dnde", "flux"])
def test_mapds_file_read_by_gammapy(tmp_path, mapds_maps, sed_type):
    filename = tmp_path / "maps.fits"
    mapds_maps.write(filename, sed_type=sed_type)
    assert (tmp_path / "maps.fits_model.yaml").exists()  # gammapy's default model file
    with fits.open(filename) as hdulist:
        assert hdulist[0].header["SED_TYPE"] == (sed_type or "likelihood")
        assert hdulist[1].name == (sed_type or "norm").upper()
    same_dtype = sed_type is None
    _assert_same(gammapy_estimators.FluxMaps.read(filename), mapds_maps, same_dtype)
    _assert_same(FluxMaps.read(filename), mapds_maps, same_dtype)


@pytest.mark.parametrize("sed_type", [None, "dnde"])
def test_gammapy_file_read_by_mapds(tmp_path, gammapy_maps, sed_type):
    filename = tmp_path / "maps.fits"
    gammapy_maps.write(filename, sed_type=sed_type)
    result = FluxMaps.read(filename)
    assert all(hasattr(result.get(name), "dask_data") for name in result.available_quantities)
    _assert_same(result, gammapy_estimators.FluxMaps.read(filename))


def test_same_headers_as_gammapy(tmp_path, mapds_maps, gammapy_maps):
    mapds_maps.write(tmp_path / "mapds.fits", sed_type="e2dnde")
    gammapy_maps.write(tmp_path / "gammapy.fits", sed_type="e2dnde")
    with fits.open(tmp_path / "mapds.fits") as ours, fits.open(tmp_path / "gammapy.fits") as theirs:
        assert [h.name for h in ours] == [h.name for h in theirs]
        for mine, reference in zip(ours, theirs, strict=True):
            cards = {k: v for k, v in mine.header.items() if k != "MODEL"}
            assert cards == {k: v for k, v in reference.header.items() if k != "MODEL"}, mine.name


def test_round_trip_custom_model(tmp_path, monkeypatch, mapds_maps):
    model = SkyModel(PowerLawSpectralModel(index=2.7, amplitude="3e-12 cm-2 s-1 TeV-1"), name="ref")
    maps = FluxMaps(dict(mapds_maps._data), model, meta=mapds_maps.meta)
    monkeypatch.chdir(tmp_path)
    maps.write("custom.fits", filename_model="custom.yaml", sed_type="eflux")
    _assert_same(gammapy_estimators.FluxMaps.read("custom.fits"), maps, same_dtype=False)
    # MODEL is written relative, as gammapy writes it: found next to the file from elsewhere
    monkeypatch.chdir("/")
    result = FluxMaps.read(tmp_path / "custom.fits")
    assert result.reference_model.name == "ref"
    _assert_same(result, maps, same_dtype=False)


def test_overwrite(tmp_path, mapds_maps):
    filename = tmp_path / "maps.fits"
    mapds_maps.write(filename)
    before = filename.read_bytes()
    with pytest.raises(OverwriteError):
        mapds_maps.write(filename, sed_type="dnde")
    assert filename.read_bytes() == before
    mapds_maps.write(filename, sed_type="dnde", overwrite=True, checksum=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FITS and YAML checksums verify
        _assert_same(FluxMaps.read(filename, checksum=True), mapds_maps, same_dtype=False)
    with fits.open(filename) as hdulist:
        assert hdulist[0].header["SED_TYPE"] == "dnde"
        assert "CHECKSUM" in hdulist[1].header
