"""`GTI`: good time intervals, as gammapy's ``gammapy.data.GTI`` (same table, same FITS ``GTI`` HDU).

Intervals are held as astropy `~astropy.time.Time` start/stop columns; in files they are seconds
relative to a reference time given by the ``MJDREFI``/``MJDREFF``/``TIMESYS`` header cards.
"""

from __future__ import annotations

import copy as _copy

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.time import Time

from ..errors import CorruptFileError, MissingHDUError

__all__ = ["GTI"]

#: Reference time used when none is given (gammapy's ``TIME_REF_DEFAULT``: 2000-01-01, TT).
DEFAULT_REFERENCE_TIME = Time("2000-01-01 00:00:00", scale="tt")


def _reference_from_header(header) -> Time:
    """Reference time from ``MJDREFI``/``MJDREFF`` (or ``MJDREF``) and ``TIMESYS`` (default TT)."""
    scale = str(header.get("TIMESYS", "tt")).lower()
    if "MJDREFI" in header:
        return Time(header["MJDREFI"], header.get("MJDREFF", 0.0), format="mjd", scale=scale)
    if "MJDREF" in header:
        return Time(header["MJDREF"], format="mjd", scale=scale)
    return DEFAULT_REFERENCE_TIME.copy()


def _reference_to_header(time_ref: Time) -> dict:
    mjd_int = int(np.floor(time_ref.mjd))
    return {
        "MJDREFI": mjd_int,
        "MJDREFF": float(time_ref.jd1 - 2400000.5 - mjd_int + time_ref.jd2),
        "TIMESYS": time_ref.scale,
    }


