"""Contiguous runs of C-ordered selections (shared by FITS reads and writes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapds.io.fits.runs import contiguous_runs, normalize_key


@st.composite
def shape_and_key(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    key = []
    for n in shape:
        start = draw(st.integers(0, n - 1))
        stop = draw(st.integers(start + 1, n))
        key.append(slice(start, stop))
    return shape, tuple(key)


@settings(max_examples=300, deadline=None)
@given(shape_and_key())
def test_runs_enumerate_the_selection_in_c_order(case):
    shape, key = case
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    offsets, length = contiguous_runs(shape, key)
    gathered = np.concatenate([np.arange(o, o + length) for o in offsets])
    np.testing.assert_array_equal(gathered, flat[key].ravel())


def test_whole_rows_make_one_run_per_plane():
    offsets, length = contiguous_runs((3, 10, 20), (slice(0, 3), slice(2, 6), slice(0, 20)))
    assert length == 4 * 20
    assert offsets.tolist() == [40, 240, 440]
    offsets, length = contiguous_runs((3, 10, 20), (slice(0, 3), slice(0, 10), slice(0, 20)))
    assert offsets.tolist() == [0] and length == 600


def test_normalize_key_handles_integers_and_rejects_steps():
    slices, dropped = normalize_key((1, slice(None), -1), (3, 4, 5))
    assert slices == (slice(1, 2), slice(0, 4), slice(4, 5)) and dropped == (0, 2)
    with pytest.raises(IndexError, match="step-1"):
        normalize_key((slice(0, 4, 2),), (4,))
    with pytest.raises(IndexError, match="out of bounds"):
        normalize_key((7,), (4,))
