"""Map metadata as text: the JSON gammapy writes into a FITS ``META`` card.

The same text is what a map's DataArray carries in ``attrs["meta"]``, so that the attributes stay
netCDF-safe (strings and numbers only) and FITS, zarr and netCDF agree on one encoding.
"""

from __future__ import annotations

import json

import astropy.units as u
import numpy as np

__all__ = ["decode_meta", "encode_meta"]


def _quantities(obj: dict) -> dict:
    # gammapy's META decoding: every value that parses as a Quantity becomes one.
    for key, value in obj.items():
        try:
            obj[key] = u.Quantity(value)
        except TypeError:
            continue
    return obj


def decode_meta(text: str | None) -> dict:
    """Map metadata from the JSON of a ``META`` card (strings that parse become Quantities)."""
    return {} if not text else json.loads(text, object_hook=_quantities)


def _jsonable(obj):
    if isinstance(obj, u.Quantity):
        return obj.to_string()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Map meta value {obj!r} of type {type(obj).__name__} cannot be written to FITS")


def encode_meta(meta: dict) -> str:
    """``META`` card value for ``meta``, as gammapy writes it."""
    return json.dumps(meta, default=_jsonable)
