"""Pure graphs: the same numbers on every dask scheduler, and the incremental statistic everywhere.

npred, stat_sum (cold and after a parameter change), fake counts and stacking are computed on the
synchronous, threaded and process schedulers and on a ``distributed.LocalCluster`` with worker
processes; all give identical results, with no warning from dask or distributed (a key naming two
different tasks is one).  The statistic after a change recomputes the same few tiles on each: the
caches live in the client, so the graph — not the scheduler — says what is computed.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import warnings

import dask
import numpy as np
import pytest

from mapds.datasets import MapDataset
from mapds.testing import MAPDS, build_dataset
from mapds.testing import sky_models as models

distributed = pytest.importorskip("distributed")

SCHEDULERS = ["sync", "threads", "processes", "cluster"]


@pytest.fixture(scope="module")
def process_pool():
    """One pool of worker processes for every computation of the "processes" scheduler (dask
    would otherwise start new processes, each importing mapds, for every computation)."""
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture
def cluster(local_cluster):
    return local_cluster


class _Scheduler:
    """Runs computations on one scheduler and records what dask and distributed complain of."""

    def __init__(self, name, cluster, caplog, pool=None):
        self.name, self.cluster, self.caplog, self.pool = name, cluster, caplog, pool

    def __enter__(self):
        self._warnings = warnings.catch_warnings(record=True)
        self.warned = self._warnings.__enter__()
        warnings.simplefilter("always")
        self.caplog.set_level(logging.WARNING, logger="distributed")
        if self.name == "cluster":
            self._context = distributed.Client(self.cluster)
        elif self.name == "processes":
            self._context = dask.config.set(scheduler=self.name, pool=self.pool)
        else:
            self._context = dask.config.set(scheduler=self.name)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        self._warnings.__exit__(*exc)

    def complaints(self) -> list[str]:
        ours = ("dask", "distributed")
        messages = [str(w.message) for w in self.warned if any(name in w.filename for name in ours)]
        records = self.caplog.records
        messages += [r.getMessage() for r in records if r.name.startswith("distributed") and r.levelno >= 30]
        # a key naming two different tasks, a task that cannot travel, a task that failed
        signs = ("run_spec", "serializ", "pickl", "erred", "Compute Failed")
        return [m for m in messages if any(sign in m for sign in signs)]


def _dataset(name="ds", seed=3) -> MapDataset:
    """128 × 128 pixels in 2 × 2 chunks of one 64-pixel tile each; both sources in one chunk."""
    dataset = build_dataset(MAPDS, seed, name=name, npix=(128, 128), skydir=(3.5, -2.5))
    chunks = ((4,), (64, 64), (64, 64))
    # in-memory values in these chunks (the builder's small chunks would make thousands of tasks);
    # built here, not by the scheduler under test
    with dask.config.set(scheduler="sync"):
        for member in ("counts", "background", "mask_safe", "mask_fit"):
            setattr(dataset, member, getattr(dataset, member).compute().rechunk(chunks))
        dataset.exposure = dataset.exposure.compute().rechunk((-1, *chunks[1:]))
    dataset.models = models("mapds", ["point", "gauss"], dataset_name=name)
    return dataset


def _tiles_to_compute(dataset: MapDataset) -> int:
    """How many tiles the next statistic reads: the sizes of the tile boxes of its region tasks
    (the graph, not the scheduler, decides what runs)."""
    graph = dict(dataset.stat_sum(compute=False).__dask_graph__())
    tasks = [task for key, task in graph.items() if isinstance(key, tuple) and str(key[0]).endswith("-tiles")]
    return int(sum(task[-2].size for task in tasks))


@pytest.fixture(scope="module")
def reference():
    """Every result on the synchronous scheduler, from fresh datasets."""
    with dask.config.set(scheduler="sync"):
        return _results()


def _results() -> dict:
    dataset = _dataset()
    full = _tiles_to_compute(dataset)
    out = {"npred": np.asarray(dataset.npred().data.compute()), "cold": dataset.stat_sum()}
    dataset.models["point"].spectral_model.amplitude.value *= 1.3
    out["tiles"] = (full, _tiles_to_compute(dataset))
    out["incremental"] = dataset.stat_sum()
    fresh = _dataset()
    fresh.models["point"].spectral_model.amplitude.value *= 1.3
    out["fresh"] = fresh.stat_sum()
    faked = _dataset()
    faked.fake(random_state=42)
    out["fake"] = np.asarray(faked.counts.data.compute())
    stacked = _dataset(name="a").to_masked(name="stacked")
    stacked.stack(_dataset(name="b", seed=4))
    members = ("counts", "exposure", "background")
    out["stack"] = {m: np.asarray(getattr(stacked, m).data.compute()) for m in members}
    return out


@pytest.mark.parametrize("name", SCHEDULERS)
def test_same_results_on_every_scheduler(name, cluster, process_pool, caplog, reference):
    with _Scheduler(name, cluster, caplog, process_pool) as scheduler:
        results = _results()
    assert scheduler.complaints() == []
    np.testing.assert_array_equal(results["npred"], reference["npred"])
    assert results["cold"] == reference["cold"]
    assert results["incremental"] == reference["incremental"]
    assert results["incremental"] == pytest.approx(results["fresh"], rel=1e-13)
    full, after_change = results["tiles"]
    assert 0 < after_change <= full // 4  # only the tiles under the changed model's footprint
    assert results["tiles"] == reference["tiles"]
    np.testing.assert_array_equal(results["fake"], reference["fake"])
    for member, values in results["stack"].items():
        np.testing.assert_array_equal(values, reference["stack"][member], err_msg=member)


def test_npred_after_stat_sum_on_a_cluster_reuses_keys_consistently(cluster, caplog):
    """The sequence that made distributed report a key naming two tasks: read from a file,
    stat_sum, then npred, on worker processes."""
    with _Scheduler("cluster", cluster, caplog) as scheduler:
        dataset = _dataset()
        dataset.stat_sum()
        first = np.asarray(dataset.npred().data.compute())
        dataset.models["point"].spatial_model.lon_0.value += 0.05
        dataset.stat_sum()
        second = np.asarray(dataset.npred().data.compute())
    assert scheduler.complaints() == []
    assert not np.array_equal(first, second)
