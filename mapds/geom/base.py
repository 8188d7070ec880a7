"""`Geom`: what WCS and region geometries share (non-spatial axes handling, index helpers)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import astropy.units as u
import numpy as np

from .axes import INVALID_INDEX, MapAxes

__all__ = ["MAP_BUILDERS", "Geom", "build_map", "pix_tuple_to_idx"]

#: Builders of the maps that gammapy's geometry methods return (``energy_mask``, ``region_mask``,
#: ``region_weights``, ``boundary_mask``): ``"image"`` (a map whose every plane is a lazy image)
#: and ``"axis_mask"`` (a boolean mask along one axis).  :mod:`mapds.maps` registers them when it
#: is imported: the geometry layer, below the maps layer, describes what to build and never
#: imports the class that builds it.
MAP_BUILDERS: dict[str, Callable[..., Any]] = {}


def build_map(kind: str, *args, **kwargs):
    """A map made by the builder registered under ``kind`` (see :data:`MAP_BUILDERS`)."""
    try:
        builder = MAP_BUILDERS[kind]
    except KeyError:
        raise RuntimeError(f"No map builder {kind!r} is registered: import mapds.maps first") from None
    return builder(*args, **kwargs)


def pix_tuple_to_idx(pix) -> tuple[np.ndarray, ...]:
    """Round pixel coordinates to the nearest integer index (non-finite -> ``-1``)."""
    idx = []
    for p in pix:
        p = np.array(p, ndmin=1)
        if np.issubdtype(p.dtype, np.integer):
            idx.append(p)
            continue
        with np.errstate(invalid="ignore"):
            p_idx = np.floor(p + 0.5)
        p_idx[~np.isfinite(p_idx)] = INVALID_INDEX
        idx.append(p_idx.astype(int))
    return tuple(idx)


class Geom(abc.ABC):
    """Base class of map geometries: a spatial part and :class:`MapAxes`.

    Subclasses implement the spatial part; everything that only touches the non-spatial axes
    lives here.  Geometries are immutable metadata: every method returns a new geometry.
    """

    _axes: MapAxes

    @property
    def axes(self) -> MapAxes:
        """Non-spatial axes (geometry order)."""
        return self._axes

    @property
    @abc.abstractmethod
    def data_shape(self) -> tuple[int, ...]:
        """Shape of the data array: non-spatial axes reversed, then ``(ny, nx)``."""

    @property
    def ndim(self) -> int:
        """Number of data dimensions."""
        return len(self.data_shape)

    @property
    def axes_names(self) -> list[str]:
        """``["lon", "lat", *axes.names]``."""
        return ["lon", "lat", *self.axes.names]

    @property
    def center_pix(self) -> tuple[float, ...]:
        """Pixel coordinates of the centre: the image centre and the middle of each axis."""
        return tuple((np.array(self.data_shape) - 1.0) / 2)[::-1]

    @property
    def center_coord(self) -> tuple:
        """Map coordinates of :attr:`center_pix`."""
        return self.pix_to_coord(self.center_pix)

    @property
    def data_shape_axes(self) -> tuple[int, ...]:
        """Shape of the non-spatial axes with unit spatial dimensions."""
        return (*self.axes.shape[::-1], 1, 1)

    @property
    def data_shape_image(self) -> tuple[int, ...]:
        """Shape of the spatial dimensions with unit non-spatial dimensions."""
        return (1,) * len(self.axes) + tuple(self.data_shape[len(self.axes) :])

    @property
    def is_image(self) -> bool:
        """Whether there are no non-spatial axes."""
        return len(self.axes) == 0

    @property
    def is_flat(self) -> bool:
        """Whether every non-spatial axis has a single bin."""
        return all(ax.nbin == 1 for ax in self.axes)

    @property
    def has_energy_axis(self) -> bool:
        """Whether exactly one of ``energy``/``energy_true`` is an axis."""
        return ("energy" in self.axes.names) ^ ("energy_true" in self.axes.names)

    @property
    def as_energy_true(self) -> Geom:
        """The geometry with its ``energy`` axis renamed ``energy_true``."""
        return self.rename_axes(["energy"], ["energy_true"])

    def data_nbytes(self, dtype="float32") -> u.Quantity:
        """Size of a data array of this geometry, in MB."""
        return (int(np.prod(self.data_shape)) * np.dtype(dtype).itemsize * u.byte).to("MB")

    @abc.abstractmethod
    def _init_copy(self, **kwargs) -> Geom:
        """Copy with some constructor arguments replaced."""

    def copy(self, **kwargs) -> Geom:
        """Copy, replacing the given constructor arguments."""
        return self._init_copy(**kwargs)

    @abc.abstractmethod
    def to_image(self) -> Geom:
        """The geometry without non-spatial axes."""

    @abc.abstractmethod
    def to_cube(self, axes) -> Geom:
        """The geometry with ``axes`` appended."""

    @abc.abstractmethod
    def coord_to_pix(self, coords) -> tuple:
        """Map coordinates to pixel coordinates."""

    @abc.abstractmethod
    def pix_to_idx(self, pix, clip=False) -> tuple:
        """Pixel coordinates to integer indices (``-1`` outside unless ``clip``)."""

    @abc.abstractmethod
    def pix_to_coord(self, pix) -> tuple:
        """Pixel coordinates to map coordinates."""

    @abc.abstractmethod
    def solid_angle(self) -> u.Quantity:
        """Solid angle of each pixel."""

    @abc.abstractmethod
    def pad(self, pad_width, axis_name=None) -> Geom:
        """The geometry padded by ``pad_width`` pixels (spatially, or along ``axis_name``)."""

    @abc.abstractmethod
    def downsample(self, factor: int, axis_name=None) -> Geom:
        """The geometry with bins ``factor`` times larger (spatially, or along ``axis_name``)."""

    @abc.abstractmethod
    def upsample(self, factor: int, axis_name=None) -> Geom:
        """The geometry with bins ``factor`` times smaller (spatially, or along ``axis_name``)."""

    @abc.abstractmethod
    def is_allclose(self, other: Geom, rtol_axes=1e-6, atol_axes=1e-6) -> bool:
        """Same kind of geometry, data shape and axes (within tolerances)."""

    @abc.abstractmethod
    def to_spatial_attrs(self) -> dict:
        """The spatial part as netCDF-safe attributes (of the ``spatial_ref`` coordinate)."""

    @classmethod
    @abc.abstractmethod
    def from_spatial_attrs(cls, attrs: dict, axes) -> Geom:
        """Inverse of :meth:`to_spatial_attrs`, with ``axes``."""

    def coord_to_idx(self, coords, clip=False) -> tuple:
        """Map coordinates to integer pixel indices (``-1`` outside unless ``clip``)."""
        return self.pix_to_idx(self.coord_to_pix(coords), clip=clip)

    def contains(self, coords) -> np.ndarray:
        """Whether each coordinate falls inside the geometry."""
        idx = self.coord_to_idx(coords)
        return np.all(np.stack([t != INVALID_INDEX for t in idx]), axis=0)

    def contains_pix(self, pix) -> np.ndarray:
        """Whether each pixel coordinate falls inside the geometry."""
        idx = self.pix_to_idx(pix)
        return np.all(np.stack([t != INVALID_INDEX for t in idx]), axis=0)

    # -- non-spatial axes -----------------------------------------------------------------------

    def slice_by_idx(self, slices: dict) -> Geom:
        """Slice non-spatial axes by name; an integer index drops the axis."""
        return self._init_copy(axes=self.axes.slice_by_idx(slices))

    def rename_axes(self, names, new_names) -> Geom:
        """Rename non-spatial axes."""
        names = [names] if isinstance(names, str) else names
        new_names = [new_names] if isinstance(new_names, str) else new_names
        return self._init_copy(axes=self.axes.rename_axes(names, new_names))

    def squash(self, axis_name: str) -> Geom:
        """Replace an axis by a single bin spanning it."""
        return self.to_image().to_cube(self.axes.squash(axis_name))

    def drop(self, axis_name: str) -> Geom:
        """Remove a non-spatial axis."""
        return self.to_image().to_cube(self.axes.drop(axis_name))

    def resample_axis(self, axis) -> Geom:
        """Replace an axis by a coarser binning whose edges coincide with existing edges."""
        return self._init_copy(axes=self.axes.resample(axis))

    def replace_axis(self, axis) -> Geom:
        """Replace the axis of the same name."""
        return self._init_copy(axes=self.axes.replace(axis))

    def energy_mask(self, energy_min=None, energy_max=None, round_to_edge=False):
        """Boolean map, True in the bins of the ``energy`` axis inside the given range."""
        return self.create_mask("energy", energy_min, energy_max, round_to_edge)

    def create_mask(self, axis_name, edge_min=None, edge_max=None, round_to_edge=False):
        """Boolean map, True in the bins of ``axis_name`` that lie within ``[edge_min, edge_max]``.

        Returns a :class:`~mapds.maps.Map` whose chunks are views of one small 1D mask.
        """
        axis = self.axes[axis_name]
        edges = axis.edges
        edge_min = edges[0] if edge_min is None else u.Quantity(edge_min, axis.unit)
        edge_max = edges[-1] if edge_max is None else u.Quantity(edge_max, axis.unit)
        if round_to_edge:
            edge_min, edge_max = axis.round(u.Quantity([edge_min, edge_max]))
        mask = (edges[:-1] >= edge_min) & (edges[1:] <= edge_max)
        return build_map("axis_mask", self, axis_name, mask)
