"""Linear interpolation weights on regular grids, extrapolating beyond the ends.

gammapy interpolates IRF maps with scipy's ``RegularGridInterpolator(fill_value=None)``: multilinear
in each dimension, the end cells' linear formula continued outside the grid, dimensions of length
one ignored.  Multilinear interpolation is separable, so an IRF lookup can first reduce the few
neighbouring IRF pixels (and energy planes) with these weights and only then interpolate along
``rad`` or ``migra`` — the same numbers, without building an interpolator over the whole map.
"""

from __future__ import annotations

import numpy as np

__all__ = ["interp_on_grid", "node_neighbours", "pixel_neighbours"]


def pixel_neighbours(pix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower neighbour index and upper-neighbour weight on the integer grid ``0 .. n - 1``.

    Parameters
    ----------
    pix : array-like
        Pixel coordinates (any shape).
    n : int
        Grid length.  For ``n == 1`` the single node is returned with weight 0 for the
        (non-existent) upper neighbour, i.e. the dimension is ignored.

    Returns
    -------
    i0, t : ndarray
        Interpolated value is ``(1 - t) * v[i0] + t * v[i0 + 1]``; ``t`` lies outside ``[0, 1]``
        where ``pix`` is outside the grid (linear extrapolation from the end cell).
    """
    pix = np.asarray(pix, dtype=float)
    if n == 1:
        return np.zeros(pix.shape, dtype=int), np.zeros(pix.shape)
    i0 = np.clip(np.floor(np.nan_to_num(pix)), 0, n - 2).astype(int)
    return i0, pix - i0


def node_neighbours(x, nodes) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`pixel_neighbours` for coordinates ``x`` on irregular, increasing ``nodes``.

    ``x`` and ``nodes`` must already be in the interpolation scale (e.g. ``log`` of energies).
    """
    x = np.asarray(x, dtype=float)
    nodes = np.asarray(nodes, dtype=float)
    if nodes.size == 1:
        return np.zeros(x.shape, dtype=int), np.zeros(x.shape)
    i0 = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, nodes.size - 2)
    return i0, (x - nodes[i0]) / (nodes[i0 + 1] - nodes[i0])


def interp_on_grid(values: np.ndarray, i0: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    """Linear interpolation of ``values`` along ``axis`` with neighbours from the helpers above.

    The result has ``values``' shape with ``axis`` replaced by the shape of ``i0``.
    """
    values = np.asarray(values)
    if values.shape[axis] == 1:
        return np.take(values, np.zeros_like(i0), axis=axis)
    lower = np.take(values, i0, axis=axis)
    upper = np.take(values, i0 + 1, axis=axis)
    axis = axis % values.ndim
    shape = (1,) * axis + np.shape(t) + (1,) * (values.ndim - axis - 1)
    t = np.reshape(t, shape)
    return (1.0 - t) * lower + t * upper
