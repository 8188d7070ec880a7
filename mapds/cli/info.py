"""``mapds info``: what FITS files, zarr stores and YAML files hold, from their metadata alone.

Each input is opened with mapds' lazy readers, which parse headers, bands tables, zarr metadata
and small tables (GTI) only: no pixel is read.  The description (:func:`.description.describe`) is
printed as text (:func:`render`) or, with ``--json``, as one JSON document.
"""

from __future__ import annotations

import json

from .arguments import add_command
from .description import describe
from .locations import add_storage_options, storage_options
from .steps import format_size

__all__ = ["add_parser", "render", "run"]


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
