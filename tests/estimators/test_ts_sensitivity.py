"""The Asimov sensitivity of dense footprints against gammapy's per-pixel Brent search."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mapds.estimators.ts_sensitivity import asimov_ts, sensitivity_norm

gammapy_ts = pytest.importorskip("gammapy.estimators.map.ts")


def _footprint(seed=0, size=200):
    rng = np.random.default_rng(seed)
    background, model = rng.uniform(0.5, 2, size), rng.uniform(0, 0.3, size)
    model[:5] = 0  # bins the source does not reach
    background[5:8] = 0  # bins without background: truncated as gammapy
    model[8] = -1e-9  # a convolution's rounding below zero
    return background, model, rng.poisson(background).astype(float)


@pytest.mark.parametrize("norm", [2.0, 0.05, 0.3, 500.0, -0.5, -3.0, -0.01, 0.0, -1e-7, np.nan])
@pytest.mark.parametrize("n_sigma", [5, 3])
def test_sensitivity_matches_gammapys_brent_search(norm, n_sigma):
    background, model, counts = _footprint()
    estimator = gammapy_ts.BrentqFluxEstimator(
        rtol=1e-12, n_sigma=1, n_sigma_ul=2, n_sigma_sensitivity=n_sigma
    )
    dataset = gammapy_ts.SimpleMapDataset(model=model, counts=counts, background=background, norm_guess=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = estimator.estimate_sensitivity(dataset, {"norm": norm})["norm_sensitivity"]
    ours = sensitivity_norm(background[:, None], model[:, None], np.array([norm]), n_sigma, 100)[0]
    np.testing.assert_allclose(ours, expected, rtol=1e-8)


def test_asimov_ts_and_its_derivative():
    background, model, _ = _footprint(1)
    x = np.array([-0.7, 0.4, 3.0])  # not 0: bins without background make a kink there
    b, m = np.repeat(background[:, None], 3, axis=1), np.repeat(model[:, None], 3, axis=1)
    ts, slope = asimov_ts(b, m, x, slope=True)
    assert (ts > 0).all() and asimov_ts(b[:, :1], m[:, :1], np.zeros(1))[0] == 0
    step = 1e-6
    numeric = (asimov_ts(b, m, x + step)[0] - asimov_ts(b, m, x - step)[0]) / (2 * step)
    np.testing.assert_allclose(slope, numeric, rtol=1e-5)
