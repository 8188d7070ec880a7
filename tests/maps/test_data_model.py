"""A map is one dask-backed ``xarray.DataArray``: its layout, what xarray can do to it and still give
a map back, the lazy sky coordinates, the dask-collection protocol and copies that share nothing."""

from __future__ import annotations

import astropy.units as u
import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord
from astropy.io import fits

from mapds.errors import GeometryMismatchError
from mapds.maps import Map, MapAxis, WcsGeom

ENERGY = MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=4)


@pytest.fixture
def cube() -> Map:
    geom = WcsGeom.create(
        skydir=(10, 2), npix=(40, 30), binsz=0.1, frame="galactic", proj="CAR", axes=[ENERGY]
    )
    data = np.arange(np.prod(geom.data_shape), dtype="float32").reshape(geom.data_shape)
    meta = {"livetime": 3 * u.s}
    return Map.from_geom(geom, data=data, unit="cm-2 s-1", meta=meta, chunks={"y": 10, "x": 16})


def test_map_holds_one_dataarray(cube):
    array = cube.to_xarray()
    assert array is cube.to_xarray()  # no copy: the map's own DataArray
    assert array.data is cube.data
    assert isinstance(array.data, da.Array)
    assert array.dims == ("energy", "y", "x")
    assert {"energy", "energy_min", "energy_max", "x", "y", "lon", "lat", "spatial_ref"} == set(array.coords)
    np.testing.assert_allclose(array["energy_min"], ENERGY.edges[:-1].value, rtol=1e-15)
    assert array.attrs["units"] == "1 / (s cm2)"
    # every attribute netCDF can hold: strings and numbers
    for variable in (array, *array.coords.values()):
        for value in variable.attrs.values():
            assert isinstance(value, (str, int, float, list)), (variable.name, value)
    header = fits.Header.fromstring(array.spatial_ref.attrs["wcs"])
    assert header["CTYPE1"] == "GLON-CAR"
    assert array.spatial_ref.attrs["grid_mapping_name"] == "latitude_longitude"
    assert array.attrs["grid_mapping"] == "spatial_ref"


@pytest.mark.parametrize(
    ("proj", "cf"),
    [("TAN", None), ("ZEA", "lambert_azimuthal_equal_area"), ("AIT", None), ("SIN", "orthographic")],
)
def test_cf_grid_mapping_where_cf_names_the_projection(proj, cf):
    m = Map.create(npix=(8, 6), binsz=0.5, skydir=(83.6, 22.0), proj=proj)
    attrs = m.to_xarray().spatial_ref.attrs
    assert attrs.get("grid_mapping_name") == cf
    if cf:
        assert attrs["longitude_of_projection_origin"] == pytest.approx(83.6)
        assert attrs["latitude_of_projection_origin"] == pytest.approx(22.0)


def test_lon_lat_are_lazy_per_chunk_and_right(cube):
    lon, lat = cube.lon, cube.lat
    assert isinstance(lon.data, da.Array) and lon.data.chunks == cube.data.chunks[-2:]
    coords = cube.geom.to_image().get_coord()
    np.testing.assert_allclose(lon.values, coords["lon"].to_value("deg"), rtol=0, atol=1e-12)
    np.testing.assert_allclose(lat.values, coords["lat"].to_value("deg"), rtol=0, atol=1e-12)
    # a chunk of the coordinates is computed by a task of its own
    (block,) = dask.optimize(lon.data.blocks[1, 1])
    assert lon.data.npartitions == 9
    assert len(dict(block.__dask_graph__())) <= 2


def test_a_survey_sized_map_builds_its_coordinates_without_computing():
    geom = WcsGeom.create(npix=(36000, 2800), binsz=0.01, frame="galactic", proj="CAR", axes=[ENERGY])
    with dask.config.set(scheduler=_forbidden):
        m = Map.from_geom(geom)
        array = m.to_xarray()
        assert array.lon.shape == (2800, 36000)
        assert array.lon.data.npartitions == m.data.blocks[0].npartitions


def _forbidden(*args, **kwargs):
    raise AssertionError("something was computed")


def test_from_xarray_of_isel_and_sel(cube):
    array = cube.to_xarray()
    part = Map.from_xarray(array.isel(x=slice(5, 25), y=slice(3, 13)))
    expected = cube.slice_by_idx({"x": slice(5, 25), "y": slice(3, 13)})
    assert part.geom == expected.geom
    np.testing.assert_array_equal(np.asarray(part), np.asarray(cube)[:, 3:13, 5:25])
    assert part.geom.center_skydir.separation(expected.geom.center_skydir) < 1e-9 * u.deg

    plane = Map.from_xarray(array.sel(energy=3.0, method="nearest"))
    assert plane.geom.axes.names == [] and plane.geom.data_shape == (30, 40)
    np.testing.assert_array_equal(np.asarray(plane), np.asarray(cube)[1])

    bins = Map.from_xarray(array.isel(energy=slice(1, 3)))
    np.testing.assert_allclose(bins.geom.axes["energy"].edges, ENERGY.edges[1:4])

    every_other = Map.from_xarray(array.isel(x=slice(None, None, 2)))
    np.testing.assert_allclose(every_other.geom.pixel_scales.deg, [0.2, 0.1])
    pixel = every_other.geom.pix_to_coord((np.array([3.0]), np.array([4.0])))
    original = cube.geom.pix_to_coord((np.array([6.0]), np.array([4.0])))
    np.testing.assert_allclose([c.value for c in pixel[:2]], [c.value for c in original[:2]], atol=1e-12)


