"""`FluxPointsEstimator` and `FluxPoints` against gammapy 2.1 (same inputs, same numbers, same files),
on a known injected source, on every scheduler, and their named errors."""

from __future__ import annotations

import astropy.units as u
import dask
import numpy as np
import pytest
from astropy.table import Table

from mapds.datasets import Datasets
from mapds.errors import EnergyRangeError, InvalidArgumentError, OverwriteError, UnknownSourceError
from mapds.estimators import FluxPoints, FluxPointsEstimator
from mapds.maps import Map
from mapds.modeling import models as mapds_models
from mapds.modeling.models import PowerLawSpectralModel, ScaleSpectralModel
from mapds.testing import CHUNKS, MAPDS, build_dataset, sky_models

gammapy = pytest.importorskip("gammapy")
from gammapy.datasets import Datasets as GammapyDatasets  # noqa: E402
from gammapy.estimators import FluxPoints as GammapyFluxPoints  # noqa: E402
from gammapy.estimators import FluxPointsEstimator as GammapyFluxPointsEstimator  # noqa: E402

CRAB_EDGES = [10, 30, 100, 500] * u.GeV
#: Quantities gammapy and mapds compute the same way (the fit's best norm and what follows from
#: it) and the tolerance of each: the norm is iterated by MIGRAD (both take the same steps, to
#: ~1e-7), errors by HESSE and scipy's root finding; counts are exact.
TOLERANCES = {
    "norm": 1e-6,
    "norm_err": 1e-6,
    "norm_errn": 1e-5,
    "norm_errp": 1e-5,
    "norm_ul": 1e-6,
    "norm_sensitivity": 1e-6,
    "ts": 1e-7,
    "sqrt_ts": 1e-7,
    "stat": 1e-8,
    "stat_null": 1e-9,
    "npred": 1e-6,
    "npred_excess": 1e-6,
    "stat_scan": 1e-9,
    "norm_scan": 1e-12,
    "e_min": 1e-12,
    "e_max": 1e-12,
    "e_ref": 1e-12,
    "ref_dnde": 1e-9,
    "ref_flux": 1e-9,
    "ref_eflux": 1e-9,
    "counts": 0,
}


pytestmark = pytest.mark.usefixtures("quiet")  # both libraries warn on these small grids


def crab(crab_dir, library):
    """The Fermi-LAT Crab datasets and models, read by ``library``."""
    datasets_class = GammapyDatasets if library == "gammapy" else Datasets
    return datasets_class.read(
        crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=crab_dir / "Fermi-LAT-3FHL_models.yaml"
    )


def assert_tables_agree(md_table, gp_table, tolerances=None):
    """Every column gammapy wrote is there, with gammapy's values (within :data:`TOLERANCES`)."""
    tolerances = {**TOLERANCES, **(tolerances or {})}
    for name in gp_table.colnames:
        assert name in md_table.colnames, name
        got, want = np.asarray(md_table[name]), np.asarray(gp_table[name])
        if want.dtype == bool:
            assert np.array_equal(got, want), name
        else:
            np.testing.assert_allclose(got, want, rtol=tolerances.get(name, 1e-9), err_msg=name)


@pytest.fixture(scope="module")
def crab_pair(crab_dir):
    """mapds' and gammapy's flux points of the Crab with every optional quantity."""
    kwargs = {"energy_edges": CRAB_EDGES, "source": "Crab Nebula", "selection_optional": "all"}
    md = FluxPointsEstimator(**kwargs).run(crab(crab_dir, "mapds"))
    gp = GammapyFluxPointsEstimator(**kwargs).run(crab(crab_dir, "gammapy"))
    return md, gp


def test_crab_flux_points_agree_with_gammapy(crab_pair):
    md, gp = crab_pair
    md_table, gp_table = md.to_table(sed_type="likelihood"), gp.to_table(sed_type="likelihood")
    assert md_table.colnames == gp_table.colnames
    assert_tables_agree(md_table, gp_table)
    # the snapped bins: 500 GeV is nearer (in log) to the 693 GeV edge than to 240 GeV
    np.testing.assert_allclose(
        md_table["e_max"].quantity.to_value("GeV"), [28.854, 83.255, 693.145], rtol=1e-4
    )
    assert md_table["counts"].data.ravel().tolist() == [2143, 537, 242]
    assert md_table["ts"].min() > 2000  # a bright source: the comparison is not of noise


