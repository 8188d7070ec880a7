"""Spherical trigonometry on plain arrays (radians): separations, position angles, pixel areas.

These are the formulas astropy's ``SkyCoord.separation`` (Vincenty) and ``position_angle`` use,
written on numpy arrays so they can run per dask chunk without building SkyCoord objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pixel_solid_angle", "position_angle", "separation"]


def separation(lon1, lat1, lon2, lat2):
    """Great-circle distance (Vincenty formula); all angles in radians."""
    dlon = lon2 - lon1
    sin_dlon, cos_dlon = np.sin(dlon), np.cos(dlon)
    sin_lat1, cos_lat1 = np.sin(lat1), np.cos(lat1)
    sin_lat2, cos_lat2 = np.sin(lat2), np.cos(lat2)
    num1 = cos_lat2 * sin_dlon
    num2 = cos_lat1 * sin_lat2 - sin_lat1 * cos_lat2 * cos_dlon
    denominator = sin_lat1 * sin_lat2 + cos_lat1 * cos_lat2 * cos_dlon
    return np.arctan2(np.hypot(num1, num2), denominator)


def position_angle(lon1, lat1, lon2, lat2):
    """Position angle (east of north) of point 2 as seen from point 1; radians."""
    dlon = lon2 - lon1
    x = np.sin(lat2) * np.cos(lat1) - np.cos(lat2) * np.sin(lat1) * np.cos(dlon)
    y = np.sin(dlon) * np.cos(lat2)
    return np.arctan2(y, x)


def pixel_solid_angle(lon_edges, lat_edges):
    """Solid angle (sr) of each pixel from the sky positions of its corners.

    Parameters
    ----------
    lon_edges, lat_edges : ndarray, shape ``(ny + 1, nx + 1)``
        Longitude and latitude (degrees) of the pixel corners, indexed ``[y, x]``.

    Returns
    -------
    ndarray, shape ``(ny, nx)``
        Each pixel approximated as two planar triangles whose sides are great-circle arcs,
        the approximation gammapy uses (so values agree with gammapy to rounding).
    """
    lon = np.deg2rad(lon_edges)
    lat = np.deg2rad(lat_edges)
    # Corner names follow gammapy's (array index [y, x]).
    a = lon[:-1, :-1], lat[:-1, :-1]
    b = lon[1:, :-1], lat[1:, :-1]
    c = lon[:-1, 1:], lat[:-1, 1:]
    d = lon[1:, 1:], lat[1:, 1:]
    side_ab = separation(*a, *b)
    side_ac = separation(*a, *c)
    side_cd = separation(*c, *d)
    side_bd = separation(*b, *d)
    angle_b = position_angle(*b, *d) - position_angle(*b, *a)
    angle_c = position_angle(*c, *d) - position_angle(*a, *c)
    area = 0.5 * side_ab * side_bd * np.sin(angle_b) + 0.5 * side_cd * side_ac * np.sin(angle_c)
    return np.abs(area)
