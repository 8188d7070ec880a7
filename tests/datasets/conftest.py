"""Fixtures for the dataset tests: the same small datasets built with gammapy (the reference) and
mapds, and checks that compare every member."""

from __future__ import annotations

from types import SimpleNamespace

import astropy.units as u
import gammapy.data
import gammapy.datasets
import gammapy.irf
import gammapy.maps
import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time

import mapds.data
import mapds.datasets
import mapds.geom
import mapds.irf
import mapds.maps

# -- the same classes from both libraries ---------------------------------------------------------

_NAMES = (
    "MapAxis",
    "WcsGeom",
    "RegionGeom",
    "Map",
    "PSFMap",
    "EDispKernelMap",
    "EDispMap",
    "MapDataset",
    "SpectrumDataset",
    "GTI",
)
_MODULES = {
    "gammapy": (gammapy.maps, gammapy.irf, gammapy.datasets, gammapy.data),
    "mapds": (mapds.geom, mapds.maps, mapds.irf, mapds.datasets, mapds.data),
}


def _namespace(library: str) -> SimpleNamespace:
    modules = _MODULES[library]
    classes = {name: next(getattr(m, name) for m in modules if hasattr(m, name)) for name in _NAMES}
    return SimpleNamespace(name=library, **classes)


GAMMAPY = _namespace("gammapy")
MAPDS = _namespace("mapds")

#: Chunks of the mapds counts-geometry maps: several chunks per image, so that every operation
#: is exercised across chunk boundaries.
CHUNKS = {"x": 8, "y": 6}


# -- one synthetic dataset, identical in both libraries -------------------------------------------


