"""Interpolation scales of map axes: the space in which axis pixels are evenly spaced.

A ``log`` axis has evenly spaced bins in ``log(x)``, a ``sqrt`` axis in ``sqrt(x)`` and a ``lin`` axis
in ``x``.  Pixel <-> coordinate conversions interpolate linearly in the scaled space.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INTERP_SCALES", "interp1d_extrapolate", "scale", "scale_inverse"]

INTERP_SCALES = ("lin", "log", "sqrt")


def _tiny(values: np.ndarray) -> float:
    dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float32
    return float(np.finfo(dtype).tiny)


def scale(values, interp: str) -> np.ndarray:
    """Map axis coordinates into the space where the axis is linear."""
    values = np.asarray(values, dtype=float) if np.ndim(values) == 0 else np.asarray(values)
    if interp == "lin":
        return values
    if interp == "log":
        # Zero (or negative) values are clipped to the smallest normal number so that they map
        # to a large negative finite number instead of -inf, as gammapy does.
        return np.log(np.clip(values, _tiny(values), np.inf))
    if interp == "sqrt":
        sign = np.sign(values)
        return sign * np.sqrt(sign * values)
    raise ValueError(f"Invalid interp {interp!r}, expected one of {INTERP_SCALES}")


def scale_inverse(values, interp: str) -> np.ndarray:
    """Inverse of :func:`scale`."""
    values = np.asarray(values)
    if interp == "lin":
        return values
    if interp == "log":
        out = np.exp(values)
        tiny = _tiny(out)
        return np.where(np.abs(out) - tiny <= tiny, 0, out)
    if interp == "sqrt":
        return np.power(values, 2)
    raise ValueError(f"Invalid interp {interp!r}, expected one of {INTERP_SCALES}")


def interp1d_extrapolate(x_new, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of ``y(x)`` that extrapolates linearly beyond the ends.

    ``x`` must be strictly monotonic (increasing or decreasing).  With a single node the
    constant ``y[0]`` is returned.
    """
    x_new = np.asarray(x_new, dtype=float)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size == 1:
        return np.full(x_new.shape, y[0])
    if x[0] > x[-1]:
        x, y = x[::-1], y[::-1]
    # Segment index of each point, clamped to the first/last segment so that points outside
    # the node range are extrapolated along the outermost segments.
    idx = np.clip(np.searchsorted(x, x_new, side="right") - 1, 0, x.size - 2)
    x0, x1 = x[idx], x[idx + 1]
    y0, y1 = y[idx], y[idx + 1]
    # Weighted form of the linear B-spline (as scipy's interp1d(kind=1) evaluates it), so that
    # results agree with gammapy to the last bit.
    weight = 1.0 / (x1 - x0)
    return y0 * (weight * (x1 - x_new)) + y1 * (weight * (x_new - x0))
