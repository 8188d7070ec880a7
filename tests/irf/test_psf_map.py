"""PSFMap / RecoPSFMap against gammapy 2.x on identical inputs: kernels, containment, laziness."""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.maps import Map as GammapyMap
from numpy.testing import assert_allclose, assert_array_equal

from mapds.errors import AxisError, GeometryMismatchError
from mapds.geom import MapAxis, WcsGeom
from mapds.irf import PSFMap, RecoPSFMap
from mapds.maps import Map

# PSF kernels are float32 in gammapy.
KERNEL_RTOL = 1e-6


def galactic(lon, lat):
    return SkyCoord(lon, lat, unit="deg", frame="galactic")


def assert_kernels_equal(kernel_gammapy, kernel_mapds):
    """Same kernel geometry, dtype and values (float32) as gammapy's."""
    assert kernel_mapds.data.shape == kernel_gammapy.data.shape
    assert kernel_mapds.data.dtype == np.float32
    assert kernel_mapds.psf_kernel_map.geom.axes.names == kernel_gammapy.psf_kernel_map.geom.axes.names
    assert_allclose(kernel_mapds.data, kernel_gammapy.data, rtol=KERNEL_RTOL, atol=1e-12)


@pytest.mark.parametrize(
    "position",
    [
        galactic(-1.2269878988977365, -0.29318665646439546),  # survey source src000
        galactic(0.0, 0.0),  # on an IRF pixel corner
        galactic(1.1, -0.65),  # between IRF pixel centres
        galactic(2.9, 1.4),  # outer half pixel: extrapolated from the edge cells
    ],
)
def test_get_psf_kernel_survey_case(survey_pair, position):
    (psf_g, geom_g), (psf_m, geom_m) = survey_pair
    kernel_g = psf_g.get_psf_kernel(geom_g, position=position)
    kernel_m = psf_m.get_psf_kernel(geom_m, position=position)
    assert_kernels_equal(kernel_g, kernel_m)
    assert_allclose(kernel_m.data.sum(axis=(1, 2)), 1, rtol=1e-5)
    assert kernel_m.psf_kernel_map.geom.data_shape[-1] % 2 == 1


def test_get_psf_kernel_varying_psf_interpolates_between_pixels(both):
    """A PSF that changes from pixel to pixel: the kernel mixes the neighbouring IRF pixels."""

    def build(ns):
        energy_true = ns.MapAxis.from_energy_bounds(0.1, 10, 4, unit="TeV", name="energy_true")
        rad = ns.MapAxis.from_bounds(0, 0.5, 50, unit="deg", name="rad")
        geom = ns.WcsGeom.create(skydir=(10, 20), binsz=0.4, width=(2.0, 1.6), axes=[rad, energy_true])
        x = np.arange(5) / 4
        y = np.arange(4)[:, None] / 3
        sigma = (0.05 + 0.03 * x + 0.02 * y)[None, None] * (1 + 0.2 * np.arange(4))[:, None, None, None]
        radius = rad.center.to_value("deg")[None, :, None, None]
        data = np.exp(-0.5 * (radius / sigma) ** 2) / (2 * np.pi * np.deg2rad(sigma) ** 2)
        psf = ns.PSFMap(ns.Map.from_geom(geom, data=data, unit="sr-1"))
        target = ns.WcsGeom.create(skydir=(10, 20), binsz=0.03, width=3, axes=[energy_true])
        return psf, target

    (psf_g, target_g), (psf_m, target_m) = both(build)
    position = SkyCoord(10.13, 19.87, unit="deg")
    assert_kernels_equal(psf_g.get_psf_kernel(target_g, position), psf_m.get_psf_kernel(target_m, position))
    # max_radius clips the planes and fixes the kernel size
    kernel_g = psf_g.get_psf_kernel(target_g, position, max_radius="0.2 deg")
    kernel_m = psf_m.get_psf_kernel(target_m, position, max_radius="0.2 deg")
    assert_kernels_equal(kernel_g, kernel_m)
    assert kernel_m.data.shape[-1] == 15
    # containment and radii at the same position, energies between the PSF nodes
    energy = [0.15, 0.5, 2.0, 7.0] * u.TeV
    assert_allclose(
        psf_m.containment_radius(0.68, energy, position).to_value("deg"),
        psf_g.containment_radius(0.68, energy, position).to_value("deg"),
    )
    rad = [[0.01], [0.05], [0.2]] * u.deg
    assert_allclose(
        psf_m.containment(rad, energy, position).value,
        psf_g.containment(rad, energy, position).value,
        rtol=1e-10,
    )


