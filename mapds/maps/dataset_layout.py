"""Several maps in one ``xarray.Dataset``, and each map's DataArray back out of it.

A map's DataArray (:meth:`Map.to_xarray`) has dimensions named after its axes plus ``("y", "x")``
and a scalar ``spatial_ref`` coordinate carrying its sky grid.  The maps of a dataset do not all
share these: PSF and energy-dispersion maps usually live on a coarser sky grid, and the PSF's
true-energy axis often differs from the exposure's.  A Dataset needs one length and one index per
dimension name, so :func:`combine_dataarrays` names them as follows:

- maps on the same sky grid (equal ``spatial_ref``, ``y``/``x`` sizes and 1-D pixel coordinates)
  share ``y``/``x``; the first grid keeps the plain names and each other grid gets the suffix
  ``_<name of its first map>``: ``y_psf``, ``x_psf``, ``spatial_ref_psf``, and the same suffix on
  every other coordinate over those dimensions (``lon`` -> ``lon_psf``);
- a non-spatial axis shares the dimension of an equal axis already present (``energy`` of counts
  and background; ``energy_true`` of exposure and PSF when they are equal); an axis that differs
  from the one already present gets the grid suffix, else ``_<map name>``
  (``energy_true_psf``, with ``energy_true_psf_min``/``energy_true_psf_max``);
- scalar coordinates that conflict with one already present get the same suffix.

Every renamed variable records its renaming in ``attrs["mapds_rename"]`` (``"new:old"`` pairs
separated by spaces: a netCDF-safe string), and a ``grid_mapping`` attribute follows its
``spatial_ref``.  :func:`map_dataarray` undoes the renaming, giving a DataArray in the layout of
:meth:`Map.to_xarray`, ready for :meth:`Map.from_xarray`.

Nothing here reads or computes array data: coordinates are compared only when they are scalar or
1-D and held in memory (dask coordinates are compared by their graph names), and variables are
moved between DataArrays and Datasets as they are (numpy, dask or xarray's lazily indexed arrays).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping
from typing import cast

import xarray as xr

__all__ = ["RENAME_ATTR", "SPATIAL_DIMS", "SPATIAL_REF", "combine_dataarrays", "map_dataarray", "renamed"]

#: Attribute of a data variable recording how its names differ from its map's (``"new:old ..."``).
RENAME_ATTR = "mapds_rename"
SPATIAL_DIMS = ("y", "x")
SPATIAL_REF = "spatial_ref"
#: Attribute (CF) naming the variable that describes a data variable's grid.
GRID_MAPPING = "grid_mapping"


def parse_renames(text: object) -> dict[str, str]:
    """``{"new": "old"}`` from the ``mapds_rename`` attribute."""
    pairs = {}
    for item in str(text or "").split():
        new, sep, old = item.partition(":")
        if sep and new and old:
            pairs[new] = old
    return pairs


def _format(pairs: Mapping[str, str]) -> str:
    return " ".join(f"{new}:{old}" for new, old in pairs.items())


def _same_variable(a: xr.Variable, b: xr.Variable) -> bool:
    """Whether two coordinate variables are the same, without computing or reading anything.

    Scalar and 1-D in-memory variables are compared by value and attributes; dask-backed ones by
    the names of their graphs; larger lazy ones (2-D sky coordinates) are taken as equal: they
    are determined by the grid they belong to, which is compared through its small coordinates.
    """
    if a.dims != b.dims or a.shape != b.shape:
        return False
    a_dask, b_dask = a.chunks is not None, b.chunks is not None
    if a_dask or b_dask:
        return a_dask and b_dask and a.data.name == b.data.name
    if a.ndim > 1:
        return True
    return a.identical(b)


def _same_coords(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(_same_variable(a[k], b[k]) for k in a)


def _grid_signature(arr: xr.DataArray) -> tuple[dict, dict] | None:
    """Sizes of the spatial dimensions and the coordinates describing the sky grid."""
    spatial = [d for d in SPATIAL_DIMS if d in arr.dims]
    if not spatial and SPATIAL_REF not in arr.coords:
        return None
    coords = {
        name: c.variable
        for name, c in arr.coords.items()
        if name == SPATIAL_REF or (c.ndim == 1 and c.dims[0] in spatial)
    }
    return {d: arr.sizes[d] for d in spatial}, coords


def _same_grid(a: tuple[dict, dict], b: tuple[dict, dict]) -> bool:
    return a[0] == b[0] and _same_coords(a[1], b[1])


def _axis_signature(arr: xr.DataArray, dim: str) -> dict:
    """The 1-D coordinates along a non-spatial dimension (centres, edges) and its size."""
    coords = {name: c.variable for name, c in arr.coords.items() if c.dims == (dim,)}
    return {"__size__": xr.Variable((), arr.sizes[dim]), **coords}


def renamed(arr: xr.DataArray, names: Mapping[str, str]) -> xr.DataArray:
    """``arr`` with dimensions and coordinates renamed by ``names`` (old -> new), the renaming
    recorded in ``attrs["mapds_rename"]`` (composed with any already there) and the
    ``grid_mapping`` attribute and the ``preferred_chunks`` encoding following the new names."""
    names = {old: new for old, new in names.items() if old != new and (old in arr.dims or old in arr.coords)}
    if not names:
        return arr
    pairs = parse_renames(arr.attrs.get(RENAME_ATTR))  # current -> original
    original = {new: pairs.pop(old, old) for old, new in names.items()}
    pairs.update(original)
    out = arr.rename(names)
    attrs = dict(arr.attrs)
    attrs[RENAME_ATTR] = _format({k: v for k, v in pairs.items() if k != v})
    if attrs.get(GRID_MAPPING) in names:
        attrs[GRID_MAPPING] = names[attrs[GRID_MAPPING]]
    out.attrs = attrs
    return _with_encodings(out, arr, names)


def _renamed_encoding(encoding: dict, names: Mapping[str, str]) -> dict:
    encoding = dict(encoding)
    if isinstance(encoding.get("preferred_chunks"), dict):
        encoding["preferred_chunks"] = {names.get(d, d): c for d, c in encoding["preferred_chunks"].items()}
    return encoding


def _with_encodings(out: xr.DataArray, source: xr.DataArray, names: Mapping[str, str]) -> xr.DataArray:
    """``out`` (``source`` renamed by ``names``) with the encodings of ``source`` and of its
    coordinates, their ``preferred_chunks`` following the new dimension names."""
    out.encoding = _renamed_encoding(source.encoding, names)
    for name, coord in cast("Mapping[str, xr.DataArray]", source.coords).items():
        new = names.get(name, name)
        if coord.encoding and new in out.coords:
            out.coords[new].variable.encoding = _renamed_encoding(coord.encoding, names)
    return out


def map_dataarray(arr: xr.DataArray) -> xr.DataArray:
    """A variable of a combined Dataset in its map's own layout (inverse of the renaming).

    Dimensions and coordinates get their map names back (``y_psf`` -> ``y``,
    ``energy_true_psf`` -> ``energy_true``...), the ``spatial_ref`` coordinates of other grids
    and coordinates that would clash with a restored name are dropped, and the
    ``mapds_rename`` attribute is removed.  A DataArray without that attribute is returned as
    it is, but for the ``spatial_ref_*`` coordinates of other grids.
    """
    pairs = parse_renames(arr.attrs.get(RENAME_ATTR))
    present = {new: old for new, old in pairs.items() if new in arr.dims or new in arr.coords}
    own_ref = next((new for new, old in present.items() if old == SPATIAL_REF), SPATIAL_REF)
    restored = set(present.values())
    drop = [
        name
        for name in cast("Iterable[str]", arr.coords)
        if name not in present
        and name not in arr.dims
        and (name in restored or (name.startswith(SPATIAL_REF) and name != own_ref))
    ]
    out = arr.drop_vars(drop).rename(present) if present or drop else arr
    attrs = {k: v for k, v in arr.attrs.items() if k != RENAME_ATTR}
    if attrs.get(GRID_MAPPING) in present:
        attrs[GRID_MAPPING] = present[attrs[GRID_MAPPING]]
    out.attrs = attrs
    return _with_encodings(out, arr, present)


class _Layout:
    """Names given so far while combining DataArrays into a Dataset."""

    def __init__(self) -> None:
        self.grids: list[tuple[str, tuple[dict, dict]]] = []  # (suffix, signature)
        self.axes: dict[str, dict] = {}  # dimension name -> axis signature
        self.coords: dict[Hashable, xr.Variable] = {}
        self.used: set[Hashable] = set()

    def grid_suffix(self, name: str, signature) -> str:
        for suffix, known in self.grids:
            if _same_grid(signature, known):
                return suffix
        suffix = "" if not self.grids else self.free_suffix(name)
        self.grids.append((suffix, signature))
        return suffix

    def free_suffix(self, name: str) -> str:
        for i in itertools.count(1):
            suffix = f"_{name}" if i == 1 else f"_{name}{i}"
            if not any(f"{d}{suffix}" in self.used for d in (*SPATIAL_DIMS, SPATIAL_REF)):
                return suffix
        raise AssertionError("unreachable")

    def axis_name(self, dim: str, signature: dict, candidates) -> str:
        for candidate in candidates:
            if candidate in self.axes:
                if _same_coords(self.axes[candidate], signature):
                    return candidate
                continue
            if candidate in self.used:
                continue
            self.axes[candidate] = signature
            return candidate
        raise AssertionError("unreachable")


def _names_of(arr: xr.DataArray, name: str, layout: _Layout) -> dict[str, str]:
    """Old -> new names of ``arr``'s dimensions and coordinates in the combined Dataset."""
    names: dict[str, str] = {}
    suffix = ""
    signature = _grid_signature(arr)
    if signature is not None:
        suffix = layout.grid_suffix(name, signature)
        if suffix:
            names.update({d: f"{d}{suffix}" for d in SPATIAL_DIMS if d in arr.dims})
            if SPATIAL_REF in arr.coords:
                names[SPATIAL_REF] = f"{SPATIAL_REF}{suffix}"
    # map DataArrays (Map.to_xarray) name their dimensions and coordinates with strings
    for dim in cast("tuple[str, ...]", arr.dims):
        if dim in SPATIAL_DIMS:
            continue
        candidates = itertools.chain(
            [dim, f"{dim}{suffix}"] if suffix else [dim],
            (f"{dim}_{name}" if i == 1 else f"{dim}_{name}{i}" for i in itertools.count(1)),
        )
        new = layout.axis_name(dim, _axis_signature(arr, dim), candidates)
        if new != dim:
            names[dim] = new
    for coord, value in cast("Mapping[str, xr.DataArray]", arr.coords).items():
        if coord in names or coord in arr.dims:
            continue
        moved = [d for d in cast("tuple[str, ...]", value.dims) if d in names]
        if moved:
            first = moved[0]
            if value.dims == (first,) and coord.startswith(f"{first}_"):
                names[coord] = names[first] + coord[len(first) :]  # energy_true_min -> energy_true_psf_min
            else:
                names[coord] = coord + names[first][len(first) :]  # lon -> lon_psf
        elif (
            value.ndim == 0
            and coord in layout.coords
            and not _same_variable(layout.coords[coord], value.variable)
        ):
            extra = suffix or f"_{name}"
            renamings = (f"{coord}{extra}" if i == 1 else f"{coord}{extra}{i}" for i in itertools.count(1))
            names[coord] = next(
                c
                for c in renamings
                if c not in layout.coords or _same_variable(layout.coords[c], value.variable)
            )
    return names


