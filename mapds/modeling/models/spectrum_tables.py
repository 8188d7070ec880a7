"""Two-column spectrum tables (energy, dN/dE) from text or FITS files, local or remote.

Fermi-LAT distributes its isotropic diffuse spectra as whitespace-separated text (energy in MeV,
dN/dE in MeV⁻¹ s⁻¹ cm⁻² sr⁻¹, uncertainty); other tools write FITS tables.  Both are read
through fsspec, so ``s3://`` or ``https://`` tables work as local ones.
"""

from __future__ import annotations

import io

import astropy.units as u
import numpy as np
from astropy.table import Table

from ...errors import CorruptFileError
from ...io.urls import resolve, storage_errors

__all__ = ["read_spectrum_table"]

_FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fz")


def read_spectrum_table(filename, *, storage_options: dict | None = None) -> tuple:
    """``(energy, values)`` from the first two columns of a table file.

    Columns of a FITS table with a unit are Quantities; text columns are plain arrays (the
    caller gives their units).

    Raises
    ------
    CorruptFileError
        If the file is not a table of at least two numeric columns and one row.
    """
    location = resolve(filename, storage_options)
    with storage_errors(location.url), location.fs.open(location.path, "rb") as f:
        raw = f.read()
    name = location.path.lower()
    try:
        if name.endswith(_FITS_SUFFIXES):
            table = Table.read(io.BytesIO(raw), format="fits")
            columns = [table[c].quantity if table[c].unit else table[c].data for c in table.colnames[:2]]
        else:
            data = np.loadtxt(io.StringIO(raw.decode("utf-8")), ndmin=2)
            columns = [data[:, 0], data[:, 1]] if data.shape[1] >= 2 else []
    except (ValueError, TypeError, OSError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"{location.url}: not a spectrum table ({exc})") from exc
    if len(columns) < 2 or len(columns[0]) == 0:
        raise CorruptFileError(f"{location.url}: a spectrum table needs two columns (energy, dN/dE), one row")
    return tuple(c if isinstance(c, u.Quantity) else np.asarray(c, dtype=np.float64) for c in columns)
