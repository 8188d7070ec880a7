"""Vectorised single-amplitude Cash fits of a source kernel on top of a background (pure numpy).

Every pixel of a block is fitted at once: the inputs are stacks of the footprint values around
each pixel, shape ``(n_footprint, ...)`` (footprint element first, pixels after), and every
result has the pixels' shape.  The root of the Cash derivative is found in gammapy's bracket
(``norm_bounds``) by Newton steps safeguarded by bisection, to a relative precision far below
gammapy's ``rtol`` (gammapy stops its Brent iterations at ``rtol``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRUNCATION_VALUE", "cash_sum", "fit_amplitude", "norm_bounds"]

#: Predicted counts below this are replaced by it in the Cash statistic (gammapy's value).
TRUNCATION_VALUE = 1e-25
_SN_DEFAULT = 1e14


def cash_sum(counts, npred) -> np.ndarray:
    """``2 Σ (μ − n log μ)`` over the footprint axis, μ truncated at :data:`TRUNCATION_VALUE`."""
    mu = np.maximum(npred, TRUNCATION_VALUE)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = mu - np.where(counts > 0, counts * np.log(mu), 0.0)
    return 2 * terms.sum(axis=0)


def norm_bounds(counts, background, model):
    """gammapy's bracket of the root: ``(norm_min, norm_max, norm_min_total)`` per pixel.

    ``sn = background / model``; the minimum over elements with counts (and its counts) gives
    ``norm_min = c_min / Σmodel − sn_min`` and ``norm_max = Σcounts / Σmodel − sn_min``; the
    minimum over all elements with a model gives ``norm_min_total = −sn_min_total``.
    """
    positive_model = model > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        sn = np.where(positive_model, background / np.where(positive_model, model, 1), np.inf)
    s_model = np.where(positive_model, model, 0).sum(axis=0)
    s_counts = np.where(counts > 0, counts, 0).sum(axis=0)
    sn_counts = np.where(counts > 0, sn, np.inf)
    first_min = np.argmin(sn_counts, axis=0)
    sn_min = np.take_along_axis(sn_counts, first_min[None], axis=0)[0]
    c_min = np.take_along_axis(counts, first_min[None], axis=0)[0]
    found = sn_min < _SN_DEFAULT
    sn_min = np.where(found, sn_min, _SN_DEFAULT)
    c_min = np.where(found, c_min, 1.0)
    sn_min_total = np.minimum(np.min(sn, axis=0), _SN_DEFAULT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c_min / s_model - sn_min, s_counts / s_model - sn_min, -sn_min_total


class _SparseFootprints:
    """The footprints of the pixels being fitted, for the derivative: ``Σ model`` over the
    elements with a model, and the elements with counts and a model (few: counts are sparse)
    with their column (pixel).  The derivative's terms without counts sum to ``Σ model``."""

    def __init__(self, model_sum, column, counts, background, model):
        self.model_sum, self.column = model_sum, column
        self.counts, self.background, self.model = counts, background, model

    @classmethod
    def of(cls, counts, background, model) -> _SparseFootprints:
        """From dense footprints ``(n_footprint, n_pixels)``."""
        use = model > 0
        model_sum = np.where(use, model, 0).sum(axis=0)
        column, rows = np.nonzero((use & (counts > 0)).T)  # by pixel, elements in footprint order
        return cls(model_sum, column, counts[rows, column], background[rows, column], model[rows, column])

    def columns(self, keep: np.ndarray) -> _SparseFootprints:
        """Only the pixels ``keep`` (bool per pixel)."""
        entries = keep[self.column]
        renumbered = np.cumsum(keep) - 1
        return _SparseFootprints(
            self.model_sum[keep],
            renumbered[self.column[entries]],
            self.counts[entries],
            self.background[entries],
            self.model[entries],
        )

    def log_sum(self, x):
        """``Σ n log μ`` per pixel over the elements with counts and a model, at amplitudes ``x``."""
        npred = x[self.column] * self.model + self.background
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = self.counts * np.log(npred)
        return np.bincount(self.column, weights=terms, minlength=self.model_sum.size)

    def derivative(self, x):
        """The Cash derivative (halved) in the amplitude and its own derivative, per pixel, at
        the amplitudes ``x``: ``Σ m (1 − n / μ)`` and ``Σ m² n / μ²`` with ``μ = x m + b``, over
        the elements with a model ``m > 0``."""
        npred = x[self.column] * self.model + self.background
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = self.counts / npred
        n = self.model_sum.size
        f = self.model_sum - np.bincount(self.column, weights=self.model * ratio, minlength=n)
        df = np.bincount(self.column, weights=self.model * self.model * ratio / npred, minlength=n)
        return f, df


def _derivative(work: _SparseFootprints, x, pixels):
    """The function whose root is the best fit (the Cash derivative) and its derivative."""
    return work.derivative(x)


