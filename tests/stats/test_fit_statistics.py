"""Fit statistics against gammapy's on identical inputs."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from gammapy.stats import CashCountsStatistic as GammapyCashCountsStatistic
from gammapy.stats import cash as gammapy_cash
from gammapy.stats import cstat as gammapy_cstat
from numpy.testing import assert_allclose

from mapds.stats import CashCountsStatistic, cash, cash_sum, cash_sum_blocks, cstat


@pytest.fixture
def counts_and_npred():
    rng = np.random.default_rng(1)
    mu = rng.gamma(0.5, 1.0, size=(4, 30, 40))
    mu[0, :3] = 0.0  # exercises the 1e-25 floor
    mu[1, :2] = -1.0
    n = rng.poisson(np.clip(mu, 0, None)).astype(np.float32)
    return n, mu


@pytest.mark.parametrize("func, reference", [(cash, gammapy_cash), (cstat, gammapy_cstat)])
def test_statistic_matches_gammapy(counts_and_npred, func, reference):
    n, mu = counts_and_npred
    assert_allclose(func(n, mu), reference(n, mu), rtol=1e-14)


def test_cash_sum_matches_the_sum_of_the_array(counts_and_npred):
    n, mu = counts_and_npred
    mask = np.random.default_rng(2).random(n.shape) > 0.3
    assert_allclose(cash_sum(n, mu), gammapy_cash(n, mu).sum(), rtol=1e-12)
    assert_allclose(cash_sum(n, mu, mask), gammapy_cash(n[mask], mu[mask]).sum(), rtol=1e-12)


def test_cash_sum_with_float_weights_scales_bins(counts_and_npred):
    n, mu = counts_and_npred
    weights = np.where(np.arange(n.shape[-1]) % 2, 3.0, 0.0)
    expected = (weights * gammapy_cash(n, mu)).sum()
    assert_allclose(cash_sum(n, mu, weights), expected, rtol=1e-12)


def test_cash_sum_blocks_is_lazy_and_chunk_independent(counts_and_npred, raise_if_dask_computes):
    n, mu = counts_and_npred
    mask = n.sum(axis=0, keepdims=True) < 3
    mask = np.broadcast_to(mask, n.shape)
    expected = gammapy_cash(n[mask], mu[mask]).sum()
    for chunks in [(4, 30, 40), (1, 7, 9), (2, 16, 40)]:
        with raise_if_dask_computes():
            total = cash_sum_blocks(
                da.from_array(n, chunks=chunks), da.from_array(mu, chunks=chunks), da.from_array(mask, chunks)
            )
        assert total.dtype == np.float64
        assert_allclose(total.compute(), expected, rtol=1e-12)


@pytest.mark.parametrize("n_on, mu_bkg", [(10, 4.2), (0, 3.0), (3, 7.5), ([5, 20, 0], [1.0, 25.0, 0.5])])
def test_cash_counts_statistic_matches_gammapy(n_on, mu_bkg):
    ours, theirs = CashCountsStatistic(n_on, mu_bkg), GammapyCashCountsStatistic(n_on, mu_bkg)
    for attr in ["n_sig", "error", "stat_null", "stat_max", "ts", "sqrt_ts"]:
        assert_allclose(getattr(ours, attr), getattr(theirs, attr), rtol=1e-12, err_msg=attr)
