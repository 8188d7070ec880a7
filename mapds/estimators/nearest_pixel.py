"""The pixel of an image nearest to a sky position, without the separation image of a survey.

gammapy takes the first minimum, in C order, of the separation of every pixel centre from the
position.  For a survey that image alone takes gigabytes (and its SkyCoord temporaries several
times that), so the search looks first at the few pixels around the one containing the position,
and only where that is not conclusive (a position outside the map, a minimum at the window's
edge, or only some pixels allowed) at every pixel, block by block.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
from astropy.coordinates import angular_separation

__all__ = ["nearest_pixel"]

#: Half-width (pixels) of the window around the pixel containing the position.
WINDOW = 2
#: Chunks (pixels a side) of the block-by-block search.
SEARCH_CHUNKS = 1024


def _separation(lon, lat, position) -> np.ndarray:
    """Separations (deg) of ``lon``/``lat`` (deg) from ``position`` (in their frame), as
    ``SkyCoord.separation`` computes them."""
    return np.degrees(angular_separation(np.radians(lon), np.radians(lat), *position))


def _window(image, position) -> tuple[int, int] | None:
    """The nearest pixel if it is inside the window around the pixel containing ``position``
    (and not on the window's edge), else None."""
    ny, nx = image.data_shape[-2:]
    x, y = (float(p) for p in image.wcs.wcs_world2pix(*np.degrees(position), 0))
    if not (np.isfinite(x) and np.isfinite(y)):
        return None
    ix, iy = round(x), round(y)
    rows = np.arange(max(iy - WINDOW, 0), min(iy + WINDOW + 1, ny))
    cols = np.arange(max(ix - WINDOW, 0), min(ix + WINDOW + 1, nx))
    if rows.size < 2 * WINDOW + 1 or cols.size < 2 * WINDOW + 1:
        return None  # the map's edge: the window may not hold the minimum
    xx, yy = np.meshgrid(cols, rows)
    lon, lat = image.wcs.wcs_pix2world(xx, yy, 0)
    separation = _separation(lon, lat, position)
    iy_w, ix_w = np.unravel_index(np.argmin(separation), separation.shape)
    if iy_w in (0, rows.size - 1) or ix_w in (0, cols.size - 1):
        return None
    return int(rows[iy_w]), int(cols[ix_w])


def nearest_pixel(image, position, valid=None) -> tuple[int, int] | None:
    """``(iy, ix)`` of the pixel of ``image`` (a WCS geometry) whose centre is nearest to
    ``position``, the first in C order among equals; only among the ``valid`` pixels (a boolean
    dask or numpy image) if given (None if there is none).

    Parameters
    ----------
    image : `~mapds.geom.WcsGeom`
        The image geometry.
    position : `~astropy.coordinates.SkyCoord`
        The position.
    valid : array, optional
        The pixels allowed.
    """
    frame_position = position.transform_to(image.frame)
    lonlat = (frame_position.spherical.lon.rad, frame_position.spherical.lat.rad)
    if valid is None:
        found = _window(image, lonlat)
        if found is not None:
            return found
    coord = image.get_coord(chunks=SEARCH_CHUNKS)
    lon, lat = coord["lon"], coord["lat"]
    separation = da.map_blocks(_separation, lon, lat, lonlat, dtype=np.float64)
    if valid is not None:
        valid = da.asarray(valid).rechunk(separation.chunks)
        separation = da.where(valid, separation, np.inf)
    least = float(dask.compute(separation.min())[0])
    if not np.isfinite(least):
        return None
    at = np.asarray(dask.compute(da.argwhere(separation == least))[0])
    first = at[np.lexsort((at[:, 1], at[:, 0]))[0]]  # C order: row, then column
    return int(first[0]), int(first[1])
