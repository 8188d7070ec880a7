"""`mapds.modeling.Fit` against gammapy's `Fit` on identical inputs.

Synthetic datasets (:func:`mapds.testing.twins.dataset_pair`) get counts drawn from their true
models, start from shifted parameter values, and are fitted by both libraries: best-fit values
must agree within 1e-3 of the errors, errors within 1 %, the statistic to 1e-6.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

from mapds.datasets import Datasets
from mapds.errors import InvalidArgumentError, ParameterError
from mapds.maps import Map
from mapds.modeling import Fit
from mapds.modeling.models import GaussianPrior, Models
from mapds.testing.twins import CHUNKS, dataset_pair, sky_models

gammapy = pytest.importorskip("gammapy")
from gammapy.datasets import Datasets as GammapyDatasets  # noqa: E402
from gammapy.maps import Map as GammapyMap  # noqa: E402
from gammapy.modeling import Fit as GammapyFit  # noqa: E402
from gammapy.modeling.models import GaussianPrior as GammapyGaussianPrior  # noqa: E402

SHAPE_PARAMETERS = ("lon_0", "lat_0", "sigma", "r_0", "alpha", "beta")


pytestmark = pytest.mark.usefixtures("quiet")  # both libraries warn on these small grids


def simulated_pair(sources, seed=0, name="ds", free_shape=False, models=None):
    """gammapy and mapds datasets with counts drawn from ``sources`` and both libraries' models
    moved away from the truth (shape parameters frozen unless ``free_shape``)."""
    gp, md = dataset_pair(seed, name=name)
    gp_models = sky_models("gammapy", sources, dataset_name=name) if models is None else models[0]
    md_models = sky_models("mapds", sources, dataset_name=name) if models is None else models[1]
    gp.models, md.models = gp_models, md_models
    npred = md.npred().compute().data
    counts = np.random.default_rng(seed).poisson(npred).astype(float)
    gp.counts = GammapyMap.from_geom(gp.counts.geom, data=counts.copy())
    md.counts = Map.from_geom(md.counts.geom, data=counts.copy(), chunks=CHUNKS)
    for library_models in (gp_models, md_models):
        for par in library_models.parameters.free_parameters:
            if par.name in SHAPE_PARAMETERS and not free_shape:
                par.frozen = True
            elif par.name == "index":
                par.value += 0.1
            elif par.name in ("lon_0", "lat_0"):
                par.value += 0.02
            else:
                par.value *= 1.1
    return gp, md


def assert_fit_same(md_result, gp_result, md_models, gp_models, error_rtol=1e-2):
    assert md_result.success and gp_result.success
    assert md_result.total_stat == pytest.approx(gp_result.total_stat, rel=1e-6)
    md_free, gp_free = md_models.parameters.free_parameters, gp_models.parameters.free_parameters
    assert md_free.names == gp_free.names
    for md_par, gp_par in zip(md_free, gp_free, strict=True):
        assert abs(md_par.value - gp_par.value) <= 1e-3 * gp_par.error, md_par.name
        assert md_par.error == pytest.approx(gp_par.error, rel=error_rtol), md_par.name


@pytest.mark.parametrize("sources", [["gauss"], ["point", "gauss", "disk"]])
def test_fit_agrees_with_gammapy(sources):
    """1 and 3 sources (index, amplitude and the FoV background norm free)."""
    gp, md = simulated_pair(sources)
    gp_result = GammapyFit().run([gp])
    md_result = Fit().run([md])
    assert md_result.nfev == gp_result.nfev
    assert_fit_same(md_result, gp_result, md.models, gp.models)
    assert "norm" in md.models.parameters.free_parameters.names


def test_fit_point_source_position():
    """A point source with its position free.

    The statistic of both libraries is smooth in the position only down to ~1e-3°: below, the
    round-off of float32 IRFs and the cutout grid make a finite-difference curvature wander (for
    gammapy itself by 2 % between steps of 1e-3° and 3e-4°), and HESSE's steps go there.  So
    the position errors agree within 3 %, and the curvature at a 0.004° step (the likelihood
    surface itself) within 1e-3.
    """
    gp, md = simulated_pair(["point"], free_shape=True)
    gp_result, md_result = GammapyFit().run([gp]), Fit().run([md])
    for md_par, gp_par in zip(
        md.models.parameters.free_parameters, gp.models.parameters.free_parameters, strict=True
    ):
        rtol = 3e-2 if md_par.name in ("lon_0", "lat_0") else 1e-2
        assert md_par.error == pytest.approx(gp_par.error, rel=rtol), md_par.name
    assert_fit_same(md_result, gp_result, md.models, gp.models, error_rtol=3e-2)
    step = 0.004
    for name in ("lon_0", "lat_0"):
        curvatures = []
        for datasets in (GammapyDatasets([gp]), Datasets([md])):
            par = datasets.models.parameters[name]
            centre = par.value
            stats = []
            for value in (centre - step, centre, centre + step):
                par.value = value
                stats.append(datasets.stat_sum())
            par.value = centre
            curvatures.append((stats[0] - 2 * stats[1] + stats[2]) / step**2)
        assert curvatures[1] == pytest.approx(curvatures[0], rel=1e-3), name


def test_joint_fit_shares_a_source():
    """Two datasets, one source model shared, a FoV background per dataset."""
    gp_source = sky_models("gammapy", ["point"], fov=None)[0]
    md_source = sky_models("mapds", ["point"], fov=None)[0]
    gp_datasets, md_datasets = [], []
    for seed, name in enumerate("ab"):
        models = (
            gammapy.modeling.models.Models([gp_source, *sky_models("gammapy", [], dataset_name=name)]),
            Models([md_source, *sky_models("mapds", [], dataset_name=name)]),
        )
        gp_sim, md_sim = simulated_pair(["point"], seed=seed, name=name, models=models)
        gp_datasets.append(gp_sim)
        md_datasets.append(md_sim)
    gp_datasets, md_datasets = GammapyDatasets(gp_datasets), Datasets(md_datasets)
    assert len(md_datasets.parameters.free_parameters) == 4  # index, amplitude, 2 norms
    gp_result = GammapyFit().run(gp_datasets)
    md_result = Fit().run(md_datasets)
    assert_fit_same(md_result, gp_result, md_datasets.models, gp_datasets.models)
    assert md_datasets.stat_sum() == pytest.approx(
        md_datasets[0].stat_sum() + md_datasets[1].stat_sum(), rel=1e-12
    )


def test_fit_with_a_prior():
    """A Gaussian prior on the index adds to the statistic as in gammapy, and pulls the fit."""
    gp, md = simulated_pair(["point", "gauss"])
    gp.models.parameters["index"].prior = GammapyGaussianPrior(mu=2.0, sigma=0.1)
    md.models.parameters["index"].prior = GaussianPrior(mu=2.0, sigma=0.1)
    gp_datasets, md_datasets = GammapyDatasets([gp]), Datasets([md])
    assert md_datasets.stat_sum() == pytest.approx(gp_datasets.stat_sum(), rel=1e-7)
    assert md_datasets.stat_sum() - md.stat_sum() == pytest.approx(
        md.models.parameters["index"].prior(md.models.parameters["index"]), rel=1e-12
    )
    gp_result, md_result = GammapyFit().run(gp_datasets), Fit().run(md_datasets)
    assert_fit_same(md_result, gp_result, md.models, gp.models)
    assert abs(md.models.parameters["index"].value - 2.0) < 0.2


def test_scipy_backend_agrees_with_minuit():
    """scipy's minimize finds MIGRAD's minimum; the numerical Hessian gives HESSE's errors."""
    _, md = simulated_pair(["point", "gauss"])
    start = md.models.parameters.value
    minuit = Fit().run([md])
    errors = [p.error for p in md.models.parameters.free_parameters]
    best = [p.value for p in md.models.parameters.free_parameters]
    md.models.parameters.value = start
    result = Fit(backend="scipy", optimize_opts={"method": "L-BFGS-B"}).run([md])
    assert result.success, result.message
    assert result.backend == "scipy" and result.covariance_result.method == "hessian"
    assert result.total_stat == pytest.approx(minuit.total_stat, abs=1e-3)
    for par, value, error in zip(md.models.parameters.free_parameters, best, errors, strict=True):
        assert abs(par.value - value) < 0.05 * error, par.name
    scipy_errors = [p.error for p in md.models.parameters.free_parameters]
    np.testing.assert_allclose(scipy_errors, errors, rtol=0.05)


