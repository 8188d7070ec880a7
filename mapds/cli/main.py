"""``mapds``'s entry point: the parser of every subcommand, and errors turned into one line."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings

from .arguments import CommandParser, common_options

__all__ = ["main"]

#: The subcommand modules, in the order ``mapds --help`` lists them.
COMMANDS = ("info", "convert", "stack", "npred", "fit", "demo")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mapds")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``mapds`` parser with one subparser per module of :data:`COMMANDS`."""
    from importlib import import_module

    parser = CommandParser(
        prog="mapds",
        description="Lazy, chunked gamma-ray sky-cube analysis (gammapy's MapDataset on dask and xarray).",
        epilog="Run 'mapds COMMAND --help' for a command's options and examples.",
        parents=[common_options()],
    )
    parser.add_argument("--version", action="version", version=f"mapds {_version()}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for name in COMMANDS:
        import_module(f"{__package__}.{name}").add_parser(commands)
    return parser


def describe(error: BaseException) -> str:
    """One line saying what went wrong, for any error a command can meet."""
    from ..errors import MapdsError

    if isinstance(error, MapdsError):  # some messages quote a parser's report over several lines
        return " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file or directory: {error.filename}"
    if isinstance(error, PermissionError) and error.filename:
        return f"permission denied: {error.filename}"
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    detail = f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__
    return f"{detail} (unexpected: rerun with -v for the traceback)"


def _one_line_warning(command: str):
    """A ``warnings.showwarning`` printing ``mapds COMMAND: warning: message`` (no source line)."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"mapds {command}: warning: {message}", file=file or sys.stderr)

    return show


def _fill_common_options(args: argparse.Namespace) -> None:
    """Defaults of the options every subcommand accepts (suppressed in the parsers, so that an
    option given before the subcommand's name is not reset by the subcommand's default)."""
    args.verbose = getattr(args, "verbose", 0) or 0
    args.quiet = getattr(args, "quiet", False)
    args.show_progress = getattr(args, "progress", False) or (not args.quiet and sys.stderr.isatty())


def main(argv: list[str] | None = None) -> int:
    """Run ``mapds`` with ``argv`` (the process's arguments by default); return the exit status."""
    args = build_parser().parse_args(argv)
    _fill_common_options(args)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(name)s: %(message)s")
    with warnings.catch_warnings():  # restores showwarning when main returns (tests call it in-process)
        if not args.verbose:
            warnings.showwarning = _one_line_warning(args.command)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print(f"mapds {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        print(f"mapds {args.command}: error: {describe(error)}", file=sys.stderr)
        return 1
