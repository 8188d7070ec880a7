"""Table and header forms of a single axis, as gammapy writes and reads them.

- OGIP ``EBOUNDS`` (``CHANNEL``, ``E_MIN``, ``E_MAX`` + the OGIP cards) and ARF ``SPECRESP``
  columns (``ENERG_LO``, ``ENERG_HI``);
- DL3 IRF columns (``<PREFIX>_LO``/``<PREFIX>_HI`` array cells in one row);
- Fermi ``gtpsf`` (``Energy``/``Theta``) and ``ENERGIES`` tables;
- the gadf ``AXCOLSn``/``INTERPn`` cards naming an axis' columns in a BANDS table.

Functions here only need an axis' public attributes (duck typing); reading returns the arguments
of the :class:`~mapds.geom.MapAxis` constructor.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..errors import AxisError, InvalidArgumentError

__all__ = [
    "DL3_AXES",
    "GADF_HEADER_FORMATS",
    "OGIP_HEADER_FORMATS",
    "axis_arguments_from_table",
    "axis_header",
    "axis_table",
    "edges_from_lo_hi",
    "gadf_colnames",
]

#: Column prefixes of DL3 IRF tables (``<PREFIX>_LO``/``<PREFIX>_HI``) and the axis each describes.
DL3_AXES = {
    "THETA": ("offset", "lin"),
    "ENERG": ("energy_true", "log"),
    "ETRUE": ("energy_true", "log"),
    "RAD": ("rad", "lin"),
    "DETX": ("fov_lon", "lin"),
    "DETY": ("fov_lat", "lin"),
    "MIGRA": ("migra", "lin"),
}

#: Table formats whose header carries the gadf ``AXCOLSn``/``INTERPn`` cards.
GADF_HEADER_FORMATS = ("gadf", "fgst-ccube", "fgst-template")
OGIP_HEADER_FORMATS = ("ogip", "ogip-sherpa")

#: Header of an OGIP ``EBOUNDS`` extension (``None``: the number of channels).
OGIP_EBOUNDS_CARDS = (
    ("EXTNAME", "EBOUNDS", "Name of this binary table extension"),
    ("TELESCOP", "DUMMY", "Mission/satellite name"),
    ("INSTRUME", "DUMMY", "Instrument/detector"),
    ("FILTER", "None", "Filter information"),
    ("CHANTYPE", "PHA", "Type of channels (PHA, PI etc)"),
    ("DETCHANS", None, "Total number of detector PHA channels"),
    ("HDUCLASS", "OGIP", "Organisation devising file format"),
    ("HDUCLAS1", "RESPONSE", "File relates to response of instrument"),
    ("HDUCLAS2", "EBOUNDS", "This is an EBOUNDS extension"),
    ("HDUVERS", "1.2.0", "Version of file format"),
)


def edges_from_lo_hi(edges_lo: u.Quantity, edges_hi: u.Quantity) -> u.Quantity:
    """Contiguous edges from lower and upper bin bounds (lower bounds + last upper bound)."""
    edges_lo = u.Quantity(edges_lo, ndmin=1)
    edges_hi = u.Quantity(edges_hi, ndmin=1)
    return np.append(edges_lo.value, edges_hi.to_value(edges_lo.unit)[-1]) * edges_lo.unit


def gadf_colnames(axis) -> list[str]:
    """BANDS columns an axis is read from: ``E_MIN,E_MAX`` / ``ENERGY`` for ``energy``,
    ``<NAME>_MIN,<NAME>_MAX`` for other edges axes, ``<NAME>`` for centre axes."""
    name = axis.name.upper()
    if axis.name == "energy":
        return ["E_MIN", "E_MAX"] if axis.node_type == "edges" else ["ENERGY"]
    return [f"{name}_MIN", f"{name}_MAX"] if axis.node_type == "edges" else [name]


def axis_header(axis, format="ogip", idx=0) -> fits.Header:
    """OGIP ``EBOUNDS`` cards, or the gadf ``AXCOLS<idx>``/``INTERP<idx>`` cards, of an axis."""
    header = fits.Header()
    if format in OGIP_HEADER_FORMATS:
        for key, value, comment in OGIP_EBOUNDS_CARDS:
            header[key] = (axis.nbin if value is None else value), comment
    elif format in GADF_HEADER_FORMATS:
        header[f"AXCOLS{idx}"] = ",".join(gadf_colnames(axis))
        header[f"INTERP{idx}"] = axis.interp
    else:
        raise InvalidArgumentError(
            f"Axis {axis.name!r}: unknown header format {format!r}, "
            f"expected one of {OGIP_HEADER_FORMATS + GADF_HEADER_FORMATS}"
        )
    return header


def _dl3_prefix(axis) -> str:
    if axis.name == "energy":
        return "ENERG"
    for prefix, (name, _) in DL3_AXES.items():
        if name == axis.name:
            return prefix
    names = sorted({name for name, _ in DL3_AXES.values()} | {"energy"})
    raise AxisError(f"Axis {axis.name!r} has no DL3 column, expected one of {names}")


def axis_table(axis, format="ogip") -> Table:
    """An axis as a table in ``format`` (see :meth:`MapAxis.to_table`)."""
    table = Table()
    edges = axis.edges
    if format in ("ogip", "ogip-sherpa"):
        axis.assert_name("energy")
        edges = edges.to("keV") if format == "ogip-sherpa" else edges
        table["CHANNEL"] = np.arange(axis.nbin, dtype=np.int16)
        table["E_MIN"] = edges[:-1]
        table["E_MAX"] = edges[1:]
    elif format in ("ogip-arf", "ogip-arf-sherpa"):
        axis.assert_name("energy_true")
        edges = edges.to("keV") if format == "ogip-arf-sherpa" else edges
        table["ENERG_LO"] = edges[:-1]
        table["ENERG_HI"] = edges[1:]
    elif format == "gadf-sed":
        if axis.is_energy_axis:
            table["e_ref"] = axis.center
            table["e_min"] = axis.edges_min
            table["e_max"] = axis.edges_max
    elif format == "gadf-dl3":
        prefix = _dl3_prefix(axis)
        lo, hi = (edges[:-1], edges[1:]) if axis.node_type == "edges" else (axis.center, axis.center)
        table[f"{prefix}_LO"] = lo[np.newaxis]
        table[f"{prefix}_HI"] = hi[np.newaxis]
    elif format == "gtpsf":
        if axis.name == "energy_true":
            table["Energy"] = axis.center.to("MeV")
        elif axis.name == "rad":
            table["Theta"] = axis.center.to("deg")
        else:
            raise AxisError(f"Only 'energy_true' or 'rad' axes have a 'gtpsf' form, got {axis.name!r}")
    else:
        raise InvalidArgumentError(f"Axis {axis.name!r}: unknown table format {format!r}")
    return table


def axis_arguments_from_table(table: Table, format="ogip", idx=0, column_prefix="") -> dict:
    """:class:`~mapds.geom.MapAxis` constructor arguments of an axis stored in ``table``
    (see :meth:`MapAxis.from_table`)."""
    if format in ("ogip", "fgst-ccube"):
        edges = edges_from_lo_hi(table["E_MIN"].quantity, table["E_MAX"].quantity)
        return {"nodes": edges, "node_type": "edges", "name": "energy", "interp": "log"}
    if format == "ogip-arf":
        edges = edges_from_lo_hi(table["ENERG_LO"].quantity, table["ENERG_HI"].quantity)
        return {"nodes": edges, "node_type": "edges", "name": "energy_true", "interp": "log"}
    if format in ("fgst-template", "fgst-bexpcube"):
        colname = next((c for c in table.colnames if c in ("Energy", "ENERGY", "energy")), None)
        if colname is None:
            raise AxisError(f"Fermi energy table has no ENERGY column, got {table.colnames}")
        nodes = np.asarray(table[colname]) * u.MeV
        return {"nodes": nodes, "node_type": "center", "name": "energy_true", "interp": "log"}
    if format == "gadf":
        return _bands_axis_arguments(table, idx)
    if format == "gadf-dl3":
        return _dl3_axis_arguments(table, column_prefix)
    if format == "gtpsf":
        if "Energy" in table.colnames:
            nodes = np.asarray(table["Energy"]) * u.MeV
            return {"nodes": nodes, "node_type": "center", "name": "energy_true", "interp": "log"}
        return {"nodes": np.asarray(table["Theta"]) * u.deg, "node_type": "center", "name": "rad"}
    raise InvalidArgumentError(f"Unknown axis table format {format!r}")


def _bands_axis_arguments(table: Table, idx: int) -> dict:
    key = f"AXCOLS{idx + 1}"
    if key not in table.meta:
        raise AxisError(f"BANDS table has no {key} card: cannot build axis {idx + 1}")
    colnames = table.meta[key].split(",")
    for colname in colnames:
        if colname not in table.colnames:
            raise AxisError(f"BANDS table lacks column {colname!r} named by {key}={table.meta[key]!r}")
    interp = table.meta.get(f"INTERP{idx + 1}", "lin")
    if colnames[0] == "E_MIN":
        name = "energy"
    else:
        name = colnames[0].replace("_MIN", "").lower()
        name = "rad" if name == "theta" else name  # legacy name used by old gammapy files
    # Axis values are the unique values of the columns (rows repeat them for other axes).
    if len(colnames) == 1:
        nodes = np.unique(table[colnames[0]].quantity)
        return {"nodes": nodes, "node_type": "center", "interp": interp, "name": name}
    edges = edges_from_lo_hi(np.unique(table[colnames[0]].quantity), np.unique(table[colnames[1]].quantity))
    return {"nodes": edges, "node_type": "edges", "interp": interp, "name": name}


def _dl3_axis_arguments(table: Table, column_prefix: str) -> dict:
    if column_prefix not in DL3_AXES:
        raise AxisError(f"Unknown DL3 column prefix {column_prefix!r}, expected one of {list(DL3_AXES)}")
    name, interp = DL3_AXES[column_prefix]
    # Background and RAD_MAX tables are binned in reconstructed energy.
    if table.meta.get("HDUCLAS2") in ("BKG", "RAD_MAX") and column_prefix == "ENERG":
        name = "energy"
    lo = u.Quantity(table[f"{column_prefix}_LO"].quantity[0], ndmin=1)
    hi = u.Quantity(table[f"{column_prefix}_HI"].quantity[0], ndmin=1)
    if np.allclose(hi, lo):
        return {"nodes": hi, "node_type": "center", "interp": interp, "name": name}
    return {"nodes": edges_from_lo_hi(lo, hi), "node_type": "edges", "interp": interp, "name": name}
