"""Geometry-changing dataset methods (mapds.datasets.reshape) against gammapy on identical inputs."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, RectangleSkyRegion

from mapds.errors import AxisError, GeometryError, GeometryMismatchError, InvalidArgumentError, IRFError


def _galactic(lon, lat):
    return SkyCoord(lon, lat, unit="deg", frame="galactic")


# -- cutout ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
@pytest.mark.parametrize(
    ("position", "width", "mode"),
    [
        ((0.0, 0.0), 1.0, "trim"),
        ((0.05, -0.05), (1.2, 0.6), "strict"),
        ((0.95, 0.75), 0.8, "trim"),  # corner: cut by the map edges
        ((0.95, 0.75), 0.8, "partial"),  # corner: filled with zeros / False outside
        ((-0.98, 0.0), 0.5, "partial"),
    ],
)
def test_cutout(dataset_pair, assert_same, edisp, position, width, mode):
    gp, md = dataset_pair(seed=1, edisp=edisp)
    kwargs = {"position": _galactic(*position), "width": u.Quantity(width, "deg"), "mode": mode}
    assert_same.dataset(md.cutout(name="cut", **kwargs), gp.cutout(name="cut", **kwargs))


def test_cutout_strict_outside_is_a_geometry_error(dataset_pair):
    _, md = dataset_pair()
    with pytest.raises(GeometryError, match="strict"):
        md.cutout(_galactic(0.95, 0.75), 0.8 * u.deg, mode="strict")


def test_cutout_of_a_non_cash_dataset_drops_the_background(dataset_pair, assert_same):
    gp, md = dataset_pair(stat_type="cash_weighted")
    kwargs = {"position": _galactic(0.2, 0.1), "width": 0.6 * u.deg, "name": "cut"}
    cut = md.cutout(**kwargs)
    assert cut.background is None
    assert_same.dataset(cut, gp.cutout(**kwargs))


# -- pad ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pad_width", [2, (3, 1)])
def test_pad_constant(dataset_pair, assert_same, pad_width):
    gp, md = dataset_pair(seed=2)
    assert_same.dataset(md.pad(pad_width, name="p"), gp.pad(pad_width, name="p"))


@pytest.mark.parametrize("mode", ["edge", "reflect", "wrap"])
def test_pad_mode_applies_to_the_exposure(dataset_pair, assert_same, mode):
    """counts, background and masks as gammapy (zeros); exposure padded with ``mode``, which gammapy
    2.1 ignores (its exposure is padded with zeros)."""
    gp, md = dataset_pair(seed=2)
    gp_padded, md_padded = gp.pad(2, mode=mode, name="p"), md.pad(2, mode=mode, name="p")
    for member in ("counts", "background", "mask_safe", "mask_fit"):
        assert_same.map(getattr(md_padded, member), getattr(gp_padded, member), what=member)
    assert_same.irf(md_padded.psf, gp_padded.psf)
    assert_same.irf(md_padded.edisp, gp_padded.edisp)
    exposure = md_padded.exposure
    assert exposure.geom.data_shape == gp_padded.exposure.geom.data_shape
    np.testing.assert_allclose(exposure.geom.wcs.wcs.crpix, gp_padded.exposure.geom.wcs.wcs.crpix)
    expected = np.pad(gp.exposure.data, [(0, 0), (2, 2), (2, 2)], mode=mode)
    np.testing.assert_array_equal(exposure.data.compute(), expected)
    assert not np.any(gp_padded.exposure.data[:, :2, :])  # gammapy 2.1: zeros whatever the mode


# -- downsample -----------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
@pytest.mark.parametrize("factor", [2, 4])
def test_downsample_spatial(dataset_pair, assert_same, edisp, factor):
    gp, md = dataset_pair(seed=3, edisp=edisp, nan=True)
    assert_same.dataset(md.downsample(factor, name="d"), gp.downsample(factor, name="d"))


def test_downsample_energy(dataset_pair, assert_same):
    gp, md = dataset_pair(seed=3)
    assert_same.dataset(
        md.downsample(2, axis_name="energy", name="d"), gp.downsample(2, axis_name="energy", name="d")
    )


def test_downsample_needs_a_divisible_size(dataset_pair):
    _, md = dataset_pair()
    with pytest.raises(GeometryMismatchError, match="divisible"):
        md.downsample(3)
    with pytest.raises(AxisError, match="divisible"):
        md.downsample(3, axis_name="energy")


# -- energy axis ----------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra", None])
def test_resample_energy_axis(dataset_pair, assert_same, edisp):
    gp, md = dataset_pair(seed=4, edisp=edisp)
    edges = gp.counts.geom.axes["energy"].edges[[0, 1, 4]]
    gp_axis = type(gp.counts.geom.axes["energy"]).from_energy_edges(edges)
    md_axis = type(md.counts.geom.axes["energy"]).from_energy_edges(edges)
    resampled = md.resample_energy_axis(md_axis, name="r")
    assert_same.dataset(resampled, gp.resample_energy_axis(gp_axis, name="r"))
    assert resampled.exposure is md.exposure and resampled.psf is md.psf


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
def test_to_image(dataset_pair, assert_same, edisp):
    gp, md = dataset_pair(seed=5, edisp=edisp)
    image = md.to_image(name="i")
    assert_same.dataset(image, gp.to_image(name="i"))
    assert image.counts.geom.data_shape == (1, 16, 20)
    assert image.exposure.geom.data_shape == (6, 16, 20)


@pytest.mark.parametrize(
    "slices",
    [
        {"energy": slice(1, 3)},
        {"energy_true": slice(2, 5)},
        {"energy": slice(0, 2), "energy_true": slice(1, 6)},
        {"rad": slice(0, 20)},
    ],
)
def test_slice_by_idx(dataset_pair, assert_same, slices):
    gp, md = dataset_pair(seed=6)
    assert_same.dataset(md.slice_by_idx(slices, name="s"), gp.slice_by_idx(slices, name="s"))


def test_slice_by_idx_names_unknown_axes(dataset_pair):
    _, md = dataset_pair()
    with pytest.raises(InvalidArgumentError, match="foo"):
        md.slice_by_idx({"foo": slice(0, 1)})


@pytest.mark.parametrize(
    ("energy_min", "energy_max"),
    [
        (None, None),
        (1.5 * u.TeV, 7 * u.TeV),  # snapped to the nearest edges (1.78 and 5.62 TeV)
        (1.2 * u.TeV, None),
        (None, 3 * u.TeV),
        (0.5 * u.TeV, 30 * u.TeV),  # beyond the axis: clipped
        ("2 TeV", "8000 GeV"),
    ],
)
def test_slice_by_energy(dataset_pair, assert_same, energy_min, energy_max):
    gp, md = dataset_pair(seed=7)
    assert_same.dataset(
        md.slice_by_energy(energy_min, energy_max, name="e"),
        gp.slice_by_energy(energy_min, energy_max, name="e"),
    )


def test_slice_by_energy_without_overlap(dataset_pair):
    _, md = dataset_pair()
    with pytest.raises(AxisError, match="No overlap"):
        md.slice_by_energy(2.0 * u.TeV, 2.1 * u.TeV)


# -- regions and spectra --------------------------------------------------------------------------


def _uniform_masks(gp, md):
    """Safe masks that depend on energy only (the region reductions require spatially uniform
    masks) and no fit mask."""
    mask = np.zeros(gp.counts.data.shape, dtype=bool)
    mask[1:] = True
    for dataset in (gp, md):
        dataset.mask_safe = type(dataset.counts).from_geom(dataset.counts.geom, data=mask.copy())
        dataset.mask_fit = None


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
def test_to_region_map_dataset(dataset_pair, assert_same, edisp):
    gp, md = dataset_pair(seed=8, edisp=edisp)
    _uniform_masks(gp, md)
    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    region_dataset = md.to_region_map_dataset(region, name="r")
    assert_same.dataset(region_dataset, gp.to_region_map_dataset(region, name="r"))
    assert region_dataset.counts.geom.data_shape == (4, 1, 1)


def test_to_region_map_dataset_applies_the_fov_background_model(dataset_pair, assert_same):
    from gammapy.modeling.models import FoVBackgroundModel as GammapyFoV
    from gammapy.modeling.models import PowerLawNormSpectralModel as GammapyNorm

    from mapds.modeling.models import FoVBackgroundModel, PowerLawNormSpectralModel

    gp, md = dataset_pair(seed=8)
    _uniform_masks(gp, md)
    gp.models = [GammapyFoV(dataset_name="ds", spectral_model=GammapyNorm(norm=1.4, tilt=0.3))]
    md.models = [
        FoVBackgroundModel(dataset_name="ds", spectral_model=PowerLawNormSpectralModel(norm=1.4, tilt=0.3))
    ]
    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    assert_same.dataset(
        md.to_region_map_dataset(region, name="r"), gp.to_region_map_dataset(region, name="r")
    )


def test_to_region_map_dataset_region_outside(dataset_pair):
    _, md = dataset_pair()
    region = CircleSkyRegion(_galactic(0.9, 0.0), 0.35 * u.deg)
    with pytest.raises(GeometryError, match="fully contained"):
        md.to_region_map_dataset(region)


def test_to_region_map_dataset_non_uniform_mask_raises_on_compute(dataset_pair, raise_if_dask_computes):
    gp, md = dataset_pair(seed=8)
    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    with pytest.raises(Exception, match="spatially uniform"):
        gp.to_region_map_dataset(region)
    with raise_if_dask_computes():
        region_dataset = md.to_region_map_dataset(region)
    with pytest.raises(GeometryError, match="spatially uniform"):
        region_dataset.counts.data.compute()


@pytest.mark.parametrize("containment_correction", [False, True])
@pytest.mark.parametrize("stat_type", ["cash", "cash_weighted"])
def test_to_spectrum_dataset(dataset_pair, assert_same, containment_correction, stat_type):
    gp, md = dataset_pair(seed=9, stat_type=stat_type)
    _uniform_masks(gp, md)
    region = CircleSkyRegion(_galactic(-0.3, 0.2), 0.25 * u.deg)
    kwargs = {"containment_correction": containment_correction, "name": "spec"}
    spectrum = md.to_spectrum_dataset(region, **kwargs)
    assert_same.dataset(spectrum, gp.to_spectrum_dataset(region, **kwargs))
    assert spectrum.psf is None
    assert (spectrum.background is None) == (stat_type != "cash")


@pytest.mark.parametrize(
    "operation",
    [
        lambda d: d.downsample(2, axis_name="energy", name="x"),
        lambda d: d.resample_energy_axis(
            type(d.counts.geom.axes["energy"]).from_energy_edges(
                d.counts.geom.axes["energy"].edges[[0, 2, 4]]
            ),
            name="x",
        ),
        lambda d: d.slice_by_energy(1.5 * u.TeV, 7 * u.TeV, name="x"),
        lambda d: d.slice_by_idx({"energy_true": slice(1, 4)}, name="x"),
        lambda d: d.to_image(name="x"),
    ],
    ids=["downsample_energy", "resample_energy_axis", "slice_by_energy", "slice_by_idx", "to_image"],
)
def test_spectrum_dataset_methods(dataset_pair, assert_same, operation):
    """The energy operations work on spectrum datasets (region maps) as in gammapy."""
    gp, md = dataset_pair(seed=9)
    _uniform_masks(gp, md)
    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    gp_spectrum, md_spectrum = gp.to_spectrum_dataset(region), md.to_spectrum_dataset(region)
    assert_same.dataset(operation(md_spectrum), operation(gp_spectrum))


def test_to_spectrum_dataset_containment_needs_circle_and_psf(dataset_pair):
    gp, md = dataset_pair()
    _uniform_masks(gp, md)
    box = RectangleSkyRegion(_galactic(0, 0), 0.4 * u.deg, 0.4 * u.deg)
    with pytest.raises(InvalidArgumentError, match="CircleSkyRegion"):
        md.to_spectrum_dataset(box, containment_correction=True)
    md.psf = None
    with pytest.raises(IRFError, match="No PSFMap"):
        md.to_spectrum_dataset(CircleSkyRegion(_galactic(0, 0), 0.2 * u.deg), containment_correction=True)


# -- what every method shares ---------------------------------------------------------------------


def _operations(md):
    energy = md.counts.geom.axes["energy"]
    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    return {
        "cutout": lambda: md.cutout(_galactic(0.95, 0.75), 0.8 * u.deg, mode="partial"),
        "pad": lambda: md.pad(2, mode="edge"),
        "downsample": lambda: md.downsample(2),
        "downsample_energy": lambda: md.downsample(2, axis_name="energy"),
        "resample_energy_axis": lambda: md.resample_energy_axis(energy.squash()),
        "slice_by_idx": lambda: md.slice_by_idx({"energy": slice(1, 3), "energy_true": slice(0, 2)}),
        "slice_by_energy": lambda: md.slice_by_energy(1.5 * u.TeV, 7 * u.TeV),
        "to_image": md.to_image,
        "to_region_map_dataset": lambda: md.to_region_map_dataset(region),
        "to_spectrum_dataset": lambda: md.to_spectrum_dataset(region, containment_correction=True),
    }


@pytest.mark.parametrize(
    "operation",
    [
        "cutout",
        "pad",
        "downsample",
        "downsample_energy",
        "resample_energy_axis",
        "slice_by_idx",
        "slice_by_energy",
        "to_image",
        "to_region_map_dataset",
        "to_spectrum_dataset",
    ],
)
def test_new_dataset_is_lazy_and_shares_gti_and_meta_table(dataset_pair, raise_if_dask_computes, operation):
    gp, md = dataset_pair(seed=10)
    _uniform_masks(gp, md)
    md.models = []
    with raise_if_dask_computes():
        new = _operations(md)[operation]()
    assert new.name != md.name and len(new.name) == 8
    assert new.gti is md.gti and new.meta_table is md.meta_table
    assert new.models is None
    for member in ("counts", "exposure", "background", "mask_safe"):
        value = getattr(new, member)
        assert value is None or hasattr(value.data, "dask")


def test_cutout_of_a_file_reads_only_the_cutout(tmp_path, counting_fs):
    from mapds.datasets import MapDataset
    from mapds.geom import MapAxis, WcsGeom

    energy = MapAxis.from_energy_bounds(1, 10, 4, unit="TeV")
    geom = WcsGeom.create(npix=(400, 300), binsz=0.02, axes=[energy], frame="galactic")
    dataset = MapDataset.create(geom, name="big", binsz_irf=1.0 * u.deg)
    dataset.counts = dataset.counts + 1
    path = tmp_path / "big.fits"
    dataset.write(path)
    opened = MapDataset.read(f"countfile://{path}")
    cut = opened.cutout(_galactic(0, 0), 0.2 * u.deg)
    counting_fs.reset()
    counts = cut.counts.data.compute()
    assert counts.shape == (4, 10, 10) and np.all(counts == 1)
    cutout_bytes = counts.size * 4
    assert cutout_bytes <= counting_fs.bytes_read <= 4 * cutout_bytes  # the image is 1200 times larger


# -- real data ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation",
    [
        lambda d: d.cutout(SkyCoord(83.63, 22.01, unit="deg"), 3 * u.deg, name="x"),
        lambda d: d.cutout(SkyCoord(83.63, 22.01, unit="deg"), 6 * u.deg, mode="partial", name="x"),
        lambda d: d.downsample(2, name="x"),
        lambda d: d.to_image(name="x"),
        lambda d: d.slice_by_energy(20 * u.GeV, 200 * u.GeV, name="x"),
        lambda d: d.to_spectrum_dataset(
            CircleSkyRegion(SkyCoord(83.63, 22.01, unit="deg"), 0.5 * u.deg),
            containment_correction=True,
            name="x",
        ),
    ],
    ids=["cutout", "cutout_partial", "downsample", "to_image", "slice_by_energy", "to_spectrum_dataset"],
)
def test_fermi_crab_dataset(crab_dir, assert_same, operation):
    """The Fermi-LAT 3FHL Crab dataset written by gammapy, transformed by both libraries."""
    from gammapy.datasets import MapDataset as GammapyMapDataset

    from mapds.datasets import MapDataset

    path = crab_dir / "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
    gp, md = GammapyMapDataset.read(path, name="crab"), MapDataset.read(path, name="crab")
    assert_same.dataset(operation(md), operation(gp))


# -- rechunk --------------------------------------------------------------------------------------


def test_rechunk_keeps_everything_but_the_chunks(dataset_pair):
    """Same name, models, values and statistic; the counts-grid maps in the asked chunks (the
    exposure too, on its sky grid); nothing computed."""
    from mapds.modeling.models import FoVBackgroundModel
    from mapds.testing import raise_if_dask_computes

    _, md = dataset_pair(seed=2)
    model = FoVBackgroundModel(dataset_name=md.name)
    model.spectral_model.norm.value = 1.2
    md.models = [model]
    md.meta["origin"] = "test"
    with raise_if_dask_computes():
        tiled = md.rechunk({"y": 7, "x": 5})
    assert tiled.name == md.name and tiled.models[0] is model and tiled.meta == md.meta
    assert tiled.stat_type == md.stat_type and tiled.psf is md.psf and tiled.edisp is md.edisp
    for name in ("counts", "background", "exposure", "mask_safe"):
        assert max(tiled_chunks := getattr(tiled, name).dask_data.chunks[-2]) <= 7, name
        assert max(getattr(tiled, name).dask_data.chunks[-1]) <= 5, (name, tiled_chunks)
        np.testing.assert_array_equal(
            np.asarray(getattr(tiled, name).data), np.asarray(getattr(md, name).data)
        )
    np.testing.assert_allclose(np.asarray(tiled.npred().data), np.asarray(md.npred().data), rtol=1e-12)
    assert tiled.stat_sum() == pytest.approx(md.stat_sum(), rel=1e-12)
