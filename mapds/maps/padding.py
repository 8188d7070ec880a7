"""Growing a map by whole pixels (or bins of an axis) on each side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..geom import WcsGeom
from ..geom.base import Geom

if TYPE_CHECKING:
    from .core import Map

__all__ = ["PAD_MODES", "pad"]

#: Padding modes (``numpy.pad`` names) that mapds honours, spatially and along an axis.
PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pair(width, name: str) -> tuple[int, int]:
    pair = (width, width) if np.isscalar(width) else tuple(width)
    if len(pair) != 2 or any(not float(w).is_integer() or w < 0 for w in pair):
        raise InvalidArgumentError(f"{name} must be a non-negative integer or a pair of them, got {width!r}")
    return int(pair[0]), int(pair[1])


def pad(m: Map, pad_width, axis_name=None, mode="constant", cval=0) -> Map:
    """Pad the image by ``pad_width`` pixels on each side, or the bins of ``axis_name``.

    Parameters
    ----------
    m : Map
        Input map.
    pad_width : int or (int, int)
        Spatial: pixels added on both sides of (lon, lat).  Along an axis: bins added at the
        (low, high) ends.
    axis_name : str, optional
        Non-spatial axis to pad instead of the image.
    mode : {"constant", "edge", "reflect", "symmetric", "wrap"}
        How the new pixels are filled (``numpy.pad`` meaning).
    cval : scalar
        Fill value for ``mode="constant"``.
    """
    if mode not in PAD_MODES:
        raise InvalidArgumentError(f"Invalid pad mode {mode!r}; expected one of {PAD_MODES}")
    geom: Geom
    if axis_name is None:
        if not isinstance(m.geom, WcsGeom):
            raise NotImplementedError(f"Spatial padding is not supported by {type(m.geom).__name__}")
        pad_x, pad_y = _pair(pad_width, "pad_width")
        geom = m.geom.pad((pad_x, pad_y))
        widths = {"y": (pad_y, pad_y), "x": (pad_x, pad_x)}
    else:
        low, high = _pair(pad_width, "pad_width")
        geom = m.geom.pad((low, high), axis_name=axis_name)
        widths = {axis_name: (low, high)}
    kwargs = {"constant_values": cval} if mode == "constant" else {}
    # xarray pads by dimension name (numpy's modes, dask's pad on dask data).
    padded = m.to_xarray().variable.pad(widths, mode=mode, **kwargs)
    return m.copy(geom=geom, data=padded.data.astype(m.dtype))