def combine_dataarrays(arrays: Mapping[str, xr.DataArray], attrs: Mapping | None = None) -> xr.Dataset:
    """One Dataset holding map DataArrays whose grids and axes may differ (see the module doc).

    Parameters
    ----------
    arrays : mapping of str to `xarray.DataArray`
        Data variables by name, each in the layout of :meth:`Map.to_xarray` (variables of a
        combined Dataset are first restored with :func:`map_dataarray`).  The first one sets the
        plain names (``y``, ``x``, ``spatial_ref``, axis names).
    attrs : mapping, optional
        Attributes of the Dataset.

    Returns
    -------
    xarray.Dataset
        The variables keep their data objects (nothing is loaded or computed); coordinates shared
        by several variables are stored once.
    """
    layout = _Layout()
    data_vars: dict[str, xr.Variable] = {}
    for name, arr in arrays.items():
        arr = map_dataarray(arr)
        out = renamed(arr, _names_of(arr, name, layout))
        variable = out.variable.copy(deep=False)
        variable.attrs = dict(out.attrs)
        variable.encoding = dict(out.encoding)
        data_vars[name] = variable
        for coord, value in out.coords.items():
            layout.coords.setdefault(coord, value.variable)
        layout.used.update(out.dims, out.coords, [name])
    return xr.Dataset(data_vars, coords=layout.coords, attrs=dict(attrs or {}))
