"""`WcsGeom` against gammapy 2.1 on identical inputs: frames, projections, all-sky, axes."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits

from mapds.errors import GeometryError, GeometryMismatchError, InvalidArgumentError, MissingHDUError
from mapds.geom import MapAxis, WcsGeom

ENERGY = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2)
RAD = MapAxis.from_bounds(0, 0.5, 3, name="rad", unit="deg")
ENERGY_TRUE = MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", 4, name="energy_true")

GEOMS = {
    "car-icrs-crab": dict(skydir=(83.6, 22.0), binsz=0.1, width=(2, 1.5), frame="icrs", proj="CAR"),
    "tan-galactic-npix": dict(skydir=(0, 0), binsz=0.2, npix=(10, 7), frame="galactic", proj="TAN"),
    "ait-icrs": dict(skydir=(266.4, -28.9), binsz=0.5, width=4, frame="icrs", proj="AIT"),
    "ait-galactic-allsky": dict(binsz=10, frame="galactic", proj="AIT"),
    "car-icrs-allsky": dict(binsz=10, frame="icrs", proj="CAR"),
    "tan-pole-refpix": dict(
        skydir=(10, 80), binsz=0.3, npix=(11, 9), frame="galactic", proj="TAN", refpix=(3.0, 4.5)
    ),
    "sin-rectangular-pixels": dict(skydir=(10, 30), binsz=(0.3, 0.2), npix=(8, 5), frame="icrs", proj="SIN"),
    "skycoord-transformed": dict(
        skydir=SkyCoord(83.6, 22.0, unit="deg"), binsz="0.05 deg", width="1 deg", frame="galactic", proj="CAR"
    ),
}
AXES = {"image": [], "energy": [ENERGY], "rad-energy_true": [RAD, ENERGY_TRUE]}


@pytest.fixture(
    scope="module",
    params=[(g, a) for g in GEOMS for a in AXES],
    ids=[f"{g}-{a}" for g in GEOMS for a in AXES],
)
def geom_pair(request, ref):
    geom_name, axes_name = request.param
    kwargs = dict(GEOMS[geom_name], axes=AXES[axes_name])
    return WcsGeom.create(**kwargs), ref.wcs_create(**kwargs)


def assert_geoms_same(ours, theirs, same):
    """Same header cards, data shape, centre and axes."""
    assert ours.to_header().tostring() == theirs.to_header().tostring()
    assert ours.data_shape == theirs.data_shape
    same(ours.center_skydir, theirs.center_skydir)
    assert ours.axes.names == theirs.axes.names
    for ax, ax_ref in zip(ours.axes, theirs.axes, strict=True):
        same(ax.edges, ax_ref.edges)


def test_create_gives_gammapy_header_cards(geom_pair):
    ours, theirs = geom_pair
    assert ours.to_header().tostring() == theirs.to_header().tostring()
    assert ours.wcs.to_header_string() == theirs.wcs.to_header_string()


PROPERTIES = [
    "data_shape",
    "data_shape_axes",
    "data_shape_image",
    "npix",
    "width",
    "pixel_scales",
    "pixel_area",
    "center_pix",
    "center_skydir",
    "center_coord",
    "footprint",
    "is_allsky",
    "is_regular",
    "is_image",
    "is_flat",
    "frame",
    "projection",
    "ndim",
    "axes_names",
    "has_energy_axis",
    "shape_axes",
]


def test_properties_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    for attr in PROPERTIES:
        same(getattr(ours, attr), getattr(theirs, attr), path=attr)


def test_solid_angle_and_bin_volume_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    same(ours.solid_angle(), theirs.solid_angle())
    same(ours.bin_volume(), theirs.bin_volume())
    same(ours.to_image().solid_angle(), theirs.to_image().solid_angle())


def test_allsky_solid_angle_sums_to_the_sphere(ref):
    """A fine CAR all-sky grid covers 4π sr (gammapy's planar-triangle pixels, to 1e-4)."""
    geom = WcsGeom.create(binsz=1.0, frame="galactic", proj="CAR")
    np.testing.assert_allclose(geom.solid_angle().sum().to_value("sr"), 4 * np.pi, rtol=1e-4)


def coord_kwargs(axes):
    cases = [{}, {"mode": "edges"}, {"frame": "galactic"}, {"frame": "icrs"}, {"sparse": True}]
    if axes:
        cases += [
            {"mode": "edges", "axis_name": axes[0].name},
            {"idx": (0,) * len(axes)},
            {"sparse": True, "mode": "edges"},
        ]
    return cases


def test_get_coord_matches_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    for kwargs in coord_kwargs(list(ours.axes)):
        coords, ref_coords = ours.get_coord(**kwargs), theirs.get_coord(**kwargs)
        assert coords.axis_names == ref_coords.axis_names
        assert coords.frame == ref_coords.frame
        same(list(coords), list(ref_coords), path=str(kwargs))


def test_pixel_grids_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    same(ours.get_pix(), theirs.get_pix())
    same(ours.get_pix(mode="edges"), theirs.get_pix(mode="edges"))
    same(ours.get_idx(), theirs.get_idx())
    same(ours.get_idx(flat=True), theirs.get_idx(flat=True))
    if ours.axes:
        same(ours.get_idx(idx=(1,) * len(ours.axes)), theirs.get_idx(idx=(1,) * len(ours.axes)))


SKY = SkyCoord([83.6, 84.0, 0.0, 266.4, 10.0, 200.0], [22.0, 22.3, 0.0, -28.9, 80.0, -89.0], unit="deg")
AXIS_COORDS = {
    "energy": [1.5, 3, 7, 20, 0.5, 9.99] * u.TeV,
    "energy_true": [0.6, 3, 7, 19, 0.1, 30] * u.TeV,
    "rad": [0.1, 0.2, 0.3, 0.6, 0.0, 0.49] * u.deg,
}


def test_coordinate_transforms_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    extra = [AXIS_COORDS[name] for name in ours.axes.names]
    for coords in (
        (SKY, *extra),
        {"skycoord": SKY, **{name: AXIS_COORDS[name] for name in ours.axes.names}},
        {"skycoord": SKY.galactic, **{name: AXIS_COORDS[name] for name in ours.axes.names}},
        (SKY.icrs.ra.deg, SKY.icrs.dec.deg, *extra),
    ):
        same(ours.coord_to_pix(coords), theirs.coord_to_pix(coords))
        same(ours.coord_to_idx(coords), theirs.coord_to_idx(coords))
        same(ours.coord_to_idx(coords, clip=True), theirs.coord_to_idx(coords, clip=True))
        same(ours.contains(coords), theirs.contains(coords))
    pix = (np.array([0.2, 3.7, -1, 5.5, -0.5, 0.49]), np.array([0.1, 2.2, 1, 4.49, 0.0, -0.51]))
    pix += tuple(np.array([0, 1, 1.4, 3, -0.6, 0.5]) for _ in ours.axes)
    same(ours.pix_to_coord(pix), theirs.pix_to_coord(pix))
    same(ours.pix_to_idx(pix), theirs.pix_to_idx(pix))
    same(ours.pix_to_idx(pix, clip=True), theirs.pix_to_idx(pix, clip=True))
    same(ours.contains_pix(pix), theirs.contains_pix(pix))
    same(ours.separation(SkyCoord(1, 2, unit="deg")), theirs.separation(SkyCoord(1, 2, unit="deg")))


def _downsample(geom):
    # Upsampling by 4 makes every pixel count divisible by 2.
    return geom.upsample(4).downsample(2)


DERIVED = {
    "to_image": lambda g: g.to_image(),
    "pad": lambda g: g.pad(1, axis_name=None),
    "pad-pair": lambda g: g.pad((2, 3), axis_name=None),
    "crop": lambda g: g.crop(1),
    "crop-pair": lambda g: g.crop((1, 2)),
    "upsample": lambda g: g.upsample(3),
    "downsample": _downsample,
    "to_binsz": lambda g: g.to_binsz(0.05),
    "to_odd_npix": lambda g: g.to_odd_npix(),
    "to_odd_npix-radius": lambda g: g.to_odd_npix(max_radius=0.33 * u.deg),
    "to_even_npix": lambda g: g.to_even_npix(),
    "cutout": lambda g: g.cutout(g.center_skydir, 0.7 * u.deg),
    "cutout-pair": lambda g: g.cutout(g.center_skydir, (1.1, 0.5) * u.deg),
    "cutout-partial": lambda g: g.cutout(_inner_position(g), (1.1, 0.5) * u.deg, mode="partial"),
    "cutout-odd": lambda g: g.cutout(g.center_skydir, 0.7 * u.deg, odd_npix=True),
    "cutout-min-npix": lambda g: g.cutout(g.center_skydir, 0.01 * u.deg, min_npix=3),
    "to_cube": lambda g: g.to_cube([_migra(g)]),
    "squash": lambda g: g.squash(g.axes.names[0]) if g.axes else g,
    "drop": lambda g: g.drop(g.axes.names[0]) if g.axes else g,
    "upsample-axis": lambda g: g.upsample(2, axis_name=g.axes.names[-1]) if g.axes else g,
    "downsample-axis": lambda g: (
        g.downsample(2, axis_name="energy_true") if "energy_true" in g.axes.names else g
    ),
    "pad-axis": lambda g: g.pad(1, axis_name=g.axes.names[0]) if g.axes else g,
    "slice_by_idx": lambda g: g.slice_by_idx({g.axes.names[0]: slice(1, 2)}) if g.axes else g,
    "slice_by_idx-int": lambda g: g.slice_by_idx({g.axes.names[0]: 1}) if g.axes else g,
    "as_energy_true": lambda g: g.as_energy_true if "energy" in g.axes.names else g,
    "rename_axes": lambda g: g.rename_axes(g.axes.names[0], "other") if g.axes else g,
    "copy": lambda g: g.copy(),
}


def _inner_position(geom):
    """A sky position inside the projection, away from the centre, near the lower-left corner."""
    return SkyCoord.from_pixel(geom.data_shape[-1] * 0.3, geom.data_shape[-2] * 0.3, geom.wcs)


def _migra(geom):
    """A migra axis from the library the geometry belongs to."""
    if isinstance(geom, WcsGeom):
        return MapAxis.from_bounds(0.2, 5, 3, name="migra")
    import gammapy.maps

    return gammapy.maps.MapAxis.from_bounds(0.2, 5, 3, name="migra")


@pytest.mark.parametrize("op", DERIVED.values(), ids=DERIVED.keys())
def test_derived_geometries_match_gammapy(geom_pair, same, op):
    ours, theirs = geom_pair
    assert_geoms_same(op(ours), op(theirs), same)


def test_cutout_slices_and_alignment_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    for width, mode in ((0.7 * u.deg, "trim"), ((1.5, 0.4) * u.deg, "partial")):
        cut, cut_ref = (
            ours.cutout(ours.center_skydir, width, mode=mode),
            theirs.cutout(theirs.center_skydir, width, mode=mode),
        )
        assert cut.cutout_slices(ours) == cut_ref.cutout_slices(theirs)
        assert cut.cutout_slices(ours, mode="trim") == cut_ref.cutout_slices(theirs, mode="trim")
        assert cut.is_aligned(ours) == cut_ref.is_aligned(theirs)
    assert ours.upsample(2).is_aligned(ours) == theirs.upsample(2).is_aligned(theirs)
    assert ours.upsample(2).is_allclose(ours) == theirs.upsample(2).is_allclose(theirs)
    assert ours == ours.copy() and hash(ours) == hash(ours.copy())
    assert (ours == ours.pad(1)) == (theirs == theirs.pad(1, axis_name=None))


def test_header_round_trips_both_ways(geom_pair, ref, same):
    ours, theirs = geom_pair
    # mapds reads gammapy's header + BANDS table, gammapy reads mapds's.
    assert_geoms_same(WcsGeom.from_header(theirs.to_header(), theirs.to_bands_hdu()), theirs, same)
    back = ref.maps.WcsGeom.from_header(ours.to_header(), ours.to_bands_hdu())
    assert_geoms_same(ours, back, same)
    assert (
        ours.to_bands_hdu(hdu_bands="X_BANDS").header.tostring()
        == theirs.to_bands_hdu(hdu_bands="X_BANDS").header.tostring()
    )


def test_from_aligned_and_footprint_region_match_gammapy(geom_pair, same, ref):
    ours, theirs = geom_pair
    position = _inner_position(ours)
    aligned_ref = ref.maps.WcsGeom.from_aligned(theirs, position, 0.8 * u.deg)
    if 0 in aligned_ref.data_shape[-2:]:
        # A width under half a pixel: gammapy builds an empty geometry, mapds refuses it.
        with pytest.raises(GeometryError, match="less than half a pixel"):
            WcsGeom.from_aligned(ours, position, 0.8 * u.deg)
    else:
        assert_geoms_same(WcsGeom.from_aligned(ours, position, 0.8 * u.deg), aligned_ref, same)
    region, region_ref = ours.footprint_rectangle_sky_region, theirs.footprint_rectangle_sky_region
    same(region.center, region_ref.center)
    same(u.Quantity([region.width, region.height]), u.Quantity([region_ref.width, region_ref.height]))


def test_binary_structure_and_boundary_mask_match_gammapy(geom_pair, same):
    ours, theirs = geom_pair
    step = ours.pixel_scales.max()
    same(ours.binary_structure(3 * step, kernel="disk"), theirs.binary_structure(3 * step, kernel="disk"))
    if ours.pixel_scales[0] != ours.pixel_scales[1]:
        # gammapy builds rectangular boxes with shape (n_lon, n_lat), i.e. transposed in (y, x);
        # mapds orients them along the image axes.
        box = ours.binary_structure(2 * step, kernel="box")
        assert box.shape[-2:] == theirs.binary_structure(2 * step, kernel="box").shape[-2:][::-1]
        return
    for width in (2 * step, 5 * step):
        same(ours.binary_structure(width, kernel="box"), theirs.binary_structure(width, kernel="box"))
    for width in (1.6 * step, 2 * step):
        same(ours.boundary_mask(width).data.compute(), theirs.boundary_mask(width).data)


def test_real_gammapy_files_give_gammapy_geometries(ref, same, crab_dir):
    """Every image HDU of the gammapy-written Fermi-LAT files (incl. a 2×1-pixel all-sky PSF map
    with a legacy THETA axis, and a cutout IEM cube) reads to gammapy's geometry."""
    for name in ("Fermi-LAT-3FHL_data_Fermi-LAT.fits", "Fermi-LAT-3FHL_iem.fits"):
        with fits.open(crab_dir / name) as hdulist:
            for hdu in hdulist:
                if hdu.header.get("NAXIS", 0) < 2 or "CTYPE1" not in hdu.header:
                    continue
                bands = hdulist[hdu.header["BANDSHDU"]]
                ours = WcsGeom.from_header(hdu.header, bands)
                theirs = ref.maps.WcsGeom.from_header(hdu.header, bands)
                assert_geoms_same(ours, theirs, same)
                # The all-sky PSF grid has 180°-wide pixels whose solid angle is rounding noise.
                same(ours.solid_angle(), theirs.solid_angle(), atol=1e-20)
                assert_geoms_same(WcsGeom.from_hdulist(hdulist, hdu=hdu.name), theirs, same)
            first = WcsGeom.from_hdulist(hdulist)
            assert first.data_shape == ref.maps.WcsGeom.from_hdulist(hdulist).data_shape


def test_bad_input_raises_named_errors():
    geom = WcsGeom.create(skydir=(0, 0), binsz=0.1, npix=(5, 4))
    with pytest.raises(GeometryError, match="'nowhere'"):
        WcsGeom.create(frame="nowhere")
    with pytest.raises(GeometryError, match="skydir"):
        WcsGeom.create(skydir="crab")
    with pytest.raises(GeometryMismatchError, match=r"\(5, 4\) not divisible by factor 2"):
        geom.downsample(2)
    with pytest.raises(GeometryError, match="does not fit"):
        geom.cutout(SkyCoord(180, 0, unit="deg"), 0.2 * u.deg)
    with pytest.raises(GeometryError, match="does not fit"):
        geom.cutout(geom.center_skydir, 10 * u.deg, mode="strict")
    with pytest.raises(InvalidArgumentError, match="'fancy'"):
        geom.cutout(geom.center_skydir, 0.2 * u.deg, mode="fancy")
    with pytest.raises(GeometryError, match="leaves no pixel"):
        geom.crop(2)
    with pytest.raises(InvalidArgumentError, match="'star'"):
        geom.binary_structure(0.3 * u.deg, kernel="star")
    hdulist = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((2, 4, 5)), header=geom.to_header())])
    hdulist[1].header["BANDSHDU"] = "NOPE_BANDS"
    with pytest.raises(MissingHDUError, match="'NOPE_BANDS'"):
        WcsGeom.from_hdulist(hdulist)
    with pytest.raises(MissingHDUError, match="No image HDU"):
        WcsGeom.from_hdulist(fits.HDUList([fits.PrimaryHDU()]))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(axis_name="energy", edge_min=2 * u.TeV, edge_max=40 * u.TeV),
        dict(axis_name="energy", edge_min=2 * u.TeV, edge_max=40 * u.TeV, round_to_edge=True),
        dict(axis_name="rad", edge_min=0.2 * u.deg),
        dict(axis_name="rad", edge_max=0.3 * u.deg, round_to_edge=True),
    ],
)
def test_axis_masks_match_gammapy(ref, kwargs):
    axes = [MapAxis.from_energy_bounds("1 TeV", "100 TeV", 4), RAD]
    ours, theirs = WcsGeom.create(npix=(3, 2), axes=axes), ref.wcs_create(npix=(3, 2), axes=axes)
    mask, expected = ours.create_mask(**kwargs), theirs.create_mask(**kwargs)
    np.testing.assert_array_equal(np.asarray(mask.data), expected.data)
    assert mask.geom == ours
    if kwargs["axis_name"] == "energy":
        energy_kwargs = {k.replace("edge_", "energy_"): v for k, v in kwargs.items() if k != "axis_name"}
        np.testing.assert_array_equal(np.asarray(ours.energy_mask(**energy_kwargs).data), expected.data)
