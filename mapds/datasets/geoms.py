"""Geometries and empty members of a new dataset (gammapy's ``create_map_dataset_geoms`` and the
makers behind ``MapDataset.create`` / ``MapDataset.from_geoms``).

Everything here is metadata or lazy zeros: creating a dataset on a large sky grid allocates
nothing until the maps are computed or written.
"""

from __future__ import annotations

import astropy.units as u
from astropy.time import Time

from ..data import GTI
from ..errors import AxisError
from ..geom import MapAxis
from ..geom.base import Geom
from ..irf import RAD_AXIS_DEFAULT, EDispKernelMap, EDispMap, PSFMap, RecoPSFMap
from ..maps import Map
from ..maps.dataarray import geom_dims

__all__ = ["BINSZ_IRF_DEFAULT", "create_map_dataset_geoms", "empty_gti", "empty_members"]

#: Pixel size of the IRF maps of a created dataset (gammapy's ``BINSZ_IRF_DEFAULT``).
BINSZ_IRF_DEFAULT = 0.2 * u.deg


def create_map_dataset_geoms(
    geom: Geom,
    energy_axis_true: MapAxis | None = None,
    migra_axis: MapAxis | None = None,
    rad_axis: MapAxis | None = None,
    binsz_irf=BINSZ_IRF_DEFAULT,
    reco_psf: bool = False,
) -> dict[str, Geom]:
    """Geometries of the members of a dataset on ``geom``, as gammapy creates them.

    Parameters
    ----------
    geom : `~mapds.geom.WcsGeom` or `~mapds.geom.RegionGeom`
        Counts geometry, with an ``energy`` axis (and possibly other, "extra" axes).
    energy_axis_true : `~mapds.geom.MapAxis`, optional
        True-energy axis of the exposure and IRFs; default: the reco axis renamed
        ``energy_true``.
    migra_axis : `~mapds.geom.MapAxis`, optional
        If given, the energy dispersion is an `~mapds.irf.EDispMap` on this migration axis;
        otherwise an `~mapds.irf.EDispKernelMap` on the reco axis.
    rad_axis : `~mapds.geom.MapAxis`, optional
        Offset axis of the PSF map (default :data:`~mapds.irf.RAD_AXIS_DEFAULT`).
    binsz_irf : `~astropy.units.Quantity` or float
        Pixel size of the IRF maps (degrees); their grid has the centre and width of ``geom``.
    reco_psf : bool
        PSF on the reco-energy axis (`~mapds.irf.RecoPSFMap`) instead of true energy.

    Returns
    -------
    dict
        ``geom``, ``geom_exposure``, ``geom_psf``, ``geom_edisp``.
    """
    if "energy" not in geom.axes.names:
        raise AxisError(
            f"create_map_dataset_geoms: the counts geometry needs an 'energy' axis, got {geom.axes.names}"
        )
    rad_axis = RAD_AXIS_DEFAULT if rad_axis is None else rad_axis
    energy_axis = geom.axes["energy"]
    if energy_axis_true is None:
        energy_axis_true = energy_axis.copy(name="energy_true")
    elif energy_axis_true.name != "energy_true":
        raise AxisError(f"energy_axis_true must be named 'energy_true', got {energy_axis_true.name!r}")
    extra_axes = geom.axes.drop("energy")
    image = geom.to_image()
    irf_image = image.to_binsz(u.Quantity(binsz_irf, "deg"))
    psf_energy = energy_axis if reco_psf else energy_axis_true
    edisp_first = energy_axis if migra_axis is None else migra_axis
    return {
        "geom": geom,
        "geom_exposure": image.to_cube([energy_axis_true, *extra_axes]),
        "geom_psf": irf_image.to_cube([rad_axis, psf_energy, *extra_axes]),
        "geom_edisp": irf_image.to_cube([edisp_first, energy_axis_true, *extra_axes]),
    }


def empty_gti(reference_time="2000-01-01") -> GTI:
    """A GTI with no interval and the given reference time."""
    return GTI.create(u.Quantity([], "s"), u.Quantity([], "s"), reference_time=Time(reference_time))


def _spatial_chunks(chunks, geom: Geom) -> dict:
    """``chunks`` of a counts map (dask chunks) as a per-dimension dict of its spatial part."""
    return dict(zip(geom_dims(geom)[-2:], chunks[-2:], strict=True))


def empty_members(
    geom: Geom, geom_exposure=None, geom_psf=None, geom_edisp=None, *, chunks=None
) -> dict:
    """Lazy zero members on the given geometries, as gammapy's ``MapDataset.from_geoms``.

    counts and background: float32 zeros; exposure: zeros in ``m2 s`` (sharing the counts'
    spatial chunks); PSF: `PSFMap.from_geom` (`RecoPSFMap` when its geometry has a reco
    ``energy`` axis); EDisp: `EDispKernelMap.from_geom` (diagonal response), or
    `EDispMap.from_geom` when its geometry has no ``energy`` axis; ``mask_safe`` all False.
    """
    counts = Map.from_geom(geom, unit="", chunks=chunks)
    members = {
        "counts": counts,
        "background": Map.from_geom(geom, unit="", chunks=counts.chunks),
        "mask_safe": Map.from_geom(geom, dtype=bool, chunks=counts.chunks),
    }
    if geom_exposure is not None:
        same_grid = geom_exposure.to_image() == geom.to_image()
        spatial = _spatial_chunks(counts.chunks, geom) if same_grid else None
        members["exposure"] = Map.from_geom(geom_exposure, unit="m2 s", chunks=spatial)
    if geom_psf is not None:
        psf_class = RecoPSFMap if "energy" in geom_psf.axes.names else PSFMap
        members["psf"] = psf_class.from_geom(geom_psf)
    if geom_edisp is not None:
        edisp_class = EDispKernelMap if "energy" in geom_edisp.axes.names else EDispMap
        members["edisp"] = edisp_class.from_geom(geom_edisp)
    return members
