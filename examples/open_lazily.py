"""Open a map written by gammapy lazily: only headers are read until something is computed.

    python examples/open_lazily.py Fermi-LAT-3FHL_data_Fermi-LAT.fits --hdu COUNTS
"""

from __future__ import annotations

import argparse

from astropy.coordinates import SkyCoord

from mapds.maps import Map


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a gammapy map file (local path or any fsspec URL)")
    parser.add_argument("--hdu", default="COUNTS")
    args = parser.parse_args(argv)

    counts = Map.read(args.path, hdu=args.hdu)  # headers + BANDS table: no pixel is read
    print(counts.geom)
    print("data:", counts.data)  # a dask array, one read task per chunk

    image = counts.sum_over_axes(keepdims=False)  # still a graph
    total = float(image.data.sum().compute())  # now the chunks are read
    centre = counts.geom.center_skydir
    cutout = counts.cutout(SkyCoord(centre.data.lon, centre.data.lat, frame=centre.frame), width="1 deg")
    print(f"total {total:.0f}, cutout shape {cutout.data.shape}, cutout sum {float(cutout.data.sum()):.0f}")
    return {"total": total, "cutout_shape": cutout.data.shape}


if __name__ == "__main__":
    main()
