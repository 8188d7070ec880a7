"""Stacking datasets (mapds.datasets.stacking) against gammapy on identical inputs."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from gammapy.datasets import Datasets as GammapyDatasets

from mapds.datasets import Datasets, MapDataset
from mapds.datasets.stacking import hstack_meta_tables, stack_reduce
from mapds.errors import GeometryMismatchError, InvalidArgumentError


def _galactic(lon, lat):
    return SkyCoord(lon, lat, unit="deg", frame="galactic")


def _empty_gti(gti_class):
    reference = Time("2010-01-01T00:00:00", scale="tt")
    return gti_class.create(u.Quantity([], "s"), u.Quantity([], "s"), reference_time=reference)


# -- stack ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
@pytest.mark.parametrize("stat_type", ["cash", "cash_weighted"])
def test_stack(dataset_pair, assert_same, edisp, stat_type):
    gp, md = dataset_pair(seed=1, edisp=edisp, stat_type=stat_type)
    gp_other, md_other = dataset_pair(seed=2, edisp=edisp, nan=True, gti_start=50.0, name="other")
    gp.stack(gp_other)
    md.stack(md_other)
    assert_same.dataset(md, gp)
    assert md.exposure.meta["livetime"] == 5000 * u.s
    # one merged interval per pair of overlapping GTIs; one row of concatenated cells
    assert len(md.gti.table) == 2
    assert md.meta_table["OBS_ID"].shape == (1, 2)


def test_stack_keeps_the_counts_chunks(dataset_pair):
    _, md = dataset_pair(seed=1)
    _, other = dataset_pair(seed=2)
    other = other.copy()
    other.counts = other.counts.rechunk({"x": 5, "y": 4})
    chunks = md.counts.chunks
    md.stack(other)
    for member in ("counts", "background", "mask_safe", "mask_fit"):
        assert getattr(md, member).chunks == chunks, member
    assert md.exposure.chunks[-2:] == chunks[-2:]


@pytest.mark.parametrize(
    ("position", "width"),
    [((0.3, -0.2), 0.8), ((0.95, 0.75), 0.8)],  # inside; at a corner (trimmed)
)
def test_stack_cutout(dataset_pair, assert_same, position, width):
    """An aligned cutout stacks into the part of the parent it covers."""
    gp, md = dataset_pair(seed=3)
    gp_other, md_other = dataset_pair(seed=4, name="other")
    kwargs = {"position": _galactic(*position), "width": width * u.deg, "name": "cut"}
    gp.stack(gp_other.cutout(**kwargs))
    md.stack(md_other.cutout(**kwargs))
    assert_same.dataset(md, gp)


def test_stack_takes_other_mask_fit_onto_its_own_grid(dataset_pair):
    """Without a fit mask of its own, a dataset takes other's, on its own geometry and chunks
    (gammapy copies a cutout's mask as is, leaving the dataset with mismatched geometries)."""
    _, md = dataset_pair(seed=3)
    _, other = dataset_pair(seed=4, name="other")
    md.mask_fit = None
    cut = other.cutout(_galactic(0.3, -0.2), 0.8 * u.deg)
    md.stack(cut)
    assert md.mask_fit.geom == md.counts.geom
    assert md.mask_fit.chunks == md.counts.chunks
    expected = np.zeros(md.counts.data.shape, dtype=bool)
    slices = cut.counts.geom.cutout_slices(md.counts.geom)["parent-slices"]
    expected[(Ellipsis, *slices)] = cut.mask_fit.data.compute()
    np.testing.assert_array_equal(md.mask_fit.data.compute(), expected)


def test_stack_three_datasets_meta_table_and_gti(dataset_pair, assert_same):
    gp, md = dataset_pair(seed=1)
    for seed, start in ((2, 1000.0), (3, 150.0)):
        gp_other, md_other = dataset_pair(seed=seed, gti_start=start, name=f"d{seed}")
        gp.stack(gp_other)
        md.stack(md_other)
    assert_same.dataset(md, gp)
    np.testing.assert_array_equal(md.meta_table["OBS_ID"][0], [1, 2, 3])
    np.testing.assert_array_equal(md.meta_table["TELESCOP"][0], ["CTA"] * 3)


def test_stack_empty_gtis(dataset_pair, assert_same):
    """Two empty GTIs stack into an empty GTI (gammapy 2.1 crashes in ``GTI.union``)."""
    gp, md = dataset_pair(seed=1)
    gp_other, md_other = dataset_pair(seed=2)
    for dataset, other in ((gp, gp_other), (md, md_other)):
        dataset.gti = _empty_gti(type(dataset.gti))
        other.gti = _empty_gti(type(other.gti))
    with pytest.raises(IndexError):
        gp.copy().stack(gp_other)
    md.stack(md_other)
    assert len(md.gti.table) == 0
    md_third = dataset_pair(seed=3)[1]
    md.stack(md_third)
    assert_same.gti(md.gti, md_third.gti.union())


@pytest.mark.parametrize("case", ["no_mask_safe", "empty_mask_safe", "no_livetime_in_self"])
def test_stack_livetime_rules(dataset_pair, assert_same, case):
    gp, md = dataset_pair(seed=1, livetime=case != "no_livetime_in_self")
    gp_other, md_other = dataset_pair(seed=2)
    for other in (gp_other, md_other):
        if case == "no_mask_safe":
            other.mask_safe = None
        elif case == "empty_mask_safe":
            other.mask_safe = type(other.counts).from_geom(other.counts.geom, dtype=bool)
    gp.stack(gp_other)
    md.stack(md_other)
    assert_same.dataset(md, gp)


def test_stack_nan_to_num_false(dataset_pair, assert_same):
    gp, md = dataset_pair(seed=1)
    gp_other, md_other = dataset_pair(seed=2, nan=True)
    gp.stack(gp_other, nan_to_num=False)
    md.stack(md_other, nan_to_num=False)
    assert np.isnan(md.counts.data.compute()).any()
    assert_same.dataset(md, gp)


def test_stack_spectrum_datasets(dataset_pair, assert_same):
    from regions import CircleSkyRegion

    region = CircleSkyRegion(_galactic(0.2, -0.1), 0.35 * u.deg)
    pairs = []
    for seed in (1, 2):
        gp, md = dataset_pair(seed=seed, stat_type="cash_weighted")
        for dataset in (gp, md):
            mask = np.zeros(dataset.counts.data.shape, dtype=bool)
            mask[seed:] = True
            dataset.mask_safe = type(dataset.counts).from_geom(dataset.counts.geom, data=mask)
            dataset.mask_fit = None
        name = f"s{seed}"
        pairs.append((gp.to_spectrum_dataset(region, name=name), md.to_spectrum_dataset(region, name=name)))
    (gp, md), (gp_other, md_other) = pairs
    gp.stack(gp_other)
    md.stack(md_other)
    assert_same.dataset(md, gp)


def _fov_background(dataset, norm, tilt):
    """Attach a FoV background model (norm, tilt) to a gammapy or mapds dataset."""
    if type(dataset).__module__.startswith("gammapy"):
        from gammapy.modeling.models import FoVBackgroundModel, PowerLawNormSpectralModel
    else:
        from mapds.modeling.models import FoVBackgroundModel, PowerLawNormSpectralModel
    spectral = PowerLawNormSpectralModel(norm=norm, tilt=tilt)
    dataset.models = [FoVBackgroundModel(dataset_name=dataset.name, spectral_model=spectral)]


def test_stack_bakes_the_fov_background_models_in(dataset_pair, assert_same):
    """self's and other's FoV models are applied to their backgrounds before the sum."""
    gp, md = dataset_pair(seed=1)
    gp_other, md_other = dataset_pair(seed=2, name="other")
    for dataset, other in ((gp, gp_other), (md, md_other)):
        _fov_background(dataset, 1.3, 0.2)
        _fov_background(other, 0.7, -0.1)
        dataset.stack(other)
    assert md.background.dtype == np.float64
    assert_same.dataset(md, gp)


def test_stack_refreshes_the_statistic(dataset_pair):
    """The statistic after stacking is the stacked dataset's (no stale cached tile sums)."""
    from mapds.modeling.models import GaussianSpatialModel, PowerLawSpectralModel, SkyModel

    def with_models(dataset):
        _fov_background(dataset, 1.2, 0.0)
        spatial = GaussianSpatialModel(lon_0="0.1 deg", lat_0="0 deg", sigma="0.2 deg", frame="galactic")
        dataset.models = [*dataset.models, SkyModel(PowerLawSpectralModel(), spatial, name="src")]
        return dataset

    md = with_models(dataset_pair(seed=1)[1])
    before = md.stat_sum()
    md.stack(dataset_pair(seed=2, name="other")[1])
    after = md.stat_sum()
    fresh = with_models(md.copy(name=md.name))
    assert after != before
    assert after == pytest.approx(fresh.stat_sum(), rel=1e-12)


# -- incompatible geometries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"npix": (20, 16), "skydir": (0.05, 0.0)}, "not aligned"),  # shifted by half a pixel
        ({"npix": (24, 16), "skydir": (3.0, 0.0)}, "not aligned|overlap|cutout"),  # not a cutout
    ],
)
def test_stack_incompatible_geometry(dataset_pair, kwargs, match):
    _, md = dataset_pair(seed=1)
    _, other = dataset_pair(seed=2, name="other", **kwargs)
    counts = md.counts
    with pytest.raises(GeometryMismatchError, match=match) as info:
        md.stack(other)
    assert "'other'" in str(info.value) and "'ds'" in str(info.value)
    assert md.counts is counts  # left unchanged


