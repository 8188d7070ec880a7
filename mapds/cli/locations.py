"""Where the commands read and write: storage options, output formats and checks, input lists."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, MissingFileError, OverwriteError
from .arguments import storage_option

if TYPE_CHECKING:
    from ..io.urls import Location

__all__ = [
    "add_storage_options",
    "check_output",
    "dataset_chunks",
    "output_format",
    "read_list",
    "require_files",
    "storage_options",
]

#: Output suffixes and the format each one is written in.
OUTPUT_FORMATS = {".zarr": "zarr", ".fits": "fits"}

#: ``--chunks`` names of the sky axes, and the maps' dimensions they stand for.
SKY_DIMS = {"lon": "x", "lat": "y"}


def add_storage_options(parser) -> None:
    """Add the repeatable ``--storage-option KEY=VALUE`` option (fsspec options)."""
    parser.add_argument(
        "--storage-option", action="append", type=storage_option, default=[], metavar="KEY=VALUE",
        help="an fsspec option for remote URLs (repeatable), e.g. endpoint_url=http://host:9000, "
        "anon=true; dotted keys nest (client_kwargs.region_name=eu-west-1)",
    )  # fmt: skip


def storage_options(pairs: list[tuple[str, Any]] | None) -> dict | None:
    """The ``storage_options`` dict of ``--storage-option`` pairs (None when there are none).

    A dotted key sets a value inside a nested dict (``client_kwargs.endpoint_url=...`` gives
    ``{"client_kwargs": {"endpoint_url": ...}}``), as fsspec filesystems take some options.
    """
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for key, value in pairs:
        *parents, last = key.split(".")
        node = options
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InvalidArgumentError(
                    f"--storage-option {key}: {part!r} is given both as a value and as a group of options"
                )
        node[last] = value
    return options


def output_format(path: str) -> str:
    """``"zarr"`` or ``"fits"``, from the suffix of an output path or URL."""
    lowered = path.rstrip("/").lower()
    if lowered.endswith(".gz"):
        raise InvalidArgumentError(
            f"cannot write {path}: mapds does not write gzip-compressed FITS (gzip files cannot be "
            "read at random); write a .fits file or a .zarr store"
        )
    for suffix, fmt in OUTPUT_FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    raise InvalidArgumentError(
        f"cannot tell the output format of {path!r}: end it with .zarr (zarr store) or .fits (FITS file)"
    )


def dataset_chunks(spec):
    """``--chunks`` as ``MapDataset.read`` takes them: ``lon``/``lat`` are the maps' ``x``/``y``."""
    if not isinstance(spec, dict):
        return spec
    return {SKY_DIMS.get(name, name): size for name, size in spec.items()}


def check_output(
    path: str, overwrite: bool, storage_options: dict | None, inputs: Sequence[str] = ()
) -> Location:
    """Where ``path`` is written, once checked that it may be written, before any work.

    Raises
    ------
    InvalidArgumentError
        The suffix names no format mapds writes, or ``path`` is one of ``inputs``.
    OverwriteError
        ``path`` exists and ``overwrite`` is false.
    """
    from ..io.urls import resolve

    output_format(path)
    target = resolve(path, storage_options or None)

    def url(location) -> str:
        return location.fs.unstrip_protocol(location.path)

    # Replacing an input while reading it would lose the input, or the result when a run fails.
    if any(url(resolve(item, storage_options or None)) == url(target) for item in inputs):
        raise InvalidArgumentError(f"the output {path} is also an input: give another output")
    if not overwrite and target.exists():
        raise OverwriteError(f"{path} exists: pass --overwrite to replace it, or choose another output")
    return target


def require_files(
    paths: Sequence[str], storage_options: dict, what: str, *, local_only: bool = False
) -> None:
    """Raise :class:`~mapds.errors.MissingFileError` naming the ``paths`` that do not exist.

    With ``local_only``, URLs are not looked up (one request each would slow down long lists;
    reading them reports a missing one anyway).
    """
    from ..io.urls import resolve

    missing = []
    for path in paths:
        location = resolve(path, storage_options or None)
        if (location.is_local or not local_only) and not location.exists():
            missing.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        if len(missing) == 1:
            raise MissingFileError(f"{what} not found: {shown} (check the path)")
        raise MissingFileError(f"{len(missing)} {what}s not found: {shown} (check the paths)")


def read_list(filename: str) -> list[str]:
    """The paths a list file names, one a line; blank lines and ``#`` comments are skipped."""
    try:
        if filename == "-":
            text = sys.stdin.read()
        else:
            with open(filename, encoding="utf-8") as f:
                text = f.read()
    except FileNotFoundError:
        raise MissingFileError(
            f"list file not found: {filename} (--from-list takes a text file, one path a line)"
        ) from None
    except UnicodeDecodeError:
        raise InvalidArgumentError(
            f"{filename} is not a text file: --from-list takes one path or URL a line"
        ) from None
    # Only whole-line comments: a '#' inside a path or URL (a fragment) is part of it.
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]
