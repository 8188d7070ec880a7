"""`MapAxes`: the ordered non-spatial axes of a geometry, and their gadf BANDS table form.

The axis classes themselves live in :mod:`mapds.geom.axis` (:class:`MapAxis`) and
:mod:`mapds.geom.label_axis` (:class:`LabelMapAxis`); they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table, hstack

from ..errors import AxisError, InvalidArgumentError
from .axis import INVALID_INDEX, MapAxis
from .axis_tables import DL3_AXES
from .label_axis import LabelMapAxis

__all__ = ["INVALID_INDEX", "LabelMapAxis", "MapAxes", "MapAxis"]

#: gadf BANDS formats (one row per combination of bins) and the HDU name each is written to.
BANDS_HDU_NAMES = {"gadf": "BANDS", "fgst-ccube": "EBOUNDS", "fgst-template": "ENERGIES"}
#: Formats whose table describes a single energy axis.
SINGLE_ENERGY_AXIS_FORMATS = ("fgst-ccube", "fgst-template", "fgst-bexpcube", "ogip", "ogip-arf")
#: gammapy reads at most this many axes from a BANDS table.
MAX_BANDS_AXES = 5


class MapAxes(Sequence):
    """Ordered collection of uniquely named non-spatial axes.

    Axes are listed in geometry order; the data array stores them in **reverse** order in front
    of the spatial ``(y, x)`` dimensions, as in gammapy.

    Parameters
    ----------
    axes : sequence of `MapAxis` or `LabelMapAxis`
        The axes.
    n_spatial_axes : int, optional
        Number of spatial dimensions that follow the axes in data order (used for broadcasting
        shapes, e.g. 2 for a WCS geometry).
    """

    def __init__(self, axes=(), n_spatial_axes=None):
        axes = list(axes)
        names = [ax.name for ax in axes]
        for name in names:
            if names.count(name) > 1:
                raise AxisError(f"Axis names must be unique, got {name!r} twice in {names}")
        self._axes = axes
        self._n_spatial_axes = n_spatial_axes

    @classmethod
    def from_default(cls, axes, n_spatial_axes=None) -> MapAxes:
        """Axes from a list of axes or edge arrays; unnamed axes become ``axis<i>``."""
        if axes is None:
            return cls([], n_spatial_axes=n_spatial_axes)
        out = []
        for idx, ax in enumerate(axes):
            if isinstance(ax, np.ndarray):
                ax = MapAxis(ax)
            if ax.name == "":
                ax = ax.rename(f"axis{idx}")
            out.append(ax)
        return cls(out, n_spatial_axes=n_spatial_axes)

    def _new(self, axes) -> MapAxes:
        return self.__class__(axes, n_spatial_axes=self._n_spatial_axes)

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)):
            return self._axes[idx]
        if isinstance(idx, str):
            for ax in self._axes:
                if ax.name == idx:
                    return ax
            raise KeyError(f"Axis {idx!r} not in list of axis names {self.names}")
        if isinstance(idx, slice):
            return self._new(self._axes[idx])
        if isinstance(idx, list):
            return self._new([self[name] for name in idx])
        raise TypeError(f"Invalid axes index type {type(idx).__name__}")

    def __len__(self) -> int:
        return len(self._axes)

    def __add__(self, other) -> MapAxes:
        return self._new([*self, *other])

    def __eq__(self, other) -> bool:
        return isinstance(other, MapAxes) and self.is_allclose(other, rtol=1e-6, atol=1e-6)

    def __hash__(self) -> int:
        return hash(tuple(self._axes))

    def is_allclose(self, other: MapAxes, **kwargs) -> bool:
        """Same number of axes, pairwise ``is_allclose``."""
        return len(self) == len(other) and all(
            a.is_allclose(b, **kwargs) for a, b in zip(self, other, strict=True)
        )

    def __repr__(self) -> str:
        return f"MapAxes({self._axes!r})"

    @property
    def names(self) -> list[str]:
        """Axis names, geometry order."""
        return [ax.name for ax in self._axes]

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of bins per axis, geometry order."""
        return tuple(ax.nbin for ax in self._axes)

    @property
    def is_unidimensional(self) -> bool:
        """At most one axis has more than one bin."""
        return sum(n > 1 for n in self.shape) <= 1

    @property
    def is_flat(self) -> bool:
        """Every axis has a single bin."""
        return all(n == 1 for n in self.shape)

    @property
    def primary_axis(self):
        """The axis with the most bins."""
        return self._axes[int(np.argmax(self.shape))]

    @property
    def reverse(self) -> MapAxes:
        """Axes in data order."""
        return self._new(self._axes[::-1])

    @property
    def center_coord(self) -> tuple:
        """Coordinate of the middle pixel of each axis."""
        return tuple(ax.pix_to_coord((float(ax.nbin) - 1.0) / 2.0) for ax in self)

    def index(self, axis_name: str) -> int:  # type: ignore[override]  # gammapy's: by axis name
        """Position of an axis in geometry order."""
        try:
            return self.names.index(axis_name)
        except ValueError:
            raise AxisError(f"Axis {axis_name!r} not in {self.names}") from None

    def index_data(self, axis_name: str) -> int:
        """Position of an axis in data order (counted from the first non-spatial dimension)."""
        return len(self) - self.index(axis_name) - 1

    @property
    def iter_with_reshape(self):
        """Generator of ``(shape, axis)`` where ``shape`` broadcasts the axis against the data.

        A property returning a generator, as in gammapy.
        """
        for idx, axis in enumerate(self):
            shape = [1] * len(self)
            shape[idx] = -1
            yield tuple(shape[::-1] + [1] * (self._n_spatial_axes or 0)), axis

    def get_coord(self, mode="center", axis_name=None) -> dict:
        """Broadcastable bin centres (or edges of ``axis_name`` with ``mode="edges"``) per axis."""
        coords = {}
        for shape, axis in self.iter_with_reshape:
            values = axis.edges if mode == "edges" and axis.name == axis_name else axis.center
            coords[axis.name] = values.reshape(shape)
        return coords

    def bin_volume(self) -> u.Quantity:
        """Product of bin widths, broadcastable against the data."""
        volume = u.Quantity(1.0)
        for shape, axis in self.iter_with_reshape:
            volume = volume * axis.bin_width.reshape(shape)
        return volume

    # -- derived axes ---------------------------------------------------------------------------

    def _map_axis(self, axis_name: str, func) -> MapAxes:
        self.index(axis_name)  # raises an AxisError naming the axis if it does not exist
        return self._new([func(ax) if ax.name == axis_name else ax for ax in self])

    def replace(self, axis) -> MapAxes:
        """Replace the axis of the same name."""
        return self._map_axis(axis.name, lambda ax: axis)

    def rename_axes(self, names, new_names) -> MapAxes:
        """Rename axes ``names`` (str or list) to ``new_names``."""
        names = [names] if isinstance(names, str) else list(names)
        new_names = [new_names] if isinstance(new_names, str) else list(new_names)
        for name in names:
            self.index(name)
        mapping = dict(zip(names, new_names, strict=True))
        return self._new([ax.rename(mapping[ax.name]) if ax.name in mapping else ax for ax in self])

    def drop(self, axis_name: str) -> MapAxes:
        """Axes without ``axis_name``."""
        self.index(axis_name)
        return self._new([ax for ax in self if ax.name != axis_name])

    def squash(self, axis_name: str) -> MapAxes:
        """Replace ``axis_name`` by a single bin spanning it."""
        return self._map_axis(axis_name, lambda ax: ax.squash())

    def pad(self, axis_name: str, pad_width) -> MapAxes:
        """Extend ``axis_name`` by ``pad_width`` bins on each side (or ``(low, high)``)."""
        return self._map_axis(axis_name, lambda ax: ax.pad(pad_width))

    def upsample(self, factor: int, axis_name: str) -> MapAxes:
        """Upsample ``axis_name`` by ``factor``."""
        return self._map_axis(axis_name, lambda ax: ax.upsample(factor))

    def downsample(self, factor: int, axis_name: str) -> MapAxes:
        """Downsample ``axis_name`` by ``factor``."""
        return self._map_axis(axis_name, lambda ax: ax.downsample(factor))

    def resample(self, axis: MapAxis) -> MapAxes:
        """Replace an axis by a coarser one whose edges are snapped to existing edges."""
        groups = self[axis.name].group_table(axis.edges)
        groups = groups[groups["bin_type"] == "normal   "]
        lo, hi = groups[f"{axis.name}_min"].quantity, groups[f"{axis.name}_max"].quantity
        edges = np.append(lo.value, hi.to_value(lo.unit)[-1]) * lo.unit
        return self.replace(MapAxis.from_edges(edges, interp=axis.interp, name=axis.name))

    def slice_by_idx(self, slices: dict) -> MapAxes:
        """Slice axes by name; an integer index drops the axis."""
        axes = []
        for ax in self:
            idx = slices.get(ax.name, slice(None))
            if isinstance(idx, slice):
                axes.append(ax.slice(idx))
        return self._new(axes)

    def assert_names(self, required_names, allow_extra=False) -> None:
        """Raise :class:`~mapds.errors.AxisError` unless the axes are ``required_names`` in order."""
        names = self.names if not allow_extra else self.names[: len(required_names)]
        if list(names) != list(required_names):
            raise AxisError(
                f"Incorrect axis order or names, expected {list(required_names)}, got {self.names}"
            )

    def copy(self) -> MapAxes:
        """Shallow copy (axes are immutable)."""
        return self._new(list(self._axes))

    # -- transforms -----------------------------------------------------------------------------

    def coord_to_idx(self, coord, clip=True) -> tuple:
        """Bin index along each axis of ``coord[axis.name]`` (clipped by default, as gammapy)."""
        return tuple(ax.coord_to_idx(coord[ax.name], clip=clip) for ax in self)

    def coord_to_pix(self, coord) -> tuple:
        """Pixel coordinate along each axis of ``coord[axis.name]``."""
        return tuple(ax.coord_to_pix(coord[ax.name]) for ax in self)

    def pix_to_coord(self, pix) -> tuple:
        """Axis coordinates of pixel coordinates given per axis (extra entries are ignored)."""
        return tuple(ax.pix_to_coord(p) for ax, p in zip(self, pix, strict=True))

    def pix_to_idx(self, pix, clip=False) -> tuple:
        """Bin indices of pixel coordinates given per axis (``-1`` outside unless ``clip``)."""
        return tuple(ax.pix_to_idx(p, clip=clip) for ax, p in zip(self, pix, strict=True))

    # -- FITS forms -----------------------------------------------------------------------------

    def to_header(self, format="gadf") -> fits.Header:
        """Header cards of every axis (``AXCOLSn``/``INTERPn`` for gadf, n starting at 1)."""
        header = fits.Header()
        for idx, ax in enumerate(self, start=1):
            header.update(ax.to_header(format=format, idx=idx))
        return header

    def _bands_table(self) -> Table:
        # Rows enumerate all combinations of bins in numpy meshgrid ("xy") order, as gammapy
        # writes them: first axis fastest for one or two axes, irregular for three or more.
        table = Table()
        # gammapy numbers channels with np.arange(np.prod(shape)): int64, or float64 for no axes.
        table["CHANNEL"] = np.arange(int(np.prod(self.shape)), dtype=np.int64 if len(self) else float)
        rows = [np.ravel(idx) for idx in np.meshgrid(*[np.arange(n) for n in self.shape])]
        for row, ax in zip(rows, self, strict=True):
            name = ax.name.upper()
            colnames = (
                ["ENERGY", "E_MIN", "E_MAX"] if name == "ENERGY" else [name, f"{name}_MIN", f"{name}_MAX"]
            )
            table[colnames[0]] = ax.center[row]
            if ax.node_type != "label":
                table[colnames[1]] = ax.edges_min[row]
                table[colnames[2]] = ax.edges_max[row]
        return table

    def to_table(self, format="gadf") -> Table:
        """The axes as a table.

        ``gadf`` (and ``fgst-ccube``/``fgst-template``): the BANDS table, ``CHANNEL`` then
        centre/min/max columns per axis (label axes: the label column only); ``gadf-dl3``: the
        DL3 columns of every axis side by side; ``ogip``/``ogip-sherpa``/``ogip-arf``: the
        energy axis' OGIP table.
        """
        if format in BANDS_HDU_NAMES:
            return self._bands_table()
        if format == "gadf-dl3":
            return hstack([ax.to_table(format=format) for ax in self])
        if format in ("ogip", "ogip-sherpa"):
            return self["energy"].to_table(format=format)
        if format == "ogip-arf":
            return self["energy_true"].to_table(format=format)
        raise InvalidArgumentError(f"Unsupported axes table format {format!r}")

    def to_table_hdu(self, format="gadf", hdu_bands=None) -> fits.BinTableHDU:
        """The table as a FITS HDU with the axis cards in its header.

        The HDU is named ``hdu_bands`` (default ``BANDS``) for gadf, ``EBOUNDS`` for
        ``fgst-ccube`` and OGIP, ``ENERGIES`` for ``fgst-template``.
        """
        if format in ("ogip", "ogip-sherpa"):
            name = "EBOUNDS"
        elif format in BANDS_HDU_NAMES:
            name = (hdu_bands or "BANDS") if format == "gadf" else BANDS_HDU_NAMES[format]
        else:
            raise InvalidArgumentError(f"Unsupported axes table HDU format {format!r}")
        return fits.BinTableHDU(self.to_table(format=format), name=name, header=self.to_header(format=format))

    @classmethod
    def from_table(cls, table: Table, format="gadf") -> MapAxes:
        """Axes described by a table.

        ``gadf``: a BANDS table, axes named by ``AXCOLS1..5`` (label axes are recognised by
        their string column; edges are rebuilt from the unique MIN/MAX values); ``gadf-dl3``:
        every DL3 column pair present; Fermi and OGIP formats: one energy axis.
        """
        if format in SINGLE_ENERGY_AXIS_FORMATS:
            return cls([MapAxis.from_table(table, format=format)])
        if format == "gadf":
            axes: list[MapAxis | LabelMapAxis] = []
            for idx in range(MAX_BANDS_AXES):
                axcols = table.meta.get(f"AXCOLS{idx + 1}")
                if axcols is None:
                    break
                column = table[axcols] if axcols in table.colnames else None
                if column is not None and column.dtype.kind in "US":
                    axes.append(LabelMapAxis.from_table(table, format=format, idx=idx))
                else:
                    axes.append(MapAxis.from_table(table, format=format, idx=idx))
            return cls(axes)
        if format == "gadf-dl3":
            return cls(
                [
                    MapAxis.from_table(table, format=format, column_prefix=prefix)
                    for prefix in DL3_AXES
                    if f"{prefix}_LO" in table.colnames
                ]
            )
        raise InvalidArgumentError(f"Unsupported axes table format {format!r}")

    @classmethod
    def from_table_hdu(cls, hdu, format="gadf") -> MapAxes:
        """Axes from a table HDU (``None`` gives no axes)."""
        if hdu is None:
            return cls([])
        return cls.from_table(Table.read(hdu), format=format)
