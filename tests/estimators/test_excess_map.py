"""ExcessMapEstimator and FluxMaps against gammapy 2.1 on the twin datasets, and the graph."""

from __future__ import annotations

import re
import warnings

import astropy.units as u
import numpy as np
import pytest

from mapds.estimators import ExcessMapEstimator, FluxMaps
from mapds.testing import build_dataset, raise_if_dask_computes
from mapds.testing.twins import sky_models

gammapy_estimators = pytest.importorskip("gammapy.estimators")

NPIX = (40, 36)
DEFAULT_QUANTITIES = ("npred", "npred_excess", "counts", "ts", "sqrt_ts", "norm", "norm_err")
SED_QUANTITIES = ["flux", "flux_err", "flux_ul", "dnde", "e2dnde_errn", "eflux_errp", "npred_background"]


def _drop_mask_fit(dataset):
    dataset.mask_fit = None


def _drop_masks(dataset):
    dataset.mask_fit = None
    dataset.mask_safe = None


def _with_models(library):
    def prepare(dataset):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.models = sky_models(library, ["point", "gauss"])

    return prepare


def _pair(prepare=None):
    gp = build_dataset("gammapy", 0, npix=NPIX)
    md = build_dataset("mapds", 0, npix=NPIX)
    if prepare is not None:
        prepare(gp)
        prepare(md)
    return gp, md


def _assert_map_close(md_map, gp_map, rtol, what):
    expected, actual = np.asarray(gp_map.data), np.asarray(md_map.data)
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    assert md_map.unit == gp_map.unit, what
    assert md_map.geom.axes.names == gp_map.geom.axes.names, what
    np.testing.assert_allclose(md_map.geom.axes["energy"].edges, gp_map.geom.axes["energy"].edges, rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    finite = np.isfinite(expected)
    # the correlated background is float32 in both (tiles vs whole-plane FFT round differently):
    # rtol, plus an atol at the same level for values near a cancellation (ts ~ 0, excess ~ 0)
    atol = rtol * np.max(np.abs(expected[finite])) if finite.any() else 0
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol, err_msg=what)


