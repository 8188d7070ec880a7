"""`MapCoord`: named coordinate arrays (``lon``, ``lat`` and one per non-spatial axis)."""

from __future__ import annotations

import astropy.units as u
import dask.array as da
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = ["MapCoord", "skycoord_to_lonlat", "transform_lonlat"]


def skycoord_to_lonlat(skycoord: SkyCoord, frame: str | None = None):
    """Longitude and latitude in degrees (optionally transformed to ``frame``) and the frame name."""
    if frame:
        skycoord = skycoord.transform_to(frame)
    return skycoord.data.lon.deg, skycoord.data.lat.deg, skycoord.frame.name


def transform_lonlat(lon, lat, frame: str | None, new_frame: str) -> np.ndarray:
    """``lon``/``lat`` (deg) in ``frame`` transformed to ``new_frame``, stacked as ``(2, *shape)``."""
    skycoord = SkyCoord(u.Quantity(lon, "deg"), u.Quantity(lat, "deg"), frame=frame)
    lon, lat, _ = skycoord_to_lonlat(skycoord, frame=new_frame)
    return np.stack([lon, lat])


def _is_dask(value) -> bool:
    return isinstance(value, da.Array)


class MapCoord:
    """Coordinates of points in a map: ``lon``/``lat`` in degrees plus non-spatial axis values.

    Arrays may be numpy arrays, Quantities or dask arrays (as produced by
    ``WcsGeom.get_coord(chunks=...)``); they only need to broadcast together.

    Parameters
    ----------
    data : dict
        Must hold ``lon`` and ``lat``; other keys are non-spatial axis names.
    frame : {"icrs", "galactic", None}
        Sky frame of ``lon``/``lat``; ``None`` means the frame of the geometry they are used with.
    match_by_name : bool
        Whether non-spatial axes are matched to geometry axes by name (dict input) or by
        position (tuple input).
    """

    def __init__(self, data: dict, frame: str | None = None, match_by_name: bool = True):
        if "lon" not in data or "lat" not in data:
            raise ValueError(f"MapCoord data must contain 'lon' and 'lat', got keys {list(data)}")
        self._data = {k: v if _is_dask(v) else np.atleast_1d(v) for k, v in data.items()}
        self._frame = frame
        self._match_by_name = match_by_name

    @classmethod
    def create(cls, data, frame: str | None = None, axis_names=None) -> MapCoord:
        """Coordinates from a MapCoord, a dict (``lon``/``lat`` or ``skycoord`` + axes), a tuple
        ``(lon, lat, *axes)`` or ``(skycoord, *axes)``, or a SkyCoord.

        A SkyCoord is transformed to ``frame`` when given; a MapCoord in another frame too.
        """
        if isinstance(data, cls):
            if data.frame is None or frame == data.frame:
                return data
            return data.to_frame(frame)
        if isinstance(data, SkyCoord):
            data = (data,)
        if isinstance(data, dict):
            if "lon" in data and "lat" in data:
                return cls(dict(data), frame=frame)
            if "skycoord" in data:
                lon, lat, sky_frame = skycoord_to_lonlat(data["skycoord"], frame=frame)
                rest = {k: v for k, v in data.items() if k != "skycoord"}
                return cls({"lon": lon, "lat": lat, **rest}, frame=sky_frame)
            raise ValueError(f"MapCoord dict must contain 'lon' and 'lat' or 'skycoord', got {list(data)}")
        if isinstance(data, (list, tuple)):
            if isinstance(data[0], SkyCoord):
                lon, lat, frame = skycoord_to_lonlat(data[0], frame=frame)
                data = (lon, lat, *data[1:])
            if axis_names is None:
                axis_names = [f"axis{idx}" for idx in range(len(data) - 2)]
            coords = {"lon": data[0], "lat": data[1]}
            coords.update(zip(axis_names, data[2:], strict=False))
            return cls(coords, frame=frame, match_by_name=False)
        raise TypeError(f"Unsupported coordinate type {type(data).__name__}")

    def __getitem__(self, key):
        if isinstance(key, str):
            return self._data[key]
        return list(self._data.values())[key]

    def __setitem__(self, key, value):
        self._data[key] = value

    def __iter__(self):
        return iter(self._data.values())

    def __contains__(self, key) -> bool:
        return key in self._data

    @property
    def lon(self):
        """Longitude in degrees."""
        return self._data["lon"]

    @property
    def lat(self):
        """Latitude in degrees."""
        return self._data["lat"]

    @property
    def theta(self):
        """Co-latitude in radians."""
        return np.pi / 2.0 - u.Quantity(self.lat, "deg").to_value("rad")

    @property
    def phi(self):
        """Longitude in radians."""
        return u.Quantity(self.lon, "deg").to_value("rad")

    @property
    def frame(self) -> str | None:
        """Sky frame of ``lon``/``lat`` (None: the frame of the geometry they are used with)."""
        return self._frame

    @property
    def match_by_name(self) -> bool:
        """Whether axes are matched by name (dict input) rather than position (tuple input)."""
        return self._match_by_name

    @property
    def axis_names(self) -> list[str]:
        """``["lon", "lat", *axes]``."""
        return list(self._data)

    @property
    def ndim(self) -> int:
        """Number of coordinate arrays."""
        return len(self._data)

    @property
    def shape(self) -> tuple[int, ...]:
        """Broadcast shape of the coordinate arrays."""
        return np.broadcast_shapes(*(np.shape(v) for v in self._data.values()))

    @property
    def size(self) -> int:
        """Number of points (product of :attr:`shape`)."""
        return int(np.prod(self.shape))

    @property
    def skycoord(self) -> SkyCoord:
        """The spatial part as a SkyCoord (computes dask arrays)."""
        lon = u.Quantity(np.asarray(self.lon), "deg")
        lat = u.Quantity(np.asarray(self.lat), "deg")
        return SkyCoord(lon, lat, frame=self.frame)

    def to_frame(self, frame: str | None) -> MapCoord:
        """The same points with ``lon``/``lat`` in another frame.

        Quantities stay Quantities; dask arrays are transformed lazily, block by block.
        """
        if frame == self._frame or frame is None:
            return self.copy()
        lon, lat = self.lon, self.lat
        if _is_dask(lon) or _is_dask(lat):
            lon, lat = da.broadcast_arrays(da.asarray(u.Quantity(lon, "deg").value), da.asarray(lat))
            lonlat = da.map_blocks(
                transform_lonlat,
                lon,
                lat,
                self._frame,
                frame,
                new_axis=0,
                chunks=((2,), *lon.chunks),
                dtype=float,
                meta=np.empty((0,) * (lon.ndim + 1)),
            )
            new_lon, new_lat = lonlat[0], lonlat[1]
        else:
            new_lon, new_lat = transform_lonlat(lon, lat, self._frame, frame)
            if isinstance(lon, u.Quantity):
                new_lon = u.Quantity(new_lon, "deg")
            if isinstance(lat, u.Quantity):
                new_lat = u.Quantity(new_lat, "deg")
        return self.__class__({**self._data, "lon": new_lon, "lat": new_lat}, frame, self._match_by_name)

    @property
    def broadcasted(self) -> MapCoord:
        """All arrays broadcast to the common shape."""
        values = np.broadcast_arrays(*self._data.values(), subok=True)
        return self.__class__(dict(zip(self._data, values, strict=True)), self._frame, self._match_by_name)

    def apply_mask(self, mask) -> MapCoord:
        """Points where ``mask`` is True."""
        return self.__class__({k: v[mask] for k, v in self._data.items()}, self._frame, self._match_by_name)

    @property
    def flat(self) -> MapCoord:
        """Broadcast, flattened to the points with finite longitude."""
        coords = self.broadcasted
        return coords.apply_mask(np.isfinite(u.Quantity(coords.lon).value))

    def copy(self) -> MapCoord:
        """Copy (the arrays are shared)."""
        return self.__class__(dict(self._data), self._frame, self._match_by_name)

    def __repr__(self) -> str:
        return f"MapCoord(axes={self.axis_names}, shape={self.shape}, frame={self.frame!r})"
