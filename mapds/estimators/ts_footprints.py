"""The inputs of the TS map's per-pixel fits over one tile, built from the tile's images.

A pixel's footprint is the kernel's ``ky × kx`` window around it (in every energy plane when the
cube is fitted).  The fit needs per-pixel sums over whole footprints and the elements with counts
(:mod:`~mapds.estimators.ts_fit`); both come from the images directly: sums over the window by
shifted additions in a fixed order (so a pixel's value does not depend on the tile it is in), and
the counted elements by scanning the windows of the counted pixels.  The footprint stack itself
(pixels × footprint values, a thousand times the tile) is never built.
"""

from __future__ import annotations

import numpy as np

from .ts_fit import TRUNCATION_VALUE, CountedElements, FootprintSums, cash_floor
from .ts_sensitivity import sensitivity_norm

__all__ = ["TileFootprints"]

#: Counted elements per batch of rows (bounds the memory of a batch's fit).
ELEMENTS_PER_BATCH = 300_000


def _take(values, index, out) -> np.ndarray:
    """``values.flat[index]`` into ``out`` ("clip": numpy buffers ``out`` otherwise)."""
    return np.take(values, index, out=out, mode="clip")


def _window_sum(image, shape, rows: int, cols: int) -> np.ndarray:
    """``Σ image`` over the ``shape`` window below and right of each of ``rows × cols`` pixels,
    summed over rows first, then columns."""
    ky, kx = shape
    by_rows = image[:rows].copy()
    for jy in range(1, ky):
        by_rows += image[jy : jy + rows]
    out = by_rows[:, :cols].copy()
    for jx in range(1, kx):
        out += by_rows[:, jx : jx + cols]
    return out


