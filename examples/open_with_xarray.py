"""Open a gammapy map or dataset file with plain xarray: ``xr.open_dataset(path, engine="mapds")``.

    python examples/open_with_xarray.py Fermi-LAT-3FHL_data_Fermi-LAT.fits --energy 0.03 0.3

mapds registers the xarray backend engine ``mapds`` (gadf FITS, gzipped or not, and mapds zarr
stores; local paths or any fsspec URL).  Opening reads headers and small tables only: each map is a
variable named after its lower-cased HDU (``counts``, ``exposure``, ``psf``...), its axes are
dimensions (bin edges in ``<axis>_min``/``<axis>_max`` coordinates, the WCS in ``spatial_ref``), and
tables such as the GTI are attributes holding ECSV text.  This script prints the variables with
their chunks, the coordinates and the attributes, selects the energy bins whose centres are in the
``--energy`` range (TeV, the unit of the ``energy`` coordinate) with ``.sel``, and computes in one
pass the counts of those bins, the brightest pixel of their image and the counts and excess
(counts - background) spectra.
"""

from __future__ import annotations

import argparse

import dask
import xarray as xr
from astropy.table import Table

#: ``--chunks``: xarray's ``chunks=`` argument.
CHUNKS = {"storage": {}, "auto": "auto", "none": None}


def main(argv=None, storage_options=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="gammapy FITS file or mapds zarr store (local path or fsspec URL)")
    parser.add_argument(
        "--energy", type=float, nargs=2, default=(0.03, 0.3), metavar=("MIN", "MAX"), help="range (TeV)"
    )
    parser.add_argument(
        "--chunks", choices=CHUNKS, default="storage", help="dask chunks: the storage's, xarray's auto, none"
    )
    args = parser.parse_args(argv)

    options = {"storage_options": storage_options}
    ds = xr.open_dataset(args.path, engine="mapds", chunks=CHUNKS[args.chunks], backend_kwargs=options)
    print("variables:")
    for name, var in ds.data_vars.items():
        chunks = "not chunked" if var.chunks is None else f"chunks {var.data.chunksize}"
        unit = var.attrs.get("units") or "-"
        print(f"  {name:<15s} {var.dtype!s:<8s} [{unit}] {dict(var.sizes)}, {chunks}")
    print("dimension coordinates:", ", ".join(f"{name} ({ds.sizes[name]})" for name in ds.indexes))
    print("attributes:", ", ".join(ds.attrs))
    for name in ds.attrs.get("mapds_tables", "").split():
        table = Table.read(ds.attrs[name], format="ascii.ecsv")
        print(f"{name} table: {len(table)} rows, columns {table.colnames}")

    selected = ds.counts.sel(energy=slice(*args.energy))  # the bins whose centres are in the range
    image = selected.sum("energy")  # still lazy
    total, peak, lo, hi, spectrum, excess = dask.compute(
        image.sum(),
        image.argmax(dim=("y", "x")),  # {"y": index, "x": index}
        selected.energy_min.min(),
        selected.energy_max.max(),
        ds.counts.sum(("y", "x")),
        (ds.counts - ds.background).sum(("y", "x")),
    )
    lon, lat = (float(image[name].isel(peak)) for name in ("lon", "lat"))
    bins = selected.sizes["energy"]
    print(f"{bins} energy bins, {float(lo):.4g}–{float(hi):.4g} TeV: {float(total):.0f} counts,")
    print(f"  brightest pixel of their image at (lon, lat) = ({lon:.2f}°, {lat:.2f}°)")
    print("counts spectrum:", spectrum.values)
    print("excess spectrum:", excess.values.round(1))
    return {
        "variables": list(ds.data_vars),
        "chunks": {name: var.chunks for name, var in ds.data_vars.items()},
        "energies": selected.energy.values,
        "total": float(total),
        "spectrum": spectrum.values,
        "excess": excess.values,
        "peak": (lon, lat),
    }


if __name__ == "__main__":
    main()
