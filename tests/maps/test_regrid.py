"""interp_to_geom against gammapy; one task per output chunk reading only its footprint."""

from __future__ import annotations

import gammapy.maps as gmaps
import numpy as np
import pytest

import mapds.geom
from mapds.errors import GeometryMismatchError
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map

TARGETS = {
    "finer": {"npix": (20, 15), "binsz": 0.2, "skydir": (10.3, 20.1)},
    "galactic-tan": {
        "npix": (12, 12),
        "binsz": 0.3,
        "skydir": (80.0, 30.0),
        "frame": "galactic",
        "proj": "TAN",
    },
    # pixel centres fall exactly on source pixel edges: tests the rounding of ties
    "aligned-coarser": {"npix": (4, 3), "binsz": 1.0, "skydir": (10.0, 20.0)},
}


def _targets(name, nbin=5):
    g_axis = gmaps.MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")
    m_axis = MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")
    kwargs = TARGETS[name]
    return gmaps.WcsGeom.create(axes=[g_axis], **kwargs), WcsGeom.create(axes=[m_axis], **kwargs)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"method": "nearest"}, {"fill_value": None}, {"preserve_counts": True}, {"values_scale": "log"}],
    ids=["default", "nearest", "extrapolate", "preserve_counts", "log"],
)
@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_interp_to_geom(maps_with_nan, assert_map_equal, target, kwargs):
    gp, md = maps_with_nan
    gp_geom, md_geom = _targets(target)
    expected, actual = (
        gp.interp_to_geom(gp_geom, **kwargs),
        md.interp_to_geom(md_geom, chunks=(2, 7, 5), **kwargs),
    )
    assert_map_equal(expected, actual)


@pytest.mark.parametrize("fill_value", [0, True, None])
def test_interp_to_geom_mask(make_maps, assert_map_equal, fill_value):
    gp, md = make_maps(npix=(9, 7), nbin=5, dtype=bool)
    for target in TARGETS:
        gp_geom, md_geom = _targets(target)
        assert_map_equal(
            gp.interp_to_geom(gp_geom, fill_value=fill_value),
            md.interp_to_geom(md_geom, fill_value=fill_value),
        )


def test_interp_to_geom_image_onto_cube(maps_with_nan, assert_map_equal):
    gp, md = maps_with_nan
    gp_image, md_image = gp.sum_over_axes(keepdims=False), md.sum_over_axes(keepdims=False)
    gp_geom, md_geom = _targets("finer")
    assert_map_equal(gp_image.interp_to_geom(gp_geom), md_image.interp_to_geom(md_geom, chunks=(2, 4, 6)))


def test_interp_to_geom_axes_in_another_order(rng, assert_map_equal):
    """Axes are matched by name: a [rad, energy_true] map onto an [energy_true, rad] geometry."""
    edges = {"rad": np.linspace(0, 0.5, 6), "energy_true": np.geomspace(1, 100, 5)}
    units = {"rad": "deg", "energy_true": "TeV"}
    interps = {"rad": "lin", "energy_true": "log"}

    def axes(module, names):
        return [module.MapAxis.from_edges(edges[n], name=n, unit=units[n], interp=interps[n]) for n in names]

    kwargs = {"npix": (6, 5), "binsz": 0.4, "skydir": (0, 0)}
    gp_geom = gmaps.WcsGeom.create(axes=axes(gmaps, ["rad", "energy_true"]), **kwargs)
    md_geom = WcsGeom.create(axes=axes(mapds.geom, ["rad", "energy_true"]), **kwargs)
    data = rng.random(gp_geom.data_shape).astype("float32")
    gp = gmaps.Map.from_geom(gp_geom, data=data)
    md = Map.from_geom(md_geom, data=data, chunks=(2, 3, 5, 6))
    target = {"npix": (8, 7), "binsz": 0.3, "skydir": (0.1, 0.0)}
    gp_target = gmaps.WcsGeom.create(axes=axes(gmaps, ["energy_true", "rad"]), **target)
    md_target = WcsGeom.create(axes=axes(mapds.geom, ["energy_true", "rad"]), **target)
    assert_map_equal(gp.interp_to_geom(gp_target), md.interp_to_geom(md_target, chunks=(3, 2, 4, 4)))


def test_interp_to_geom_missing_axis(maps_with_nan):
    _, md = maps_with_nan
    with pytest.raises(GeometryMismatchError, match="energy"):
        md.interp_to_geom(WcsGeom.create(npix=5, binsz=0.5, skydir=(10, 20)))


def test_interp_to_geom_is_lazy_and_reads_the_footprint(stored, raise_if_dask_computes):
    md, counting, data = stored
    target = WcsGeom.create(npix=(10, 10), binsz=0.05, skydir=(13.0, 22.0), axes=md.geom.axes)
    with raise_if_dask_computes():
        out = md.interp_to_geom(target, chunks=(4, 5, 5))
    assert counting.reads == []
    assert out.data.npartitions == 4
    values = out.data.compute()
    # the 0.5 x 0.5 deg target covers ~6 x 6 source pixels, read with a one-pixel margin
    assert counting.elements_read <= 4 * 4 * 10 * 10
    expected = Map.from_geom(md.geom, data=data).interp_to_geom(target)
    np.testing.assert_allclose(values, expected.data.compute(), rtol=1e-6)