class TileFootprints:
    """The kernel's footprints over the pixels of a tile extended by the kernel radius.

    Parameters
    ----------
    counts, background, exposure : ndarray, shape ``(n_planes, ny + ky − 1, nx + kx − 1)``
        Masked counts, background and predicted counts of norm 1; one plane (the sums over
        energy) or one per energy bin.
    kernel : ndarray, shape ``(n_energy, ky, kx)``
        Kernel normalised per energy bin.
    weights : ndarray, shape ``(n_energy, ny + ky − 1, nx + kx − 1)``, optional
        With one plane: the mask, whose mean over the energy bins weights the kernel
        (``Σ_e kernel_e w_e / Σ_e w_e`` at each element).
    """

    def __init__(self, counts, background, exposure, kernel, weights=None):
        self.counts, self.background, self.exposure = counts, background, exposure
        n_planes, ky, kx = counts.shape[0], *kernel.shape[1:]
        self.shape = (ky, kx)
        self.ny, self.nx = counts.shape[1] - ky + 1, counts.shape[2] - kx + 1
        counted = (counts > 0) & (exposure > 0)
        self._counted = counted
        self._cells = np.flatnonzero(counted)  # the counted cells' flat positions
        # where each row's cells start in that list, and the row's cells before each column
        per_row = counted.sum(axis=2)
        self._row_start = (np.cumsum(per_row) - per_row.ravel()).reshape(per_row.shape)
        self._before = np.zeros((*counted.shape[:2], counted.shape[2] + 1), dtype=np.intp)
        np.cumsum(counted, axis=2, out=self._before[..., 1:])
        self._space = None
        self._weights = None  # the kernel varies over the tile: per-element mean
        if n_planes == len(kernel):
            self.kernel = kernel
        else:
            total = weights.sum(axis=0)
            used = weights[:, total > 0]
            if used.size and not (used == used[:, :1]).all():
                self._weights, self._total = weights, total
                self.kernel = (kernel != 0).any(axis=0, keepdims=True).astype(np.float64)
            else:  # every pixel weights the energy bins alike: one kernel
                common = used[:, 0] if used.size else np.ones(len(kernel))
                with np.errstate(invalid="ignore", divide="ignore"):
                    combined = (kernel * common[:, None, None]).sum(axis=0) / common.sum()
                combined[~np.isfinite(combined)] = 0
                self.kernel = combined[None]
            self._energy_kernel = kernel

    # -- models of the elements ----------------------------------------------------------------

    @staticmethod
    def _mean_kernel(kernel, weights, total):
        """The mask-weighted mean over energy of ``kernel`` (``(n_energy, ...)`` values at the
        elements), for elements with these ``weights`` and their sum ``total``."""
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (kernel * weights).sum(axis=0) / total
        return np.where(np.isfinite(values), values, 0.0)

    def _mean_model_image(self, jy, jx):
        """The model ``m`` of element ``(jy, jx)`` of every footprint, where the mask-weighted
        mean kernel varies over the tile."""
        window = (slice(jy, jy + self.ny), slice(jx, jx + self.nx))
        kernel = self._energy_kernel[:, jy, jx, None, None]
        mean = self._mean_kernel(kernel, self._weights[(slice(None), *window)], self._total[window])
        return mean * self.exposure[(0, *window)]

    # -- sums over whole footprints -------------------------------------------------------------

    def sums(self) -> FootprintSums:
        """Per-pixel sums over every element of every footprint of the tile."""
        shape = (self.ny, self.nx)
        model, rest, m, ratio = (np.zeros(shape) for _ in range(4))
        sn_min = np.full(shape, np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            # b / m = (b / exposure) / kernel: one division per element (inf without exposure)
            per_exposure = np.where(self.exposure > 0, self.background / self.exposure, np.inf)
        for plane, jy, jx in zip(*np.nonzero(self.kernel), strict=True):
            window = (plane, slice(jy, jy + self.ny), slice(jx, jx + self.nx))
            if self._weights is None:
                kernel = self.kernel[plane, jy, jx]
                np.multiply(self.exposure[window], kernel, out=m)
                if kernel < 0:
                    rest += m  # the statistic's, not the derivative's
                    continue
                np.divide(per_exposure[window], kernel, out=ratio)
            else:
                m[...] = self._mean_model_image(jy, jx)
                rest += np.minimum(m, 0)
                np.maximum(m, 0, out=m)
                with np.errstate(invalid="ignore", divide="ignore"):
                    np.divide(self.background[window], m, out=ratio)
                ratio[m <= 0] = np.inf
            model += m
            np.minimum(sn_min, ratio, out=sn_min)
        counts = np.where(self.counts > 0, self.counts, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            log_terms = np.where(
                counts > 0, counts * np.log(np.maximum(self.background, TRUNCATION_VALUE)), 0.0
            )
        window = (self.shape, self.ny, self.nx)
        truncated = np.maximum(self.background, TRUNCATION_VALUE).sum(axis=0)
        stat_null = 2 * (_window_sum(truncated, *window) - _window_sum(log_terms.sum(axis=0), *window))
        return FootprintSums(
            model=model,
            model_total=model + rest,
            counts=_window_sum(counts.sum(axis=0), *window),
            background=_window_sum(self.background.sum(axis=0), *window),
            stat_null=stat_null,
            sn_min_total=sn_min,
        )

    def cash_floor(self) -> np.ndarray:
        """Per pixel, the sum over the whole footprint of the least Cash term of each element
        (:func:`~mapds.estimators.ts_fit.cash_floor`), ``(ny, nx)``."""
        image = cash_floor(self.counts).sum(axis=0)
        return _window_sum(image, self.shape, self.ny, self.nx)

    # -- dense footprints -----------------------------------------------------------------------

    def dense(self, rows: slice, pixels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The whole footprints of a few pixels: counts, background and model, each
        ``(n_footprint, len(pixels))`` in footprint order (plane, row, column).

        Parameters
        ----------
        rows : slice
            The batch's rows.
        pixels : ndarray of int
            Pixels of the batch, in C order within ``rows``.
        """
        ky, kx = self.shape
        y, x = np.divmod(np.asarray(pixels), self.nx)
        y = y + rows.start
        jy, jx = np.arange(ky)[:, None, None], np.arange(kx)[None, :, None]
        rows_at, cols_at = y[None, None, :] + jy, x[None, None, :] + jx  # (ky, kx, n)
        counts, background, exposure = (
            a[:, rows_at, cols_at] for a in (self.counts, self.background, self.exposure)
        )
        if self._weights is None:
            kernel = self.kernel[..., None]
        else:
            kernel = self._mean_kernel(
                self._energy_kernel[..., None],
                self._weights[:, rows_at, cols_at],
                self._total[rows_at, cols_at],
            )[None]
        model = kernel * exposure
        return tuple(a.reshape(-1, len(y)) for a in (counts, background, model))

    def sensitivity(self, rows: slice, norm, n_sigma, max_niter) -> np.ndarray:
        """gammapy's ``norm_sensitivity`` of the pixels of ``rows`` (C order) at their ``norm``,
        on their dense footprints, a few pixels at a time (:func:`sensitivity_norm`)."""
        n = (rows.stop - rows.start) * self.nx
        footprint = self.counts.shape[0] * self.shape[0] * self.shape[1]  # dense values per pixel
        step = max(ELEMENTS_PER_BATCH // footprint, 1)
        out = np.full(n, np.nan)
        for start in range(0, n, step):
            pixels = np.arange(start, min(start + step, n))
            _, background, model = self.dense(rows, pixels)
            out[pixels] = sensitivity_norm(background, model, norm[pixels], n_sigma, max_niter)
        return out

    # -- counted elements -----------------------------------------------------------------------

    def batches(self):
        """Row slices whose counted elements make batches of about :data:`ELEMENTS_PER_BATCH`."""
        per_pixel = np.count_nonzero(self.kernel) * max(self._counted.mean(), 1e-6)
        rows = int(max(1, ELEMENTS_PER_BATCH / (per_pixel * self.nx)))
        return [slice(start, min(start + rows, self.ny)) for start in range(0, self.ny, rows)]

    def _buffers(self, n: int):
        """Two integer and six float arrays of ``n`` elements, shared by the tile's batches
        (allocating fresh arrays of this size costs more than the arithmetic on them), and
        ``0, 1, … n − 1``."""
        if self._space is None or self._space[0].size < n:
            integers = [np.arange(n)] + [np.empty(n, dtype=np.intp) for _ in range(2)]
            self._space = integers + [np.empty(n) for _ in range(6)]
        return [a[:n] for a in self._space]

    def _runs(self, rows: slice):
        """The counted cells of the footprints of ``rows``, as runs: one per pixel, plane and
        kernel row (in that order), of consecutive entries of the tile's list of counted cells.

        Returns the runs' first entries and lengths, and per run the number that turns a cell's
        flat position into its element's index in the footprint.
        """
        planes, height, width = self.counts.shape
        ky, kx = self.shape
        # (pixel row, pixel column, plane, kernel row)
        plane = np.arange(planes)[None, None, :, None]
        jy = np.arange(ky)[None, None, None, :]
        y = np.arange(rows.start, rows.stop)[:, None, None, None] + jy
        x = np.arange(self.nx)[None, :, None, None]
        first = self._row_start[plane, y]
        start = first + self._before[plane, y, x]
        length = first + self._before[plane, y, x + kx] - start
        to_element = (plane * height + y) * width + x - (plane * ky + jy) * kx
        return start.ravel(), length.ravel(), to_element.ravel()

    def elements(self, rows: slice) -> tuple[CountedElements, CountedElements | None]:
        """The elements with counts and a model of the footprints of the pixels in ``rows``,
        pixel after pixel (in C order), each pixel's in footprint order (plane, row, column):
        those with ``m > 0`` and those with ``m < 0`` (None where the kernel has none).

        The elements' arrays are the tile's buffers: the next batch's overwrite them."""
        start, length, to_element = self._runs(rows)
        n_pixels = (rows.stop - rows.start) * self.nx
        size = length.reshape(n_pixels, -1).sum(axis=1)
        pixel = np.repeat(np.arange(n_pixels), size)
        count, at, element, counts, background, model, sn, *work = self._buffers(int(size.sum()))
        # entry i of run r is cell (i − first entry of r) + start of r
        np.add(count, np.repeat(start - (np.cumsum(length) - length), length), out=element)
        _take(self._cells, element, at)
        np.subtract(at, np.repeat(to_element, length), out=element)
        _take(self.counts, at, counts)
        _take(self.background, at, background)
        exposure = _take(self.exposure, at, work[0])
        if self._weights is None:
            np.multiply(_take(self.kernel, element, model), exposure, out=model)
        else:
            y, x = np.divmod(at, self.counts.shape[2])
            jy, jx = np.divmod(element, self.shape[1])
            kernel = self._mean_kernel(
                self._energy_kernel[:, jy, jx], self._weights[:, y, x], self._total[y, x]
            )
            np.multiply(kernel, exposure, out=model)
        values = (counts, background, model)
        if self._weights is None and (self.kernel > 0).all():
            with np.errstate(invalid="ignore", divide="ignore"):
                np.divide(background, model, out=sn)
            return CountedElements(size, *values, sn=sn, pixel=pixel, scratch=work), None
        positive = self._signed(size, pixel, values, 1)
        if self._weights is None and not (self.kernel < 0).any():
            return positive, None
        return positive, self._signed(size, pixel, values, -1)

    @staticmethod
    def _signed(size, pixel, values, sign) -> CountedElements:
        """The elements whose model has this sign."""
        keep = np.sign(values[-1]) == sign
        return CountedElements(np.bincount(pixel[keep], minlength=size.size), *(a[keep] for a in values))
