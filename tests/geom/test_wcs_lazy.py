"""Per-chunk sky coordinates, solid angles and masks of a 36000 × 2800 geometry.

Building the lazy arrays must compute nothing (no dask computation, no large allocation); computing
one chunk must run only that chunk's task and allocate only that chunk's memory, and give the eager
result (mapds and gammapy) of the geometry made of that chunk's pixels.  The full arrays would take
~800 MB each: they are never computed here.
"""

from __future__ import annotations

import tracemalloc

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion

from mapds.geom import MapAxis, WcsGeom

SHAPE = (2800, 36000)  # (ny, nx): the Galactic plane, |b| < 14°, at 0.01°
CHUNKS = (350, 500)
MAP_CHUNKS = {"y": CHUNKS[0], "x": CHUNKS[1]}  # masks are Maps: chunks per dimension name
BLOCK = (2, 41)  # block index (y, x): pixels y 700-1050, x 20500-21000
# One chunk of sky coordinates transformed to ICRS takes ~25 MB of astropy temporaries; a full
# array takes 800 MB before any transform.
MEMORY_LIMIT = 100 * 2**20


@pytest.fixture(scope="module")
def big_geom():
    energy = MapAxis.from_energy_bounds("1 TeV", "100 TeV", 4)
    return WcsGeom.create(npix=SHAPE[::-1], binsz=0.01, frame="galactic", proj="CAR", axes=[energy])


def block_geom(geom: WcsGeom) -> WcsGeom:
    """The geometry of the pixels of chunk ``BLOCK`` (same WCS, reference pixel shifted)."""
    y0, x0 = BLOCK[0] * CHUNKS[0], BLOCK[1] * CHUNKS[1]
    wcs = geom.wcs.deepcopy()
    wcs.wcs.crpix -= (x0, y0)
    return WcsGeom(wcs, npix=CHUNKS[::-1])


class PeakMemory:
    """Peak of traced Python/numpy allocations inside a ``with`` block, in bytes."""

    def __enter__(self):
        tracemalloc.start()
        return self

    def __exit__(self, *exc):
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def block_region(geom: WcsGeom) -> CircleSkyRegion:
    """A 0.4° circle centred in chunk ``BLOCK``."""
    y, x = ((b + 0.5) * c for b, c in zip(BLOCK, CHUNKS, strict=True))
    return CircleSkyRegion(SkyCoord.from_pixel(x, y, geom.wcs), 0.4 * u.deg)


def lazy_arrays(geom):
    """Every per-pixel array the geometry can build lazily, by name."""
    coords = geom.get_coord(chunks=CHUNKS)
    icrs = geom.get_coord(chunks=CHUNKS, frame="icrs")
    edges = geom.get_coord(chunks=CHUNKS, mode="edges")
    region = block_region(geom)
    return {
        "lon": coords.lon,
        "lat": coords.lat,
        "lon-icrs": icrs.lon,
        "lat-icrs": icrs.lat,
        "lon-edges": edges.lon,
        "solid-angle": geom.solid_angle(chunks=CHUNKS),
        "region-mask": geom.region_mask(region, chunks=MAP_CHUNKS).data,
        "region-weights": geom.region_weights(region, oversampling_factor=4, chunks=MAP_CHUNKS).data,
        "boundary-mask": geom.boundary_mask(1 * u.deg, chunks=MAP_CHUNKS).data,
    }


def test_building_computes_nothing(big_geom, raise_if_dask_computes):
    with raise_if_dask_computes():
        arrays = lazy_arrays(big_geom)
        with PeakMemory() as memory:  # a second build, once the imports are done
            lazy_arrays(big_geom)
    assert memory.peak < 16 * 2**20  # graphs and metadata only
    for name, array in arrays.items():
        expected = (SHAPE[0] + 1, SHAPE[1] + 1) if name == "lon-edges" else SHAPE
        assert array.shape[-2:] == expected, name
        assert array.chunks[-2][0] == CHUNKS[0] and array.chunks[-1][0] == CHUNKS[1], name
    # By default masks follow mapds' map chunking: spatial tiles holding every energy bin.
    with raise_if_dask_computes():
        mask = big_geom.region_mask(block_region(big_geom)).data
    assert mask.chunks[0] == (4,) and mask.npartitions > 1
    assert 4 * max(mask.chunks[-2]) * max(mask.chunks[-1]) <= 64 * 2**20


def test_one_chunk_computes_only_its_block(big_geom, task_counter, ref, same):
    arrays = lazy_arrays(big_geom)
    small = block_geom(big_geom)
    theirs = ref.maps.WcsGeom(small.wcs.deepcopy(), npix=small.npix)
    region = block_region(big_geom)
    expected = {
        "lon": (small.get_coord().lon, theirs.get_coord().lon),
        "lat": (small.get_coord().lat, theirs.get_coord().lat),
        "lon-icrs": (small.get_coord(frame="icrs").lon, theirs.get_coord(frame="icrs").lon),
        "lat-icrs": (small.get_coord(frame="icrs").lat, theirs.get_coord(frame="icrs").lat),
        "solid-angle": (small.solid_angle(), theirs.solid_angle()),
        "region-mask": (None, theirs.region_mask(region).data),
        "region-weights": (None, theirs.region_weights(region, oversampling_factor=4).data),
    }
    for name, array in arrays.items():
        if array.ndim == 3:  # masks broadcast over the energy axis: any plane
            array = array[2]
        with PeakMemory() as memory:
            block = np.asarray(array.blocks[BLOCK].compute())
        # The culled graph holds the chunk's own task (and its selection), not its neighbours'.
        assert task_counter.tasks[-1] <= 3, (name, task_counter.tasks[-1])
        assert memory.peak < MEMORY_LIMIT, (name, memory.peak)
        if name in expected:
            ours_eager, gammapy_eager = expected[name]
            if ours_eager is not None:
                same(block, np.asarray(u.Quantity(ours_eager).value), rtol=1e-12, path=name)
            same(block, np.asarray(u.Quantity(gammapy_eager).value).reshape(block.shape), path=name)
    assert arrays["region-mask"][2].blocks[BLOCK].compute().any()  # the region lies in this chunk
    edge_block = np.asarray(arrays["lon-edges"].blocks[BLOCK].compute())
    same(edge_block, small.get_coord(mode="edges").lon.value[: CHUNKS[0], : CHUNKS[1]], path="lon-edges")
    boundary = np.asarray(arrays["boundary-mask"][0].blocks[0, 0].compute())
    assert not boundary[:100].any() and boundary[100:, 100:].all()  # 1° = 100 pixels from the edge


@pytest.mark.parametrize("chunks", [(3, 4), {"y": 5}, "auto", -1])
def test_chunked_results_equal_eager_results_on_a_small_geometry(ref, same, chunks):
    geom = WcsGeom.create(skydir=(266.4, -28.9), npix=(13, 11), binsz=0.4, frame="icrs", proj="AIT")
    theirs = ref.wcs_create(skydir=(266.4, -28.9), npix=(13, 11), binsz=0.4, frame="icrs", proj="AIT")
    for kwargs in ({}, {"mode": "edges"}, {"frame": "galactic"}):
        coords = geom.get_coord(chunks=chunks, **kwargs)
        expected = theirs.get_coord(**kwargs)
        same(coords.lon.compute(), expected.lon.value, path=f"lon {kwargs}")
        same(coords.lat.compute(), expected.lat.value, path=f"lat {kwargs}")
        assert coords.frame == expected.frame
    same(geom.solid_angle(chunks=chunks).compute(), theirs.solid_angle().value)
