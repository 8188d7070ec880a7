"""The fit statistic: stat_array and stat_sum against gammapy, and the incremental stat_sum."""

from __future__ import annotations

import warnings

import dask
import gammapy.stats
import numpy as np
import pytest

from mapds.datasets.engine import stat_sum as stat_sum_module
from mapds.datasets.engine.stat_tiles import TILE_SIZE

from .conftest import GAMMAPY, MAPDS, build_dataset
from .sky_models import models

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SOURCES = ["point", "gauss", "disk", "edge", "near"]


def _pair(names=SOURCES, stat_type="cash", prepare=None, **kwargs):
    gp = build_dataset(GAMMAPY, 0, stat_type=stat_type, **kwargs)
    md = build_dataset(MAPDS, 0, stat_type=stat_type, **kwargs)
    for dataset in (gp, md):
        if prepare is not None:
            prepare(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.models = models("gammapy", names)
    md.models = models("mapds", names)
    return gp, md


def _tolerance(gp) -> float:
    """gammapy convolves model images in float32: the statistic differs by ~1e-8 of the model
    counts (1e-7 leaves a margin); the background enters exactly."""
    return 1e-7 * float(np.nansum(np.abs(gp.npred_signal().data))) + 1e-9


def _weights(dataset):
    dataset.mask_fit = dataset.mask_fit * 2.5


@pytest.mark.parametrize("edisp", ["kernel", "migra", None])
def test_stat_sum_and_stat_array_match_gammapy(edisp):
    gp, md = _pair(edisp=edisp)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))
    values = md.stat_array()
    assert values.dtype == np.float64
    np.testing.assert_allclose(np.asarray(values), gp.stat_array(), rtol=1e-6, atol=1e-6)


def test_cash_weighted_matches_gammapy():
    gp, md = _pair(stat_type="cash_weighted", prepare=_weights)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))
    # gammapy 2.1's own weighted stat_array fails (Map.astype): its formula, by hand
    expected = gammapy.stats.cash(gp.counts.data, gp.npred().data) * gp.mask.data.astype(float)
    np.testing.assert_allclose(np.asarray(md.stat_array()), expected, rtol=1e-6, atol=1e-6)
    _, md_plain = _pair()
    assert md.stat_sum() != pytest.approx(md_plain.stat_sum(), rel=1e-3)


@pytest.mark.parametrize(
    "prepare",
    [
        lambda d: setattr(d, "mask_fit", None),
        lambda d: (setattr(d, "mask_fit", None), setattr(d, "mask_safe", None)),
    ],
    ids=["mask-safe-only", "no-mask"],
)
def test_stat_sum_masks(prepare):
    gp, md = _pair(prepare=prepare)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))


def test_non_positive_background_is_truncated_as_gammapy():
    def zero_and_negative(dataset):
        data = np.asarray(dataset.background.data).copy()
        data[:, 2:5, 3:6] = -5.0
        data[:, 10:12, 10:14] = 0.0
        dataset.background = type(dataset.background).from_geom(dataset.background.geom, data=data)

    gp, md = _pair(prepare=zero_and_negative)
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))


def test_stat_sum_nan_propagates():
    gp, md = _pair(nan=True)
    assert np.isnan(gp.stat_sum()) == np.isnan(md.stat_sum())


# -- incremental statistic ---------------------------------------------------------------------------


class TileCounter:
    """Counts the regions and tiles the statistic computes (bin by bin, and background sums)."""

    def __init__(self, monkeypatch):
        self.regions = self.binwise = self.sums = 0
        original = stat_sum_module.region_tiles

        def counting(counts, terms, mask, y_edges, x_edges, direct, want_sums):
            out = original(counts, terms, mask, y_edges, x_edges, direct, want_sums)
            self.regions += 1
            self.binwise += int(out[2].sum())
            self.sums += int(want_sums)
            return out

        monkeypatch.setattr(stat_sum_module, "region_tiles", counting)

    def reset(self):
        self.regions = self.binwise = self.sums = 0


