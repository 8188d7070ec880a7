"""Argument parsing of the ``mapds`` command: plain-text help, one-line errors, value checks."""

from __future__ import annotations

import argparse
import sys
import textwrap

__all__ = [
    "CommandParser",
    "add_command",
    "chunks_spec",
    "common_options",
    "positive_float",
    "positive_int",
    "storage_option",
]


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line naming the command and its ``--help``."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts (also before the subcommand's name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="say more: log messages, and the traceback of an error (-vv: debug messages)",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only results and errors (no steps, no progress bar)",
    )
    common.add_argument(
        "--progress",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the progress bar even when standard error is not a terminal",
    )
    return common


def add_command(commands, name: str, summary: str, description: str, examples: str, **kwargs):
    """Add a subcommand whose help is plain text: a summary, a description and examples."""
    epilog = "examples:\n" + textwrap.indent(textwrap.dedent(examples).strip("\n"), "  ")
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.dedent(description).strip(),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_options()],
        **kwargs,
    )


def positive_float(text: str) -> float:
    """A finite number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def chunks_spec(text: str):
    """``--chunks``: ``auto``, one size for every axis (``256``) or ``name=size`` pairs (``lon=512,lat=512``).

    Sizes are whole numbers of pixels, or ``-1`` for the whole axis.
    """
    text = text.strip()
    if text == "auto":
        return "auto"
    if "=" not in text:
        return _chunk_size(text)
    chunks = {}
    for item in text.split(","):
        name, _, size = item.partition("=")
        if not name.strip() or not size.strip():
            raise argparse.ArgumentTypeError(f"expected name=size, got {item!r}")
        chunks[name.strip()] = _chunk_size(size)
    return chunks


def _chunk_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a chunk size in pixels or -1, got {text!r}") from None
    if size == 0 or size < -1:
        raise argparse.ArgumentTypeError(
            f"a chunk size is at least 1 pixel (or -1 for the whole axis), got {size}"
        )
    return size


def storage_option(text: str) -> tuple[str, object]:
    """``-o key=value`` storage options for fsspec: ``true``/``false``, numbers and strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw
