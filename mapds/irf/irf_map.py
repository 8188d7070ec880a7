"""`IRFMap`: what the PSF and EDisp maps share — an IRF map, its IRF exposure map, lookups at a
sky position, exposure-weighted stacking, cutouts, slicing and FITS I/O.

IRF maps are lazy :class:`~mapds.maps.Map` objects.  A lookup at one position selects the few IRF
pixels it needs with ``Map.slice_by_idx({"x": ..., "y": ...})`` (which reaches storage for maps
opened from files) and computes only that small block; the whole IRF map is never computed for
a lookup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord

from ..errors import AxisError, GeometryMismatchError, IRFError
from ..geom import RegionGeom
from ..maps import Map
from ..maps.chunks import chunked_like, normalize_chunks
from ..maps.dataarray import geom_dims
from .grid_interp import pixel_neighbours
from .weighted_mean import exposure_weighted_mean

__all__ = ["IRFMap", "broadcast_lazy", "quiet_divide"]

log = logging.getLogger(__name__)


class IRFMap:
    """Base class of IRF maps (PSF and energy dispersion given per sky position).

    Parameters
    ----------
    irf_map : `~mapds.maps.Map`
        The IRF map; its first non-spatial axes must be :attr:`required_axes`, in that order.
    exposure_map : `~mapds.maps.Map`, optional
        Exposure with which the IRF was averaged (the first required axis squashed to one
        bin); needed for stacking.
    """

    tag: ClassVar[str]
    required_axes: ClassVar[list[str]]
    #: Name of the FITS HDU holding this kind of IRF map (exposure: ``<NAME>_EXPOSURE``).
    hdu_name: ClassVar[str]

    def __init__(self, irf_map: Map, exposure_map: Map | None = None):
        self._check_axes(irf_map)
        if exposure_map is not None and exposure_map.geom.data_shape[-2:] != irf_map.geom.data_shape[-2:]:
            raise GeometryMismatchError(
                f"{type(self).__name__}: exposure map spatial shape {exposure_map.geom.data_shape[-2:]} "
                f"differs from the IRF map's {irf_map.geom.data_shape[-2:]}"
            )
        self._irf_map = irf_map
        self.exposure_map = exposure_map
        self._valid_image = None

    def _check_axes(self, irf_map: Map) -> None:
        try:
            irf_map.geom.axes.assert_names(self.required_axes, allow_extra=True)
        except AxisError as exc:
            raise AxisError(f"{type(self).__name__}: {exc}") from None

    @property
    def irf_map(self) -> Map:
        """The IRF values map (``psf_map`` or ``edisp_map`` by its own name)."""
        return self._irf_map

    def _replace_irf_map(self, value: Map) -> None:
        self._check_axes(value)
        self._irf_map = value
        self._valid_image = None

    # -- properties -----------------------------------------------------------------------------

    @property
    def has_single_spatial_bin(self) -> bool:
        """Whether the IRF is given at a single sky position (1 × 1 image or a region)."""
        return self._irf_map.geom.data_shape[-2:] == (1, 1)

    @property
    def mask_safe_image(self) -> Map:
        """Lazy boolean image: True where the IRF is positive for some bin of its axes."""
        positive = self._irf_map > 0 * self._irf_map.unit
        return positive.reduce_over_axes(func=np.logical_or)

    def __repr__(self) -> str:
        geom = self._irf_map.geom
        return (
            f"{type(self).__name__}\n\n\taxes  : {geom.axes_names}\n\tshape : {geom.data_shape[::-1]}\n"
            f"\tunit  : {self._irf_map.unit}\n\texposure: {self.exposure_map is not None}\n"
        )

    # -- reading small windows ------------------------------------------------------------------

    def _read_window(self, y: slice, x: slice) -> np.ndarray:
        """Values of an IRF pixel window (all non-spatial bins); computes only that window.

        The synchronous scheduler is used because the window is a few pixels: thread-pool
        start-up would cost more than the read.
        """
        irf_map = self._irf_map
        if not isinstance(irf_map.geom, RegionGeom):
            irf_map = irf_map.slice_by_idx({"y": y, "x": x})
        return irf_map.compute(scheduler="sync").data

    def _window(self, position) -> _Window:
        """The IRF pixels around ``position`` that bilinear interpolation and a nearest-pixel
        lookup need (at most 2 × 2), read in one go."""
        geom = self._irf_map.geom
        if isinstance(geom, RegionGeom):
            block = self._read_window(slice(None), slice(None))
            return _Window(block, np.ones(1), np.ones(1), (0, 0), bool(np.any(block > 0)), True)
        ny, nx = geom.data_shape[-2:]
        x, y = (float(np.ravel(p)[0]) for p in geom.to_image().coord_to_pix(position))
        iy, ty = pixel_neighbours(y, ny)
        ix, tx = pixel_neighbours(x, nx)
        iy, ix = int(iy), int(ix)
        block = self._read_window(slice(iy, iy + min(ny, 2)), slice(ix, ix + min(nx, 2)))
        wy = np.array([1.0 - ty, ty]) if ny > 1 else np.ones(1)
        wx = np.array([1.0 - tx, tx]) if nx > 1 else np.ones(1)
        # Nearest-neighbour lookups follow scipy's rule (ties go to the lower pixel, positions
        # off the grid take the edge pixel); validity follows gammapy's pixel lookup
        # (``floor(pix + 0.5)``, nothing off the grid).
        nearest = (int(ty > 0.5) if ny > 1 else 0, int(tx > 0.5) if nx > 1 else 0)
        near_x, near_y = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        position_valid = 0 <= near_x < nx and 0 <= near_y < ny
        if position_valid:
            position_valid = bool(np.any(block[..., near_y - iy, near_x - ix] > 0))
        on_grid = bool(-0.5 <= x <= nx - 0.5 and -0.5 <= y <= ny - 0.5)
        return _Window(block, wy, wx, nearest, position_valid, on_grid)

    def _valid_window(self, position) -> tuple[_Window, SkyCoord]:
        """Window at ``position``, or at the centre of the nearest IRF pixel where the IRF is
        defined (with a warning) when it is not defined at ``position``.

        Only when the position's own pixel is empty is the whole validity image computed (a
        streaming reduction of the IRF map), once per IRF map.
        """
        window = self._window(position)
        if window.position_valid or isinstance(self._irf_map.geom, RegionGeom):
            return window, position
        if self._valid_image is None:
            self._valid_image = self.mask_safe_image.compute().data
        if not self._valid_image.any():
            return window, position
        log.warning(f"Position {position} is outside valid IRF map range, using nearest IRF defined within")
        centres = self._irf_map.geom.to_image().get_coord().skycoord
        separation = centres.separation(position).deg
        separation[~self._valid_image] = np.inf
        position = centres.flatten()[np.argmin(separation)]
        return self._window(position), position

    # -- geometry-changing operations -----------------------------------------------------------

    def _with_maps(self, irf_map: Map, exposure_map: Map | None):
        return self.__class__(irf_map, exposure_map)

    def copy(self):
        """Independent copy; the maps share their (immutable) dask graphs, nothing is computed."""
        exposure_map = None if self.exposure_map is None else self.exposure_map.copy()
        return self._with_maps(self._irf_map.copy(), exposure_map)

    def cutout(self, position, width, mode="trim", min_npix=3):
        """IRF map cut out around ``position``.

        ``min_npix`` (default 3) keeps enough IRF pixels for interpolation when the IRF grid is
        coarser than ``width``.  Maps read from files stay views of storage.
        """
        irf_map = self._irf_map.cutout(position, width, mode=mode, min_npix=min_npix)
        exposure_map = None
        if self.exposure_map is not None:
            exposure_map = self.exposure_map.cutout(position, width, mode=mode, min_npix=min_npix)
        return self._with_maps(irf_map, exposure_map)

    def downsample(self, factor, axis_name=None, weights=None):
        """Spatial downsampling (mean) or along a non-spatial axis (sum).

        The exposure map follows for spatial and ``energy_true`` downsampling, and is kept
        otherwise.
        """
        preserve_counts = axis_name is not None
        irf_map = self._irf_map.downsample(
            factor, preserve_counts=preserve_counts, axis_name=axis_name, weights=weights
        )
        exposure_map = self.exposure_map
        if exposure_map is not None and axis_name in (None, "energy_true"):
            exposure_map = exposure_map.downsample(
                factor, preserve_counts=preserve_counts, axis_name=axis_name
            )
        return self._with_maps(irf_map, exposure_map)

    def slice_by_idx(self, slices: dict):
        """Slice non-spatial axes (int drops the axis); the exposure map follows ``energy_true``."""
        irf_map = self._irf_map.slice_by_idx(slices)
        exposure_map = self.exposure_map
        if exposure_map is not None and "energy_true" in slices:
            exposure_map = exposure_map.slice_by_idx({"energy_true": slices["energy_true"]})
        return self._with_maps(irf_map, exposure_map)

    def to_region_nd_map(self, region=None):
        """IRF map on a region geometry: the mean in a region, or the nearest pixel at a point."""
        if region is None:
            region = self._irf_map.geom.center_skydir
        irf_map = self._irf_map.to_region_nd_map(region=region, func=np.nanmean)
        exposure_map = None
        if self.exposure_map is not None:
            exposure_map = self.exposure_map.to_region_nd_map(region=region, func=np.nanmean)
        return self._with_maps(irf_map, exposure_map)

    # -- FITS ---------------------------------------------------------------------------------

    @classmethod
    def _class_for(cls, irf_map: Map) -> type[IRFMap]:
        """Class of an IRF map read from a file (gammapy returns e.g. a reco PSF map from
        ``PSFMap.read`` when the file holds one)."""
        return cls

    @classmethod
    def _from_maps(cls, read_map, contains, hdu, hdu_bands, exposure_hdu, exposure_hdu_bands, format):
        if format != "gadf":
            raise ValueError(f"{cls.__name__}: unsupported format {format!r}; only 'gadf' is supported")
        hdu = cls.hdu_name if hdu is None else hdu
        exposure_hdu = f"{hdu}_EXPOSURE" if exposure_hdu is None else exposure_hdu
        irf_map = read_map(hdu, hdu_bands)
        exposure_map = read_map(exposure_hdu, exposure_hdu_bands) if contains(exposure_hdu) else None
        return cls._class_for(irf_map)(irf_map, exposure_map)

    @classmethod
    def read(
        cls,
        filename,
        format="gadf",
        hdu=None,
        checksum=False,
        *,
        chunks=None,
        storage_options=None,
        cache_dir=None,
    ):
        """Open an IRF map lazily from a FITS file (local or any fsspec URL).

        Only headers and bands tables are read; the IRF (``hdu``, default ``PSF`` / ``EDISP``)
        and its ``<hdu>_EXPOSURE`` map, if present, stay on storage until computed.

        Parameters
        ----------
        filename : str or os.PathLike
            Path or URL.
        format : {"gadf"}
            File format.
        hdu : str, optional
            Name of the IRF map HDU.
        checksum : bool
            Verify FITS checksums.
        chunks, storage_options, cache_dir : optional, keyword-only
            See :meth:`mapds.maps.Map.read`.
        """
        from ..io.fits import FitsFile

        fits_file = FitsFile.open(
            filename, storage_options=storage_options, cache_dir=cache_dir, checksum=checksum
        )

        def read_map(name, bands):
            return fits_file.read_map(hdu=name, hdu_bands=bands, chunks=chunks)

        return cls._from_maps(read_map, fits_file.__contains__, hdu, None, None, None, format)

    @classmethod
    def from_hdulist(
        cls, hdulist, hdu=None, hdu_bands=None, exposure_hdu=None, exposure_hdu_bands=None, format="gadf"
    ):
        """IRF map from an in-memory ``HDUList`` (gammapy's signature)."""

        def read_map(name, bands):
            return Map.from_hdulist(hdulist, hdu=name, hdu_bands=bands)

        return cls._from_maps(
            read_map, hdulist.__contains__, hdu, hdu_bands, exposure_hdu, exposure_hdu_bands, format
        )

    def _hdus(self) -> list:
        """FITS HDUs of the IRF map and its exposure map (lazy images, streamed on write)."""
        from ..io.fits import map_to_hdus

        hdus = map_to_hdus(self._irf_map, hdu=self.hdu_name)
        if self.exposure_map is not None:
            hdus += map_to_hdus(self.exposure_map, hdu=f"{self.hdu_name}_EXPOSURE")
        return hdus

    def to_hdulist(self, format="gadf"):
        """The IRF map as an in-memory ``HDUList`` (``<NAME>``, ``<NAME>_BANDS``,
        ``<NAME>_EXPOSURE``, ``<NAME>_EXPOSURE_BANDS``); computes the maps."""
        if format != "gadf":
            raise ValueError(
                f"{type(self).__name__}: unsupported format {format!r}; only 'gadf' is supported"
            )
        hdulist = self._irf_map.to_hdulist(hdu=self.hdu_name)
        if self.exposure_map is not None:
            hdulist.extend(self.exposure_map.to_hdulist(hdu=f"{self.hdu_name}_EXPOSURE")[1:])
        return hdulist

    def write(self, filename, overwrite=False, format="gadf", checksum=False, *, storage_options=None):
        """Write to a FITS file gammapy reads, streaming the maps chunk by chunk, atomically."""
        from ..io.fits import write_fits

        if format != "gadf":
            raise ValueError(
                f"{type(self).__name__}: unsupported format {format!r}; only 'gadf' is supported"
            )
        write_fits(
            filename, self._hdus(), overwrite=overwrite, storage_options=storage_options, checksum=checksum
        )

    # -- stacking -------------------------------------------------------------------------------

    def _parent_slices(self, other: IRFMap) -> tuple[slice, slice, slice, slice]:
        """``(y, x)`` slices of ``self`` covered by ``other`` and the matching slices of ``other``.

        ``other`` must have the same IRF grid or be an aligned cutout of it.
        """
        geom, other_geom = self._irf_map.geom, other._irf_map.geom
        ny, nx = geom.data_shape[-2:]
        if isinstance(geom, RegionGeom) or isinstance(other_geom, RegionGeom):
            if geom.data_shape[-2:] != other_geom.data_shape[-2:]:
                raise GeometryMismatchError("Can only stack region IRF maps with region IRF maps.")
            return slice(0, 1), slice(0, 1), slice(0, 1), slice(0, 1)
        if not geom.to_image().is_aligned(other_geom.to_image()):
            raise GeometryMismatchError(
                f"{type(self).__name__}.stack: can only stack equivalent maps or cutout of the same map."
            )
        offset = geom.wcs.wcs.crpix - other_geom.wcs.wcs.crpix
        if not np.allclose(offset, np.round(offset), atol=1e-6):
            raise GeometryMismatchError(
                f"{type(self).__name__}.stack: IRF grids are shifted by a fraction of a pixel {offset}"
            )
        dx, dy = (int(v) for v in np.round(offset))
        o_ny, o_nx = other_geom.data_shape[-2:]
        y0, y1 = max(dy, 0), min(dy + o_ny, ny)
        x0, x1 = max(dx, 0), min(dx + o_nx, nx)
        if y1 <= y0 or x1 <= x0:
            raise GeometryMismatchError(f"{type(self).__name__}.stack: the IRF maps do not overlap")
        return slice(y0, y1), slice(x0, x1), slice(y0 - dy, y1 - dy), slice(x0 - dx, x1 - dx)

    def stack(self, other: IRFMap, weights: Map | None = None, nan_to_num=True) -> None:
        """Exposure-weighted mean with ``other``, in place (the maps become new graphs).

        ``irf = (irf·X + irf_o·X_o·w) / (X + X_o·w')`` on the pixels ``other`` covers, with ``X``
        the IRF exposure maps, ``w`` the weights and ``w'`` the weights OR-ed over reco energy;
        non-finite results become 0.  The exposure maps are summed with ``w'``.

        Parameters
        ----------
        other : IRFMap
            IRF map with the same grid, or an aligned cutout of it.
        weights : `~mapds.maps.Map`, optional
            Stacking weights on ``other``'s grid (e.g. a dataset's ``mask_safe_psf``).
        nan_to_num : bool
            Replace non-finite values of ``other`` by 0 first.
        """
        if self.exposure_map is None or other.exposure_map is None:
            which = "self" if self.exposure_map is None else "other"
            raise IRFError(
                f"Missing exposure map for {type(self).__name__}.stack ({which} has no "
                f"{self.hdu_name}_EXPOSURE map): IRF maps are averaged with exposure weights"
            )
        ys, xs, o_ys, o_xs = self._parent_slices(other)
        w_irf, w_exposure = _stack_weights(weights, o_ys, o_xs)

        # other's exposure is converted to self's unit in both sums (gammapy mixes raw values
        # in the IRF sum, which only differs when the two exposure units differ)
        irf_other = other._irf_map.to_unit(self._irf_map.unit).data[..., o_ys, o_xs]
        exposure_other = other.exposure_map.to_unit(self.exposure_map.unit).data[..., o_ys, o_xs]
        if nan_to_num:
            exposure_other = da.nan_to_num(exposure_other)

        irf_self = self._irf_map.data[..., ys, xs]
        exposure_self = self.exposure_map.data[..., ys, xs]
        exposure_sum = exposure_self + exposure_other * w_exposure
        # one task per IRF block (tens of MB): a chain of dask operations makes a block-sized
        # array per operation
        irf_other = irf_other.rechunk(irf_self.chunks)
        small = [
            chunked_like(a, irf_self) if isinstance(a, da.Array) else a
            for a in (exposure_self, exposure_other, w_irf, exposure_sum)
        ]
        irf_sum = da.map_blocks(
            exposure_weighted_mean,
            irf_self,
            small[0],
            irf_other,
            *small[1:],
            nan_to_num=nan_to_num,
            result_dtype=self._irf_map.dtype,
            meta=np.empty((0,) * irf_self.ndim, self._irf_map.dtype),
        )
        irf_data = _paste(self._irf_map.data, irf_sum, ys, xs)
        if not _covers(irf_sum, self._irf_map.data):
            # other is a cutout: self's values outside it are zeroed where not finite, as inside
            irf_data = da.nan_to_num(irf_data)
        exposure_data = _paste(self.exposure_map.data, exposure_sum.astype(self.exposure_map.dtype), ys, xs)
        self._replace_irf_map(self._irf_map.copy(data=irf_data))
        self.exposure_map = self.exposure_map.copy(data=exposure_data)


@dataclass
class _Window:
    """A few IRF pixels around a position, with bilinear weights.

    ``block`` has the IRF's non-spatial axes followed by the window's ``(y, x)``; ``nearest``
    indexes the pixel nearest to the position inside the block; ``position_valid`` tells
    whether the pixel containing the position has a positive value in some bin; ``on_grid``
    whether the position is within half a pixel of the grid's pixel centres.
    """

    block: np.ndarray
    wy: np.ndarray
    wx: np.ndarray
    nearest: tuple[int, int]
    position_valid: bool
    on_grid: bool

    def interpolated(self) -> np.ndarray:
        """Bilinear interpolation (extrapolating from the end cells), non-finite values as 0."""
        return np.einsum("...yx,y,x->...", np.nan_to_num(self.block), self.wy, self.wx)

    def nearest_values(self) -> np.ndarray:
        """Values of the pixel nearest to the position."""
        iy, ix = self.nearest
        return self.block[..., iy, ix]


def broadcast_lazy(small: np.ndarray, geom, chunks=None) -> da.Array:
    """Dask array of ``geom``'s data shape broadcast from a small numpy array: no memory, no
    computation, and nothing large in the graph."""
    shape = geom.data_shape
    chunks = normalize_chunks(chunks, shape, geom_dims(geom), small.dtype)
    return da.broadcast_to(da.from_array(small, chunks=small.shape), shape, chunks=chunks)


def quiet_divide(num: da.Array, den: da.Array) -> da.Array:
    """``num / den`` with NaN where ``den == 0``, without floating-point warnings at compute time."""
    zero = den == 0
    return da.where(zero, np.nan, num / da.where(zero, 1, den))


def _stack_weights(weights: Map | None, ys: slice, xs: slice):
    """Weights for the IRF and for the exposure (OR-ed over reco energy) on ``other``'s window."""
    if weights is None:
        return 1, 1
    w_irf = weights.data[..., ys, xs]
    w_exposure = weights
    if "energy" in weights.geom.axes.names:
        w_exposure = weights.reduce("energy", func=np.logical_or, keepdims=True)
    return w_irf, w_exposure.data[..., ys, xs]


def _covers(part: da.Array, full: da.Array) -> bool:
    """Whether ``part``, a window of ``full``'s image, is all of it."""
    return part.shape[-2:] == full.shape[-2:]


def _paste(full: da.Array, part: da.Array, ys: slice, xs: slice) -> da.Array:
    """``full`` with its ``[..., ys, xs]`` window replaced by ``part`` (lazily)."""
    ny, nx = full.shape[-2:]
    if _covers(part, full):
        return da.broadcast_to(part, full.shape).rechunk(full.chunks)
    pad_image = [(ys.start, ny - ys.stop), (xs.start, nx - xs.stop)]
    inside = da.pad(da.ones(part.shape[-2:], dtype=bool), pad_image)
    padded = da.pad(
        da.broadcast_to(part, full.shape[:-2] + part.shape[-2:]), [(0, 0)] * (full.ndim - 2) + pad_image
    )
    return da.where(inside, padded, full).rechunk(full.chunks)
