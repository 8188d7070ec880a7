"""`RegionGeom`: one sky region (a single spatial "pixel") times non-spatial axes.

Used for spectra (``SpectrumDataset``) and for IRFs given at one position.  Semantics follow
gammapy: the region is projected on a TAN WCS of pixel size ``binsz_wcs`` centred on it; the
region's centre and width are those of its pixel bounding box on that WCS; the spatial pixel
``0`` is the region itself.

`regions` (which imports matplotlib) is imported inside the methods that use it.
"""

from __future__ import annotations

from functools import cached_property

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area, proj_plane_pixel_scales, wcs_to_celestial_frame

from ..errors import AxisError, GeometryError, GeometryMismatchError, MissingHDUError
from .axes import MapAxes
from .base import Geom, pix_tuple_to_idx
from .coord import MapCoord
from .pixel_grid import pixel_regions, region_mask_block
from .sky_regions import (
    compound_region_center,
    compound_region_to_regions,
    parse_regions,
    regions_to_compound_region,
)
from .wcs import WcsGeom, deg_pair, header_from_attrs

__all__ = ["RegionGeom"]

#: Oversampling used to estimate the area of compound regions (which have no analytic area).
COMPOUND_AREA_OVERSAMPLING = 10


class RegionGeom(Geom):
    """Geometry of a region map: one spatial bin (a sky region) and non-spatial axes.

    Parameters
    ----------
    region : `~regions.SkyRegion` or None
        The region (``None`` for a region-less spectrum).
    axes : sequence of `MapAxis`, optional
        Non-spatial axes.
    wcs : `~astropy.wcs.WCS`, optional
        WCS used to project the region; defaults to a TAN grid of ``binsz_wcs`` centred on the
        region and just covering it.
    binsz_wcs : str or Quantity
        Pixel size of the default WCS.
    """

    is_regular = True
    is_allsky = False
    is_hpx = False
    is_region = True
    projection = "TAN"

    def __init__(self, region, axes=None, wcs=None, binsz_wcs="0.1 deg"):
        self._region = region
        self._axes = MapAxes.from_default(axes, n_spatial_axes=2)
        self._binsz_wcs = u.Quantity(binsz_wcs)
        # The bounding box (hence centre and width) is measured on the WCS given, or, by default,
        # on an all-sky TAN grid centred on the region; the default WCS is then cut to the box.
        self._bbox_wcs = wcs
        if wcs is None and region is not None:
            center = compound_region_center(region)
            frame = center.frame.name
            self._bbox_wcs = WcsGeom.create(
                binsz=self._binsz_wcs, skydir=center, proj=self.projection, frame=frame
            ).wcs
            wcs = WcsGeom.create(
                binsz=self._binsz_wcs,
                width=tuple(self.width),
                skydir=center,
                proj=self.projection,
                frame=frame,
            ).wcs
        self._wcs = wcs

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def create(cls, region, **kwargs) -> RegionGeom:
        """Geometry from a region, a list of regions (their union), a DS9 string or None."""
        return cls.from_regions(region, **kwargs)

    @classmethod
    def from_regions(cls, regions, **kwargs) -> RegionGeom:
        """Geometry of the union of ``regions`` (DS9 string, region, list or SkyCoord)."""
        regions = parse_regions(regions)
        region = regions_to_compound_region(regions) if regions else None
        return cls(region, **kwargs)

    def _init_copy(self, **kwargs) -> RegionGeom:
        args = {"region": self._region, "axes": self._axes, "wcs": self._wcs, "binsz_wcs": self._binsz_wcs}
        args.update(kwargs)
        return self.__class__(**args)

    # -- properties -----------------------------------------------------------------------------

    @property
    def region(self):
        """The region (`~regions.SkyRegion`, possibly compound) or None."""
        return self._region

    @property
    def wcs(self) -> WCS | None:
        """The WCS the region is projected on."""
        return self._wcs

    @property
    def frame(self) -> str:
        """Frame of the region centre (``icrs`` without a region; the WCS frame for compounds)."""
        if self._region is None:
            return "icrs"
        center = getattr(self._region, "center", None)
        return center.frame.name if center is not None else wcs_to_celestial_frame(self._wcs).name

    @property
    def binsz_wcs(self) -> Angle:
        """Pixel size of the WCS (lon, lat)."""
        return Angle(proj_plane_pixel_scales(self._wcs), unit="deg")

    def _require_region(self, what: str) -> None:
        if self._region is None:
            raise GeometryError(f"RegionGeom.{what} needs a region; this geometry has none")

    @cached_property
    def _rectangle_bbox(self):
        from regions import PixCoord, RectanglePixelRegion

        self._require_region("width")
        boxes = [
            part.to_pixel(self._bbox_wcs).bounding_box for part in compound_region_to_regions(self._region)
        ]
        bbox = boxes[0]
        for box in boxes[1:]:
            bbox = bbox.union(box)
        try:
            rectangle = bbox.to_region()
        except ValueError:  # a degenerate box (point regions)
            rectangle = RectanglePixelRegion(center=PixCoord(*bbox.center[::-1]), width=1, height=1)
        return rectangle.to_sky(self._bbox_wcs)

    @property
    def width(self) -> u.Quantity:
        """Width and height (deg) of the region's pixel bounding box."""
        rectangle = self._rectangle_bbox
        return u.Quantity([rectangle.width.to("deg"), rectangle.height.to("deg")])

    @property
    def center_skydir(self) -> SkyCoord:
        """Centre of the region's bounding box (NaN without a region)."""
        if self._region is None:
            return SkyCoord(np.nan * u.deg, np.nan * u.deg)
        return self._rectangle_bbox.center

    @property
    def npix(self) -> tuple[list[int], list[int]]:
        """One spatial pixel."""
        return ([1], [1])

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Non-spatial axes reversed, then ``(1, 1)``."""
        return (*self.axes.shape[::-1], 1, 1)

    @property
    def is_all_point_sky_regions(self) -> bool:
        """Whether the region is made of point regions only."""
        from regions import PointSkyRegion

        return all(isinstance(part, PointSkyRegion) for part in compound_region_to_regions(self._region))

    # -- coordinates ----------------------------------------------------------------------------

    def contains(self, coords) -> np.ndarray:
        """Whether each sky position is inside the region (always True for point regions)."""
        self._require_region("contains")
        coords = MapCoord.create(coords, frame=self.frame, axis_names=self.axes.names)
        if self.is_all_point_sky_regions:
            return np.ones(coords.skycoord.shape, dtype=bool)
        return self._region.contains(coords.skycoord, self._wcs)

    def contains_wcs_pix(self, pix) -> np.ndarray:
        """Whether WCS pixel positions ``(x, y)`` are inside the region (True for points)."""
        from regions import PixCoord

        if self.is_all_point_sky_regions:
            return np.ones(np.shape(pix[0]), dtype=bool)
        return self._region.to_pixel(self._wcs).contains(PixCoord(pix[0], pix[1]))

    def separation(self, position: SkyCoord) -> Angle:
        """Angular distance from the region centre to ``position``."""
        return self.center_skydir.separation(position)

    def get_coord(self, mode="center", frame=None, sparse=False, axis_name=None) -> MapCoord:
        """Coordinates of every bin: the region centre and the axis centres (or edges).

        ``mode="edges"`` gives the edges of the non-spatial axis ``axis_name``.
        """
        if mode == "edges" and axis_name is None:
            raise AxisError("RegionGeom.get_coord(mode='edges') needs an axis_name")
        axis_coords = self.axes.get_coord(mode=mode, axis_name=axis_name)
        axis_coords["skycoord"] = self.center_skydir.reshape((1, 1))
        coords = MapCoord.create(axis_coords, frame=self.frame).to_frame(frame or self.frame)
        return coords if sparse else coords.broadcasted

    def get_idx(self) -> tuple[np.ndarray, ...]:
        """Integer indices of every bin, ``(x, y, *axes)`` broadcast to the data shape."""
        idx = [np.arange(n, dtype=float) for n in self.data_shape[::-1]]
        return tuple(np.meshgrid(*idx[::-1], indexing="ij")[::-1])

    def pix_to_coord(self, pix) -> tuple:
        """Pixel ``(x, y, *axes)`` to coordinates: the region centre inside ``(-0.5, 0.5)``, else NaN."""
        center = self.center_skydir
        inside_x = (pix[0] > -0.5) & (pix[0] < 0.5)
        inside_y = (pix[1] > -0.5) & (pix[1] < 0.5)
        lon = np.where(inside_x, center.data.lon, np.nan * u.deg)
        lat = np.where(inside_y, center.data.lat, np.nan * u.deg)
        return (lon, lat, *(ax.pix_to_coord(p) for ax, p in zip(self.axes, pix[2:], strict=False)))

    def pix_to_idx(self, pix, clip=False) -> tuple:
        """Round pixels to indices; non-spatial indices outside their axis -> ``-1`` unless ``clip``.

        Spatial indices are only rounded, as in gammapy.
        """
        idx = list(pix_tuple_to_idx(pix))
        for i, axis in enumerate(self.axes, start=2):
            if clip:
                idx[i] = np.clip(idx[i], 0, axis.nbin - 1)
            else:
                idx[i] = np.where((idx[i] < 0) | (idx[i] >= axis.nbin), -1, idx[i])
        return tuple(idx)

    def coord_to_pix(self, coords) -> tuple:
        """Coordinates to pixels: spatial pixel ``0`` inside the region, NaN outside.

        Coordinates may omit the sky position (a tuple of axis values only, or a dict without
        ``lon``/``lat``/``skycoord``): it then defaults to the region centre.
        """
        if isinstance(coords, tuple) and len(coords) == len(self.axes):
            skydir = self.center_skydir.transform_to(self.frame)
            coords = (skydir.data.lon, skydir.data.lat, *coords)
        elif isinstance(coords, dict) and not any(key in coords for key in ("lon", "lat", "skycoord")):
            coords = {"skycoord": self.center_skydir, **coords}
        coords = MapCoord.create(coords, frame=self.frame, axis_names=self.axes.names)
        pix: tuple
        if self._region is None:
            pix = (0, 0)
        else:
            inside = self.contains(coords.skycoord)
            x = np.where(inside, 0.0, np.nan)
            pix = (x, x.copy())
        return pix + self.axes.coord_to_pix(coords)

    # -- solid angle ----------------------------------------------------------------------------

    def solid_angle(self) -> u.Quantity:
        """Solid angle of the region (sr).

        Analytic pixel area on the WCS; compound regions (no analytic area) count the
        pixel centres inside on a 10× finer grid.
        """
        from regions import CompoundSkyRegion

        self._require_region("solid_angle")
        if isinstance(self._region, CompoundSkyRegion):
            factor = COMPOUND_AREA_OVERSAMPLING
            fine_wcs = self.to_binsz_wcs(self.binsz_wcs / factor).wcs
            area = np.count_nonzero(self._region.to_pixel(fine_wcs).to_mask()) / factor**2
        else:
            area = self._region.to_pixel(self._wcs).area
        return (area * proj_plane_pixel_area(self._wcs) * u.deg**2).to("sr")

    def bin_volume(self) -> u.Quantity:
        """Solid angle × bin widths of the non-spatial axes, shape :attr:`data_shape`."""
        volume = self.solid_angle() * np.ones(self.data_shape)
        for shape, axis in self.axes.iter_with_reshape:
            volume = volume * axis.bin_width.reshape(shape)
        return volume

    # -- derived geometries ---------------------------------------------------------------------

    def to_image(self) -> RegionGeom:
        """The same region without non-spatial axes."""
        return self._init_copy(axes=None)

    def to_cube(self, axes) -> RegionGeom:
        """The same region with ``axes`` appended."""
        return self._init_copy(axes=[*self.axes, *axes])

    def pad(self, pad_width, axis_name=None) -> RegionGeom:
        """Pad the non-spatial axis ``axis_name`` (a region cannot be padded spatially)."""
        if axis_name is None:
            raise NotImplementedError("Spatial padding of a RegionGeom is not supported")
        return self._init_copy(axes=self.axes.pad(axis_name, pad_width))

    def crop(self, crop_width=None):
        """A region cannot be cropped: raises ``NotImplementedError``."""
        raise NotImplementedError("Cropping of a RegionGeom is not supported")

    def upsample(self, factor: int, axis_name=None) -> RegionGeom:
        """Upsample the non-spatial axis ``axis_name``."""
        return self._init_copy(axes=self.axes.upsample(factor=factor, axis_name=axis_name))

    def downsample(self, factor: int, axis_name=None) -> RegionGeom:
        """Downsample the non-spatial axis ``axis_name``."""
        return self._init_copy(axes=self.axes.downsample(factor=factor, axis_name=axis_name))

    def to_binsz(self, binsz) -> RegionGeom:
        """The geometry itself (a region has no pixel size)."""
        return self

    def to_binsz_wcs(self, binsz) -> RegionGeom:
        """Same region and axes projected on a default WCS of pixel size ``binsz``."""
        return RegionGeom(self._region, axes=self.axes, binsz_wcs=binsz)

    def to_wcs_geom(self, width_min=None) -> WcsGeom:
        """The WCS geometry (on :attr:`wcs`) that covers the region's bounding box.

        ``width_min`` (scalar or (lon, lat)) enlarges the requested width, but the result is
        cut to the extent of :attr:`wcs`, as in gammapy.
        """
        width = self.width.to_value("deg")
        if width_min is not None:
            width = np.max([width, deg_pair(width_min)], axis=0)
        wcs_geom = WcsGeom(wcs=self._wcs).cutout(position=self.center_skydir, width=tuple(width) * u.deg)
        return wcs_geom.to_cube(self.axes)

    def get_wcs_coord_and_weights(self, factor=10):
        """Centres of the WCS pixels that overlap the region and the fraction covered.

        Returns
        -------
        coords : `MapCoord`
            Sky positions (and axis centres) of the overlapping pixels of :meth:`to_wcs_geom`.
        weights : `~numpy.ndarray`
            Fraction of each of those pixels inside the region (``factor × factor`` sub-pixels).
        """
        wcs_geom = self.to_wcs_geom()
        image = wcs_geom.to_image()
        ny, nx = image.data_shape
        fine_wcs = image.upsample(factor).wcs
        extended, points = pixel_regions([self._region], fine_wcs)
        fine = region_mask_block(extended, points, 0, ny * factor, 0, nx * factor)
        weights = fine.reshape(ny, factor, nx, factor).sum(axis=(1, 3)) / float(factor * factor)
        mask = weights > 0
        sparse = wcs_geom.get_coord(sparse=True)
        lon, lat = (np.reshape(value, (ny, nx))[mask] for value in (sparse.lon, sparse.lat))
        data = {"lon": lon, "lat": lat}
        for name in self.axes.names:
            data[name] = np.squeeze(sparse[name], axis=-1)
        return MapCoord(data, frame=sparse.frame, match_by_name=sparse.match_by_name), weights[mask]

    def union(self, other: RegionGeom) -> None:
        """Extend the region **in place** by ``other``'s region (gammapy's semantics).

        Raises
        ------
        GeometryMismatchError
            The axes of the two geometries differ.
        """
        if self != other:
            raise GeometryMismatchError("Can only make the union of region geometries with the same axes")
        if other.region:
            self._region = self._region.union(other.region) if self._region else other.region
            self.__dict__.pop("_rectangle_bbox", None)

    # -- FITS form ------------------------------------------------------------------------------

    def _to_region_table(self) -> Table:
        from regions import Regions

        self._require_region("to_hdulist")
        parts = [part.to_pixel(self._wcs) for part in compound_region_to_regions(self._region)]
        table = Regions(parts).serialize(format="fits")
        table.meta.update(WcsGeom(wcs=self._wcs).to_header())
        return table

    def to_bands_hdu(self, hdu_bands=None, format="gadf") -> fits.BinTableHDU:
        """The BANDS table of the non-spatial axes."""
        return self.axes.to_table_hdu(format=format, hdu_bands=hdu_bands)

    def to_hdulist(self, format="ogip", hdu_bands=None, hdu_region=None) -> fits.HDUList:
        """BANDS (``EBOUNDS`` for OGIP) table and, with a region, the region table.

        The region table holds the region in pixel coordinates of :attr:`wcs` (regions' FITS
        serialisation) with the WCS cards in its header; it is named ``hdu_region`` for gadf
        (default ``HDU_REGION``) and ``REGION`` otherwise.
        """
        hdu_bands = "HDU_BANDS" if hdu_bands is None else hdu_bands
        hdu_region = (hdu_region or "HDU_REGION") if format == "gadf" else "REGION"
        hdulist = fits.HDUList(
            [fits.PrimaryHDU(), self.axes.to_table_hdu(format=format, hdu_bands=hdu_bands)]
        )
        if self._region:
            hdulist.append(fits.BinTableHDU(self._to_region_table(), name=hdu_region))
        return hdulist

    @classmethod
    def from_hdulist(cls, hdulist: fits.HDUList, format="ogip", hdu=None) -> RegionGeom:
        """Geometry from a region table (optional) and a BANDS/EBOUNDS/SPECRESP table.

        ``format="gadf"`` reads ``<hdu>_REGION`` and ``<hdu>_BANDS``; ``ogip`` reads
        ``REGION`` and ``EBOUNDS``; ``ogip-arf`` reads ``REGION`` and ``SPECRESP``.
        """
        from regions import Regions

        if format == "gadf" and not hdu:
            raise GeometryError("RegionGeom.from_hdulist(format='gadf') needs the map HDU name `hdu`")
        region_hdu = f"{hdu}_REGION" if format == "gadf" else "REGION"
        region, wcs = None, None
        if region_hdu in hdulist:
            try:
                table = QTable.read(hdulist[region_hdu])
                regions_pix = Regions.parse(table, format="fits")
            except TypeError:
                table = Table.read(hdulist[region_hdu])
                regions_pix = Regions.parse(table, format="fits")
            wcs = WcsGeom.from_header(fits.Header(table.meta)).wcs
            regions = []
            for region_pix in regions_pix:
                region_pix.meta["include"] = True  # lost by the FITS serialisation
                regions.append(region_pix.to_sky(wcs))
            region = regions_to_compound_region(regions)
        bands_names = {"ogip": "EBOUNDS", "ogip-arf": "SPECRESP", "gadf": f"{hdu}_BANDS"}
        if format not in bands_names:
            raise GeometryError(
                f"Unknown region geometry format {format!r}, expected one of {list(bands_names)}"
            )
        if bands_names[format] not in hdulist:
            raise MissingHDUError(f"HDU {bands_names[format]!r} not found in HDU list (format {format!r})")
        axes = MapAxes.from_table_hdu(hdulist[bands_names[format]], format=format)
        return cls(region=region, wcs=wcs, axes=axes)

    # -- serialisation on a scalar coordinate (see mapds.maps.dataarray) -------------------------

    def to_spatial_attrs(self) -> dict:
        """JSON-friendly description of the region (kept on the ``spatial_ref`` coord)."""
        from regions import Regions

        attrs = {"geom_type": "region", "binsz_wcs": str(self._binsz_wcs)}
        if self._region is not None:
            parts = compound_region_to_regions(self._region)
            attrs["region"] = Regions(parts).serialize(format="ds9")
            for key, wcs in (("wcs", self._wcs), ("bbox_wcs", self._bbox_wcs)):
                attrs[key] = WcsGeom(wcs=wcs).to_header().tostring()
        return attrs

    @classmethod
    def from_spatial_attrs(cls, attrs: dict, axes) -> RegionGeom:
        """Inverse of :meth:`to_spatial_attrs` (same region, WCS, centre and width)."""
        if not attrs.get("region"):
            return cls(None, axes=axes, binsz_wcs=attrs.get("binsz_wcs", "0.1 deg"))
        geom = cls.from_regions(
            attrs["region"],
            axes=axes,
            wcs=WcsGeom.from_header(header_from_attrs(attrs["wcs"])).wcs,
            binsz_wcs=attrs.get("binsz_wcs", "0.1 deg"),
        )
        if "bbox_wcs" in attrs:  # absent from attributes written before it was recorded
            geom._bbox_wcs = WcsGeom.from_header(header_from_attrs(attrs["bbox_wcs"])).wcs
        return geom

    # -- comparisons ----------------------------------------------------------------------------

    def is_allclose(self, other, rtol_axes=1e-6, atol_axes=1e-6) -> bool:
        """Same data shape and axes (within tolerances); regions are not compared, as in gammapy."""
        if not isinstance(other, RegionGeom) or self.data_shape != other.data_shape:
            return False
        return self.axes.is_allclose(other.axes, rtol=rtol_axes, atol=atol_axes)

    def __eq__(self, other) -> bool:
        return isinstance(other, RegionGeom) and self.is_allclose(other)

    def __hash__(self) -> int:
        return hash(("region", tuple(self.axes.names), self.data_shape))

    def __repr__(self) -> str:
        center = self.center_skydir
        return (
            f"RegionGeom\n\n"
            f"\tregion     : {type(self._region).__name__}\n"
            f"\taxes       : {self.axes_names}\n"
            f"\tshape      : {self.data_shape[::-1]}\n"
            f"\tndim       : {self.ndim}\n"
            f"\tframe      : {center.frame.name}\n"
            f"\tcenter     : {center.data.lon.deg:.1f} deg, {center.data.lat.deg:.1f} deg\n"
        )
