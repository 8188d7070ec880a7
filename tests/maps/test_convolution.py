"""convolve, smooth and fft_convolve against gammapy / scipy; tiling; errors."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
import scipy.signal
from gammapy.irf import PSFKernel as GammapyPSFKernel

from mapds.errors import GeometryMismatchError, InvalidArgumentError
from mapds.geom import WcsGeom
from mapds.irf import PSFKernel
from mapds.maps import Map
from mapds.maps.convolution import fft_convolve


def _float32_close(gp_map, md_map, assert_map_equal):
    """gammapy convolves in float32 FFTs: compare to float32 precision of the largest value."""
    atol = 1e-5 * np.nanmax(np.abs(gp_map.data))
    assert_map_equal(gp_map, md_map, rtol=1e-5, atol=atol)


@pytest.fixture
def cube_pair(make_maps):
    """A 3 x 24 x 30 cube of 0.1 deg pixels in 1 x 7 x 9 chunks, so kernels cross chunk edges."""
    return make_maps(npix=(30, 24), binsz=0.1, nbin=3, chunks=(1, 7, 9))


@pytest.fixture
def psf_kernel(cube_pair):
    """gammapy Gaussian PSF kernel on the cube's energy axis and the same kernel as a mapds map."""
    gp, md = cube_pair
    kernel = GammapyPSFKernel.from_gauss(gp.geom.to_odd_npix(max_radius=0.5 * u.deg), sigma=0.15 * u.deg)
    npix = kernel.psf_kernel_map.geom.npix[0][0]
    geom = WcsGeom.create(npix=npix, binsz=0.1, axes=md.geom.axes, skydir=(10, 20))
    return kernel, Map.from_geom(geom, data=kernel.psf_kernel_map.data.copy())


def test_fft_convolve_is_scipy_same_mode(rng):
    image = rng.random((2, 15, 12))
    kernel = rng.random((2, 5, 4)).astype("float32")
    out = fft_convolve(image, kernel)
    assert out.dtype == np.float32
    for i in range(2):
        expected = scipy.signal.convolve(image[i], kernel[i], method="fft", mode="same")
        np.testing.assert_allclose(out[i], expected, rtol=1e-6)
    # a 2D kernel applies to every plane; a 2D image is one plane
    np.testing.assert_array_equal(fft_convolve(image, kernel[0])[1], fft_convolve(image[1], kernel[0]))
    with pytest.raises(GeometryMismatchError, match="planes"):
        fft_convolve(image, rng.random((3, 5, 5)))


@pytest.mark.parametrize("shape", [(7, 5), (3, 9, 9), (3, 8, 6)], ids=["2d", "3d", "3d-even"])
def test_convolve_array_kernel(cube_pair, assert_map_equal, rng, shape):
    gp, md = cube_pair
    kernel = rng.random(shape).astype("float32")
    _float32_close(gp.convolve(kernel), md.convolve(kernel), assert_map_equal)


def test_convolve_kernel_map(cube_pair, psf_kernel, assert_map_equal, raise_if_dask_computes):
    gp, md = cube_pair
    kernel, kernel_map = psf_kernel
    with raise_if_dask_computes():
        out = md.convolve(kernel_map)
    assert out.data.npartitions > 1
    _float32_close(gp.convolve(kernel), out, assert_map_equal)


def test_convolve_psf_kernel_object(cube_pair, psf_kernel, assert_map_equal):
    """Any object with a ``psf_kernel_map`` (here mapds' own PSFKernel) is accepted."""
    gp, md = cube_pair
    kernel, kernel_map = psf_kernel
    md_kernel = PSFKernel(kernel_map)
    _float32_close(gp.convolve(kernel), md.convolve(md_kernel), assert_map_equal)


def test_convolve_image_with_kernel_cube(cube_pair, psf_kernel, assert_map_equal):
    gp, md = cube_pair
    kernel, kernel_map = psf_kernel
    gp_image, md_image = gp.sum_over_axes(keepdims=False), md.sum_over_axes(keepdims=False)
    out = md_image.convolve(kernel_map)
    assert out.geom.axes.names == ["energy"]
    _float32_close(gp_image.convolve(kernel), out, assert_map_equal)


def test_convolve_errors(cube_pair, psf_kernel, rng):
    _, md = cube_pair
    _, kernel_map = psf_kernel
    coarse = Map.from_geom(kernel_map.geom.to_binsz(0.2), data=1.0)
    with pytest.raises(GeometryMismatchError, match="Pixel size"):
        md.convolve(coarse)
    with pytest.raises(GeometryMismatchError, match="kernel"):
        md.convolve(rng.random((4, 5, 5)))
    with pytest.raises(GeometryMismatchError, match="3D kernel"):
        md.sum_over_axes(keepdims=False).convolve(rng.random((3, 5, 5)))
    with pytest.raises(InvalidArgumentError, match="mode"):
        md.convolve(rng.random((5, 5)), mode="full")


@pytest.mark.parametrize("kernel", ["gauss", "disk", "box"])
@pytest.mark.parametrize("mode", ["reflect", "constant", "nearest", "wrap"])
def test_smooth(cube_pair, assert_map_equal, kernel, mode):
    gp, md = cube_pair
    assert_map_equal(gp.smooth(2, kernel=kernel, mode=mode), md.smooth(2, kernel=kernel, mode=mode))


def test_smooth_angle_large_kernel_and_mask(cube_pair, make_maps, assert_map_equal, raise_if_dask_computes):
    gp, md = cube_pair
    assert_map_equal(gp.smooth(0.25 * u.deg), md.smooth(0.25 * u.deg))
    # a kernel wider than the chunks (and than the image): the halo grows, results stay exact
    with raise_if_dask_computes():
        wide = md.smooth(15, kernel="gauss")
    assert_map_equal(gp.smooth(15, kernel="gauss"), wide)
    gp_mask, md_mask = make_maps(dtype=bool)
    assert_map_equal(gp_mask.smooth(1, kernel="box"), md_mask.smooth(1, kernel="box"))


def test_smooth_errors(cube_pair):
    _, md = cube_pair
    with pytest.raises(InvalidArgumentError, match="kernel"):
        md.smooth(2, kernel="airy")
    with pytest.raises(InvalidArgumentError, match="mode"):
        md.smooth(2, mode="mirror")


def test_convolve_keeps_unit_and_meta(cube_pair, rng):
    _, md = cube_pair
    exposure = Map.from_geom(md.geom, data=md.data, unit="cm2 s", meta={"livetime": 3 * u.s})
    out = exposure.convolve(rng.random((3, 3)))
    assert out.unit == u.Unit("cm2 s")
    assert out.meta["livetime"] == 3 * u.s