def _large_pair(names=("point", "gauss")):
    """A 240 × 200 pixel dataset in 2 × 2 chunks of 2 × 2 tiles, with small sources."""
    kwargs = {"npix": (240, 200), "skydir": (0.0, 0.0)}
    gp, md = build_dataset(GAMMAPY, 3, **kwargs), build_dataset(MAPDS, 3, **kwargs)
    chunks = ((4,), (100, 100), (120, 120))
    for member in ("counts", "background", "mask_safe", "mask_fit"):
        setattr(md, member, getattr(md, member).rechunk(chunks))
    md.exposure = md.exposure.rechunk((-1, *chunks[1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp.models = models("gammapy", list(names))
    md.models = models("mapds", list(names))
    return gp, md


def _cold(md) -> float:
    md._stat_cache.clear()
    return md.stat_sum()


def _tiles_under(md, name) -> int:
    ys, xs = md._npred_graph().local_state[name][1]
    n_y = len(range(ys.start // TILE_SIZE * TILE_SIZE, ys.stop, TILE_SIZE))
    n_x = len(range(xs.start // TILE_SIZE * TILE_SIZE, xs.stop, TILE_SIZE))
    return n_y * n_x


def test_incremental_stat_sum_equals_cold(monkeypatch):
    gp, md = _large_pair()
    counter = TileCounter(monkeypatch)
    first = md.stat_sum()
    assert (counter.regions, counter.sums) == (4, 4)  # every chunk read once
    assert first == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))

    counter.reset()
    assert md.stat_sum() == first  # nothing changed: no task at all
    assert counter.regions == 0

    steps = [
        ("amplitude", lambda m: setattr(m["point"].spectral_model.amplitude, "value", 3e-11)),
        ("index", lambda m: setattr(m["gauss"].spectral_model.index, "value", 2.1)),
        ("small move", lambda m: setattr(m["point"].spatial_model.lon_0, "value", 0.35)),
        ("large move", lambda m: setattr(m["point"].spatial_model.lon_0, "value", -1.5)),
        ("sigma", lambda m: setattr(m["gauss"].spatial_model.sigma, "value", 0.2)),
    ]
    for what, change in steps:
        before = md._npred_graph().local_state
        change(md.models)
        after = md._npred_graph().local_state
        counter.reset()
        incremental = md.stat_sum()
        changed = [name for name in after if after[name] != before[name]]
        assert len(changed) == 1, what
        expected = {_tiles_under_box(md, box) for box in (before[changed[0]][1], after[changed[0]][1])}
        assert counter.sums == 0, what
        assert counter.binwise <= sum(expected) and counter.binwise >= max(expected), what
        assert incremental == _cold(md), what

    # a FoV parameter change recomputes only the tiles under the models' footprints
    counter.reset()
    md.background_model.spectral_model.norm.value = 0.95
    incremental = md.stat_sum()
    assert counter.sums == 0
    assert counter.binwise <= sum(_tiles_under(md, name) for name in ("point", "gauss"))
    assert incremental == _cold(md)

    # against gammapy after the same changes (moves large enough for gammapy's lookup rule)
    gp.models["point"].spectral_model.amplitude.value = 3e-11
    gp.models["gauss"].spectral_model.index.value = 2.1
    gp.models["point"].spatial_model.lon_0.value = -1.5
    gp.models["gauss"].spatial_model.sigma.value = 0.2
    gp.background_model.spectral_model.norm.value = 0.95
    assert incremental == pytest.approx(gp.stat_sum(), abs=_tolerance(gp))


def _tiles_under_box(md, box) -> int:
    grid = stat_sum_module.TileGrid(md.counts.data.chunks)
    ty, tx = grid.tiles_under(box)
    return (ty.stop - ty.start) * (tx.stop - tx.start)


def test_replaced_data_start_from_scratch(monkeypatch):
    _, md = _large_pair()
    md.stat_sum()
    counter = TileCounter(monkeypatch)
    md.counts = md.counts * 2
    doubled = md.stat_sum()
    assert counter.sums == 4
    md._stat_cache.clear()
    assert doubled == md.stat_sum()


def test_stat_sum_of_a_zarr_store_reads_counts_as_stored_integers(tmp_path, monkeypatch):
    """Counts stored as integers reach the tiles as integers (no float64 copy), with the same
    statistic, cold and after a change, as the dataset they were written from."""
    from mapds.datasets import MapDataset

    _, md = _large_pair()
    md.write(tmp_path / "ds.zarr")
    back = MapDataset.read(tmp_path / "ds.zarr")
    back.models = md.models.copy()
    back.resident_max_bytes = 0  # read from the store, not from an in-memory copy
    assert back.counts.dtype == md.counts.dtype  # float, as written
    expected = _cold(md)
    dtypes = []
    original = stat_sum_module.region_tiles

    def recording(counts, *args):
        dtypes.append(np.asarray(counts).dtype)
        return original(counts, *args)

    monkeypatch.setattr(stat_sum_module, "region_tiles", recording)
    assert back.stat_sum() == expected
    assert set(dtypes) == {np.dtype("uint16")}
    monkeypatch.setattr(stat_sum_module, "region_tiles", original)
    for dataset in (md, back):
        dataset.models[0].spectral_model.amplitude.value *= 1.5
    assert back.stat_sum() == md.stat_sum()


def test_lazy_stat_sum_is_pure(monkeypatch):
    """Computing the lazy statistic keeps nothing (its tasks write to no object); stat_sum()
    keeps the tiles it computed, so the next one computes no region."""
    _, md = _large_pair()
    lazy = md.stat_sum(compute=False)
    assert lazy.shape == () and lazy.dtype == np.float64
    counter = TileCounter(monkeypatch)
    (value,) = dask.compute(lazy)
    assert counter.regions == 4
    counter.reset()
    assert md.stat_sum() == value
    assert counter.regions == 4
    counter.reset()
    assert md.stat_sum() == value
    assert counter.regions == 0


def test_stat_sum_on_schedulers():
    """Same value on the synchronous and threaded schedulers and on a distributed cluster."""
    distributed = pytest.importorskip("distributed")
    _, md = _large_pair()
    values = []
    for scheduler in ("sync", "threads"):
        md._stat_cache.clear()
        for evaluator in md.evaluators.values():
            evaluator.reset_cache_properties()
        values.append(float(md.stat_sum(compute=False).compute(scheduler=scheduler)))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False) as cluster:
        with distributed.Client(cluster):
            md._stat_cache.clear()
            values.append(md.stat_sum())
            npred = np.asarray(md.npred().data.compute())
    assert values[0] == values[1] == values[2]
    np.testing.assert_array_equal(npred, np.asarray(md.npred().data.compute(scheduler="sync")))


def test_statistic_needs_counts():
    _, md = _pair()
    md.counts = None
    with pytest.raises(ValueError, match="no counts"):
        md.stat_sum()
    with pytest.raises(ValueError, match="no counts"):
        md.stat_array()