@pytest.mark.parametrize("sed_type", ["dnde", "e2dnde", "flux", "eflux"])
def test_crab_sed_types_agree_with_gammapy(crab_pair, sed_type):
    md, gp = crab_pair
    md_table, gp_table = md.to_table(sed_type=sed_type), gp.to_table(sed_type=sed_type)
    assert md_table.colnames == gp_table.colnames
    for name in gp_table.colnames:
        assert md_table[name].unit == gp_table[name].unit, name
    suffixes = ("", "_err", "_errn", "_errp", "_ul", "_sensitivity")
    assert_tables_agree(md_table, gp_table, {f"{sed_type}{s}": TOLERANCES[f"norm{s}"] for s in suffixes})


def test_reoptimize_agrees_with_gammapy(crab_dir):
    """With ``reoptimize`` the background norm is refitted in every bin and for ``ts``."""
    kwargs = {"energy_edges": [10, 100, 2000] * u.GeV, "source": "Crab Nebula", "reoptimize": True}
    md = FluxPointsEstimator(**kwargs).run(crab(crab_dir, "mapds"))
    gp = GammapyFluxPointsEstimator(**kwargs).run(crab(crab_dir, "gammapy"))
    # gammapy's covariance of two free parameters (norm and background) comes from HESSE on
    # both: the norm error follows the fit to 1e-4
    tolerances = {"norm": 1e-4, "norm_err": 1e-3, "ts": 1e-5, "stat": 1e-9, "stat_null": 1e-6}
    md_table, gp_table = md.to_table(), gp.to_table()
    for name, rtol in tolerances.items():
        np.testing.assert_allclose(md_table[name], gp_table[name], rtol=rtol, err_msg=name)


def test_sum_over_energy_groups_agrees_with_gammapy(crab_dir):
    kwargs = {
        "energy_edges": [10, 100, 2000] * u.GeV,
        "source": "Crab Nebula",
        "sum_over_energy_groups": True,
    }
    md = FluxPointsEstimator(**kwargs, selection_optional=["ul"]).run(crab(crab_dir, "mapds"))
    gp = GammapyFluxPointsEstimator(**kwargs, selection_optional=["ul"]).run(crab(crab_dir, "gammapy"))
    assert_tables_agree(md.to_table(), gp.to_table())


# -- a synthetic dataset with a known source -------------------------------------------------------


def injected_dataset(seed=1, scale=5.0):
    """A small dataset (PSF, energy dispersion, masks) whose counts are drawn from a point source
    with a power law of index 2.4 (5× the twins' amplitude) over the background model."""
    dataset = build_dataset(MAPDS, seed)
    models = sky_models("mapds", ["point"], dataset_name=dataset.name)
    models["point"].spectral_model.amplitude.value *= scale
    dataset.models = models
    npred = np.asarray(dataset.npred().data)
    counts = np.random.default_rng(seed).poisson(npred).astype(float)
    dataset.counts = Map.from_geom(dataset.counts.geom, data=counts, chunks=CHUNKS)
    return dataset


def test_injected_spectrum_is_recovered():
    dataset = injected_dataset()
    truth = dataset.models["point"].spectral_model.copy()
    estimator = FluxPointsEstimator(
        energy_edges=[1, 2, 4, 10] * u.TeV, source="point", selection_optional=["ul"]
    )
    points = estimator.run(dataset)
    norm, err = np.ravel(points.norm.data), np.ravel(points.norm_err.data)
    assert np.all(np.ravel(points.success.data))
    assert np.all(err < 0.3)  # a measurement, not an upper limit
    assert np.all(np.abs(norm - 1) < 3 * err), (norm, err)
    # the flux points are the injected spectrum at e_ref, within their errors
    dnde = np.ravel(points.dnde.quantity)
    dnde_true = truth(points.energy_ref)
    assert np.all(np.abs(dnde / dnde_true - 1) < 3 * err)
    assert np.all(np.ravel(points.norm_ul.data) > norm)
    # the reference model is the source's spectrum: the norms are of it, not of a scaled copy
    assert points.reference_spectral_model.amplitude.value == truth.amplitude.value
    assert not isinstance(points.reference_spectral_model, ScaleSpectralModel)


