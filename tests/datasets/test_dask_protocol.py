"""A dataset is a dask collection of its maps, and its copies share no mutable state."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest

from mapds.datasets import MapDataset
from mapds.testing import MAPDS, build_dataset
from mapds.testing import sky_models as models

#: Every map of a dataset, by how it is reached.
MEMBERS = {
    "counts": lambda d: d.counts,
    "exposure": lambda d: d.exposure,
    "background": lambda d: d.background,
    "mask_safe": lambda d: d.mask_safe,
    "mask_fit": lambda d: d.mask_fit,
    "psf_map": lambda d: d.psf.psf_map,
    "psf_exposure": lambda d: d.psf.exposure_map,
    "edisp_map": lambda d: d.edisp.edisp_map,
    "edisp_exposure": lambda d: d.edisp.exposure_map,
}


@pytest.fixture
def dataset() -> MapDataset:
    dataset = build_dataset(MAPDS, 4, name="ds")
    dataset.models = models("mapds", ["point", "gauss"])
    return dataset


@pytest.mark.parametrize("member", list(MEMBERS))
def test_copy_shares_no_member(dataset, member):
    get = MEMBERS[member]
    before = np.asarray(get(dataset)).copy()
    copy = dataset.copy()
    target = get(copy)
    target.data[...] = 0 if target.dtype != bool else False  # dask's __setitem__ mutates in place
    np.testing.assert_array_equal(np.asarray(get(dataset)), before)
    assert not np.asarray(target).any()


def test_zeroing_a_copied_mask_leaves_the_statistic(dataset):
    expected = dataset.stat_sum()
    copy = dataset.copy()
    copy.mask_safe.data[...] = False
    assert copy.models is None
    assert dataset.stat_sum() == expected


def test_dataset_is_a_dask_collection(dataset):
    assert dask.is_dask_collection(dataset)
    keys = dataset.__dask_keys__()
    assert len(keys) == len(MEMBERS)
    (computed,) = dask.compute(dataset)
    assert computed.name == dataset.name
    for member, get in MEMBERS.items():
        assert isinstance(get(computed).data, np.ndarray), member
        np.testing.assert_array_equal(get(computed).data, np.asarray(get(dataset)))
    assert [m.name for m in computed.models] == [m.name for m in dataset.models]
    assert computed.stat_sum() == pytest.approx(dataset.stat_sum(), rel=1e-12)


def test_persisted_dataset_gives_the_same_numbers(dataset):
    persisted = dataset.persist()
    for member, get in MEMBERS.items():
        data = get(persisted).data
        assert isinstance(data, da.Array), member
        # every chunk is a finished value: nothing upstream of it remains in the graph
        assert len(dict(data.__dask_graph__())) == data.npartitions, member
    assert persisted.stat_sum() == pytest.approx(dataset.stat_sum(), rel=1e-12)
    np.testing.assert_allclose(np.asarray(persisted.npred()), np.asarray(dataset.npred()), rtol=1e-12)


def test_computed_dataset_has_no_graph(dataset):
    (computed,) = dask.compute(dataset)
    assert not dask.is_dask_collection(computed)
    assert dask.base.tokenize(computed) == dask.base.tokenize(computed)
