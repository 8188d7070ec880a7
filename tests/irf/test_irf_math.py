"""The pure functions behind the IRF classes, on plain numpy arrays."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.interpolate import RegularGridInterpolator

from mapds.geom import MapAxis
from mapds.irf.containment import containment_fraction, containment_radius, radial_cumsum
from mapds.irf.edisp_migra import diagonal_migra_pdf, gauss_migra_pdf, migra_pdf_to_kernel
from mapds.irf.grid_interp import interp_on_grid, node_neighbours, pixel_neighbours
from mapds.irf.psf_kernel_math import (
    block_sum,
    flat_gauss_density,
    normalize_planes,
    paste_centred,
    sample_radial_profile,
    upsampling_factors,
)


def test_grid_neighbours_extrapolate_like_scipy():
    rng = np.random.default_rng(0)
    values = rng.uniform(size=(5, 7))
    nodes = np.array([0.0, 0.5, 2.0, 2.5, 4.0])
    x = np.array([-1.0, 0.0, 0.3, 2.0, 3.9, 4.0, 6.0])
    pix = np.array([-0.7, 0.0, 2.5, 5.2, 6.0, 7.5])
    scipy_interp = RegularGridInterpolator(
        (nodes, np.arange(7.0)), values, bounds_error=False, fill_value=None
    )
    xx, pp = np.meshgrid(x, pix, indexing="ij")
    expected = scipy_interp(np.stack([xx.ravel(), pp.ravel()], axis=-1)).reshape(xx.shape)
    i0, t = node_neighbours(x, nodes)
    along_x = interp_on_grid(values, i0, t, axis=0)
    j0, s = pixel_neighbours(pix, 7)
    assert_allclose(interp_on_grid(along_x, j0, s, axis=1), expected, rtol=1e-12)
    # a grid of one node is ignored, as scipy drops dimensions of length one in gammapy
    k0, w = pixel_neighbours([3.3, -2.0], 1)
    assert_array_equal(interp_on_grid(values[:1], k0, w, axis=0), values[[0, 0]])


def test_containment_of_a_gaussian():
    rad_axis = MapAxis.from_bounds(0, 1, 200, unit="deg", name="rad")
    sigma = np.array([[0.1], [0.2]])
    psf = flat_gauss_density(rad_axis.center.value, sigma) * (np.pi / 180) ** -2  # per sr
    cumsum = radial_cumsum(psf, rad_axis)
    assert_allclose(cumsum[:, -1], 1, atol=5e-4)
    i0, t = pixel_neighbours(np.array([0.0, 1.0]), 2)
    radius = np.sqrt(-2 * np.log(1 - 0.68)) * sigma[:, 0]
    assert_allclose(containment_fraction(cumsum, rad_axis, radius * u.deg, i0, t), 0.68, atol=2e-3)
    found = containment_radius(cumsum, rad_axis, 0.68, i0, t, np.array([True, False]))
    assert found[0].to_value("deg") == pytest.approx(radius[0], abs=3e-3)
    assert found[1] == rad_axis.upsample(20).center[0]  # invalid: containment 0 everywhere


def test_kernel_building_blocks():
    assert_array_equal(upsampling_factors([0.01, 0.06, 0.3, 0.0], 0.02), [4, 2, 1, 4])
    image = np.arange(36.0).reshape(6, 6)
    assert_array_equal(block_sum(image, 2), image.reshape(3, 2, 3, 2).sum(axis=(1, 3)))
    assert block_sum(image, 1) is image
    assert_array_equal(
        sample_radial_profile(np.array([1.0, 0.5, 0.0]), np.array([0.5, 2.5, -1.0])), [0.75, 0, 1.5]
    )
    planes = paste_centred([np.ones((1, 1)), None, np.full((3, 3), 2.0)], 5)
    assert planes.dtype == np.float32
    assert planes[0].sum() == 1 and planes[0, 2, 2] == 1
    assert planes[1].sum() == 0
    assert_array_equal(planes[2, 1:4, 1:4], 2)
    normalized = normalize_planes(planes)
    assert_allclose(normalized.sum(axis=(1, 2)), [1, 0, 1])


def test_migra_kernel_of_a_perfect_response_is_diagonal():
    energy_true = MapAxis.from_energy_bounds(1, 100, 4, unit="TeV", name="energy_true")
    migra = MapAxis.from_bounds(0.2, 5, 48, name="migra")
    pdf = np.tile(diagonal_migra_pdf(migra), (4, 1))
    kernel = migra_pdf_to_kernel(pdf, migra, energy_true.edges, energy_true.center)
    assert_allclose(kernel, np.eye(4), atol=1e-12)
    # trailing (pixel) axes are carried along
    kernel_pixels = migra_pdf_to_kernel(
        pdf[..., None, None] * np.ones((1, 1, 2, 3)), migra, energy_true.edges, energy_true.center
    )
    assert kernel_pixels.shape == (4, 4, 2, 3)
    assert_allclose(kernel_pixels[..., 1, 2], kernel)
    gauss = gauss_migra_pdf(migra.edges.value, sigma=[0.05, 0.1, 0.15, 0.2], bias=0.0, n_energy_true=4)
    assert gauss.shape == (4, 48)
    assert_allclose((gauss * migra.bin_width.value).sum(axis=1), 1, atol=2e-3)
