"""`MapCoord` against gammapy 2.1, and its lazy frame transformation."""

from __future__ import annotations

import astropy.units as u
import dask.array as da
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from mapds.geom import MapCoord

SKY = SkyCoord([1.0, 2.0, 150.0], [3.0, 4.0, -60.0], unit="deg", frame="galactic")

CREATE_CASES = {
    "dict-quantities": (dict(lon=[1, 2] * u.deg, lat=[3, 4] * u.deg, energy=[1] * u.TeV), {"frame": "icrs"}),
    "dict-skycoord": (dict(skycoord=SKY, energy=[[1], [2]] * u.TeV), {"frame": "icrs"}),
    "tuple-arrays": ((np.array([1.0, 2]), np.array([3.0, 4]), [5, 6]), {"axis_names": ["energy"]}),
    "tuple-skycoord": ((SKY, [1, 2, 3] * u.TeV), {"axis_names": ["energy"]}),
    "skycoord": (SKY, {}),
    "skycoord-to-icrs": (SKY, {"frame": "icrs"}),
    "scalars": ((1.0, 2.0), {}),
}


@pytest.mark.parametrize("case", CREATE_CASES.values(), ids=CREATE_CASES.keys())
def test_create_and_transform_match_gammapy(ref, same, case):
    data, kwargs = case
    ours = MapCoord.create(data, **kwargs)
    theirs = ref.maps.MapCoord.create(data, **kwargs)
    assert ours.axis_names == theirs.axis_names
    assert (ours.frame, ours.match_by_name, ours.ndim, ours.shape) == (
        theirs.frame,
        theirs.match_by_name,
        theirs.ndim,
        theirs.shape,
    )
    assert ours.size == theirs.size
    same(list(ours), list(theirs))
    same(ours.theta, theirs.theta)
    same(ours.phi, theirs.phi)
    same(list(ours.broadcasted), list(theirs.broadcasted))
    same(list(ours.flat), list(theirs.flat))
    if ours.frame is not None:
        for frame in ("icrs", "galactic"):
            same(list(ours.to_frame(frame)), list(theirs.to_frame(frame)), path=frame)


def test_lazy_frame_transformation_equals_eager():
    lon = np.linspace(0, 359, 60).reshape(6, 10)
    lat = np.linspace(-80, 80, 60).reshape(6, 10)
    eager = MapCoord({"lon": lon, "lat": lat}, frame="galactic").to_frame("icrs")
    lazy = MapCoord(
        {"lon": da.from_array(lon, chunks=(2, 5)), "lat": da.from_array(lat, chunks=(2, 5))}, frame="galactic"
    )
    transformed = lazy.to_frame("icrs")
    assert isinstance(transformed.lon, da.Array) and transformed.lon.chunks == ((2, 2, 2), (5, 5))
    np.testing.assert_allclose(transformed.lon.compute(), eager.lon, rtol=1e-12)
    np.testing.assert_allclose(transformed.lat.compute(), eager.lat, rtol=1e-12)
    assert transformed.frame == "icrs"


def test_bad_input_raises():
    with pytest.raises(ValueError, match="'lon' and 'lat'"):
        MapCoord({"lon": [1.0]})
    with pytest.raises(ValueError, match="'skycoord'"):
        MapCoord.create({"energy": [1.0]})
    with pytest.raises(TypeError, match="int"):
        MapCoord.create(5)
