"""`WcsGeom`: a celestial WCS pixel grid plus non-spatial axes.

Semantics and FITS header cards follow gammapy's ``WcsGeom``.  Only *regular* geometries (the same
pixel grid in every plane) are supported; multi-resolution geometries raise an error on read.

Large geometries never materialise coordinate arrays unless asked: :meth:`WcsGeom.get_coord`
and :meth:`WcsGeom.solid_angle` accept ``chunks=`` and then return dask arrays computed per
chunk from the WCS.
"""

from __future__ import annotations

import ast
import copy

import astropy.units as u
import dask.array as da
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.nddata.utils import overlap_slices
from astropy.wcs import WCS
from astropy.wcs.utils import (
    celestial_frame_to_wcs,
    proj_plane_pixel_scales,
    wcs_to_celestial_frame,
)
from dask.base import tokenize

from ..errors import GeometryMismatchError
from .axes import INVALID_INDEX, MapAxes
from .base import Geom, pix_tuple_to_idx
from .coord import MapCoord, skycoord_to_lonlat
from .spherical import pixel_solid_angle

__all__ = ["WcsGeom", "round_up_to_even", "round_up_to_odd"]


def round_up_to_odd(value):
    """Smallest odd integer >= ``ceil(value)`` (element-wise)."""
    return (np.ceil(value) // 2 * 2 + 1).astype(int)


def round_up_to_even(value):
    """Smallest even integer > ``value`` rounded up (element-wise), as gammapy defines it."""
    return (np.ceil(value + 1) // 2 * 2).astype(int)


def _deg_pair(value) -> tuple[float, float]:
    """Normalise a width/bin size given as float, string, Quantity or pair to ``(lon, lat)`` deg."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return float(Angle(value[0], "deg").deg), float(Angle(value[1], "deg").deg)
    angle = Angle(value, "deg").deg
    if np.ndim(angle) == 0:
        return float(angle), float(angle)
    angle = np.ravel(angle)
    return float(angle[0]), float(angle[1])


def _single(value, name: str) -> float:
    """Scalar from something that may be a 1-element (multi-resolution style) array."""
    array = np.unique(np.ravel(value))
    if array.size != 1:
        raise NotImplementedError(
            f"Multi-resolution (irregular) WCS geometries are not supported: {name}={value}"
        )
    return array[0]


class WcsGeom(Geom):
    """Geometry of a WCS map: a celestial pixel grid and non-spatial axes.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        Two-dimensional celestial WCS.
    npix : tuple of int
        Number of pixels ``(nx, ny)``; defaults to the WCS ``array_shape``.
    cdelt : tuple of float, optional
        Pixel size in degrees ``(lon, lat)``; defaults to ``|CDELT|`` of the WCS.
    crpix : tuple of float, optional
        Reference pixel (FITS, 1-based); defaults to the image centre.
    axes : sequence of `MapAxis`, optional
        Non-spatial axes.
    """

    def __init__(self, wcs: WCS, npix=None, cdelt=None, crpix=None, axes=None):
        if wcs.naxis != 2:
            wcs = wcs.celestial
        self._wcs = wcs
        self._frame = wcs_to_celestial_frame(wcs).name
        self._projection = wcs.wcs.ctype[0][5:]
        self._axes = MapAxes.from_default(axes, n_spatial_axes=2)
        if npix is None:
            npix = wcs.array_shape[::-1] if wcs.array_shape is not None else (0, 0)
        npix = (int(_single(npix[0], "npix")), int(_single(npix[1], "npix")))
        if cdelt is None:
            cdelt = tuple(np.abs(wcs.wcs.cdelt))
        cdelt = (float(_single(cdelt[0], "cdelt")), float(_single(cdelt[1], "cdelt")))
        if crpix is None:
            crpix = tuple(1.0 + (np.array(npix) - 1.0) / 2.0)
        self._npix = npix
        self._cdelt = cdelt
        self._crpix = crpix

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        npix=None,
        binsz=0.5,
        proj="CAR",
        frame="icrs",
        refpix=None,
        axes=None,
        skydir=None,
        width=None,
    ) -> WcsGeom:
        """Create a geometry centred on ``skydir``.

        Parameters
        ----------
        npix : int or (int, int), optional
            Number of pixels in lon and lat.
        binsz : float, str, Quantity or pair
            Pixel size (deg).
        proj : str
            Projection code (``CAR``, ``TAN``, ``AIT``...).
        frame : {"icrs", "galactic"}
            Sky frame.
        refpix : (float, float), optional
            Reference pixel (FITS 1-based); defaults to the image centre.
        axes : list of `MapAxis`, optional
            Non-spatial axes.
        skydir : `~astropy.coordinates.SkyCoord` or (lon, lat) in deg, optional
            Centre (CRVAL); default (0, 0).
        width : float, str, Quantity or pair, optional
            Width (lon, lat) in degrees; with neither ``npix`` nor ``width`` the map is all-sky.
        """
        if skydir is None:
            crval = (0.0, 0.0)
        elif isinstance(skydir, SkyCoord):
            lon, lat, frame = skycoord_to_lonlat(skydir, frame=frame)
            crval = (float(lon), float(lat))
        elif isinstance(skydir, (tuple, list)):
            crval = (float(u.Quantity(skydir[0], "deg").value), float(u.Quantity(skydir[1], "deg").value))
        else:
            raise TypeError(f"Invalid type for skydir: {type(skydir).__name__}")
        binsz = _deg_pair(binsz)
        if npix is None and width is None:
            width = (360.0, 180.0)
        if npix is None:
            width = _deg_pair(width)
            npix = (int(np.rint(width[0] / binsz[0])), int(np.rint(width[1] / binsz[1])))
        else:
            npix = tuple(int(n) for n in np.broadcast_to(np.ravel(npix), (2,)))
        if refpix is None:
            refpix = ((npix[0] + 1) / 2.0, (npix[1] + 1) / 2.0)
        sky_frame = SkyCoord(np.nan, np.nan, frame=frame, unit="deg").frame
        wcs = celestial_frame_to_wcs(sky_frame, projection=proj)
        wcs.wcs.crpix = refpix
        wcs.wcs.crval = crval
        wcs.wcs.cdelt = (-binsz[0], binsz[1])
        wcs.array_shape = npix[1], npix[0]
        wcs.wcs.datfix()
        return cls(wcs, npix, cdelt=binsz, axes=axes)

    @classmethod
    def from_header(cls, header: fits.Header, hdu_bands=None, format="gadf", axes=None) -> WcsGeom:
        """Geometry from an image header and its BANDS table (HDU or Table).

        ``axes`` may be given instead of ``hdu_bands`` when they are already known.
        """
        wcs = WCS(header, naxis=2).sub(2)
        if axes is None:
            axes = MapAxes.from_table_hdu(hdu_bands, format=format) if hdu_bands is not None else MapAxes([])
        if hdu_bands is not None and "NPIX" in getattr(hdu_bands, "columns", ()).names:
            npix_col = np.asarray(hdu_bands.data.field("NPIX"))
            npix = (npix_col[..., 0], npix_col[..., 1])
        elif "WCSSHAPE" in header:
            shape = ast.literal_eval(header["WCSSHAPE"])
            npix = (shape[0], shape[1])
        else:
            npix = (header["NAXIS1"], header["NAXIS2"])
        geom = cls(wcs, npix, axes=axes)
        geom._wcs.array_shape = geom._npix[::-1]
        return geom

    def to_header(self) -> fits.Header:
        """WCS cards plus ``AXCOLSn``/``INTERPn`` and ``WCSSHAPE``, as gammapy writes them."""
        header = self.wcs.to_header()
        header.update(self.axes.to_header())
        shape = ",".join(str(n) for n in (*self._npix, *self.axes.shape))
        header["WCSSHAPE"] = f"({shape})"
        return header

    @classmethod
    def from_aligned(cls, geom: WcsGeom, skydir, width) -> WcsGeom:
        """Geometry on the pixel grid of ``geom`` covering ``width`` around ``skydir``."""
        width = u.Quantity(_deg_pair(width), "deg")
        npix = tuple(np.round((width / geom.pixel_scales).to_value("")).astype(int))
        xref, yref = geom.to_image().coord_to_pix(skydir)
        xref = int(np.floor(-xref[0] + npix[0] / 2.0)) + geom.wcs.wcs.crpix[0]
        yref = int(np.floor(-yref[0] + npix[1] / 2.0)) + geom.wcs.wcs.crpix[1]
        return cls.create(
            skydir=tuple(geom.wcs.wcs.crval),
            npix=npix,
            refpix=(xref, yref),
            frame=geom.frame,
            binsz=tuple(geom.pixel_scales.deg),
            axes=geom.axes,
            proj=geom.projection,
        )

    def _init_copy(self, **kwargs) -> WcsGeom:
        args = {
            "wcs": self._wcs.deepcopy(),
            "npix": self._npix,
            "cdelt": self._cdelt,
            "crpix": self._crpix,
            "axes": self._axes,
        }
        args.update(kwargs)
        return self.__class__(**args)

    # -- properties -----------------------------------------------------------------------------

    @property
    def wcs(self) -> WCS:
        """The celestial WCS."""
        return self._wcs

    @property
    def frame(self) -> str:
        """Sky frame name (``icrs``, ``galactic``...)."""
        return self._frame

    @property
    def projection(self) -> str:
        """Projection code, e.g. ``CAR``."""
        return self._projection

    @property
    def npix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(nx, ny)`` as one-element arrays (gammapy's shape convention)."""
        return np.array([self._npix[0]]), np.array([self._npix[1]])

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (*self.axes.shape[::-1], self._npix[1], self._npix[0])

    @property
    def is_regular(self) -> bool:
        """Always True: every plane has the same pixel grid."""
        return True

    @property
    def is_allsky(self) -> bool:
        """Whether the grid spans 360° × 180°."""
        return bool(
            np.isclose(self._npix[0] * self._cdelt[0], 360.0)
            and np.isclose(self._npix[1] * self._cdelt[1], 180.0)
        )

    @property
    def width(self) -> u.Quantity:
        """Image width ``[[lon], [lat]]`` in degrees (shape ``(2, 1)`` as in gammapy)."""
        return u.Quantity([[self._cdelt[0] * self._npix[0]], [self._cdelt[1] * self._npix[1]]], "deg")

    @property
    def pixel_area(self) -> float:
        """``cdelt_lon × cdelt_lat`` in deg² (flat-sky approximation)."""
        return self._cdelt[0] * self._cdelt[1]

    @property
    def pixel_scales(self) -> Angle:
        """Pixel sizes at the reference pixel, projected on the sky plane."""
        return Angle(proj_plane_pixel_scales(self.wcs), "deg")

    @property
    def center_pix(self) -> tuple[float, ...]:
        """Pixel coordinates of the image centre (and of the middle of each axis)."""
        return tuple((np.array(self.data_shape) - 1.0) / 2)[::-1]

    @property
    def center_coord(self) -> tuple:
        """Map coordinates of :attr:`center_pix`."""
        return self.pix_to_coord(self.center_pix)

    @property
    def center_skydir(self) -> SkyCoord:
        """Sky position of the image centre."""
        return SkyCoord.from_pixel(self.center_pix[0], self.center_pix[1], self.wcs)

    @property
    def footprint(self) -> SkyCoord:
        """Sky positions of the four image corners."""
        return SkyCoord(self.wcs.calc_footprint(), frame=self.frame, unit="deg")

    @property
    def footprint_rectangle_sky_region(self):
        """The image as a `~regions.RectangleSkyRegion`."""
        from regions import RectangleSkyRegion

        width = self.width
        return RectangleSkyRegion(center=self.center_skydir, width=width[0][0], height=width[1][0])

    # -- pixels and coordinates -----------------------------------------------------------------

    def _pix_vectors(self, mode="center", axis_name=("lon", "lat")):
        vectors = []
        for name, nbin in zip(self.axes_names, (*self._npix, *self.axes.shape), strict=True):
            edges = mode == "edges" and name in axis_name
            vectors.append(np.arange(-0.5, nbin, dtype=float) if edges else np.arange(nbin, dtype=float))
        return vectors

    def get_idx(self, idx=None, flat=False):
        """Integer pixel indices of every pixel, ``(x, y, *axes)`` broadcast to the data shape."""
        return pix_tuple_to_idx(self.get_pix(idx=idx, flat=flat))

    def get_pix(self, idx=None, mode="center", flat=False):
        """Pixel coordinates of every pixel centre (or edge), ``(x, y, *axes)``."""
        vectors = self._pix_vectors(mode)
        if idx is not None:
            vectors = vectors[:2] + [np.array([float(t)]) for t in idx]
        pix = np.meshgrid(*vectors[::-1], indexing="ij")[::-1]
        lon, _ = self.wcs.wcs_pix2world(pix[0], pix[1], 0)
        invalid = ~np.isfinite(lon)
        for p in pix:
            p[invalid] = np.nan
        if flat:
            pix = tuple(p[~invalid] for p in pix)
        return tuple(pix)

    def get_coord(
        self, idx=None, mode="center", frame=None, sparse=False, axis_name=None, *, chunks=None
    ) -> MapCoord:
        """Coordinates of every pixel centre (or corner with ``mode="edges"``).

        Parameters
        ----------
        mode : {"center", "edges"}
            Pixel centres or edges (edges of the spatial axes, or of ``axis_name``).
        frame : str, optional
            Frame of the returned lon/lat.
        sparse : bool
            Return non-broadcast arrays (``lon``/``lat`` images, axis vectors).
        chunks : tuple or dask chunks, optional
            When given, ``lon``/``lat`` are dask arrays of shape ``(ny, nx)`` computed per
            chunk (non-spatial axes as small broadcastable Quantities); nothing is computed
            until asked.  ``chunks`` describes the ``(y, x)`` chunking.
        """
        axis_name = ("lon", "lat") if axis_name is None else axis_name
        if chunks is not None:
            lon, lat = self._lonlat_dask(chunks)
            data = {"lon": lon, "lat": lat}
            data.update(self.axes.get_coord(mode=mode, axis_name=axis_name))
            coord = MapCoord(data, frame=self.frame)
            return coord if frame is None or frame == self.frame else coord.to_frame(frame)
        vectors = self._pix_vectors(mode, axis_name=axis_name)
        if idx is not None:
            vectors = vectors[:2] + [np.array([float(t)]) for t in idx]
        if sparse:
            xx, yy = np.meshgrid(vectors[0], vectors[1])
            lon, lat = self.wcs.wcs_pix2world(xx, yy, 0)
            data = {"lon": u.Quantity(lon, "deg"), "lat": u.Quantity(lat, "deg")}
            for (shape, axis), pix in zip(self.axes.iter_with_reshape(), vectors[2:], strict=True):
                data[axis.name] = axis.pix_to_coord(pix).reshape(shape)
        else:
            pix = np.meshgrid(*vectors[::-1], indexing="ij")[::-1]
            coords = self.pix_to_coord(pix)
            data = dict(zip(["lon", "lat", *self.axes.names], coords, strict=True))
        coord = MapCoord(data, frame=self.frame)
        return coord if frame is None or frame == self.frame else coord.to_frame(frame)

    def coord_to_pix(self, coords) -> tuple:
        """Map coordinates (MapCoord, dict, tuple or SkyCoord) to pixel coordinates."""
        coords = MapCoord.create(coords, frame=self.frame, axis_names=self.axes.names)
        if coords.size == 0:
            return tuple(np.array([]) for _ in range(coords.ndim))
        lon = u.Quantity(coords.lon, "deg").value
        lat = u.Quantity(coords.lat, "deg").value
        pix = list(self.wcs.wcs_world2pix(lon, lat, 0))
        if coords.match_by_name:
            pix += list(self.axes.coord_to_pix(coords))
        else:
            pix += [ax.coord_to_pix(c) for ax, c in zip(self.axes, list(coords)[2:], strict=False)]
        return tuple(pix)

    def pix_to_coord(self, pix) -> tuple:
        """Pixel coordinates ``(x, y, *axes)`` to ``(lon, lat, *axes)`` Quantities."""
        lon, lat = self.wcs.wcs_pix2world(pix[0], pix[1], 0)
        coords = (u.Quantity(lon, "deg"), u.Quantity(lat, "deg"))
        return coords + self.axes.pix_to_coord(pix[2:])

    def pix_to_idx(self, pix, clip=False) -> tuple:
        """Pixel coordinates to integer indices; outside -> ``-1`` unless ``clip``."""
        pix = pix_tuple_to_idx(pix)
        idx_axes = self.axes.pix_to_idx(pix[2:], clip=clip)
        idx_spatial = []
        for idx, npix in zip(pix[:2], self._npix, strict=True):
            if clip:
                idx = np.clip(idx, 0, npix - 1)
            else:
                idx = np.where((idx < 0) | (idx >= npix), INVALID_INDEX, idx)
            idx_spatial.append(idx)
        return tuple(idx_spatial) + idx_axes

    def _lonlat_dask(self, chunks):
        """Lazy lon/lat images of the pixel centres (deg), chunked like ``chunks`` in (y, x)."""
        chunks = da.core.normalize_chunks(chunks, (self._npix[1], self._npix[0]), dtype=float)
        name = "lonlat-" + tokenize(self._wcs.to_header_string(), chunks)
        wcs = self._wcs

        def block(which, block_info=None):
            (y0, y1), (x0, x1) = block_info[None]["array-location"]
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(float)
            return wcs.wcs_pix2world(xx, yy, 0)[which]

        return tuple(
            da.map_blocks(
                block, which, chunks=chunks, dtype=float, name=f"{name}-{which}", meta=np.empty((0, 0))
            )
            for which in (0, 1)
        )

    def separation(self, center: SkyCoord) -> Angle:
        """Angular distance of every pixel centre of the image to ``center``."""
        return center.separation(self.to_image().get_coord().skycoord)

    # -- solid angle ----------------------------------------------------------------------------

    def _solid_angle_block(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1].astype(float)
        lon, lat = self.wcs.wcs_pix2world(xx - 0.5, yy - 0.5, 0)
        return pixel_solid_angle(lon, lat)

    def solid_angle(self, *, chunks=None):
        """Solid angle of each pixel.

        Without ``chunks``: a Quantity in sr of shape :attr:`data_shape_image` (gammapy's
        behaviour).  With ``chunks`` (for the ``(y, x)`` dimensions): a dask array of shape
        ``(ny, nx)`` in sr, computed chunk by chunk from the WCS, so the solid angle of an
        all-sky 0.01° grid never sits in memory at once.
        """
        if chunks is None:
            value = self._solid_angle_block(0, self._npix[1], 0, self._npix[0])
            return u.Quantity(value.reshape(self.data_shape_image), "sr")
        chunks = da.core.normalize_chunks(chunks, (self._npix[1], self._npix[0]), dtype=float)

        def block(block_info=None):
            (y0, y1), (x0, x1) = block_info[None]["array-location"]
            return self._solid_angle_block(y0, y1, x0, x1)

        name = "solid-angle-" + tokenize(self._wcs.to_header_string(), self._npix, chunks)
        return da.map_blocks(block, chunks=chunks, dtype=float, name=name, meta=np.empty((0, 0)))

    def bin_volume(self) -> u.Quantity:
        """Solid angle × product of non-spatial bin widths."""
        value = self.to_image().solid_angle()
        return value if self.is_image else value * self.axes.bin_volume()

    # -- derived geometries ---------------------------------------------------------------------

    def to_image(self) -> WcsGeom:
        return self._init_copy(axes=[])

    def to_cube(self, axes) -> WcsGeom:
        return self._init_copy(axes=list(self.axes) + list(axes))

    def pad(self, pad_width, axis_name=None) -> WcsGeom:
        """Grow by ``pad_width`` pixels on each side (spatial) or bins along ``axis_name``."""
        if axis_name is not None:
            return self.to_image().to_cube(self.axes.pad(axis_name, pad_width))
        pad = (pad_width, pad_width) if np.isscalar(pad_width) else tuple(pad_width)
        wcs = self._wcs.deepcopy()
        wcs.wcs.crpix += np.array(pad)
        npix = (self._npix[0] + 2 * pad[0], self._npix[1] + 2 * pad[1])
        wcs.array_shape = npix[::-1]
        return self._init_copy(wcs=wcs, npix=npix, crpix=None)

    def crop(self, crop_width) -> WcsGeom:
        """Shrink by ``crop_width`` pixels on each side."""
        crop = (crop_width, crop_width) if np.isscalar(crop_width) else tuple(crop_width)
        return self.pad((-crop[0], -crop[1]))

    def _resampled_wcs(self, factor: float) -> WCS:
        wcs = self._wcs.deepcopy()
        wcs.wcs.cdelt *= factor
        wcs.wcs.crpix = (wcs.wcs.crpix - 0.5) / factor + 0.5
        return wcs

    def downsample(self, factor: int, axis_name=None) -> WcsGeom:
        """Merge ``factor × factor`` pixels (or ``factor`` bins of ``axis_name``)."""
        if axis_name is not None:
            return self._init_copy(axes=self.axes.downsample(factor, axis_name))
        if any(n % factor for n in self._npix):
            raise GeometryMismatchError(
                f"Spatial shape {self._npix} not divisible by factor {factor!r} in all axes. "
                "You need to pad prior to calling downsample."
            )
        npix = (self._npix[0] // factor, self._npix[1] // factor)
        cdelt = (self._cdelt[0] * factor, self._cdelt[1] * factor)
        wcs = self._resampled_wcs(factor)
        wcs.array_shape = npix[::-1]
        return self._init_copy(wcs=wcs, npix=npix, cdelt=cdelt, crpix=None)

    def upsample(self, factor: int, axis_name=None) -> WcsGeom:
        """Split every pixel into ``factor × factor`` (or every bin of ``axis_name``)."""
        if axis_name is not None:
            return self._init_copy(axes=self.axes.upsample(factor, axis_name))
        npix = (self._npix[0] * factor, self._npix[1] * factor)
        cdelt = (self._cdelt[0] / factor, self._cdelt[1] / factor)
        wcs = self._resampled_wcs(1.0 / factor)
        wcs.array_shape = npix[::-1]
        return self._init_copy(wcs=wcs, npix=npix, cdelt=cdelt, crpix=None)

    def to_binsz(self, binsz) -> WcsGeom:
        """Same centre and width with another pixel size."""
        width = self.width
        return self.create(
            skydir=self.center_skydir,
            binsz=binsz,
            width=(width[0][0], width[1][0]),
            proj=self.projection,
            frame=self.frame,
            axes=self.axes,
        )

    def to_odd_npix(self, max_radius=None) -> WcsGeom:
        """Centred geometry with an odd number of pixels covering ``2 * max_radius``."""
        width = self.width.max() if max_radius is None else 2 * u.Quantity(max_radius)
        npix = round_up_to_odd((width / self.pixel_scales.max()).to_value(""))
        return WcsGeom.create(
            skydir=self.center_skydir,
            binsz=self.pixel_scales.max(),
            npix=npix,
            proj=self.projection,
            frame=self.frame,
            axes=self.axes,
        )

    def to_even_npix(self) -> WcsGeom:
        """Centred geometry with an even number of pixels."""
        npix = round_up_to_even((self.width.max() / self.pixel_scales.max()).to_value(""))
        return WcsGeom.create(
            skydir=self.center_skydir,
            binsz=self.pixel_scales.max(),
            npix=npix,
            proj=self.projection,
            frame=self.frame,
            axes=self.axes,
        )

    def _cutout2d(self, position: SkyCoord, width, mode="trim", odd_npix=False, min_npix=1):
        width = u.Quantity(_deg_pair(width), "deg")
        width_npix = np.clip((width / self.pixel_scales).to_value(""), min_npix, None)
        if odd_npix:
            width_npix = round_up_to_odd(width_npix)
        # Cutout2D only needs the array's shape: a zero-stride view costs no memory.
        dummy = np.broadcast_to(np.zeros((1, 1), dtype=bool), (self._npix[1], self._npix[0]))
        return Cutout2D(
            dummy, position=position, size=width_npix[::-1], wcs=self.wcs, mode=mode, fill_value=False
        )

    def cutout(self, position: SkyCoord, width, mode="trim", odd_npix=False, min_npix=1) -> WcsGeom:
        """Geometry of a cutout of ``width`` (lon, lat) around ``position``.

        Uses astropy's ``Cutout2D`` conventions (``trim``, ``partial``, ``strict``), as gammapy.
        """
        c2d = self._cutout2d(position, width, mode=mode, odd_npix=odd_npix, min_npix=min_npix)
        return self._init_copy(wcs=c2d.wcs, npix=c2d.shape[::-1], crpix=None)

    def cutout_slices(self, geom: WcsGeom, mode="partial") -> dict:
        """Slices locating this (cutout) geometry inside the parent ``geom``.

        Returns ``{"parent-slices": (y, x), "cutout-slices": (y, x)}``.
        """
        position = geom.to_image().coord_to_pix(self.center_skydir)
        slices = overlap_slices(
            large_array_shape=geom.data_shape[-2:],
            small_array_shape=self.data_shape[-2:],
            position=[p[0] for p in position[::-1]],
            mode=mode,
        )
        return {"parent-slices": slices[0], "cutout-slices": slices[1]}

    # -- regions --------------------------------------------------------------------------------

    def region_mask(self, regions, inside=True):
        """Boolean map, True for pixels whose centre lies in any of ``regions``.

        Accepts a DS9 string, a sky region, a list of regions or a SkyCoord (point).  Point
        regions mark the pixels with non-zero bilinear weight around the point, as gammapy.
        The mask is computed lazily, per chunk, from the pixel-space region.
        """
        from ..maps import Map  # deferred: the geometry layer does not depend on maps
        from .region import parse_regions

        regions = parse_regions(regions) or []
        shape = self.data_shape[-2:]
        data = region_mask_dask(self, regions, da.core.normalize_chunks("auto", shape, dtype=bool))
        if not inside:
            data = ~data
        chunks = tuple((n,) for n in self.data_shape[:-2]) + data.chunks
        return Map.from_geom(self, data=da.broadcast_to(data, self.data_shape, chunks=chunks))

    def region_weights(self, regions, oversampling_factor=10):
        """Fraction of each pixel covered by ``regions`` (10× oversampled region mask)."""
        geom = self.upsample(oversampling_factor)
        mask = geom.region_mask(regions)
        return mask.astype(float).downsample(oversampling_factor, preserve_counts=False)

    # -- serialisation on a scalar coordinate (see mapds.maps.dataarray) -------------------------

    def to_spatial_attrs(self) -> dict:
        """JSON-friendly description of the spatial grid (kept on the ``spatial_ref`` coord)."""
        header = self.wcs.to_header()
        return {
            "geom_type": "wcs",
            "npix": list(self._npix),
            "wcs": {key: header[key] for key in header},
        }

    @classmethod
    def from_spatial_attrs(cls, attrs: dict, axes) -> WcsGeom:
        """Inverse of :meth:`to_spatial_attrs`."""
        wcs = WCS(fits.Header(list(attrs["wcs"].items())), naxis=2)
        npix = tuple(int(n) for n in attrs["npix"])
        wcs.array_shape = npix[::-1]
        return cls(wcs, npix, axes=axes)

    # -- comparisons ----------------------------------------------------------------------------

    def is_aligned(self, other: WcsGeom, tolerance=1e-6) -> bool:
        """Same axes and same WCS up to CRPIX shifts (pixel grids coincide)."""
        if list(self.axes) != list(other.axes):
            return False
        return bool(self.wcs.wcs.compare(other.wcs.wcs, cmp=2, tolerance=tolerance))

    def is_allclose(self, other: WcsGeom, rtol_axes=1e-6, atol_axes=1e-6, rtol_wcs=1e-6) -> bool:
        """Same data shape, axes (within tolerances) and WCS."""
        if not isinstance(other, WcsGeom) or self.data_shape != other.data_shape:
            return False
        axes_eq = self.axes.is_allclose(other.axes, rtol=rtol_axes, atol=atol_axes)
        return axes_eq and bool(self.wcs.wcs.compare(other.wcs.wcs, cmp=1, tolerance=rtol_wcs))

    def __eq__(self, other) -> bool:
        return isinstance(other, WcsGeom) and self.is_allclose(other)

    def __hash__(self) -> int:
        return hash((self._wcs.to_header_string(), self._npix, tuple(self.axes.names)))

    def __deepcopy__(self, memo) -> WcsGeom:
        return self._init_copy(axes=copy.deepcopy(list(self.axes), memo))

    def __repr__(self) -> str:
        lon, lat = self.center_skydir.data.lon.deg, self.center_skydir.data.lat.deg
        width = self.width
        return (
            f"WcsGeom\n\n"
            f"\taxes       : {self.axes_names}\n"
            f"\tshape      : {self.data_shape[::-1]}\n"
            f"\tndim       : {self.ndim}\n"
            f"\tframe      : {self.frame}\n"
            f"\tprojection : {self.projection}\n"
            f"\tcenter     : {lon:.1f} deg, {lat:.1f} deg\n"
            f"\twidth      : {width[0][0]:.1f} x {width[1][0]:.1f}\n"
        )


def region_mask_dask(geom: WcsGeom, regions, chunks) -> da.Array:
    """Lazy boolean image: pixel centres inside any region (point regions: bilinear support)."""
    from regions import PixCoord, PointSkyRegion

    points = [r for r in regions if isinstance(r, PointSkyRegion)]
    extended = [r.to_pixel(geom.wcs) for r in regions if not isinstance(r, PointSkyRegion)]
    point_pix = [geom.wcs.world_to_pixel(r.center) for r in points]

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        out = np.zeros(yy.shape, dtype=bool)
        pix = PixCoord(xx, yy)
        for region in extended:
            out |= region.contains(pix)
        for px, py in point_pix:
            out |= (np.abs(xx - px) < 1) & (np.abs(yy - py) < 1)
        return out

    name = "region-mask-" + tokenize(
        geom.wcs.to_header_string(), geom.data_shape[-2:], [str(r) for r in regions], chunks
    )
    return da.map_blocks(block, chunks=chunks, dtype=bool, name=name, meta=np.empty((0, 0), bool))
