"""The maps gammapy's geometry methods return (``energy_mask``, ``region_mask``, ``region_weights``,
``boundary_mask``), built here and registered in :data:`mapds.geom.base.MAP_BUILDERS` so that the
geometry layer never imports the maps layer.
"""

from __future__ import annotations

from collections.abc import Callable

import dask.array as da
import numpy as np

from ..geom.base import MAP_BUILDERS, Geom
from .chunks import normalize_chunks
from .core import Map
from .dataarray import geom_dims

__all__ = ["axis_mask_map", "image_map"]


def image_map(geom: Geom, build_image: Callable, chunks, dtype) -> Map:
    """A map of ``geom`` whose every plane is the lazy image ``build_image(spatial_chunks)``.

    ``chunks`` has the meaning of the Map constructor's (``None``: mapds' default chunking, a
    dict per dimension name, ``"auto"``, explicit chunks of the full data shape); each spatial
    chunk of the image is computed by its own task.
    """
    chunks = normalize_chunks(chunks, geom.data_shape, geom_dims(geom), dtype)
    image = build_image(chunks[-2:])
    return Map.from_geom(geom, data=da.broadcast_to(image, geom.data_shape, chunks=chunks))


def axis_mask_map(geom: Geom, axis_name: str, mask: np.ndarray) -> Map:
    """A boolean map of ``geom``: ``mask`` (one value per bin of ``axis_name``) everywhere."""
    shape = [1] * len(geom.data_shape)
    shape[geom.axes.index_data(axis_name)] = -1
    return Map.from_geom(geom, data=np.broadcast_to(mask.reshape(shape), geom.data_shape))


MAP_BUILDERS.update(image=image_map, axis_mask=axis_mask_map)
