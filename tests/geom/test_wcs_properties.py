"""Round-trip properties of `WcsGeom` (hypothesis) on small random geometries."""

from __future__ import annotations

import numpy as np
from astropy.coordinates import SkyCoord
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mapds.geom import MapAxis, WcsGeom

SETTINGS = settings(max_examples=30, deadline=None)


@st.composite
def wcs_geoms(draw, with_axes=True):
    """Small geometries: any frame, CAR/TAN/SIN/AIT, 0.02-1° pixels, 3-40 pixels a side."""
    proj = draw(st.sampled_from(["CAR", "TAN", "SIN", "AIT"]))
    frame = draw(st.sampled_from(["icrs", "galactic"]))
    binsz = draw(st.floats(min_value=0.02, max_value=1.0))
    npix = (draw(st.integers(3, 40)), draw(st.integers(3, 40)))
    lon = draw(st.floats(min_value=0, max_value=359.9))
    lat = draw(st.floats(min_value=-60, max_value=60))
    axes = []
    if with_axes and draw(st.booleans()):
        axes = [MapAxis.from_energy_bounds("1 TeV", "10 TeV", draw(st.integers(1, 4)))]
    return WcsGeom.create(skydir=(lon, lat), binsz=binsz, npix=npix, frame=frame, proj=proj, axes=axes)


@SETTINGS
@given(geom=wcs_geoms(), fx=st.floats(0, 1), fy=st.floats(0, 1))
def test_coord_to_pix_to_coord_round_trip(geom, fx, fy):
    ny, nx = geom.data_shape[-2:]
    pix = (np.array([fx * (nx - 1)]), np.array([fy * (ny - 1)]))
    coords = geom.to_image().pix_to_coord(pix)
    np.testing.assert_allclose(np.ravel(geom.to_image().coord_to_pix(coords)), np.ravel(pix), atol=1e-6)
    skycoord = SkyCoord(coords[0], coords[1], frame=geom.frame)
    back = geom.to_image().pix_to_coord(geom.to_image().coord_to_pix(skycoord))
    assert skycoord.separation(SkyCoord(back[0], back[1], frame=geom.frame)).deg[0] < 1e-9


@SETTINGS
@given(geom=wcs_geoms())
def test_header_to_geom_to_header(geom):
    back = WcsGeom.from_header(geom.to_header(), geom.to_bands_hdu())
    assert back == geom
    assert back.to_header().tostring() == geom.to_header().tostring()
    assert WcsGeom.from_spatial_attrs(geom.to_spatial_attrs(), geom.axes) == geom


@SETTINGS
@given(geom=wcs_geoms(with_axes=False), pad=st.integers(0, 5), pad_y=st.integers(0, 5))
def test_pad_and_crop_are_inverse(geom, pad, pad_y):
    for width in (pad, (pad, pad_y)):
        padded = geom.pad(width)
        assert padded.data_shape[-1] == geom.data_shape[-1] + 2 * np.ravel(width)[0]
        assert padded.crop(width).to_header().tostring() == geom.to_header().tostring()
        # The inner pixels of the padded grid are the original pixels.
        slices = geom.cutout_slices(padded)
        assert slices["parent-slices"] == tuple(
            slice(p, p + n) for p, n in zip(np.broadcast_to(width, 2)[::-1], geom.data_shape, strict=True)
        )


@SETTINGS
@given(geom=wcs_geoms(), factor=st.integers(2, 4))
def test_upsample_and_downsample_are_inverse(geom, factor):
    back = geom.upsample(factor).downsample(factor)
    assert back == geom
    np.testing.assert_allclose(back.wcs.wcs.crpix, geom.wcs.wcs.crpix, rtol=1e-12)
    # Fine pixel i sits at coarse pixel (i + 0.5) / factor - 0.5: the fine pixels tile the coarse ones.
    fine_pix = np.arange(3 * factor, dtype=float)
    lon, lat = geom.to_image().upsample(factor).pix_to_coord((fine_pix, fine_pix))
    valid = np.isfinite(lon)
    assume(valid.any())
    x, y = geom.to_image().coord_to_pix(SkyCoord(lon[valid], lat[valid], frame=geom.frame))
    expected = (fine_pix[valid] + 0.5) / factor - 0.5
    np.testing.assert_allclose(x, expected, atol=1e-6)
    np.testing.assert_allclose(y, expected, atol=1e-6)


@SETTINGS
@given(
    geom=wcs_geoms(),
    fx=st.floats(0.1, 0.9),
    fy=st.floats(0.1, 0.9),
    width=st.floats(0.05, 3.0),
    odd=st.booleans(),
)
def test_cutout_lies_inside_its_parent(geom, fx, fy, width, odd):
    ny, nx = geom.data_shape[-2:]
    position = SkyCoord.from_pixel(fx * (nx - 1), fy * (ny - 1), geom.wcs)
    assume(np.isfinite(position.data.lon.deg))
    cutout = geom.cutout(position, width * geom.pixel_scales.max() * 5, odd_npix=odd)
    assert cutout.axes == geom.axes
    assert cutout.is_aligned(geom)
    slices = cutout.cutout_slices(geom)
    parent_y, parent_x = slices["parent-slices"]
    cut_y, cut_x = slices["cutout-slices"]
    # trim mode: the whole cutout is inside the parent, one to one.
    assert (cut_y.stop - cut_y.start, cut_x.stop - cut_x.start) == cutout.data_shape[-2:]
    assert (parent_y.stop - parent_y.start, parent_x.stop - parent_x.start) == cutout.data_shape[-2:]
    assert 0 <= parent_y.start and parent_y.stop <= ny and 0 <= parent_x.start and parent_x.stop <= nx
    # ...and its pixels are the parent's pixels at those slices.
    parent_coords = geom.to_image().get_coord()
    cut_coords = cutout.to_image().get_coord()
    np.testing.assert_allclose(cut_coords.lat.value, parent_coords.lat.value[parent_y, parent_x], atol=1e-8)
    dlon = (cut_coords.lon.value - parent_coords.lon.value[parent_y, parent_x] + 180) % 360 - 180
    np.testing.assert_allclose(dlon * np.cos(np.deg2rad(cut_coords.lat.value)), 0, atol=1e-8)
