"""The ``mapds`` xarray engine and the ``.mapds`` accessors, through xarray's own API."""

from __future__ import annotations

import gzip
import shutil

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord

from mapds.datasets import MapDataset
from mapds.io.xarray_backend import MapdsBackendEntrypoint
from mapds.maps import Map
from mapds.modeling.models import Models
from mapds.testing import MAPDS, build_dataset, image_bytes_read, sky_models

from .conftest import CRAB_FILE, make_cube

CRAB_MODELS = "Fermi-LAT-3FHL_models.yaml"
COUNTS_GRID = ("counts", "background", "mask_safe", "mask_fit")
ALL_MAPS = (*COUNTS_GRID, "exposure", "psf", "psf_exposure", "edisp", "edisp_exposure")


def _members(dataset: MapDataset) -> dict[str, Map]:
    maps = {name: getattr(dataset, name) for name in (*COUNTS_GRID, "exposure")}
    maps["psf"], maps["psf_exposure"] = dataset.psf.psf_map, dataset.psf.exposure_map
    maps["edisp"], maps["edisp_exposure"] = dataset.edisp.edisp_map, dataset.edisp.exposure_map
    return maps


def _assert_maps_equal(ds: xr.Dataset, maps: dict[str, Map]) -> None:
    for name, m in maps.items():
        np.testing.assert_array_equal(ds[name].values, m.data.compute(), err_msg=name)
        restored = ds[name].mapds.to_map()
        assert restored.geom == m.geom, name
        assert restored.unit == m.unit, name


@pytest.fixture(scope="module")
def dataset():
    """A small dataset with every member (EDispKernelMap, PSF and EDisp on a 0.5° grid)."""
    return build_dataset(MAPDS, seed=2, name="obs-2")


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory, dataset):
    """``dataset`` as FITS, gzip FITS and a zarr group: ``{"fits": path, "gz": path, "zarr": path}``."""
    root = tmp_path_factory.mktemp("xarray-backend")
    paths = {"fits": root / "ds.fits", "gz": root / "ds.fits.gz", "zarr": root / "ds.zarr"}
    dataset.write(paths["fits"])
    dataset.write(paths["zarr"])
    with open(paths["fits"], "rb") as src, gzip.open(paths["gz"], "wb") as dst:
        shutil.copyfileobj(src, dst)
    return paths


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MAPDS_CACHE_DIR", str(tmp_path / "cache"))


# -- the engine -------------------------------------------------------------------------------------


def test_engine_is_registered():
    engines = xr.backends.list_engines()
    assert isinstance(engines["mapds"], MapdsBackendEntrypoint)
    backend = engines["mapds"]
    for name in ("a.fits", "b.FITS.gz", "s3://bucket/c.zarr/", "d.fit"):
        assert backend.guess_can_open(name), name
    assert not backend.guess_can_open("e.nc")
    assert not backend.guess_can_open(object())
    assert "storage_options" in backend.open_dataset_parameters


@pytest.mark.parametrize("kind", ["fits", "gz", "zarr"])
def test_open_dataset_file(dataset_files, dataset, kind):
    ds = xr.open_dataset(dataset_files[kind], engine="mapds", chunks={})
    assert set(ds.data_vars) == set(ALL_MAPS)
    for name in COUNTS_GRID:
        assert ds[name].dims == ("energy", "y", "x"), name
    assert ds.exposure.dims == ("energy_true", "y", "x")
    # The IRF maps live on a 0.5° grid: their own spatial dimensions, reversibly renamed after
    # the first map on that grid (EDISP comes before PSF in gammapy's file layout).
    assert ds.edisp.dims == ("energy_true", "energy", "y_edisp", "x_edisp")
    assert ds.psf.dims == ("energy_true", "rad", "y_edisp", "x_edisp")
    assert ds.sizes["y_edisp"] == dataset.psf.psf_map.geom.data_shape[-2] and ds.sizes["y"] == 16
    assert "spatial_ref_edisp" in ds.coords and "spatial_ref" in ds.coords
    assert ds.mask_safe.dtype == bool
    assert ds.attrs["name"] == "obs-2"
    assert set(ds.attrs["mapds_tables"].split()) == {"gti", "meta_table"}
    assert all(isinstance(ds[name].data, da.Array) for name in ds.data_vars)
    _assert_maps_equal(ds, _members(dataset))