def test_synthetic_dataset_agrees_with_gammapy():
    """The same small dataset in both libraries (PSF, energy dispersion, masks, two sources)."""
    md_dataset = injected_dataset()
    counts = np.asarray(md_dataset.counts.data)
    gp_dataset = build_dataset("gammapy", 1)
    gp_dataset.counts.data = counts.copy()
    gp_models = sky_models("gammapy", ["point", "gauss"], dataset_name=gp_dataset.name)
    md_models = sky_models("mapds", ["point", "gauss"], dataset_name=md_dataset.name)
    for models in (gp_models, md_models):
        models["point"].spectral_model.amplitude.value *= 5
    gp_dataset.models, md_dataset.models = gp_models, md_models
    kwargs = {
        "energy_edges": [1, 3, 10] * u.TeV,
        "source": "point",
        "selection_optional": "all",
    }
    md = FluxPointsEstimator(**kwargs).run(md_dataset).to_table()
    gp = GammapyFluxPointsEstimator(**kwargs).run(gp_dataset).to_table()
    assert md.colnames == gp.colnames
    # the statistics hold the Gaussian source, whose npred the libraries evaluate to 1e-8
    assert_tables_agree(md, gp, {"stat_null": 1e-7, "stat": 1e-7, "stat_scan": 1e-7})


def test_joint_datasets_agree_with_gammapy():
    """Two datasets sharing the source, each with its background model: one row per bin with
    ``counts`` and ``npred`` per dataset."""
    pairs = []
    for seed, name in ((1, "a"), (2, "b")):
        gp_dataset, md_dataset = (
            build_dataset("gammapy", seed, name=name),
            build_dataset(MAPDS, seed, name=name),
        )
        pairs.append((gp_dataset, md_dataset))
    gp_source, md_source = (
        sky_models("gammapy", ["point"], fov=None)[0],
        sky_models("mapds", ["point"], fov=None)[0],
    )
    gp_datasets = GammapyDatasets([gp for gp, _ in pairs])
    md_datasets = Datasets([md for _, md in pairs])
    gp_models = [gp_source] + [sky_models("gammapy", [], dataset_name=n)[0] for n in ("a", "b")]
    md_models = [md_source] + [sky_models("mapds", [], dataset_name=n)[0] for n in ("a", "b")]
    gp_datasets.models = gammapy.modeling.models.Models(gp_models)
    md_datasets.models = md_models
    kwargs = {"energy_edges": [1, 3, 10] * u.TeV, "source": "point", "selection_optional": ["ul"]}
    md = FluxPointsEstimator(**kwargs).run(md_datasets).to_table()
    gp = GammapyFluxPointsEstimator(**kwargs).run(gp_datasets).to_table()
    assert md["counts"].shape == (2, 2)
    assert_tables_agree(md, gp, {"stat_null": 1e-7, "stat": 1e-7})


@pytest.mark.parametrize("sum_over_energy_groups", [False, True])
def test_template_npred_model_is_sliced_like_gammapy(sum_over_energy_groups):
    """A `TemplateNPredModel` (a predicted-counts map) is cut to each bin with its dataset."""
    md_dataset = injected_dataset()
    gp_dataset = build_dataset("gammapy", 1)
    gp_dataset.counts.data = np.asarray(md_dataset.counts.data).copy()
    libraries = {"gammapy": (gammapy.modeling.models, gp_dataset), "mapds": (mapds_models, md_dataset)}
    for library, (module, dataset) in libraries.items():
        models = sky_models(library, ["point"], dataset_name=dataset.name)
        models["point"].spectral_model.amplitude.value *= 5
        template = module.TemplateNPredModel(
            dataset.background * 0.2, datasets_names=[dataset.name], name="tpl"
        )
        dataset.models = [*models, template]
    kwargs = {"energy_edges": [1, 3, 10] * u.TeV, "source": "point", "reoptimize": True}
    kwargs["sum_over_energy_groups"] = sum_over_energy_groups
    md = FluxPointsEstimator(**kwargs).run(md_dataset).to_table()
    gp = GammapyFluxPointsEstimator(**kwargs).run(gp_dataset).to_table()
    assert_tables_agree(md, gp, {"norm": 1e-4, "norm_err": 1e-3, "ts": 1e-5, "stat_null": 1e-6, "stat": 1e-7})


