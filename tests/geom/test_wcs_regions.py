"""`WcsGeom.region_mask` / `region_weights` against gammapy 2.1, computed chunk by chunk."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import (
    CircleAnnulusSkyRegion,
    CirclePixelRegion,
    CircleSkyRegion,
    EllipseSkyRegion,
    PixCoord,
    PointSkyRegion,
    PolygonSkyRegion,
    RectangleSkyRegion,
)

from mapds.errors import GeometryError
from mapds.geom import MapAxis, WcsGeom

CRAB = SkyCoord(83.63, 22.01, unit="deg")
REGIONS = {
    "circle": CircleSkyRegion(CRAB, 0.5 * u.deg),
    "circle-galactic": CircleSkyRegion(CRAB.galactic, 0.5 * u.deg),
    "rectangle": RectangleSkyRegion(CRAB, 1 * u.deg, 0.4 * u.deg, angle=30 * u.deg),
    "ellipse": EllipseSkyRegion(CRAB, 1 * u.deg, 0.4 * u.deg, angle=10 * u.deg),
    "polygon": PolygonSkyRegion(SkyCoord([83, 84, 84.2], [21.5, 21.7, 22.6], unit="deg")),
    "annulus": CircleAnnulusSkyRegion(CRAB, 0.2 * u.deg, 0.5 * u.deg),
    "point-off-grid": PointSkyRegion(SkyCoord(83.73, 22.11, unit="deg")),
    "point-on-centre": PointSkyRegion(CRAB),
    "skycoord": SkyCoord(84.2, 22.4, unit="deg"),
    "compound": CircleSkyRegion(CRAB, 0.3 * u.deg)
    | CircleSkyRegion(SkyCoord(84.3, 22.5, unit="deg"), 0.2 * u.deg),
    "ds9": "icrs;circle(83.63, 22.01, 0.5);box(84, 22, 0.5, 0.3, 0)",
    "ds9-galactic": "galactic;ellipse(184.55, -5.78, 0.6, 0.3, 20)",
    "list-with-point": [CircleSkyRegion(CRAB, 0.3 * u.deg), PointSkyRegion(SkyCoord(84.5, 22.5, unit="deg"))],
}
GRIDS = {
    "car-icrs": dict(proj="CAR", frame="icrs"),
    "tan-galactic": dict(proj="TAN", frame="galactic"),
}


@pytest.fixture(params=list(GRIDS), ids=list(GRIDS))
def grid_pair(request, ref):
    kwargs = dict(
        skydir=CRAB, width=(3, 2), binsz=0.1, axes=[MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2)]
    )
    kwargs.update(GRIDS[request.param])
    return WcsGeom.create(**kwargs), ref.wcs_create(**kwargs)


@pytest.mark.parametrize("region", REGIONS.values(), ids=REGIONS.keys())
@pytest.mark.parametrize("inside", [True, False])
def test_region_mask_matches_gammapy(grid_pair, region, inside):
    ours, theirs = grid_pair
    # Chunks smaller than the image: every chunk boundary has to agree with the eager result.
    mask = ours.region_mask(region, inside=inside, chunks={"y": 7, "x": 9})
    expected = theirs.region_mask(region, inside=inside).data
    assert mask.data.dtype == bool and mask.geom == ours
    np.testing.assert_array_equal(mask.data.compute(), expected)


@pytest.mark.parametrize(
    "region",
    [REGIONS[name] for name in ("circle", "rectangle", "point-off-grid", "compound", "list-with-point")],
)
def test_region_weights_match_gammapy(grid_pair, region):
    ours, theirs = grid_pair
    ours, theirs = ours.to_image(), theirs.to_image()
    weights = ours.region_weights(region, chunks={"y": 6, "x": 11})
    expected = theirs.region_weights(region).data
    assert weights.data.dtype == expected.dtype
    np.testing.assert_allclose(weights.data.compute(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        ours.region_weights(region, oversampling_factor=3).data.compute(),
        theirs.region_weights(region, oversampling_factor=3).data,
        rtol=1e-12,
    )


def test_pixel_regions_and_non_union_compounds():
    """Beyond gammapy (which fails on both): pixel regions and xor/and compounds."""
    geom = WcsGeom.create(skydir=CRAB, width=(3, 2), binsz=0.1)
    yy, xx = np.mgrid[0:20, 0:30]
    circle = CirclePixelRegion(PixCoord(10, 8), 3.3)
    np.testing.assert_array_equal(geom.region_mask(circle).data.compute(), circle.contains(PixCoord(xx, yy)))
    a = CircleSkyRegion(CRAB, 0.3 * u.deg)
    b = CircleSkyRegion(SkyCoord(83.8, 22.1, unit="deg"), 0.3 * u.deg)
    inside_a = a.to_pixel(geom.wcs).contains(PixCoord(xx, yy))
    inside_b = b.to_pixel(geom.wcs).contains(PixCoord(xx, yy))
    np.testing.assert_array_equal(geom.region_mask(a ^ b).data.compute(), inside_a ^ inside_b)
    np.testing.assert_array_equal(geom.region_mask(a & b).data.compute(), inside_a & inside_b)


def test_no_region_selects_nothing():
    # gammapy fails on an empty list; an empty selection is the natural answer.
    geom = WcsGeom.create(skydir=CRAB, width=1, binsz=0.1)
    assert not geom.region_mask([]).data.compute().any()
    assert geom.region_mask(None, inside=False).data.compute().all()


def test_bad_region_string_raises_geometry_error():
    geom = WcsGeom.create(skydir=CRAB, width=1, binsz=0.1)
    with pytest.raises(GeometryError, match="DS9"):
        geom.region_mask("icrs;blob(1, 2, 3)")
