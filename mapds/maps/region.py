"""`RegionNDMap`: a map on a `RegionGeom` (one spatial bin per non-spatial bin), and the
reduction of a WCS map inside a sky region into one (:func:`to_region_nd_map`).

Region maps are what spectral datasets hold: a counts spectrum has data shape ``(n_E, 1, 1)``.
They are small, but stay lazy like every map so that a spectrum extracted from a large cube is
still a graph that reads only the region's cutout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import astropy.units as u
import dask.array as da
import numpy as np

from ..errors import GeometryMismatchError, UnitMismatchError
from ..geom import RegionGeom
from . import interpolate, plotting, resample
from .chunks import multiple_chunks
from .core import Map

__all__ = ["RegionNDMap"]


class RegionNDMap(Map, geom_type=RegionGeom):
    """Map whose geometry is a :class:`~mapds.geom.RegionGeom` (data shape ``(..., 1, 1)``).

    As in gammapy, ``data`` may also be given without the two trailing spatial dimensions.
    """

    if TYPE_CHECKING:

        @property
        def geom(self) -> RegionGeom: ...

    def __init__(self, geom, data=None, dtype=None, meta=None, unit="", *, chunks=None):
        if data is not None and np.ndim(data) + 2 == len(geom.data_shape):
            if np.shape(data) == geom.data_shape[:-2]:
                data = data[..., None, None]
        super().__init__(geom, data=data, dtype=dtype, meta=meta, unit=unit, chunks=chunks)

    @classmethod
    def create(  # type: ignore[override]  # gammapy's RegionNDMap.create(region, ...)
        cls,
        region,
        axes=None,
        dtype="float32",
        meta=None,
        unit="",
        wcs=None,
        binsz_wcs="0.1 deg",
        data=None,
        *,
        chunks=None,
    ) -> RegionNDMap:
        """Region map (zeros unless ``data`` is given) on ``RegionGeom.create(region, ...)``.

        Parameters
        ----------
        region : str, `~regions.SkyRegion` or None
            Region (DS9 string or object); None for a region-less spectrum.
        axes : list of `MapAxis`, optional
            Non-spatial axes.
        dtype : str
            Data type (gammapy's default float32).
        meta : dict, optional
            Metadata.
        unit : str or `~astropy.units.Unit`
            Unit of the values.
        wcs : `~astropy.wcs.WCS`, optional
            WCS used to project the region.
        binsz_wcs : str or Quantity
            Pixel size of the default WCS.
        data : array-like, optional
            Values, shape ``geom.data_shape`` or without the spatial ``(1, 1)``.
        """
        geom = RegionGeom.create(region, axes=axes, wcs=wcs, binsz_wcs=binsz_wcs)
        if data is not None and dtype == "float32":
            dtype = None  # keep the dtype of the data given
        return cls(geom, data=data, dtype=dtype, meta=meta, unit=unit, chunks=chunks)

    def downsample(self, factor, preserve_counts=True, axis_name=None, weights=None) -> RegionNDMap:
        """Merge ``factor`` bins of ``axis_name`` (default: the first axis).

        gammapy's region-map rule: block ``nansum`` of ``data × weights`` when
        ``preserve_counts``, else block ``nanmean``; boolean masks use ``all`` (AND).
        """
        factor = resample.check_factor(factor)
        axis_name = self.geom.axes[0].name if axis_name is None else axis_name
        geom = self.geom.downsample(factor, axis_name=axis_name)
        idx = self.geom.axes.index_data(axis_name)
        data = self.dask_data
        chunks = list(data.chunks)
        chunks[idx] = multiple_chunks(chunks[idx], factor)
        data = data.rechunk(tuple(chunks))
        if weights is not None:
            data = data * da.broadcast_to(da.asarray(_operand(weights)), data.shape).rechunk(data.chunks)
        func = np.all if self.is_mask else np.nansum if preserve_counts else np.nanmean
        return cast(RegionNDMap, self.copy(geom=geom, data=da.coarsen(func, data, {idx: factor})))

    def upsample(self, factor, order=0, preserve_counts=True, axis_name=None) -> RegionNDMap:
        """Split every bin of ``axis_name`` (default: the first axis) into ``factor`` bins.

        As gammapy: values are linearly interpolated at the new bin centres (``order`` is not
        used) and divided by ``factor`` when ``preserve_counts``.
        """
        factor = resample.check_factor(factor)
        axis_name = self.geom.axes[0].name if axis_name is None else axis_name
        geom = self.geom.upsample(factor, axis_name=axis_name)
        pix = self.geom.coord_to_pix(geom.get_coord())
        data = interpolate.interp_values(self, pix).reshape(geom.data_shape)
        if preserve_counts:
            data = data / factor
        return cast(RegionNDMap, self.copy(geom=geom, data=data))

    def _interp_values(self, pix, method="linear", fill_value=None, values_scale="lin") -> da.Array:
        """Interpolated values; spatial pixels are ignored (one bin).

        As ``RegularGridInterpolator`` in gammapy: with a ``fill_value``, points outside the
        axis node range (pixel ``< 0`` or ``> n - 1``) get it; otherwise they are extrapolated.
        """
        pix = [np.asarray(p, dtype=float) for p in np.broadcast_arrays(*pix)]
        values = interpolate.interp_values(self, pix, method=method, values_scale=values_scale)
        if fill_value is None:
            return values
        outside = np.zeros(values.shape, dtype=bool)
        for p, n in zip(pix, self.data.shape[::-1], strict=True):
            if n > 1:
                outside |= (p < 0) | (p > n - 1)
        return da.where(outside, np.asarray(fill_value, dtype=values.dtype), values)

    def stack(self, other: Map, weights=None, nan_to_num=True) -> None:
        """Add ``other`` into this map in place (same non-spatial axes; regions may differ).

        ``other`` is converted to this map's unit and dtype, non-finite values are zeroed when
        ``nan_to_num`` and it is multiplied by ``weights``, as gammapy.
        """
        if self.geom.data_shape != other.geom.data_shape:
            raise GeometryMismatchError(
                f"Can only stack region maps with the same axes: data shapes {self.geom.data_shape} "
                f"and {other.geom.data_shape}"
            )
        try:
            scale = other.unit.to(self.unit)
        except u.UnitConversionError as exc:
            raise UnitMismatchError(
                f"Cannot stack a map in {other.unit!r} into a map in {self.unit!r}"
            ) from exc
        data = (other.data * scale if scale != 1 else other.data).astype(self.dtype)
        if nan_to_num and data.dtype.kind in "fc":
            data = da.where(da.isfinite(data), data, 0)
        if weights is not None:
            data = data * _operand(weights)
        own = self.dask_data
        self.data = (own | data.astype(bool)) if self.is_mask else (own + data).astype(self.dtype)

    def cutout(self, *args, **kwargs) -> RegionNDMap:
        """A region map has no image to cut: returns itself (as gammapy)."""
        return self

    def crop(self, crop_width=None):
        raise NotImplementedError("Crop is not supported by RegionNDMap")

    def to_region_nd_map(self, *args, **kwargs) -> RegionNDMap:
        """Already a region map: returns itself (as gammapy)."""
        return self

    def get_spectrum(self, *args, **kwargs) -> RegionNDMap:
        """Already a spectrum: returns itself (as gammapy)."""
        return self

    def plot(self, ax=None, axis_name=None, **kwargs):
        """Error-bar plot of the values along ``axis_name`` (computed once), one line per bin of
        the other axes, as gammapy's ``RegionNDMap.plot``.

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes (default: the current axes).
        axis_name : str, optional
            Axis along x; required when several axes have more than one bin.
        **kwargs
            ``errorbar`` arguments (defaults ``marker="o"``, ``markersize=4``, ``ls="None"``,
            ``xerr`` the bin widths); ``yerr`` may have the data shape.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            x axis scaled and labelled as the map axis (log y for energy axes).
        """
        return plotting.plot_region_map(self, ax=ax, axis_name=axis_name, **kwargs)

    def plot_hist(self, ax=None, **kwargs):
        """Step histogram of the values along the map's axis (``hist`` arguments; log y).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_region_hist(self, ax=ax, **kwargs)

    def plot_mask(self, ax=None, **kwargs):
        """Shade the energy ranges where a boolean map is True (``axvspan`` arguments).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
        """
        return plotting.plot_region_mask(self, ax=ax, **kwargs)


def _operand(value):
    return value.data if isinstance(value, Map) else value
