"""Cut a small region out of a large map on object storage, reading only that region's bytes.

    python examples/cutout_from_object_store.py s3://bucket/survey.fits --lon 0 --lat 0 --width 1 \
        --storage-option anon=true

Any fsspec URL works (``s3://``, ``gs://``, ``https://``, ``memory://``, local paths); each dask chunk
of the cutout is one ranged request for the rows of the region.
"""

from __future__ import annotations

import argparse

import astropy.units as u
from astropy.coordinates import SkyCoord

from mapds.maps import Map


def parse_options(pairs) -> dict:
    """``["key=value", ...]`` to storage options (``true``/``false`` become booleans)."""
    options = {}
    for pair in pairs or []:
        key, value = pair.split("=", 1)
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    return options


def main(argv=None, storage_options=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--hdu", default="COUNTS")
    parser.add_argument("--lon", type=float, default=0.0, help="galactic longitude of the centre (deg)")
    parser.add_argument("--lat", type=float, default=0.0, help="galactic latitude of the centre (deg)")
    parser.add_argument("--width", type=float, default=1.0, help="cutout width (deg)")
    parser.add_argument("--storage-option", action="append", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    options = {**parse_options(args.storage_option), **(storage_options or {})}

    survey = Map.read(args.url, hdu=args.hdu, storage_options=options)
    position = SkyCoord(args.lon * u.deg, args.lat * u.deg, frame="galactic")
    cutout = survey.cutout(position, width=args.width * u.deg).compute()
    print(f"{survey.geom.data_shape} -> cutout {cutout.data.shape}, sum {float(cutout.data.sum()):.1f}")
    return cutout


if __name__ == "__main__":
    main()