CASES = {
    "both-masks": ({}, None),
    "mask-safe-only": ({}, _drop_mask_fit),
    "no-mask": ({}, _drop_masks),
    "energy-edges": ({"energy_edges": [1, 3, 10] * u.TeV}, None),
    "sigmas-radius": ({"n_sigma": 2, "n_sigma_ul": 3, "correlation_radius": "0.25 deg"}, None),
    "sensitivity-threshold": ({"apply_threshold_sensitivity": True, "n_sigma_sensitivity": 3}, None),
    "sum-groups": ({"sum_over_energy_groups": True, "correlation_radius": "0.15 deg"}, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_excess_map_matches_gammapy(case):
    kwargs, prepare = CASES[case]
    gp, md = _pair(prepare)
    kwargs = {"correlation_radius": "0.3 deg", "selection_optional": "all", **kwargs}
    expected = gammapy_estimators.ExcessMapEstimator(**kwargs).run(gp)
    result = ExcessMapEstimator(**kwargs).run(md).compute()
    assert result.available_quantities == expected.available_quantities
    assert result.meta == expected.meta
    for name in expected.available_quantities + SED_QUANTITIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gp_map = expected[name]
        _assert_map_close(result[name], gp_map, rtol=1e-6, what=name)


def test_excess_map_with_models_matches_gammapy():
    """The background is npred(): models included (gammapy evaluates them in float32)."""
    gp, md = _pair()
    _with_models("gammapy")(gp)
    _with_models("mapds")(md)
    kwargs = {"correlation_radius": "0.2 deg", "selection_optional": ["errn-errp", "ul"]}
    expected = gammapy_estimators.ExcessMapEstimator(**kwargs).run(gp)
    result = ExcessMapEstimator(**kwargs).run(md).compute()
    for name in expected.available_quantities:
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


def test_default_selection_and_str():
    gp, md = _pair()
    expected = gammapy_estimators.ExcessMapEstimator().run(gp)
    result = ExcessMapEstimator().run(md)
    assert result.available_quantities == [*DEFAULT_QUANTITIES]
    assert result.available_quantities == expected.available_quantities
    assert str(result) == re.sub(r"np\.int64\((\d+)\)", r"\1", str(expected))  # numpy scalar reprs
    assert result.reference_spectral_model.tag == ["PowerLawSpectralModel", "pl"]


def test_chunked_equals_unchunked_and_keeps_chunks():
    md = build_dataset("mapds", 0, npix=NPIX)
    estimator = ExcessMapEstimator("0.3 deg", selection_optional="all")
    tiled = estimator.run(md.rechunk({"x": 16, "y": 16}))
    whole = estimator.run(md.rechunk({"x": -1, "y": -1})).compute()
    for name in tiled.available_quantities:
        data = tiled[name].dask_data
        assert data.chunks[-2:] == ((16, 16, 4), (16, 16, 8)), name  # one output block per tile
        _assert_map_close(tiled[name].compute(), whole[name], rtol=1e-6, what=name)
    np.testing.assert_array_equal(np.asarray(tiled.counts.data), np.asarray(whole.counts.data))


def test_building_the_result_computes_nothing():
    md = build_dataset("mapds", 0, npix=NPIX)
    with raise_if_dask_computes():
        estimator = ExcessMapEstimator("0.2 deg", selection_optional="all", energy_edges=[1, 3, 10] * u.TeV)
        result = estimator.run(md)
        flux = result["flux_ul"]
    assert isinstance(result, FluxMaps)
    assert flux.unit == u.Unit("cm-2 s-1")


def test_flux_maps_access():
    md = build_dataset("mapds", 0, npix=NPIX)
    result = ExcessMapEstimator("0.2 deg").run(md)
    assert result["sqrt_ts"] is result.sqrt_ts
    assert result.geom == result.norm.geom
    assert result.flux_ref.shape == (1, 1, 1)
    with pytest.raises(AttributeError, match="norm_ul"):
        _ = result.norm_ul
    with pytest.raises(AttributeError):
        _ = result["flux_ul"]
    with pytest.raises(AttributeError):
        _ = result.not_a_quantity


def test_invalid_selection():
    with pytest.raises(ValueError, match="not a valid method"):
        ExcessMapEstimator(selection_optional=["bogus"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cash_closed_forms_match_gammapy(dtype):
    from gammapy.stats import CashCountsStatistic as GammapyCash

    from mapds.stats import CashCountsStatistic

    rng = np.random.default_rng(3)
    n_on = rng.poisson(40, 500).astype(dtype)
    mu_bkg = rng.uniform(0, 60, 500).astype(dtype)
    n_on[:4], mu_bkg[4:8] = 0, 0
    expected, result = GammapyCash(n_on, mu_bkg), CashCountsStatistic(n_on, mu_bkg)
    for method, arg in [("compute_errn", 1), ("compute_errp", 2), ("compute_upper_limit", 3)]:
        np.testing.assert_allclose(getattr(result, method)(arg), getattr(expected, method)(arg), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for significance in (5, -2):
            np.testing.assert_allclose(
                result.n_sig_matching_significance(significance),
                expected.n_sig_matching_significance(significance),
                rtol=1e-12,
            )


# -- on-off datasets (WStat) ------------------------------------------------------------------------

ONOFF_NPIX = (24, 20)
ONOFF_CASES = {
    "correlate-off": ({"correlate_off": True}, None),
    "no-correlate-off": ({"correlate_off": False}, None),
    "correlate-off-no-mask": ({"correlate_off": True}, _drop_masks),
    "no-correlate-off-mask-safe": ({"correlate_off": False}, _drop_mask_fit),
    "energy-edges-threshold": (
        {"energy_edges": [1, 3, 10] * u.TeV, "apply_threshold_sensitivity": True, "n_sigma_ul": 3},
        None,
    ),
}


def _onoff_pair(prepare=None, names=None):
    from mapds.testing import build_onoff_dataset

    gp = build_onoff_dataset("gammapy", 0, npix=ONOFF_NPIX)
    md = build_onoff_dataset("mapds", 0, npix=ONOFF_NPIX)
    if prepare is not None:
        prepare(gp)
        prepare(md)
    if names is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gp.models = sky_models("gammapy", names)
            md.models = sky_models("mapds", names)
    return gp, md


def _assert_onoff_result(result, expected, rtol):
    # gammapy adds the on-off maps in the order of a set of strings (it changes with the hash
    # seed of the process); mapds in the order alpha, acceptance_on, acceptance_off
    assert sorted(result.available_quantities) == sorted(expected.available_quantities)
    assert result.meta == expected.meta
    for name in expected.available_quantities + SED_QUANTITIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gp_map = expected[name]
        _assert_map_close(result[name], gp_map, rtol=rtol, what=name)


@pytest.mark.parametrize("case", sorted(ONOFF_CASES))
def test_excess_map_onoff_matches_gammapy(case):
    """WStat of the correlated maps; errors, upper limits and sensitivity are roots gammapy finds
    per pixel (brentq, secant) and mapds for all pixels at once (bisection): all agree to 1e-5
    (float32 correlation in tiles against one FFT of the whole plane: ~1e-6)."""
    kwargs, prepare = ONOFF_CASES[case]
    gp, md = _onoff_pair(prepare)
    kwargs = {"correlation_radius": "0.3 deg", "selection_optional": "all", **kwargs}
    expected = gammapy_estimators.ExcessMapEstimator(**kwargs).run(gp)
    with raise_if_dask_computes():
        result = ExcessMapEstimator(**kwargs).run(md)
    _assert_onoff_result(result.compute(), expected, rtol=1e-5)
    assert {"alpha", "acceptance_on", "acceptance_off"} <= set(result.available_quantities)


@pytest.mark.parametrize("correlate_off", [True, False])
def test_excess_map_onoff_with_models_matches_gammapy(correlate_off):
    """The models' npred_signal is the known signal mu_sig of WStat."""
    gp, md = _onoff_pair(names=["point", "gauss"])
    kwargs = {"correlation_radius": "0.2 deg", "selection_optional": ["errn-errp", "ul", "alpha"]}
    kwargs["correlate_off"] = correlate_off
    expected = gammapy_estimators.ExcessMapEstimator(**kwargs).run(gp)
    result = ExcessMapEstimator(**kwargs).run(md).compute()
    _assert_onoff_result(result, expected, rtol=1e-5)


def test_onoff_selections_are_ignored_for_a_map_dataset():
    _, md = _pair()
    result = ExcessMapEstimator("0.2 deg", selection_optional=["alpha", "acceptance_on"]).run(md)
    assert result.available_quantities == [*DEFAULT_QUANTITIES]


def test_wstat_counts_statistic_roots_match_gammapy():
    from gammapy.stats import WStatCountsStatistic as GammapyWStat

    from mapds.stats import WStatCountsStatistic

    rng = np.random.default_rng(11)
    n_on = rng.poisson(30, 200).astype("float32")
    n_off = rng.poisson(100, 200).astype("float32")
    alpha = rng.uniform(0.1, 0.4, 200).astype("float32")
    expected, result = GammapyWStat(n_on, n_off, alpha), WStatCountsStatistic(n_on, n_off, alpha)
    # gammapy adds its trial excess (a float) to the float32 mu_sig: the statistic it solves is
    # evaluated at float32 excesses, so its roots are good to ~1e-7 only; mapds stays in float64
    for method, arg in [("compute_errn", 1), ("compute_errp", 2), ("compute_upper_limit", 3)]:
        np.testing.assert_allclose(getattr(result, method)(arg), getattr(expected, method)(arg), rtol=1e-6)
    np.testing.assert_allclose(
        result.n_sig_matching_significance(5), expected.n_sig_matching_significance(5), rtol=1e-6
    )