def _arrays(seed: int, shape, shape_true, shape_psf, shape_kernel, shape_migra) -> dict:
    """Random inputs of a dataset (numpy), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    n_e, ny, nx = shape
    threshold = rng.integers(0, 3, size=(ny, nx))
    mask_safe = np.arange(n_e)[:, None, None] >= threshold
    mask_safe[:, :, 0] = False  # a column without any safe bin
    kernel = rng.uniform(0.0, 1.0, shape_kernel)
    kernel /= kernel.sum(axis=1, keepdims=True)
    return {
        "counts": rng.poisson(3.0, shape).astype("float32"),
        "background": rng.uniform(1.0, 3.0, shape).astype("float32"),
        "exposure": rng.uniform(1e8, 2e9, shape_true).astype("float32"),
        "mask_safe": mask_safe,
        "mask_fit": rng.random(shape) > 0.2,
        "psf_scale": rng.uniform(0.8, 1.2, shape_psf[-2:]).astype("float32"),
        "psf_exposure": rng.uniform(1e8, 2e9, (shape_psf[0], 1, *shape_psf[-2:])).astype("float32"),
        "kernel": kernel.astype("float32"),
        "kernel_exposure": rng.uniform(1e8, 2e9, (shape_kernel[0], 1, *shape_kernel[-2:])).astype("float32"),
        "migra": rng.uniform(0.0, 2.0, shape_migra).astype("float32"),
        "migra_exposure": rng.uniform(1e8, 2e9, (shape_migra[0], 1, *shape_migra[-2:])).astype("float32"),
    }


def build_dataset(
    ns,
    seed=0,
    *,
    name="ds",
    edisp="kernel",
    npix=(20, 16),
    skydir=(0.0, 0.0),
    livetime=True,
    gti_start=0.0,
    obs_id=None,
    stat_type="cash",
    nan=False,
):
    """A small dataset with every member (counts, exposure, background, PSF, EDisp, both masks,
    GTI, meta table) in library ``ns``; the same ``seed`` gives the same values in both.

    Parameters
    ----------
    edisp : {"kernel", "migra", None}
        `EDispKernelMap`, `EDispMap` or no energy dispersion.
    npix, skydir : tuple
        Counts image size (0.1° pixels, galactic) and centre; the IRF grid has 0.5° pixels over
        the same area.
    livetime : bool
        Put a livetime in the exposure metadata.
    gti_start : float
        Start (s after 2010-01-01 TT) of the two 100 s GTIs, 200 s apart.
    nan : bool
        Put a NaN in the counts, the exposure and the background.
    """
    energy = ns.MapAxis.from_energy_bounds(1, 10, 4, unit="TeV", name="energy")
    energy_true = ns.MapAxis.from_energy_bounds(0.5, 20, 6, unit="TeV", name="energy_true")
    rad = ns.MapAxis.from_bounds(0, 0.66, 33, unit="deg", name="rad")
    migra = ns.MapAxis.from_bounds(0.2, 5, 12, unit="", name="migra")
    kwargs = {"skydir": skydir, "frame": "galactic"}
    geom = ns.WcsGeom.create(npix=npix, binsz=0.1, axes=[energy], **kwargs)
    irf_image = ns.WcsGeom.create(width=(npix[0] * 0.1, npix[1] * 0.1), binsz=0.5, **kwargs)
    geom_exposure = geom.to_image().to_cube([energy_true])
    geom_psf = irf_image.to_cube([rad, energy_true])
    geom_kernel = irf_image.to_cube([energy, energy_true])
    geom_migra = irf_image.to_cube([migra, energy_true])
    values = _arrays(
        seed,
        geom.data_shape,
        geom_exposure.data_shape,
        geom_psf.data_shape,
        geom_kernel.data_shape,
        geom_migra.data_shape,
    )
    if nan:
        values["counts"][1, 3, 4] = np.nan
        values["exposure"][2, 5, 6] = np.nan
        values["background"][0, 7, 8] = np.inf

    chunks = {"chunks": CHUNKS} if ns is MAPDS else {}

    def make(geom_, data, unit="", counts_grid=True, meta=None):
        extra = chunks if counts_grid else {}
        return ns.Map.from_geom(geom_, data=data.copy(), unit=unit, meta=meta, **extra)

    sigma = np.deg2rad(np.linspace(0.3, 0.1, energy_true.nbin))[:, None]
    theta = np.deg2rad(rad.center.to_value("deg"))[None, :]
    profile = np.exp(-0.5 * (theta / sigma) ** 2) / (2 * np.pi * sigma**2)
    psf_data = (profile[:, :, None, None] * values["psf_scale"]).astype("float32")
    psf = ns.PSFMap(
        make(geom_psf, psf_data, "sr-1", counts_grid=False),
        make(geom_psf.squash("rad"), values["psf_exposure"], "m2 s", counts_grid=False),
    )
    if edisp == "kernel":
        edisp_map = ns.EDispKernelMap(
            make(geom_kernel, values["kernel"], counts_grid=False),
            make(geom_kernel.squash("energy"), values["kernel_exposure"], "m2 s", counts_grid=False),
        )
    elif edisp == "migra":
        edisp_map = ns.EDispMap(
            make(geom_migra, values["migra"], counts_grid=False),
            make(geom_migra.squash("migra"), values["migra_exposure"], "m2 s", counts_grid=False),
        )
    else:
        edisp_map = None

    reference = Time("2010-01-01T00:00:00", scale="tt")
    start = gti_start + np.array([0.0, 200.0])
    gti = ns.GTI.create(start * u.s, (start + 100.0) * u.s, reference_time=reference)
    meta_table = Table(
        {
            "OBS_ID": [seed if obs_id is None else obs_id],
            "TELESCOP": ["CTA"],
            "RA_PNT": u.Quantity([83.6 + seed], "deg"),
        }
    )
    meta = {"livetime": u.Quantity(1000.0 * (seed + 1), "s")} if livetime else None
    return ns.MapDataset(
        counts=make(geom, values["counts"]),
        exposure=make(geom_exposure, values["exposure"], "m2 s", meta=meta),
        background=make(geom, values["background"]),
        psf=psf,
        edisp=edisp_map,
        mask_safe=make(geom, values["mask_safe"]),
        mask_fit=make(geom, values["mask_fit"]),
        gti=gti,
        meta_table=meta_table,
        name=name,
        stat_type=stat_type,
    )


@pytest.fixture(scope="session")
def dataset_pair():
    """``dataset_pair(seed=0, **kwargs)`` -> ``(gammapy dataset, mapds dataset)``, built by
    :func:`build_dataset` from the same values."""

    def factory(seed=0, **kwargs):
        return build_dataset(GAMMAPY, seed, **kwargs), build_dataset(MAPDS, seed, **kwargs)

    return factory


# -- comparisons ----------------------------------------------------------------------------------


def _assert_geom_same(md_geom, gp_geom) -> None:
    assert md_geom.data_shape == gp_geom.data_shape
    assert list(md_geom.axes_names) == list(gp_geom.axes_names)
    for md_axis, gp_axis in zip(md_geom.axes, gp_geom.axes, strict=True):
        np.testing.assert_allclose(md_axis.edges.value, gp_axis.edges.value, rtol=1e-12)
        assert md_axis.edges.unit == gp_axis.edges.unit
        assert md_axis.node_type == gp_axis.node_type
    if gp_geom.is_region:
        assert type(md_geom).__name__ == "RegionGeom"
        assert str(md_geom.region) == str(gp_geom.region)
        return
    for attr in ("crpix", "cdelt", "crval"):
        np.testing.assert_allclose(getattr(md_geom.wcs.wcs, attr), getattr(gp_geom.wcs.wcs, attr), rtol=1e-12)
    assert list(md_geom.wcs.wcs.ctype) == list(gp_geom.wcs.wcs.ctype)


def assert_map_same(md_map, gp_map, rtol=1e-6, atol=0.0, what="map") -> None:
    """Values, dtype, unit and geometry of a mapds map equal gammapy's."""
    assert (md_map is None) == (gp_map is None), what
    if gp_map is None:
        return
    _assert_geom_same(md_map.geom, gp_map.geom)
    values = np.asarray(md_map.data.compute())
    # gammapy keeps the byte order of the file (big-endian): compare the type, not the order
    gp_dtype = gp_map.data.dtype.newbyteorder("=")
    assert values.dtype == gp_dtype, f"{what}: dtype {values.dtype} != {gp_dtype}"
    assert md_map.unit == gp_map.unit, what
    if values.dtype == bool:
        np.testing.assert_array_equal(values, gp_map.data, err_msg=what)
    else:
        np.testing.assert_allclose(values, gp_map.data, rtol=rtol, atol=atol, err_msg=what)


