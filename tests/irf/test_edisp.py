"""EDispKernel, EDispKernelMap and EDispMap against gammapy 2.x on identical inputs."""

from __future__ import annotations

import logging

import astropy.units as u
import dask.array as da
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from gammapy.irf.edisp.map import get_overlap_fraction
from numpy.testing import assert_allclose, assert_array_equal

from mapds.errors import AxisError
from mapds.geom import MapAxis, WcsGeom
from mapds.irf import EDispKernel, EDispKernelMap, EDispMap
from mapds.irf.edisp_fold import fold_edisp, overlap_fraction
from mapds.maps import Map


def energy_axes(ns, n_true=15, n_reco=10):
    energy_true = ns.MapAxis.from_energy_bounds(0.05, 200, n_true, unit="TeV", name="energy_true")
    energy = ns.MapAxis.from_energy_bounds(0.1, 100, n_reco, unit="TeV", name="energy")
    return energy_true, energy


@pytest.mark.parametrize(
    ("sigma", "bias"),
    [(0.15, 0.0), (0.3, 0.1), (np.linspace(0.1, 0.4, 15), np.linspace(-0.2, 0.2, 15))],
)
def test_edisp_kernel_from_gauss(both, sigma, bias):
    kernel_g, kernel_m = both(lambda ns: ns.EDispKernel.from_gauss(*energy_axes(ns), sigma=sigma, bias=bias))
    assert kernel_m.pdf_matrix.shape == (15, 10)
    assert_allclose(kernel_m.pdf_matrix, kernel_g.pdf_matrix, rtol=1e-6, atol=1e-12)
    assert kernel_m.axes.names == ["energy_true", "energy"]


def test_edisp_kernel_diagonal_safe_range_and_image(both):
    def build(ns):
        energy_true = ns.MapAxis.from_energy_edges([0.5, 1, 2, 4, 6] * u.TeV, name="energy_true")
        energy = ns.MapAxis.from_energy_edges([0.7, 2, 3, 6] * u.TeV, name="energy")
        return ns.EDispKernel.from_diagonal_response(energy_true, energy)

    kernel_g, kernel_m = both(build)
    assert_allclose(kernel_m.pdf_matrix, kernel_g.pdf_matrix, rtol=1e-12)
    lo, hi = 1 * u.TeV, 5 * u.TeV
    in_range = kernel_g.pdf_in_safe_range(lo, hi)
    assert_allclose(kernel_m.pdf_in_safe_range(lo, hi), in_range)
    # (gammapy's to_image(lo, hi) tests Quantity truthiness, which astropy 8 refuses)
    assert_allclose(kernel_m.to_image(lo, hi).pdf_matrix, in_range.sum(axis=1, keepdims=True))
    assert_allclose(kernel_m.to_image().pdf_matrix, kernel_g.to_image().pdf_matrix)
    square_g, square_m = both(lambda ns: ns.EDispKernel.from_diagonal_response(energy_axes(ns)[0]))
    assert_array_equal(square_m.pdf_matrix, square_g.pdf_matrix)
    assert_array_equal(square_m.pdf_matrix, np.eye(15))


def test_overlap_fraction_matches_gammapy(both):
    (energy_true_g, energy_g), (energy_true_m, energy_m) = both(lambda ns: energy_axes(ns, 7, 4))
    expected = get_overlap_fraction(energy_g, energy_true_g).value
    assert_allclose(overlap_fraction(energy_m.edges, energy_true_m.edges), expected, rtol=1e-12)
    # different units on the two axes
    energy_gev = MapAxis.from_energy_bounds(100, 1e5, 4, unit="GeV", name="energy")
    assert_allclose(overlap_fraction(energy_gev.edges, energy_true_m.edges), expected, rtol=1e-12)


def test_fold_edisp_is_the_evaluator_matmul():
    rng = np.random.default_rng(0)
    npred = rng.uniform(size=(15, 6, 7))
    matrix = rng.uniform(size=(15, 10))
    expected = np.rollaxis(np.rollaxis(npred, 0, 3) @ matrix, 2, 0)  # gammapy's apply_edisp
    assert_allclose(fold_edisp(npred, matrix), expected, rtol=1e-12)
    lazy = fold_edisp(da.from_array(npred, chunks=(15, 3, 7)), matrix)
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), expected, rtol=1e-12)
    assert_allclose(fold_edisp(np.moveaxis(npred, 0, 2), matrix, axis=2), np.moveaxis(expected, 0, 2))
    with pytest.raises(ValueError, match="15 true-energy rows"):
        fold_edisp(npred[:3], matrix)


