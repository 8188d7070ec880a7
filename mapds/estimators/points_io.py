"""gammapy's flux-points tables ("gadf-sed" format) to and from `FluxPoints` maps, and files.

A flux-points table has one row per energy bin: ``e_ref``, ``e_min``, ``e_max``, the quantities
of one SED type (``norm``, ``norm_err``... for "likelihood", with the reference model's
``ref_dnde``, ``ref_flux`` and ``ref_eflux``; ``dnde``, ``dnde_err``... otherwise), the common
quantities (``ts``, ``sqrt_ts``, ``counts``...) and, with statistic profiles, ``norm_scan`` and
``stat_scan`` (one array per row).  Files are FITS (an empty primary, the table as the
``FLUXPOINTS`` HDU, a ``GTI`` HDU) or any astropy table format (ECSV by default), as gammapy
writes them.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.io.registry import IORegistryError
from astropy.table import Column, Table
from scipy import stats

from ..data import GTI
from ..errors import InvalidArgumentError
from ..geom import LabelMapAxis, MapAxis, RegionGeom
from ..geom.axis_tables import edges_from_lo_hi
from ..io import write_fits
from ..io.atomic import atomic_file
from ..io.paths import make_path
from ..io.urls import resolve
from ..maps import RegionNDMap
from ..modeling.models import TemplateSpectralModel

__all__ = ["flux_points_table", "maps_from_table", "read_table", "write_table"]

#: The unit of each SED type in a table (gammapy's ``DEFAULT_UNIT``).
DEFAULT_UNIT = {
    "dnde": u.Unit("cm-2 s-1 TeV-1"),
    "e2dnde": u.Unit("erg cm-2 s-1"),
    "flux": u.Unit("cm-2 s-1"),
    "eflux": u.Unit("erg cm-2 s-1"),
    "likelihood": None,
}
#: Columns from which a table's SED type is guessed, in gammapy's order of preference.
REQUIRED_COLUMNS = {
    "dnde": ["e_ref", "dnde"],
    "e2dnde": ["e_ref", "e2dnde"],
    "flux": ["e_min", "e_max", "flux"],
    "eflux": ["e_min", "e_max", "eflux"],
    "likelihood": ["e_min", "e_max", "e_ref", "ref_dnde", "ref_flux", "ref_eflux", "norm"],
}
#: Quantities with one value per dataset in each row.
PER_DATASET = ("counts", "npred", "npred_excess")
#: Quantities kept as booleans in a table (the others are written as float Quantities).
BOOLEAN = ("is_ul", "success")
#: gadf's log-likelihood columns and the statistic (−2 log L) gammapy reads them as.
LOGLIKE_COLUMNS = {"loglike": "stat", "loglike_null": "stat_null", "dloglike_scan": "stat_scan"}


def _check_format(format) -> str:
    if format not in (None, "gadf-sed"):
        raise InvalidArgumentError(f"Flux points format {format!r} is not supported; only 'gadf-sed'")
    return "gadf-sed"


def _standardise_unit(unit) -> u.UnitBase:
    """``unit`` without photon and count bases (``ph cm-2 s-1`` is ``cm-2 s-1``), as gammapy."""
    unit = u.Unit(unit)
    kept = [(b, p) for b, p in zip(unit.bases, unit.powers, strict=True) if str(b) not in ("ph", "ct")]
    return u.CompositeUnit(unit.scale, [b for b, _ in kept], [p for _, p in kept])


def _flat_if_equal(values):
    """The first row of a 2-d column whose rows are all equal (else the column)."""
    values = np.asanyarray(values)
    if values.ndim == 2 and np.all(values == values[0]):
        return values[0]
    return values


def guess_sed_type(colnames) -> str | None:
    """The first SED type whose required columns the table has (gammapy's guess)."""
    for sed_type, required in REQUIRED_COLUMNS.items():
        if set(required).issubset(colnames):
            return sed_type
    return None


def _table_axes(table: Table) -> dict:
    """The energy axis, and the norm and dataset axes when the table has such columns."""
    if "e_min" in table.colnames and "e_max" in table.colnames:
        edges = edges_from_lo_hi(
            _flat_if_equal(table["e_min"].quantity), _flat_if_equal(table["e_max"].quantity)
        )
        axes = {"energy": MapAxis.from_energy_edges(edges)}
    elif "e_ref" in table.colnames:
        axes = {
            "energy": MapAxis.from_nodes(_flat_if_equal(table["e_ref"].quantity), name="energy", interp="log")
        }
    else:
        raise InvalidArgumentError("A flux points table needs 'e_ref' or 'e_min' and 'e_max' columns")
    if "norm_scan" in table.colnames:
        axes["norm"] = MapAxis.from_nodes(np.asarray(table["norm_scan"][0]), name="norm")
    if "datasets" in table.colnames:
        axes["dataset"] = LabelMapAxis(labels=np.unique(np.asarray(table["datasets"])), name="dataset")
    else:
        shape = next((table[name].shape for name in PER_DATASET if name in table.colnames), (0, 1))
        n = shape[-1] if len(shape) > 1 else 1
        axes["dataset"] = MapAxis.from_edges(np.arange(n + 1) - 0.5, name="dataset")
    return axes


def maps_from_table(table: Table, quantities) -> dict[str, RegionNDMap]:
    """The ``quantities`` present in ``table`` as region maps on its energy axis (per norm or
    per dataset for the scan and the per-dataset counts)."""
    axes = _table_axes(table)
    maps = {}
    for name in quantities:
        if name not in table.colnames:
            continue
        if name == "stat_scan":
            names = ["norm", "energy"]
        elif name in PER_DATASET:
            names = ["dataset", "energy"]
        else:
            names = ["energy"]
        geom = RegionGeom.create(None, axes=[axes[n] for n in names])
        column = table[name]
        data = np.asarray(column).reshape(geom.data_shape)
        maps[name] = RegionNDMap(geom, data=data, unit=column.unit or "", dtype=data.dtype)
    return maps


def table_to_flux_points(cls, table, sed_type=None, format=None, reference_model=None, gti=None):
    """`FluxPoints` from a table; see :meth:`FluxPoints.from_table`."""
    _check_format(format)
    table = table.copy()
    for column in table.columns.values():
        if column.unit is not None:
            column.unit = _standardise_unit(column.unit)
    sed_type = sed_type or table.meta.get("SED_TYPE") or guess_sed_type(table.colnames)
    if sed_type is None:
        raise InvalidArgumentError(
            f"Specifying the SED type is required: the columns {table.colnames} match none of "
            f"the SED types' required columns {REQUIRED_COLUMNS}"
        )
    if sed_type == "likelihood":
        for old, new in LOGLIKE_COLUMNS.items():
            if old in table.colnames and new not in table.colnames:
                table[new] = 2 * table[old]
        if reference_model is None:
            reference_model = TemplateSpectralModel(
                energy=_flat_if_equal(table["e_ref"].quantity),
                values=_flat_if_equal(table["ref_dnde"].quantity),
            )
    table.meta.setdefault("SED_TYPE", sed_type)
    maps = maps_from_table(table, cls.all_quantities(sed_type))
    meta = dict(table.meta)
    conf_ul = table.meta.get("UL_CONF")
    if conf_ul:
        meta["n_sigma_ul"] = np.round(stats.norm.isf(0.5 * (1 - conf_ul)), 1)
    meta["sed_type_init"] = table.meta.get("SED_TYPE")
    return cls.from_maps(maps, sed_type=sed_type, reference_model=reference_model, meta=meta, gti=gti)


def flux_points_table(flux_points, sed_type=None, format=None, formatted=False) -> Table:
    """gammapy's "gadf-sed" table of flux points; see :meth:`FluxPoints.to_table`."""
    _check_format(format)
    sed_type = flux_points.sed_type_init if sed_type is None else sed_type
    if flux_points.geom.axes.names != ["energy"]:
        raise InvalidArgumentError(
            "Only flux points with a single energy axis can be converted to 'gadf-sed'"
        )
    table = flux_points.energy_axis.to_table(format="gadf-sed")
    table.meta["SED_TYPE"] = sed_type
    if not flux_points.is_convertible_to_flux_sed_type:
        table.remove_columns(["e_min", "e_max"])
    if flux_points.n_sigma_ul:
        table.meta["UL_CONF"] = np.round(1 - 2 * stats.norm.sf(flux_points.n_sigma_ul), 7)
    if sed_type == "likelihood":
        table["ref_dnde"] = _row_values(flux_points.dnde_ref).to(DEFAULT_UNIT["dnde"])
        table["ref_flux"] = _row_values(flux_points.flux_ref).to(DEFAULT_UNIT["flux"])
        table["ref_eflux"] = _row_values(flux_points.eflux_ref).to(DEFAULT_UNIT["e2dnde"])
    for name in flux_points.all_quantities(sed_type):
        try:
            m = flux_points.get(name)
        except AttributeError:
            continue
        values = _row_values(m.quantity)
        if name in BOOLEAN:
            # booleans keep gammapy's column units ('' for success, none for is_ul)
            table[name] = Column(values.value.astype(bool), unit="" if name == "success" else None)
        elif values.unit.is_unity() or sed_type == "likelihood":
            table[name] = values
        else:
            table[name] = values.to(DEFAULT_UNIT[sed_type])
    if flux_points.has_stat_profiles:
        norm_axis = flux_points.stat_scan.geom.axes["norm"]
        center = norm_axis.center
        scan = np.broadcast_to(center.value, (len(table), norm_axis.nbin))
        table["norm_scan"] = u.Quantity(scan, center.unit)
        table["stat"] = _row_values(flux_points.stat.quantity).value
        table["stat_scan"] = _row_values(flux_points.stat_scan.quantity).value
    table["is_ul"] = _row_values(flux_points.is_ul.quantity).value.astype(bool)
    if not flux_points.has_ul:
        table.remove_columns("is_ul")
    return _format_table(table) if formatted else table


def _row_values(values) -> u.Quantity:
    """A map's values (or a reference Quantity) with its two spatial dimensions dropped: one
    entry (or one array) per energy bin."""
    return u.Quantity(values)[..., 0, 0]


def _format_table(table: Table) -> Table:
    """gammapy's display formats: ``.3e`` for fluxes, ``.3f`` for energies, norms and TS."""
    for name in table.colnames:
        if name.startswith(("dnde", "eflux", "flux", "e2dnde", "ref")):
            table[name].format = ".3e"
        elif name.startswith(("e_min", "e_max", "e_ref", "sqrt_ts", "norm", "ts", "stat")):
            table[name].format = ".3f"
    return table


def write_table(table: Table, gti, filename, overwrite=False, checksum=False) -> None:
    """Write a flux-points table: FITS (``FLUXPOINTS`` and ``GTI`` HDUs) when the name has a
    ``.fits`` suffix, else the format astropy infers from the name (ECSV for ``.ecsv``), as
    gammapy does; atomically (no half-written file), never over a file unless ``overwrite``."""
    if filename is None:
        raise InvalidArgumentError("The filename is not defined.")
    filename = make_path(filename)
    if ".fits" in PurePosixPath(filename).suffixes:
        hdus = [fits.PrimaryHDU(), fits.BinTableHDU(table, name="FLUXPOINTS")]
        if gti is not None and len(gti):
            hdus.append(gti.to_table_hdu(format="gadf"))
        write_fits(filename, hdus, overwrite=overwrite, checksum=checksum)
        return
    formats = Table.write.registry.identify_format("write", Table, str(filename), None, [], {})
    if len(formats) != 1:
        raise InvalidArgumentError(
            f"Cannot tell the table format of {filename!r} from its name (candidates: {formats}); "
            "use a .fits or .ecsv name"
        )
    with atomic_file(resolve(filename), overwrite=overwrite) as tmp:
        # the temporary file's name has no suffix: the format is the one the target's name says
        table.write(tmp, format=formats[0], overwrite=True)


def read_table(filename, checksum=False, table_format="ascii.ecsv", **kwargs) -> tuple[Table, GTI | None]:
    """The flux-points table of a file written by gammapy or mapds, and its GTIs (FITS only)."""
    if filename is None:
        raise InvalidArgumentError("The filename is not defined.")
    filename = make_path(filename)
    try:
        return Table.read(filename, format=table_format, **kwargs), None
    except (IORegistryError, UnicodeDecodeError):
        pass  # not a text table (or no such format): gammapy then reads it as FITS
    with fits.open(filename, checksum=checksum) as hdulist:
        hdu = hdulist["FLUXPOINTS"] if "FLUXPOINTS" in hdulist else hdulist[1]
        table = Table.read(hdu)
        gti = GTI.from_table_hdu(hdulist["GTI"]) if "GTI" in hdulist else None
    return table, gti