# -- the Fermi-LAT Crab dataset --------------------------------------------------------------------------


def crab_datasets(crab_dir, library, move_reference=True):
    """The Crab datasets and models; with ``move_reference`` the log-parabola's reference energy
    moves from 50 MeV (far below the data, where amplitude, alpha and beta are so correlated that
    neither library's MIGRAD converges) to 50 GeV, the same spectrum."""
    datasets_class = GammapyDatasets if library == "gammapy" else Datasets
    datasets = datasets_class.read(
        crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=crab_dir / "Fermi-LAT-3FHL_models.yaml"
    )
    if move_reference:
        spectral = datasets.models["Crab Nebula"].spectral_model
        energy = 0.05 * u.TeV
        amplitude = spectral(energy)
        log_ratio = np.log(energy / spectral.reference.quantity).to_value("")
        spectral.alpha.value += 2 * spectral.beta.value * log_ratio
        spectral.reference.quantity = energy
        spectral.amplitude.quantity = amplitude
    return datasets


def test_crab_fit_agrees_with_gammapy(crab_dir):
    gp, md = crab_datasets(crab_dir, "gammapy"), crab_datasets(crab_dir, "mapds")
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-9)
    gp_result, md_result = GammapyFit().run(gp), Fit().run(md)
    assert md_result.nfev == gp_result.nfev
    assert_fit_same(md_result, gp_result, md.models, gp.models)


