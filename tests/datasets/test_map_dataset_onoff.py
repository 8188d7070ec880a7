"""MapDatasetOnOff and WStat against gammapy 2.1 on identical inputs, laziness, files, stacking."""

from __future__ import annotations

import warnings

import astropy.units as u
import dask
import gammapy.datasets
import gammapy.stats
import numpy as np
import pytest
from astropy.io import fits

from mapds.datasets import Datasets, MapDataset, MapDatasetOnOff
from mapds.errors import (
    CorruptFileError,
    GeometryMismatchError,
    InvalidArgumentError,
    MapdsError,
    NegativeCountsError,
)
from mapds.maps import Map
from mapds.stats import WStatCountsStatistic, wstat, wstat_mu_bkg, wstat_sum, wstat_sum_blocks
from mapds.testing import build_onoff_dataset, raise_if_dask_computes

from .sky_models import models

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

ONOFF_HDUS = ["COUNTS_OFF", "COUNTS_OFF_BANDS", "ACCEPTANCE", "ACCEPTANCE_BANDS", "ACCEPTANCE_OFF",
              "ACCEPTANCE_OFF_BANDS"]  # fmt: skip


def _pair(seed=0, names=None, **kwargs):
    gp = build_onoff_dataset("gammapy", seed, **kwargs)
    md = build_onoff_dataset("mapds", seed, **kwargs)
    if names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.models = models("gammapy", names)
        md.models = models("mapds", names)
    return gp, md


