"""PSFKernel against gammapy 2.x: Gaussian kernels, spatial-model kernels, energy averaging."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from gammapy.irf import PSFKernel as GammapyPSFKernel
from gammapy.modeling.models import GaussianSpatialModel as GammapyGauss
from gammapy.modeling.models import PowerLawSpectralModel as GammapyPowerLaw
from numpy.testing import assert_allclose

from mapds.geom import MapAxis, WcsGeom
from mapds.irf import PSFKernel
from mapds.modeling.models import GaussianSpatialModel, PowerLawSpectralModel

KERNEL_RTOL = 1e-6


def kernel_geoms(ns, **kwargs):
    energy_true = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV", name="energy_true")
    return ns.WcsGeom.create(axes=[energy_true], **kwargs)


@pytest.mark.parametrize(
    ("geom_kwargs", "sigma", "max_radius"),
    [
        ({"binsz": 0.02, "width": 2, "frame": "galactic"}, 0.1, None),
        ({"binsz": 0.05, "width": 3, "skydir": (83.6, 22.0)}, 0.3, "0.5 deg"),
        ({"binsz": 0.1, "width": 5, "skydir": (10, 70), "proj": "TAN"}, 0.25, None),
    ],
)
def test_from_gauss_matches_gammapy(both, geom_kwargs, sigma, max_radius):
    kernel_g, kernel_m = both(
        lambda ns: ns.PSFKernel.from_gauss(
            kernel_geoms(ns, **geom_kwargs), sigma * u.deg, max_radius=max_radius
        )
    )
    assert kernel_m.data.shape == kernel_g.data.shape
    assert kernel_m.data.dtype == kernel_g.data.dtype == np.float64
    assert_allclose(kernel_m.data, kernel_g.data, rtol=1e-9)
    assert_allclose(kernel_m.data.sum(axis=(1, 2)), 1, rtol=1e-12)
    assert kernel_m.psf_kernel_map.geom.pixel_scales.deg == pytest.approx(geom_kwargs["binsz"])


def test_from_gauss_containment_fraction_sets_the_size():
    geom = WcsGeom.create(binsz=0.02, width=2, axes=[MapAxis.from_energy_bounds(1, 10, 1, unit="TeV")])
    kernel = PSFKernel.from_gauss(geom, 0.1 * u.deg, containment_fraction=0.99)
    # radius of 99 % of a 2D Gaussian: sigma * sqrt(-2 ln 0.01) = 0.3035° -> 31 pixels
    assert kernel.data.shape == (1, 31, 31)
    assert kernel.containment_radius(0.68)[0].deg == pytest.approx(0.1 * 1.51, abs=0.02)


def test_from_spatial_model_matches_gammapy(both):
    geom_g, geom_m = both(lambda ns: kernel_geoms(ns, binsz=0.05, width=2))
    kernel_g = GammapyPSFKernel.from_spatial_model(
        GammapyGauss(sigma="0.15 deg"), geom_g, max_radius="0.6 deg"
    )
    kernel_m = PSFKernel.from_spatial_model(
        GaussianSpatialModel(sigma="0.15 deg"), geom_m, max_radius="0.6 deg"
    )
    assert kernel_m.data.shape == kernel_g.data.shape == (3, 25, 25)
    assert_allclose(kernel_m.data, kernel_g.data, rtol=KERNEL_RTOL, atol=1e-12)


def test_to_image_and_slice_match_gammapy(both):
    def build(ns):
        kernel = ns.PSFKernel.from_gauss(kernel_geoms(ns, binsz=0.05, width=2), 0.2 * u.deg)
        data = kernel.psf_kernel_map.data
        # make the planes differ so that the weights matter
        scaled = np.asarray(data) * np.array([1.0, 0.5, 0.25], dtype="float32")[:, None, None]
        scaled[:, 10, 12] += 0.01
        return ns.PSFKernel(ns.Map.from_geom(kernel.psf_kernel_map.geom, data=scaled))

    kernel_g, kernel_m = both(build)
    assert_allclose(kernel_m.data, kernel_g.data, rtol=KERNEL_RTOL)
    assert_allclose(kernel_m.to_image().data, kernel_g.to_image().data, rtol=KERNEL_RTOL)
    exposure = [1, 2, 3] * u.Unit("m2 s")
    assert_allclose(
        kernel_m.to_image(PowerLawSpectralModel(index=2.7), exposure=exposure).data,
        kernel_g.to_image(GammapyPowerLaw(index=2.7), exposure=exposure).data,
        rtol=KERNEL_RTOL,
    )
    image = kernel_m.to_image(keepdims=False)
    assert image.data.ndim == 2
    sliced = kernel_m.slice_by_idx({"energy_true": slice(1, 3)})
    assert_allclose(sliced.data, kernel_g.slice_by_idx({"energy_true": slice(1, 3)}).data, rtol=KERNEL_RTOL)
    with pytest.raises(ValueError, match="exposure"):
        kernel_m.to_image(exposure=[1, 2])


def test_empty_planes_normalise_to_zero():
    geom = WcsGeom.create(npix=5, binsz=0.1, axes=[MapAxis.from_energy_bounds(1, 10, 2, unit="TeV")])
    data = np.zeros(geom.data_shape, dtype="float32")
    data[1, 2, 2] = 3.0
    kernel = PSFKernel.from_array(geom, data)
    assert np.all(kernel.data[0] == 0)
    assert kernel.data[1, 2, 2] == 1.0
    assert np.all(np.isfinite(kernel.data))


def test_write_read_round_trip(tmp_path):
    geom = WcsGeom.create(binsz=0.05, width=1, axes=[MapAxis.from_energy_bounds(1, 10, 2, unit="TeV")])
    kernel = PSFKernel.from_gauss(geom, 0.1 * u.deg)
    kernel.write(tmp_path / "kernel.fits")
    again = PSFKernel.read(tmp_path / "kernel.fits")
    assert_allclose(again.data, kernel.data)
    assert again.psf_kernel_map.geom.axes.names == ["energy"]
