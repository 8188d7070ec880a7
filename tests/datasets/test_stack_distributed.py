"""Stacking datasets read from files on a ``dask.distributed`` cluster (separate worker processes)
gives the numbers of the threaded scheduler."""

from __future__ import annotations

import dask
import numpy as np
import pytest

from mapds.datasets import Datasets, MapDataset
from mapds.datasets.core import open_datasets, stack_to_zarr

from .conftest import write_observations

distributed = pytest.importorskip("distributed")

N_DATASETS = 4
MAP_MEMBERS = ("counts", "exposure", "background", "mask_safe", "mask_fit")


@pytest.fixture
def cluster(local_cluster):
    return local_cluster


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    """Four datasets written alternately as gadf FITS files and zarr stores."""
    return write_observations(tmp_path_factory.mktemp("observations"), N_DATASETS, nan_at=3)


@pytest.fixture(scope="module")
def reference(dataset_files):
    """The stack computed on the threaded scheduler: the dataset and its map values."""
    stacked = Datasets([MapDataset.read(path) for path in dataset_files]).stack_reduce(name="stacked")
    return stacked, _values(stacked, scheduler="threads")


def _arrays(dataset) -> dict:
    arrays = {member: getattr(dataset, member).data for member in MAP_MEMBERS}
    for member in ("psf", "edisp"):
        irf = getattr(dataset, member)
        arrays[member] = irf._irf_map.data
        arrays[f"{member}_exposure"] = irf.exposure_map.data
    return arrays


def _values(dataset, **kwargs) -> dict:
    """Every map of ``dataset`` computed in one pass (``kwargs`` go to ``dask.compute``)."""
    arrays = _arrays(dataset)
    return dict(zip(arrays, dask.compute(*arrays.values(), **kwargs), strict=True))


def _assert_same_values(result: dict, expected: dict, rtol=0.0) -> None:
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key].dtype == value.dtype, key
        if rtol:
            np.testing.assert_allclose(
                result[key], value, rtol=rtol, atol=rtol * np.abs(value).max(), err_msg=key
            )
        else:
            np.testing.assert_array_equal(result[key], value, err_msg=key)


def test_stack_reduce_on_a_local_cluster(cluster, dataset_files, reference, assert_same):
    """The same graph computed by worker processes and by threads: identical numbers."""
    expected_dataset, expected = reference
    with distributed.Client(cluster) as client:
        datasets = Datasets(open_datasets(dataset_files))  # opened by tasks on the workers
        stacked = datasets.stack_reduce(name="stacked")
        arrays = _arrays(stacked)
        computed = dict(zip(arrays, client.compute(list(arrays.values()), sync=True), strict=True))
    _assert_same_values(computed, expected)
    assert_same.gti(stacked.gti, expected_dataset.gti)
    assert_same.table(stacked.meta_table, expected_dataset.meta_table)
    assert stacked.exposure.meta["livetime"] == expected_dataset.exposure.meta["livetime"]
    np.testing.assert_array_equal(stacked.meta_table["OBS_ID"][0], np.arange(N_DATASETS))


def test_stack_to_zarr_on_a_local_cluster(cluster, dataset_files, reference, tmp_path, assert_same):
    """Batches streamed to zarr by the workers equal the one-graph reduction on threads."""
    expected_dataset, expected = reference
    target = tmp_path / "stacked.zarr"
    with distributed.Client(cluster):
        stacked = stack_to_zarr(dataset_files, target, name="stacked", batch_size=3)
    # batches add in another order than the one tree: float32 sums differ in the last bits
    _assert_same_values(_values(stacked, scheduler="threads"), expected, rtol=1e-6)
    assert stacked.name == "stacked"
    assert [p.name for p in tmp_path.iterdir()] == ["stacked.zarr"]  # partial stacks removed
    assert_same.gti(stacked.gti, expected_dataset.gti)
    assert_same.table(stacked.meta_table, expected_dataset.meta_table)
    assert stacked.exposure.meta["livetime"] == expected_dataset.exposure.meta["livetime"]