def test_get_psf_kernel_pairs_planes_by_index(both):
    """A target axis with more bins than the PSF map: extra planes stay empty (gammapy quirk);
    planes are evaluated at the target energies."""

    def build(ns):
        energy_psf = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true")
        energy_target = ns.MapAxis.from_energy_bounds(0.5, 20, 5, unit="TeV", name="energy_true")
        psf = ns.PSFMap.from_gauss(energy_psf, sigma=[0.2, 0.1, 0.05] * u.deg)
        return psf, ns.WcsGeom.create(binsz=0.05, width=2, axes=[energy_target])

    (psf_g, target_g), (psf_m, target_m) = both(build)
    kernel_g, kernel_m = psf_g.get_psf_kernel(target_g), psf_m.get_psf_kernel(target_m)
    assert_kernels_equal(kernel_g, kernel_m)
    assert_array_equal(kernel_m.data[3:], 0)
    assert np.all(kernel_m.data[:3].sum(axis=(1, 2)) > 0.99)


def test_get_psf_kernel_moves_to_nearest_valid_pixel(both, caplog):
    def build(ns):
        energy_true = ns.MapAxis.from_energy_bounds(1, 10, 2, unit="TeV", name="energy_true")
        psf = ns.PSFMap.from_gauss(
            energy_true,
            sigma=[0.1, 0.05] * u.deg,
            geom=ns.WcsGeom.create(skydir=(0, 0), binsz=0.5, width=(3, 2), frame="galactic"),
        )
        mask = np.array([[0, 0, 0, 1, 1, 1]] * 4, dtype=float)
        psf_map = ns.Map.from_geom(psf.psf_map.geom, data=np.asarray(psf.psf_map.data) * mask, unit="sr-1")
        geom = ns.WcsGeom.create(skydir=(0, 0), binsz=0.02, width=1, frame="galactic", axes=[energy_true])
        return ns.PSFMap(psf_map, psf.exposure_map), geom

    (psf_g, geom_g), (psf_m, geom_m) = both(build)
    position = galactic(0.8, 0.1)  # lon > 0 lies in the empty half of the map
    with caplog.at_level(logging.WARNING):
        kernel_m = psf_m.get_psf_kernel(geom_m, position=position)
    assert "outside valid IRF map range" in caplog.text
    assert_kernels_equal(psf_g.get_psf_kernel(geom_g, position=position), kernel_m)


def test_reco_psf_map_kernel_and_containment(both):
    def build(ns):
        energy = ns.MapAxis.from_energy_bounds(1, 100, 4, unit="TeV", name="energy")
        psf = ns.RecoPSFMap.from_gauss(energy, sigma=[0.3, 0.2, 0.1, 0.08] * u.deg)
        return psf, ns.WcsGeom.create(binsz=0.05, width=3, axes=[energy])

    (psf_g, geom_g), (psf_m, geom_m) = both(build)
    assert psf_m.energy_name == "energy"
    assert_kernels_equal(psf_g.get_psf_kernel(geom_g), psf_m.get_psf_kernel(geom_m))
    energy = [2, 20] * u.TeV
    assert_allclose(
        psf_m.containment_radius(0.95, energy).value, psf_g.containment_radius(0.95, energy).value
    )
    assert_allclose(
        psf_m.containment(0.1 * u.deg, energy).value, psf_g.containment(0.1 * u.deg, energy).value
    )
    stacked = psf_m.copy()  # stacking a reco PSF with itself leaves it unchanged (gammapy raises)
    stacked.stack(psf_m)
    assert_allclose(np.asarray(stacked.psf_map.data), np.asarray(psf_m.psf_map.data), rtol=1e-12)


def test_from_gauss_and_from_geom_match_gammapy(both):
    def build(ns):
        energy_true = ns.MapAxis.from_energy_bounds(0.1, 10, 3, unit="TeV", name="energy_true")
        return ns.PSFMap.from_gauss(energy_true, sigma=[0.3, 0.2, 0.1] * u.deg)

    psf_g, psf_m = both(build)
    assert psf_m.psf_map.unit == u.Unit("sr-1")
    assert psf_m.psf_map.geom.data_shape == psf_g.psf_map.geom.data_shape
    assert_allclose(psf_m.psf_map.data.compute(), psf_g.psf_map.data, rtol=1e-12)
    assert_allclose(psf_m.exposure_map.data.compute(), psf_g.exposure_map.data)
    assert psf_m.exposure_map.unit == u.Unit("m2 s")
    assert psf_m.has_single_spatial_bin is False

    geom = WcsGeom.create(
        npix=(4, 3),
        axes=[
            MapAxis.from_bounds(0, 1, 5, unit="deg", name="rad"),
            MapAxis.from_energy_bounds(1, 10, 2, unit="TeV", name="energy_true"),
        ],
    )
    empty = PSFMap.from_geom(geom)
    assert empty.exposure_map.geom.axes["rad"].nbin == 1
    assert float(empty.psf_map.data.sum().compute()) == 0


