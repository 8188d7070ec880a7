"""A dataset as a dask collection: the collection of its maps.

``dask.compute(dataset)``, ``dask.persist(dataset)``, ``dask.visualize(dataset)`` and dask's progress
bars treat a `MapDataset` as the union of its lazy maps (counts, exposure, background, masks, and
the maps inside the PSF and energy-dispersion maps).  The result is a new dataset of the same name
whose maps hold the computed (numpy) or persisted values; models are not part of the collection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dask.core import flatten
from dask.highlevelgraph import HighLevelGraph

from ..maps import Map

if TYPE_CHECKING:
    from .map_dataset import MapDataset

__all__ = [
    "annotated_dataset",
    "computed_dataset",
    "dataset_graph",
    "dataset_maps",
    "lazy_members",
    "persisted_dataset",
    "with_members",
]

#: Members holding a map directly, and IRF members holding two.
MAP_MEMBERS = ("counts", "exposure", "background", "mask_safe", "mask_fit")
IRF_MEMBERS = {"psf": ("psf_map", "exposure_map"), "edisp": ("edisp_map", "exposure_map")}


def dataset_maps(dataset: MapDataset):
    """``((member, attribute or None), map)`` for every map of the dataset."""
    for member in getattr(dataset, "map_members", MAP_MEMBERS):
        m = getattr(dataset, member, None)
        if m is not None:
            yield (member, None), m
    for member, attributes in IRF_MEMBERS.items():
        irf = getattr(dataset, member, None)
        for attribute in attributes if irf is not None else ():
            m = getattr(irf, attribute)
            if m is not None:
                yield (member, attribute), m


def lazy_members(dataset: MapDataset) -> list[tuple[tuple[str, str | None], Map]]:
    """The dataset's maps that are dask collections, with where each sits."""
    return [(path, m) for path, m in dataset_maps(dataset) if m.__dask_graph__() is not None]


def dataset_graph(members) -> HighLevelGraph | None:
    """The merged graph of the given maps (None when every map is in memory)."""
    if not members:
        return None
    return HighLevelGraph.merge(*(m.__dask_graph__() for _, m in members))


def with_members(template: MapDataset, replacements: dict) -> MapDataset:
    """A copy of ``template`` (same name) with the maps at the given places replaced."""
    out = template.copy(name=template.name)
    out.models = template.models
    irfs = {}
    for (member, attribute), m in replacements.items():
        if attribute is None:
            setattr(out, member, m)
        else:
            irf = irfs.setdefault(member, getattr(out, member))
            setattr(irf, attribute, m)
    return out


def annotated_dataset(dataset: MapDataset, annotations: dict) -> MapDataset:
    """A copy of ``dataset`` (same name) whose maps' graphs carry ``annotations`` on every layer."""
    return with_members(
        dataset, {where: m.with_annotations(**annotations) for where, m in lazy_members(dataset)}
    )


def computed_dataset(results, template: MapDataset, paths, posts) -> MapDataset:
    """``__dask_postcompute__`` of a dataset: every map rebuilt from its computed chunks."""
    parts = zip(results, paths, posts, strict=True)
    maps = {path: finalize(result, *args) for result, path, (finalize, args) in parts}
    return with_members(template, maps)


def persisted_dataset(dsk, template: MapDataset, paths, posts, keys, rename=None) -> MapDataset:
    """``__dask_postpersist__`` of a dataset: every map over its own persisted chunks."""
    maps = {}
    for path, (rebuild, args), map_keys in zip(paths, posts, keys, strict=True):
        own = dsk if rename else {key: dsk[key] for key in flatten(map_keys)}
        maps[path] = rebuild(own, *args, rename=rename)
    return with_members(template, maps)
