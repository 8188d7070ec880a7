"""What a long command prints while it works: each step's title, duration and bytes read."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

__all__ = ["Steps", "format_size"]


def format_size(n_bytes: float) -> str:
    """``1.2 MB``-style size (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes:.0f} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n_bytes /= 1000
        if n_bytes < 1000 or unit == "TB":
            break
    return f"{n_bytes:.1f} {unit}"


def _process_bytes_read() -> int | None:
    """Bytes this process has read through system calls (Linux ``/proc/self/io``), if known."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Steps:
    """Prints steps and notes to a stream, or nothing when quiet.

    Parameters
    ----------
    quiet : bool
        Print nothing (``-q``); results a command prints itself are not affected.
    stream : file, optional
        Standard output by default.
    """

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stdout

    def say(self, text: str) -> None:
        """Print a line unless quiet."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str):
        """Print ``- title ...``, then the step's duration and the bytes the process read meanwhile."""
        if self.quiet:
            yield
            return
        print(f"- {title} ...", end="", file=self.stream, flush=True)
        before, start = _process_bytes_read(), time.perf_counter()
        try:
            yield
        except BaseException:
            print(" failed", file=self.stream, flush=True)
            raise
        seconds = time.perf_counter() - start
        after = _process_bytes_read()
        read = f", read {format_size(after - before)}" if before is not None and after is not None else ""
        print(f" {seconds:.2f} s{read}", file=self.stream, flush=True)
