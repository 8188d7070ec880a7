"""``mapds convert``: a dataset or map from FITS (plain or gzip) to zarr and back, at any URL.

The input is opened lazily (:func:`mapds.cli.sources.open_source`) and written chunk by chunk with
mapds' ``write`` methods, which publish the output atomically: it appears only once complete, an
interrupted conversion leaves any earlier output as it was.
"""

from __future__ import annotations

from .arguments import add_command, chunks_spec
from .locations import add_storage_options, check_output, dataset_chunks, storage_options
from .progress import progress
from .sources import bytes_on_disk, open_source, read_source_map
from .steps import Steps, format_size

__all__ = ["add_parser", "run"]

#: Map names that only say where a map was stored, not what it is: not carried over.
_ANONYMOUS = ("PRIMARY", "DATA")


def add_parser(commands) -> None:
    """Register ``mapds convert``."""
    parser = add_command(
        commands,
        "convert",
        "convert a dataset or map between FITS and zarr (any URL)",
        """
        Convert IN to OUT: FITS (plain or gzip-compressed) to zarr, zarr to FITS, or to the same
        format with other chunks. The format of OUT follows its name (.zarr or .fits). A dataset
        file is converted as a MapDataset (all its maps, GTI and meta table), a map file as a Map.

        The data are streamed chunk by chunk, never held whole in memory. OUT appears only once
        complete: an interrupted conversion leaves any earlier OUT untouched. An existing OUT is
        an error unless --overwrite is given. The storage options apply to IN and OUT.
        """,
        """
        mapds convert survey.fits survey.zarr
        mapds convert --chunks energy=-1,lon=512,lat=512 survey.fits.gz s3://bucket/survey.zarr
        mapds convert --overwrite survey.zarr survey.fits
        """,
    )
    parser.add_argument("input", metavar="IN", help="FITS file (plain or .gz) or zarr store")
    parser.add_argument("output", metavar="OUT", help="output: a .zarr store or a .fits file")
    parser.add_argument(
        "--chunks", type=chunks_spec, default=None, metavar="SPEC",
        help="chunks of the data while converting, and of a zarr output: auto, one size in pixels "
        "for every axis (256), or name=size pairs (energy=-1,lon=512,lat=512; -1 = the whole axis); "
        "default: the input's own",
    )  # fmt: skip
    parser.add_argument("--hdu", help="the map to convert, when IN holds several independent maps")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_storage_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    """Open IN lazily, check OUT, then write OUT chunk by chunk."""
    options = storage_options(args.storage_option)
    target = check_output(args.output, args.overwrite, options, [args.input])
    steps = Steps(args.quiet)
    with steps.step(f"opening {args.input}"):
        value, kind, name = _open_input(args.input, options, dataset_chunks(args.chunks), args.hdu)
    with steps.step(f"writing {kind} to {args.output}"), progress(args.show_progress):
        if kind == "MapDataset":
            value.write(target, overwrite=args.overwrite)
        else:
            value.write(target, overwrite=args.overwrite, hdu=name)
    steps.say(f"wrote {args.output} ({format_size(bytes_on_disk(target))})")
    return 0


def _open_input(url: str, options: dict | None, chunks, hdu: str | None):
    """The input as a lazy MapDataset or Map, its kind, and the map's stored name to keep."""
    from ..datasets import MapDataset
    from ..errors import InvalidArgumentError

    source = open_source(url, options)
    if source.kind == "MapDataset":
        if hdu is not None:
            raise InvalidArgumentError(f"{url} is a dataset: --hdu selects a map of a map file only")
        return MapDataset.read(source.location, chunks=chunks), "MapDataset", None
    if source.kind != "Map":
        hint = (
            "convert the dataset files it lists one by one"
            if source.kind == "Datasets"
            else "it holds no data"
        )
        raise InvalidArgumentError(
            f"{url} is a {source.kind.lower()} YAML file: convert takes one FITS file or zarr store ({hint})"
        )
    name = _map_name(source.map_names, hdu, url)
    m = read_source_map(source, name, chunks=chunks)
    return m, "Map", None if name.upper() in _ANONYMOUS else name


def _map_name(names: list[str], hdu: str | None, url: str) -> str:
    """The stored name of the map to convert: ``--hdu``, or the only map of the input."""
    from ..errors import InvalidArgumentError

    if hdu is None:
        if len(names) > 1:
            raise InvalidArgumentError(
                f"{url} holds {len(names)} maps ({', '.join(names)}): choose one with --hdu"
            )
        return names[0]
    for name in names:
        if name.lower() == hdu.lower():
            return name
    raise InvalidArgumentError(f"{url} has no map {hdu!r}; its maps are: {', '.join(names)}")