def test_stack_different_energy_axes(dataset_pair):
    _, md = dataset_pair(seed=1)
    _, other = dataset_pair(seed=2)
    other = other.slice_by_idx({"energy": slice(0, 3)}, name="other")
    with pytest.raises(GeometryMismatchError, match="non-spatial axes differ"):
        md.stack(other)


# -- to_masked ------------------------------------------------------------------------------------


@pytest.mark.parametrize("edisp", ["kernel", "migra"])
def test_to_masked(dataset_pair, assert_same, edisp):
    gp, md = dataset_pair(seed=5, edisp=edisp, nan=True)
    masked = md.to_masked(name="m")
    assert_same.dataset(masked, gp.to_masked(name="m"))
    assert masked.models is None
    assert masked.counts.chunks == md.counts.chunks


def test_apply_mask_safe_is_a_deprecated_alias(dataset_pair, assert_same):
    gp, md = dataset_pair(seed=5)
    with pytest.warns(DeprecationWarning, match="to_masked"):
        masked = md.apply_mask_safe(name="m")
    assert_same.dataset(masked, gp.to_masked(name="m"))


# -- laziness -------------------------------------------------------------------------------------


def test_stack_builds_graphs_only(dataset_pair, raise_if_dask_computes):
    _, md = dataset_pair(seed=1)
    _, other = dataset_pair(seed=2, livetime=False)
    with raise_if_dask_computes():
        md.stack(other)
        other.to_masked()
    # the livetime rule needs one boolean reduction of other's safe mask, nothing more
    _, with_livetime = dataset_pair(seed=3)
    with raise_if_dask_computes(max_computes=1):
        md.stack(with_livetime)
    with raise_if_dask_computes(max_computes=1):
        with_livetime.to_masked()


