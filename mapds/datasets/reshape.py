"""Geometry-changing operations on datasets: cutout, pad, downsample, energy resampling, slicing,
reduction to an image, to a region, and to a spectrum dataset, with gammapy's rules.

Each function returns a NEW dataset of the same class (a random name unless ``name`` is given)
whose members are the transformed maps, as lazy graphs; nothing is computed.  The GTI and the meta
table are passed through (same objects, as gammapy does); models, ``meta`` and ``stat_type`` are
not carried over (gammapy builds the new dataset with the constructor defaults, so a
``cash_weighted`` dataset comes back as ``cash``).  The background is transformed only for the
``cash`` statistic, except by :func:`pad`, which pads it always, as gammapy.

Deviations from gammapy 2.1, on purpose:

- :func:`pad` honours ``mode`` for the exposure (gammapy's docstring promises edge values, its
  code pads with zeros whatever ``mode`` says); counts, background and masks are padded with
  zeros / False as in gammapy.
- :func:`to_region_map_dataset` checks that the mask is uniform inside the region lazily: the
  check runs with the first computation of the counts, background or masks, which then raise
  :class:`~mapds.errors.GeometryError` (gammapy raises while building).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import dask.array as da
import numpy as np

from ..errors import (
    AxisError,
    EnergyRangeError,
    GeometryError,
    InvalidArgumentError,
    IRFError,
    UnitMismatchError,
)
from ..geom import WcsGeom
from ..geom.pixel_grid import pixel_regions, region_mask_block
from ..geom.sky_regions import compound_region_center, parse_regions, regions_to_compound_region
from ..irf import EDispKernelMap
from ..maps import Map
from ..modeling.names import make_name
from .core import DATASET_TYPES

if TYPE_CHECKING:
    from .map_dataset import MapDataset
    from .spectrum import SpectrumDataset

__all__ = [
    "cutout",
    "downsample",
    "energy_slice",
    "pad",
    "resample_energy_axis",
    "slice_by_energy",
    "slice_by_idx",
    "to_image",
    "to_region_map_dataset",
    "to_spectrum_dataset",
]


def _new_dataset(dataset: MapDataset, name, members: dict, cls=None) -> MapDataset:
    """A dataset of ``cls`` (default: ``dataset``'s) with ``members``, ``dataset``'s GTI and meta
    table, and ``name`` (random if None)."""
    members = {key: value for key, value in members.items() if value is not None}
    cls = type(dataset) if cls is None else cls
    return cls(name=make_name(name), gti=dataset.gti, meta_table=dataset.meta_table, **members)


def _background(dataset: MapDataset) -> Map | None:
    """The background map if the statistic uses it (gammapy transforms it only for ``cash``)."""
    return dataset.background if dataset.stat_type == "cash" else None


def _apply(m: Map | None, operation, *args, **kwargs):
    return None if m is None else operation(m, *args, **kwargs)


# -- cutout and pad -------------------------------------------------------------------------------


def cutout(dataset: MapDataset, position, width, mode="trim", name=None) -> MapDataset:
    """Dataset cut out around ``position``.

    Parameters
    ----------
    dataset : MapDataset
        Input dataset (WCS maps).
    position : `~astropy.coordinates.SkyCoord`
        Centre of the cutout.
    width : angle or (angle, angle)
        Size in (lon, lat); a scalar gives a square.
    mode : {"trim", "partial", "strict"}
        ``astropy.nddata.Cutout2D`` mode; ``partial`` fills pixels outside the map with 0 (False
        for masks).
    name : str, optional
        Name of the new dataset.

    Notes
    -----
    counts, exposure, background and masks are cut on their grid; the PSF and EDisp maps on their
    own (coarser) grid with at least 3 × 3 pixels, so that interpolation still works.  Maps read
    from files stay views of storage: computing the cutout reads only its bytes.
    """
    kwargs = {"position": position, "width": width, "mode": mode}
    members = {
        member: _apply(getattr(dataset, member), Map.cutout, **kwargs)
        for member in ("counts", "exposure", "mask_safe", "mask_fit")
    }
    members["background"] = _apply(_background(dataset), Map.cutout, **kwargs)
    members["psf"] = None if dataset.psf is None else dataset.psf.cutout(**kwargs)
    members["edisp"] = None if dataset.edisp is None else dataset.edisp.cutout(**kwargs)
    return _new_dataset(dataset, name, members)


def pad(dataset: MapDataset, pad_width, mode="constant", name=None) -> MapDataset:
    """Dataset padded by ``pad_width`` pixels on each side of the image.

    Parameters
    ----------
    dataset : MapDataset
        Input dataset (WCS maps).
    pad_width : int or (int, int)
        Pixels added on both sides of (lon, lat).
    mode : {"constant", "edge", "reflect", "symmetric", "wrap"}
        How the exposure is padded (``numpy.pad`` meaning; ``constant`` pads with 0).  counts,
        background and masks are always padded with zeros / False.
    name : str, optional
        Name of the new dataset.

    Notes
    -----
    gammapy 2.1 pads the exposure with zeros whatever ``mode`` is, although its docstring says the
    exposure is padded with edge values; mapds does what the docstring says.  The PSF and EDisp
    maps are kept as they are (they cover their own grid).  The WCS reference pixel is shifted by
    the pad width.
    """
    members = {
        member: _apply(getattr(dataset, member), Map.pad, pad_width)
        for member in ("counts", "background", "mask_safe", "mask_fit")
    }
    members["exposure"] = _apply(dataset.exposure, Map.pad, pad_width, mode=mode)
    members["psf"] = None if dataset.psf is None else dataset.psf.copy()
    members["edisp"] = None if dataset.edisp is None else dataset.edisp.copy()
    return _new_dataset(dataset, name, members)


# -- binning --------------------------------------------------------------------------------------


def downsample(dataset: MapDataset, factor, axis_name=None, name=None) -> MapDataset:
    """Dataset with ``factor × factor`` pixels merged, or ``factor`` bins of ``axis_name``.

    Parameters
    ----------
    dataset : MapDataset
        Input dataset.
    factor : int
        Downsampling factor; the spatial size (or the axis length) must be divisible by it.
    axis_name : str, optional
        Non-spatial axis of the counts geometry to downsample instead of the image.
    name : str, optional
        Name of the new dataset.

    Notes
    -----
    counts and background: sums of ``value × mask_safe``; exposure: spatial mean (unchanged when
    downsampling an axis); masks: OR of each block; PSF: unchanged; EDisp: unchanged spatially,
    summed with ``mask_safe_edisp`` weights along an axis.
    """
    weights = dataset.mask_safe

    def counts_like(m: Map) -> Map:
        return m.downsample(factor, preserve_counts=True, axis_name=axis_name, weights=weights)

    def mask(m: Map) -> Map:
        return m.downsample(factor, preserve_counts=False, axis_name=axis_name)

    members = {
        "counts": _apply(dataset.counts, counts_like),
        "background": _apply(_background(dataset), counts_like),
        "mask_safe": _apply(dataset.mask_safe, mask),
        "mask_fit": _apply(dataset.mask_fit, mask),
        "psf": None if dataset.psf is None else dataset.psf.copy(),
    }
    if axis_name is None:
        members["exposure"] = _apply(dataset.exposure, Map.downsample, factor, preserve_counts=False)
        members["edisp"] = None if dataset.edisp is None else dataset.edisp.copy()
    else:
        members["exposure"] = _apply(dataset.exposure, Map.copy)
        if dataset.edisp is not None:
            members["edisp"] = dataset.edisp.downsample(
                factor, axis_name=axis_name, weights=dataset.mask_safe_edisp
            )
    return _new_dataset(dataset, name, members)


def resample_energy_axis(dataset: MapDataset, energy_axis, name=None) -> MapDataset:
    """Dataset on the coarser reco-energy axis ``energy_axis`` (its edges must be edges of the
    current axis).

    counts and background: sums of ``value × mask_safe`` per group of bins; masks: OR per group;
    `~mapds.irf.EDispKernelMap`: reco columns summed with ``mask_safe_edisp`` weights; exposure,
    PSF and `~mapds.irf.EDispMap`: the same objects.
    """
    weights = dataset.mask_safe

    def summed(m: Map) -> Map:
        return m.resample_axis(axis=energy_axis, weights=weights)

    def mask(m: Map) -> Map:
        return m.resample_axis(axis=energy_axis, ufunc=np.logical_or)

    edisp = dataset.edisp
    if isinstance(edisp, EDispKernelMap):
        edisp = edisp.resample_energy_axis(energy_axis=energy_axis, weights=dataset.mask_safe_edisp)
    members = {
        "counts": _apply(dataset.counts, summed),
        "background": _apply(_background(dataset), summed),
        "mask_safe": _apply(dataset.mask_safe, mask),
        "mask_fit": _apply(dataset.mask_fit, mask),
        "exposure": dataset.exposure,
        "psf": dataset.psf,
        "edisp": edisp,
    }
    return _new_dataset(dataset, name, members)


def to_image(dataset: MapDataset, name=None) -> MapDataset:
    """Dataset with one reco-energy bin spanning the whole axis (see :func:`resample_energy_axis`);
    the exposure keeps its true-energy bins."""
    return resample_energy_axis(dataset, dataset.geoms["geom"].axes["energy"].squash(), name=name)


# -- slicing --------------------------------------------------------------------------------------


def _slices_for(slices: dict, geom) -> dict:
    """The entries of ``slices`` naming axes of ``geom`` (the others do not apply to it)."""
    return {key: value for key, value in slices.items() if key in geom.axes.names}


def _slice_map(m: Map, slices: dict) -> Map:
    return m.slice_by_idx(_slices_for(slices, m.geom))


def _slice_irf(irf, slices: dict):
    return irf.slice_by_idx(_slices_for(slices, irf.irf_map.geom))


def slice_by_idx(dataset: MapDataset, slices: dict, name=None) -> MapDataset:
    """Dataset sliced along non-spatial axes.

    Parameters
    ----------
    dataset : MapDataset
        Input dataset.
    slices : dict
        Axis name → int or slice; applied to every map having that axis (an int drops it).  The
        IRF exposure maps follow ``energy_true`` only.
    name : str, optional
        Name of the new dataset.
    """
    unknown = set(slices) - {axis.name for geom in dataset.geoms.values() for axis in geom.axes}
    if unknown:
        raise InvalidArgumentError(
            f"slice_by_idx: no member of dataset {dataset.name!r} has the axes {sorted(unknown)}"
        )
    members = {
        member: _apply(getattr(dataset, member), _slice_map, slices)
        for member in ("counts", "exposure", "mask_safe", "mask_fit")
    }
    members["background"] = _apply(_background(dataset), _slice_map, slices)
    members["psf"] = None if dataset.psf is None else _slice_irf(dataset.psf, slices)
    members["edisp"] = None if dataset.edisp is None else _slice_irf(dataset.edisp, slices)
    return _new_dataset(dataset, name, members)


def _energy_bound(value, default: u.Quantity, name: str) -> u.Quantity:
    """``value`` (default ``default``) as an energy in the unit of ``default``."""
    if value is None:
        return default
    try:
        return u.Quantity(value).to(default.unit)
    except (TypeError, ValueError) as exc:  # astropy's UnitConversionError is a ValueError
        message = f"{name}={value!r} is not an energy (expected a quantity in {default.unit})"
        raise UnitMismatchError(message) from exc


def energy_slice(energy_axis, energy_min=None, energy_max=None) -> slice:
    """Slice of the reco bins between ``energy_min`` and ``energy_max`` snapped to the nearest
    bin edges (in the axis' pixel space), as gammapy's ``MapAxis.group_table``.

    Raises
    ------
    InvalidArgumentError
        ``energy_min`` is not below ``energy_max`` (gammapy then keeps one bin).
    EnergyRangeError
        The range selects no bin.
    """
    energy_min = _energy_bound(energy_min, energy_axis.bounds[0], "energy_min")
    energy_max = _energy_bound(energy_max, energy_axis.bounds[1], "energy_max")
    if not energy_min < energy_max:
        raise InvalidArgumentError(f"energy_min={energy_min} must be below energy_max={energy_max}")
    try:
        group = energy_axis.group_table(edges=u.Quantity([energy_min, energy_max]))
    except AxisError as exc:  # no edge of the axis in or near the range
        raise EnergyRangeError(f"{exc} ({energy_axis.bounds[0]} to {energy_axis.bounds[1]})") from None
    normal = group[group["bin_type"] == "normal   "]
    if len(normal) == 0:
        raise EnergyRangeError(
            f"energy_min={energy_min}, energy_max={energy_max} select no bin of the energy axis "
            f"({energy_axis.bounds[0]} to {energy_axis.bounds[1]})"
        )
    return slice(int(normal["idx_min"][0]), int(normal["idx_max"][0]) + 1)


def slice_by_energy(dataset: MapDataset, energy_min=None, energy_max=None, name=None) -> MapDataset:
    """Dataset restricted to the reco-energy bins between ``energy_min`` and ``energy_max``
    (default: the axis bounds), snapped to the nearest bin edges."""
    index = energy_slice(dataset.geoms["geom"].axes["energy"], energy_min, energy_max)
    return slice_by_idx(dataset, {"energy": index}, name=name)


# -- regions --------------------------------------------------------------------------------------


def _check_region_inside(geom: WcsGeom, region) -> None:
    """Raise unless no pixel centre of the one-pixel frame around ``geom`` is inside ``region``
    (gammapy's "fully contained" test); pure geometry, nothing is computed."""
    padded = geom.to_image().pad(1)
    ny, nx = padded.data_shape
    extended, points = pixel_regions(parse_regions(region) or [], padded.wcs)
    frame = (
        (0, 1, 0, nx),
        (ny - 1, ny, 0, nx),
        (0, ny, 0, 1),
        (0, ny, nx - 1, nx),
    )
    if any(region_mask_block(extended, points, *window).any() for window in frame):
        raise GeometryError(
            f"to_region_map_dataset can only be applied if the region {region} is fully contained "
            f"inside the counts geometry (data shape {geom.data_shape})"
        )


def _region_center(region):
    """Centre of ``region`` (a region object or a DS9 string), where the IRFs are taken."""
    regions = parse_regions(region)
    return compound_region_center(regions_to_compound_region(regions))


def _raise_unless(block: np.ndarray, ok: np.ndarray, message: str) -> np.ndarray:
    if not bool(ok):
        raise GeometryError(message)
    return block


def _mask_uniformity(mask: Map, region) -> da.Array:
    """0-d lazy bool: within ``region``, every energy plane of ``mask`` is all True or all False."""
    any_in = mask.to_region_nd_map(region, func=np.any).data
    all_in = mask.to_region_nd_map(region, func=np.all).data
    return (all_in.astype(bool) | ~any_in.astype(bool)).all()


def _checked(m: Map | None, ok: da.Array | None, message: str) -> Map | None:
    """``m`` whose computation raises ``GeometryError(message)`` unless ``ok`` is True."""
    if m is None or ok is None:
        return m
    data = m.dask_data
    data = da.map_blocks(_raise_unless, data, ok, message=message, dtype=m.dtype, meta=data)
    return m.copy(data=data)


def to_region_map_dataset(dataset: MapDataset, region, name=None) -> MapDataset:
    """Dataset reduced to the sky ``region``: every map on a `~mapds.geom.RegionGeom`.

    Parameters
    ----------
    dataset : MapDataset
        Input dataset (WCS maps); ``region`` must lie fully inside its counts geometry, and its
        mask must be spatially uniform inside the region for each energy bin.
    region : `~regions.SkyRegion` or str
        The region.
    name : str, optional
        Name of the new dataset.

    Notes
    -----
    counts: sum of the safe pixels; background: sum of ``npred_background()`` (FoV model
    applied) over the safe pixels (``cash`` only); exposure: mean over the region; masks: any;
    PSF and EDisp: the IRF pixel nearest to the region centre.  The mask-uniformity check runs
    lazily (see the module notes).
    """
    if not isinstance(dataset.geoms["geom"], WcsGeom):
        geom_type = type(dataset.geoms["geom"]).__name__
        raise GeometryError(f"to_region_map_dataset needs a dataset on a WcsGeom, got a {geom_type}")
    _check_region_inside(dataset.geoms["geom"], region)
    mask = dataset.mask
    ok = None if mask is None else _mask_uniformity(mask, region)
    message = (
        f"to_region_map_dataset: the mask of dataset {dataset.name!r} is not spatially uniform "
        f"within the region {region} for each energy bin"
    )

    def reduced(m: Map | None, func, weights=None):
        if m is None:
            return None
        return _checked(m.to_region_nd_map(region, func=func, weights=weights), ok, message)

    background = None
    if dataset.stat_type == "cash" and dataset.background is not None:
        background = dataset.npred_background()
    center = _region_center(region)
    members = {
        "counts": reduced(dataset.counts, np.sum, dataset.mask_safe),
        "background": reduced(background, np.sum, dataset.mask_safe),
        "mask_safe": reduced(dataset.mask_safe, np.any),
        "mask_fit": reduced(dataset.mask_fit, np.any),
        "exposure": _apply(dataset.exposure, Map.to_region_nd_map, region, func=np.mean),
        "psf": None if dataset.psf is None else dataset.psf.to_region_nd_map(center),
        "edisp": None if dataset.edisp is None else dataset.edisp.to_region_nd_map(center),
    }
    return _new_dataset(dataset, name, members)


def to_spectrum_dataset(
    dataset: MapDataset, on_region, containment_correction=False, name=None
) -> SpectrumDataset:
    """`~mapds.datasets.SpectrumDataset` of ``on_region`` (see :func:`to_region_map_dataset`).

    Parameters
    ----------
    dataset : MapDataset
        Input dataset.
    on_region : `~regions.SkyRegion`
        Region to reduce the maps to.
    containment_correction : bool
        Multiply the exposure by the fraction of the PSF (at the region centre, per true energy)
        inside the region; needs a `~regions.CircleSkyRegion` and a PSF map.
    name : str, optional
        Name of the new dataset.

    Notes
    -----
    The PSF is dropped; the background is kept for the ``cash`` statistic only.  The containment
    fractions are a small lookup in the PSF map (numpy); the exposure stays a lazy graph.
    """
    if containment_correction:
        from regions import CircleSkyRegion  # deferred: regions imports matplotlib

        if not isinstance(on_region, CircleSkyRegion):
            raise InvalidArgumentError(
                "Containment correction is only supported for `CircleSkyRegion`, "
                f"got a {type(on_region).__name__}"
            )
        if dataset.psf is None:
            raise IRFError(f"No PSFMap set in dataset {dataset.name!r}. Containment correction impossible")
    name = make_name(name)
    region_dataset = to_region_map_dataset(dataset, on_region, name=name)
    exposure = region_dataset.exposure
    if containment_correction and exposure is not None:
        geom = exposure.geom
        containment = dataset.psf.containment(
            rad=on_region.radius, energy_true=geom.axes["energy_true"].center, position=on_region.center
        )
        factor = np.asarray(containment.to_value("")).reshape(geom.data_shape)
        exposure = exposure.copy(data=(exposure.data * factor).astype(exposure.dtype))
    members = {key: getattr(region_dataset, key) for key in ("counts", "edisp", "mask_safe", "mask_fit")}
    members["exposure"] = exposure
    if dataset.stat_type == "cash":
        members["background"] = region_dataset.background
    return _new_dataset(region_dataset, name, members, cls=DATASET_TYPES["SpectrumDataset"])
