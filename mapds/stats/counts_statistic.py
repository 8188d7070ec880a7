"""Significance of a counts excess over a known background (gammapy's ``CashCountsStatistic``)."""

from __future__ import annotations

import numpy as np

from .fit_statistics import cash

__all__ = [
    "CashCountsStatistic",
    "cash_errn",
    "cash_errp",
    "cash_excess_matching_significance",
    "cash_sqrt_ts",
    "cash_ts",
    "cash_upper_limit",
]


class CashCountsStatistic:
    """Counts ``n_on`` against a known background ``mu_bkg``, with the Cash statistic.

    Parameters
    ----------
    n_on : array-like
        Measured counts.
    mu_bkg : array-like
        Expected background counts.
    """

    def __init__(self, n_on, mu_bkg):
        self.n_on = np.asanyarray(n_on)
        self.mu_bkg = np.asanyarray(mu_bkg)

    @property
    def n_bkg(self) -> np.ndarray:
        """Expected background counts."""
        return self.mu_bkg

    @property
    def n_sig(self) -> np.ndarray:
        """Excess ``n_on − mu_bkg``."""
        return self.n_on - self.mu_bkg

    @property
    def error(self) -> np.ndarray:
        """Approximate error on the excess, ``sqrt(n_on)``."""
        return np.sqrt(self.n_on)

    @property
    def stat_null(self) -> np.ndarray:
        """Statistic of the background-only hypothesis."""
        return cash(self.n_on, self.mu_bkg)

    @property
    def stat_max(self) -> np.ndarray:
        """Statistic at the best-fit excess (predicted counts equal to the measured ones)."""
        return cash(self.n_on, self.n_on)

    @property
    def ts(self) -> np.ndarray:
        """Test statistic ``stat_null − stat_max``."""
        return self.stat_null - self.stat_max

    @property
    def sqrt_ts(self) -> np.ndarray:
        """Signed significance ``sign(excess) sqrt(max(ts, 0))`` (see :func:`cash_sqrt_ts`)."""
        return cash_sqrt_ts(self.n_on, self.mu_bkg)

    def compute_errn(self, n_sigma=1.0) -> np.ndarray:
        """Downward excess error at ``n_sigma`` (see :func:`cash_errn`)."""
        return cash_errn(self.n_on, n_sigma)

    def compute_errp(self, n_sigma=1.0) -> np.ndarray:
        """Upward excess error at ``n_sigma`` (see :func:`cash_errp`)."""
        return cash_errp(self.n_on, n_sigma)

    def compute_upper_limit(self, n_sigma=3) -> np.ndarray:
        """Upper limit on the excess at ``n_sigma`` (see :func:`cash_upper_limit`)."""
        return cash_upper_limit(self.n_on, self.mu_bkg, n_sigma)

    def n_sig_matching_significance(self, significance) -> np.ndarray:
        """Excess giving ``significance`` (see :func:`cash_excess_matching_significance`)."""
        return cash_excess_matching_significance(self.mu_bkg, significance)


# -- asymmetric errors, upper limits and sensitivity: closed forms of the Cash profile -------------
#
# For a known background the Cash statistic of an excess ``s`` is ``2 (b + s − n ln(b + s))``; it
# rises by ``n_sigma²`` from its minimum (``s = n − b``) where ``µ = b + s`` solves
# ``µ/n − ln(µ/n) = 1 + c/n`` with ``c = n_sigma²/2``, i.e. ``µ = −n W(−exp(−1 − c/n))`` on the
# two real branches of the Lambert W function (k=0 below the best fit, k=−1 above).  gammapy 2.1
# uses the same closed forms for ``CashCountsStatistic`` (its generic ``CountsStatistic`` and the
# WStat case solve per bin with ``brentq``), so nothing iterates here.  The ratio ``c/n`` is taken
# in the dtype of ``n_on`` (float32 for correlated counts maps), as gammapy does: near the branch
# point ``−1/e`` the result is sensitive to that rounding.


def _lambertw(values, branch: int) -> np.ndarray:
    from scipy.special import lambertw  # deferred: scipy.special costs import time

    return lambertw(values, k=branch).real


def _profile_width(n_on, n_sigma: float, branch: int) -> np.ndarray:
    """``|µ − n|`` where the Cash statistic is ``n_sigma²`` above its minimum (``n_on > 0`` only)."""
    c = n_sigma**2 / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        argument = -np.exp(-c / n_on - 1)
        return np.abs(n_on * (_lambertw(argument, branch) + 1))


def cash_errn(n_on, n_sigma: float = 1.0) -> np.ndarray:
    """Downward error on the excess for a known background (0 where ``n_on <= 0``)."""
    n_on = np.asanyarray(n_on)
    positive = n_on > 0
    width = _profile_width(np.where(positive, n_on, 1), n_sigma, branch=0)
    return np.where(positive, width, 0.0).astype(np.float64)


def cash_errp(n_on, n_sigma: float = 1.0) -> np.ndarray:
    """Upward error on the excess for a known background (``n_sigma²/2`` where ``n_on <= 0``)."""
    n_on = np.asanyarray(n_on)
    positive = n_on > 0
    width = _profile_width(np.where(positive, n_on, 1), n_sigma, branch=-1)
    return np.where(positive, width, n_sigma**2 / 2).astype(np.float64)


def cash_upper_limit(n_on, mu_bkg, n_sigma: float = 3.0) -> np.ndarray:
    """Upper limit on the excess: best-fit excess plus the upward error (``n_sigma²/2`` where
    ``n_on <= 0``)."""
    n_on = np.asanyarray(n_on)
    excess = n_on - np.asanyarray(mu_bkg)
    return np.where(n_on > 0, cash_errp(n_on, n_sigma) + excess, n_sigma**2 / 2).astype(np.float64)


def cash_excess_matching_significance(mu_bkg, significance: float) -> np.ndarray:
    """Excess whose significance over the background ``mu_bkg`` is ``significance`` (NaN where
    ``mu_bkg <= 0``): ``b (exp(W((c/b − 1)/e) + 1) − 1)`` with ``c = significance²/2``."""
    mu_bkg = np.asanyarray(mu_bkg)
    positive = mu_bkg > 0
    bkg = np.where(positive, mu_bkg, 1)
    c = significance**2 / 2
    branch = 0 if significance > 0 else -1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = _lambertw((c / bkg - 1) / np.exp(1), branch)
        excess = bkg * (np.exp(w + 1) - 1)
    return np.where(positive, excess, np.nan).astype(np.float64)


def cash_ts(n_on, mu_bkg) -> np.ndarray:
    """Test statistic of the excess, ``cash(n, b) − cash(n, n)``, clipped at 0 (float64)."""
    return np.clip(cash(n_on, mu_bkg) - cash(n_on, n_on), 0, None)


def cash_sqrt_ts(n_on, mu_bkg) -> np.ndarray:
    """Signed significance ``sign(n − b) sqrt(ts)``."""
    excess = np.asanyarray(n_on) - np.asanyarray(mu_bkg)
    return np.sign(excess) * np.sqrt(cash_ts(n_on, mu_bkg))
