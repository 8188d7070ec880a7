"""``mapds info``: what FITS files, zarr stores and YAML files hold, from their metadata alone.

Each input is opened with mapds' lazy readers, which parse headers, bands tables, zarr metadata
and small tables (GTI) only: no pixel is read.  The description is a dict of plain JSON values
(:func:`describe`), printed as text (:func:`render`) or, with ``--json``, as one JSON document.

:func:`open_source` (what an input is: a dataset, a map, a datasets or models YAML) is shared
with ``mapds convert``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .arguments import add_command
from .locations import add_storage_options, storage_options
from .steps import format_size

if TYPE_CHECKING:
    from ..datasets.io import DatasetStore
    from ..io import FitsFile
    from ..io.urls import Location

__all__ = [
    "Source",
    "add_parser",
    "bytes_on_disk",
    "describe",
    "open_source",
    "render",
    "run",
]

#: Suffixes of the YAML files gammapy writes (datasets and models).
YAML_SUFFIXES = (".yaml", ".yml")
#: HDUs of gammapy's dataset files whose presence makes a FITS file a dataset.
DATASET_HDUS = ("COUNTS", "EXPOSURE", "BACKGROUND", "EDISP", "PSF", "MASK_SAFE", "MASK_FIT")
#: Tables that belong to a map (its energy bands, its region) rather than being one.
_AUXILIARY_SUFFIXES = ("_BANDS", "_REGION")
_AUXILIARY_NAMES = ("EBOUNDS", "ENERGIES")


def add_parser(commands) -> None:
    """Register ``mapds info``."""
    parser = add_command(
        commands,
        "info",
        "describe FITS files, zarr stores and datasets or models YAML files (reads no pixels)",
        """
        Describe each file: its HDUs (FITS) or groups (zarr), what it holds (a MapDataset, a Map,
        a datasets YAML file and the dataset files it lists, a models YAML file), and for every
        map its geometry (projection, frame, centre, width, pixel size, number of pixels), its
        non-spatial axes (name, bins, range, unit, interpolation), unit, data type, chunks and
        size in memory and on disk, then the GTI and the models.

        Only metadata are read: FITS headers and small tables, zarr metadata. A gzip-compressed
        FITS file is decompressed once into mapds' cache ($MAPDS_CACHE_DIR, default
        ~/.cache/mapds), since gzip cannot be read at random. Inputs are local paths or fsspec
        URLs (s3://, gs://, https://, memory://...).
        """,
        """
        mapds info survey.fits
        mapds info datasets.yaml models.yaml
        mapds info --json s3://bucket/survey.zarr --storage-option anon=true
        """,
    )
    parser.add_argument("urls", nargs="+", metavar="URL", help="FITS file, zarr store or YAML file")
    parser.add_argument(
        "--json", action="store_true",
        help='print one JSON document for scripts: {"files": [one description per URL]}',
    )  # fmt: skip
    add_storage_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    """Describe every URL: as text (each as soon as it is read) or as one JSON document."""
    options = storage_options(args.storage_option)
    descriptions = []
    for index, url in enumerate(args.urls):
        description = describe(url, options)
        if args.json:
            descriptions.append(description)
            continue
        if index:
            print()
        print(render(description), flush=True)
    if args.json:
        print(json.dumps({"files": descriptions}, indent=2))
    return 0


# -- what an input is ------------------------------------------------------------------------------


@dataclass
class Source:
    """An input opened for reading: where it is, its format and what it holds (metadata only).

    Attributes
    ----------
    location : Location
        The file or store.
    format : str
        ``"FITS"``, ``"FITS (gzip)"``, ``"zarr"`` or ``"YAML"``.
    kind : str
        ``"MapDataset"``, ``"Map"`` (one map or several independent ones), ``"Datasets"`` or
        ``"Models"``.
    fits_file : FitsFile, optional
        The opened FITS file.
    dataset_store : DatasetStore, optional
        The opened dataset (``kind == "MapDataset"``).
    map_names : list of str
        Stored names of the maps of a ``"Map"`` input (FITS HDUs or zarr variables).
    yaml : dict, optional
        The parsed YAML file.
    """

    location: Location
    format: str
    kind: str
    fits_file: FitsFile | None = None
    dataset_store: DatasetStore | None = None
    map_names: list[str] = field(default_factory=list)
    yaml: dict | None = None


def open_source(url: str, storage_options: dict | None = None) -> Source:
    """Open an input (headers and metadata only) and tell what it holds.

    Parameters
    ----------
    url : str
        Local path or fsspec URL of a FITS file (plain or gzip), a zarr store or a YAML file.
    storage_options : dict, optional
        fsspec options.

    Raises
    ------
    MissingFileError
        Nothing at ``url``.
    CorruptFileError
        Not a FITS file, zarr store or datasets/models YAML file.
    """
    from ..io.formats import is_zarr
    from ..io.urls import resolve

    location = resolve(url, storage_options)
    if location.path.rstrip("/").lower().endswith(YAML_SUFFIXES):
        return _open_yaml(location)
    if is_zarr(location):
        return _open_zarr(location)
    return _open_fits(location)


def _open_yaml(location: Location) -> Source:
    from ..errors import CorruptFileError
    from ..io.urls import storage_errors
    from ..modeling.yaml_io import load_yaml

    with storage_errors(location.url), location.fs.open(location.path, "rb") as f:
        raw = f.read()
    data = load_yaml(raw, source=location.url)
    if "datasets" in data:
        return Source(location, "YAML", "Datasets", yaml=data)
    if "components" in data:
        return Source(location, "YAML", "Models", yaml=data)
    raise CorruptFileError(
        f"{location.url!r} is neither a datasets file ('datasets:' list) nor a models file "
        f"('components:' list); its top-level keys are {sorted(map(str, data))}"
    )


def _open_zarr(location: Location) -> Source:
    from ..datasets.io import open_dataset_store
    from ..errors import CorruptFileError, MissingFileError

    if not location.exists():
        raise MissingFileError(f"No such zarr store: {location.url!r}")
    if not location.fs.exists(f"{location.path.rstrip('/')}/zarr.json"):
        raise CorruptFileError(f"{location.url!r} is not a zarr store: it has no zarr.json")
    try:
        store = open_dataset_store(location, format="zarr")
    except CorruptFileError as not_a_dataset:
        # A store of one map has no dataset attributes; a store without maps at its root is a
        # dataset group whose attributes are damaged, or no mapds store at all.
        names = _zarr_map_variables(location)
        if not names:
            raise not_a_dataset
        return Source(location, "zarr", "Map", map_names=names)
    return Source(location, "zarr", store.group.attrs.get("type", "MapDataset"), dataset_store=store)


def _zarr_map_variables(location: Location) -> list[str]:
    """The data variables at the root of a store that are maps (their last dimensions y, x)."""
    import xarray as xr

    from ..io.urls import storage_errors
    from ..io.zarr_store import damaged_metadata, zarr_store
    from ..maps.dataarray import SPATIAL_DIMS

    with storage_errors(location.url), damaged_metadata(location.url):
        ds = xr.open_zarr(zarr_store(location), chunks=None, consolidated=False, zarr_format=3)
    return [str(name) for name, variable in ds.data_vars.items() if variable.dims[-2:] == SPATIAL_DIMS]


def _open_fits(location: Location) -> Source:
    from ..datasets.io import FitsDatasetStore
    from ..errors import CorruptFileError
    from ..io import FitsFile

    if location.is_local and location.fs.isdir(location.path):
        raise CorruptFileError(
            f"{location.url!r} is a directory but not a zarr store (no zarr.json): give a FITS file, "
            "a zarr store or a YAML file"
        )
    fits_file = FitsFile.open(location)
    # A gzip file is served from its decompressed cache, whose HDUs keep no file offsets (a plain
    # file's data always start after at least one header block).
    format = "FITS (gzip)" if fits_file.info_of(0).data_offset == 0 else "FITS"
    if _is_dataset_file(fits_file):
        return Source(location, format, "MapDataset", fits_file, FitsDatasetStore(fits_file))
    names = _fits_map_hdus(fits_file)
    if not names:
        raise CorruptFileError(f"{location.url!r} holds no map: no image HDU with data, no region map")
    return Source(location, format, "Map", fits_file, map_names=names)


def _is_dataset_file(fits_file) -> bool:
    """A gammapy dataset file: member HDUs (COUNTS...) with a NAME card, GTI, or several of them.

    One member HDU alone is a map written under that name (``Map.write(hdu="COUNTS")``).
    """
    members = [name for name in fits_file.names if name in DATASET_HDUS]
    if not members:
        return False
    marked = "NAME" in fits_file.header(0) or "GTI" in fits_file or "META_TABLE" in fits_file
    return marked or len(members) > 1


def _fits_map_hdus(fits_file) -> list[str]:
    """Names of the HDUs holding a map: images with data and region maps (tables with bands)."""
    names = fits_file.names
    found = []
    for index, name in enumerate(names):
        info = fits_file.info_of(index)
        auxiliary = name in _AUXILIARY_NAMES or any(
            name.endswith(suffix) and name[: -len(suffix)] in names for suffix in _AUXILIARY_SUFFIXES
        )
        region_map = info.is_table and ("BANDSHDU" in info.header or f"{name}_BANDS" in names)
        if not auxiliary and ((info.is_image and fits_file.has_data(index)) or region_map):
            found.append(name or str(index))
    return found


def read_source_map(source: Source, name: str, chunks=None):
    """A map of a ``"Map"`` input, lazily (``name`` from ``source.map_names``)."""
    from ..io.zarr_store import read_zarr_map

    if source.fits_file is not None:
        return source.fits_file.read_map(hdu=int(name) if name.isdigit() else name, chunks=chunks)
    return read_zarr_map(source.location, name=name, chunks=chunks)


# -- descriptions ----------------------------------------------------------------------------------


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
    sizes = _zarr_sizes(source.location)
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
        extra = sum(sizes.get(name + suffix, 0) for suffix in _AUXILIARY_SUFFIXES)
        out[name.lower()] = size + extra
    return out


def _zarr_sizes(location: Location) -> dict[str, int]:
    """Bytes of a zarr store by top-level group or array (``""``: the root metadata), from its
    manifest (no listing; the manifest itself is not counted), else from a listing."""
    from ..io.integrity import MANIFEST_GROUP, read_manifest
    from ..io.urls import storage_errors

    manifest = read_manifest(location)
    if manifest is not None:
        keys = {key: size for key, (size, _) in {**manifest["files"], **manifest["chunks"]}.items()}
    else:
        root = location.path.rstrip("/")
        with storage_errors(location.url):
            listing = location.fs.find(root, detail=True)
        keys = {path[len(root) + 1 :]: int(info.get("size") or 0) for path, info in listing.items()}
    sizes: dict[str, int] = {}
    for key, size in keys.items():
        # The manifest's own group and the root metadata count in the total only.
        top = key.split("/")[0] if "/" in key and not key.startswith(MANIFEST_GROUP + "/") else ""
        sizes[top] = sizes.get(top, 0) + size
    return sizes


def bytes_on_disk(location: Location) -> int:
    """Bytes of a file, or of a zarr store's arrays and metadata (from its manifest if it has one)."""
    from ..io.formats import is_zarr

    if is_zarr(location):
        return sum(_zarr_sizes(location).values())
    return int(location.info()["size"])


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


# -- text ------------------------------------------------------------------------------------------


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _size(n_bytes: int | None) -> str:
    return "-" if n_bytes is None else format_size(n_bytes)


def _columns(rows: list[list[str]], right: tuple[int, ...] = ()) -> list[str]:
    """Rows of cells as aligned text columns (the first row is the heading); the columns
    numbered in ``right`` (numbers) are aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]

    def cell(text: str, i: int) -> str:
        return text.rjust(widths[i]) if i in right else text.ljust(widths[i])

    return ["  " + "  ".join(cell(text, i) for i, text in enumerate(row)).rstrip() for row in rows]


def render(description: dict, indent: str = "") -> str:
    """A description (:func:`describe`) as readable text."""
    lines = [description["url"], *_headline(description)]
    if "hdus" in description:
        lines += ["", *_hdu_lines(description["hdus"])]
    if description.get("groups"):
        groups = description["groups"]
        root = description["bytes_on_disk"] - sum(g["bytes"] for g in groups)
        rows = [["group", "size"], *([g["name"], _size(g["bytes"])] for g in groups)]
        rows.append(["(root metadata)", _size(root)])
        lines += ["", *_columns(rows, right=(1,))]
    if description.get("maps"):
        lines += ["", *_map_lines(description["maps"])]
        lines += ["", "  geometry", *_geometry_lines(description["maps"])]
        axes = _axis_lines(description["maps"])
        lines += ["", "  axes", *axes] if axes else []
    if "gti" in description:
        lines += ["", f"  GTI: {_gti_text(description['gti'])}"]
    if "models" in description:
        lines += ["", *_model_lines(description["models"])]
    for entry in description.get("datasets", []):
        lines += ["", f"  dataset {entry['name']!r} ({entry['type']}): {entry['filename']}"]
        lines += [render(entry["file"], "    ")]
    return "\n".join(indent + line if line else line for line in "\n".join(lines).splitlines())


def _headline(description: dict) -> list[str]:
    """What the input is, its format and size, and the members of a dataset."""
    kind = description["kind"]
    if "members" in description:
        name = description.get("name")
        kind = f"{kind} {name!r}" if name else f"{kind} (no stored name)"
    elif kind == "Map" and len(description.get("maps", [])) > 1:
        kind = f"{len(description['maps'])} maps"
    elif kind == "Datasets":
        kind = f"datasets file listing {_plural(len(description['datasets']), 'dataset')}"
    elif kind == "Models":
        kind = f"models file of {_plural(len(description['models']), 'model')}"
    where = f"{description['format']}, {_size(description['bytes_on_disk'])} on disk"
    if "hdus" in description:
        where += f", {len(description['hdus'])} HDUs"
    elif "groups" in description:
        where += f", {len(description['groups'])} groups or arrays"
    lines = [f"  {kind}: {where}"]
    members = description.get("members")
    if members:
        listed = ", ".join(
            member if type_ == "Map" else f"{member} ({type_})" for member, type_ in members.items()
        )
        lines.append(f"  members: {listed}")
    return lines


def _hdu_lines(hdus: list[dict]) -> list[str]:
    rows = [["HDU", "name", "type", "shape / rows", "size"]]
    for hdu in hdus:
        if "shape" in hdu:
            what = " x ".join(map(str, hdu["shape"]))
        else:
            what = _plural(hdu["rows"], "row") if "rows" in hdu else ""
        rows.append([str(hdu["index"]), hdu["name"] or "(unnamed)", hdu["type"], what, _size(hdu["bytes"])])
    return _columns(rows, right=(0, 4))


def _map_lines(maps: list[dict]) -> list[str]:
    rows = [["map", "shape", "dtype", "unit", "chunks", "memory", "disk"]]
    for m in maps:
        shape = " ".join(f"{dim}={n}" for dim, n in zip(m["dims"], m["shape"], strict=True))
        n_chunks = m["n_chunks"]
        chunks = " x ".join(map(str, m["chunks"])) + f" ({_plural(n_chunks, 'chunk')})"
        name = m["name"] if m["type"] == "Map" else f"{m['name']} ({m['type']})"
        sizes = [_size(m["bytes_in_memory"]), _size(m["bytes_on_disk"])]
        rows.append([name, shape, m["dtype"], m["unit"] or "-", chunks, *sizes])
    return _columns(rows, right=(5, 6))


def _geometry_text(geom: dict) -> str:
    if geom["type"] != "WcsGeom":
        if not geom.get("region"):
            return f"{geom['type']} without a region"
        lon, lat = geom["center_deg"]
        return f"{geom['type']}, {geom['region']}, {geom['frame']}, centre ({lon:.4f}, {lat:.4f}) deg"
    lon, lat = geom["center_deg"]
    width = " x ".join(f"{w:.4g}" for w in geom["width_deg"])
    pixel = " x ".join(f"{p:.4g}" for p in geom["pixel_size_deg"])
    pixel = pixel.split(" x ")[0] if len(set(pixel.split(" x "))) == 1 else pixel
    npix = " x ".join(map(str, geom["npix"]))
    return (
        f"{geom['projection']}, {geom['frame']}, centre ({lon:.4f}, {lat:.4f}) deg, width {width} deg, "
        f"pixel {pixel} deg, {npix} pixels"
    )


def _grouped(maps: list[dict], key) -> dict[str, list[str]]:
    """Map names by the text of one of their properties, in first-seen order."""
    out: dict[str, list[str]] = {}
    for m in maps:
        for text in key(m):
            out.setdefault(text, []).append(m["name"])
    return out


def _geometry_lines(maps: list[dict]) -> list[str]:
    grouped = _grouped(maps, lambda m: [_geometry_text(m["geom"])])
    return [f"    {', '.join(names)}: {text}" for text, names in grouped.items()]


def _axis_text(axis: dict) -> str:
    unit = f" {axis['unit']}" if axis["unit"] else ""
    if "labels" in axis:
        more = ", ..." if axis["nbin"] > 5 else ""
        return f"{axis['name']}: {axis['nbin']} labels ({', '.join(axis['labels'][:5])}{more})"
    return (
        f"{axis['name']}: {_plural(axis['nbin'], 'bin')}, {axis['min']:.4g} to {axis['max']:.4g}{unit}, "
        f"{axis['interp']}, {axis['node_type']}"
    )


def _axis_lines(maps: list[dict]) -> list[str]:
    grouped = _grouped(maps, lambda m: [_axis_text(axis) for axis in m["axes"]])
    return [f"    {text}  ({', '.join(names)})" for text, names in grouped.items()]


def _gti_text(gti: dict | None) -> str:
    if gti is None:
        return "none"
    if not gti["n_intervals"]:
        return "0 intervals"
    return (
        f"{_plural(gti['n_intervals'], 'interval')}, {gti['time_sum_s']:.6g} s in all, "
        f"from {gti['start']} to {gti['stop']} ({gti['scale'].upper()})"
    )


def _model_lines(models: list[dict]) -> list[str]:
    rows = [["model", "type", "spectral", "spatial", "temporal", "parameters (free)", "datasets"]]
    for m in models:
        datasets = ", ".join(m["datasets_names"]) if isinstance(m["datasets_names"], list) else "all"
        parameters = f"{m['parameters']} ({m['free']})"
        parts = [str(m.get(part) or "-") for part in ("spectral", "spatial", "temporal")]
        rows.append([str(m["name"]), str(m["type"]), *parts, parameters, datasets])
    return _columns(rows)
