"""`RegionGeom`: one sky region (a single spatial "pixel") times non-spatial axes.

Used for spectra (``SpectrumDataset``) and for IRFs given at one position.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from regions import CompoundSkyRegion, PointSkyRegion, Regions, SkyRegion

from .axes import MapAxes
from .base import Geom

__all__ = ["RegionGeom", "parse_regions"]


def parse_regions(regions) -> list[SkyRegion] | None:
    """Regions from a DS9 string, a region, a list of regions or a SkyCoord (point)."""
    if regions is None:
        return None
    if isinstance(regions, str):
        return list(Regions.parse(regions, format="ds9"))
    if isinstance(regions, SkyRegion):
        return [regions]
    if isinstance(regions, SkyCoord):
        return [PointSkyRegion(center=regions)]
    regions = list(regions)
    return regions or None


def compound_region_to_regions(region) -> list[SkyRegion]:
    """Flatten a (nested) compound region into its parts."""
    if isinstance(region, CompoundSkyRegion):
        return compound_region_to_regions(region.region1) + compound_region_to_regions(region.region2)
    return [region]


class RegionGeom(Geom):
    """Geometry of a region map: one spatial bin (a sky region) and non-spatial axes.

    Parameters
    ----------
    region : `~regions.SkyRegion` or None
        The region (``None`` for a region-less spectrum).
    axes : sequence of `MapAxis`, optional
        Non-spatial axes.
    wcs : `~astropy.wcs.WCS`, optional
        WCS used to project the region; defaults to a TAN grid of ``binsz_wcs`` centred on it.
    binsz_wcs : str or Quantity
        Pixel size of the default WCS.
    """

    projection = "TAN"
    is_allsky = False
    is_regular = True

    def __init__(self, region, axes=None, wcs=None, binsz_wcs="0.1 deg"):
        self._region = region
        self._axes = MapAxes.from_default(axes, n_spatial_axes=2)
        self._binsz_wcs = u.Quantity(binsz_wcs)
        if wcs is None and region is not None:
            from .wcs import WcsGeom

            center = self._region_center()
            wcs = WcsGeom.create(
                binsz=self._binsz_wcs, skydir=center, proj=self.projection, frame=center.frame.name
            ).wcs
        self._wcs = wcs

    def _region_center(self) -> SkyCoord:
        parts = compound_region_to_regions(self._region)
        if len(parts) == 1:
            return parts[0].center
        centers = SkyCoord([p.center for p in parts])
        return SkyCoord(
            np.mean(centers.cartesian.without_differentials()),
            frame=centers.frame,
            representation_type="cartesian",
        ).spherical

    @classmethod
    def create(cls, region, **kwargs) -> RegionGeom:
        """Geometry from a region, a DS9 string or None."""
        regions = parse_regions(region)
        return cls.from_regions(regions, **kwargs) if regions else cls(None, **kwargs)

    @classmethod
    def from_regions(cls, regions, **kwargs) -> RegionGeom:
        """Geometry of the union of ``regions``."""
        regions = parse_regions(regions)
        region = regions[0]
        for other in regions[1:]:
            region = region | other
        return cls(region, **kwargs)

    def _init_copy(self, **kwargs) -> RegionGeom:
        args = {"region": self._region, "axes": self._axes, "wcs": self._wcs, "binsz_wcs": self._binsz_wcs}
        args.update(kwargs)
        return self.__class__(**args)

    @property
    def region(self):
        return self._region

    @property
    def wcs(self):
        return self._wcs

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (*self.axes.shape[::-1], 1, 1)

    @property
    def npix(self):
        return ([1], [1])

    def to_image(self) -> RegionGeom:
        return self._init_copy(axes=[])

    def to_cube(self, axes) -> RegionGeom:
        return self._init_copy(axes=list(self.axes) + list(axes))

    def to_spatial_attrs(self) -> dict:
        """JSON-friendly description of the region (kept on the ``spatial_ref`` coord)."""
        attrs = {"geom_type": "region", "binsz_wcs": str(self._binsz_wcs)}
        attrs["region"] = (
            Regions(compound_region_to_regions(self._region)).serialize(format="ds9")
            if self._region is not None
            else ""
        )
        if self._wcs is not None:
            header = self._wcs.to_header()
            attrs["wcs"] = {key: header[key] for key in header}
        return attrs

    @classmethod
    def from_spatial_attrs(cls, attrs: dict, axes) -> RegionGeom:
        """Inverse of :meth:`to_spatial_attrs`."""
        from astropy.io import fits
        from astropy.wcs import WCS

        wcs = WCS(fits.Header(list(attrs["wcs"].items()))) if "wcs" in attrs else None
        region = attrs.get("region") or None
        geom = cls.create(region, axes=axes, wcs=wcs, binsz_wcs=attrs.get("binsz_wcs", "0.1 deg"))
        return geom

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, RegionGeom)
            and self.axes == other.axes
            and str(self.region) == str(other.region)
        )

    def __hash__(self) -> int:
        return hash((str(self.region), tuple(self.axes.names)))