def assert_irf_same(md_irf, gp_irf, rtol=1e-6, what="irf") -> None:
    assert (md_irf is None) == (gp_irf is None), what
    if gp_irf is None:
        return
    assert type(md_irf).__name__ == type(gp_irf).__name__, what
    # fully exposure-weighted IRF pixels are summed in float32 in a different order
    atol = 1e-6 * float(np.abs(gp_irf._irf_map.data).max())
    assert_map_same(md_irf._irf_map, gp_irf._irf_map, rtol=rtol, atol=atol, what=f"{what} map")
    assert_map_same(md_irf.exposure_map, gp_irf.exposure_map, rtol=rtol, what=f"{what} exposure")


def assert_gti_same(md_gti, gp_gti) -> None:
    assert (md_gti is None) == (gp_gti is None)
    if gp_gti is None:
        return
    assert len(md_gti.table) == len(gp_gti.table)
    for attr in ("time_start", "time_stop"):
        md_mjd, gp_mjd = getattr(md_gti, attr).tt.mjd, getattr(gp_gti, attr).tt.mjd
        np.testing.assert_allclose(md_mjd, gp_mjd, rtol=0, atol=1e-9)
    assert abs((md_gti.time_ref - gp_gti.time_ref).to_value("s")) < 1e-6


def assert_table_same(md_table, gp_table) -> None:
    assert (md_table is None) == (gp_table is None)
    if gp_table is None:
        return
    assert md_table.colnames == gp_table.colnames
    assert len(md_table) == len(gp_table)
    for name in gp_table.colnames:
        md_values, gp_values = np.asarray(md_table[name]), np.asarray(gp_table[name])
        assert md_values.shape == gp_values.shape, name
        assert md_values.dtype.kind == gp_values.dtype.kind, name
        np.testing.assert_array_equal(md_values, gp_values, err_msg=name)


def assert_dataset_same(md, gp, rtol=1e-6, check_name=True) -> None:
    """Every member of a mapds dataset equals the gammapy dataset's."""
    assert type(md).__name__ == type(gp).__name__
    if check_name:
        assert md.name == gp.name
    for member in ("counts", "exposure", "background", "mask_safe", "mask_fit"):
        assert_map_same(getattr(md, member), getattr(gp, member), rtol=rtol, what=member)
    assert_irf_same(md.psf, gp.psf, rtol=rtol, what="psf")
    assert_irf_same(md.edisp, gp.edisp, rtol=rtol, what="edisp")
    assert_gti_same(md.gti, gp.gti)
    assert_table_same(md.meta_table, gp.meta_table)
    if gp.exposure is not None:
        gp_livetime = gp.exposure.meta.get("livetime")
        md_livetime = md.exposure.meta.get("livetime")
        assert (md_livetime is None) == (gp_livetime is None)
        if gp_livetime is not None:
            assert u.isclose(md_livetime, gp_livetime, rtol=1e-12)


@pytest.fixture(scope="session")
def assert_same():
    """The comparison functions: ``assert_same.dataset(md, gp)``, ``.map``, ``.irf``, ``.gti``,
    ``.table``."""
    return SimpleNamespace(
        dataset=assert_dataset_same,
        map=assert_map_same,
        irf=assert_irf_same,
        gti=assert_gti_same,
        table=assert_table_same,
    )