def test_stack_reduce_computes_only_the_livetime_flags(dataset_pair, raise_if_dask_computes):
    datasets = [dataset_pair(seed=seed, name=f"d{seed}")[1] for seed in range(5)]
    with raise_if_dask_computes(max_computes=1):
        stacked = stack_reduce(datasets)
    for member in ("counts", "exposure", "background", "mask_safe"):
        assert hasattr(getattr(stacked, member).data, "dask")


# -- stack_reduce ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5])
def test_stack_reduce(dataset_pair, assert_same, n):
    """gammapy's ``to_masked`` + sequential ``stack``, with the same float additions in the same
    order: the maps are equal bit for bit."""
    gp_list, md_list = zip(
        *(dataset_pair(seed=s, name=f"d{s}", gti_start=300.0 * s, nan=s == 2) for s in range(n)),
        strict=True,
    )
    gp = GammapyDatasets(list(gp_list)).stack_reduce(name="stacked")
    md = Datasets(list(md_list)).stack_reduce(name="stacked")
    assert_same.dataset(md, gp)
    for member in ("counts", "background", "exposure"):
        np.testing.assert_array_equal(np.asarray(getattr(md, member).data), getattr(gp, member).data)
    np.testing.assert_array_equal(np.asarray(md.psf.irf_map.data), gp.psf.psf_map.data)
    np.testing.assert_array_equal(np.asarray(md.edisp.irf_map.data), gp.edisp.edisp_map.data)


