"""`RegionGeom` against gammapy 2.1: one sky region × axes, as used by spectra and 1-pixel IRFs."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from regions import (
    CircleAnnulusSkyRegion,
    CircleSkyRegion,
    EllipseSkyRegion,
    PointSkyRegion,
    PolygonSkyRegion,
    RectangleSkyRegion,
)

from mapds.errors import AxisError, GeometryError, GeometryMismatchError, MissingHDUError
from mapds.geom import MapAxis, RegionGeom

CRAB = SkyCoord(83.63, 22.01, unit="deg")
ENERGY = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 3)
REGIONS = {
    "circle": CircleSkyRegion(CRAB, 0.5 * u.deg),
    "rectangle": RectangleSkyRegion(CRAB, 1 * u.deg, 0.4 * u.deg, angle=30 * u.deg),
    "ellipse-galactic": EllipseSkyRegion(CRAB.galactic, 1 * u.deg, 0.4 * u.deg, angle=10 * u.deg),
    "point": PointSkyRegion(CRAB),
    "annulus": CircleAnnulusSkyRegion(CRAB, 0.2 * u.deg, 0.5 * u.deg),
    "compound": (
        CircleSkyRegion(CRAB, 0.3 * u.deg) | CircleSkyRegion(SkyCoord(84.3, 22.5, unit="deg"), 0.2 * u.deg)
    ),
    "list-of-three": [
        CircleSkyRegion(CRAB, 0.3 * u.deg),
        CircleSkyRegion(SkyCoord(84.3, 22.5, unit="deg"), 0.2 * u.deg),
        CircleSkyRegion(SkyCoord(83.3, 22.9, unit="deg"), 0.1 * u.deg),
    ],
    "ds9": "galactic;circle(184.55, -5.78, 0.5)",
}
CASES = [(r, a, b) for r in REGIONS for a in ("image", "energy") for b in ("0.1 deg", "0.02 deg")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{r}-{a}-{b}" for r, a, b in CASES])
def region_pair(request, ref):
    region_name, axes_name, binsz = request.param
    kwargs = dict(axes=[ENERGY] if axes_name == "energy" else [], binsz_wcs=binsz)
    region = REGIONS[region_name]
    return RegionGeom.create(region, **kwargs), ref.region_create(region, **kwargs)


PROPERTIES = [
    "data_shape",
    "data_shape_axes",
    "width",
    "center_skydir",
    "center_pix",
    "center_coord",
    "frame",
    "binsz_wcs",
    "npix",
    "ndim",
    "axes_names",
    "is_image",
    "is_flat",
    "is_allsky",
    "is_regular",
    "projection",
]


def test_properties_match_gammapy(region_pair, same):
    ours, theirs = region_pair
    for attr in PROPERTIES:
        same(getattr(ours, attr), getattr(theirs, attr), path=attr)


def test_wcs_solid_angle_and_bin_volume_match_gammapy(region_pair, same):
    ours, theirs = region_pair
    assert ours.wcs.to_header_string() == theirs.wcs.to_header_string()
    assert bool(ours.is_all_point_sky_regions) == bool(theirs.is_all_point_sky_regions)
    same(ours.solid_angle(), theirs.solid_angle())
    same(ours.bin_volume(), theirs.bin_volume())


SKY = SkyCoord([83.63, 83.9, 84.3, 90.0], [22.01, 22.1, 22.5, 22.0], unit="deg")
ENERGIES = [1.5, 3, 7, 20] * u.TeV


def test_coordinates_match_gammapy(region_pair, same):
    ours, theirs = region_pair
    same(ours.contains(SKY), theirs.contains(SKY))
    same(ours.contains(SKY.galactic), theirs.contains(SKY.galactic))
    coords = (SKY, ENERGIES) if ours.axes else (SKY,)
    same(ours.coord_to_pix(coords), theirs.coord_to_pix(coords))
    same(ours.coord_to_idx(coords), theirs.coord_to_idx(coords))
    if ours.axes:
        # Without a position the region centre is implied, as in gammapy.
        same(ours.coord_to_pix((ENERGIES,)), theirs.coord_to_pix((ENERGIES,)))
        same(ours.coord_to_idx({"energy": ENERGIES}), theirs.coord_to_idx({"energy": ENERGIES}))
    pix = (np.array([0.2, 3, -0.4, 0.5]), np.array([0, -1, 0.1, 0.0]))
    pix += (np.array([1.6, 4, 0, -1]),) if ours.axes else ()
    same(ours.pix_to_coord(pix), theirs.pix_to_coord(pix))
    same(ours.pix_to_idx(pix), theirs.pix_to_idx(pix))
    same(ours.pix_to_idx(pix, clip=True), theirs.pix_to_idx(pix, clip=True))
    same(ours.get_idx(), theirs.get_idx())
    same(ours.separation(SKY), theirs.separation(SKY))
    kwargs_list = [{}, {"frame": "galactic"}, {"frame": "icrs"}, {"sparse": True}]
    kwargs_list += [{"mode": "edges", "axis_name": "energy"}] if ours.axes else []
    for kwargs in kwargs_list:
        coords, ref_coords = ours.get_coord(**kwargs), theirs.get_coord(**kwargs)
        assert coords.axis_names == ref_coords.axis_names and coords.frame == ref_coords.frame
        same(list(coords), list(ref_coords), path=str(kwargs))


@pytest.mark.parametrize("width_min", [None, 3 * u.deg, (0.1, 2) * u.deg, 0.05])
def test_to_wcs_geom_matches_gammapy(region_pair, width_min):
    ours, theirs = region_pair
    geom, ref_geom = ours.to_wcs_geom(width_min=width_min), theirs.to_wcs_geom(width_min=width_min)
    assert geom.to_header().tostring() == ref_geom.to_header().tostring()
    assert geom.data_shape == ref_geom.data_shape


def test_wcs_coord_and_weights_match_gammapy(region_pair, same):
    ours, theirs = region_pair
    coords, weights = ours.get_wcs_coord_and_weights()
    if isinstance(ours.region, PointSkyRegion) and ours.axes:
        # gammapy 2.1 fails to index the 1×1 image of a point region with axes: compare with
        # its answer for the image, and the axis coordinates with the axis centres.
        with pytest.raises(TypeError, match="scalar"):
            theirs.get_wcs_coord_and_weights()
        ref_coords, ref_weights = theirs.to_image().get_wcs_coord_and_weights()
        same(weights, ref_weights)
        assert coords.axis_names == [*ref_coords.axis_names, *theirs.axes.names]
        same(list(coords)[:2], list(ref_coords))
        for axis in theirs.axes:
            same(coords[axis.name].reshape(-1), axis.center.value)
        return
    ref_coords, ref_weights = theirs.get_wcs_coord_and_weights()
    same(weights, ref_weights)
    assert coords.axis_names == ref_coords.axis_names
    same(list(coords), list(ref_coords))


def _axis_of(geom, **kwargs):
    if isinstance(geom, RegionGeom):
        return MapAxis.from_bounds(**kwargs)
    import gammapy.maps

    return gammapy.maps.MapAxis.from_bounds(**kwargs)


DERIVED = {
    "to_image": lambda g: g.to_image(),
    "to_cube": lambda g: g.to_cube([_axis_of(g, lo_bnd=0.2, hi_bnd=5, nbin=3, name="migra")]),
    "to_binsz_wcs": lambda g: g.to_binsz_wcs("0.05 deg"),
    "to_binsz": lambda g: g.to_binsz(0.3),
    "squash": lambda g: g.squash("energy") if g.axes else g,
    "upsample": lambda g: g.upsample(2, "energy") if g.axes else g,
    "downsample": lambda g: g.downsample(3, "energy") if g.axes else g,
    "pad-axis": lambda g: g.pad(1, axis_name="energy") if g.axes else g,
    "copy": lambda g: g.copy(),
}


@pytest.mark.parametrize("op", DERIVED.values(), ids=DERIVED.keys())
def test_derived_geometries_match_gammapy(region_pair, same, op):
    ours, theirs = op(region_pair[0]), op(region_pair[1])
    assert ours.data_shape == theirs.data_shape
    same(ours.center_skydir, theirs.center_skydir)
    same(ours.width, theirs.width)
    assert ours.wcs.to_header_string() == theirs.wcs.to_header_string()
    for ax, ax_ref in zip(ours.axes, theirs.axes, strict=True):
        same(ax.edges, ax_ref.edges)


def test_equality_matches_gammapy(region_pair):
    ours, theirs = region_pair
    for op in (lambda g: g.copy(), lambda g: g.to_image(), lambda g: g.to_binsz_wcs("0.3 deg")):
        assert (ours == op(ours)) == (theirs == op(theirs))
        assert ours.is_allclose(op(ours)) == bool(theirs.is_allclose(op(theirs)))
    assert hash(ours) == hash(ours.copy())


@pytest.mark.parametrize("fmt", ["gadf", "ogip"])
def test_hdulist_identical_and_read_both_ways(region_pair, ref, same, tmp_path, fmt):
    ours, theirs = region_pair
    if fmt == "ogip" and not ours.axes:
        # OGIP tables list energy channels: without an energy axis both libraries refuse.
        with pytest.raises(KeyError, match="energy"):
            theirs.to_hdulist(format=fmt)
        with pytest.raises(KeyError, match="energy"):
            ours.to_hdulist(format=fmt)
        return
    names = {"hdu_bands": "X_BANDS", "hdu_region": "X_REGION"} if fmt == "gadf" else {}
    hdulist, ref_hdulist = ours.to_hdulist(format=fmt, **names), theirs.to_hdulist(format=fmt, **names)
    assert [hdu.name for hdu in hdulist] == [hdu.name for hdu in ref_hdulist]
    for hdu, ref_hdu in zip(hdulist[1:], ref_hdulist[1:], strict=True):
        assert hdu.header.tostring() == ref_hdu.header.tostring()
        assert hdu.columns.names == ref_hdu.columns.names
        for name in ref_hdu.columns.names:
            np.testing.assert_array_equal(hdu.data[name], ref_hdu.data[name])
    path = tmp_path / "region.fits"
    ref_hdulist.writeto(path)
    with fits.open(path) as written:
        hdu = "X" if fmt == "gadf" else None
        back = RegionGeom.from_hdulist(written, format=fmt, hdu=hdu)
        ref_back = ref.maps.RegionGeom.from_hdulist(written, format=fmt, hdu=hdu)
    same(back.center_skydir, ref_back.center_skydir)
    same(back.width, ref_back.width)
    assert back.wcs.to_header_string() == ref_back.wcs.to_header_string()
    assert back.axes.names == ref_back.axes.names
    for ax, ax_ref in zip(back.axes, ref_back.axes, strict=True):
        same(ax.edges, ax_ref.edges)
    gammapy_reads_ours = ref.maps.RegionGeom.from_hdulist(hdulist, format=fmt, hdu=hdu)
    same(gammapy_reads_ours.center_skydir, ref_back.center_skydir)


def test_spatial_attrs_round_trip(region_pair, same):
    ours, _ = region_pair
    back = RegionGeom.from_spatial_attrs(ours.to_spatial_attrs(), ours.axes)
    same(back.center_skydir, ours.center_skydir)
    same(back.width, ours.width)
    assert back.wcs.to_header_string() == ours.wcs.to_header_string()
    assert back == ours


def test_regionless_geometry_matches_gammapy(ref, same):
    ours, theirs = RegionGeom(None, axes=[ENERGY]), ref.maps.RegionGeom(None, axes=ref.axes([ENERGY]))
    assert (ours.frame, ours.wcs, ours.data_shape) == (theirs.frame, theirs.wcs, theirs.data_shape)
    same(ours.center_skydir, theirs.center_skydir)
    same(ours.coord_to_pix({"energy": ENERGIES}), theirs.coord_to_pix({"energy": ENERGIES}))
    same(list(ours.get_coord()), list(theirs.get_coord()))
    for method in (ours.solid_angle, lambda: ours.width, lambda: ours.contains(SKY), ours.to_wcs_geom):
        with pytest.raises(GeometryError, match="needs a region"):
            method()
    assert RegionGeom.create(None) == RegionGeom.create([])


def test_union_extends_the_region_in_place(ref, same):
    a, b = REGIONS["circle"], CircleSkyRegion(SkyCoord(84.5, 22.9, unit="deg"), 0.2 * u.deg)
    ours = RegionGeom.create(a)
    assert ours.union(RegionGeom.create(b)) is None
    assert ours.contains(SkyCoord([a.center, b.center])).all()
    # gammapy keeps the centre and width of the first region (cached); mapds measures the union's
    # bounding box on the same default WCS as before, as gammapy does for a new geometry.
    bbox_wcs = ref.maps.WcsGeom.create(binsz=0.1, skydir=a.center, proj="TAN", frame="icrs").wcs
    theirs = ref.maps.RegionGeom(a | b, wcs=bbox_wcs)
    same(ours.center_skydir, theirs.center_skydir)
    same(ours.width, theirs.width)
    with pytest.raises(GeometryMismatchError, match="same axes"):
        ours.union(RegionGeom.create(b, axes=[ENERGY]))


def test_bad_input_raises_named_errors():
    geom = RegionGeom.create(REGIONS["circle"], axes=[ENERGY])
    with pytest.raises(GeometryError, match="PolygonSkyRegion has no centre"):
        RegionGeom.create(PolygonSkyRegion(SkyCoord([83, 84, 84.2], [21.5, 21.7, 22.6], unit="deg")))
    with pytest.raises(NotImplementedError, match="Spatial padding"):
        geom.pad(1)
    with pytest.raises(NotImplementedError, match="Cropping"):
        geom.crop(1)
    with pytest.raises(AxisError, match="axis_name"):
        geom.get_coord(mode="edges")
    with pytest.raises(GeometryError, match="needs the map HDU name"):
        RegionGeom.from_hdulist(geom.to_hdulist(format="gadf"), format="gadf")
    with pytest.raises(MissingHDUError, match="'EBOUNDS'"):
        RegionGeom.from_hdulist(fits.HDUList([fits.PrimaryHDU()]), format="ogip")
    with pytest.raises(GeometryError, match="'fits-x'"):
        RegionGeom.from_hdulist(fits.HDUList([fits.PrimaryHDU()]), format="fits-x")
