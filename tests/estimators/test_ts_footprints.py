"""The TS map's tile fits (footprints built from the images) against the dense footprint stacks."""

from __future__ import annotations

import numpy as np
import pytest

from mapds.estimators import ts_footprints
from mapds.estimators.ts_fit import fit_amplitude
from mapds.estimators.ts_map import QUANTITIES, fit_block

KY, KX = 7, 5
NY, NX = 12, 15


def _images(rng, planes, sparse=False):
    shape = (planes, NY + KY - 1, NX + KX - 1)
    background = rng.uniform(0.05, 2, shape)
    exposure = rng.uniform(0.5, 3, shape)
    counts = rng.poisson(background * (0.05 if sparse else 1)).astype(float)
    counts[:, 3:6, 4:9] += rng.poisson(4, (planes, 3, 5))  # a source
    background[:, :2, :] = 0  # beyond the map: zeros, as the padding
    counts[:, :2, :] = 0
    exposure[:, :2, :] = 0
    return counts, background, exposure


def _kernel(rng, n_energy, zeros=False, negative=False):
    kernel = rng.uniform(0.1, 1, (n_energy, KY, KX))
    if zeros:
        kernel[:, 0, 0] = kernel[:, -1, -1] = 0
    if negative:
        kernel[:, 0, 1] = -1e-3  # a convolution's ringing
    return kernel / kernel.sum(axis=(1, 2), keepdims=True)


def _dense(counts, background, exposure, kernel, weights, summed):
    """The footprint stacks ``(n_footprint, ny, nx)``, element order (plane, row, column)."""
    windows = [
        np.lib.stride_tricks.sliding_window_view(a, (KY, KX), axis=(1, 2))
        for a in (counts, background, exposure)
    ]
    stacks = [np.moveaxis(w, (3, 4), (1, 2)).reshape(-1, NY, NX) for w in windows]
    if summed:
        w = np.lib.stride_tricks.sliding_window_view(weights, (KY, KX), axis=(1, 2))
        w = np.moveaxis(w, (3, 4), (1, 2))  # (n_energy, ky, kx, ny, nx)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = (kernel[..., None, None] * w).sum(axis=0) / w.sum(axis=0)
        k = np.where(np.isfinite(k), k, 0).reshape(-1, NY, NX)
    else:
        k = kernel.reshape(-1, 1, 1)
    return stacks[0], stacks[1], k * stacks[2]


CASES = {
    "summed": {"summed": True},
    "summed-mask": {"summed": True, "mask": True},
    "cube": {"summed": False},
    "cube-sparse": {"summed": False, "sparse": True},
    "kernel-zeros": {"summed": True, "zeros": True},
    "kernel-negative": {"summed": False, "negative": True},
    "mask-negative": {"summed": True, "mask": True, "negative": True},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tile_fit_equals_dense_fit(case, monkeypatch):
    """Every quantity of every pixel, batches of a few rows (the ends of the brackets checked)."""
    options = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    n_energy = 3
    kernel = _kernel(rng, n_energy, options.get("zeros", False), options.get("negative", False))
    weights = np.ones((n_energy, NY + KY - 1, NX + KX - 1))
    if options.get("mask"):
        weights[0, :, :8] = 0  # the first energy bin masked on the left
        weights[:, 10:12, :] = 0
    summed = options["summed"]
    counts, background, exposure = _images(rng, 1 if summed else n_energy, options.get("sparse", False))
    if summed:  # the block's inputs: masked, summed over energy
        counts, background, exposure = (a * weights.any(axis=0) for a in (counts, background, exposure))
    monkeypatch.setattr(ts_footprints, "ELEMENTS_PER_BATCH", 200)
    # initial norms, some far below norm_min_total (the truncated statistic), for the threshold
    guess = rng.normal(0, 5, (1, *counts.shape[1:]))
    threshold = 5.0
    result = fit_block(
        counts,
        background,
        exposure,
        weights,
        guess,
        kernel=kernel,
        summed=summed,
        n_sigma=1,
        max_niter=100,
        n_sigma_ul=2,
        errn_errp=True,
        threshold=threshold,
    )
    dense = _dense(counts, background, exposure, kernel, weights, summed)
    centre = guess[0, KY // 2 : KY // 2 + NY, KX // 2 : KX // 2 + NX]
    expected = fit_amplitude(*dense, n_sigma_ul=2, errn_errp=True, threshold=threshold, guess=centre)
    skipped = expected["niter"] == 0
    assert 0 < skipped.sum() < skipped.size
    inside = ~np.isnan(result[0])
    assert inside.sum() > 0.5 * inside.size
    for i, name in enumerate((*QUANTITIES, "norm_errp", "norm_errn", "norm_ul")):
        if name == "niter":
            continue
        # the profile roots: differences of the root and the norm, converged to 1e-10 of the root
        rtol = 1e-7 if name.startswith(("norm_err", "norm_ul")) and name != "norm_err" else 1e-9
        np.testing.assert_allclose(
            result[i][inside], expected[name][inside], rtol=rtol, atol=1e-12, err_msg=name
        )