def test_stack_reduce_fuses_each_addition_with_the_reads_of_its_dataset(dataset_pair, tmp_path):
    """Each dataset's graph is stacked under its own annotation, so dask fuses the reads of its
    chunks into the addition that uses them, and never the chain of additions (which would read
    every dataset's chunk in one task)."""
    paths, in_memory = [], []
    for seed in range(3):
        paths.append(tmp_path / f"d{seed}.zarr")
        in_memory.append(dataset_pair(seed=seed, name=f"d{seed}")[1])
        in_memory[-1].write(paths[-1], format="zarr")
    datasets = [MapDataset.read(path, format="zarr") for path in paths]
    stacked = stack_reduce(datasets)
    layers = stacked.background.data.dask.layers
    for step, dataset in enumerate(datasets):
        read = dataset.background.data.name
        assert layers[read].annotations == {"mapds_stack_step": step}
    steps = {layer.annotations["mapds_stack_step"] for layer in layers.values() if layer.annotations}
    assert steps == {0, 1, 2}
    expected = stack_reduce(in_memory).background.data
    np.testing.assert_array_equal(np.asarray(stacked.background.data), np.asarray(expected))


def test_stack_reduce_with_fov_background_models(dataset_pair, assert_same):
    gp_list, md_list = [], []
    for seed in range(3):
        gp, md = dataset_pair(seed=seed, name=f"d{seed}")
        for dataset in (gp, md):
            _fov_background(dataset, 1.0 + 0.1 * seed, 0.05 * seed)
        gp_list.append(gp)
        md_list.append(md)
    assert_same.dataset(
        Datasets(md_list).stack_reduce(name="s"), GammapyDatasets(gp_list).stack_reduce(name="s")
    )


def test_stack_reduce_with_cutouts(dataset_pair, assert_same):
    """Datasets that are aligned cutouts of the first one are added where they lie."""
    kwargs = [((0.3, -0.2), 0.8), ((0.95, 0.75), 0.8), ((-0.5, 0.1), 1.0)]
    gp_list, md_list = [], []
    for seed in range(4):
        gp, md = dataset_pair(seed=seed, name=f"d{seed}")
        if seed:
            position, width = kwargs[seed - 1]
            cut = {"position": _galactic(*position), "width": width * u.deg, "name": f"c{seed}"}
            gp, md = gp.cutout(**cut), md.cutout(**cut)
        gp_list.append(gp)
        md_list.append(md)
    assert_same.dataset(
        stack_reduce(md_list, name="stacked"), GammapyDatasets(gp_list).stack_reduce(name="stacked")
    )


def test_stack_reduce_errors(dataset_pair):
    from mapds.datasets import SpectrumDataset

    _, md = dataset_pair(seed=1)
    with pytest.raises(InvalidArgumentError, match="at least one"):
        stack_reduce([])
    other = SpectrumDataset(name="spectrum")
    with pytest.raises(InvalidArgumentError, match="unique type"):
        stack_reduce([md, other])