# -- schedulers ---------------------------------------------------------------------------------------


def test_one_task_per_energy_bin():
    dataset = injected_dataset()
    estimator = FluxPointsEstimator(energy_edges=[1, 2, 4, 10] * u.TeV, source="point")
    tasks = estimator.tasks(dataset)
    assert len(tasks) == 3
    assert len({task.key for task in tasks}) == 3
    assert [t.key for t in estimator.tasks(dataset)] == [t.key for t in tasks]  # keys name the work


def test_same_numbers_on_every_scheduler(local_cluster):
    distributed = pytest.importorskip("distributed")
    dataset = injected_dataset()
    # errn-errp and scan are left out: on the process scheduler they are many times slower (see
    # the README's "what is not there yet")
    estimator = FluxPointsEstimator(
        energy_edges=[1, 3, 10] * u.TeV, source="point", selection_optional=["ul"]
    )
    runs = {}
    for scheduler in ("sync", "threads", "processes"):
        with dask.config.set(scheduler=scheduler):
            runs[scheduler] = estimator.run(dataset).to_table()
    with distributed.Client(local_cluster):
        runs["cluster"] = estimator.run(dataset).to_table()
    expected = runs.pop("sync")
    for scheduler, table in runs.items():
        assert table.colnames == expected.colnames
        for name in expected.colnames:
            assert np.array_equal(np.asarray(table[name]), np.asarray(expected[name]), equal_nan=True), (
                f"{name} differs on {scheduler}"
            )


def test_run_leaves_the_models_unchanged():
    dataset = injected_dataset()
    models = dataset.models
    before = [(p.value, p.frozen) for p in models.parameters]
    FluxPointsEstimator(energy_edges=[1, 10] * u.TeV, source="point", reoptimize=True).run(dataset)
    assert [(p.value, p.frozen) for p in dataset.models.parameters] == before
    assert type(dataset.models["point"].spectral_model).__name__ == "PowerLawSpectralModel"


# -- files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".fits", ".ecsv"])
def test_write_read_round_trip_and_gammapy_reads_it(crab_pair, tmp_path, suffix):
    md, _ = crab_pair
    path = tmp_path / f"points{suffix}"
    md.write(path, sed_type="likelihood")
    again = FluxPoints.read(path)
    assert again.to_table().colnames == md.to_table().colnames
    # read back, the reference model is a template of ref_dnde (as in gammapy): the norms and
    # what does not depend on the reference are the written ones
    assert_tables_agree(again.to_table(), md.to_table(), {"ref_flux": 1e-2, "ref_eflux": 1e-2})
    theirs = GammapyFluxPoints.read(path)
    for sed_type in ("likelihood", "dnde", "flux"):
        assert_tables_agree(again.to_table(sed_type=sed_type), theirs.to_table(sed_type=sed_type))


@pytest.mark.parametrize("sed_type", ["likelihood", "dnde", "e2dnde", "flux", "eflux"])
def test_reads_gammapy_files(crab_pair, tmp_path, sed_type):
    _, gp = crab_pair
    path = tmp_path / "gammapy.fits"
    gp.write(path, sed_type=sed_type)
    ours, theirs = FluxPoints.read(path), GammapyFluxPoints.read(path)
    assert ours.sed_type_init == sed_type
    for out_type in ("dnde", "flux") if sed_type != "likelihood" else ("likelihood", "dnde", "eflux"):
        assert_tables_agree(ours.to_table(sed_type=out_type), theirs.to_table(sed_type=out_type))


