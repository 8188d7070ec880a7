"""Vectorised single-amplitude Cash fits of a source kernel on top of a background (pure numpy).

A pixel's fit sees the footprint of the kernel around it: per element, the counts ``n``, the
background ``b`` and the model ``m`` (kernel times the predicted counts of norm 1).  Only the
elements with counts and a model enter the derivative of the Cash statistic; the others add
``Σ m`` to it whatever the amplitude.  So a fit takes

- per pixel, sums over the whole footprint (:class:`FootprintSums`), computed once, and
- the elements with counts and a model (:class:`CountedElements`), a few hundred per pixel in a
  survey, stored pixel by pixel so that every per-pixel sum is one ``np.add.reduceat``.

The root of the derivative is found in gammapy's bracket (:func:`norm_bounds`) by Newton steps
safeguarded by bisection, to a relative precision far below gammapy's ``rtol`` (gammapy stops its
Brent iterations at ``rtol``).  :func:`fit_amplitude` fits dense footprint stacks; the TS map builds
the two parts straight from its tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TRUNCATION_VALUE",
    "CountedElements",
    "FootprintSums",
    "cash_floor",
    "cash_sums",
    "fit_amplitude",
    "fit_pixels",
    "norm_bounds",
]

#: Predicted counts below this are replaced by it in the Cash statistic (gammapy's value).
TRUNCATION_VALUE = 1e-25
#: gammapy's ``b / m`` where no element qualifies.
_SN_DEFAULT = 1e14


def _truncated_log(values):
    return np.log(np.maximum(values, TRUNCATION_VALUE))


@dataclass
class FootprintSums:
    """Per-pixel sums over every element of the footprint.

    Attributes
    ----------
    model : ndarray
        ``Σ m`` over the elements with ``m > 0`` (the derivative's).
    model_total : ndarray
        ``Σ m`` over every element (kernels from a convolution have tiny negative values).
    counts : ndarray
        ``Σ n``.
    background : ndarray
        ``Σ b``.
    stat_null : ndarray
        The Cash statistic of the background alone, ``2 Σ (b − n log b)``, ``b`` truncated.
    sn_min_total : ndarray
        ``min b / m`` over the elements with ``m > 0`` (inf where there is none).
    """

    model: np.ndarray
    model_total: np.ndarray
    counts: np.ndarray
    background: np.ndarray
    stat_null: np.ndarray
    sn_min_total: np.ndarray

    @classmethod
    def of(cls, counts, background, model) -> FootprintSums:
        """From dense footprints ``(n_footprint, n_pixels)``."""
        positive = model > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            sn = np.where(positive, background / np.where(positive, model, 1), np.inf)
            log_terms = np.where(counts > 0, counts * _truncated_log(background), 0.0)
        stat_null = 2 * (np.maximum(background, TRUNCATION_VALUE).sum(axis=0) - log_terms.sum(axis=0))
        return cls(
            model=np.where(positive, model, 0).sum(axis=0),
            model_total=model.sum(axis=0),
            counts=np.where(counts > 0, counts, 0).sum(axis=0),
            background=background.sum(axis=0),
            stat_null=stat_null,
            sn_min_total=sn.min(axis=0),
        )


class CountedElements:
    """The footprint elements with counts and a model of a set of pixels, pixel after pixel.

    The per-element arithmetic writes into two scratch arrays kept with the elements (a working
    set of the root search borrows its parent's): allocating fresh arrays of this size at every
    step costs more than the arithmetic.

    Parameters
    ----------
    size : ndarray of int
        Number of elements of each pixel (the elements are stored pixel after pixel).
    counts : ndarray
        The elements' counts (``> 0``).
    background, model : ndarray, optional
        The elements' background and model (``model > 0``, or ``model < 0`` for the elements
        that only enter the statistic); the root search's working sets have only ``sn``.
    sn : ndarray, optional
        ``background / model`` (computed from them by default).
    pixel : ndarray of intp, optional
        The pixel of each element (from ``size`` by default).
    """

    def __init__(self, size, counts, background=None, model=None, sn=None, pixel=None, scratch=None):
        self.size, self.n_pixels = size, size.size
        self.counts, self.background, self.model = counts, background, model
        if sn is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                sn = background / model
        self.sn = sn  # μ / m = sn + x: the root search needs only this
        self.pixel = np.repeat(np.arange(self.n_pixels), size) if pixel is None else pixel
        self._occupied = size > 0
        self._starts = (np.cumsum(size) - size)[self._occupied]
        n = counts.size
        self._scratch = (np.empty(n), np.empty(n)) if scratch is None else (scratch[0][:n], scratch[1][:n])

    @classmethod
    def of(cls, counts, background, model, negative: bool = False) -> CountedElements:
        """From dense footprints ``(n_footprint, n_pixels)`` (the elements with ``model < 0``
        with ``negative``)."""
        signed = model < 0 if negative else model > 0
        cells = ((counts > 0) & signed).T
        pixel, element = np.nonzero(cells)  # by pixel, in footprint order
        values = (a[element, pixel] for a in (counts, background, model))
        return cls(np.count_nonzero(cells, axis=1), *values, pixel=pixel)

    def sum(self, values) -> np.ndarray:
        """Per-pixel sums of per-element ``values`` (0 for pixels without elements)."""
        out = np.zeros(self.n_pixels)
        if self._starts.size:
            out[self._occupied] = np.add.reduceat(values, self._starts)
        return out

    def spread(self, per_pixel, out=None) -> np.ndarray:
        """The per-pixel values at every element."""
        return np.take(per_pixel, self.pixel, out=out, mode="clip")  # "clip": unbuffered `out`

    def shifted(self, x, out) -> np.ndarray:
        """``sn + x`` (``μ / m``) at every element, in ``out``."""
        return np.add(self.spread(x, out=out), self.sn, out=out)

    def subset(self, keep) -> CountedElements:
        """Only the pixels ``keep`` (bool per pixel), in order, with only ``counts`` and ``sn``
        (what the root search needs)."""
        entries = self.spread(keep)
        return CountedElements(
            self.size[keep], self.counts[entries], sn=self.sn[entries], scratch=self._scratch
        )

    def merged(self, other: CountedElements | None) -> CountedElements:
        """These elements and ``other``'s (same pixels), pixel after pixel (with ``counts`` and
        ``sn`` only)."""
        if other is None or not other.counts.size:
            return self
        pixel = np.concatenate([self.pixel, other.pixel])
        order = np.argsort(pixel, kind="stable")
        counts = np.concatenate([self.counts, other.counts])[order]
        sn = np.concatenate([self.sn, other.sn])[order]
        return CountedElements(self.size + other.size, counts, sn=sn, pixel=pixel[order])

    def log_change(self, x, x0) -> np.ndarray:
        """``Σ n (log μ(x) − log μ(x0))`` per pixel, where both are positive."""
        ratio, start = self.shifted(x, self._scratch[0]), self.shifted(x0, self._scratch[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(ratio, start, out=ratio)
            np.log(ratio, out=ratio)
        return self.sum(np.multiply(ratio, self.counts, out=ratio))

    def derivative(self, model_sum, x, slope: bool = True):
        """The Cash derivative (halved) in the amplitude and (with ``slope``, else None) its own
        derivative, per pixel, at the amplitudes ``x``: ``Σ m (1 − n / μ) = Σ m − Σ n / (sn + x)``
        and ``Σ m² n / μ² = Σ n / (sn + x)²`` (``μ = x m + b``, ``sn = b / m``)."""
        shifted, ratio = self.shifted(x, self._scratch[0]), self._scratch[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = model_sum - self.sum(np.divide(self.counts, shifted, out=ratio))
            if not slope:
                return f, None
            return f, self.sum(np.divide(ratio, shifted, out=ratio))

    def curvature_and_log_ratio(self, x):
        """``Σ m² n / μ²`` (over ``μ ≠ 0``) and ``Σ n (log μ − log b)`` (both truncated) per
        pixel at the amplitudes ``x``."""
        shifted, terms = self.shifted(x, self._scratch[0]), self._scratch[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(self.counts, shifted, out=terms)
            np.divide(terms, shifted, out=terms)
            terms[shifted == 0] = 0
            curvature = self.sum(terms)
            # log μ − log b = log((sn + x) / sn) where both are positive; exactly elsewhere
            np.divide(shifted, self.sn, out=terms)
            np.log(terms, out=terms)
        exact = np.flatnonzero((self.sn <= 0) | (shifted <= 0))
        if exact.size:
            b, m = self.background[exact], self.model[exact]
            npred = b + self.spread(x)[exact] * m
            terms[exact] = _truncated_log(npred) - _truncated_log(b)
        return curvature, self.sum(np.multiply(terms, self.counts, out=terms))


def norm_bounds(elements: CountedElements, sums: FootprintSums):
    """gammapy's bracket of the root: ``(norm_min, norm_max, norm_min_total, found)`` per pixel.

    ``sn = b / m``; its minimum over the elements with counts (and that element's counts, the
    first in footprint order) gives ``norm_min = n_min / Σm − sn_min`` and
    ``norm_max = Σn / Σm − sn_min``; its minimum over every element with a model gives
    ``norm_min_total = −sn_min_total``.  ``found`` says where an element with counts has
    ``sn < 1e14``: there the derivative is ``≤ 0`` at ``norm_min`` (the term of the first
    element is ``Σm``) and ``≥ 0`` at ``norm_max`` (every term is at most ``n Σm / Σn``).
    """
    sn_min = np.full(elements.n_pixels, np.inf)
    c_min = np.ones(elements.n_pixels)
    if elements._starts.size:
        lowest = np.minimum.reduceat(elements.sn, elements._starts)
        sn_min[elements._occupied] = lowest
        order = np.arange(elements.sn.size)
        at_min = np.where(elements.sn == elements.spread(sn_min), order, order.size)
        first = np.minimum.reduceat(at_min, elements._starts)
        c_min[elements._occupied] = elements.counts[np.minimum(first, order.size - 1)]
    found = sn_min < _SN_DEFAULT
    sn_min = np.where(found, sn_min, _SN_DEFAULT)
    c_min = np.where(found, c_min, 1.0)
    sn_min_total = np.minimum(sums.sn_min_total, _SN_DEFAULT)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c_min / sums.model - sn_min, sums.counts / sums.model - sn_min, -sn_min_total, found


def _bound_values(every: CountedElements, function, lo, hi, pixels):
    """The function at both ends of the brackets of ``pixels``."""
    if not pixels.size:
        return np.empty(0), np.empty(0)
    keep = np.zeros(every.n_pixels, dtype=bool)
    keep[pixels] = True
    part = every.subset(keep)
    return (function(part, bound[pixels], pixels, False)[0] for bound in (lo, hi))


def _root(every: CountedElements, function, lo, hi, start, max_niter, assured, xtol=1e-12, rtol=1e-10):
    """Root of the increasing ``function(elements, x, pixels, slope) -> (f, df or None)`` in
    ``[lo, hi]`` per pixel, from ``start`` (NaN where the bracket has no sign change, or where
    ``assured`` is None); ``pixels`` index ``every``'s pixels.

    ``assured`` (bool per pixel) says where ``f(lo) ≤ 0 ≤ f(hi)`` holds by construction: there
    the ends are evaluated only where the iterates stayed on one side and ended at an end
    (rounding at a root at an end, or no root); elsewhere before the iterations.

    Each pixel's iterations depend on its own elements only; the elements of the pixels still
    iterating are gathered into a smaller working set as others converge (most take a few
    Newton steps, a few dozens of bisections).
    """
    x = np.clip(start, lo, hi)
    niter = np.zeros(x.shape, dtype=np.int64)
    valid = np.zeros(x.shape, dtype=bool)
    valid[assured] = True
    unsure = np.flatnonzero(~assured & np.isfinite(lo) & np.isfinite(hi))
    f_lo, f_hi = _bound_values(every, function, lo, hi, unsure)
    valid[unsure] = (np.sign(f_lo) * np.sign(f_hi) <= 0) & np.isfinite(f_lo) & np.isfinite(f_hi)
    seen_below, seen_above = ~valid, ~valid.copy()  # a side seen (or nothing to check)
    for at, values in ((lo, f_lo), (hi, f_hi)):
        hit = unsure[values == 0]
        x[hit], seen_below[hit], seen_above[hit] = at[hit], True, True
    # the working set: every pixel at first (most iterate), the ones still iterating later
    pixels, work, alive = np.arange(every.n_pixels), every, ~(seen_below & seen_above)
    low, high = lo.copy(), hi.copy()
    for _ in range(max(int(max_niter), 1) * 2):
        if not alive.any():
            break
        if alive.mean() < 0.75:  # drop the converged pixels
            pixels, work, alive = pixels[alive], work.subset(alive), alive[alive]
        xa, lo_a, hi_a = x[pixels], low[pixels], high[pixels]
        f, df = function(work, xa, pixels, True)
        below = f < 0
        lo_a = np.where(below, xa, lo_a)
        hi_a = np.where(~below, xa, hi_a)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = xa - f / df
        inside = np.isfinite(step) & (step > lo_a) & (step < hi_a)
        # a root hit exactly stays (the bracket then ends at it, so the step is not inside)
        new = np.where(f == 0, xa, np.where(inside, step, 0.5 * (lo_a + hi_a)))
        done = (np.abs(new - xa) <= xtol + rtol * np.abs(new)) | (f == 0)
        update = pixels[alive]
        x[update], low[update], high[update] = new[alive], lo_a[alive], hi_a[alive]
        seen_below[update] |= (f <= 0)[alive]
        seen_above[update] |= (f >= 0)[alive]
        niter[update] += 1
        alive &= ~done
    # gammapy's test of the bracket where the iterates stayed on one side and ended at an end
    # (Newton steps approach most roots from one side: away from the ends, the root is inside)
    near = np.minimum(np.abs(x - lo), np.abs(x - hi)) <= 1e-6 * np.abs(hi - lo) + xtol
    check = np.flatnonzero(~(seen_below & seen_above) & near)
    f_lo, f_hi = _bound_values(every, function, lo, hi, check)
    valid[check] = (np.sign(f_lo) * np.sign(f_hi) <= 0) & np.isfinite(f_lo) & np.isfinite(f_hi)
    for at, values in ((lo, f_lo), (hi, f_hi)):
        hit = check[values == 0]
        x[hit] = at[hit]
    return np.where(valid, x, np.nan), niter, valid


def _profile_root(every: CountedElements, model_sum, norm, bound, level, start, max_niter, above: bool):
    """gammapy's profile-likelihood root on one side of the best fit: ``x`` between ``norm`` and
    ``bound`` where the Cash statistic is ``level`` above its value at ``norm`` (NaN where not
    bracketed).

    Where every predicted count stays non-negative (above the norm always; below it down to
    ``norm_min_total``), the statistic's change is
    ``2 [(x − norm) Σ m − Σ n (log μ(x) − log μ(norm))]``: it needs the counted elements only.
    The searched function increases from the ``norm`` end (``level`` below the change above the
    norm, the change minus ``level`` below the norm, inverted to increase).
    """
    sign = 1.0 if above else -1.0

    def function(work, x, pixels, slope):
        x0 = norm[pixels]
        change = 2 * ((x - x0) * model_sum[pixels] - work.log_change(x, x0))
        derivative = None
        if slope:
            derivative = sign * 2 * work.derivative(model_sum[pixels], x, slope=False)[0]
        return sign * (change - level), derivative

    bound = np.where(np.isfinite(bound), bound, norm)
    lo, hi = (norm, bound) if above else (bound, norm)
    # the change is 0 at the norm; the other end is checked if no iterate goes past the root
    root, _, _ = _root(every, function, lo, hi, start, max_niter, np.ones(norm.shape, dtype=bool))
    return root


def _upper_root(every, model_sum, norm, norm_err, level, start, max_niter, below=None, dense=None):
    """gammapy's upper profile-likelihood root: ``x`` in ``[norm, norm + 100 norm_err]`` where the
    Cash statistic is ``level`` above its value at ``norm`` (NaN where not bracketed).

    ``below`` (bool per pixel, optional) marks the pixels whose norm is below ``norm_min_total``
    (a norm kept from gammapy's initial estimate with ``threshold``): their statistic is
    truncated, they are searched on their dense footprints ``dense(pixels)``.
    """
    bound = norm + 100 * norm_err
    if below is None or not below.any():
        return _profile_root(every, model_sum, norm, bound, level, start, max_niter, True)
    root = np.full(norm.shape, np.nan)
    keep = ~below
    root[keep] = _profile_root(
        every.subset(keep), model_sum[keep], norm[keep], bound[keep], level, start[keep], max_niter, True
    )
    pixels = np.flatnonzero(below)
    counts, background, model = dense(pixels)
    root[pixels] = _dense_profile_root(
        counts, background, model, norm[pixels], bound[pixels], level, start[pixels], max_niter, True
    )
    return root


def cash_sums(counts, background, model, x) -> np.ndarray:
    """gammapy's Cash statistic of dense footprints at the amplitudes ``x``, per pixel.

    Parameters
    ----------
    counts, background, model : ndarray, shape ``(n_footprint, n_pixels)``
        The footprints' values.
    x : ndarray, shape ``(..., n_pixels)``
        Amplitudes (one or more per pixel).

    Returns
    -------
    ndarray, shape of ``x``
        ``2 Σ (μ − n log μ)``, ``μ = b + x m`` truncated at :data:`TRUNCATION_VALUE`.
    """
    x = np.asarray(x, dtype=np.float64)
    npred = np.maximum(background + x[..., None, :] * model, TRUNCATION_VALUE)
    terms = npred - np.where(counts > 0, counts * np.log(npred), 0.0)
    return 2 * terms.sum(axis=-2)


def _dense_profile_root(counts, background, model, norm, bound, level, start, max_niter, above: bool):
    """:func:`_profile_root` on dense footprints ``(n_footprint, n_pixels)``, with gammapy's
    statistic (predicted counts truncated) at every amplitude."""
    stat_best = cash_sums(counts, background, model, norm)
    sign = 1.0 if above else -1.0

    def function(work, x, pixels, slope):
        n, b, m = counts[:, pixels], background[:, pixels], model[:, pixels]
        value = sign * (cash_sums(n, b, m, x) - stat_best[pixels] - level)
        derivative = None
        if slope:
            npred = b + x * m
            kept = npred > TRUNCATION_VALUE  # the truncated elements are constant
            with np.errstate(invalid="ignore", divide="ignore"):
                terms = np.where(kept, m * (1 - np.where(n > 0, n / npred, 0.0)), 0.0)
            derivative = sign * 2 * terms.sum(axis=0)
        return value, derivative

    bound = np.where(np.isfinite(bound), bound, norm)
    lo, hi = (norm, bound) if above else (bound, norm)
    # below norm_min_total the truncated statistic need not be monotonic: both ends are checked
    return dense_root(function, lo, hi, start, max_niter)


def dense_root(function, lo, hi, start, max_niter) -> np.ndarray:
    """Root per pixel of an increasing ``function(work, x, pixels, slope) -> (f, df or None)``
    that reads dense footprints itself (``work`` holds no elements), in ``[lo, hi]`` from
    ``start``; both ends of every bracket are checked (NaN where it has no sign change)."""
    none = np.zeros(lo.size, dtype=np.intp)
    every = CountedElements(none, np.empty(0), sn=np.empty(0))
    root, _, _ = _root(every, function, lo, hi, start, max_niter, np.zeros(lo.shape, dtype=bool))
    return root


def cash_floor(counts) -> np.ndarray:
    """Per element, the least Cash term ``2 (μ − n log μ)`` over every ``μ``: ``2 n (1 − log n)``
    (0 without counts)."""
    counts = np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 2 * counts * (1 - np.log(counts)), 0.0)


def _lower_root(every, sums, stat, norm, norm_err, norm_min_total, level, max_niter, floor, dense):
    """gammapy's lower profile-likelihood root: ``x`` in ``[norm − 100 norm_err, norm]`` where the
    Cash statistic is ``level`` above its value ``stat`` at ``norm`` (NaN where not bracketed).

    The sparse form of :func:`_profile_root` is exact down to ``norm_min_total`` (``−min b / m``):
    there every ``μ = b + x m`` is ``≥ 0``, so gammapy's truncation at 1e-25 changes nothing but
    terms of at most 2e-25.  Where the bracket reaches below ``norm_min_total`` the sparse search
    is still exact, in ``[norm_min_total, norm]``, if

    - the change at ``norm_min_total`` is at least ``level`` (the root is above it, and the
      convex statistic decreases from the norm down to it), and
    - below ``norm_min_total`` the statistic stays above ``stat + level``: while no element with
      counts is truncated its derivative is the sparse one (negative below the norm) minus
      ``2 m`` of each truncated element without counts, so it keeps decreasing; once one with
      counts is truncated, its term is ``2 n (log n − 1 − log 1e-25)`` above its least value, and
      every other term is at least its least value ``2 n (1 − log n)`` (``floor``: their sum over
      the whole footprint; 0 without counts).

    Then gammapy's bracket has its sign change and its only root there.  The other pixels (few:
    those with a root or no sign change below ``norm_min_total``) are searched on their dense
    footprints (``dense(pixels)``) with the truncated statistic at every step.
    """
    bound = norm - 100 * norm_err
    root = np.full(norm.shape, np.nan)
    sparse = ~(np.isfinite(bound) & (bound < norm_min_total))
    clipped = ~sparse & np.isfinite(norm_min_total)
    if clipped.any():
        part = every.subset(clipped)
        x0 = norm[clipped]
        with np.errstate(invalid="ignore", divide="ignore"):
            x1 = norm_min_total[clipped]
            change = 2 * ((x1 - x0) * sums.model_total[clipped] - part.log_change(x1, x0))
            least_counts = np.full(every.n_pixels, np.inf)
            if every._starts.size:
                least_counts[every._occupied] = np.minimum.reduceat(every.counts, every._starts)
            n = least_counts[clipped]
            excess = 2 * n * (np.log(n) - 1 - np.log(TRUNCATION_VALUE))
        safe = (change >= level) & (floor[clipped] + excess > stat[clipped] + level)
        safe[~np.isfinite(excess)] = False
        accepted = np.flatnonzero(clipped)[safe]
        sparse[accepted] = True
        bound = bound.copy()
        bound[accepted] = norm_min_total[accepted]
    if sparse.any():
        part = every.subset(sparse)
        start = (norm - norm_err)[sparse]
        root[sparse] = _profile_root(
            part, sums.model_total[sparse], norm[sparse], bound[sparse], level, start, max_niter, False
        )
    pixels = np.flatnonzero(~sparse)
    if pixels.size:
        counts, background, model = dense(pixels)
        start = (norm - norm_err)[pixels]
        root[pixels] = _dense_profile_root(
            counts, background, model, norm[pixels], bound[pixels], level, start, max_niter, False
        )
    return root


def _at_amplitude(elements, negative, sums, x, norm_min_total, dense) -> tuple[np.ndarray, np.ndarray]:
    """gammapy's ``Σ m² n / μ²`` (over ``μ ≠ 0``) and Cash statistic at the amplitudes ``x``, per
    pixel: from the counted elements where ``x ≥ norm_min_total`` (no predicted count below
    zero), from the dense footprints elsewhere."""
    curvature, log_ratio = elements.curvature_and_log_ratio(x)
    if negative is not None:
        more_curvature, more_log_ratio = negative.curvature_and_log_ratio(x)
        curvature, log_ratio = curvature + more_curvature, log_ratio + more_log_ratio
    stat = sums.stat_null - 2 * (log_ratio - x * sums.model_total)
    pixels = np.flatnonzero(x < norm_min_total)
    if pixels.size:
        counts, background, model = dense(pixels)
        stat[pixels] = cash_sums(counts, background, model, x[pixels])
        npred = background + x[pixels] * model
        with np.errstate(invalid="ignore", divide="ignore"):
            terms = np.where(npred != 0, model**2 * counts / npred**2, 0.0)
        curvature[pixels] = terms.sum(axis=0)
    return curvature, stat


def fit_pixels(
    elements: CountedElements,
    sums: FootprintSums,
    n_sigma=1,
    max_niter=100,
    n_sigma_ul=None,
    negative: CountedElements | None = None,
    errn_errp: bool = False,
    dense=None,
    floor=None,
    threshold: float | None = None,
    guess=None,
) -> dict:
    """Best-fit amplitude of the kernel for every pixel (gammapy's
    ``BrentqFluxEstimator.estimate_best_fit`` plus npred).

    Parameters
    ----------
    elements : CountedElements
        The footprint elements with counts and a model.
    sums : FootprintSums
        Per-pixel sums over the whole footprints.
    n_sigma : float
        Confidence level of ``norm_err``.
    max_niter : int
        Failure (``success`` False, norm at its lower bound) where gammapy's bracket has no root.
    n_sigma_ul : float, optional
        Also the upper limit ``norm_ul`` at this confidence level: gammapy's profile-likelihood
        root searched between the norm and the norm plus 100 ``norm_err``.
    negative : CountedElements, optional
        The elements with counts and ``m < 0``: gammapy leaves them out of the fit but not out of
        the statistic.
    errn_errp : bool
        Also the asymmetric errors ``norm_errn`` and ``norm_errp`` at ``n_sigma``: gammapy's
        profile-likelihood roots between the norm and the norm ∓ 100 ``norm_err``.
    dense : callable, optional
        ``dense(pixels) -> (counts, background, model)``, the dense footprints
        ``(n_footprint, len(pixels))`` of some pixels (needed by ``errn_errp``).
    floor : ndarray, optional
        Per pixel, the sum over the whole footprint of :func:`cash_floor` (needed by
        ``errn_errp``).
    threshold : float, optional
        gammapy's ``threshold``: where the TS at ``guess`` is not above it, the results are those
        at ``guess`` (``niter`` 0, ``success`` True) instead of the fit's (``dense`` needed).
    guess : ndarray, optional
        The initial amplitudes (with ``threshold``).

    Returns
    -------
    dict of ndarray
        ``norm``, ``norm_err``, ``niter``, ``ts``, ``stat``, ``stat_null``, ``success``,
        ``npred``, ``npred_excess`` (and ``norm_ul``, ``norm_errp``, ``norm_errn``), one value
        per pixel.
    """
    norm_min, norm_max, norm_min_total, found = norm_bounds(elements, sums)
    trivial = (sums.counts <= 0) | (sums.model <= 0)
    lo = np.where(trivial, np.nan, norm_min)  # not searched

    def derivative(work, x, pixels, slope):
        return work.derivative(sums.model[pixels], x, slope)

    # Start at no source: most pixels of a survey have none, and from the left of the root the
    # Newton steps of the concave derivative approach it monotonically.
    root, niter, valid = _root(elements, derivative, lo, norm_max, 0.0, max_niter, found & ~trivial)
    norm = np.where(trivial | ~valid, norm_min_total, np.maximum(root, norm_min_total))
    niter = np.where(trivial, 0, np.where(valid, niter, max_niter))
    success = trivial | valid
    curvature, log_ratio = elements.curvature_and_log_ratio(norm)
    if negative is not None:
        more_curvature, more_log_ratio = negative.curvature_and_log_ratio(norm)
        curvature, log_ratio = curvature + more_curvature, log_ratio + more_log_ratio
    with np.errstate(invalid="ignore", divide="ignore"):
        norm_err = np.sqrt(1 / curvature) * n_sigma
    # ts = stat_null − stat: the elements without counts add Σ (μ − b) = norm Σm
    ts = 2 * (log_ratio - norm * sums.model_total)
    below = None
    if threshold is not None:
        curvature, stat = _at_amplitude(elements, negative, sums, guess, norm_min_total, dense)
        ts_guess = sums.stat_null - stat
        skip = ~(ts_guess > threshold)  # gammapy fits where the TS is above the threshold
        with np.errstate(invalid="ignore", divide="ignore"):
            err_guess = np.sqrt(1 / curvature) * n_sigma
        norm, norm_err = np.where(skip, guess, norm), np.where(skip, err_guess, norm_err)
        ts, niter = np.where(skip, ts_guess, ts), np.where(skip, 0, niter)
        success = success | skip
        below = norm < norm_min_total
    npred_sum = sums.background + norm * sums.model_total
    upper = {}
    # the statistic's change with the amplitude: every element with counts and a model, Σ m over
    # every element (the fit itself, as gammapy's, leaves out the elements with m < 0)
    every = elements.merged(negative) if n_sigma_ul is not None or errn_errp else elements
    if n_sigma_ul is not None:
        start = norm + norm_err * (n_sigma_ul / n_sigma)  # the parabola's root
        upper["norm_ul"] = _upper_root(
            every, sums.model_total, norm, norm_err, n_sigma_ul**2, start, max_niter, below, dense
        )
    if errn_errp:
        level = n_sigma**2
        start = norm + norm_err
        errp = _upper_root(every, sums.model_total, norm, norm_err, level, start, max_niter, below, dense)
        stat = sums.stat_null - ts
        errn = _lower_root(every, sums, stat, norm, norm_err, norm_min_total, level, max_niter, floor, dense)
        upper["norm_errp"], upper["norm_errn"] = errp - norm, norm - errn
    return {
        "norm": norm,
        "norm_err": norm_err,
        "niter": niter,
        "ts": ts,
        "stat": sums.stat_null - ts,
        "stat_null": sums.stat_null,
        "success": success,
        "npred": npred_sum,
        "npred_excess": npred_sum - sums.background,
        **upper,
    }


def fit_amplitude(
    counts,
    background,
    model,
    n_sigma=1,
    max_niter=100,
    n_sigma_ul=None,
    errn_errp: bool = False,
    threshold: float | None = None,
    guess=None,
) -> dict:
    """:func:`fit_pixels` on dense footprint stacks.

    Parameters
    ----------
    counts, background, model : ndarray
        Footprint values, shape ``(n_footprint, ...)``; ``model`` is the kernel times the
        predicted counts of norm 1.
    n_sigma, max_niter, n_sigma_ul, errn_errp, threshold
        As for :func:`fit_pixels`.
    guess : ndarray, optional
        Initial amplitudes, pixel-shaped (with ``threshold``).

    Returns
    -------
    dict of ndarray
        The quantities of :func:`fit_pixels`, pixel-shaped.
    """
    shape = np.shape(counts)[1:]
    stacks = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (counts, background, model)]
    result = fit_pixels(
        CountedElements.of(*stacks),
        FootprintSums.of(*stacks),
        n_sigma,
        max_niter,
        n_sigma_ul,
        negative=CountedElements.of(*stacks, negative=True),
        errn_errp=errn_errp,
        dense=lambda pixels: tuple(a[:, pixels] for a in stacks),
        floor=cash_floor(stacks[0]).sum(axis=0),
        threshold=threshold,
        guess=None if guess is None else np.asarray(guess, dtype=np.float64).ravel(),
    )
    return {name: value.reshape(shape) for name, value in result.items()}