def _assert_close(actual, expected, rtol, what="", atol_scale=0.0):
    """Equal NaNs and ``rtol``, plus an absolute tolerance of ``atol_scale`` × the largest value."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    finite = np.isfinite(expected)
    atol = atol_scale * np.max(np.abs(expected[finite])) if finite.any() else 0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# -- the statistic as pure functions ----------------------------------------------------------------


def _special_cases():
    rng = np.random.default_rng(5)
    n = 2000
    n_on = rng.poisson(4, n).astype("float32")
    n_off = rng.poisson(20, n).astype("float32")
    alpha = rng.uniform(0.02, 0.5, n).astype("float32")
    mu_sig = rng.uniform(-1.5, 8, n)
    n_on[:100] = 0
    n_off[50:150] = 0
    mu_sig[120:250] = 0
    alpha[300:320] = 0
    return n_on, n_off, alpha, mu_sig


def test_wstat_matches_gammapy_with_its_special_cases():
    """n_on = 0, n_off = 0, mu_sig = 0 (and alpha = 0, giving NaN) as gammapy, to 1e-12."""
    n_on, n_off, alpha, mu_sig = _special_cases()
    for extra_terms in (True, False):
        expected = gammapy.stats.wstat(n_on, n_off, alpha, mu_sig, extra_terms=extra_terms)
        _assert_close(wstat(n_on, n_off, alpha, mu_sig, extra_terms=extra_terms), expected, 1e-12)
    expected = gammapy.stats.get_wstat_mu_bkg(n_on, n_off, alpha, mu_sig)
    _assert_close(wstat_mu_bkg(n_on, n_off, alpha, mu_sig), expected, 1e-12)
    np.testing.assert_allclose(
        wstat_sum(n_on, n_off, alpha, mu_sig, mu_sig > 0),
        np.nan_to_num(gammapy.stats.wstat(n_on, n_off, alpha, mu_sig))[mu_sig > 0].sum(),
        rtol=1e-12,
    )


def test_wstat_sum_blocks_is_lazy_and_equals_the_sum():
    import dask.array as da

    arrays = [da.from_array(a.reshape(40, 50), chunks=(16, 16)) for a in _special_cases()]
    mask = da.from_array(np.arange(2000).reshape(40, 50) % 3 > 0, chunks=(16, 16))
    with raise_if_dask_computes():
        total = wstat_sum_blocks(*arrays, mask)
    expected = wstat_sum(*(np.asarray(a) for a in arrays), np.asarray(mask))
    assert float(total.compute()) == pytest.approx(expected, rel=1e-13)


def test_wstat_counts_statistic_matches_gammapy():
    """Closed forms to 1e-12; the roots gammapy finds with brentq (per bin) to 1e-6, found here
    by bisection for all bins at once; NaN and the errn fallback in the same bins."""
    rng = np.random.default_rng(7)
    n = 300
    n_on = rng.poisson(6, n).astype("float32")
    n_off = rng.poisson(25, n).astype("float32")
    alpha = rng.uniform(0.05, 0.5, n).astype("float32")
    mu_sig = rng.uniform(0, 3, n)
    n_on[:15], n_off[10:25], alpha[30:35], alpha[35:40] = 0, 0, np.nan, 0
    for mu in (None, mu_sig):
        expected, result = (
            gammapy.stats.WStatCountsStatistic(n_on, n_off, alpha, mu),
            WStatCountsStatistic(n_on, n_off, alpha, mu),
        )
        for name in ("n_bkg", "n_sig", "error", "stat_null", "stat_max", "ts", "sqrt_ts"):
            _assert_close(getattr(result, name), getattr(expected, name), 1e-12, name)
        _assert_close(result.compute_errn(1), expected.compute_errn(1), 1e-6, "errn")
        _assert_close(result.compute_errp(2), expected.compute_errp(2), 1e-6, "errp")
        _assert_close(result.compute_upper_limit(3), expected.compute_upper_limit(3), 1e-6, "ul")
    expected = gammapy.stats.WStatCountsStatistic(n_on, n_off, alpha)
    result = WStatCountsStatistic(n_on, n_off, alpha)
    _assert_close(result.n_sig_matching_significance(5), expected.n_sig_matching_significance(5), 1e-6)


# -- the dataset ------------------------------------------------------------------------------------


def test_building_and_the_statistic_graph_compute_nothing():
    with raise_if_dask_computes():
        md = build_onoff_dataset("mapds", 0)
        md.models = models("mapds", ["point"])
        for value in (md.alpha, md.background, md.npred_background(), md.npred(), md.npred_off()):
            assert hasattr(value.data, "dask")
        assert hasattr(md.stat_array(), "dask")
        assert hasattr(md.stat_sum(compute=False), "dask")
        empty = MapDatasetOnOff.create(md.counts.geom, chunks={"x": 8, "y": 8})
        MapDatasetOnOff.from_map_dataset(md.to_map_dataset(), acceptance=1, acceptance_off=5)
    assert md.stat_type == "wstat"
    assert empty.counts_off.chunks == empty.counts.chunks


@pytest.mark.parametrize("names", [None, ["point", "gauss"]], ids=["no-model", "models"])
def test_members_and_statistic_match_gammapy(names):
    gp, md = _pair(names=names)
    # without models everything agrees to 1e-10; gammapy convolves model images in float32,
    # which moves each bin's signal by ~1e-7 of the largest one
    rtol, atol_scale = (1e-10, 0.0) if names is None else (1e-6, 1e-6)
    for name in ("alpha", "background"):
        _assert_close(getattr(md, name).data, getattr(gp, name).data, 0, name)
        assert getattr(md, name).data.dtype == getattr(gp, name).data.dtype
    for name in ("npred_background", "npred_off", "npred", "npred_signal"):
        _assert_close(getattr(md, name)().data, getattr(gp, name)().data, rtol, name, atol_scale)
    _assert_close(md.stat_array(), gp.stat_array(), rtol, "stat_array", atol_scale)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-12 if names is None else 1e-7)
    assert float(md.stat_sum(compute=False).compute()) == pytest.approx(md.stat_sum(), rel=1e-13)


def test_alpha_with_zero_acceptance_off_is_gammapy_nan_to_num():
    gp, md = _pair()
    alpha = np.asarray(md.alpha.data)
    assert alpha[0, 3, 3] == 0  # 0 / 0
    assert alpha[0, 2, 2] == np.finfo(np.float32).max  # x / 0
    np.testing.assert_array_equal(alpha, gp.alpha.data)


def test_from_geoms_and_create_match_gammapy():
    gp, md = _pair()
    kwargs = {"name": "e", "reference_time": "2010-01-01"}
    for method in ("from_geoms", "create"):
        args = (gp.counts.geom,) if method == "create" else ()
        gp_empty = getattr(gammapy.datasets.MapDatasetOnOff, method)(
            *args, **(gp.geoms if not args else {}), **kwargs
        )
        args = (md.counts.geom,) if method == "create" else ()
        md_empty = getattr(MapDatasetOnOff, method)(*args, **(md.geoms if not args else {}), **kwargs)
        assert md_empty.name == gp_empty.name == "e"
        for member in ("counts", "counts_off", "acceptance", "acceptance_off", "mask_safe", "exposure"):
            expected, actual = getattr(gp_empty, member), getattr(md_empty, member)
            assert actual.geom.data_shape == expected.geom.data_shape, member
            assert actual.dtype == expected.data.dtype, member
            np.testing.assert_array_equal(np.asarray(actual.data), expected.data)


def test_to_and_from_map_dataset_match_gammapy(assert_same):
    gp, md = _pair()
    gp_cash, md_cash = gp.to_map_dataset(name="c"), md.to_map_dataset(name="c")
    assert type(md_cash) is MapDataset
    assert_same.dataset(md_cash, gp_cash)
    # off counts from the background: npred_background / alpha
    kwargs = {"acceptance": gp.acceptance, "acceptance_off": gp.acceptance_off, "name": "x"}
    gp_back = gammapy.datasets.MapDatasetOnOff.from_map_dataset(gp_cash, **kwargs)
    kwargs = {"acceptance": md.acceptance, "acceptance_off": md.acceptance_off, "name": "x"}
    md_back = MapDatasetOnOff.from_map_dataset(md_cash, **kwargs)
    assert_same.dataset(md_back, gp_back, rtol=1e-7)
    # scalar acceptances
    gp_scalar = gammapy.datasets.MapDatasetOnOff.from_map_dataset(gp_cash, 1, 4, counts_off=gp.counts_off)
    md_scalar = MapDatasetOnOff.from_map_dataset(md_cash, 1, 4, counts_off=md.counts_off)
    _assert_close(md_scalar.alpha.data, gp_scalar.alpha.data, 0)
    assert md_scalar.stat_sum() == pytest.approx(gp_scalar.stat_sum(), rel=1e-12)


def test_stack_matches_gammapy(assert_same):
    gp1, md1 = _pair(0, name="a")
    gp2, md2 = _pair(1, name="b", gti_start=300.0)
    gp1.stack(gp2)
    with raise_if_dask_computes(max_computes=1):  # the livetime rule's one reduction
        md1.stack(md2)
    assert_same.dataset(md1, gp1, rtol=1e-6)
    assert md1.stat_sum() == pytest.approx(gp1.stat_sum(), rel=1e-6)


def test_stack_reduce_matches_gammapy(assert_same):
    pairs = [_pair(seed, name=f"d{seed}", gti_start=300.0 * seed) for seed in range(3)]
    gp = gammapy.datasets.Datasets([p[0] for p in pairs]).stack_reduce(name="s")
    md = Datasets([p[1] for p in pairs]).stack_reduce(name="s")
    assert type(md) is MapDatasetOnOff
    assert_same.dataset(md, gp, rtol=1e-6)
    # the stacked background is the sum of the masked backgrounds
    expected = sum(np.asarray((p[1].background * p[1].mask_safe).data, dtype=float) for p in pairs)
    finite = np.isfinite(expected)  # alpha is the largest float32 where only acceptance_off is 0
    np.testing.assert_allclose(np.asarray(md.background.data)[finite], expected[finite], rtol=1e-5, atol=1e-5)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_stack_rejects_a_map_dataset():
    _, md = _pair()
    with pytest.raises(InvalidArgumentError, match="Incompatible types"):
        md.stack(md.to_map_dataset())


def test_mapds_file_reads_in_gammapy_and_back(tmp_path, assert_same):
    gp, md = _pair(2)
    md.write(tmp_path / "md.fits")
    read = gammapy.datasets.MapDatasetOnOff.read(tmp_path / "md.fits")
    assert_same.dataset(md, read)
    gp.write(tmp_path / "gp.fits")
    with raise_if_dask_computes():
        md_read = MapDatasetOnOff.read(tmp_path / "gp.fits")
    assert_same.dataset(md_read, gp)
    assert md_read.counts_off.chunks == md_read.counts.chunks
    assert md_read.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-12)
    gp_hdus = [h.name for h in fits.open(tmp_path / "gp.fits")]
    md_hdus = [h.name for h in fits.open(tmp_path / "md.fits")]
    assert md_hdus == gp_hdus
    assert gp_hdus[-6:] == ONOFF_HDUS and "BACKGROUND" not in gp_hdus
    # a MapDataset reading an on-off file leaves the off members out, as gammapy
    plain = MapDataset.read(tmp_path / "md.fits")
    assert plain.background is None and plain.counts is not None


def test_zarr_round_trip(tmp_path, assert_same):
    _, md = _pair(3)
    md.write(tmp_path / "md.zarr")
    read = MapDatasetOnOff.read(tmp_path / "md.zarr")
    assert type(read) is MapDatasetOnOff
    for member in ("counts", "counts_off", "acceptance", "acceptance_off"):
        np.testing.assert_array_equal(
            np.asarray(getattr(read, member).data), np.asarray(getattr(md, member).data)
        )


def test_datasets_yaml_round_trip(tmp_path):
    _, md = _pair(name="onoff")
    Datasets([md]).write(tmp_path / "datasets.yaml")
    read = Datasets.read(tmp_path / "datasets.yaml")
    assert type(read[0]) is MapDatasetOnOff
    assert read[0].stat_sum() == pytest.approx(md.stat_sum(), rel=1e-12)


def test_fake_is_seeded_and_lazy():
    _, md = _pair(names=["point"], zeros=False)
    background = md.background.copy()
    with raise_if_dask_computes():
        md.fake(background, random_state=3)
    counts, counts_off = np.asarray(md.counts.data), np.asarray(md.counts_off.data)
    assert counts.dtype == counts_off.dtype == np.float64
    md.fake(background, random_state=3)
    np.testing.assert_array_equal(np.asarray(md.counts.data), counts)
    np.testing.assert_array_equal(np.asarray(md.counts_off.data), counts_off)
    md.fake(background, random_state=4)
    assert not np.array_equal(np.asarray(md.counts.data), counts)
    # the means: on = signal + background, off = background / alpha
    alpha = np.asarray(md.alpha.data)
    mean_on = np.asarray(md.npred_signal().data).sum() + np.asarray(background.data).sum()
    assert counts.sum() == pytest.approx(mean_on, rel=0.05)
    fine = alpha > 0.01
    mean_off = (np.asarray(background.data)[fine] / alpha[fine]).sum()
    assert counts_off[fine].sum() == pytest.approx(mean_off, rel=0.05)


def test_resample_and_slice_match_gammapy(assert_same):
    gp, md = _pair()
    gp_image, md_image = gp.to_image(name="i"), md.to_image(name="i")
    assert_same.dataset(md_image, gp_image, rtol=1e-6)
    energy_axis = gp.counts.geom.axes["energy"]
    gp_slice = gp.slice_by_energy(energy_axis.edges[1], energy_axis.edges[3], name="s")
    md_slice = md.slice_by_energy(energy_axis.edges[1], energy_axis.edges[3], name="s")
    assert_same.dataset(md_slice, gp_slice)


def test_mismatched_geometry_raises():
    _, md = _pair()
    smaller = Map.from_geom(
        md.counts.geom.to_image()
        .to_cube([md.counts.geom.axes["energy"]])
        .cutout(md.counts.geom.center_skydir, 0.5 * u.deg)
    )
    with pytest.raises(GeometryMismatchError, match="counts_off"):
        MapDatasetOnOff(
            counts=md.counts, counts_off=smaller, acceptance=md.acceptance, acceptance_off=md.acceptance
        )


def test_negative_off_counts_raise_when_the_statistic_is_computed():
    _, md = _pair()
    md.counts_off = md.counts_off - 100
    lazy = md.stat_sum(compute=False)  # building is fine
    with pytest.raises(NegativeCountsError, match="counts_off"):
        lazy.compute()
    with pytest.raises(NegativeCountsError):
        md.stat_sum()


def test_fit_of_a_point_source_amplitude_matches_gammapy():
    from gammapy.modeling import Fit as GammapyFit

    from mapds.modeling import Fit

    gp, md = _pair(names=["point"])
    for dataset in (gp, md):
        for par in dataset.models.parameters:
            par.frozen = par.name != "amplitude"
        dataset.models.parameters["amplitude"].value *= 1.5
    gp_result = GammapyFit().run([gp])
    md_result = Fit().run([md])
    assert md_result.success and gp_result.success
    gp_amplitude = gp.models.parameters["amplitude"]
    md_amplitude = md.models.parameters["amplitude"]
    assert md_amplitude.value == pytest.approx(gp_amplitude.value, rel=1e-3)
    assert md_amplitude.error == pytest.approx(gp_amplitude.error, rel=1e-2)
    assert md_result.total_stat == pytest.approx(gp_result.total_stat, rel=1e-7)


def _onoff_results(**config):
    """WStat statistic, npred and faked counts of a dataset in several chunks, on one scheduler."""
    _, md = _pair(names=["point"])
    with dask.config.set(**config):
        background = md.npred_background()
        stat_sum = md.stat_sum()
        arrays = dask.compute(md.stat_array(), md.npred().data, background.data)
        md.fake(background, random_state=5)
        faked = dask.compute(md.counts.data, md.counts_off.data)
    return [np.asarray(stat_sum), *(np.asarray(a) for a in (*arrays, *faked))]


def test_same_numbers_on_every_scheduler(local_cluster):
    distributed = pytest.importorskip("distributed")
    expected = _onoff_results(scheduler="threads")
    runs = {"sync": _onoff_results(scheduler="sync"), "processes": _onoff_results(scheduler="processes")}
    with distributed.Client(local_cluster):
        runs["cluster"] = _onoff_results()
    names = ("stat_sum", "stat_array", "npred", "npred_background", "counts", "counts_off")
    for scheduler, arrays in runs.items():
        for name, got, want in zip(names, arrays, expected, strict=True):
            assert np.array_equal(got, want, equal_nan=True), f"{name} differs on {scheduler}"


def test_a_lost_off_counts_chunk_is_a_named_error(tmp_path):
    _, md = _pair(3)
    md.write(tmp_path / "md.zarr")
    chunks = sorted(p for p in (tmp_path / "md.zarr" / "counts_off").rglob("c/*/*/*") if p.is_file())
    chunks[-1].unlink()
    read = MapDatasetOnOff.read(tmp_path / "md.zarr")  # opening reads no chunk
    with pytest.raises(CorruptFileError, match=r"chunk .* of array 'counts_off"):
        read.stat_sum()


def test_off_counts_cut_short_are_a_named_error(tmp_path):
    _, md = _pair(3)
    md.write(tmp_path / "md.fits")
    with fits.open(tmp_path / "md.fits") as hdus:
        start = hdus["COUNTS_OFF"].fileinfo()["datLoc"]
    data = (tmp_path / "md.fits").read_bytes()
    (tmp_path / "md.fits").write_bytes(data[: start + 100])
    with pytest.raises(MapdsError, match=r"md\.fits.*COUNTS_OFF.*ends after 100"):
        MapDatasetOnOff.read(tmp_path / "md.fits").stat_sum()
