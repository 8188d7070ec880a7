"""Significance of a counts excess over a known background (gammapy's ``CashCountsStatistic``) or
over a background measured in an off region (``WStatCountsStatistic``)."""

from __future__ import annotations

import numpy as np

from .fit_statistics import cash
from .wstat import wstat

__all__ = [
    "CashCountsStatistic",
    "WStatCountsStatistic",
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


# -- WStat: counts over a background measured in an off region -------------------------------------
#
# The profiled WStat of an excess ``s`` (on top of ``mu_sig``) is convex in ``s`` with its minimum
# at the measured excess ``n_on − α n_off − mu_sig``.  gammapy solves ``stat(s) = stat_min + n²``
# per bin with ``brentq`` on a bracket on either side of the minimum, and the excess matching a
# significance with the secant method.  The same roots are found here for all bins at once by
# bisection on the same brackets (the function is monotonic on each): no per-bin Python loop.
# Where the bracket holds no sign change (or a value is NaN) gammapy's result is kept: NaN, and for
# the downward error the on counts.

#: Bisection steps: a bracket of width w is narrowed to w·2⁻⁸⁰, below float64 resolution.
_BISECTION_STEPS = 80


def _bisect(func, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    """Root of ``func`` in ``[lower, upper]`` for every element (``func`` monotonic there), and
    whether the bracket holds one (a sign change, or a zero at an end)."""
    lower = np.asarray(lower, dtype=np.float64).copy()
    upper = np.asarray(upper, dtype=np.float64).copy()
    f_lower, f_upper = func(lower), func(upper)
    with np.errstate(invalid="ignore"):
        found = (f_lower * f_upper <= 0) & np.isfinite(f_lower) & np.isfinite(f_upper)
    at_lower, at_upper = found & (f_lower == 0), found & (f_upper == 0) & (f_lower != 0)
    rising = f_upper > f_lower
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (lower + upper)
        f_middle = func(middle)
        with np.errstate(invalid="ignore"):
            go_up = (f_middle < 0) == rising
        lower = np.where(go_up, middle, lower)
        upper = np.where(go_up, upper, middle)
    root = 0.5 * (lower + upper)
    root = np.where(at_lower, lower, np.where(at_upper, upper, root))
    return np.where(found, root, np.nan), found


class WStatCountsStatistic:
    """On counts ``n_on`` and off counts ``n_off`` with the acceptance ratio ``alpha``, with the
    WStat statistic (gammapy's ``WStatCountsStatistic``).

    Parameters
    ----------
    n_on, n_off : array-like
        Measured on and off counts.
    alpha : array-like
        On over off acceptance.
    mu_sig : array-like, optional
        Predicted signal counts in the on region (default 0).
    """

    def __init__(self, n_on, n_off, alpha, mu_sig=None):
        self.n_on = np.asanyarray(n_on)
        self.n_off = np.asanyarray(n_off)
        self.alpha = np.asanyarray(alpha)
        self.mu_sig = np.zeros_like(self.n_on) if mu_sig is None else np.asanyarray(mu_sig)

    @property
    def n_bkg(self) -> np.ndarray:
        """Background counts in the on region, ``alpha · n_off``."""
        return self.alpha * self.n_off

    @property
    def n_sig(self) -> np.ndarray:
        """Excess ``n_on − alpha n_off − mu_sig``."""
        return self.n_on - self.n_bkg - self.mu_sig

    @property
    def error(self) -> np.ndarray:
        """Approximate error on the excess, ``sqrt(n_on + alpha² n_off)``."""
        return np.sqrt(self.n_on + self.alpha**2 * self.n_off)

    def _stat(self, excess) -> np.ndarray:
        """WStat with ``excess`` signal counts on top of ``mu_sig``."""
        return wstat(self.n_on, self.n_off, self.alpha, excess + self.mu_sig)

    @property
    def stat_null(self) -> np.ndarray:
        """Statistic with the signal ``mu_sig`` only."""
        return wstat(self.n_on, self.n_off, self.alpha, self.mu_sig)

    @property
    def stat_max(self) -> np.ndarray:
        """Statistic at the best-fit excess."""
        return self._stat(self.n_sig)

    @property
    def ts(self) -> np.ndarray:
        """Test statistic ``stat_null − stat_max`` clipped at 0."""
        return np.clip(self.stat_null - self.stat_max, 0, None)

    @property
    def sqrt_ts(self) -> np.ndarray:
        """Signed significance ``sign(n_sig) sqrt(ts)``."""
        return np.sign(self.n_sig) * np.sqrt(self.ts)

    def _crossing(self, lower, upper, level) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return _bisect(lambda s: self._stat(s) - level, lower, upper)

    def compute_errn(self, n_sigma: float = 1.0) -> np.ndarray:
        """Downward excess error at ``n_sigma`` (the on counts where no root is bracketed)."""
        n_sig = self.n_sig
        lower = n_sig - 2 * n_sigma * (self.error + 1)
        root, found = self._crossing(lower, n_sig, self.stat_max + n_sigma**2)
        return np.where(found, n_sig - root, self.n_on).astype(np.float64)

    def compute_errp(self, n_sigma: float = 1.0) -> np.ndarray:
        """Upward excess error at ``n_sigma`` (NaN where no root is bracketed)."""
        n_sig = self.n_sig
        upper = n_sig + 2 * n_sigma * (self.error + 1)
        root, _ = self._crossing(n_sig, upper, self.stat_max + n_sigma**2)
        return (root - n_sig).astype(np.float64)

    def compute_upper_limit(self, n_sigma: float = 3.0) -> np.ndarray:
        """Upper limit on the excess at ``n_sigma`` (NaN where no root is bracketed)."""
        n_sig = self.n_sig
        upper = n_sig + 2 * n_sigma * (self.error + 1)
        root, _ = self._crossing(n_sig, upper, self._stat(n_sig) + n_sigma**2)
        return root.astype(np.float64)

    def _significance_of(self, excess) -> np.ndarray:
        """Signed significance of ``excess`` over the background ``alpha n_off`` (no ``mu_sig``)."""
        n_on = excess + self.n_bkg
        with np.errstate(invalid="ignore", divide="ignore"):
            null = wstat(n_on, self.n_off, self.alpha, 0)
            best = wstat(n_on, self.n_off, self.alpha, excess)
        return np.sign(excess) * np.sqrt(np.clip(null - best, 0, None))

    def n_sig_matching_significance(self, significance: float) -> np.ndarray:
        """Excess whose significance over ``alpha n_off`` is ``significance`` (NaN where none).

        The significance grows with the excess, so the root is bracketed between 0 and an upper
        bound doubled until it is passed (for a negative significance: between ``−alpha n_off``
        and 0).
        """
        n_bkg = np.asarray(self.n_bkg, dtype=np.float64)
        shape = np.broadcast(n_bkg, self.n_off).shape
        n_bkg = np.broadcast_to(n_bkg, shape)
        if significance < 0:
            lower, upper = -n_bkg, np.zeros(shape)
        else:
            lower = np.zeros(shape)
            with np.errstate(invalid="ignore"):
                upper = np.maximum(np.sqrt(n_bkg) * significance, 1.0)
            for _ in range(200):
                with np.errstate(invalid="ignore"):
                    short = self._significance_of(upper) < significance
                if not short.any():
                    break
                upper = np.where(short, 2 * upper, upper)
        root, _ = _bisect(lambda s: self._significance_of(s) - significance, lower, upper)
        return root
