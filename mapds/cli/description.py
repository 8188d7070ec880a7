"""``mapds info``'s description of an input: a dict of plain JSON values, from metadata alone."""

from __future__ import annotations

import math
from typing import Any

from .sources import AUXILIARY_SUFFIXES, Source, open_source, read_source_map, zarr_sizes

__all__ = ["axis_summary", "describe", "geom_summary", "gti_summary", "map_summary", "model_summaries"]


def describe(url: str, storage_options: dict | None = None) -> dict:
    """What one input holds, as plain JSON values, reading its metadata only.

    Parameters
    ----------
    url : str
        Local path or fsspec URL.
    storage_options : dict, optional
        fsspec options.

    Returns
    -------
    dict
        ``url``, ``format``, ``kind``, ``bytes_on_disk``, then by format ``hdus`` (FITS) or
        ``groups`` (zarr), ``name`` and ``members`` (datasets), ``maps`` (each with its
        geometry, axes, dtype, unit, chunks and sizes), ``gti``; ``datasets`` (datasets YAML,
        each with the description of its file) or ``models`` (models YAML).
    """
    source = open_source(url, storage_options)
    if source.format == "YAML":
        return _describe_yaml(url, source, storage_options)
    out: dict[str, Any] = {"url": url, "format": source.format, "kind": source.kind}
    disk = _describe_storage(source, out)
    if source.dataset_store is not None:
        contents = source.dataset_store.read()
        out["name"] = contents.name
        out["members"] = {member: type(value).__name__ for member, value in contents.members.items()}
        maps, gti = _member_maps(contents.members), contents.gti
    else:
        maps = {name.lower(): read_source_map(source, name) for name in source.map_names}
        gti = _fits_gti(source.fits_file)
    out["maps"] = [map_summary(name, m, disk.get(name)) for name, m in maps.items()]
    out["gti"] = None if gti is None else gti_summary(gti)
    return out


def _describe_storage(source: Source, out: dict) -> dict[str, int]:
    """Add the HDUs (FITS) or groups (zarr) and the size on disk to ``out``; return the bytes on
    disk of each map by its lower-case name."""
    if source.fits_file is not None:
        out["bytes_on_disk"] = int(source.location.info()["size"])
        out["hdus"] = _hdu_summaries(source.fits_file)
        # The share of each map in a compressed file is not known.
        return {} if source.format == "FITS (gzip)" else _fits_map_bytes(out["hdus"])
    sizes = zarr_sizes(source.location)
    out["bytes_on_disk"] = sum(sizes.values())  # as bytes_on_disk(), without asking twice
    out["groups"] = [{"name": name, "bytes": size} for name, size in sizes.items() if name]
    if source.dataset_store is None and len(source.map_names) == 1:
        return {source.map_names[0].lower(): out["bytes_on_disk"]}  # a map store holds that map only
    return {name.lower(): size for name, size in sizes.items() if name}


def _describe_yaml(url: str, source: Source, storage_options: dict | None) -> dict:
    from ..errors import MissingFileError
    from ..io.paths import join, parent
    from ..io.urls import resolve

    data = source.yaml or {}
    out: dict[str, Any] = {"url": url, "format": "YAML", "kind": source.kind}
    out["bytes_on_disk"] = int(source.location.info()["size"])
    if source.kind == "Models":
        out["models"] = model_summaries(data["components"], url)
        return out
    out["datasets"] = []
    for entry in _dataset_entries(data["datasets"], url):
        # As Datasets.read: a file name relative to the YAML file's directory when it is there.
        filename = join(parent(url), entry["filename"])
        if not resolve(filename, storage_options).exists():
            filename = entry["filename"]
        try:
            file = describe(filename, storage_options)
        except MissingFileError as exc:
            raise MissingFileError(
                f"{url}: dataset {entry['name']!r} is in {entry['filename']}, which does not exist ({exc})"
            ) from exc
        out["datasets"].append({**entry, "file": file})
    return out


def _dataset_entries(entries, url: str) -> list[dict]:
    from ..errors import CorruptFileError

    if not isinstance(entries, list):
        raise CorruptFileError(f"{url!r}: 'datasets' must be a list of name, type, filename entries")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(k), str) for k in ("name", "filename")
        ):
            raise CorruptFileError(
                f"{url!r}: datasets[{index}] needs a name and a filename, got {entry!r:.80}"
            )
    return [{"name": e["name"], "type": e.get("type"), "filename": e["filename"]} for e in entries]


def _hdu_summaries(fits_file) -> list[dict]:
    from ..io.fits.headers import BLOCK

    out = []
    for index, name in enumerate(fits_file.names):
        info = fits_file.info_of(index)
        header_bytes = info.data_offset - info.header_offset
        if header_bytes <= 0:  # decompressed from gzip: the size the header takes in a FITS file
            header_bytes = BLOCK * math.ceil(len(info.header.tostring(endcard=True)) / BLOCK)
        summary: dict[str, Any] = {"index": index, "name": name, "type": info.xtension.lower()}
        if info.is_image:
            summary["shape"] = list(info.shape)
        elif info.is_table:
            summary["rows"] = int(info.header.get("NAXIS2", 0))
        summary["bytes"] = header_bytes + info.padded_size
        out.append(summary)
    return out


