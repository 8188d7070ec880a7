"""Combining maps: adding one map into another (``stack``) and joining maps along an axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import astropy.units as u
import dask.array as da
import numpy as np
import xarray as xr

from ..errors import GeometryMismatchError, UnitMismatchError
from ..geom import MapAxis, WcsGeom
from .chunks import chunked_like

if TYPE_CHECKING:
    from .core import Map

__all__ = ["from_stack", "split_by_axis", "stack"]


def _stack_slices(geom, other_geom) -> tuple[tuple, tuple]:
    """Index of ``other`` inside ``geom`` and the part of ``other`` that overlaps it."""
    full = (Ellipsis,)
    if geom == other_geom:
        return full, full
    if isinstance(geom, WcsGeom) and isinstance(other_geom, WcsGeom) and geom.is_aligned(other_geom):
        slices = other_geom.cutout_slices(geom)
        return (Ellipsis, *slices["parent-slices"]), (Ellipsis, *slices["cutout-slices"])
    raise GeometryMismatchError(
        "Can only stack equivalent maps or cutout of the same map: "
        f"got data shapes {geom.data_shape} and {other_geom.data_shape}"
    )


def stack(m: Map, other: Map, weights=None, nan_to_num=True) -> None:
    """Add ``other`` into ``m``, in place (``m``'s dask graph is rebound, nothing computed).

    Parameters
    ----------
    m : Map
        Target map.
    other : Map
        Map on the same geometry, or an aligned cutout of it (same pixel grid); converted to
        the unit of ``m`` and cast to its dtype.
    weights : Map, optional
        Map on ``other``'s spatial grid (non-spatial axes broadcastable) multiplying it.
    nan_to_num : bool
        Zero the non-finite values of ``other``.

    Notes
    -----
    Only the chunks of ``m`` that a cutout overlaps depend on ``other``.  Boolean targets
    are OR-ed, as numpy's in-place ``+=`` does.
    """
    parent, inner = _stack_slices(m.geom, other.geom)
    try:
        scale = other.unit.to(m.unit)
    except u.UnitConversionError as exc:
        raise UnitMismatchError(f"Cannot stack a map in {other.unit!r} into a map in {m.unit!r}") from exc
    data = other.dask_data[inner]
    if weights is not None and not other.geom.to_image() == weights.geom.to_image():
        raise GeometryMismatchError(
            "Incompatible spatial geometries between map and weights: "
            f"{other.geom.data_shape[-2:]} and {weights.geom.data_shape[-2:]}"
        )
    out = m.dask_data.copy()
    if m.dtype == bool:
        data = data.astype(bool)  # numpy's in-place bool + is OR
        if weights is not None:
            data = (data * weights.data[inner]).astype(bool)
        value = (out if parent == (Ellipsis,) else out[parent]) | data
    else:
        # One task per chunk computes the sum in one pass (survey chunks are 100+ MB: every
        # intermediate array of a chain of dask operations costs an allocation and a pass).
        target = out if parent == (Ellipsis,) else out[parent]
        arrays = [target, data.rechunk(target.chunks)]
        if weights is not None:
            arrays.append(chunked_like(weights.data[inner], target))
        value = da.map_blocks(
            add_values,
            *arrays,
            scale=scale,
            nan_to_num=nan_to_num,
            dtype=m.dtype,
            meta=np.empty((0,) * out.ndim, m.dtype),
        )
    if parent == (Ellipsis,):
        out = value
    else:
        out[parent] = value
    m.data = out


def add_values(
    target: np.ndarray, values: np.ndarray, weights=None, *, scale=1.0, nan_to_num=True
) -> np.ndarray:
    """``target + w · values`` in ``target``'s dtype, as numpy's ``target += ...`` does.

    ``values`` is scaled (unit conversion), cast to ``target``'s dtype, its non-finite values are
    zeroed when ``nan_to_num``, then multiplied by ``weights`` (broadcast; the product in their
    common dtype, cast back) before the addition.
    """
    # the result is the only new array: chunks are 100+ MB and each fresh one costs page faults
    addend = np.empty(values.shape, target.dtype)
    if scale != 1:
        np.multiply(values, scale, out=addend, casting="unsafe")
    else:
        np.copyto(addend, values, casting="unsafe")
    # A finite sum proves every value finite (NaN and ±inf propagate): one pass without
    # temporaries, where the masks of non-finite values take three.
    if nan_to_num and addend.dtype.kind in "fc" and not np.isfinite(addend.sum()):
        addend[~np.isfinite(addend)] = 0
    if weights is not None:
        if np.result_type(addend, weights) == addend.dtype:
            np.multiply(addend, weights, out=addend)
        else:
            addend = (addend * weights).astype(target.dtype)
    np.add(target, addend, out=addend)
    return addend


def from_stack(maps: Sequence[Map], axis: MapAxis | None = None, axis_name: str | None = None) -> Map:
    """Join maps along a new axis ``axis`` or along their existing axis ``axis_name``.

    Parameters
    ----------
    maps : sequence of Map
        Maps whose geometries agree except for the joined axis.
    axis : MapAxis or LabelMapAxis, optional
        New axis, one bin per map.
    axis_name : str, optional
        Existing axis to join (its pieces must be contiguous); default: the last axis.

    Returns
    -------
    Map
        Lazy concatenation; the joined axis becomes the last geometry axis (the first data
        dimension) and values are converted to the unit of the first map.
    """
    maps = list(maps)
    if not maps:
        raise GeometryMismatchError("Map.from_stack needs at least one map")
    first = maps[0]
    geom = first.geom
    if axis_name is None and axis is None:
        if geom.is_image:
            raise GeometryMismatchError(
                "Map.from_stack requires that maps have at least one non-spatial axis"
            )
        axis_name = geom.axes.names[-1]
    if axis_name is not None:
        axis = MapAxis.from_stack([m.geom.axes[axis_name] for m in maps])
        geom = geom.drop(axis_name)
    variables = []
    for m in maps:
        m_geom = m.geom.drop(axis_name) if axis_name is not None else m.geom
        if not m_geom == geom:
            raise GeometryMismatchError(
                f"Image geometries not aligned: data shapes {m_geom.data_shape} and {geom.data_shape}"
            )
        variables.append(m.to_unit(first.unit).to_xarray().variable)
    # xarray joins by dimension name; the joined axis goes first in data order.
    assert axis is not None  # given, or stacked from the axis_name axes above
    joined = xr.Variable.concat(variables, dim=axis.name)
    joined = joined.transpose(axis.name, *(d for d in joined.dims if d != axis.name))
    return first.copy(geom=geom.to_cube([axis]), data=joined.data, meta={})


def split_by_axis(m: Map, axis_name: str) -> list[Map]:
    """One map per bin of ``axis_name`` (the axis is dropped)."""
    return [m.slice_by_idx({axis_name: idx}) for idx in range(m.geom.axes[axis_name].nbin)]
