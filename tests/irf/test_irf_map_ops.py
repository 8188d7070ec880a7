"""IRFMap operations against gammapy 2.x: exposure-weighted stacking, cutout, downsample, slicing,
region maps and copies."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from numpy.testing import assert_allclose
from regions import CircleSkyRegion

from mapds.errors import GeometryMismatchError, IRFError

POSITION = SkyCoord(0.3, 0.2, unit="deg", frame="galactic")


def random_psf(ns, seed, dtype="float64", exposure=True, skydir=(0, 0)):
    """A PSF map with random values and exposure (some zero exposure) on a 6 × 4 IRF grid."""
    rng = np.random.default_rng(seed)
    energy_true = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true")
    rad = ns.MapAxis.from_bounds(0, 0.5, 10, unit="deg", name="rad")
    geom = ns.WcsGeom.create(
        skydir=skydir, binsz=0.5, width=(3, 2), frame="galactic", axes=[rad, energy_true]
    )
    psf_map = ns.Map.from_geom(geom, data=rng.uniform(0, 1, geom.data_shape).astype(dtype), unit="sr-1")
    if not exposure:
        return ns.PSFMap(psf_map)
    values = rng.uniform(0, 5, (3, 1, 4, 6))
    values[0, 0, 1, 1] = 0
    exposure_map = ns.Map.from_geom(geom.squash("rad"), data=values.astype(dtype), unit="m2 s")
    return ns.PSFMap(psf_map, exposure_map)


def random_edisp(ns, seed):
    rng = np.random.default_rng(seed)
    energy_true = ns.MapAxis.from_energy_bounds(1, 10, 4, unit="TeV", name="energy_true")
    energy = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy")
    geom = ns.WcsGeom.create(
        skydir=(0, 0), binsz=0.5, width=(3, 2), frame="galactic", axes=[energy, energy_true]
    )
    edisp_map = ns.Map.from_geom(geom, data=rng.uniform(0, 1, geom.data_shape))
    exposure_map = ns.Map.from_geom(geom.squash("energy"), data=rng.uniform(0, 5, (4, 1, 4, 6)), unit="m2 s")
    return ns.EDispKernelMap(edisp_map, exposure_map)


def assert_same_irf(irf_m, irf_g):
    assert irf_m._irf_map.geom.data_shape == irf_g._irf_map.geom.data_shape
    assert irf_m._irf_map.data.dtype == irf_g._irf_map.data.dtype
    assert_allclose(irf_m._irf_map.data.compute(), irf_g._irf_map.data, rtol=1e-6)
    if irf_g.exposure_map is not None:
        assert_allclose(irf_m.exposure_map.data.compute(), irf_g.exposure_map.data, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_psf_stack_with_weights(both, dtype):
    (psf_g, other_g, weights_g), (psf_m, other_m, weights_m) = both(
        lambda ns: (
            random_psf(ns, 1, dtype),
            random_psf(ns, 2, dtype),
            ns.Map.from_geom(
                random_psf(ns, 1).psf_map.geom.squash("rad").squash("energy_true"),
                data=np.random.default_rng(5).uniform(size=(1, 1, 4, 6)) > 0.3,
            ),
        )
    )
    psf_g.stack(other_g, weights=weights_g)
    psf_m.stack(other_m, weights=weights_m)
    assert_same_irf(psf_m, psf_g)
    assert np.all(np.isfinite(psf_m.psf_map.data.compute()))


def test_edisp_stack_weights_or_over_reco_energy(both):
    (edisp_g, other_g, weights_g), (edisp_m, other_m, weights_m) = both(
        lambda ns: (
            random_edisp(ns, 1),
            random_edisp(ns, 2),
            ns.Map.from_geom(
                random_edisp(ns, 1).edisp_map.geom.squash("energy_true"),
                data=np.random.default_rng(7).uniform(size=(1, 3, 4, 6)) > 0.5,
            ),
        )
    )
    edisp_g.stack(other_g, weights=weights_g)
    edisp_m.stack(other_m, weights=weights_m)
    assert_same_irf(edisp_m, edisp_g)


def test_stack_a_cutout(both):
    (psf_g, other_g), (psf_m, other_m) = both(lambda ns: (random_psf(ns, 1), random_psf(ns, 2)))
    cutout_g, cutout_m = other_g.cutout(POSITION, 1 * u.deg), other_m.cutout(POSITION, 1 * u.deg)
    assert cutout_m.psf_map.geom.data_shape == cutout_g.psf_map.geom.data_shape == (3, 10, 3, 3)
    psf_g.stack(cutout_g)
    psf_m.stack(cutout_m)
    assert_same_irf(psf_m, psf_g)


def test_stack_errors(both):
    _, psf = both(lambda ns: random_psf(ns, 1))
    _, no_exposure = both(lambda ns: random_psf(ns, 2, exposure=False))
    with pytest.raises(IRFError, match=r"Missing exposure map for PSFMap.stack.*other.*PSF_EXPOSURE"):
        psf.stack(no_exposure)
    with pytest.raises(IRFError, match="self"):
        no_exposure.stack(psf)
    _, shifted = both(lambda ns: random_psf(ns, 3, skydir=(0.1, 0)))
    with pytest.raises(GeometryMismatchError, match="cutout of the same map"):
        psf.stack(shifted)


def test_stack_is_lazy_and_leaves_copies_alone(both, raise_if_dask_computes):
    _, (psf, other) = both(lambda ns: (random_psf(ns, 1), random_psf(ns, 2)))
    before = psf.psf_map.data.compute()
    copy = psf.copy()
    with raise_if_dask_computes():
        psf.stack(other)
    assert_allclose(copy.psf_map.data.compute(), before)
    assert not np.allclose(psf.psf_map.data.compute(), before)


def test_cutout_downsample_slice(both):
    psf_g, psf_m = both(lambda ns: random_psf(ns, 3))
    assert_same_irf(psf_m.cutout(POSITION, 0.2 * u.deg), psf_g.cutout(POSITION, 0.2 * u.deg))  # min_npix=3
    assert_same_irf(psf_m.downsample(2), psf_g.downsample(2))
    slices = {"energy_true": slice(1, 3)}
    assert_same_irf(psf_m.slice_by_idx(slices), psf_g.slice_by_idx(slices))
    rad_slices = {"rad": slice(0, 5)}
    sliced_m, sliced_g = psf_m.slice_by_idx(rad_slices), psf_g.slice_by_idx(rad_slices)
    assert_same_irf(sliced_m, sliced_g)
    assert sliced_m.exposure_map is psf_m.exposure_map
    edisp_g, edisp_m = both(lambda ns: random_edisp(ns, 4))
    assert_same_irf(edisp_m.downsample(3, axis_name="energy"), edisp_g.downsample(3, axis_name="energy"))
    assert_same_irf(
        edisp_m.downsample(2, axis_name="energy_true"), edisp_g.downsample(2, axis_name="energy_true")
    )


def test_region_psf_map(both):
    (psf_g, geom_g), (psf_m, geom_m) = both(
        lambda ns: (
            ns.PSFMap.from_gauss(
                ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true"),
                sigma=[0.2, 0.1, 0.05] * u.deg,
            ).to_region_nd_map(POSITION),
            ns.WcsGeom.create(
                binsz=0.02,
                width=1,
                axes=[ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true")],
            ),
        )
    )
    assert psf_m.has_single_spatial_bin
    assert_allclose(psf_m.psf_map.data.compute(), psf_g.psf_map.data)
    assert_allclose(psf_m.get_psf_kernel(geom_m).data, psf_g.get_psf_kernel(geom_g).data, rtol=1e-6)
    energy = [2, 5] * u.TeV
    assert_allclose(psf_m.containment_radius(0.9, energy).value, psf_g.containment_radius(0.9, energy).value)


def test_region_edisp_kernel_map_and_region_mean(both):
    edisp_g, edisp_m = both(lambda ns: random_edisp(ns, 6))
    point_g, point_m = edisp_g.to_region_nd_map(POSITION), edisp_m.to_region_nd_map(POSITION)
    assert point_m.has_single_spatial_bin
    assert_allclose(point_m.get_edisp_kernel().pdf_matrix, point_g.get_edisp_kernel().pdf_matrix)
    circle = CircleSkyRegion(POSITION, 0.6 * u.deg)
    mean_g, mean_m = edisp_g.to_region_nd_map(circle), edisp_m.to_region_nd_map(circle)
    assert_allclose(mean_m.edisp_map.data.compute(), mean_g.edisp_map.data, rtol=1e-12)
    assert_allclose(mean_m.exposure_map.data.compute(), mean_g.exposure_map.data, rtol=1e-12)