def _fits_map_bytes(hdus: list[dict]) -> dict[str, int]:
    """Bytes each map takes in a FITS file: its HDU and its bands and region tables."""
    sizes = {hdu["name"]: hdu["bytes"] for hdu in hdus}
    out = {}
    for name, size in sizes.items():
        extra = sum(sizes.get(name + suffix, 0) for suffix in AUXILIARY_SUFFIXES)
        out[name.lower()] = size + extra
    return out


def _member_maps(members: dict) -> dict:
    """The maps of a dataset's members: IRF maps expand into their map and exposure map."""
    from ..maps import Map

    maps = {}
    for member, value in members.items():
        if isinstance(value, Map):
            maps[member] = value
            continue
        maps[member] = value.psf_map if hasattr(value, "psf_map") else value.edisp_map
        if value.exposure_map is not None:
            maps[f"{member}_exposure"] = value.exposure_map
    return maps


def _fits_gti(fits_file):
    from ..data import GTI

    if fits_file is None or "GTI" not in fits_file:
        return None
    return GTI.from_table_hdu(fits_file.read_table("GTI"))


def map_summary(name: str, m, disk_bytes: int | None = None) -> dict:
    """A map's name, dimensions, dtype, unit, chunks, sizes, geometry and axes (no data read)."""
    import numpy as np

    from ..maps.dataarray import geom_dims

    geom = m.geom
    shape = [int(n) for n in geom.data_shape]
    chunks = m.chunks or tuple((n,) for n in shape)
    return {
        "name": name,
        "type": type(m).__name__,
        "dims": list(geom_dims(geom)),
        "shape": shape,
        "dtype": np.dtype(m.dtype).name,
        "unit": m.unit.to_string(),
        "chunks": [max(c) for c in chunks],
        "n_chunks": math.prod(len(c) for c in chunks),
        "bytes_in_memory": math.prod(shape) * np.dtype(m.dtype).itemsize,
        "bytes_on_disk": disk_bytes,
        "geom": geom_summary(geom),
        "axes": [axis_summary(axis) for axis in geom.axes],
    }


def _largest(values) -> float:
    """The largest of a scalar or array quantity's values (irregular geometries vary per plane)."""
    import numpy as np

    return float(np.max(np.asarray(values)))


def geom_summary(geom) -> dict:
    """Type, projection, frame, centre, width, pixel size and number of pixels of a geometry."""
    from ..geom import WcsGeom

    out: dict[str, Any] = {"type": type(geom).__name__, "frame": geom.frame}
    if isinstance(geom, WcsGeom):
        center = geom.center_skydir.spherical
        out.update(
            projection=geom.projection,
            center_deg=[float(center.lon.deg), float(center.lat.deg)],
            width_deg=[_largest(w) for w in geom.width.to_value("deg")],
            pixel_size_deg=[_largest(p) for p in geom.pixel_scales.deg],
            npix=[int(_largest(n)) for n in geom.npix],
        )
        return out
    region = geom.region
    out["region"] = None if region is None else type(region).__name__
    if region is not None:
        center = geom.center_skydir.spherical
        out["center_deg"] = [float(center.lon.deg), float(center.lat.deg)]
    return out


def axis_summary(axis) -> dict:
    """Name, number of bins, range, unit, interpolation and node type of a non-spatial axis."""
    from ..geom import LabelMapAxis

    out: dict[str, Any] = {"name": axis.name, "nbin": int(axis.nbin), "unit": axis.unit.to_string()}
    if isinstance(axis, LabelMapAxis):
        out["labels"] = [str(label) for label in axis.center]
        return out
    low, high = axis.bounds
    out.update(min=float(low.value), max=float(high.value), interp=axis.interp, node_type=axis.node_type)
    return out


def gti_summary(gti) -> dict:
    """Number of intervals, total time and first start / last stop of a GTI."""
    out: dict[str, Any] = {"n_intervals": len(gti), "time_sum_s": float(gti.time_sum.to_value("s"))}
    if len(gti):
        start, stop = gti.time_start.min(), gti.time_stop.max()
        out.update(start=start.isot, stop=stop.isot, scale=start.scale)
    return out


def model_summaries(components, url: str) -> list[dict]:
    """Name, type, spectral/spatial/temporal types, datasets and parameters of each model of a
    models YAML file's ``components`` (as written, without building the models)."""
    from ..errors import CorruptFileError

    if not isinstance(components, list):
        raise CorruptFileError(f"{url!r}: 'components' must be a list of models")
    out = []
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            raise CorruptFileError(f"{url!r}: components[{index}] is not a model, got {component!r:.80}")
        names = component.get("datasets_names")
        names = [names] if isinstance(names, str) else names
        name = component.get("name")
        if name is None and names:  # as gammapy names a background model without a name
            name = f"{names[0]}-bkg"
        summary = {"name": name, "type": component.get("type"), "datasets_names": names}
        parts = [component] + [component[p] for p in ("spectral", "spatial", "temporal") if p in component]
        for part in ("spectral", "spatial", "temporal"):
            if isinstance(component.get(part), dict):
                summary[part] = component[part].get("type")
        parameters = [p for part in parts if isinstance(part, dict) for p in part.get("parameters") or []]
        summary["parameters"] = len(parameters)
        summary["free"] = sum(1 for p in parameters if isinstance(p, dict) and not p.get("frozen", False))
        out.append(summary)
    return out
