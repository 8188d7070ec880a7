"""MapDataset.create / from_geoms / create_map_dataset_geoms against gammapy; laziness, chunks,
copies and the checks of the constructor."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table
from gammapy.datasets.map import create_map_dataset_geoms as gp_create_geoms
from gammapy.maps import LabelMapAxis as GammapyLabelMapAxis

from mapds.datasets import MapDataset, SpectrumDataset, create_map_dataset_geoms
from mapds.errors import AxisError, GeometryError, GeometryMismatchError, InvalidArgumentError
from mapds.geom import LabelMapAxis, MapAxis, WcsGeom
from mapds.maps import Map
from mapds.testing import GAMMAPY, MAPDS


def _geom(ns, npix=(20, 15), extra=False):
    energy = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    axes = [energy]
    if extra:
        label_axis = LabelMapAxis if ns is MAPDS else GammapyLabelMapAxis
        axes.append(label_axis(["a", "b"], name="evt"))
    return ns.WcsGeom.create(npix=npix, binsz=0.1, axes=axes, skydir=(10, 20), frame="galactic")


CREATE_CASES = {
    "default": {},
    "true axis": {"energy_axis_true": "true"},
    "migra": {"migra_axis": "migra"},
    "reco psf": {"reco_psf": True},
    "rad and binsz": {"rad_axis": "rad", "binsz_irf": 0.5 * u.deg},
}


def _kwargs(ns, case):
    out = {}
    for key, value in CREATE_CASES[case].items():
        if value == "true":
            value = ns.MapAxis.from_energy_bounds(0.5, 20, 7, unit="TeV", name="energy_true")
        elif value == "migra":
            value = ns.MapAxis.from_bounds(0.2, 5, 12, unit="", name="migra")
        elif value == "rad":
            value = ns.MapAxis.from_bounds(0, 0.5, 20, unit="deg", name="rad")
        out[key] = value
    return out


@pytest.mark.parametrize("case", CREATE_CASES)
def test_create_matches_gammapy(case, assert_same):
    gp = GAMMAPY.MapDataset.create(_geom(GAMMAPY), name="empty", **_kwargs(GAMMAPY, case))
    md = MAPDS.MapDataset.create(_geom(MAPDS), name="empty", **_kwargs(MAPDS, case))
    assert_same.dataset(md, gp)
    assert md.mask_fit is None and md.meta_table is None
    assert len(md.gti) == 0
    assert md.mask_safe.dtype == bool


def _irf_maps(dataset):
    return {
        "psf": dataset.psf.psf_map,
        "psf_exposure": dataset.psf.exposure_map,
        "edisp": dataset.edisp.edisp_map,
        "edisp_exposure": dataset.edisp.exposure_map,
    }


@pytest.mark.parametrize("case", ["default", "migra", "reco psf"])
def test_create_with_extra_axis_matches_gammapy(case):
    gp = GAMMAPY.MapDataset.create(_geom(GAMMAPY, extra=True), **_kwargs(GAMMAPY, case))
    md = MAPDS.MapDataset.create(_geom(MAPDS, extra=True), **_kwargs(MAPDS, case))
    members = {m: (getattr(md, m), getattr(gp, m)) for m in ("counts", "exposure", "background", "mask_safe")}
    gp_irfs, md_irfs = _irf_maps(gp), _irf_maps(md)
    members.update({key: (md_irfs[key], gp_irfs[key]) for key in gp_irfs})
    for member, (md_map, gp_map) in members.items():
        assert md_map.geom.axes_names == gp_map.geom.axes_names, member
        values = np.asarray(md_map.data.compute())
        assert values.dtype == gp_map.data.dtype, member
        assert md_map.unit == gp_map.unit, member
        np.testing.assert_array_equal(values, gp_map.data, err_msg=member)
    assert type(md.psf).__name__ == type(gp.psf).__name__
    assert type(md.edisp).__name__ == type(gp.edisp).__name__


@pytest.mark.parametrize("case", CREATE_CASES)
def test_create_map_dataset_geoms_matches_gammapy(case):
    gp = gp_create_geoms(_geom(GAMMAPY, extra=True), **_kwargs(GAMMAPY, case))
    md = create_map_dataset_geoms(_geom(MAPDS, extra=True), **_kwargs(MAPDS, case))
    assert list(md) == ["geom", "geom_exposure", "geom_psf", "geom_edisp"] == list(gp)
    for key in gp:
        assert md[key].data_shape == gp[key].data_shape, key
        assert md[key].axes_names == gp[key].axes_names, key
        np.testing.assert_allclose(md[key].wcs.wcs.crpix, gp[key].wcs.wcs.crpix)
        np.testing.assert_allclose(md[key].wcs.wcs.cdelt, gp[key].wcs.wcs.cdelt)
        np.testing.assert_allclose(md[key].wcs.wcs.crval, gp[key].wcs.wcs.crval)


def test_create_keeps_meta_table_reference_time_and_kwargs():
    meta_table = Table({"OBS_ID": [1, 2]})
    md = MapDataset.create(
        _geom(MAPDS), reference_time="2010-01-01", meta_table=meta_table, stat_type="cash_weighted"
    )
    gp = GAMMAPY.MapDataset.create(_geom(GAMMAPY), reference_time="2010-01-01", meta_table=meta_table)
    assert md.meta_table is meta_table
    assert md.stat_type == "cash_weighted"
    assert abs((md.gti.time_ref - gp.gti.time_ref).to_value("s")) < 1e-6
    assert len(md.name) == 8  # random name, as gammapy's


def test_create_is_lazy_and_honours_chunks(raise_if_dask_computes):
    # All-sky at 0.02 deg: 18000 x 9000 pixels x 3 energies (1.9 GB per float32 cube).
    energy = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
    geom = WcsGeom.create(binsz=0.02, axes=[energy], frame="galactic")
    with raise_if_dask_computes():
        dataset = MapDataset.create(geom, binsz_irf=2.0, chunks={"x": 3000, "y": 1500})
    assert dataset.counts.geom.data_shape == (3, 9000, 18000)
    for member in ("counts", "background", "mask_safe"):
        assert getattr(dataset, member).chunks == ((3,), (1500,) * 6, (3000,) * 6), member
    assert dataset.exposure.chunks[-2:] == dataset.counts.chunks[-2:]
    # nothing large is materialised in the graph: a few small tasks per chunk at most
    graph = dict(dataset.counts.data.__dask_graph__())
    assert len(graph) == 36


def test_create_rechunk_not_needed_for_exposure():
    dataset = MapDataset.create(_geom(MAPDS), chunks={"x": 7, "y": 4})
    # exposure is created with the counts' spatial chunks (no rechunk layer)
    layers = dataset.exposure.data.__dask_graph__().layers
    assert not any("rechunk" in name for name in layers)
    assert dataset.exposure.chunks[-2:] == ((4, 4, 4, 3), (7, 7, 6))


def test_from_geoms_only_counts_geometry():
    dataset = MapDataset.from_geoms(_geom(MAPDS), name="x")
    assert dataset.exposure is None and dataset.psf is None and dataset.edisp is None
    assert dataset.counts is not None and dataset.background is not None
    assert not np.asarray(dataset.mask_safe.data).any()


def test_create_needs_energy_axis():
    geom = _geom(MAPDS).to_image().to_cube([MapAxis.from_bounds(0, 1, 2, name="x_axis")])
    with pytest.raises(AxisError, match="energy"):
        MapDataset.create(geom)


def test_spectrum_dataset_create_matches_gammapy(assert_same):
    def geom(ns):
        energy = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
        return ns.RegionGeom.create("galactic;circle(10, 20, 0.3)", axes=[energy])

    gp = GAMMAPY.SpectrumDataset.create(geom(GAMMAPY), name="spec")
    md = MAPDS.SpectrumDataset.create(geom(MAPDS), name="spec")
    assert md.psf is None
    assert_same.dataset(md, gp)
    with pytest.raises(GeometryError, match="RegionGeom"):
        SpectrumDataset.create(_geom(MAPDS))
    for method in ("cutout", "plot_residuals_spatial", "to_spectrum_dataset"):
        with pytest.raises(NotImplementedError):
            getattr(md, method)()


# -- copies ----------------------------------------------------------------------------------------


def test_copy_renames_and_drops_models(dataset_pair):
    from mapds.modeling.models import FoVBackgroundModel

    _, md = dataset_pair()
    md.models = [FoVBackgroundModel(dataset_name=md.name)]
    copy = md.copy(name="copy")
    assert copy.name == "copy" and md.name == "ds"
    assert copy.models is None and md.models is not None
    assert copy.counts.data.name == md.counts.data.name  # same lazy graph, nothing copied
    copy.meta_table["OBS_ID"][0] = 99
    assert md.meta_table["OBS_ID"][0] != 99
    assert md.copy().name != md.name


# -- the constructor's checks ----------------------------------------------------------------------


def _maps():
    geom = _geom(MAPDS)
    other = _geom(MAPDS, npix=(21, 15))
    return geom, other


def test_members_on_other_geometries_are_refused():
    geom, other = _maps()
    counts = Map.from_geom(geom)
    with pytest.raises(GeometryMismatchError, match="background"):
        MapDataset(counts=counts, background=Map.from_geom(other))
    with pytest.raises(GeometryMismatchError, match="mask_safe"):
        MapDataset(counts=counts, mask_safe=Map.from_geom(other, dtype=bool))
    with pytest.raises(GeometryMismatchError, match="mask_fit"):
        MapDataset(counts=counts, mask_fit=Map.from_geom(geom.squash("energy"), dtype=bool))
    energy_true = MapAxis.from_energy_bounds(1, 10, 2, unit="TeV", name="energy_true")
    exposure = Map.from_geom(other.to_image().to_cube([energy_true]))
    with pytest.raises(GeometryMismatchError, match="exposure"):
        MapDataset(counts=counts, exposure=exposure)


def test_members_of_wrong_type_are_refused():
    geom, _ = _maps()
    counts = Map.from_geom(geom)
    with pytest.raises(InvalidArgumentError, match="psf"):
        MapDataset(counts=counts, psf=counts)
    with pytest.raises(InvalidArgumentError, match="edisp"):
        MapDataset(counts=counts, edisp=counts)
    with pytest.raises(InvalidArgumentError, match="gti"):
        MapDataset(counts=counts, gti="2000-01-01")
    with pytest.raises(InvalidArgumentError, match="stat_type"):
        MapDataset(counts=counts, stat_type="wstat")


def test_members_are_rechunked_to_the_counts_chunks():
    geom, _ = _maps()
    counts = Map.from_geom(geom, chunks={"x": 5, "y": 5})
    background = Map.from_geom(geom, chunks={"x": 20, "y": 15})
    dataset = MapDataset(counts=counts, background=background)
    assert dataset.background.chunks == counts.chunks
