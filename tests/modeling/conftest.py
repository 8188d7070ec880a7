"""Fixtures of the modeling tests."""

from __future__ import annotations

import numpy as np
import pytest


def _plain(value):
    """``value`` with NaN floats replaced by a marker (so that equality holds for NaN entries)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return "nan"
    return value


@pytest.fixture
def plain():
    """Function making nested dicts/lists comparable when they hold NaN."""
    return _plain
