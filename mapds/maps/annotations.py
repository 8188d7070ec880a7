"""dask annotations put on a graph after it was built (what ``dask.annotate`` does while building)."""

from __future__ import annotations

import copy

import dask.array as da
from dask.array.utils import meta_from_array
from dask.highlevelgraph import HighLevelGraph

__all__ = ["annotated"]


def annotated(array: da.Array, annotations: dict) -> da.Array:
    """``array`` with ``annotations`` on every layer of its graph (added to those it has).

    The layers are shallow copies: ``array`` and its graph are left as they are, and the result
    has the same name, chunks and values.  dask fuses blockwise layers only when their annotations
    agree, so this decides which layers may fuse (reading a chunk into the task that uses it).
    """
    layers = {}
    for name, layer in array.dask.layers.items():
        layer = copy.copy(layer)
        layer.annotations = {**(layer.annotations or {}), **annotations}
        layers[name] = layer
    graph = HighLevelGraph(layers, array.dask.dependencies)
    return da.Array(graph, array.name, array.chunks, meta=meta_from_array(array))
