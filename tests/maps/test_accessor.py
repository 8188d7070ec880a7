"""The DataArray ``.mapds`` accessor and the layout of several maps in one Dataset."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from astropy.coordinates import SkyCoord

from mapds.errors import MapdsError
from mapds.maps import Map, MapAxis
from mapds.maps.dataset_layout import RENAME_ATTR, combine_dataarrays, map_dataarray


def _map(npix, binsz, axes, seed=0, chunks=None) -> Map:
    m = Map.create(npix=npix, binsz=binsz, frame="galactic", axes=axes, chunks=chunks)
    m.data = np.random.default_rng(seed).random(m.geom.data_shape).astype("f4")
    return m


@pytest.fixture(scope="module")
def maps():
    energy = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy")
    energy_true = MapAxis.from_energy_bounds(0.5, 20, 4, unit="TeV", name="energy_true")
    energy_true_fine = MapAxis.from_energy_bounds(0.5, 20, 9, unit="TeV", name="energy_true")
    rad = MapAxis.from_bounds(0, 0.5, 5, unit="deg", name="rad")
    return {
        "counts": _map((20, 10), 0.1, [energy], chunks={"x": 8}),
        "exposure": _map((20, 10), 0.1, [energy_true], seed=1),
        "psf": _map((4, 2), 0.5, [rad, energy_true_fine], seed=2),
        "other": _map((4, 2), 0.5, [energy_true], seed=3),
    }


def test_combine_names_grids_and_axes(maps):
    ds = combine_dataarrays({name: m.to_xarray(name) for name, m in maps.items()}, attrs={"name": "x"})
    assert ds.counts.dims == ("energy", "y", "x")
    assert ds.exposure.dims == ("energy_true", "y", "x")
    assert ds.psf.dims == ("energy_true_psf", "rad", "y_psf", "x_psf")  # another grid, another axis
    assert ds.other.dims == ("energy_true", "y_psf", "x_psf")  # the PSF's grid, the exposure's axis
    assert {"spatial_ref", "spatial_ref_psf", "energy_true_psf_min"} <= set(ds.coords)
    assert "y_psf:y" in ds.psf.attrs[RENAME_ATTR].split() and RENAME_ATTR not in ds.counts.attrs
    assert ds.attrs == {"name": "x"}
    for name, m in maps.items():
        restored = ds[name].mapds.to_map()
        assert restored.geom == m.geom, name
        np.testing.assert_array_equal(restored.data.compute(), m.data.compute())
        assert map_dataarray(ds[name]).dims == m.to_xarray().dims
    assert ds.counts.mapds.to_map().chunks == maps["counts"].chunks  # the data objects are kept


def test_accessor_on_a_plain_dataarray(maps):
    m = maps["counts"]
    arr = m.to_xarray("counts")
    assert arr.mapds.geom == m.geom
    loaded = arr.copy(data=m.data.compute())  # numpy-backed: to_map chunks it, lazily
    restored = loaded.mapds.to_map()
    assert isinstance(restored.data, da.Array)
    np.testing.assert_array_equal(restored.data.compute(), m.data.compute())


def test_sel_sky_on_dataarray(maps):
    m = maps["counts"]
    arr = m.to_xarray("counts")
    position = SkyCoord(0.31, 0.12, unit="deg", frame="galactic")
    cutout = arr.mapds.sel_sky(position, width=(0.5, 0.3))
    expected = m.cutout(position, (0.5, 0.3))
    assert cutout.mapds.geom == expected.geom
    np.testing.assert_array_equal(cutout.values, expected.data.compute())
    with pytest.raises(MapdsError):
        arr.mapds.sel_sky(position, width="5 deg", mode="strict")
    with pytest.raises(ValueError, match="mode"):
        arr.mapds.sel_sky(position, width="1 deg", mode="partial")
    with pytest.raises(MapdsError, match="not a map"):
        arr.mapds.sel_sky(position).mapds.to_map()


def test_dataset_sel_sky_renames_conflicting_scalars(maps):
    ds = combine_dataarrays({name: m.to_xarray(name) for name, m in maps.items()})
    position = SkyCoord(0.2, 0.1, unit="deg", frame="galactic")
    pixels = ds.mapds.sel_sky(position)
    assert pixels.counts.dims == ("energy",) and pixels.psf.dims == ("energy_true_psf", "rad")
    assert "spatial_ref_psf" in pixels.coords
    iy, ix = (int(np.round(np.squeeze(p))) for p in maps["psf"].geom.to_image().coord_to_pix(position)[::-1])
    np.testing.assert_array_equal(pixels.psf.values, maps["psf"].data.compute()[..., iy, ix])


def test_extra_dimension_is_a_clear_error(maps):
    arr = xr.concat([maps["counts"].to_xarray("c")] * 2, dim="obs")
    with pytest.raises(MapdsError, match="isel"):
        arr.mapds.to_map()
