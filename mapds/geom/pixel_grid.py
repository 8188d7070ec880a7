"""Per-pixel quantities of a WCS image, computed block by block.

Every function here has a *block* form (pure numpy on the pixel range ``[y0, y1) × [x0, x1)``)
and a *dask* form that maps the block form over a chunked ``(ny, nx)`` image with
:func:`dask.array.map_blocks`, so that a chunk of sky coordinates, pixel solid angles or region
masks is computed only when asked for, and only for its own pixels.  Nothing is computed when the
graphs are built.

`regions` (which imports matplotlib) is imported inside the functions that use it.
"""

from __future__ import annotations

from functools import partial

import dask.array as da
import numpy as np
from astropy.wcs import WCS
from dask.base import tokenize

from .coord import transform_lonlat
from .spherical import pixel_solid_angle

__all__ = [
    "boundary_mask_block",
    "boundary_mask_dask",
    "image_chunks",
    "lonlat_block",
    "lonlat_dask",
    "pixel_regions",
    "region_mask_block",
    "region_mask_dask",
    "region_weights_block",
    "region_weights_dask",
    "solid_angle_block",
    "solid_angle_dask",
]


def image_chunks(chunks, shape: tuple[int, int], dtype=float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Normalise ``chunks`` for a ``(ny, nx)`` image.

    Accepts what dask accepts (int, tuple, ``"auto"``, ``-1``) and xarray-style dicts
    ``{"y": ..., "x": ...}`` (missing dimensions are not split).
    """
    if isinstance(chunks, dict):
        chunks = (chunks.get("y", -1), chunks.get("x", -1))
    return da.core.normalize_chunks(chunks, shape, dtype=dtype)


def _block_range(block_info) -> tuple[int, int, int, int]:
    (y0, y1), (x0, x1) = block_info[None]["array-location"][-2:]
    return y0, y1, x0, x1


def _per_block(block_func, *args, block_info=None, **kwargs):
    """``block_func(*args, y0, y1, x0, x1, **kwargs)`` on the pixel range of the dask block.

    A module-level function (bound with ``functools.partial``), so the tasks pickle.
    """
    return block_func(*args, *_block_range(block_info), **kwargs)


def _wcs_token(wcs: WCS) -> str:
    return wcs.to_header_string()


# -- sky coordinates ----------------------------------------------------------------------------


def lonlat_block(wcs: WCS, y0, y1, x0, x1, offset=0.0, frame=None, new_frame=None) -> np.ndarray:
    """Sky coordinates (deg) of pixels ``[y0, y1) × [x0, x1)``, stacked as ``(2, ny, nx)``.

    ``offset`` shifts the pixel positions (``-0.5`` gives the lower-left pixel corners, i.e. the
    edge grid); with ``new_frame`` the coordinates are transformed from ``frame``.
    """
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(float) + offset
    lon, lat = wcs.wcs_pix2world(xx, yy, 0)
    if new_frame is not None and new_frame != frame:
        return transform_lonlat(lon, lat, frame, new_frame)
    return np.stack([lon, lat])


def lonlat_dask(wcs: WCS, shape, chunks, mode="center", frame=None, new_frame=None):
    """Lazy longitude and latitude images (deg) of the pixel centres (or corners).

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS`
        Celestial WCS of the image.
    shape : (int, int)
        Image shape ``(ny, nx)``.
    chunks : see :func:`image_chunks`
        Chunking of the output ``(ny, nx)`` (``(ny + 1, nx + 1)`` with ``mode="edges"``).
    mode : {"center", "edges"}
        Pixel centres, or the ``(ny + 1) × (nx + 1)`` grid of pixel corners.
    frame, new_frame : str, optional
        Transform the coordinates from the WCS frame ``frame`` to ``new_frame``.

    Returns
    -------
    lon, lat : `dask.array.Array`
        Two views of one chunked ``(2, ny, nx)`` array: one task per chunk computes both.
    """
    offset = -0.5 if mode == "edges" else 0.0
    shape = tuple(n + 1 for n in shape) if mode == "edges" else tuple(shape)
    chunks = image_chunks(chunks, shape)

    block = partial(_per_block, lonlat_block, wcs, offset=offset, frame=frame, new_frame=new_frame)
    name = "lonlat-" + tokenize(_wcs_token(wcs), shape, chunks, offset, frame, new_frame)
    lonlat = da.map_blocks(block, chunks=((2,), *chunks), dtype=float, name=name, meta=np.empty((0, 0, 0)))
    return lonlat[0], lonlat[1]


# -- pixel solid angle --------------------------------------------------------------------------


def solid_angle_block(wcs: WCS, y0, y1, x0, x1) -> np.ndarray:
    """Solid angle (sr) of pixels ``[y0, y1) × [x0, x1)`` from their corner positions."""
    lon, lat = lonlat_block(wcs, y0, y1 + 1, x0, x1 + 1, offset=-0.5)
    return pixel_solid_angle(lon, lat)


def solid_angle_dask(wcs: WCS, shape, chunks) -> da.Array:
    """Lazy ``(ny, nx)`` image of pixel solid angles in sr."""
    chunks = image_chunks(chunks, shape)

    block = partial(_per_block, solid_angle_block, wcs)
    name = "solid-angle-" + tokenize(_wcs_token(wcs), tuple(shape), chunks)
    return da.map_blocks(block, chunks=chunks, dtype=float, name=name, meta=np.empty((0, 0)))


# -- region masks -------------------------------------------------------------------------------


def pixel_regions(regions, wcs: WCS) -> tuple[list, list]:
    """Split regions into pixel-space regions and pixel positions of sky points."""
    from regions import PixelRegion, PointSkyRegion

    extended, points = [], []
    for region in regions:
        if isinstance(region, PointSkyRegion):
            position = tuple(float(p) for p in wcs.world_to_pixel(region.center))
            if np.all(np.isfinite(position)):  # a point outside the projection marks nothing
                points.append(position)
        elif isinstance(region, PixelRegion):
            extended.append(region)
        else:
            extended.append(region.to_pixel(wcs))
    return extended, points


def _window(y0, y1, x0, x1, ymin, ymax, xmin, xmax):
    """Intersection of the block with ``[ymin, ymax) × [xmin, xmax)``, or None when empty."""
    ya, yb, xa, xb = max(y0, ymin), min(y1, ymax), max(x0, xmin), min(x1, xmax)
    return (ya, yb, xa, xb) if ya < yb and xa < xb else None


def region_mask_block(extended, points, y0, y1, x0, x1) -> np.ndarray:
    """Pixels ``[y0, y1) × [x0, x1)`` whose centre is in a region or next to a point.

    ``extended`` are pixel regions (tested at pixel centres); ``points`` are pixel positions,
    each marking the pixels with a non-zero bilinear interpolation weight (closer than one pixel
    along both axes), as gammapy does for point regions.  Only the pixels inside each region's
    bounding box are tested, so a small region costs little on a large block.
    """
    from regions import PixCoord

    out = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    windows = []
    for region in extended:
        bbox = region.bounding_box
        windows.append((region, _window(y0, y1, x0, x1, bbox.iymin, bbox.iymax, bbox.ixmin, bbox.ixmax)))
    for px, py in points:
        window = _window(
            y0, y1, x0, x1, int(np.floor(py)), int(np.floor(py)) + 2, int(np.floor(px)), int(np.floor(px)) + 2
        )
        windows.append(((px, py), window))
    for shape, window in windows:
        if window is None:
            continue
        ya, yb, xa, xb = window
        yy, xx = np.mgrid[ya:yb, xa:xb]
        if isinstance(shape, tuple):
            inside = (np.abs(xx - shape[0]) < 1) & (np.abs(yy - shape[1]) < 1)
        else:
            inside = shape.contains(PixCoord(xx, yy))
        out[ya - y0 : yb - y0, xa - x0 : xb - x0] |= inside
    return out


def region_mask_dask(wcs: WCS, shape, regions, chunks) -> da.Array:
    """Lazy boolean ``(ny, nx)`` mask of the pixel centres inside any of ``regions``."""
    chunks = image_chunks(chunks, shape, dtype=bool)
    extended, points = pixel_regions(regions, wcs)

    block = partial(_per_block, region_mask_block, extended, points)
    name = "region-mask-" + tokenize(_wcs_token(wcs), tuple(shape), [str(r) for r in regions], chunks)
    return da.map_blocks(block, chunks=chunks, dtype=bool, name=name, meta=np.empty((0, 0), dtype=bool))


def region_weights_block(extended, points, factor: int, y0, y1, x0, x1) -> np.ndarray:
    """Fraction of pixels ``[y0, y1) × [x0, x1)`` covered by the regions, from ``factor × factor``
    sub-pixels each (``extended``/``points`` are in the sub-pixel grid)."""
    fine = region_mask_block(extended, points, y0 * factor, y1 * factor, x0 * factor, x1 * factor)
    counts = fine.reshape(y1 - y0, factor, x1 - x0, factor).sum(axis=(1, 3))
    return counts / float(factor * factor)


def region_weights_dask(fine_wcs: WCS, shape, regions, factor: int, chunks) -> da.Array:
    """Lazy ``(ny, nx)`` fraction of each pixel covered by ``regions``.

    ``fine_wcs`` is the WCS of the grid upsampled ``factor`` times; each output pixel is the
    mean of the region mask over its ``factor × factor`` sub-pixels, computed only for the
    sub-pixels of the chunk being built.
    """
    chunks = image_chunks(chunks, shape)
    extended, points = pixel_regions(regions, fine_wcs)

    block = partial(_per_block, region_weights_block, extended, points, factor)
    name = "region-weights-" + tokenize(_wcs_token(fine_wcs), tuple(shape), [str(r) for r in regions], chunks)
    return da.map_blocks(block, chunks=chunks, dtype=float, name=name, meta=np.empty((0, 0)))


def boundary_mask_block(margin: tuple[int, int], shape, y0, y1, x0, x1) -> np.ndarray:
    """Pixels of ``[y0, y1) × [x0, x1)`` at least ``margin`` = ``(x, y)`` pixels from the edges."""
    yy, xx = np.mgrid[y0:y1, x0:x1]
    ny, nx = shape
    return (xx >= margin[0]) & (xx < nx - margin[0]) & (yy >= margin[1]) & (yy < ny - margin[1])


def boundary_mask_dask(margin: tuple[int, int], shape, chunks) -> da.Array:
    """Lazy boolean ``(ny, nx)`` image, False within ``margin`` = ``(x, y)`` pixels of the edges."""
    chunks = image_chunks(chunks, shape, dtype=bool)

    block = partial(_per_block, boundary_mask_block, margin, shape)
    name = "boundary-mask-" + tokenize(tuple(margin), tuple(shape), chunks)
    return da.map_blocks(block, chunks=chunks, dtype=bool, name=name, meta=np.empty((0, 0), dtype=bool))
