"""BANDS tables and the header conventions around them (gadf and Fermi-LAT formats).

- Which table describes a map's non-spatial axes: the ``BANDSHDU`` card, else (for 3D images
  and multi-column tables) a Fermi ``EBOUNDS`` or ``ENERGIES`` table.
- Which format that implies: ``fgst-template`` for ``ENERGIES``, ``fgst-ccube`` for
  ``EBOUNDS``, ``gadf`` otherwise.
- Axes from the table, after checking that each axis' values come in increasing order (the
  geometry builder sorts unique values, which would hide a scrambled table).
- ``BUNIT`` and ``META`` cards.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ...errors import AxisError, CorruptFileError, UnitMismatchError
from ...geom import MapAxes
from ...maps.meta import decode_meta

__all__ = [
    "FGST_BANDS",
    "axes_from_bands",
    "bands_hdu_name",
    "bands_table",
    "format_of_bands",
    "meta_from_header",
    "unit_from_header",
]

#: Bands table names of the Fermi-LAT formats.
FGST_BANDS = {"fgst-ccube": "EBOUNDS", "fgst-template": "ENERGIES"}


def bands_hdu_name(header: fits.Header, is_table: bool, n_columns: int, names) -> str | None:
    """Name of the table describing a map's non-spatial axes, if any.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`
        Header of the map HDU.
    is_table : bool
        Whether the map HDU is a table (region or sparse map).
    n_columns : int
        Number of columns of the table (ignored for images).
    names : collection of str
        HDU names present in the file.
    """
    if "BANDSHDU" in header:
        return str(header["BANDSHDU"]).strip()
    if is_table:
        cube = header.get("INDXSCHM", "") in ("EXPLICIT", "IMPLICIT", "") and n_columns > 1
    else:
        cube = header.get("NAXIS") == 3
    if cube:
        for name in FGST_BANDS.values():
            if name in names:
                return name
    return None


def format_of_bands(bands_name: str | None) -> str:
    """Map format implied by the name of the bands table."""
    for fmt, name in FGST_BANDS.items():
        if bands_name is not None and bands_name.upper() == name:
            return fmt
    return "gadf"


def _check_increasing(table: Table, column: str, where: str) -> None:
    values = np.asarray(table[column])
    if values.dtype.kind not in "fiu" or values.ndim != 1:
        return
    _, first = np.unique(values, return_index=True)
    in_file_order = values[np.sort(first)]
    if np.any(np.diff(in_file_order) <= 0):
        raise AxisError(
            f"{where}: column {column!r} is not monotonic: the axis values must increase in the "
            f"order of the table rows, got {in_file_order.tolist()}"
        )


def _check_contiguous(table: Table, low: str, high: str, where: str) -> None:
    """Refuse bins that do not join: each bin's upper edge must be the next bin's lower edge.

    The axis is built from the lower edges and the last upper edge (as gammapy builds it), so a
    table whose bins leave gaps or overlap would silently get other bins than it describes.
    """
    lows, highs = (np.asarray(table[column]) for column in (low, high))
    if lows.dtype.kind not in "fiu" or highs.dtype.kind not in "fiu" or lows.ndim != 1:
        return
    lows = lows[np.sort(np.unique(lows, return_index=True)[1])]
    highs = highs[np.sort(np.unique(highs, return_index=True)[1])]
    if lows.size != highs.size or not np.allclose(lows[1:], highs[:-1], rtol=1e-6, atol=0):
        raise AxisError(
            f"{where}: the bins of columns {low!r}/{high!r} are not contiguous (each {high} must be "
            f"the next {low}): {low} = {lows.tolist()}, {high} = {highs.tolist()}"
        )


def bands_table(hdu, where: str) -> Table:
    """A BANDS table HDU as an astropy Table; a table astropy cannot decode is a corrupt file."""
    try:
        return Table.read(hdu)
    except (fits.VerifyError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{where}: the table cannot be decoded: {exc}") from exc


def meta_from_header(header: fits.Header, where: str) -> dict:
    """Map metadata from the ``META`` card (JSON, as gammapy writes it).

    Raises
    ------
    CorruptFileError
        The card does not hold a JSON object.
    """
    text = header.get("META")
    try:
        meta = decode_meta(text)
    except (ValueError, TypeError) as exc:  # json's JSONDecodeError is a ValueError
        raise CorruptFileError(f"{where}: META = {text!r:.80} is not JSON metadata ({exc})") from exc
    if not isinstance(meta, dict):
        raise CorruptFileError(f"{where}: META = {text!r:.80} must hold a JSON object")
    return meta


def axes_from_bands(table: Table, format: str, where: str) -> MapAxes:
    """Non-spatial axes described by a BANDS (or Fermi energy) table.

    Parameters
    ----------
    table : `~astropy.table.Table`
        The bands table, its header cards in ``table.meta``.
    format : {"gadf", "fgst-ccube", "fgst-template"}
        Convention of the table.
    where : str
        File and HDU, for error messages.

    Raises
    ------
    AxisError
        A column is missing, an axis' values do not increase, or its bins do not join.
    """
    if format == "gadf":
        for idx in range(1, 6):
            axcols = table.meta.get(f"AXCOLS{idx}")
            if axcols is None:
                break
            for column in str(axcols).split(","):
                if column not in table.colnames:
                    raise AxisError(
                        f"{where}: AXCOLS{idx} = {axcols!r} names column {column!r}, which the table "
                        f"lacks (columns: {table.colnames})"
                    )
                _check_increasing(table, column, where)
            columns = str(axcols).split(",")
            if len(columns) == 2:
                _check_contiguous(table, columns[0], columns[1], where)
    else:
        for column in ("E_MIN", "E_MAX", "ENERGY", "Energy", "energy"):
            if column in table.colnames:
                _check_increasing(table, column, where)
    try:
        return MapAxes.from_table(table, format=format)
    except AxisError as exc:
        raise AxisError(f"{where}: {exc}") from exc
    except (KeyError, StopIteration) as exc:
        raise AxisError(f"{where}: the table does not describe {format} axes: {exc}") from exc


def unit_from_header(header: fits.Header, where: str) -> u.Unit:
    """Unit of a map from ``BUNIT``, without ``ph``/``ct`` (gammapy's standardisation).

    Raises
    ------
    UnitMismatchError
        ``BUNIT`` is not a unit astropy understands.
    """
    text = header.get("BUNIT", "")
    try:
        unit = u.Unit(text)
    except (ValueError, TypeError) as exc:
        raise UnitMismatchError(f"{where}: BUNIT = {text!r} is not a known unit ({exc})") from exc
    keep = [(b, p) for b, p in zip(unit.bases, unit.powers, strict=True) if str(b) not in ("ph", "ct")]
    return u.CompositeUnit(unit.scale, [b for b, _ in keep], [p for _, p in keep])
