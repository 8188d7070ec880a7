"""IRF maps in FITS files: the gammapy-written Fermi-LAT Crab file, round trips, files written by
mapds read by gammapy, and lazy reads that touch only the IRF pixels a lookup needs."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from gammapy.irf import EDispKernelMap as GammapyEDispKernelMap
from gammapy.irf import EDispMap as GammapyEDispMap
from gammapy.irf import PSFMap as GammapyPSFMap
from gammapy.maps import Map as GammapyMap
from numpy.testing import assert_allclose

from mapds.errors import OverwriteError
from mapds.geom import MapAxis, WcsGeom
from mapds.irf import EDispKernelMap, EDispMap, PSFMap, RecoPSFMap
from mapds.maps import Map

CRAB_FILE = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB = SkyCoord(184.5575, -5.7844, unit="deg", frame="galactic")


@pytest.fixture(scope="module")
def crab_file(crab_dir):
    return str(crab_dir / CRAB_FILE)


def test_crab_psf_kernel_and_containment(crab_file):
    psf_g = GammapyPSFMap.read(crab_file, format="gadf")
    psf_m = PSFMap.read(crab_file)
    assert type(psf_m) is PSFMap
    assert psf_m.psf_map.geom.axes.names == ["rad", "energy_true"]  # legacy THETA column
    assert psf_m.exposure_map.unit == u.Unit("cm2 s")
    geom_g = GammapyMap.read(crab_file, hdu="EXPOSURE").geom
    geom_m = Map.read(crab_file, hdu="EXPOSURE").geom
    kernel_g = psf_g.get_psf_kernel(geom_g, position=CRAB)
    kernel_m = psf_m.get_psf_kernel(geom_m, position=CRAB)
    assert kernel_m.data.shape == kernel_g.data.shape == (5, 47, 47)
    assert_allclose(kernel_m.data, kernel_g.data, rtol=1e-6, atol=1e-12)
    energy = geom_g.axes["energy_true"].center
    assert_allclose(
        psf_m.containment_radius([0.68, 0.95, 0.999], energy[:, None], CRAB).to_value("deg"),
        psf_g.containment_radius([0.68, 0.95, 0.999], energy[:, None], CRAB).to_value("deg"),
    )
    rad = [0.05, 0.1, 0.3] * u.deg
    assert_allclose(
        psf_m.containment(rad[:, None], energy, CRAB).value,
        psf_g.containment(rad[:, None], energy, CRAB).value,
        rtol=1e-10,
    )
    assert psf_m.has_single_spatial_bin is False


def test_crab_edisp(crab_file):
    edisp_g = GammapyEDispKernelMap.read(crab_file)
    for cls in (EDispKernelMap, EDispMap):  # EDispMap.read hands back a kernel map, as gammapy
        edisp_m = cls.read(crab_file)
        assert type(edisp_m) is EDispKernelMap
    assert type(GammapyEDispMap.read(crab_file)).__name__ == "EDispKernelMap"
    for position in (CRAB, SkyCoord(186.0, -4.5, unit="deg", frame="galactic")):
        assert_allclose(
            edisp_m.get_edisp_kernel(position).pdf_matrix,
            edisp_g.get_edisp_kernel(position).pdf_matrix,
            rtol=1e-6,
        )


def test_crab_hdulist_and_round_trip(crab_file, tmp_path):
    with fits.open(crab_file) as hdulist:
        psf_m = PSFMap.from_hdulist(hdulist)
        psf_g = GammapyPSFMap.from_hdulist(hdulist)
        assert_allclose(psf_m.psf_map.data.compute(), psf_g.psf_map.data)
    out = tmp_path / "psf.fits"
    psf_m.write(out)
    with fits.open(out) as written:
        assert [h.name for h in written] == [
            "PRIMARY",
            "PSF",
            "PSF_BANDS",
            "PSF_EXPOSURE",
            "PSF_EXPOSURE_BANDS",
        ]
    again_g = GammapyPSFMap.read(out, format="gadf")
    assert_allclose(again_g.psf_map.data, psf_g.psf_map.data)
    assert_allclose(again_g.exposure_map.quantity, psf_g.exposure_map.quantity)
    with pytest.raises(OverwriteError):
        psf_m.write(out)
    hdulist = psf_m.to_hdulist()
    assert [h.name for h in hdulist] == ["PRIMARY", "PSF", "PSF_BANDS", "PSF_EXPOSURE", "PSF_EXPOSURE_BANDS"]


@pytest.mark.parametrize("kind", ["psf", "reco_psf", "edisp_kernel", "edisp_migra", "region_psf"])
def test_written_by_mapds_read_by_gammapy(kind, tmp_path):
    energy_true = MapAxis.from_energy_bounds(0.1, 10, 4, unit="TeV", name="energy_true")
    energy = MapAxis.from_energy_bounds(0.1, 10, 3, unit="TeV", name="energy")
    geom = WcsGeom.create(skydir=(0, 0), binsz=0.5, width=(2, 1.5), frame="galactic")
    if kind == "psf":
        irf = PSFMap.from_gauss(energy_true, sigma=[0.2, 0.15, 0.1, 0.05] * u.deg, geom=geom)
        reader, data = GammapyPSFMap, lambda m: m.psf_map
    elif kind == "region_psf":
        irf = PSFMap.from_gauss(energy_true, sigma=0.1 * u.deg, geom=geom).to_region_nd_map(CRAB)
        reader, data = GammapyPSFMap, lambda m: m.psf_map
    elif kind == "reco_psf":
        irf = RecoPSFMap.from_gauss(energy, sigma=0.1 * u.deg, geom=geom)
        reader, data = GammapyPSFMap, lambda m: m.psf_map
    elif kind == "edisp_kernel":
        irf = EDispKernelMap.from_gauss(energy, energy_true, sigma=0.2, bias=0.05, geom=geom)
        reader, data = GammapyEDispKernelMap, lambda m: m.edisp_map
    else:
        irf = EDispMap.from_geom(geom.to_cube([MapAxis.from_bounds(0.2, 5, 48, name="migra"), energy_true]))
        reader, data = GammapyEDispMap, lambda m: m.edisp_map
    path = tmp_path / f"{kind}.fits"
    irf.write(path)
    theirs = reader.read(path, format="gadf")
    assert type(theirs).__name__ == type(irf).__name__
    assert_allclose(data(theirs).data, data(irf).data.compute())
    assert data(theirs).geom.axes.names == data(irf).geom.axes.names
    ours = type(irf).read(path)
    assert type(PSFMap.read(path) if "psf" in kind else EDispMap.read(path)) is type(irf)
    assert_allclose(data(ours).data.compute(), data(irf).data.compute())
    assert ours.exposure_map.geom.data_shape == irf.exposure_map.geom.data_shape


def test_lookup_reads_only_the_neighbouring_pixels(tmp_path, counting_fs):
    """A 60 × 40 pixel PSF map file (10 MB): a kernel lookup reads a few kB of it."""
    energy_true = MapAxis.from_energy_bounds(0.05, 200, 15, unit="TeV", name="energy_true")
    irf_geom = WcsGeom.create(skydir=(0, 0), binsz=0.25, width=(15, 10), frame="galactic")
    sigma = np.clip(0.1 * energy_true.center.to_value("TeV") ** -0.2, 0.04, 0.2) * u.deg
    psf = PSFMap.from_gauss(energy_true, sigma=sigma, geom=irf_geom)
    path = tmp_path / "psf.fits"
    psf.write(path)
    psf_hdu_bytes = 15 * 66 * 40 * 60 * 8

    counting_fs.reset()
    lazy = PSFMap.read(f"countfile://{path}")
    headers_only = counting_fs.bytes_read
    assert headers_only < 100_000
    geom = WcsGeom.create(skydir=(0, 0), binsz=0.02, width=2, frame="galactic", axes=[energy_true])
    kernel = lazy.get_psf_kernel(geom, position=SkyCoord(1.13, -0.61, unit="deg", frame="galactic"))
    lookup_bytes = counting_fs.bytes_read - headers_only
    assert lookup_bytes < 0.02 * psf_hdu_bytes
    expected = psf.get_psf_kernel(geom, position=SkyCoord(1.13, -0.61, unit="deg", frame="galactic"))
    assert_allclose(kernel.data, expected.data)


def test_reading_computes_nothing(crab_file, raise_if_dask_computes):
    with raise_if_dask_computes():
        psf = PSFMap.read(crab_file)
        edisp = EDispKernelMap.read(crab_file)
        for irf in (psf, edisp):
            cut = irf.cutout(CRAB, 1 * u.deg).slice_by_idx({"energy_true": slice(0, 2)})
            assert cut._irf_map.geom.axes["energy_true"].nbin == 2