def _root(every: _SparseFootprints, function, lo, hi, max_niter, xtol=1e-12, rtol=1e-10):
    """Root of ``function(footprints, x, pixels) -> (f, df)`` in ``[lo, hi]`` per pixel (NaN
    where the bracket has no sign change); ``pixels`` index the columns of ``footprints``.

    Each pixel's iterations depend on its own footprint only; the footprints of the pixels still
    iterating are gathered into a smaller working set as others converge (most take a few
    Newton steps, a few take dozens of bisections).
    """
    all_pixels = np.arange(every.model_sum.size)
    f_lo, f_hi = (function(every, np.ravel(bound), all_pixels)[0].reshape(bound.shape) for bound in (lo, hi))
    valid = (np.sign(f_lo) * np.sign(f_hi) <= 0) & np.isfinite(f_lo) & np.isfinite(f_hi)
    x = np.where(f_lo == 0, lo, np.where(f_hi == 0, hi, 0.5 * (lo + hi)))
    niter = np.zeros(x.shape, dtype=np.int64)
    x_flat, niter_flat, lo_flat, hi_flat = (np.ravel(a).copy() for a in (x, niter, lo, hi))
    increasing = np.ravel(f_hi > f_lo)
    pixels = np.flatnonzero(valid & (f_lo != 0) & (f_hi != 0))  # pixels of the working set
    start = np.zeros(every.model_sum.size, dtype=bool)
    start[pixels] = True
    work = every.columns(start)
    alive = np.ones(pixels.size, dtype=bool)  # working-set columns still iterating
    for _ in range(max(int(max_niter), 1) * 2):
        if not alive.any():
            break
        if alive.mean() < 0.75:  # drop the converged columns
            pixels, work, alive = pixels[alive], work.columns(alive), alive[alive]
        xa, lo_a, hi_a = x_flat[pixels], lo_flat[pixels], hi_flat[pixels]
        f, df = function(work, xa, pixels)
        below = (f < 0) == increasing[pixels]
        lo_a = np.where(below, xa, lo_a)
        hi_a = np.where(~below, xa, hi_a)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = xa - f / df
        inside = np.isfinite(step) & (step > lo_a) & (step < hi_a)
        # a root hit exactly stays (the bracket then ends at it, so the step is not inside)
        new = np.where(f == 0, xa, np.where(inside, step, 0.5 * (lo_a + hi_a)))
        done = (np.abs(new - xa) <= xtol + rtol * np.abs(new)) | (f == 0)
        update = pixels[alive]
        x_flat[update], lo_flat[update], hi_flat[update] = new[alive], lo_a[alive], hi_a[alive]
        niter_flat[update] += 1
        alive &= ~done
    x = x_flat.reshape(x.shape)
    return np.where(valid, x, np.nan), niter_flat.reshape(niter.shape), valid


def _upper_root(every: _SparseFootprints, norm, norm_err, level, max_niter):
    """gammapy's upper profile-likelihood root: ``x`` in ``[norm, norm + 100 norm_err]`` where the
    Cash statistic is ``level`` above its value at ``norm`` (NaN where not bracketed).

    Above the best fit every predicted count is positive, so the statistic's change is
    ``2 [(x − norm) Σ m − Σ n (log μ(x) − log μ(norm))]``: sparse, like the derivative.
    """
    x0 = np.ravel(norm)
    log0 = every.log_sum(x0)

    def function(work, x, pixels):
        change = 2 * ((x - x0[pixels]) * work.model_sum - (work.log_sum(x) - log0[pixels]))
        return change - level, 2 * work.derivative(x)[0]

    hi = norm + 100 * norm_err
    root, _, _ = _root(every, function, norm, np.where(np.isfinite(hi), hi, norm), max_niter)
    return root


def fit_amplitude(counts, background, model, n_sigma=1, max_niter=100, n_sigma_ul=None) -> dict:
    """Best-fit amplitude of ``model`` over ``background`` for every pixel (gammapy's
    ``BrentqFluxEstimator.estimate_best_fit`` plus npred).

    Parameters
    ----------
    counts, background, model : ndarray
        Footprint values, shape ``(n_footprint, ...)``; ``model`` is the kernel times the
        predicted counts of norm 1.
    n_sigma : float
        Confidence level of ``norm_err``.
    max_niter : int
        Failure (``success`` False, norm at its lower bound) where gammapy's bracket has no root.
    n_sigma_ul : float, optional
        Also the upper limit ``norm_ul`` at this confidence level: gammapy's profile-likelihood
        root searched between the norm and the norm plus 100 ``norm_err``.

    Returns
    -------
    dict of ndarray
        ``norm``, ``norm_err``, ``niter``, ``ts``, ``stat``, ``stat_null``, ``success``,
        ``npred``, ``npred_excess`` (pixel-shaped).
    """
    counts = np.asarray(counts, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    model = np.asarray(model, dtype=np.float64)
    norm_min, norm_max, norm_min_total = norm_bounds(counts, background, model)
    trivial = (counts.sum(axis=0) <= 0) | (model.sum(axis=0) <= 0)
    lo = np.where(trivial, 0.0, norm_min)
    hi = np.where(trivial, 1.0, norm_max)
    every = _SparseFootprints.of(*(a.reshape(a.shape[0], -1) for a in (counts, background, model)))
    root, niter, valid = _root(every, _derivative, lo, hi, max_niter)
    norm = np.where(trivial | ~valid, norm_min_total, np.maximum(root, norm_min_total))
    niter = np.where(trivial, 0, np.where(valid, niter, max_niter))
    success = trivial | valid
    npred = background + norm * model
    with np.errstate(invalid="ignore", divide="ignore"):
        curvature = np.where(npred != 0, model**2 * counts / npred**2, 0).sum(axis=0)
        norm_err = np.sqrt(1 / curvature) * n_sigma
    stat = cash_sum(counts, npred)
    stat_null = cash_sum(counts, background)
    npred_sum = npred.sum(axis=0)
    upper = {}
    if n_sigma_ul is not None:
        upper["norm_ul"] = _upper_root(every, norm, norm_err, n_sigma_ul**2, max_niter).reshape(norm.shape)
    return {
        "norm": norm,
        "norm_err": norm_err,
        "niter": niter,
        "ts": stat_null - stat,
        "stat": stat,
        "stat_null": stat_null,
        "success": success,
        "npred": npred_sum,
        "npred_excess": npred_sum - background.sum(axis=0),
        **upper,
    }
