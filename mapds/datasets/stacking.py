"""Stacking datasets: gammapy's ``MapDataset.stack`` rules and ``Datasets.stack_reduce``.

gammapy's rules, applied in this order to ``dataset.stack(other)``:

1. counts += other.counts × other.mask_safe;
2. exposure += other.exposure × other.mask_safe_image, and the ``livetime`` in the exposure
   metadata is summed when other has one and its safe mask has a True bin;
3. for ``stat_type == "cash"``: background = self.npred_background() (self's FoV model baked in)
   + other.npred_background() × other.mask_safe;
4. PSF and EDisp maps: exposure-weighted means with weights ``other.mask_safe_psf`` /
   ``other.mask_safe_edisp`` (:meth:`mapds.irf.IRFMap.stack`);
5. mask_safe and mask_fit OR-ed (other's mask_fit taken when self has none);
6. GTIs concatenated, then ``union()`` (which also works for empty GTIs, unlike gammapy 2.1);
7. meta tables combined into one row whose cells concatenate both tables' values;
8. on-off datasets (``stat_type == "wstat"``), first: acceptance and off counts summed (other's
   masked) and acceptance_off rescaled so that alpha × off counts add up
   (:func:`stacked_onoff_members`).

Only ``other``'s masks are applied; ``other`` must have the same geometry as self or be an aligned
cutout of it.  Every map member becomes a new dask graph: nothing is computed, except one boolean
reduction (``any(other.mask_safe_image)``) that gammapy's livetime rule needs, and only when
``other``'s exposure carries a livetime.

``stack_reduce`` stacks every dataset into the first one's masked copy in turn, as gammapy's loop
does, but as graphs: each output chunk is a chain of additions over the input chunks (one per
dataset), and the chunks are independent, so it runs on the threaded scheduler or unchanged on a
``dask.distributed`` cluster.  :func:`stack_in_turn` also drives
:func:`mapds.datasets.stack_to_zarr`, the streaming path for many observation files.  This
module works on the datasets it is given and builds new ones with their own class: it imports no
dataset class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dask
import dask.array as da
import numpy as np
from astropy.table import Table

from ..errors import GeometryMismatchError, InvalidArgumentError
from ..geom import RegionGeom, WcsGeom
from ..maps import Map
from ..maps.dataarray import geom_dims
from .dask_protocol import annotated_dataset

if TYPE_CHECKING:
    from ..data import GTI
    from .map_dataset import MapDataset

__all__ = [
    "carry_metadata",
    "check_all",
    "check_stackable",
    "has_safe_bins",
    "hstack_meta_tables",
    "stack",
    "stack_gti",
    "stack_in_turn",
    "stack_reduce",
    "stacked_onoff_members",
    "to_masked",
]


# -- checks ---------------------------------------------------------------------------------------


def check_stackable(dataset: MapDataset, other: MapDataset) -> None:
    """Raise :class:`~mapds.errors.GeometryMismatchError` unless ``other`` can be stacked into
    ``dataset``: same non-spatial axes, and the same sky grid or an aligned cutout of it."""
    geom, other_geom = dataset.geoms["geom"], other.geoms["geom"]
    if geom == other_geom:
        return
    what = f"cannot stack dataset {other.name!r} into {dataset.name!r}"
    if not geom.axes == other_geom.axes:
        raise GeometryMismatchError(
            f"MapDataset.stack: {what}: non-spatial axes differ ({other_geom.axes.names} with data shape "
            f"{other_geom.data_shape} vs {geom.axes.names} with {geom.data_shape})"
        )
    if isinstance(geom, RegionGeom) or isinstance(other_geom, RegionGeom):
        if not (isinstance(geom, RegionGeom) and isinstance(other_geom, RegionGeom)):
            raise GeometryMismatchError(
                f"MapDataset.stack: {what}: a {type(other_geom).__name__} dataset cannot be stacked "
                f"into a {type(geom).__name__} dataset"
            )
        return
    if not (isinstance(other_geom, WcsGeom) and geom.to_image().is_aligned(other_geom.to_image())):
        raise GeometryMismatchError(
            f"MapDataset.stack: {what}: can only stack equivalent maps or cutout of the same map "
            f"(sky grids {other_geom.data_shape[-2:]} and {geom.data_shape[-2:]} are not aligned)"
        )


def has_safe_bins(dataset: MapDataset) -> bool:
    """Whether the dataset's safe mask has a True bin (False without a safe mask).

    Computes one boolean reduction (gammapy's livetime rule: ``np.any(other.mask_safe_image)``).
    """
    if dataset.mask_safe is None:
        return False
    return bool(dask.compute(dataset.mask_safe.data.any())[0])


def _needs_safe_bins_flag(dataset: MapDataset) -> bool:
    """Whether stacking ``dataset`` into another one needs :func:`has_safe_bins` (livetime rule)."""
    exposure = dataset.exposure
    return exposure is not None and "livetime" in exposure.meta and dataset.mask_safe is not None


# -- metadata -------------------------------------------------------------------------------------


def stack_gti(gti: GTI | None, other: GTI | None) -> GTI | None:
    """Intervals of both GTIs, merged with ``union()`` (a new GTI; inputs untouched)."""
    if gti is None or other is None:
        return gti
    stacked = gti.copy()
    stacked.stack(other)
    return stacked.union()


def _has_rows(table: Table | None) -> bool:
    # gammapy tests ``if table`` (astropy: a table with no row is falsy)
    return table is not None and len(table) > 0


def hstack_meta_tables(table: Table | None, other: Table | None) -> Table | None:
    """One-row table whose cells concatenate the first rows of ``table`` and ``other``.

    Columns are ``table``'s (``other`` must have them all); units and table metadata are
    dropped, as gammapy's ``hstack_columns`` does.  If ``table`` has no row, a copy of ``other``.
    """
    if not _has_rows(other):
        return table
    if not _has_rows(table):
        return other.copy()
    missing = [name for name in table.colnames if name not in other.colnames]
    if missing:
        raise InvalidArgumentError(
            f"Cannot stack meta tables: columns {missing} are missing from the table stacked in "
            f"(it has {other.colnames})"
        )
    stacked = Table()
    for name in table.colnames:
        stacked[name] = [np.hstack([np.asarray(table[name])[0], np.asarray(other[name])[0]])]
    return stacked


def _stacked_exposure_meta(meta: dict, other_meta: dict, other_has_safe_bins: bool) -> dict:
    meta = dict(meta)
    if "livetime" in other_meta and other_has_safe_bins:
        livetime = other_meta["livetime"]
        meta["livetime"] = meta["livetime"] + livetime if "livetime" in meta else livetime.copy()
    return meta


# -- maps -----------------------------------------------------------------------------------------


def _keep_chunks(new: Map, old: Map) -> Map:
    """``new`` with ``old``'s chunks (a dataset's members share the counts' chunking)."""
    return new if new.chunks == old.chunks else new.rechunk(old.chunks)


def _stacked_map(target: Map, other: Map, weights=None, nan_to_num=True) -> Map:
    out = target.copy()
    out.stack(other, weights=weights, nan_to_num=nan_to_num)
    return _keep_chunks(out, target)


def _stacked_irf(target, other, weights):
    out = target.copy()
    out.stack(other, weights=weights)
    return out


def _counts_grid_chunks(dataset: MapDataset):
    """Chunks shared by the maps on the counts geometry (those of the first one present)."""
    members = (dataset.counts, dataset.background, dataset.mask_safe, dataset.mask_fit)
    return next((m.chunks for m in members if m is not None), None)


def _mask_on_grid(mask: Map, dataset: MapDataset) -> Map:
    """``mask`` (on ``dataset``'s geometry or an aligned cutout of it) on that geometry and its
    chunks, zero / False where the cutout does not reach."""
    chunks = _counts_grid_chunks(dataset)
    if mask.geom == dataset.geoms["geom"]:
        out = mask.copy()
    else:
        out = Map.from_geom(dataset.geoms["geom"], dtype=mask.dtype, unit=mask.unit, chunks=chunks)
        out.stack(mask)
    return out if chunks is None or out.chunks == chunks else out.rechunk(chunks)


def _onoff_total(geom, chunks, parts, nan_to_num: bool) -> Map:
    """Zeros on ``geom`` with the ``(map, weights)`` parts stacked into them in turn (float32, as
    gammapy's ``Map.from_geom``)."""
    total = Map.from_geom(geom, chunks=chunks)
    for m, weights in parts:
        total.stack(m, weights=weights, nan_to_num=nan_to_num)
    return total


def stacked_onoff_members(dataset: MapDataset, other: MapDataset, nan_to_num: bool = True) -> dict:
    """New ``acceptance``, ``counts_off`` and ``acceptance_off`` of an on-off ``dataset`` after
    stacking ``other`` (graphs only; gammapy's ``MapDatasetOnOff.stack`` rules).

    acceptance = dataset's + other's × other's safe mask; counts_off likewise; acceptance_off is
    chosen so that the stacked ``alpha × counts_off`` is the sum of the ``alpha × counts_off`` of
    both (other's masked): ``acceptance × Σ off / Σ alpha·off``; where the stacked off counts are 0
    it is ``acceptance / ᾱ`` with ``ᾱ`` the ratio of the totals over the whole map (a reduction,
    left lazy).
    """
    if other.stat_type != "wstat":
        raise InvalidArgumentError(
            f"Incompatible types for MapDatasetOnOff stacking: {type(other).__name__} {other.name!r}"
        )
    geom, chunks = dataset.geoms["geom"], _counts_grid_chunks(dataset)
    weights = other.mask_safe
    acceptance = _onoff_total(
        geom, chunks, [(dataset.acceptance, None), (other.acceptance, weights)], nan_to_num
    )
    off_parts, background_parts = [], []
    for member, w in ((dataset, None), (other, weights)):
        if member.counts_off is not None:
            off_parts.append((member.counts_off, w))
            background_parts.append((member.alpha * member.counts_off, w))
    total_off = _onoff_total(geom, chunks, off_parts, nan_to_num)
    total_background = _onoff_total(geom, chunks, background_parts, nan_to_num)
    with np.errstate(divide="ignore", invalid="ignore"):
        acceptance_off = acceptance * total_off / total_background
    average_alpha = total_background.dask_data.sum() / total_off.dask_data.sum()
    no_off = total_off.dask_data == 0
    data = acceptance_off.dask_data
    data = da.where(no_off, (acceptance.dask_data / average_alpha).astype(data.dtype), data)
    target = dataset.acceptance
    return {
        "acceptance": Map.from_geom(geom, data=acceptance.dask_data.astype(target.dtype), unit=target.unit),
        "counts_off": total_off,
        "acceptance_off": Map.from_geom(geom, data=data, unit=acceptance_off.unit),
    }


def _stacked_members(dataset: MapDataset, other: MapDataset, nan_to_num: bool) -> dict:
    """New values of the map members of ``dataset`` after stacking ``other`` (graphs only)."""
    members = {}
    if dataset.stat_type == "wstat":
        members.update(stacked_onoff_members(dataset, other, nan_to_num))
    mask_safe = other.mask_safe
    if dataset.counts is not None and other.counts is not None:
        # counts stored as integers are added as read (the same values, cast once to the target's
        # dtype), without a float64 copy of every chunk
        counts = other.counts.as_stored_dtype()
        members["counts"] = _stacked_map(dataset.counts, counts, mask_safe, nan_to_num)
    if dataset.exposure is not None and other.exposure is not None:
        weights = other.mask_safe_image
        members["exposure"] = _stacked_map(dataset.exposure, other.exposure, weights, nan_to_num)
    if dataset.stat_type == "cash" and dataset.background is not None and other.background is not None:
        members["background"] = _stacked_map(
            dataset.npred_background(), other.npred_background(), mask_safe, nan_to_num
        )
    if dataset.psf is not None and other.psf is not None:
        weights = other.mask_safe_psf
        members["psf"] = _stacked_irf(dataset.psf, other.psf, weights)
    if dataset.edisp is not None and other.edisp is not None:
        weights = other.mask_safe_edisp
        members["edisp"] = _stacked_irf(dataset.edisp, other.edisp, weights)
    if dataset.mask_safe is not None and other.mask_safe is not None:
        members["mask_safe"] = _stacked_map(dataset.mask_safe, other.mask_safe)
    if other.mask_fit is not None:
        if dataset.mask_fit is not None:
            members["mask_fit"] = _stacked_map(dataset.mask_fit, other.mask_fit)
        else:
            # gammapy copies other's mask as is, even when it is a cutout; on self's geometry
            # the dataset stays consistent.
            members["mask_fit"] = _mask_on_grid(other.mask_fit, dataset)
    return members


def _assign(dataset: MapDataset, members: dict) -> None:
    # New graphs, new graph names: the dataset's statistic cache and evaluator inputs are keyed
    # by the members' graph names, so they are refreshed on the next use.
    for name, value in members.items():
        setattr(dataset, name, value)


# -- public API -----------------------------------------------------------------------------------


def stack(dataset: MapDataset, other: MapDataset, nan_to_num=True, *, other_has_safe_bins=None) -> None:
    """Stack ``other`` into ``dataset``, in place (gammapy's ``MapDataset.stack``).

    Parameters
    ----------
    dataset : MapDataset
        Target; its own out-of-mask data are kept (use :func:`to_masked` first to drop them).
    other : MapDataset
        Dataset on the same geometry or an aligned cutout of it; only its masks are applied.
    nan_to_num : bool
        Replace non-finite values of ``other``'s maps by zero.
    other_has_safe_bins : bool, optional, keyword-only
        Whether ``other``'s safe mask has a True bin, if already known (see :func:`has_safe_bins`);
        computed when needed otherwise.

    Raises
    ------
    GeometryMismatchError
        If the geometries are incompatible; ``dataset`` is then left unchanged.
    """
    check_stackable(dataset, other)
    members = _stacked_members(dataset, other, nan_to_num)
    if "exposure" in members:
        if other_has_safe_bins is None:
            other_has_safe_bins = has_safe_bins(other) if _needs_safe_bins_flag(other) else False
        members["exposure"].meta = _stacked_exposure_meta(
            dataset.exposure.meta, other.exposure.meta, other_has_safe_bins
        )
    _assign(dataset, members)
    dataset.gti = stack_gti(dataset.gti, other.gti)
    if _has_rows(dataset.meta_table) or _has_rows(other.meta_table):
        dataset.meta_table = hstack_meta_tables(dataset.meta_table, other.meta_table)


def _empty_like(dataset: MapDataset, geoms: dict, name=None) -> MapDataset:
    """gammapy's ``from_geoms(**geoms)`` with ``dataset``'s chunks and class."""
    empty = type(dataset).from_geoms(**geoms, name=name, chunks=_counts_grid_chunks(dataset))
    for member in ("psf", "edisp"):
        irf, target = getattr(dataset, member), getattr(empty, member)
        if irf is not None and target is not None and irf.irf_map.geom == target.irf_map.geom:
            # in the spatial chunks of the IRF map stacked into it, which then needs no rechunking
            geom = target.irf_map.geom
            spatial = dict(zip(geom_dims(geom)[-2:], irf.irf_map.chunks[-2:], strict=True))
            setattr(empty, member, type(target).from_geom(geom, chunks=spatial))
    return empty


def to_masked(dataset: MapDataset, name=None, nan_to_num=True, *, other_has_safe_bins=None) -> MapDataset:
    """A new dataset with ``dataset``'s safe mask applied (gammapy's ``to_masked``).

    An empty dataset on the same geometries (``from_geoms``) with ``dataset`` stacked into it:
    counts and background are zero outside the safe mask, exposure outside the safe image, the
    IRF maps keep only the safe pixels' contributions.  Models are not carried over.
    """
    masked = _empty_like(dataset, dataset.geoms, name=name)
    stack(masked, dataset, nan_to_num=nan_to_num, other_has_safe_bins=other_has_safe_bins)
    return masked


def _safe_bins_flags(datasets: Sequence[MapDataset]) -> list[bool]:
    """:func:`has_safe_bins` of every dataset whose livetime rule needs it, in one computation."""
    needed = [i for i, d in enumerate(datasets) if _needs_safe_bins_flag(d)]
    values = dask.compute(*[datasets[i].mask_safe.data.any() for i in needed])
    flags = [False] * len(datasets)
    for i, value in zip(needed, values, strict=True):
        flags[i] = bool(value)
    return flags


def check_all(first: MapDataset, datasets: Sequence[MapDataset]) -> None:
    """Same dataset type as ``first`` and stackable into it, for every dataset."""
    kinds = {type(d).__name__ for d in (first, *datasets)}
    if len(kinds) > 1:
        raise InvalidArgumentError(
            f"Stacking impossible: all Datasets contained are not of a unique type ({sorted(kinds)})"
        )
    for other in datasets:
        if other is not first:
            check_stackable(first, other)


def stack_in_turn(
    datasets: Sequence[MapDataset], nan_to_num: bool, *, start: MapDataset | None = None, name=None
) -> MapDataset:
    """``start`` with every dataset stacked into it in turn, as gammapy's loop does (graphs only).

    Without ``start``, the first dataset masked (``to_masked``) is the start.  Every output chunk
    is a chain of additions, one per dataset, each making one new array: survey chunks are
    100+ MB, and a fresh array costs more in page faults than the addition itself, so this
    makes half the arrays of masking every dataset and adding the results pairwise.  The
    livetime rule's safe-mask reductions of all datasets are computed together, first.
    """
    datasets = list(datasets)
    flags = _safe_bins_flags(datasets)
    if start is None:
        with dask.annotate(**_step(0)):
            first = annotated_dataset(datasets[0], _step(0))
            stacked = to_masked(first, name=name, nan_to_num=nan_to_num, other_has_safe_bins=flags[0])
        datasets, flags = datasets[1:], flags[1:]
    else:
        stacked = start.copy(name=name)
    for step, (dataset, flag) in enumerate(zip(datasets, flags, strict=True), 1):
        # Each step and the graph of the dataset it adds carry their own annotation: dask fuses a
        # chain of blockwise layers into one at a cost quadratic in its length (12 s of a 13 s
        # compute for 30 datasets) and then reads every input chunk in one task, and it does not
        # fuse layers whose annotations differ.  So each addition fuses only with the reads of
        # its own input chunks.
        with dask.annotate(**_step(step)):
            other = annotated_dataset(dataset, _step(step))
            stack(stacked, other, nan_to_num=nan_to_num, other_has_safe_bins=flag)
    return stacked


def _step(step: int) -> dict:
    return {"mapds_stack_step": step}


def carry_metadata(dataset: MapDataset, source: MapDataset) -> MapDataset:
    """``dataset`` with the GTI, meta table and exposure livetime of ``source`` (in place)."""
    dataset.gti, dataset.meta_table = source.gti, source.meta_table
    if dataset.exposure is not None and source.exposure is not None:
        meta = dict(dataset.exposure.meta)
        meta.pop("livetime", None)
        if "livetime" in source.exposure.meta:
            meta["livetime"] = source.exposure.meta["livetime"]
        dataset.exposure.meta = meta
    return dataset


def stack_reduce(datasets: Sequence[MapDataset], name=None, nan_to_num=True) -> MapDataset:
    """Stack datasets into one (gammapy's ``Datasets.stack_reduce``), as one graph.

    ``datasets[0].to_masked()`` followed by ``stack`` of every other dataset in order, as gammapy
    does (so with gammapy's order of float additions): every output chunk is a chain of
    additions over the datasets' chunks, and the chunks are independent of each other.

    Parameters
    ----------
    datasets : sequence of MapDataset
        Datasets of one type, each on the first one's geometry or an aligned cutout of it.
    name : str, optional
        Name of the result (random if None).
    nan_to_num : bool
        Replace non-finite values by zero.

    Returns
    -------
    MapDataset
        Lazy dataset: its maps are dask graphs; the safe-mask reductions needed for the
        livetime are the only values computed (all in one pass).

    See Also
    --------
    mapds.datasets.stack_to_zarr : the same for many datasets, streamed to a zarr store in batches.
    """
    datasets = list(datasets)
    if not datasets:
        raise InvalidArgumentError("stack_reduce needs at least one dataset")
    check_all(datasets[0], datasets)
    return stack_in_turn(datasets, nan_to_num, name=name)


# -- many datasets: streamed to storage -----------------------------------------------------------
