"""Helpers on `regions` objects shared by the WCS and region geometries.

`regions` (which imports matplotlib) and ``scipy.optimize`` are imported inside the functions
that use them, so that ``import mapds`` loads neither.
"""

from __future__ import annotations

import operator
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from ..errors import GeometryError

__all__ = [
    "compound_region_center",
    "compound_region_to_regions",
    "parse_ds9",
    "parse_regions",
    "regions_to_compound_region",
]


def parse_regions(regions) -> list | None:
    """Regions from a DS9 string, a region, a list of regions or a SkyCoord (a point region).

    Returns ``None`` for ``None`` or an empty list.
    """
    from regions import PixelRegion, PointSkyRegion, SkyRegion

    if regions is None:
        return None
    if isinstance(regions, str):
        regions = parse_ds9(regions)
    elif isinstance(regions, (SkyRegion, PixelRegion)):
        regions = [regions]
    elif isinstance(regions, SkyCoord):
        regions = [PointSkyRegion(center=regions)]
    regions = list(regions)
    return regions or None


def parse_ds9(text: str) -> list:
    """Regions of a DS9 region string; shapes the parser skips (with a warning) are errors."""
    from regions import Regions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            regions = Regions.parse(text, format="ds9")
        except Exception as exc:  # the regions parser raises several unrelated types
            raise GeometryError(f"Cannot parse DS9 region string {text!r}: {exc}") from exc
    if caught:
        raise GeometryError(f"Cannot parse DS9 region string {text!r}: {caught[0].message}")
    return list(regions)


def compound_region_to_regions(region) -> list:
    """The parts of a (nested) union of regions; any other region is returned alone."""
    from regions import CompoundPixelRegion, CompoundSkyRegion

    if isinstance(region, (CompoundSkyRegion, CompoundPixelRegion)) and region.operator is operator.or_:
        return compound_region_to_regions(region.region1) + compound_region_to_regions(region.region2)
    return [region]


def _leaf_regions(region) -> list:
    """All non-compound parts of a region, whatever the compound operators."""
    from regions import CompoundPixelRegion, CompoundSkyRegion

    if isinstance(region, (CompoundSkyRegion, CompoundPixelRegion)):
        return _leaf_regions(region.region1) + _leaf_regions(region.region2)
    return [region]


def regions_to_compound_region(regions):
    """Union of a list of regions (the region itself for one)."""
    compound = regions[0]
    for region in regions[1:]:
        compound = compound.union(region)
    return compound


def compound_region_center(region) -> SkyCoord:
    """Centre of a region; for a compound region the geometric median of its parts' centres.

    The median minimises the summed angular distance to the parts' centres (L-BFGS-B, started
    at the mean RA/Dec and bounded by the centres' RA (wrapped at 180°) and Dec range), in ICRS,
    as gammapy defines it.
    """
    from scipy.optimize import Bounds, minimize

    parts = _leaf_regions(region)
    for part in parts:
        if not hasattr(part, "center"):
            raise GeometryError(f"A {type(part).__name__} has no centre: it cannot define a region geometry")
    if len(parts) == 1:
        return parts[0].center
    centers = SkyCoord([part.center.icrs for part in parts])
    ra, dec = centers.ra.wrap_at("180d").deg, centers.dec.deg

    def total_distance(x):
        return np.sum(SkyCoord(x[0] * u.deg, x[1] * u.deg).separation(centers).deg)

    upper = np.array([ra.max(), dec.max()])
    lower = np.array([ra.min(), dec.min()])
    bounds = None if np.all(upper == lower) else Bounds(lb=lower, ub=upper)
    result = minimize(total_distance, x0=[ra.mean(), dec.mean()], bounds=bounds, method="L-BFGS-B")
    return SkyCoord(result.x[0], result.x[1], frame="icrs", unit="deg")
