"""`MapAxes` and the gadf BANDS table against gammapy 2.1 (tables written by each, read by each)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from mapds.errors import AxisError, InvalidArgumentError
from mapds.geom import LabelMapAxis, MapAxes, MapAxis

ENERGY = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
ENERGY_TRUE = MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", 4, name="energy_true")
RAD = MapAxis.from_bounds(0, 0.3, 2, name="rad", unit="deg")
MIGRA = MapAxis.from_bounds(0.2, 5, 3, name="migra")
ENERGY_CENTER = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3, node_type="center")
SQRT_CENTER = MapAxis.from_nodes([1, 4, 9], name="offset", unit="deg", interp="sqrt")
LABELS = LabelMapAxis(["b", "a", "c"], name="models")

AXES_CASES = {
    "energy": [ENERGY],
    "rad-energy_true": [RAD, ENERGY_TRUE],
    "migra-energy_true": [MIGRA, ENERGY_TRUE],
    "three-axes": [ENERGY, RAD, ENERGY_TRUE],
    "energy-center": [ENERGY_CENTER],
    "sqrt-center": [SQRT_CENTER, ENERGY],
    "labels": [LABELS],
    "energy-labels": [ENERGY, LABELS],
    "labels-energy": [LABELS, ENERGY],
    "none": [],
}


@pytest.mark.parametrize("axes", AXES_CASES.values(), ids=AXES_CASES.keys())
@pytest.mark.parametrize("hdu_bands", [None, "COUNTS_BANDS"])
def test_bands_hdu_identical_to_gammapy(ref, axes, hdu_bands):
    ours = MapAxes(axes).to_table_hdu(format="gadf", hdu_bands=hdu_bands)
    theirs = ref.maps.MapAxes(ref.axes(axes)).to_table_hdu(format="gadf", hdu_bands=hdu_bands)
    assert ours.name == theirs.name
    assert [(c.name, c.format, c.unit) for c in ours.columns] == [
        (c.name, c.format, c.unit) for c in theirs.columns
    ]
    for name in theirs.columns.names:
        np.testing.assert_array_equal(ours.data[name], theirs.data[name], err_msg=name)
    # Same cards in the same order, byte for byte once written.
    assert ours.header.tostring() == theirs.header.tostring()


@pytest.mark.parametrize("axes", AXES_CASES.values(), ids=AXES_CASES.keys())
def test_bands_hdu_read_both_ways(ref, same, tmp_path, axes):
    """mapds reads gammapy's BANDS table from a real file, and gammapy reads mapds's."""
    path = tmp_path / "bands.fits"
    fits.HDUList([fits.PrimaryHDU(), ref.maps.MapAxes(ref.axes(axes)).to_table_hdu()]).writeto(path)
    with fits.open(path) as hdulist:
        ours = MapAxes.from_table_hdu(hdulist["BANDS"])
        theirs = ref.maps.MapAxes.from_table_hdu(hdulist["BANDS"])
    assert_axes_same(ours, theirs, same)
    path_ours = tmp_path / "bands_ours.fits"
    fits.HDUList([fits.PrimaryHDU(), MapAxes(axes).to_table_hdu()]).writeto(path_ours)
    with fits.open(path_ours) as hdulist:
        assert_axes_same(ours, ref.maps.MapAxes.from_table_hdu(hdulist["BANDS"]), same)


def assert_axes_same(ours, theirs, same):
    assert ours.names == theirs.names
    for ax, ax_ref in zip(ours, theirs, strict=True):
        assert ax.node_type == ax_ref.node_type
        same(ax.center, ax_ref.center)
        if ax.node_type != "label":
            assert ax.interp == ax_ref.interp
            same(ax.edges, ax_ref.edges)


def test_real_gammapy_file_bands(ref, same, crab_dir):
    """Every BANDS table of the gammapy-written Fermi-LAT dataset (float32 columns, legacy
    ``THETA`` axis, 5100-row PSF table) gives the axes gammapy reads."""
    with fits.open(crab_dir / "Fermi-LAT-3FHL_data_Fermi-LAT.fits") as hdulist:
        names = [hdu.name for hdu in hdulist if hdu.name.endswith("_BANDS")]
        assert len(names) >= 6
        for name in names:
            assert_axes_same(
                MapAxes.from_table_hdu(hdulist[name]), ref.maps.MapAxes.from_table_hdu(hdulist[name]), same
            )
    with fits.open(crab_dir / "Fermi-LAT-3FHL_iem.fits") as hdulist:
        ours = MapAxes.from_table_hdu(hdulist["PRIMARY_BANDS"])
        assert_axes_same(ours, ref.maps.MapAxes.from_table_hdu(hdulist["PRIMARY_BANDS"]), same)
        assert ours["energy_true"].unit == u.MeV


def test_other_table_formats_match_gammapy(ref, same):
    energy_axes = [ENERGY]
    for fmt in ("ogip", "ogip-sherpa", "fgst-ccube"):
        ours = MapAxes(energy_axes).to_table_hdu(format=fmt)
        theirs = ref.maps.MapAxes(ref.axes(energy_axes)).to_table_hdu(format=fmt)
        assert ours.name == theirs.name
        assert ours.header.tostring() == theirs.header.tostring()
        np.testing.assert_array_equal(ours.data, theirs.data)
    template = [ENERGY_TRUE.to_node_type("center")]
    ours = MapAxes(template).to_table_hdu(format="fgst-template")
    theirs = ref.maps.MapAxes(ref.axes(template)).to_table_hdu(format="fgst-template")
    assert ours.header.tostring() == theirs.header.tostring()
    ccube = ref.maps.MapAxes(ref.axes(energy_axes)).to_table_hdu(format="fgst-ccube")
    assert_axes_same(
        MapAxes.from_table_hdu(ccube, format="fgst-ccube"),
        ref.maps.MapAxes.from_table_hdu(ccube, format="fgst-ccube"),
        same,
    )
    # A Fermi ENERGIES table (as gtmodel writes it: one ``Energy`` column in MeV).
    energies = Table({"Energy": [100.0, 1000.0, 10000.0]})
    for fmt in ("fgst-template", "fgst-bexpcube"):
        assert_axes_same(
            MapAxes.from_table(energies, format=fmt), ref.maps.MapAxes.from_table(energies, format=fmt), same
        )
    dl3 = [ENERGY_TRUE, MapAxis.from_bounds(0, 2, 4, name="offset", unit="deg"), MIGRA]
    table = ref.maps.MapAxes(ref.axes(dl3)).to_table(format="gadf-dl3")
    assert MapAxes(dl3).to_table(format="gadf-dl3").colnames == table.colnames
    assert_axes_same(
        MapAxes.from_table(table, format="gadf-dl3"),
        ref.maps.MapAxes.from_table(table, format="gadf-dl3"),
        same,
    )
    arf = [ENERGY_TRUE]
    table = ref.axis(ENERGY_TRUE).to_table(format="ogip-arf")
    assert MapAxes(arf).to_table(format="ogip-arf").colnames == table.colnames
    assert_axes_same(
        MapAxes.from_table(table, format="ogip-arf"),
        ref.maps.MapAxes.from_table(table, format="ogip-arf"),
        same,
    )


def test_container_methods_match_gammapy(ref, same):
    axes = [ENERGY, RAD, ENERGY_TRUE]
    ours, theirs = MapAxes(axes, n_spatial_axes=2), ref.maps.MapAxes(ref.axes(axes), n_spatial_axes=2)
    assert ours.names == theirs.names and ours.shape == theirs.shape
    assert ours.reverse.names == theirs.reverse.names
    assert ours.primary_axis.name == theirs.primary_axis.name
    assert (ours.is_flat, ours.is_unidimensional) == (theirs.is_flat, theirs.is_unidimensional)
    assert ours.index_data("rad") == theirs.index_data("rad")
    assert [shape for shape, _ in ours.iter_with_reshape] == [shape for shape, _ in theirs.iter_with_reshape]
    same(ours.center_coord, theirs.center_coord)
    same(ours.bin_volume(), theirs.bin_volume())
    for mode, name in (("center", None), ("edges", "rad")):
        coords, ref_coords = (
            ours.get_coord(mode=mode, axis_name=name),
            theirs.get_coord(mode=mode, axis_name=name),
        )
        same(list(coords.values()), list(ref_coords.values()))
    coord = {"energy": [2, 20] * u.TeV, "rad": [0.1, 0.2] * u.deg, "energy_true": [1, 3] * u.TeV}
    same(ours.coord_to_pix(coord), theirs.coord_to_pix(coord))
    same(ours.coord_to_idx(coord), theirs.coord_to_idx(coord))
    same(ours.coord_to_idx(coord, clip=False), theirs.coord_to_idx(coord, clip=False))
    pix = (np.array([0.2, 3]), np.array([1.0, -1]), np.array([2.5, 1]))
    same(ours.pix_to_coord(pix), theirs.pix_to_coord(pix))
    same(ours.pix_to_idx(pix), theirs.pix_to_idx(pix))
    for op in (
        lambda a: a.squash("rad"),
        lambda a: a.drop("rad"),
        lambda a: a.pad("rad", 1),
        lambda a: a.upsample(2, "energy"),
        lambda a: a.downsample(2, "rad"),
        lambda a: a.rename_axes("energy", "energy_reco"),
        lambda a: a.rename_axes(["rad", "energy"], ["theta", "e"]),
        lambda a: a.slice_by_idx({"energy": slice(0, 2), "rad": 1}),
        lambda a: a[["rad", "energy"]],
        lambda a: a[1:],
        lambda a: a + MapAxes([MIGRA]),
    ):
        assert_axes_same(op(ours), op(theirs), same)
    assert ours == ours.copy() and ours != ours.squash("rad")
    assert ours.assert_names(["energy", "rad", "energy_true"]) is None
    assert ours.assert_names(["energy"], allow_extra=True) is None


def test_bad_axes_raise_named_errors():
    with pytest.raises(AxisError, match=r"unique.*'energy'"):
        MapAxes([ENERGY, ENERGY])
    axes = MapAxes([ENERGY, RAD])
    with pytest.raises(KeyError, match="'migra'"):
        axes["migra"]
    with pytest.raises(AxisError, match="'migra'"):
        axes.squash("migra")
    with pytest.raises(AxisError, match="expected \\['rad', 'energy'\\]"):
        axes.assert_names(["rad", "energy"])
    with pytest.raises(InvalidArgumentError, match="'votable'"):
        axes.to_table(format="votable")
    with pytest.raises(AxisError, match="RAD_MAX"):
        bad = Table({"CHANNEL": [0], "RAD_MIN": [0.0]}, meta={"AXCOLS1": "RAD_MIN,RAD_MAX"})
        MapAxes.from_table(bad)