# -- meta tables ----------------------------------------------------------------------------------


def test_hstack_meta_tables_rules():
    first = Table({"OBS_ID": [1], "X": u.Quantity([1.5], "deg")})
    second = Table({"OBS_ID": [2], "X": [2.5], "EXTRA": [0]})
    stacked = hstack_meta_tables(first, second)
    assert stacked.colnames == ["OBS_ID", "X"]  # the first table's columns
    np.testing.assert_array_equal(stacked["X"][0], [1.5, 2.5])
    assert stacked["X"].unit is None
    assert hstack_meta_tables(None, second) is not second
    assert hstack_meta_tables(first, Table()) is first
    with pytest.raises(InvalidArgumentError, match="EXTRA"):
        hstack_meta_tables(second, first)


# -- real data ------------------------------------------------------------------------------------


def test_fermi_crab_dataset_with_its_empty_gti(crab_dir, assert_same):
    """The gammapy-written Fermi-LAT Crab dataset has an empty GTI: gammapy cannot mask or stack
    it; mapds does, and the maps equal gammapy's once the GTI is taken away from gammapy."""
    from gammapy.datasets import MapDataset as GammapyMapDataset

    from mapds.datasets import MapDataset

    path = crab_dir / "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
    gp, md = GammapyMapDataset.read(path, name="crab"), MapDataset.read(path, name="crab")
    assert len(md.gti.table) == 0
    with pytest.raises(IndexError):
        gp.to_masked()
    masked = md.to_masked(name="m")
    masked.stack(md)
    assert len(masked.gti.table) == 0
    gp.gti = None
    gp_masked = gp.to_masked(name="m")
    gp_masked.stack(gp)
    assert_same.dataset(masked, gp_masked)  # both GTIs empty, on the 2000-01-01 reference


def _with_reco_psf(dataset, sigma_deg):
    """``dataset`` with a Gaussian `RecoPSFMap` of width ``sigma_deg`` per reco-energy bin."""
    import mapds.irf

    energy = dataset.counts.geom.axes["energy"]
    image = dataset.psf.psf_map.geom.to_image()
    dataset.psf = mapds.irf.RecoPSFMap.from_gauss(energy, sigma=sigma_deg * u.deg, geom=image)
    return dataset


def test_stack_and_stack_reduce_with_reco_psf_maps():
    """gammapy 2.1 cannot stack datasets with a `RecoPSFMap`; mapds takes the exposure-weighted
    mean per reco-energy bin, as for every IRF map (weights: the other dataset's safe mask)."""
    from mapds.testing import MAPDS, build_dataset

    sigma = [0.3, 0.25, 0.2, 0.15]
    first = _with_reco_psf(build_dataset(MAPDS, 0), sigma)
    second = _with_reco_psf(build_dataset(MAPDS, 1, gti_start=1000.0), [2 * s for s in sigma])
    second.psf.exposure_map.data = second.psf.exposure_map.data * 3.0
    psf_1, psf_2 = (np.asarray(d.psf.psf_map.data) for d in (first, second))
    exposure_1, exposure_2 = (np.asarray(d.psf.exposure_map.data) for d in (first, second))
    weights = np.asarray(second.mask_safe_psf.data).astype(float)

    reduced = Datasets([first.copy(name="a"), second.copy(name="b")]).stack_reduce()
    first.stack(second)
    expected = (psf_1 * exposure_1 + psf_2 * exposure_2 * weights) / (exposure_1 + exposure_2 * weights)
    for stacked in (first, reduced):
        assert type(stacked.psf).__name__ == "RecoPSFMap"
        np.testing.assert_allclose(np.asarray(stacked.psf.psf_map.data), expected, rtol=1e-6)
        assert np.isfinite(np.asarray(stacked.npred().data)).all()
