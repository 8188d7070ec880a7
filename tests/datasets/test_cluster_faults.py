"""Stacking on a ``dask.distributed`` cluster survives its faults with the same numbers.

The cluster here is the test's own (its workers are killed): two worker processes whose memory
manager moves every result to disk as soon as it is stored, as a worker does once its memory
limit is reached.  A worker killed in the middle of ``stack_reduce`` or ``stack_to_zarr`` is
restarted by its nanny and the scheduler recomputes what it held: the result is identical, bit
for bit, to the threaded one, because every task is a pure function of its inputs.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import dask
import numpy as np
import pytest

from mapds.datasets import Datasets, MapDataset
from mapds.datasets.core import open_datasets, stack_to_zarr
from mapds.geom import MapAxis, WcsGeom
from mapds.maps import Map

from .conftest import write_observations

distributed = pytest.importorskip("distributed")

N_FILES = 4
N_MANY = 100
MEMBERS = ("counts", "exposure", "background", "mask_safe")
ENERGY = MapAxis.from_energy_bounds("1 TeV", "10 TeV", 2)


@pytest.fixture(scope="module")
def spilling_cluster():
    """Two worker processes that keep (almost) nothing in memory: every result they store
    crosses their memory target and is spilled to disk."""
    # The nannies hand this configuration to the worker processes they start (and restart).
    memory = {"target": 1e-6, "spill": False, "pause": False, "terminate": False}
    with (
        dask.config.set({f"distributed.worker.memory.{key}": value for key, value in memory.items()}),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit="2GiB"
        ) as cluster,
    ):
        yield cluster


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_observations(tmp_path_factory.mktemp("faults"), N_FILES)


def _arrays(dataset: MapDataset) -> dict:
    arrays = {member: getattr(dataset, member).data for member in MEMBERS}
    arrays["psf"] = dataset.psf._irf_map.data
    return arrays


def _threaded(dataset: MapDataset) -> dict:
    arrays = _arrays(dataset)
    return dict(zip(arrays, dask.compute(*arrays.values(), scheduler="threads"), strict=True))


def _assert_identical(result: dict, expected: dict) -> None:
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(result[key], value, err_msg=key)


class WorkerKiller(threading.Thread):
    """Kills (SIGKILL) the first worker process seen holding a result, once.

    ``killed`` is set once it has killed one; ``was_pending`` tells whether the work it
    interrupted was still running then (the test is only meaningful if it was).
    """

    def __init__(self, client: distributed.Client, pending):
        super().__init__(daemon=True)
        self.client, self.pending = client, pending
        self.killed = threading.Event()
        self.was_pending = False
        self._stopping = threading.Event()

    def run(self) -> None:
        pids = self.client.run(os.getpid)
        while not self._stopping.is_set():
            holders = [worker for worker, keys in self.client.has_what().items() if keys]
            if holders:
                self.was_pending = self.pending()
                os.kill(pids[holders[0]], signal.SIGKILL)
                self.killed.set()
                return
            time.sleep(0.005)

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def test_stack_reduce_survives_a_killed_worker(spilling_cluster, files):
    expected = _threaded(Datasets([MapDataset.read(p) for p in files]).stack_reduce(name="stacked"))
    with distributed.Client(spilling_cluster) as client:
        arrays = _arrays(Datasets(open_datasets(files)).stack_reduce(name="stacked"))
        futures = client.compute(list(arrays.values()))
        killer = WorkerKiller(client, pending=lambda: not all(f.done() for f in futures))
        killer.start()
        results = client.gather(futures)
        killer.stop()
        client.wait_for_workers(2, timeout=120)
    assert killer.killed.is_set() and killer.was_pending
    _assert_identical(dict(zip(arrays, results, strict=True)), expected)


def test_stack_to_zarr_survives_a_killed_worker(spilling_cluster, files, tmp_path):
    expected = _threaded(stack_to_zarr(files, tmp_path / "threads.zarr", name="stacked", batch_size=2))
    target = tmp_path / "cluster.zarr"
    with distributed.Client(spilling_cluster) as client:
        done = threading.Event()
        killer = WorkerKiller(client, pending=lambda: not done.is_set())
        killer.start()
        stacked = stack_to_zarr(files, target, name="stacked", batch_size=2)
        done.set()
        killer.stop()
        client.wait_for_workers(2, timeout=120)
    assert killer.killed.is_set() and killer.was_pending
    _assert_identical(_threaded(stacked), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.zarr", "threads.zarr"]


def _observation(seed: int) -> MapDataset:
    """A small observation: counts, background, exposure and a safe mask that cuts some bins."""
    rng = np.random.default_rng(seed)
    geom = WcsGeom.create(npix=(10, 8), binsz=0.1, frame="galactic", axes=[ENERGY])
    geom_true = geom.to_image().to_cube([ENERGY.copy(name="energy_true")])
    return MapDataset(
        counts=Map.from_geom(geom, data=rng.poisson(3.0, geom.data_shape).astype("f4")),
        background=Map.from_geom(geom, data=rng.uniform(1, 2, geom.data_shape).astype("f4")),
        exposure=Map.from_geom(geom_true, data=rng.uniform(1e9, 2e9, geom_true.data_shape), unit="m2 s"),
        mask_safe=Map.from_geom(geom, data=rng.uniform(size=geom.data_shape) > 0.2 * (seed % 3)),
        name=f"obs{seed}",
    )


def test_a_hundred_observations_stack_as_in_series(spilling_cluster):
    """100 observations stacked on the cluster (every result spilled to disk) equal the same
    tree on threads bit for bit, and the masked sums to float32 round-off."""
    observations = [_observation(seed) for seed in range(N_MANY)]
    stacked = Datasets(observations).stack_reduce(name="stacked")
    arrays = {member: getattr(stacked, member).data for member in MEMBERS}
    with distributed.Client(spilling_cluster) as client:
        futures = client.compute(list(arrays.values()))
        distributed.wait(futures)
        # the results held on the workers went to disk (all but what fits under the 2 kB target)
        spilled = client.run(lambda dask_worker: len(dask_worker.data.slow))
        on_cluster = dict(zip(arrays, client.gather(futures), strict=True))
    assert sum(spilled.values()) > 0
    _assert_identical(on_cluster, dict(zip(arrays, dask.compute(*arrays.values()), strict=True)))

    masks = [np.asarray(o.mask_safe.data) for o in observations]

    def masked_sum(member: str) -> np.ndarray:
        return sum(np.where(m, getattr(o, member).data, 0) for o, m in zip(observations, masks, strict=True))

    expected = {
        "counts": masked_sum("counts"),
        "background": masked_sum("background"),
        "exposure": sum(o.exposure.data * m.any(axis=0) for o, m in zip(observations, masks, strict=True)),
        "mask_safe": np.logical_or.reduce(masks),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(on_cluster[key], np.asarray(value), rtol=2e-6, err_msg=key)
