"""Significance of a counts excess over a known background (gammapy's ``CashCountsStatistic``)."""

from __future__ import annotations

import numpy as np

from .fit_statistics import cash

__all__ = ["CashCountsStatistic"]


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
        """Signed significance ``sign(excess) sqrt(max(ts, 0))``."""
        return np.sign(self.n_sig) * np.sqrt(np.clip(self.ts, 0, None))