def kernel_map_pair(ns):
    """An EDisp kernel map whose matrices vary across the 0.5° IRF grid."""
    energy_true, energy = energy_axes(ns, 8, 5)
    geom = ns.WcsGeom.create(
        skydir=(0, 0), binsz=0.5, width=(3, 2), frame="galactic", axes=[energy, energy_true]
    )
    rows = np.random.default_rng(3).uniform(size=(2, 8, 5))
    kernels = rows / rows.sum(axis=2, keepdims=True) * np.array([[0.9], [0.7]])[:, :, None]
    x = np.arange(6)[None, None, None, :] / 5
    data = (1 - x) * kernels[0][:, :, None, None] + x * kernels[1][:, :, None, None] * np.ones(
        geom.data_shape
    )
    data[..., :, 0] = 0  # an empty column of IRF pixels
    exposure = ns.Map.from_geom(geom.squash("energy"), data=np.full((8, 1, 4, 6), 2.0), unit="m2 s")
    return ns.EDispKernelMap(ns.Map.from_geom(geom, data=data), exposure)


@pytest.mark.parametrize(
    "position",
    [SkyCoord(0.3, 0.2, unit="deg", frame="galactic"), SkyCoord(-1.1, -0.8, unit="deg", frame="galactic")],
)
def test_edisp_kernel_map_lookup(both, position):
    edisp_g, edisp_m = both(kernel_map_pair)
    kernel_g = edisp_g.get_edisp_kernel(position=position)
    kernel_m = edisp_m.get_edisp_kernel(position=position, energy_axis=edisp_m.edisp_map.geom.axes["energy"])
    assert_allclose(kernel_m.pdf_matrix, kernel_g.pdf_matrix, rtol=1e-12)


def test_edisp_kernel_map_lookup_moves_off_empty_pixels(both, caplog):
    edisp_g, edisp_m = both(kernel_map_pair)
    position = SkyCoord(1.45, 0.0, unit="deg", frame="galactic")  # in the empty column
    with caplog.at_level(logging.WARNING):
        kernel_m = edisp_m.get_edisp_kernel(position)
    assert "outside valid IRF map range" in caplog.text
    assert_allclose(kernel_m.pdf_matrix, edisp_g.get_edisp_kernel(position).pdf_matrix, rtol=1e-12)
    with pytest.raises(AxisError, match="energy axis"):
        edisp_m.get_edisp_kernel(position, energy_axis=MapAxis.from_energy_bounds(1, 10, 5, unit="TeV"))


def test_edisp_kernel_map_constructors(both):
    def build(ns):
        energy_true, energy = energy_axes(ns)
        return (
            ns.EDispKernelMap.from_gauss(energy, energy_true, sigma=0.15, bias=0),
            ns.EDispKernelMap.from_diagonal_response(
                energy, energy_true, geom=ns.WcsGeom.create(npix=(3, 2), binsz=1)
            ),
        )

    (gauss_g, diag_g), (gauss_m, diag_m) = both(build)
    for edisp_g, edisp_m in ((gauss_g, gauss_m), (diag_g, diag_m)):
        assert edisp_m.edisp_map.geom.data_shape == edisp_g.edisp_map.geom.data_shape
        assert edisp_m.edisp_map.data.dtype == edisp_g.edisp_map.data.dtype == np.float32
        assert_allclose(edisp_m.edisp_map.data.compute(), edisp_g.edisp_map.data)
        assert edisp_m.exposure_map.geom.axes["energy"].nbin == 1
        assert edisp_m.exposure_map.unit == u.Unit("m2 s")
    assert_allclose(gauss_m.get_edisp_kernel().pdf_matrix, gauss_g.get_edisp_kernel().pdf_matrix)


def test_edisp_kernel_map_reductions(both):
    edisp_g, edisp_m = both(kernel_map_pair)
    mask = np.ones((1, 5, 4, 6), dtype=bool)
    mask[0, :2, :, 3:] = False
    weights_g, weights_m = both(
        lambda ns: ns.Map.from_geom(kernel_map_pair(ns).edisp_map.geom.squash("energy_true"), data=mask)
    )
    assert_allclose(
        edisp_m.to_image(weights=weights_m).edisp_map.data.compute(),
        edisp_g.to_image(weights=weights_g).edisp_map.data,
        rtol=1e-12,
    )
    new_axis_g, new_axis_m = both(
        lambda ns: ns.MapAxis.from_energy_edges(energy_axes(ns, 8, 5)[1].edges[::2], name="energy")
    )
    resampled_g = edisp_g.resample_energy_axis(new_axis_g, weights=weights_g)
    resampled_m = edisp_m.resample_energy_axis(new_axis_m, weights=weights_m)
    assert resampled_m.edisp_map.geom.axes["energy"].nbin == resampled_g.edisp_map.geom.axes["energy"].nbin
    assert_allclose(resampled_m.edisp_map.data.compute(), resampled_g.edisp_map.data, rtol=1e-12)


