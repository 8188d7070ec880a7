"""Storing large arrays region by region: the same values, one region's chunks after the other's."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from astropy.io import fits
from dask.callbacks import Callback

from mapds.io import region_store
from mapds.io.region_store import spatial_regions, store_by_regions

from .conftest import make_cube


@pytest.mark.parametrize(
    ("chunks", "pixels"),
    [(((3, 3, 2), (4, 4, 4, 1)), 24), (((10,), (5, 5)), 4), (((2, 2), (2, 2, 2)), 1000)],
)
def test_regions_tile_the_chunk_grid_with_whole_chunks(chunks, pixels):
    rows, columns = chunks
    regions = spatial_regions(chunks, pixels)
    covered = np.zeros((sum(rows), sum(columns)), dtype=int)
    row_edges, column_edges = set(np.cumsum((0, *rows))), set(np.cumsum((0, *columns)))
    for ys, xs in regions:
        covered[ys, xs] += 1
        assert {ys.start, ys.stop} <= row_edges and {xs.start, xs.stop} <= column_edges
        single_chunk = ys.stop - ys.start in rows and xs.stop - xs.start in columns
        assert (ys.stop - ys.start) * (xs.stop - xs.start) <= pixels or single_chunk
    assert (covered == 1).all()
    assert regions == sorted(regions, key=lambda r: (r[0].start, r[1].start))  # C order


def test_stored_values_equal_one_store():
    cube = da.random.default_rng(1).random((3, 40, 60), chunks=(3, 10, 15))
    other_chunks = (cube * 2).rechunk((1, 7, 11))  # same shape, other chunks
    table = da.arange(17, chunks=5)  # not an image: stored with the first region
    small = da.ones((2, 5, 5), chunks=(1, 5, 5))  # another spatial shape
    sources = [cube, other_chunks, table, small]
    targets = [np.zeros(s.shape) for s in sources]
    store_by_regions(sources, targets, region_pixels=300)
    for source, target in zip(sources, targets, strict=True):
        np.testing.assert_array_equal(target, source.compute())


def test_regions_are_computed_one_after_the_other():
    computed, lock = [], threading.Lock()

    def block(x, block_info=None):
        with lock:
            computed.append(tuple(block_info[None]["chunk-location"][-2:]))
        return x

    data = da.ones((2, 40, 60), chunks=(2, 10, 15)).map_blocks(block, dtype=float)
    target = np.zeros(data.shape)
    regions = spatial_regions(((10,) * 4, (15,) * 4), 600)
    assert len(regions) == 4  # 20 x 30 pixels each
    with dask.config.set(scheduler="threads", num_workers=2):
        store_by_regions([data], [target], region_pixels=600)
    owner = {
        (i, j): r
        for r, (ys, xs) in enumerate(regions)
        for i in range(ys.start // 10, ys.stop // 10)
        for j in range(xs.start // 15, xs.stop // 15)
    }
    order = [owner[block] for block in computed]
    assert order == sorted(order) and sorted(computed) == sorted(np.ndindex(4, 4))
    np.testing.assert_array_equal(target, 1)


def test_fits_images_are_written_region_by_region(tmp_path, monkeypatch):
    computes = []
    monkeypatch.setattr(region_store, "REGION_PIXELS", 600)
    cube = make_cube(chunks={"y": 10, "x": 15})
    with dask.config.set(scheduler="threads"), Callback(start=lambda dsk: computes.append(1)):
        cube.write(tmp_path / "cube.fits", hdu="COUNTS")
    assert len(computes) == 4
    np.testing.assert_array_equal(fits.getdata(tmp_path / "cube.fits", "COUNTS"), cube.data.compute())