class GTI:
    """Good time intervals.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Table with ``START`` and ``STOP`` columns, either `~astropy.time.Time` or seconds (Quantity)
        relative to ``reference_time``.
    reference_time : `~astropy.time.Time`, optional
        Reference of the relative times (default 2000-01-01, TT).
    """

    def __init__(self, table: Table, reference_time=None):
        self._time_ref = Time(reference_time) if reference_time is not None else DEFAULT_REFERENCE_TIME.copy()
        table = Table(table, copy=True)
        for name in ("START", "STOP"):
            if name not in table.colnames:
                raise CorruptFileError(f"GTI table needs a {name!r} column, got {table.colnames}")
            if not isinstance(table[name], Time):
                table[name] = self._time_ref + u.Quantity(table[name], "s")
        self._table = table

    @classmethod
    def create(cls, start, stop, reference_time=None) -> GTI:
        """GTI from start and stop times (Quantities relative to ``reference_time``, or `Time`)."""
        time_ref = Time(reference_time) if reference_time is not None else DEFAULT_REFERENCE_TIME.copy()
        table = Table()
        for name, value in (("START", start), ("STOP", stop)):
            table[name] = value if isinstance(value, Time) else time_ref + u.Quantity(value, "s")
        return cls(table, reference_time=time_ref)

    @classmethod
    def from_time_intervals(cls, time_intervals, reference_time=None) -> GTI:
        """GTI from a list of ``(start, stop)`` `Time` pairs."""
        start = Time([interval[0] for interval in time_intervals])
        stop = Time([interval[1] for interval in time_intervals])
        return cls.create(start, stop, reference_time=reference_time)

    @classmethod
    def from_stack(cls, gtis, **kwargs) -> GTI:
        """Concatenate several GTIs (the reference time of the first is kept)."""
        stacked = gtis[0].copy()
        for gti in gtis[1:]:
            stacked.stack(gti)
        return stacked

    # -- properties -----------------------------------------------------------------------------

    @property
    def table(self) -> Table:
        """The intervals: ``START`` and ``STOP`` `Time` columns."""
        return self._table

    @property
    def time_ref(self) -> Time:
        """Reference time of the relative (MET) times."""
        return self._time_ref

    @property
    def time_start(self) -> Time:
        return self._table["START"]

    @property
    def time_stop(self) -> Time:
        return self._table["STOP"]

    @property
    def met_start(self) -> u.Quantity:
        """Start times in seconds since :attr:`time_ref`."""
        return (self.time_start - self._time_ref).to("s")

    @property
    def met_stop(self) -> u.Quantity:
        """Stop times in seconds since :attr:`time_ref`."""
        return (self.time_stop - self._time_ref).to("s")

    @property
    def time_delta(self) -> u.Quantity:
        """Length of each interval."""
        return (self.time_stop - self.time_start).to("s")

    @property
    def time_sum(self) -> u.Quantity:
        """Total length of the intervals (0 s for an empty GTI)."""
        return self.time_delta.sum() if len(self._table) else u.Quantity(0.0, "s")

    @property
    def time_intervals(self) -> list[tuple[Time, Time]]:
        """``(start, stop)`` pairs."""
        return list(zip(self.time_start, self.time_stop, strict=True))

    def __len__(self) -> int:
        return len(self._table)

    def copy(self) -> GTI:
        return _copy.deepcopy(self)

    # -- combination ----------------------------------------------------------------------------

    def stack(self, other: GTI) -> None:
        """Append the intervals of ``other`` (in place); times keep their absolute values."""
        if len(other) == 0:
            return
        if len(self) == 0:
            self._table = other.table.copy()
            return
        self._table = vstack([self._table, other.table], metadata_conflicts="silent")

    def union(self, overlap_ok: bool = True, merge_equal: bool = True) -> GTI:
        """Sorted intervals with overlapping (and, with ``merge_equal``, touching) ones merged.

        Unlike gammapy 2.1, an empty GTI gives an empty GTI instead of an IndexError.
        """
        if len(self) == 0:
            return self.copy()
        met_start, met_stop = self.met_start.value, self.met_stop.value
        order = np.argsort(met_start, kind="stable")
        merged = [[met_start[order[0]], met_stop[order[0]]]]
        for idx in order[1:]:
            start, stop = met_start[idx], met_stop[idx]
            overlaps = start < merged[-1][1] or (merge_equal and start == merged[-1][1])
            if overlaps:
                if not overlap_ok and start < merged[-1][1]:
                    raise ValueError("GTI intervals overlap and overlap_ok=False")
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        merged = np.array(merged)
        return self.create(merged[:, 0] * u.s, merged[:, 1] * u.s, reference_time=self._time_ref)

    def select_time(self, time_interval, inverted: bool = False) -> GTI:
        """The parts of the intervals inside ``[time_interval[0], time_interval[1]]``."""
        start, stop = (Time(t) for t in time_interval)
        if inverted:
            before = self.select_time((self.time_start.min(), start)) if len(self) else self.copy()
            after = self.select_time((stop, self.time_stop.max())) if len(self) else self.copy()
            before.stack(after)
            return before
        keep = (self.time_stop > start) & (self.time_start < stop)
        table = self._table[keep]
        table["START"] = Time(np.maximum(table["START"].mjd, start.mjd), format="mjd", scale=start.scale)
        table["STOP"] = Time(np.minimum(table["STOP"].mjd, stop.mjd), format="mjd", scale=stop.scale)
        return self.__class__(table, reference_time=self._time_ref)

    def delete_interval(self, time_interval) -> GTI:
        """The intervals with ``time_interval`` removed."""
        return self.select_time(time_interval, inverted=True)

    # -- FITS -----------------------------------------------------------------------------------

    def to_table_hdu(self, format: str = "gadf") -> fits.BinTableHDU:
        """The ``GTI`` binary table: ``START``/``STOP`` in seconds plus the reference-time cards."""
        if format != "gadf":
            raise ValueError(f"Unsupported GTI format {format!r}, expected 'gadf'")
        table = Table()
        table["START"] = u.Quantity(self.met_start.value if len(self) else [], "s")
        table["STOP"] = u.Quantity(self.met_stop.value if len(self) else [], "s")
        hdu = fits.BinTableHDU(table, name="GTI")
        hdu.header.update(_reference_to_header(self._time_ref))
        return hdu

    @classmethod
    def from_table_hdu(cls, table_hdu, format: str = "gadf") -> GTI:
        """GTI from a ``GTI`` binary table HDU (or a Table with the reference-time cards in meta)."""
        if format != "gadf":
            raise ValueError(f"Unsupported GTI format {format!r}, expected 'gadf'")
        table = Table.read(table_hdu) if isinstance(table_hdu, fits.BinTableHDU) else Table(table_hdu)
        time_ref = _reference_from_header(table.meta)
        unit = table.meta.get("TIMEUNIT", "s")
        for name in ("START", "STOP"):
            if name in table.colnames and table[name].unit is None:
                table[name].unit = unit
        return cls(table, reference_time=time_ref)

    @classmethod
    def read(cls, filename, hdu: str = "GTI", format: str = "gadf", checksum: bool = False) -> GTI:
        """Read the ``GTI`` HDU of a FITS file."""
        with fits.open(filename, checksum=checksum) as hdulist:
            if hdu not in hdulist:
                names = [h.name for h in hdulist]
                raise MissingHDUError(f"{filename}: no HDU {hdu!r}; the file has {names}")
            return cls.from_table_hdu(hdulist[hdu], format=format)

    def write(self, filename, **kwargs) -> None:
        """Write the ``GTI`` HDU as a FITS file."""
        fits.HDUList([fits.PrimaryHDU(), self.to_table_hdu()]).writeto(filename, **kwargs)

    def __repr__(self) -> str:
        return f"GTI(n_intervals={len(self)}, time_sum={self.time_sum:.1f}, time_ref={self._time_ref.iso})"