def test_crab_fit_with_the_shipped_models_fails_like_gammapy(crab_dir):
    """The shipped reference energy (50 MeV) defeats MIGRAD: a result with ``success=False`` and
    the reason (gammapy 2.1 stops the same way, after 686 evaluations at -12764.472; the
    benchmark bench_fit.py runs both)."""
    md = crab_datasets(crab_dir, "mapds", False)
    result = Fit().optimize(md)
    assert not result.success
    assert "Call limit" in result.message
    assert result.nfev > 600
    assert result.total_stat == pytest.approx(-12764.47, abs=0.05)


def test_crab_profile_and_confidence_agree_with_gammapy(crab_dir):
    gp, md = crab_datasets(crab_dir, "gammapy"), crab_datasets(crab_dir, "mapds")
    gp_fit, md_fit = GammapyFit(), Fit()
    gp_fit.optimize(gp)
    md_fit.optimize(md)
    md.models.parameters.value = gp.models.parameters.value
    for datasets in (gp, md):
        datasets.models.parameters["alpha"].scan_n_values = 5
    gp_profile = gp_fit.stat_profile(gp, "alpha")
    md_profile = md_fit.stat_profile(md, "alpha")
    name = "Crab Nebula.spectral.alpha_scan"
    np.testing.assert_allclose(md_profile[name], gp_profile[name], rtol=1e-12)
    np.testing.assert_allclose(md_profile["stat_scan"], gp_profile["stat_scan"], rtol=1e-9)
    gp_conf, md_conf = gp_fit.confidence(gp, "alpha"), md_fit.confidence(md, "alpha")
    assert md_conf["success"] and gp_conf["success"]
    for key in ("errp", "errn"):
        assert md_conf[key] == pytest.approx(gp_conf[key], rel=1e-2)


# -- results, files and scans ---------------------------------------------------------------------


def test_result_write_is_read_by_gammapy(tmp_path):
    _, md = simulated_pair(["point"])
    result = Fit(store_trace=True).run([md])
    assert len(result.trace) == result.nfev
    assert result.trace.colnames[0] == "total_stat"
    assert "point.spectral.index" in result.trace.colnames
    path = tmp_path / "result.yaml"
    result.write(path)
    text = path.read_text()
    assert text.startswith("OptimizeResult:")
    assert "CovarianceResult:" in text
    models = gammapy.modeling.models.Models.read(path)
    for gp_par, md_par in zip(models.parameters, result.models.parameters, strict=True):
        assert gp_par.value == pytest.approx(md_par.value, rel=1e-12)
        assert gp_par.error == pytest.approx(md_par.error, rel=1e-12)
    # the covariance of the datasets' models (written into them) round-trips as well
    again = Models.read(path)
    np.testing.assert_allclose(again.covariance.data, result.models.covariance.data, rtol=1e-12)
    free = [i for i, p in enumerate(md.models.parameters) if not p.frozen]
    assert np.all(np.diag(md.models.covariance.data)[free] > 0)