def test_from_xarray_of_coarsen_and_pad(cube):
    array = cube.to_xarray()
    coarse = Map.from_xarray(array.coarsen(x=2, y=2).sum())
    downsampled = cube.downsample(2)
    assert coarse.geom == downsampled.geom
    np.testing.assert_allclose(np.asarray(coarse), np.asarray(downsampled), rtol=1e-6)

    padded = Map.from_xarray(array.pad(x=3, y=3, constant_values=0))
    assert padded.geom == cube.pad(3).geom
    np.testing.assert_array_equal(np.asarray(padded), np.asarray(cube.pad(3)))


def test_from_xarray_rejects_what_is_no_map(cube):
    array = cube.to_xarray()
    with pytest.raises(GeometryMismatchError, match="not contiguous"):
        Map.from_xarray(array.coarsen(energy=2).sum())  # the bin edges become means
    with pytest.raises(GeometryMismatchError, match="evenly spaced"):
        Map.from_xarray(array.isel(x=[0, 1, 5]))
    # with the right coordinate functions, coarsening an axis is a map again
    merged = Map.from_xarray(
        array.coarsen(energy=2, coord_func={"energy_min": "min", "energy_max": "max"}).sum()
    )
    np.testing.assert_allclose(merged.geom.axes["energy"].edges, ENERGY.edges[::2])


def test_to_netcdf_round_trip(cube, tmp_path):
    cube.to_xarray(name="flux").to_netcdf(tmp_path / "flux.nc")
    back = Map.from_xarray(xr.open_dataarray(tmp_path / "flux.nc"))
    assert back.geom == cube.geom
    assert back.unit == cube.unit
    assert back.meta == cube.meta
    np.testing.assert_array_equal(np.asarray(back), np.asarray(cube))


def test_named_dimension_broadcasting(cube):
    image = Map.from_geom(cube.geom.to_image(), data=np.full((30, 40), 2.0), unit="s")
    product = cube * image
    assert product.geom == cube.geom and product.unit == u.Unit("cm-2")
    np.testing.assert_allclose(np.asarray(product), np.asarray(cube) * 2)
    other_grid = Map.create(npix=(40, 30), binsz=0.2)
    with pytest.raises(GeometryMismatchError):
        cube * other_grid


def test_map_is_a_dask_collection(cube):
    assert dask.is_dask_collection(cube)
    (computed,) = dask.compute(cube)
    assert isinstance(computed, Map) and isinstance(computed.data, np.ndarray)
    assert computed.geom == cube.geom and computed.unit == cube.unit and computed.meta == cube.meta
    np.testing.assert_array_equal(computed.data, np.asarray(cube))
    assert isinstance(cube.compute().data, np.ndarray)
    assert float(cube.compute().data.max()) == float(np.asarray(cube).max())  # a number, not a graph

    (persisted,) = dask.persist(cube * 2)
    assert isinstance(persisted.data, da.Array)
    assert all(len(v) == 1 for v in [persisted.data.dask.layers])  # one layer of finished chunks
    np.testing.assert_array_equal(np.asarray(persisted), 2 * np.asarray(cube))
    assert dask.base.tokenize(cube) == dask.base.tokenize(cube)

    from dask.diagnostics import ProgressBar

    with ProgressBar(minimum=0, dt=0.001) as bar:
        dask.compute(cube * 2)
    assert bar.last_duration >= 0


def test_computed_maps_keep_working(cube):
    computed = cube.compute()
    assert np.asarray(computed.sum_over_axes()).sum() == pytest.approx(float(np.asarray(cube).sum()))
    assert computed.cutout(cube.geom.center_skydir, "1 deg").geom.data_shape[-2:] == (10, 10)
    assert isinstance((computed * 2).data, np.ndarray)  # numpy in, numpy out, as xarray
    assert computed.smooth("0.2 deg").geom == cube.geom


def test_copy_never_shares_mutable_state(cube):
    original = float(np.asarray(cube).sum())
    copy = cube.copy()
    copy.data[copy.data > 100] = 0  # dask's __setitem__ rebinds the copy's array in place
    assert float(np.asarray(cube).sum()) == original
    assert float(np.asarray(copy).sum()) < original

    computed = cube.compute()
    computed_copy = computed.copy()
    computed_copy.data[:] = 0
    assert float(computed.data.sum()) == original

    same_values = cube.copy(unit="m")
    same_values.data[...] = 1
    assert float(np.asarray(cube).sum()) == original


def test_lon_lat_pick_a_sky_position(cube):
    target = SkyCoord(10.3, 2.1, unit="deg", frame="galactic")
    array = cube.to_xarray()
    distance = np.hypot(array.lon - target.l.deg, array.lat - target.b.deg)
    y, x = np.unravel_index(int(distance.argmin().values), distance.shape)
    px, py = cube.geom.to_image().coord_to_pix(target)
    assert (x, y) == (int(np.round(px.item())), int(np.round(py.item())))


@pytest.mark.parametrize("suffix", [".fits", ".fits.gz", ".zarr"])
def test_a_computed_map_writes_and_reads_back(tmp_path, suffix):
    """``compute()`` gives numpy-backed maps; writing one streams it like a lazy one."""
    from mapds.geom import WcsGeom

    m = Map.from_geom(WcsGeom.create(npix=(6, 5)), data=np.arange(30.0).reshape(5, 6)).compute()
    m.write(tmp_path / f"m{suffix}")
    np.testing.assert_array_equal(np.asarray(Map.read(tmp_path / f"m{suffix}").data), np.asarray(m.data))
