"""`WcsGeom`: a celestial WCS pixel grid plus non-spatial axes.

Semantics and FITS header cards follow gammapy's ``WcsGeom``.  Only *regular* geometries (the same
pixel grid in every plane) are supported; multi-resolution geometries raise an error on read.

Large geometries never materialise coordinate arrays unless asked: :meth:`WcsGeom.get_coord`,
:meth:`WcsGeom.solid_angle`, :meth:`WcsGeom.region_mask` and :meth:`WcsGeom.region_weights`
accept ``chunks=`` and then return dask arrays computed per chunk from the WCS
(see :mod:`mapds.geom.pixel_grid`).

`regions` (which imports matplotlib), ``astropy.convolution`` (which imports ``astropy.modeling``)
and ``astropy.nddata`` are imported inside the methods that use them.
"""

from __future__ import annotations

import ast
import copy
from functools import cached_property
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from astropy.wcs.utils import celestial_frame_to_wcs, proj_plane_pixel_scales, wcs_to_celestial_frame

from ..errors import GeometryError, GeometryMismatchError, InvalidArgumentError, MissingHDUError
from .axes import MapAxes
from .axis import INVALID_INDEX
from .base import Geom, build_map, pix_tuple_to_idx
from .coord import MapCoord, skycoord_to_lonlat
from .pixel_grid import (
    boundary_mask_dask,
    lonlat_dask,
    region_mask_dask,
    region_weights_dask,
    solid_angle_block,
    solid_angle_dask,
)
from .sky_regions import parse_regions

if TYPE_CHECKING:
    from regions import RectangleSkyRegion

__all__ = ["WcsGeom", "deg_pair", "round_up_to_even", "round_up_to_odd"]

CUTOUT_MODES = ("trim", "partial", "strict")


def header_from_attrs(value) -> fits.Header:
    """A FITS header kept in attributes: header text, or a card mapping (stores before 0.1)."""
    if isinstance(value, str):
        return fits.Header.fromstring(value)
    return fits.Header(list(value.items()))


