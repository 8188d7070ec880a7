"""The estimators' graphs give the same numbers on every dask scheduler and on a LocalCluster."""

from __future__ import annotations

import dask
import numpy as np
import pytest

from mapds.estimators import ExcessMapEstimator, TSMapEstimator
from mapds.testing import MAPDS, build_dataset, build_onoff_dataset

QUANTITIES = {
    "excess": ("sqrt_ts", "norm", "norm_errp", "norm_ul"),
    "excess-onoff": ("sqrt_ts", "norm", "norm_errp", "norm_ul"),
    "ts": ("ts", "norm", "norm_err", "niter", "norm_sensitivity"),
}


def _maps(kind: str):
    """The lazy result maps of one estimator on a small dataset in several tiles."""
    dataset = build_dataset(MAPDS, 0, npix=(40, 36))  # in several chunks (mapds.testing.CHUNKS)
    if kind == "excess-onoff":  # WStat, the off counts correlated too
        dataset = build_onoff_dataset(MAPDS, 0, npix=(40, 36))
    if kind.startswith("excess"):
        result = ExcessMapEstimator("0.2 deg", selection_optional=["errn-errp", "ul"]).run(dataset)
    else:
        result = TSMapEstimator(kernel_width="0.5 deg", selection_optional=["sensitivity"]).run(dataset)
    return [result[name] for name in QUANTITIES[kind]]


def _computed(kind: str, **config):
    with dask.config.set(**config):
        return [np.asarray(m.data) for m in dask.compute(*_maps(kind))]


@pytest.mark.parametrize("kind", ["excess", "excess-onoff", "ts"])
def test_same_numbers_on_every_scheduler(kind, local_cluster):
    distributed = pytest.importorskip("distributed")
    expected = _computed(kind, scheduler="threads")
    runs = {"sync": _computed(kind, scheduler="sync"), "processes": _computed(kind, scheduler="processes")}
    with distributed.Client(local_cluster):
        runs["cluster"] = [np.asarray(m.data) for m in dask.compute(*_maps(kind))]
    for scheduler, arrays in runs.items():
        for name, got, want in zip(QUANTITIES[kind], arrays, expected, strict=True):
            assert np.array_equal(got, want, equal_nan=True), f"{kind} {name} differs on {scheduler}"