def test_to_dataset_equals_read(dataset_files):
    """``ds.mapds.to_dataset()`` gives the dataset ``MapDataset.read`` gives, with models too."""
    for kind in ("fits", "zarr"):
        read = MapDataset.read(dataset_files[kind])
        ds = xr.open_dataset(dataset_files[kind], engine="mapds", chunks={})
        built = ds.mapds.to_dataset()
        assert built.name == read.name == "obs-2"
        assert type(built.psf) is type(read.psf) and type(built.edisp) is type(read.edisp)
        assert len(built.gti.table) == 2 and built.meta_table["OBS_ID"][0] == 2
        assert ds.mapds.to_dataset(name="other").name == "other"
        for target in (built, read):
            target.models = sky_models("mapds", ["point", "gauss"], dataset_name=target.name)
        np.testing.assert_allclose(built.stat_sum(), read.stat_sum(), rtol=1e-12)
        np.testing.assert_allclose(built.npred().data.compute(), read.npred().data.compute(), rtol=1e-12)


def test_migra_edisp_dataset(tmp_path):
    dataset = build_dataset(MAPDS, seed=3, edisp="migra")
    dataset.write(tmp_path / "migra.fits")
    ds = xr.open_dataset(tmp_path / "migra.fits", engine="mapds", chunks={})
    assert ds.edisp.dims == ("energy_true", "migra", "y_edisp", "x_edisp")
    built = ds.mapds.to_dataset()
    assert type(built.edisp).__name__ == "EDispMap"
    np.testing.assert_allclose(
        built.stat_sum(), MapDataset.read(tmp_path / "migra.fits").stat_sum(), rtol=1e-12
    )


def test_single_map_files(tmp_path):
    cube = make_cube(chunks={"y": 20, "x": 30})
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    cube.write(tmp_path / "cube.zarr", hdu="counts")
    for path in (tmp_path / "cube.fits", tmp_path / "cube.zarr"):
        ds = xr.open_dataset(path, engine="mapds", chunks={})
        assert list(ds.data_vars) == ["counts"]
        assert ds.counts.dims == ("energy", "y", "x")
        assert ds.counts.attrs["units"] == cube.unit.to_string()
        _assert_maps_equal(ds, {"counts": cube})
    # zarr: the stored chunks are the native ones
    opened = xr.open_dataset(tmp_path / "cube.zarr", engine="mapds", chunks={})
    assert opened.counts.chunks == Map.read(tmp_path / "cube.zarr").chunks


def test_drop_variables(dataset_files):
    ds = xr.open_dataset(
        dataset_files["fits"], engine="mapds", drop_variables=["edisp", "EDISP_EXPOSURE", "gti"], chunks={}
    )
    assert "edisp" not in ds and "edisp_exposure" not in ds and "gti" not in ds.attrs
    assert ds.psf.dims[-2:] == ("y_psf", "x_psf")  # the IRF grid is now named after the PSF
    built = ds.mapds.to_dataset()
    assert built.edisp is None and built.gti is None and built.psf is not None


# -- chunks -----------------------------------------------------------------------------------------


def test_chunks_follow_xarray(tmp_path):
    cube = make_cube(npix=(60, 40), nbin=4)
    cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    path = tmp_path / "cube.fits"
    native = Map.read(path, hdu="COUNTS").chunks
    lazy = xr.open_dataset(path, engine="mapds")  # chunks=None: xarray's lazy indexing, no dask
    assert lazy.counts.chunks is None
    np.testing.assert_array_equal(lazy.counts[1, 5:9:2, ::-3].values, cube.data.compute()[1, 5:9:2, ::-3])
    assert xr.open_dataset(path, engine="mapds", chunks={}).counts.chunks == native
    auto = xr.open_dataset(path, engine="mapds", chunks="auto").counts
    assert auto.chunks is not None
    np.testing.assert_array_equal(auto.values, cube.data.compute())
    with pytest.warns(UserWarning, match="separate the stored chunks"):
        split = xr.open_dataset(path, engine="mapds", chunks={"x": 25}).counts
    assert split.chunks[-1] == (25, 25, 10)
    np.testing.assert_array_equal(split.values, cube.data.compute())
    # A Map from a lazily indexed (not dask) variable is still lazy
    m = lazy.counts.mapds.to_map()
    assert isinstance(m.data, da.Array) and m.chunks == native


