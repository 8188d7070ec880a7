"""A fit's evaluations cost what changed, and equal a cold evaluation.

Random walks through parameter space (one or two parameters moved per step, as an optimiser does):
at every step the incremental statistic of the dataset (cached cutouts, lookups and tile sums)
equals the statistic of a fresh copy that computes everything (to float64 round-off), on the
threaded scheduler, on a ``distributed`` cluster with worker processes, and in the resident
in-process path of small datasets.
"""

from __future__ import annotations

import tracemalloc

import dask
import numpy as np
import pytest

from mapds.datasets import Datasets, MapDataset
from mapds.datasets.engine import evaluator as evaluator_module
from mapds.datasets.engine.evaluator import MARGIN_DEG as LOOKUP_MARGIN_DEG
from mapds.modeling import Fit
from mapds.simulate import make_survey_case, survey_dataset, survey_models

distributed = pytest.importorskip("distributed")


@pytest.fixture
def client(local_cluster):
    with distributed.Client(local_cluster, set_as_default=False) as client:
        yield client


def survey(resident: bool) -> MapDataset:
    case = make_survey_case(4, 2, 0.04, n_models=3)
    dataset = survey_dataset(case, chunks={"x": 40, "y": 25})
    dataset.models = survey_models(case, dataset_name=dataset.name)
    for model in dataset.models:
        for par in model.parameters:
            if par.name in ("lon_0", "lat_0", "sigma", "tilt"):
                par.frozen = False
    if not resident:
        dataset.resident_max_bytes = 0
    return dataset


def crab(crab_dir, resident: bool) -> MapDataset:
    datasets = Datasets.read(
        crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=crab_dir / "Fermi-LAT-3FHL_models.yaml"
    )
    dataset = datasets[0]
    if not resident:
        dataset.resident_max_bytes = 0
    return dataset


def cold_stat_sum(dataset: MapDataset) -> float:
    """The statistic of a copy with nothing cached (the same members, models copied)."""
    fresh = dataset.copy(name=dataset.name)
    fresh.resident_max_bytes = 0
    fresh.models = dataset.models.copy()
    return fresh.stat_sum()


def random_walk(dataset: MapDataset, steps: int, seed: int, compute) -> None:
    """Move one or two free parameters per step and compare with a cold evaluation.

    A position moves past the model's IRF lookup margin (towards the map centre): a model that
    moves less keeps the IRFs it looked up (as in gammapy), where a cold evaluation looks them
    up at the new position, so the two differ by the IRFs' change over the move (1e-10).
    """
    rng = np.random.default_rng(seed)
    owners = {id(par): model for model in dataset.models for par in model.parameters}
    free = list(dataset.models.parameters.free_parameters)
    assert compute() == pytest.approx(cold_stat_sum(dataset), rel=1e-12)
    for _ in range(steps):
        for index in rng.choice(len(free), size=rng.integers(1, 3), replace=False):
            par = free[index]
            if par.name in ("lon_0", "lat_0"):
                radius = owners[id(par)].evaluation_radius.to_value("deg")
                par.value -= np.sign(par.value) * (radius + LOOKUP_MARGIN_DEG + abs(rng.normal(0, 0.05)))
            elif par.name == "tilt":
                par.value += rng.normal(0, 0.05)
            else:
                par.value *= 1 + rng.normal(0, 0.05)
        assert compute() == pytest.approx(cold_stat_sum(dataset), rel=1e-12)


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "chunked"])
def test_survey_walk_on_threads(resident):
    dataset = survey(resident)
    assert dataset.is_resident == resident
    random_walk(dataset, 6, seed=1, compute=lambda: Datasets([dataset]).stat_sum())


def test_survey_walk_on_a_cluster(client):
    dataset = survey(resident=False)
    with dask.config.set(scheduler=client.get):
        random_walk(dataset, 3, seed=2, compute=lambda: Datasets([dataset]).stat_sum())


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "chunked"])
def test_crab_walk_on_threads(crab_dir, resident):
    dataset = crab(crab_dir, resident)
    assert dataset.lazy_stat_sum().in_process == resident
    random_walk(dataset, 8, seed=3, compute=lambda: Datasets([dataset]).stat_sum())


def test_crab_walk_on_a_cluster(crab_dir, client):
    dataset = crab(crab_dir, resident=False)
    with dask.config.set(scheduler=client.get):
        random_walk(dataset, 4, seed=4, compute=dataset.stat_sum)


def test_only_changed_models_are_evaluated(monkeypatch):
    """A source's amplitude rescales its cached cutout; its index re-evaluates it alone; the FoV
    norm evaluates no model."""
    dataset = survey(resident=True)
    dataset.stat_sum()
    calls = []
    evaluate = evaluator_module.evaluate_model

    def counting(spec, *blocks):
        calls.append(spec.model.name)
        return evaluate(spec, *blocks)

    monkeypatch.setattr(evaluator_module, "evaluate_model", counting)
    models = dataset.models
    models["src001"].spectral_model.amplitude.value *= 1.1
    dataset.stat_sum()
    assert calls == []
    models["src001"].spectral_model.index.value += 0.1
    dataset.stat_sum()
    assert calls == ["src001"]
    models[dataset.background_model.name].spectral_model.norm.value *= 1.1
    dataset.stat_sum()
    assert calls == ["src001"]


# -- larger than memory ---------------------------------------------------------------------------------


def fit_peak_memory(tmp_path, width: float, height: float) -> tuple[int, int]:
    """Peak traced memory of a (shortened) fit of a zarr survey dataset read lazily, and the
    bytes of its maps."""
    case = make_survey_case(width, height, 0.03, n_models=3)
    simulated = survey_dataset(case, chunks={"x": 50, "y": 50})
    simulated.models = survey_models(case, dataset_name=simulated.name)
    simulated.fake(random_state=0)
    path = tmp_path / f"survey-{width}x{height}.zarr"
    simulated.write(path)
    dataset = MapDataset.read(path)
    dataset.resident_max_bytes = 0  # as for a cube larger than memory
    dataset.models = survey_models(case, dataset_name=dataset.name)
    for par in dataset.models.parameters.free_parameters:
        par.value *= 1.05
    fit = Fit(optimize_opts={"migrad_opts": {"ncall": 8}})
    with dask.config.set(scheduler="threads", num_workers=2):
        tracemalloc.start()
        result = fit.optimize(dataset)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert result.nfev >= 8
    maps = (dataset.counts, dataset.background, dataset.exposure, dataset.mask_safe)
    return peak, sum(m.dask_data.nbytes for m in maps if m is not None)


def test_fit_memory_does_not_grow_with_the_cube(tmp_path):
    """A fit that reads its zarr dataset chunk by chunk: its peak memory is set by the model
    footprints and the chunks in flight, not by the cube (only the graph, one task per chunk,
    grows with the number of chunks)."""
    small, small_bytes = fit_peak_memory(tmp_path, 4, 2)
    large, large_bytes = fit_peak_memory(tmp_path, 8, 4)
    assert large_bytes > 3.9 * small_bytes
    # measured 1.32-1.46 (the graph, one task per chunk, is most of the growth at this size)
    assert large < 1.6 * small