def test_to_image_matches_gammapy(both):
    def build(ns):
        energy_true = ns.MapAxis.from_energy_bounds(0.1, 10, 3, unit="TeV", name="energy_true")
        psf = ns.PSFMap.from_gauss(energy_true, sigma=[0.3, 0.2, 0.1] * u.deg)
        exposure = ns.Map.from_geom(
            psf.exposure_map.geom,
            data=np.array([1.0, 2.0, 4.0]).reshape(3, 1, 1, 1) * np.ones((3, 1, 1, 2)),
            unit="m2 s",
        )
        return ns.PSFMap(psf.psf_map, exposure).to_image()

    image_g, image_m = both(build)
    assert image_m.psf_map.geom.axes["energy_true"].nbin == 1
    assert_allclose(image_m.psf_map.data.compute(), image_g.psf_map.data, rtol=1e-12)
    assert_allclose(image_m.exposure_map.data.compute(), image_g.exposure_map.data, rtol=1e-12)


def test_building_a_large_psf_map_computes_nothing(raise_if_dask_computes, chunk_sizes):
    """An all-sky 0.1° PSF map (6e9 values, 25 GB) is a graph; a kernel lookup computes only
    the 2 × 2 IRF pixels around the position (plus tiny graph nodes)."""
    energy_true = MapAxis.from_energy_bounds(0.05, 200, 15, unit="TeV", name="energy_true")
    with raise_if_dask_computes():
        psf = PSFMap.from_gauss(energy_true, sigma=0.1 * u.deg, geom=WcsGeom.create(binsz=0.1))
        assert psf.psf_map.geom.data_shape == (15, 66, 1800, 3600)
        geom = WcsGeom.create(binsz=0.02, width=2, skydir=(83.6, 22.0), axes=[energy_true])
    with chunk_sizes() as recorder:
        kernel = psf.get_psf_kernel(geom, position=SkyCoord(83.6, 22.0, unit="deg"))
    assert max(recorder.sizes) <= 15 * 66 * 2 * 2
    assert_allclose(kernel.data.sum(axis=(1, 2)), 1, rtol=1e-5)


def test_wrong_axes_raise_axis_error_naming_them():
    rad = MapAxis.from_bounds(0, 1, 5, unit="deg", name="rad")
    energy_true = MapAxis.from_energy_bounds(1, 10, 2, unit="TeV", name="energy_true")
    geom = WcsGeom.create(npix=(3, 3), axes=[energy_true, rad])
    with pytest.raises(AxisError, match=r"PSFMap.*\['rad', 'energy_true'\].*\['energy_true', 'rad'\]"):
        PSFMap(Map.from_geom(geom, unit="sr-1"))
    psf = PSFMap.from_gauss(energy_true, rad_axis=rad)
    with pytest.raises(AxisError, match="energy_true"):
        psf.get_psf_kernel(WcsGeom.create(npix=5, axes=[energy_true.copy(name="energy")]))
    with pytest.raises(GeometryMismatchError, match="WcsGeom"):
        psf.get_psf_kernel(psf.to_region_nd_map().psf_map.geom)
    with pytest.raises(AxisError, match=r"RecoPSFMap.*\['rad', 'energy'\]"):
        RecoPSFMap(psf.psf_map)


def test_kernel_convolves_like_gammapy(survey_pair):
    """Map.convolve takes the PSFKernel (its psf_kernel_map); same float32 result as gammapy."""
    (psf_g, geom_g), (psf_m, geom_m) = survey_pair
    position = galactic(-1.2269878988977365, -0.29318665646439546)
    kernel_g = psf_g.get_psf_kernel(geom_g, position=position)
    kernel_m = psf_m.get_psf_kernel(geom_m, position=position)
    data = np.zeros(geom_g.data_shape, dtype="float32")
    data[:, 60, 120] = 1.0
    data[:, 30:33, 200:204] = 2.0
    convolved_g = GammapyMap.from_geom(geom_g, data=data).convolve(kernel_g)
    convolved_m = Map.from_geom(geom_m, data=data).convolve(kernel_m)
    assert convolved_m.dtype == np.float32
    assert_allclose(convolved_m.data.compute(), convolved_g.data, rtol=1e-5, atol=1e-7)