def test_opening_reads_no_array_bytes(dataset_files, tmp_path, counting_fs, raise_if_dask_computes):
    path = tmp_path / "ds.fits"
    shutil.copy(dataset_files["fits"], path)
    counting_fs.reset()
    for chunks in (None, {}, "auto"):
        with raise_if_dask_computes():
            ds = xr.open_dataset(f"countfile://{path}", engine="mapds", chunks=chunks)
        # only the axis-edge coordinates (from the headers) are computed
        ds.mapds.to_dataset()
        ds.psf.mapds.geom  # noqa: B018
    assert counting_fs.bytes_read > 0  # headers, bands tables, GTI, meta table
    assert image_bytes_read(counting_fs, path) == 0
    # Reading a few rows of one plane reads those rows only (plus headers when reopening).
    ds = xr.open_dataset(f"countfile://{path}", engine="mapds", chunks=None)
    counting_fs.reset()
    ds.counts[1, 3:5, :].values  # noqa: B018
    assert 0 < image_bytes_read(counting_fs, path) <= 2 * 20 * 4


# -- several files, selections ----------------------------------------------------------------------


def test_open_mfdataset_along_a_new_dimension(tmp_path):
    cubes = [make_cube(npix=(30, 20), nbin=3), make_cube(npix=(30, 20), nbin=3) * 2]
    paths = []
    for i, cube in enumerate(cubes):
        paths.append(tmp_path / f"obs{i}.fits")
        cube.write(paths[-1], hdu="COUNTS")
    combine = {
        "combine": "nested",
        "data_vars": "all",
        "coords": "minimal",
        "compat": "override",
        "join": "exact",
    }
    ds = xr.open_mfdataset(paths, engine="mapds", concat_dim="obs", chunks={}, **combine)
    assert ds.counts.dims == ("obs", "energy", "y", "x")
    np.testing.assert_array_equal(ds.counts.values, np.stack([c.data.compute() for c in cubes]))
    with pytest.raises(Exception, match="isel"):
        ds.counts.mapds.to_map()
    assert ds.counts.isel(obs=1).mapds.to_map().geom == cubes[1].geom


def test_sel_by_energy(dataset_files, dataset):
    ds = xr.open_dataset(dataset_files["fits"], engine="mapds", chunks={})
    image = ds.counts.sel(energy=2.2, method="nearest")  # TeV, the unit of the energy coordinate
    index = int(np.argmin(np.abs(dataset.counts.geom.axes["energy"].center.to_value("TeV") - 2.2)))
    np.testing.assert_array_equal(image.values, dataset.counts.data.compute()[index])
    m = image.mapds.to_map()
    assert m.geom.is_image and m.geom == dataset.counts.geom.to_image()
    # the whole Dataset at once: the IRFs keep their own true-energy axes
    planes = ds.sel(energy=2.2, method="nearest")
    assert "energy" not in planes.counts.dims and planes.psf.dims == ds.psf.dims


def test_sel_sky(dataset_files, dataset):
    ds = xr.open_dataset(dataset_files["fits"], engine="mapds", chunks={})
    position = SkyCoord(0.33, -0.21, unit="deg", frame="galactic")
    # the pixel nearest to the position (any frame)
    spectrum = ds.counts.mapds.sel_sky(position.icrs)
    iy, ix = (
        int(np.round(np.squeeze(p))) for p in dataset.counts.geom.to_image().coord_to_pix(position)[::-1]
    )
    assert spectrum.dims == ("energy",)
    np.testing.assert_array_equal(spectrum.values, dataset.counts.data.compute()[:, iy, ix])
    with pytest.raises(KeyError, match="outside"):
        ds.counts.mapds.sel_sky(SkyCoord(30, 30, unit="deg", frame="galactic"))
    # a cutout is still a map, equal to Map.cutout
    cutout = ds.counts.mapds.sel_sky(position, width="0.6 deg")
    expected = dataset.counts.cutout(position, "0.6 deg")
    assert cutout.mapds.geom == expected.geom
    np.testing.assert_array_equal(cutout.values, expected.data.compute())
    # on a coarse grid, with its suffixed names kept
    psf_cut = ds.psf.mapds.sel_sky(position, width="1 deg")
    assert psf_cut.dims == ds.psf.dims and psf_cut.sizes["x_edisp"] == 2
    assert psf_cut.mapds.geom == dataset.psf.psf_map.cutout(position, "1 deg").geom


