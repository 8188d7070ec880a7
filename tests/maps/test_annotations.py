"""Annotations put on a graph after it was built (mapds.maps.annotations)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

from mapds.datasets import MapDataset
from mapds.maps.annotations import annotated
from mapds.testing import dataset_pair


def test_annotated_marks_every_layer_and_leaves_the_input_alone():
    with dask.annotate(kept=1):
        base = da.arange(12, chunks=4)
    array = base * 2 + 1
    out = annotated(array, {"step": 3})
    assert out.name == array.name and out.chunks == array.chunks
    assert set(out.dask.layers) == set(array.dask.layers)
    for name, layer in out.dask.layers.items():
        assert layer.annotations["step"] == 3
        assert "step" not in (array.dask.layers[name].annotations or {})
    assert out.dask.layers[base.name].annotations == {"kept": 1, "step": 3}
    np.testing.assert_array_equal(out.compute(), array.compute())


def test_map_with_annotations_keeps_the_storage_window(tmp_path):
    dataset = dataset_pair(seed=1)[1]
    dataset.write(tmp_path / "dataset.zarr", format="zarr")
    counts = MapDataset.read(tmp_path / "dataset.zarr", format="zarr").counts
    out = counts.with_annotations(step=1)
    assert out.data.name == counts.data.name
    assert all(layer.annotations["step"] == 1 for layer in out.data.dask.layers.values())
    np.testing.assert_array_equal(np.asarray(out), np.asarray(counts))
    # whole-number counts are stored as integers: the stored-dtype view is still reachable
    assert out.as_stored_dtype().dtype.kind == counts.as_stored_dtype().dtype.kind == "u"