def round_up_to_odd(value):
    """Smallest odd integer >= ``ceil(value)`` (element-wise)."""
    return (np.ceil(value) // 2 * 2 + 1).astype(int)


def round_up_to_even(value):
    """Smallest even integer > ``value`` rounded up (element-wise), as gammapy defines it."""
    return (np.ceil(value + 1) // 2 * 2).astype(int)


def deg_pair(value) -> tuple[float, float]:
    """A width or bin size (float, string, Quantity, or a (lon, lat) pair) as ``(lon, lat)`` deg."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return float(np.ravel(Angle(value[0], "deg").deg)[0]), float(np.ravel(Angle(value[1], "deg").deg)[0])
    angle = np.ravel(Angle(value, "deg").deg)
    if angle.size == 1:
        return float(angle[0]), float(angle[0])
    return float(angle[0]), float(angle[1])


def positive_angles(value, name: str) -> tuple[float, float]:
    """:func:`deg_pair` checked to give two finite, positive angles.

    A zero or negative bin size or width would give an empty, mirrored or singular geometry
    (gammapy builds them: ``npix = -10``, or wcslib's "PCi_ja matrix is singular" later).

    Parameters
    ----------
    value : float, str, Quantity or pair
        The angle(s), in degrees when no unit is given.
    name : str
        The argument, for messages (``"binsz"``, ``"width"``).

    Raises
    ------
    GeometryError
        ``value`` is not an angle, or an angle is zero, negative or not finite.
    """
    try:
        pair = deg_pair(value)
    except (ValueError, TypeError) as exc:  # astropy's UnitsError is a ValueError
        message = f"{name}={value!r} is not an angle or a (lon, lat) pair of angles: {exc}"
        raise GeometryError(message) from exc
    if not (np.all(np.isfinite(pair)) and min(pair) > 0):
        raise GeometryError(f"{name} must be positive and finite, got {value!r} = ({pair[0]}, {pair[1]}) deg")
    return pair


def _pixel_counts(npix) -> tuple[int, int]:
    """``npix`` (one count or a (lon, lat) pair) as two positive integers (truncated, as gammapy)."""
    try:
        nx, ny = (int(n) for n in np.broadcast_to(np.ravel(npix), (2,)))
    except (ValueError, TypeError) as exc:
        raise GeometryError(f"npix={npix!r} is not a pixel count or a (lon, lat) pair of counts") from exc
    if min(nx, ny) <= 0:
        raise GeometryError(f"npix must be positive, got {npix!r}")
    return nx, ny


def _single(value, name: str) -> float:
    """Scalar from something that may be a (multi-resolution style) array of equal values."""
    array = np.unique(np.ravel(value))
    if array.size != 1:
        raise GeometryError(f"Multi-resolution (irregular) WCS geometries are not supported: {name}={value}")
    return array[0]


def _resampled_wcs(wcs: WCS, factor: float) -> WCS:
    """WCS of pixels ``factor`` times larger, on the same sky grid (edges kept)."""
    wcs = wcs.deepcopy()
    wcs.wcs.cdelt *= factor
    wcs.wcs.crpix = (wcs.wcs.crpix - 0.5) / factor + 0.5
    return wcs


class WcsGeom(Geom):
    """Geometry of a WCS map: a celestial pixel grid and non-spatial axes.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        Celestial WCS (only its celestial part is kept).
    npix : tuple of int
        Number of pixels ``(nx, ny)``; defaults to the WCS ``array_shape``.
    cdelt : tuple of float, optional
        Pixel size in degrees ``(lon, lat)``; defaults to ``|CDELT|`` of the WCS.
    crpix : tuple of float, optional
        Reference pixel (FITS, 1-based); defaults to the image centre.
    axes : sequence of `MapAxis`, optional
        Non-spatial axes.
    """

    is_hpx = False
    is_region = False

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
            Reference position (CRVAL, transformed to ``frame``); default (0, 0).
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
            if not (np.isfinite(crval[0]) and abs(crval[1]) <= 90):  # SkyCoord checks its own
                raise GeometryError(f"skydir={skydir!r}: expected a finite lon and a lat in [-90, 90] deg")
        else:
            raise GeometryError(
                f"Invalid type for skydir: {type(skydir).__name__}, expected SkyCoord or tuple"
            )
        binsz = positive_angles(binsz, "binsz")
        if npix is None and width is None:
            width = (360.0, 180.0)
        if npix is None:
            width = positive_angles(width, "width")
            npix = (int(np.rint(width[0] / binsz[0])), int(np.rint(width[1] / binsz[1])))
            if min(npix) <= 0:
                raise GeometryError(f"width={width} deg is less than half a pixel (binsz={binsz} deg)")
        else:
            npix = _pixel_counts(npix)
        if refpix is None:
            refpix = ((npix[0] + 1) / 2.0, (npix[1] + 1) / 2.0)
        try:
            sky_frame = SkyCoord(np.nan, np.nan, frame=frame, unit="deg").frame
        except ValueError as exc:
            raise GeometryError(f"Unknown sky frame {frame!r}") from exc
        try:
            wcs = celestial_frame_to_wcs(sky_frame, projection=proj)
        except ValueError as exc:
            raise GeometryError(f"Cannot make a {proj!r} WCS in frame {frame!r}: {exc}") from exc
        wcs.wcs.crpix = refpix
        wcs.wcs.crval = crval
        wcs.wcs.cdelt = (-binsz[0], binsz[1])
        wcs.array_shape = npix[1], npix[0]
        try:  # wcslib checks the projection code only when set up (on a copy: set() fills cards)
            wcs.deepcopy().wcs.set()
        except ValueError as exc:  # astropy.wcs errors derive from ValueError
            raise GeometryError(f"Cannot make a {proj!r} WCS in frame {frame!r}: {exc}") from exc
        wcs.wcs.datfix()
        return cls(wcs, npix, cdelt=binsz, axes=axes)

    @classmethod
    def from_header(cls, header: fits.Header, hdu_bands=None, format="gadf") -> WcsGeom:
        """Geometry from an image header and its BANDS table HDU.

        The pixel shape comes from ``WCSSHAPE`` (else ``NAXIS1``/``NAXIS2``); irregular
        geometries (a ``NPIX`` column in the BANDS table) are not supported.
        """
        wcs = WCS(header, naxis=2).sub(2)
        axes = MapAxes.from_table_hdu(hdu_bands, format=format)
        if hdu_bands is not None and "NPIX" in hdu_bands.columns.names:
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

    @classmethod
    def from_hdulist(cls, hdulist: fits.HDUList, hdu=None, hdu_bands=None, format="gadf") -> WcsGeom:
        """Geometry of an image HDU of ``hdulist`` (default: the first with data).

        The BANDS HDU is ``hdu_bands``, else the one named by ``BANDSHDU``, else ``EBOUNDS`` or
        ``ENERGIES`` for a cube.
        """
        if hdu is None:
            hdu = next((h for h in hdulist if h.header.get("NAXIS", 0) > 0), None)
            if hdu is None:
                raise MissingHDUError("No image HDU with data found in HDU list")
        else:
            hdu = hdulist[hdu]
        if hdu_bands is None:
            hdu_bands = hdu.header.get("BANDSHDU")
            if hdu_bands is None and hdu.header.get("NAXIS") == 3:
                hdu_bands = next((name for name in ("EBOUNDS", "ENERGIES") if name in hdulist), None)
        if hdu_bands is not None:
            if hdu_bands not in hdulist:
                raise MissingHDUError(f"BANDS HDU {hdu_bands!r} not found in HDU list")
            hdu_bands = hdulist[hdu_bands]
        return cls.from_header(hdu.header, hdu_bands, format=format)

    def to_header(self) -> fits.Header:
        """WCS cards plus ``AXCOLSn``/``INTERPn`` and ``WCSSHAPE``, as gammapy writes them."""
        header = self.wcs.to_header()
        header.update(self.axes.to_header())
        shape = ",".join(str(n) for n in (*self._npix, *self.axes.shape))
        header["WCSSHAPE"] = f"({shape})"
        return header

    def to_bands_hdu(self, hdu_bands=None, format="gadf") -> fits.BinTableHDU:
        """The BANDS table of the non-spatial axes (regular geometries need no extra columns)."""
        return self.axes.to_table_hdu(format=format, hdu_bands=hdu_bands)

    @classmethod
    def from_aligned(cls, geom: WcsGeom, skydir, width) -> WcsGeom:
        """Geometry on the pixel grid of ``geom`` covering ``width`` around ``skydir``."""
        width = u.Quantity(positive_angles(width, "width"), "deg")
        npix = tuple(np.round((width / geom.pixel_scales).to_value("")).astype(int))
        if min(npix) <= 0:  # gammapy builds an empty geometry
            raise GeometryError(
                f"width={width} is less than half a pixel of the geometry (pixel size {geom.pixel_scales})"
            )
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

    def _with_image(self, wcs: WCS, npix, cdelt=None) -> WcsGeom:
        """Same axes on another pixel grid."""
        wcs.array_shape = npix[1], npix[0]
        return self._init_copy(wcs=wcs, npix=npix, cdelt=cdelt, crpix=None)

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
        """Non-spatial axes reversed, then ``(ny, nx)``."""
        return (*self.axes.shape[::-1], self._npix[1], self._npix[0])

    @property
    def shape_axes(self) -> tuple[int, ...]:
        """Number of bins of the non-spatial axes (geometry order)."""
        return self.axes.shape

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
    def pixel_area(self) -> np.ndarray:
        """``cdelt_lon × cdelt_lat`` in deg² (flat-sky approximation), a one-element array."""
        return np.array([self._cdelt[0]]) * np.array([self._cdelt[1]])

    @property
    def pixel_scales(self) -> Angle:
        """Pixel sizes at the reference pixel, projected on the sky plane."""
        return Angle(proj_plane_pixel_scales(self.wcs), "deg")

    @property
    def center_skydir(self) -> SkyCoord:
        """Sky position of the image centre."""
        return SkyCoord.from_pixel(self.center_pix[0], self.center_pix[1], self.wcs)

    @property
    def footprint(self) -> SkyCoord:
        """Sky positions of the four image corners."""
        return SkyCoord(self.wcs.calc_footprint(), frame=self.frame, unit="deg")

    @property
    def footprint_rectangle_sky_region(self) -> RectangleSkyRegion:
        """The image as a `~regions.RectangleSkyRegion`."""
        from regions import RectangleSkyRegion

        width = self.width
        return RectangleSkyRegion(center=self.center_skydir, width=width[0][0], height=width[1][0])

    # -- pixels and coordinates -----------------------------------------------------------------

    def _pix_vectors(self, idx=None, mode="center", axis_name=("lon", "lat")) -> list[np.ndarray]:
        """Pixel coordinates along each geometry axis (spatial edges/centres, axis bins or ``idx``)."""
        vectors = []
        for name, nbin in zip(self.axes_names, (*self._npix, *self.axes.shape), strict=True):
            edges = mode == "edges" and name in axis_name
            vectors.append(np.arange(-0.5, nbin, dtype=float) if edges else np.arange(nbin, dtype=float))
        if idx is not None:
            vectors = vectors[:2] + [np.array([float(t)]) for t in idx]
        return vectors

    def _pix_grid(
        self, idx=None, mode="center", sparse=False, axis_name=("lon", "lat")
    ) -> tuple[np.ndarray, ...]:
        vectors = self._pix_vectors(idx=idx, mode=mode, axis_name=axis_name)
        return np.meshgrid(*vectors[::-1], indexing="ij", sparse=sparse)[::-1]

    def get_pix(self, idx=None, mode="center") -> tuple[np.ndarray, ...]:
        """Pixel coordinates of every pixel centre (or edge), ``(x, y, *axes)``.

        Pixels outside the projection's valid region are NaN.
        """
        pix = self._pix_grid(idx=idx, mode=mode)
        lon, _ = self.wcs.wcs_pix2world(pix[0], pix[1], 0)
        invalid = ~np.isfinite(lon)
        for p in pix:
            p[invalid] = np.nan
        return tuple(pix)

    def get_idx(self, idx=None, flat=False) -> tuple[np.ndarray, ...]:
        """Integer indices of every pixel, ``(x, y, *axes)`` (``-1`` outside the projection).

        ``flat=True`` returns 1D arrays of the valid pixels only.
        """
        pix = self.get_pix(idx=idx)
        if flat:
            pix = tuple(p[np.isfinite(p)] for p in pix)
        return pix_tuple_to_idx(pix)

    def get_coord(
        self, idx=None, mode="center", frame=None, sparse=False, axis_name=None, *, chunks=None
    ) -> MapCoord:
        """Coordinates of every pixel centre (or corner with ``mode="edges"``).

        Parameters
        ----------
        idx : tuple of int, optional
            Only the image plane with these non-spatial indices.
        mode : {"center", "edges"}
            Pixel centres or edges (edges of the spatial axes, or of ``axis_name``).
        frame : str, optional
            Frame of the returned lon/lat.
        sparse : bool
            Non-broadcast arrays: ``lon``/``lat`` images and axis vectors, each with singleton
            dimensions for the others.
        axis_name : str or tuple, optional
            Axes whose edges ``mode="edges"`` returns (default the spatial ones).
        chunks : int, tuple, dict or "auto", optional
            Lazy mode: ``lon``/``lat`` are dask arrays of shape ``(ny, nx)`` (``(ny + 1, nx + 1)``
            for edges) chunked as ``chunks`` in ``(y, x)``, computed block by block from the WCS
            when asked; non-spatial axes are small broadcastable Quantities.

        Returns
        -------
        coords : `MapCoord`
            ``lon``, ``lat`` (deg) and one entry per non-spatial axis.
        """
        axis_name = ("lon", "lat") if axis_name is None else axis_name
        if chunks is not None:
            spatial_edges = mode == "edges" and "lon" in axis_name
            lon, lat = lonlat_dask(
                self.wcs,
                self.data_shape[-2:],
                chunks,
                mode="edges" if spatial_edges else "center",
                frame=self.frame,
                new_frame=frame,
            )
            data = {"lon": lon, "lat": lat, **self.axes.get_coord(mode=mode, axis_name=axis_name)}
            return MapCoord(data, frame=frame or self.frame)
        pix = self._pix_grid(idx=idx, mode=mode, sparse=sparse, axis_name=axis_name)
        coords = self.pix_to_coord(pix)
        data = dict(zip(["lon", "lat", *self.axes.names], coords, strict=True))
        return MapCoord(data, frame=self.frame).to_frame(frame or self.frame)

    def coord_to_pix(self, coords) -> tuple:
        """Map coordinates (MapCoord, dict, tuple or SkyCoord) to pixel coordinates."""
        coords = MapCoord.create(coords, frame=self.frame, axis_names=self.axes.names)
        if coords.size == 0:
            return tuple(np.array([]) for _ in range(coords.ndim))
        lon = u.Quantity(coords.lon, "deg").value
        lat = u.Quantity(coords.lat, "deg").value
        pix = list(self.wcs.wcs_world2pix(lon, lat, 0))
        return (*pix, *self.axes.coord_to_pix(coords))

    def pix_to_coord(self, pix) -> tuple:
        """Pixel coordinates ``(x, y, *axes)`` to ``(lon, lat, *axes)`` Quantities."""
        lon, lat = self.wcs.wcs_pix2world(pix[0], pix[1], 0)
        coords = (u.Quantity(lon, "deg"), u.Quantity(lat, "deg"))
        return coords + tuple(ax.pix_to_coord(p) for ax, p in zip(self.axes, pix[2:], strict=False))

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

    def separation(self, center: SkyCoord) -> Angle:
        """Angular distance of every pixel centre of the image to ``center``."""
        return center.separation(self.to_image().get_coord().skycoord)

    # -- solid angle ----------------------------------------------------------------------------

    @cached_property
    def _solid_angle_image(self) -> u.Quantity:
        value = solid_angle_block(self.wcs, 0, self._npix[1], 0, self._npix[0])
        return u.Quantity(value, "sr")

    def solid_angle(self, *, chunks=None):
        """Solid angle of each pixel.

        Without ``chunks``: a Quantity in sr of shape :attr:`data_shape_image` (gammapy's
        behaviour).  With ``chunks`` (for the ``(y, x)`` dimensions): a dask array of shape
        ``(ny, nx)`` in sr, computed chunk by chunk from the WCS, so the solid angle of an
        all-sky 0.01° grid never sits in memory at once.
        """
        if chunks is None:
            return self._solid_angle_image.reshape(self.data_shape_image)
        return solid_angle_dask(self.wcs, self.data_shape[-2:], chunks)

    def bin_volume(self) -> u.Quantity:
        """Solid angle × product of non-spatial bin widths."""
        value = self.to_image().solid_angle()
        return value if self.is_image else value * self.axes.bin_volume()

    # -- derived geometries ---------------------------------------------------------------------

    def to_image(self) -> WcsGeom:
        """The same pixel grid without non-spatial axes."""
        return self._init_copy(axes=[])

    def to_cube(self, axes) -> WcsGeom:
        """The same pixel grid with ``axes`` appended."""
        return self._init_copy(axes=[*self.axes, *axes])

    def pad(self, pad_width, axis_name=None) -> WcsGeom:
        """Grow by ``pad_width`` pixels on each side (``(x, y)`` pair allowed), or by bins of
        the non-spatial axis ``axis_name``."""
        if axis_name is not None:
            return self._init_copy(axes=self.axes.pad(axis_name, pad_width))
        pad = (pad_width, pad_width) if np.isscalar(pad_width) else tuple(pad_width)
        npix = (self._npix[0] + 2 * pad[0], self._npix[1] + 2 * pad[1])
        if min(npix) < 1:
            raise GeometryError(f"Padding/cropping {pad} leaves no pixel of a {self._npix} image")
        wcs = self._wcs.deepcopy()
        wcs.wcs.crpix += np.array(pad)
        return self._with_image(wcs, npix)

    def crop(self, crop_width) -> WcsGeom:
        """Shrink by ``crop_width`` pixels on each side (``(x, y)`` pair allowed)."""
        crop = (crop_width, crop_width) if np.isscalar(crop_width) else tuple(crop_width)
        return self.pad((-crop[0], -crop[1]))

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
        return self._with_image(_resampled_wcs(self._wcs, factor), npix, cdelt)

    def upsample(self, factor: int, axis_name=None) -> WcsGeom:
        """Split every pixel into ``factor × factor`` (or every bin of ``axis_name``)."""
        if axis_name is not None:
            return self._init_copy(axes=self.axes.upsample(factor, axis_name))
        npix = (self._npix[0] * factor, self._npix[1] * factor)
        cdelt = (self._cdelt[0] / factor, self._cdelt[1] / factor)
        return self._with_image(_resampled_wcs(self._wcs, 1.0 / factor), npix, cdelt)

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

    def _centered(self, npix) -> WcsGeom:
        return WcsGeom.create(
            skydir=self.center_skydir,
            binsz=self.pixel_scales.max(),
            npix=npix,
            proj=self.projection,
            frame=self.frame,
            axes=self.axes,
        )

    def to_odd_npix(self, max_radius=None) -> WcsGeom:
        """Centred geometry with an odd number of pixels covering ``2 * max_radius``
        (default: the larger width)."""
        width = self.width.max() if max_radius is None else 2 * u.Quantity(max_radius)
        return self._centered(round_up_to_odd((width / self.pixel_scales.max()).to_value("")))

    def to_even_npix(self) -> WcsGeom:
        """Centred geometry with an even number of pixels covering the larger width."""
        return self._centered(round_up_to_even((self.width.max() / self.pixel_scales.max()).to_value("")))

    def cutout(self, position: SkyCoord, width, mode="trim", odd_npix=False, min_npix=1) -> WcsGeom:
        """Geometry of a cutout of ``width`` (lon, lat) around ``position``.

        The size in pixels is ``max(width / pixel_scales, min_npix)`` (rounded up to odd with
        ``odd_npix``); the cutout follows astropy's ``Cutout2D`` (modes ``trim``, ``partial``,
        ``strict``), as in gammapy.
        """
        from astropy.nddata import Cutout2D, NoOverlapError, PartialOverlapError

        if mode not in CUTOUT_MODES:
            raise InvalidArgumentError(f"Invalid cutout mode {mode!r}, expected one of {CUTOUT_MODES}")
        width = u.Quantity(positive_angles(width, "width"), "deg")
        width_npix = np.clip((width / self.pixel_scales).to_value(""), min_npix, None)
        if odd_npix:
            width_npix = round_up_to_odd(width_npix)
        # Cutout2D only needs the array's shape: a zero-stride view costs no memory.
        dummy = np.broadcast_to(np.zeros((1, 1), dtype=bool), (self._npix[1], self._npix[0]))
        try:
            c2d = Cutout2D(dummy, position=position, size=width_npix[::-1], wcs=self.wcs, mode=mode)
        except (NoOverlapError, PartialOverlapError) as exc:
            raise GeometryError(
                f"Cutout of width {width} around {position} (mode {mode!r}) does not fit the "
                f"{self._npix} image: {exc}"
            ) from exc
        return self._init_copy(wcs=c2d.wcs, npix=c2d.shape[::-1], crpix=None)

    def cutout_slices(self, geom: WcsGeom, mode="partial") -> dict:
        """Slices locating this (cutout) geometry inside the parent ``geom``.

        Returns ``{"parent-slices": (y, x), "cutout-slices": (y, x)}``.
        """
        from astropy.nddata.utils import overlap_slices

        position = geom.to_image().coord_to_pix(self.center_skydir)
        slices = overlap_slices(
            large_array_shape=geom.data_shape[-2:],
            small_array_shape=self.data_shape[-2:],
            position=[p[0] for p in position[::-1]],
            mode=mode,
        )
        return {"parent-slices": slices[0], "cutout-slices": slices[1]}

    # -- masks ----------------------------------------------------------------------------------

    def region_mask(self, regions, inside=True, *, chunks=None):
        """Boolean map, True for pixels whose centre lies in any of ``regions``.

        Parameters
        ----------
        regions : str, region, list of regions or SkyCoord
            DS9 string, sky or pixel region(s), compound regions; a SkyCoord or
            `~regions.PointSkyRegion` marks the pixels with non-zero bilinear weight around the
            point, as gammapy.
        inside : bool
            False inverts the mask (exclusion mask).
        chunks : optional, keyword-only
            Chunking of the map, as for :class:`~mapds.maps.Map`; each spatial chunk is computed
            on its own from the pixel-space regions (only inside each region's bounding box).
        """
        regions = parse_regions(regions) or []

        def build(spatial_chunks):
            mask = region_mask_dask(self.wcs, self.data_shape[-2:], regions, spatial_chunks)
            return mask if inside else ~mask

        return build_map("image", self, build, chunks, bool)

    def region_weights(self, regions, oversampling_factor=10, *, chunks=None):
        """Fraction of each pixel inside ``regions`` (mask on an ``oversampling_factor`` finer grid).

        Lazy, chunk by chunk: each chunk only evaluates its own sub-pixels.  ``chunks`` as for
        :meth:`region_mask`.
        """
        regions = parse_regions(regions) or []
        fine_wcs = self.upsample(oversampling_factor).wcs

        def build(spatial_chunks):
            return region_weights_dask(
                fine_wcs, self.data_shape[-2:], regions, oversampling_factor, spatial_chunks
            )

        return build_map("image", self, build, chunks, float)

    def binary_structure(self, width, kernel="disk") -> np.ndarray:
        """Structuring element of ``width`` (angle, converted with the pixel scales) for binary
        morphology: a disk of that radius or a box of that side, in odd pixels, with leading
        singleton dimensions for the non-spatial axes."""
        width = u.Quantity(width)
        if width.unit.is_equivalent("deg"):
            width = width / self.pixel_scales
        width = np.atleast_1d(round_up_to_odd(width.to_value("")))
        if kernel == "disk":
            from astropy.convolution import Tophat2DKernel

            disk = Tophat2DKernel(width[0])
            disk.normalize("peak")
            structure = disk.array
        elif kernel == "box":
            structure = np.ones(np.broadcast_to(width, (2,))[::-1])
        else:
            raise InvalidArgumentError(f"Invalid kernel {kernel!r}, expected 'disk' or 'box'")
        return structure.reshape((1,) * len(self.axes) + structure.shape)

    def boundary_mask(self, width, *, chunks=None):
        """Boolean map, False within ``width`` (angle, scalar or (lon, lat)) of the image edges.

        Equals gammapy's binary erosion of an all-True map with a box of side ``2 × width``.
        ``chunks`` as for :meth:`region_mask`.
        """
        width = u.Quantity(width)
        box = np.broadcast_to(round_up_to_odd((2 * width / self.pixel_scales).to_value("")), (2,))
        margin = (int(box[0] - 1) // 2, int(box[1] - 1) // 2)
        shape = self.data_shape[-2:]
        return build_map("image", self,
            lambda spatial_chunks: boundary_mask_dask(margin, shape, spatial_chunks), chunks, bool
        )

    # -- serialisation on a scalar coordinate (see mapds.maps.dataarray) -------------------------

    @cached_property
    def _spatial_attrs(self) -> dict:
        return {"geom_type": "wcs", "npix": list(self._npix), "wcs": self.wcs.to_header_string()}

    def to_spatial_attrs(self) -> dict:
        """netCDF-safe description of the spatial grid (kept on the ``spatial_ref`` coordinate).

        The WCS header travels as text, like rioxarray's ``crs_wkt``.
        """
        return dict(self._spatial_attrs)

    @classmethod
    def from_spatial_attrs(cls, attrs: dict, axes) -> WcsGeom:
        """Inverse of :meth:`to_spatial_attrs` (also reads the header mapping of older stores)."""
        wcs = WCS(header_from_attrs(attrs["wcs"]), naxis=2)
        npix = tuple(int(n) for n in attrs["npix"])
        wcs.array_shape = npix[::-1]
        return cls(wcs, npix, axes=axes)

    # -- comparisons ----------------------------------------------------------------------------

    def is_aligned(self, other: WcsGeom, tolerance=1e-6) -> bool:
        """Same axes (compared pairwise) and a WCS equal up to a CRPIX shift (pixel grids coincide)."""
        if not all(a == b for a, b in zip(self.axes, other.axes, strict=False)):
            return False
        return bool(self.wcs.wcs.compare(other.wcs.wcs, cmp=2, tolerance=tolerance))

    def is_allclose(self, other: Geom, rtol_axes=1e-6, atol_axes=1e-6, rtol_wcs=1e-6) -> bool:
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
        center = self.center_skydir
        lon_ref, lat_ref = self.wcs.wcs.crval
        width = self.width
        return (
            f"WcsGeom\n\n"
            f"\taxes       : {self.axes_names}\n"
            f"\tshape      : {self.data_shape[::-1]}\n"
            f"\tndim       : {self.ndim}\n"
            f"\tframe      : {self.frame}\n"
            f"\tprojection : {self.projection}\n"
            f"\tcenter     : {center.data.lon.deg:.1f} deg, {center.data.lat.deg:.1f} deg\n"
            f"\twidth      : {width[0][0]:.1f} x {width[1][0]:.1f}\n"
            f"\twcs ref    : {lon_ref:.1f} deg, {lat_ref:.1f} deg\n"
        )