def test_dataset_sel_sky(dataset_files, dataset):
    ds = xr.open_dataset(dataset_files["zarr"], engine="mapds", chunks={})
    position = SkyCoord(0.3, -0.2, unit="deg", frame="galactic")
    cut = ds.mapds.sel_sky(position, width="1 deg")
    assert cut.sizes["y"] == 10 and cut.sizes["y_edisp"] == 2
    expected = dataset.counts.cutout(position, "1 deg")
    np.testing.assert_array_equal(cut.counts.values, expected.data.compute())
    assert cut.mapds.to_maps()["exposure"].geom == dataset.exposure.cutout(position, "1 deg").geom
    pixel = ds.mapds.sel_sky(position)
    assert pixel.counts.dims == ("energy",) and pixel.psf.dims == ("energy_true", "rad")


# -- writing the opened Dataset ---------------------------------------------------------------------


@pytest.mark.parametrize("livetime", [False, True])
def test_to_zarr_and_back(tmp_path, livetime):
    dataset = build_dataset(MAPDS, seed=5, name="zarr", livetime=livetime)
    dataset.write(tmp_path / "ds.zarr")
    ds = xr.open_dataset(tmp_path / "ds.zarr", engine="mapds", chunks={})
    ds.to_zarr(tmp_path / "copy.zarr", zarr_format=3, consolidated=False)
    copy = xr.open_zarr(tmp_path / "copy.zarr", consolidated=False)
    _assert_maps_equal(copy, _members(dataset))
    built = copy.mapds.to_dataset()
    assert built.exposure.meta == dataset.exposure.meta
    np.testing.assert_allclose(built.stat_sum(), MapDataset.read(tmp_path / "ds.zarr").stat_sum(), rtol=1e-12)


def test_to_netcdf_and_back(dataset_files, dataset, tmp_path):
    ds = xr.open_dataset(dataset_files["fits"], engine="mapds", chunks={})
    ds.to_netcdf(tmp_path / "copy.nc", engine="scipy")
    copy = xr.open_dataset(tmp_path / "copy.nc", engine="scipy", chunks={})
    assert copy.mask_safe.dtype == bool and copy.attrs["mapds_tables"] == ds.attrs["mapds_tables"]
    _assert_maps_equal(copy, _members(dataset))
    built = copy.mapds.to_dataset()
    assert built.exposure.meta["livetime"] == dataset.exposure.meta["livetime"]
    np.testing.assert_allclose(
        built.stat_sum(), MapDataset.read(dataset_files["fits"]).stat_sum(), rtol=1e-12
    )


# -- the Fermi-LAT Crab files -----------------------------------------------------------------------


def test_crab_dataset(crab_dir, tmp_path, counting_fs):
    path = tmp_path / CRAB_FILE
    shutil.copy(crab_dir / CRAB_FILE, path)
    counting_fs.reset()
    ds = xr.open_dataset(f"countfile://{path}", engine="mapds", chunks={})
    assert image_bytes_read(counting_fs, path) == 0
    assert set(ds.data_vars) == {
        "counts", "exposure", "background", "edisp", "edisp_exposure", "psf", "psf_exposure", "mask_safe",
    }  # fmt: skip
    assert ds.counts.dims == ("energy", "y", "x") and ds.sizes["x"] == 50
    # PSF: its own 2 x 1 grid and 17 true energies (the exposure has 5)
    assert ds.psf.dims == ("energy_true_psf", "rad", "y_psf", "x_psf")
    assert ds.edisp.dims == ("energy_true", "energy", "y_edisp", "x_edisp")
    assert ds.psf.mapds.geom.data_shape == (17, 300, 1, 2)
    assert "gti" in ds.attrs["mapds_tables"].split()

    read = MapDataset.read(crab_dir / CRAB_FILE, name="Fermi-LAT")  # the models' datasets_names
    built = ds.mapds.to_dataset(name="Fermi-LAT")
    for target in (built, read):
        target.models = Models.read(crab_dir / CRAB_MODELS)
    np.testing.assert_allclose(built.stat_sum(), read.stat_sum(), rtol=1e-12)
    np.testing.assert_allclose(built.npred().data.compute(), read.npred().data.compute(), rtol=1e-12)
    np.testing.assert_array_equal(ds.psf.values, read.psf.psf_map.data.compute())