def test_write_does_not_overwrite(crab_pair, tmp_path):
    md, _ = crab_pair
    path = tmp_path / "points.fits"
    md.write(path)
    with pytest.raises(OverwriteError, match="exists"):
        md.write(path)
    md.write(path, overwrite=True)


def test_flux_points_quantities(crab_pair):
    md, gp = crab_pair
    np.testing.assert_allclose(md.e2dnde.quantity.ravel(), gp.e2dnde.quantity.ravel(), rtol=1e-6)
    np.testing.assert_allclose(md.flux_ul.quantity.ravel(), gp.flux_ul.quantity.ravel(), rtol=1e-6)
    np.testing.assert_allclose(md.sqrt_ts.data.ravel(), gp.sqrt_ts.data.ravel(), rtol=1e-9)
    np.testing.assert_allclose(md.energy_ref, gp.energy_ref, rtol=1e-12)
    assert np.array_equal(np.ravel(md.is_ul.data), np.ravel(gp.is_ul.data))
    assert "FluxPoints" in str(md)


# -- bad input ----------------------------------------------------------------------------------------


def test_energy_edges_outside_the_dataset():
    dataset = injected_dataset()
    estimator = FluxPointsEstimator(energy_edges=[20, 50] * u.TeV, source="point")
    with pytest.raises(EnergyRangeError, match=r"bin 20.0 TeV to 50.0 TeV.*'ds': 1.0 TeV to 10.0"):
        estimator.run(dataset)


def test_unknown_source():
    dataset = injected_dataset()
    with pytest.raises(UnknownSourceError, match=r"'crab' is not among the datasets' models \['point'"):
        FluxPointsEstimator(source="crab").run(dataset)
    with pytest.raises(UnknownSourceError, match="Source 7"):
        FluxPointsEstimator(source=7).run(dataset)


def test_unknown_selection():
    with pytest.raises(InvalidArgumentError, match=r"\{'sensitivty'\} is not a valid method"):
        FluxPointsEstimator(selection_optional=["ul", "sensitivty"])


def test_all_selects_every_optional_step():
    estimator = FluxPointsEstimator(selection_optional="all")
    assert estimator.selection_optional == ["errn-errp", "ul", "scan", "sensitivity"]


def test_failed_fits_give_nan_norms():
    """As in gammapy, ``norm`` and ``norm_err`` (and the fluxes from them) are NaN where the
    fit failed, unless ``filter_success_nan`` is False."""
    table = Table({"e_min": [1, 2] * u.TeV, "e_max": [2, 4] * u.TeV, "norm": [1.0, 2.0]})
    table["norm_err"], table["success"] = [0.1, 0.2], [True, False]
    points = FluxPoints.from_table(table, sed_type="likelihood", reference_model=PowerLawSpectralModel())
    assert np.isnan(np.asarray(points.norm.data)).ravel().tolist() == [False, True]
    assert np.isnan(np.asarray(points.dnde_err.data)).ravel().tolist() == [False, True]
    points.filter_success_nan = False
    assert np.asarray(points.norm.data).ravel().tolist() == [1.0, 2.0]


def test_tables_without_the_sed_columns_or_in_other_formats():
    table = Table({"e_ref": [1, 2] * u.TeV, "counts": [3, 4]})
    with pytest.raises(InvalidArgumentError, match="Specifying the SED type is required"):
        FluxPoints.from_table(table)
    table["dnde"] = [1e-12, 1e-13] * u.Unit("cm-2 s-1 TeV-1")
    assert FluxPoints.from_table(table).sed_type_init == "dnde"
    with pytest.raises(InvalidArgumentError, match="format 'lightcurve' is not supported"):
        FluxPoints.from_table(table, format="lightcurve")


def test_norm_must_be_named_norm():
    with pytest.raises(InvalidArgumentError, match="named 'norm'"):
        FluxPointsEstimator(norm={"name": "amplitude"})
    estimator = FluxPointsEstimator(norm={"scan_n_values": 5, "min": 0})
    assert len(estimator.norm.scan_values) == 5
    assert estimator.norm.min == 0
