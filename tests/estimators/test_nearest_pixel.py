"""The nearest pixel to a position: gammapy's choice (first minimum of the separation image)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.estimators import nearest_pixel as module
from mapds.geom import WcsGeom


def _brute_force(image, position, valid=None):
    separation = image.get_coord().skycoord.separation(position).deg
    if valid is not None:
        separation = np.where(valid, separation, np.inf)
    return np.unravel_index(np.argmin(separation), separation.shape)


@pytest.mark.parametrize(
    ("lon", "lat", "frame"),
    [(0.3, 0.2, "galactic"), (-1.9, -0.7, "galactic"), (5.0, 3.0, "galactic"), (266.4, -28.9, "icrs")],
)
@pytest.mark.parametrize("with_valid", [False, True])
def test_nearest_pixel_is_gammapys(lon, lat, frame, with_valid, monkeypatch):
    """Inside the map, at its edge, outside it, in another frame; among valid pixels."""
    monkeypatch.setattr(module, "SEARCH_CHUNKS", 16)  # several blocks
    image = WcsGeom.create(npix=(60, 30), binsz=0.07, frame="galactic", proj="CAR", skydir=(0, 0))
    position = SkyCoord(lon, lat, unit="deg", frame=frame)
    valid = None
    if with_valid:
        valid = np.ones((30, 60), dtype=bool)
        iy, ix = _brute_force(image, position)
        valid[max(iy - 3, 0) : iy + 4, max(ix - 3, 0) : ix + 4] = False
    assert module.nearest_pixel(image, position, valid=valid) == tuple(_brute_force(image, position, valid))


def test_no_valid_pixel():
    image = WcsGeom.create(npix=(8, 6), binsz=0.1, frame="galactic", skydir=(0, 0))
    position = SkyCoord(0, 0, unit="deg", frame="galactic")
    assert module.nearest_pixel(image, position, valid=np.zeros((6, 8), dtype=bool)) is None
