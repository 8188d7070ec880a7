"""Map operations on the gammapy-written Fermi-LAT 3FHL Crab dataset, against gammapy."""

from __future__ import annotations

import astropy.units as u
import gammapy.maps as gmaps
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

from mapds.maps import Map

CRAB = SkyCoord(83.63, 22.01, unit="deg")
DATA = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"


@pytest.fixture
def read_both(crab_dir):
    def read(filename, hdu=None):
        path = crab_dir / filename
        return gmaps.Map.read(path, hdu=hdu), Map.read(path, hdu=hdu)

    return read


def test_counts_cutout_downsample_spectrum(read_both, assert_map_equal, raise_if_dask_computes):
    gp, md = read_both(DATA, "COUNTS")
    gp_mask, md_mask = read_both(DATA, "MASK_SAFE")
    with raise_if_dask_computes():
        md_cut = md.cutout(CRAB, 2 * u.deg, mode="partial")
        md_down = md.downsample(2, weights=md_mask)
        md_spectrum = md.to_region_nd_map(CircleSkyRegion(CRAB, 0.5 * u.deg), func=np.sum)
    assert_map_equal(gp.cutout(CRAB, 2 * u.deg, mode="partial"), md_cut)
    assert_map_equal(gp.downsample(2, weights=gp_mask), md_down)
    assert_map_equal(gp.to_region_nd_map(CircleSkyRegion(CRAB, 0.5 * u.deg), func=np.sum), md_spectrum)


@pytest.mark.parametrize(("hdu", "preserve_counts"), [("EXPOSURE", False), ("BACKGROUND", True)])
def test_onto_another_grid(read_both, assert_map_equal, hdu, preserve_counts):
    gp, md = read_both(DATA, hdu)
    kwargs = {"skydir": CRAB, "width": 3 * u.deg, "binsz": 0.05, "proj": "TAN"}
    gp_target = gmaps.WcsGeom.create(axes=[gp.geom.axes[0]], **kwargs)
    md_target = md.geom.create(axes=[md.geom.axes[0]], **kwargs)
    assert_map_equal(
        gp.interp_to_geom(gp_target, preserve_counts=preserve_counts),
        md.interp_to_geom(md_target, preserve_counts=preserve_counts),
    )


@pytest.mark.filterwarnings("ignore:overflow encountered in exp")
def test_diffuse_model_interpolation(read_both, rng):
    """The interstellar emission cube is interpolated in log values (as TemplateSpatialModel does)."""
    gp, md = read_both("Fermi-LAT-3FHL_iem.fits")
    coords = {
        "skycoord": SkyCoord(
            rng.uniform(-3, 3, 40) + 184.5, rng.uniform(-2.2, 2.2, 40) - 5.8, unit="deg", frame="galactic"
        ),
        "energy_true": 10 ** rng.uniform(1.5, 6, 40) * u.MeV,
    }
    expected = gp.interp_by_coord(dict(coords), values_scale="log", fill_value=0)
    actual = md.interp_by_coord(dict(coords), values_scale="log", fill_value=0)
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert np.count_nonzero(actual) > 10