def migra_map(ns):
    """A Gaussian migration map whose width varies across the IRF grid."""
    energy_true = ns.MapAxis.from_energy_bounds(0.05, 200, 15, unit="TeV", name="energy_true")
    migra = ns.MapAxis.from_bounds(0.2, 5, 48, name="migra")
    geom = ns.WcsGeom.create(
        skydir=(0, 0), binsz=0.5, width=(2, 1.5), frame="galactic", axes=[migra, energy_true]
    )
    sigma = 0.1 + 0.05 * np.arange(4)[None, None, None, :] + 0.02 * np.arange(3)[None, None, :, None]
    center = migra.center.value[None, :, None, None]
    pdf = np.exp(-0.5 * ((center - 1) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma) * np.ones(geom.data_shape)
    return ns.EDispMap(ns.Map.from_geom(geom, data=pdf), None), energy_axes(ns)[1]


@pytest.mark.parametrize("position", [None, SkyCoord(0.6, -0.4, unit="deg", frame="galactic")])
def test_edisp_map_to_kernel(both, position):
    (edisp_g, energy_g), (edisp_m, energy_m) = both(migra_map)
    kernel_g = edisp_g.get_edisp_kernel(energy_g, position=position)
    kernel_m = edisp_m.get_edisp_kernel(energy_m, position=position)
    assert_allclose(kernel_m.pdf_matrix, kernel_g.pdf_matrix, rtol=1e-10, atol=1e-14)

    kernel_map_m = edisp_m.to_edisp_kernel_map(energy_m)
    assert isinstance(kernel_map_m.edisp_map.data, da.Array)
    assert_allclose(
        kernel_map_m.edisp_map.data.compute(),
        edisp_g.to_edisp_kernel_map(energy_g).edisp_map.data,
        atol=1e-14,
    )


def test_edisp_map_diagonal_and_normalize(both):
    def build(ns):
        energy_true, energy = energy_axes(ns)
        edisp = ns.EDispMap.from_diagonal_response(
            energy_true, ns.MapAxis.from_bounds(0.2, 5, 48, name="migra")
        )
        return edisp, energy

    (edisp_g, energy_g), (edisp_m, energy_m) = both(build)
    assert_allclose(edisp_m.edisp_map.data.compute(), edisp_g.edisp_map.data, rtol=1e-6)
    assert_allclose(
        edisp_m.get_edisp_kernel(energy_m).pdf_matrix, edisp_g.get_edisp_kernel(energy_g).pdf_matrix
    )
    (edisp_g, _), (edisp_m, _) = both(migra_map)
    edisp_g.normalize()
    edisp_m.normalize()
    assert_allclose(edisp_m.edisp_map.data.compute(), edisp_g.edisp_map.data, rtol=1e-12)


def test_edisp_wrong_axes():
    energy_true = MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true")
    energy = MapAxis.from_energy_bounds(1, 10, 2, unit="TeV", name="energy")
    geom = WcsGeom.create(npix=3, axes=[energy_true, energy])
    with pytest.raises(AxisError, match=r"EDispKernelMap.*\['energy', 'energy_true'\]"):
        EDispKernelMap(Map.from_geom(geom))
    with pytest.raises(AxisError, match=r"EDispKernelMap.*\['energy', 'energy_true'\]"):
        EDispKernelMap.from_geom(geom)
    with pytest.raises(AxisError, match=r"EDispMap.*\['migra', 'energy_true'\]"):
        EDispMap.from_geom(geom)
    with pytest.raises(AxisError, match=r"EDispKernel.*\['energy_true', 'energy'\]"):
        EDispKernel(axes=[energy, energy_true], data=np.zeros((2, 3)))


def test_large_edisp_maps_are_graphs(raise_if_dask_computes, chunk_sizes):
    """All-sky 0.1° EDisp maps are graphs; a kernel lookup computes a 2 × 2 pixel window."""
    energy_true = MapAxis.from_energy_bounds(0.05, 200, 15, unit="TeV", name="energy_true")
    energy = MapAxis.from_energy_bounds(0.1, 100, 10, unit="TeV", name="energy")
    migra = MapAxis.from_bounds(0.2, 5, 48, name="migra")
    allsky = WcsGeom.create(binsz=0.1)
    with raise_if_dask_computes():
        kernel_map = EDispKernelMap.from_gauss(energy, energy_true, sigma=0.15, bias=0, geom=allsky)
        migra_map = EDispMap.from_geom(allsky.to_cube([migra, energy_true]))
        converted = migra_map.to_edisp_kernel_map(energy)
    assert kernel_map.edisp_map.geom.data_shape == (15, 10, 1800, 3600)
    position = SkyCoord(83.6, 22.0, unit="deg")
    with chunk_sizes() as recorder:
        kernel = kernel_map.get_edisp_kernel(position)
        from_migra = migra_map.get_edisp_kernel(energy, position)
    assert max(recorder.sizes) <= 15 * 48 * 2 * 2
    assert_allclose(from_migra.pdf_matrix, converted.get_edisp_kernel(position).pdf_matrix, atol=1e-12)
    assert kernel.pdf_matrix.shape == (15, 10)