def test_stat_profile_and_surface_agree_with_gammapy():
    gp, md = simulated_pair(["point"])
    for models in (gp.models, md.models):
        models.parameters["index"].scan_n_values = 5
        models.parameters["norm"].scan_n_values = 3
    gp_fit, md_fit = GammapyFit(), Fit()
    gp_profile = gp_fit.stat_profile([gp], "index")
    md_profile = md_fit.stat_profile([md], "index")
    np.testing.assert_allclose(
        md_profile["point.spectral.index_scan"], gp_profile["point.spectral.index_scan"]
    )
    np.testing.assert_allclose(md_profile["stat_scan"], gp_profile["stat_scan"], rtol=1e-9)
    gp_surface = gp_fit.stat_surface([gp], "index", "norm")
    md_surface = md_fit.stat_surface([md], "index", "norm")
    np.testing.assert_allclose(md_surface["stat_scan"], gp_surface["stat_scan"], rtol=1e-9)
    refit = md_fit.stat_profile([md], "index", reoptimize=True)
    assert len(refit["fit_results"]) == 5
    assert np.all(refit["stat_scan"] <= md_profile["stat_scan"] + 1e-6)


def test_stat_contour_and_confidence_agree_with_gammapy():
    gp, md = simulated_pair(["point"])
    gp_fit, md_fit = GammapyFit(), Fit()
    gp_fit.run([gp])
    md_fit.run([md])
    gp_conf = gp_fit.confidence([gp], "index")
    md_conf = md_fit.confidence([md], "index")
    assert md_conf["success"] and gp_conf["success"]
    for key in ("errp", "errn"):
        assert md_conf[key] == pytest.approx(gp_conf[key], rel=1e-2)
    md_contour = md_fit.stat_contour([md], "index", "amplitude", numpoints=6)
    gp_contour = gp_fit.stat_contour([gp], "index", "amplitude", numpoints=6)
    assert md_contour["success"]
    for name in ("point.spectral.index", "point.spectral.amplitude"):
        np.testing.assert_allclose(md_contour[name], gp_contour[name], rtol=1e-2)


# -- bad input ----------------------------------------------------------------------------------------


def test_no_free_parameters_is_an_error():
    _, md = simulated_pair(["point"])
    md.models.parameters.freeze_all()
    with pytest.raises(InvalidArgumentError, match="No free parameters"):
        Fit().run([md])


def test_start_outside_bounds_is_an_error():
    _, md = simulated_pair(["point"])
    par = md.models.parameters["index"]
    par.min, par.max = 1.0, 2.0
    par.value = 3.0
    with pytest.raises(ParameterError, match="index"):
        Fit().run([md])


def test_nan_statistic_gives_failure_not_crash():
    """A NaN background inside the mask: gammapy's statistic silently skips the bin (a finite
    value, a "successful" fit); mapds' statistic is NaN and the fit says so at once."""
    _, md = simulated_pair(["point"])
    background = md.background.compute().data.copy()
    inside = tuple(np.argwhere(md.mask.compute().data)[0])
    background[inside] = np.nan
    md.background = Map.from_geom(md.background.geom, data=background)
    assert np.isnan(md.stat_sum())
    result = Fit().run([md])
    assert not result.success
    assert result.nfev == 1
    assert "not finite" in result.message
    assert not result.covariance_result.success


def test_call_limit_gives_failure_with_message():
    _, md = simulated_pair(["point", "gauss"])
    result = Fit(optimize_opts={"migrad_opts": {"ncall": 5}}).run([md])
    assert not result.success
    assert "Call limit" in result.message


def test_unknown_backend():
    with pytest.raises(InvalidArgumentError, match="backend"):
        Fit(backend="sherpa")
