"""Convert a gammapy FITS file (a map or a whole dataset) to zarr, chunk by chunk.

    python examples/fits_to_zarr.py Fermi-LAT-3FHL_data_Fermi-LAT.fits crab.zarr --dataset

The zarr store opens directly with xarray: ``xarray.open_zarr("crab.zarr", group="counts")``.
"""

from __future__ import annotations

import argparse

import xarray as xr

from mapds.datasets import MapDataset
from mapds.maps import Map


def main(argv=None) -> xr.Dataset:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fits", help="input FITS file (local path or any fsspec URL)")
    parser.add_argument("zarr", help="output zarr store")
    parser.add_argument("--hdu", default="COUNTS", help="map HDU to convert (without --dataset)")
    parser.add_argument("--dataset", action="store_true", help="convert every member of a MapDataset")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    if args.dataset:
        MapDataset.read(args.fits).write(args.zarr, overwrite=args.overwrite)  # streamed, atomic
        opened = xr.open_zarr(args.zarr, group="counts")
    else:
        Map.read(args.fits, hdu=args.hdu).write(args.zarr, overwrite=args.overwrite)
        opened = xr.open_zarr(args.zarr)
    print(opened)
    return opened


if __name__ == "__main__":
    main()
