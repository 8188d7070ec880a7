"""MapDataset.fake: Poisson counts per chunk, reproducible whatever computes them."""

from __future__ import annotations

import dask
import numpy as np
import pytest
from distributed import Client

import mapds.modeling.models as md_models
from mapds.datasets.fake_counts import poisson_counts, random_entropy
from mapds.errors import InvalidArgumentError


def _dataset(dataset_pair, **kwargs):
    gp, md = dataset_pair(seed=6, **kwargs)
    model = md_models.SkyModel(
        spectral_model=md_models.PowerLawSpectralModel(amplitude="1e-11 cm-2 s-1 TeV-1"),
        spatial_model=md_models.PointSpatialModel(lon_0="0.1 deg", lat_0="0 deg", frame="galactic"),
        name="src",
    )
    md.models = [model, md_models.FoVBackgroundModel(dataset_name=md.name)]
    return gp, md


def _fake_counts(md, seed, **compute_kwargs):
    fake = md.copy(name="fake")
    fake.models = md.models
    fake.fake(random_state=seed)
    return np.asarray(fake.counts.data.compute(**compute_kwargs))


def test_fake_is_lazy_and_float(dataset_pair, raise_if_dask_computes):
    gp, md = _dataset(dataset_pair)
    md.npred().data.compute()  # IRF lookups of the evaluators are made once, outside the check
    with raise_if_dask_computes():
        md.fake(random_state=1)
    gp.fake(random_state=1)
    counts = md.counts.data.compute()
    assert counts.dtype == gp.counts.data.dtype == np.float64
    assert md.counts.geom == md.background.geom
    assert md.counts.chunks == md.background.chunks
    assert np.all(counts == np.round(counts)) and np.all(counts >= 0)


def test_same_seed_same_counts_any_scheduler(dataset_pair):
    _, md = _dataset(dataset_pair)
    reference = _fake_counts(md, 42, scheduler="sync")
    np.testing.assert_array_equal(_fake_counts(md, 42, scheduler="threads", num_workers=2), reference)
    np.testing.assert_array_equal(_fake_counts(md, 42, scheduler="threads", num_workers=1), reference)
    assert not np.array_equal(_fake_counts(md, 43, scheduler="sync"), reference)


def test_same_seed_same_counts_on_a_cluster(dataset_pair, local_cluster):
    _, md = _dataset(dataset_pair)
    reference = _fake_counts(md, 7, scheduler="sync")
    with Client(local_cluster):
        on_cluster = _fake_counts(md, 7)
    np.testing.assert_array_equal(on_cluster, reference)


def test_draws_follow_poisson(raise_if_dask_computes):
    import dask.array as da

    expected = da.full((4, 60, 50), 5.0, chunks=(4, 20, 25))
    expected[0] = 0.0
    counts = poisson_counts(expected, random_entropy(2024)).compute()
    assert counts.dtype == np.float64
    assert np.all(counts[0] == 0)
    sample = counts[1:]
    # 9000 draws of Poisson(5): mean 5 +- 0.024, variance 5 +- 0.08 (1 sigma); fixed seed
    assert abs(sample.mean() - 5.0) < 0.1
    assert abs(sample.var() - 5.0) < 0.4
    # one chunk computed alone is the same as within the whole array
    alone = poisson_counts(expected, random_entropy(2024))[1:, 20:40, 25:50].compute()
    np.testing.assert_array_equal(alone, counts[1:, 20:40, 25:50])


def test_non_finite_npred_gives_no_counts(dataset_pair):
    _, md = _dataset(dataset_pair, nan=True)
    npred = md.npred().data.compute()
    assert not np.isfinite(npred).all()
    md.fake(random_state=0)
    counts = md.counts.data.compute()
    assert np.all(counts[~np.isfinite(npred)] == 0)
    assert np.isfinite(counts).all()


def test_random_state_forms():
    assert random_entropy(5) == 5
    assert random_entropy(np.int64(5)) == 5
    assert random_entropy(np.random.RandomState(3)) == random_entropy(np.random.RandomState(3))
    assert random_entropy(np.random.default_rng(3)) == random_entropy(np.random.default_rng(3))
    assert random_entropy(np.random.SeedSequence(9)) == random_entropy(np.random.SeedSequence(9))
    assert random_entropy("random-seed") != random_entropy("random-seed")
    np.random.seed(1)  # noqa: NPY002 (the global generator is what "global-rng" means)
    first = random_entropy("global-rng")
    np.random.seed(1)  # noqa: NPY002 (the global generator is what "global-rng" means)
    assert random_entropy("global-rng") == first
    for bad in (-1, "seed", 1.5, True):
        with pytest.raises(InvalidArgumentError, match="random_state"):
            random_entropy(bad)


def test_fake_graph_is_deterministic(dataset_pair):
    _, md = _dataset(dataset_pair)
    first, second = md.copy(name="a"), md.copy(name="b")
    for dataset in (first, second):
        dataset.models = md.models
        dataset.fake(random_state=3)
    assert first.counts.data.name == second.counts.data.name
    assert dask.base.tokenize(first.counts.data) == dask.base.tokenize(second.counts.data)
