"""CatalogueFit: sources fitted in groups of overlapping footprints against a joint fit."""

from __future__ import annotations

import dask
import dask.callbacks
import numpy as np
import pytest

from mapds.datasets import Datasets
from mapds.errors import InvalidArgumentError
from mapds.modeling import CatalogueFit, Fit
from mapds.modeling.catalogue_fit import overlap_groups
from mapds.simulate import fit_start_models, make_clustered_case, survey_dataset

#: Cluster centres (longitude, deg) and the offsets of the sources of a cluster (deg): the
#: sources of a cluster overlap, the clusters do not.
CLUSTERS = (-4.5, -1.5, 1.5, 4.5)
OFFSETS = ((0.0, 0.0), (0.5, 0.2), (-0.3, -0.4))


def _datasets(case, dataset):
    """The simulated dataset with the sources' positions and amplitudes free (started away from
    the truth) and the background norm free."""
    dataset = dataset.copy(name="survey")
    dataset.models = fit_start_models(case, "survey")
    return Datasets([dataset])


@pytest.fixture(scope="module")
def survey12():
    case = make_clustered_case(CLUSTERS, OFFSETS, width_deg=12)
    return case, survey_dataset(case).persist()


def test_overlap_groups_are_connected_components():
    boxes = {
        "a": [(0, 2, 0, 2)],
        "b": [(1, 3, 1, 3)],  # overlaps a
        "c": [(2.5, 4, 2.5, 4)],  # overlaps b only
        "d": [(10, 11, 10, 11)],
        "e": [None],  # not in this dataset
    }
    assert overlap_groups(boxes) == [["a", "b", "c"], ["d"], ["e"]]
    # in two datasets: overlapping in either joins
    assert overlap_groups(
        {"a": [(0, 1, 0, 1), None], "b": [(5, 6, 5, 6), (0, 1, 0, 1)], "c": [None, (0.5, 2, 0, 1)]}
    ) == [
        ["a"],
        ["b", "c"],
    ]


def test_groups_are_the_clusters(survey12):
    case, dataset = survey12
    groups = CatalogueFit().groups(_datasets(case, dataset))
    assert groups == [[f"c{c}s{j}" for j in range(len(OFFSETS))] for c in range(len(CLUSTERS))]


def test_catalogue_fit_equals_the_joint_fit(survey12):
    """12 sources in 4 clusters: every parameter within 0.1 σ of the joint fit's."""
    case, dataset = survey12
    grouped, joint = _datasets(case, dataset), _datasets(case, dataset)
    result = CatalogueFit().run(grouped)
    Fit().run(joint)
    assert result.success, result.message
    assert len(result.groups) == len(CLUSTERS)
    assert result.trace[-1] <= result.trace[0] and result.total_stat == pytest.approx(
        joint.stat_sum(), abs=0.1
    )
    ratios = []
    for got, want in zip(grouped.models, joint.models, strict=True):
        for par, ref in zip(got.parameters, want.parameters, strict=True):
            if ref.frozen:
                assert par.value == ref.value
                continue
            assert abs(par.value - ref.value) < 0.1 * ref.error, f"{got.name}.{par.name}"
            ratios.append(par.error / ref.error)
    # Each group's errors leave out its correlations with the background norm (frozen in the
    # group fits): amplitudes come out about 15 % smaller than the joint fit's.  Hesse of a
    # position is sometimes off by a factor of two in either fit (the PSF is looked up again when
    # a source moves), hence the loose bounds on single parameters.
    assert 0.8 < np.median(ratios) < 1.2
    assert all(0.5 < r < 3 for r in ratios)


def _small():
    """Two separate sources: a fit quick enough to run on every scheduler."""
    case = make_clustered_case((-1.5, 1.5), ((0.0, 0.0),), width_deg=5)
    return case, survey_dataset(case).persist()


def _fitted(case, dataset, **config) -> list[float]:
    datasets = _datasets(case, dataset)
    with dask.config.set(**config):
        CatalogueFit(max_rounds=2).run(datasets)
    return [par.value for par in datasets.models.parameters] + [
        par.error for par in datasets.models.parameters
    ]


def test_same_numbers_on_every_scheduler(local_cluster):
    distributed = pytest.importorskip("distributed")
    case, dataset = _small()
    expected = _fitted(case, dataset, scheduler="threads")
    runs = {
        "sync": _fitted(case, dataset, scheduler="sync"),
        "processes": _fitted(case, dataset, scheduler="processes"),
    }
    with distributed.Client(local_cluster):
        runs["cluster"] = _fitted(case, dataset)
    for scheduler, values in runs.items():
        assert values == expected, scheduler


def test_fit_runs_the_groups_as_tasks():
    """One task per group: the groups of a round are computed together."""
    case, dataset = _small()
    datasets = _datasets(case, dataset)
    calls = []

    def count(keys):
        calls.append([k for k in keys if str(k).startswith("catalogue-fit-group")])

    fit = CatalogueFit(max_rounds=1)
    with dask.config.set(scheduler="sync"), dask.callbacks.Callback(start=count):
        result = fit.run(datasets)
    assert [len(c) for c in calls if c] == [2, 2]  # one round and the error estimates
    assert result.rounds == 1 and result.groups == [["c0s0"], ["c1s0"]]


def test_bad_settings_and_nothing_free(survey12):
    case, dataset = survey12
    with pytest.raises(InvalidArgumentError, match="max_rounds"):
        CatalogueFit(max_rounds=0)
    with pytest.raises(InvalidArgumentError, match="tol"):
        CatalogueFit(tol=0)
    datasets = _datasets(case, dataset)
    datasets.models.freeze()
    with pytest.raises(InvalidArgumentError, match="No free parameters"):
        CatalogueFit().run(datasets)
