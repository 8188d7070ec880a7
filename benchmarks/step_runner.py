"""Measured steps in fresh processes: the harness of the benchmark scripts.

A benchmark script defines its steps as functions ``step(args: dict) -> dict`` and calls
:func:`serve_step` from its ``main`` when started with ``--step NAME --step-args JSON``; the
orchestrating process calls :func:`run_step` (or a :class:`StepRunner`), which starts the script
again in a new interpreter (so imports, caches and memory do not leak between steps), reads the
step's JSON result from the last line of its standard output and adds the child's own peak RSS
(``os.wait4`` gives its ``ru_maxrss``).  The child's standard error passes through (progress
messages).

``StepRunner(..., fresh=False)`` runs the steps in the calling process instead (``--in-process``
of the scripts): for the smoke tests only, where the ≈4 s of imports per fresh interpreter would
dominate; the peak RSS is then the whole process's so far.

:func:`io_counters` / :func:`timed_io` give the bytes a step reads: ``bytes_read`` is what the
process asked for through ``read``/``pread`` (``rchar`` of ``/proc/self/io``), ``disk_bytes_read``
what the kernel fetched from storage (``read_bytes``, memory-mapped pages included).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "StepFailed",
    "StepRunner",
    "drop_cache",
    "files_of",
    "format_ratio",
    "io_counters",
    "run_step",
    "serve_step",
    "size_on_disk",
    "timed",
    "timed_io",
]


class StepFailed(RuntimeError):
    """A step's process exited with an error (its standard error was shown)."""


def run_step(script: str, name: str, args: dict) -> dict:
    """Run step ``name`` of ``script`` in a fresh interpreter: its result and ``peak_rss_mib``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, script, "--step", name, "--step-args", json.dumps(args)],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise StepFailed(f"step {name!r} of {Path(script).name} failed with exit code {code}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    result["process_seconds"] = time.perf_counter() - start
    return result


class StepRunner:
    """Runs the steps of one script: each in a fresh interpreter (``fresh=True``, the measurement
    mode) or in this process (``fresh=False``, for smoke tests)."""

    def __init__(self, script: str, steps: dict[str, Callable[[dict], dict]], fresh: bool = True):
        self.script, self.steps, self.fresh = script, steps, fresh

    def run(self, name: str, args: dict) -> dict:
        if self.fresh:
            return run_step(self.script, name, args)
        start = time.perf_counter()
        result = json.loads(json.dumps(self.steps[name](json.loads(json.dumps(args)))))
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["process_seconds"] = time.perf_counter() - start
        return result


def parse_or_serve(parser, argv, steps: dict[str, Callable[[dict], dict]]):
    """A benchmark's parsed command line, or None when it names one step: the script run again
    as that step's fresh process (see `StepRunner`), which then runs the step here."""
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        serve_step(steps, args.step, args.step_args)
        return None
    return args


def serve_step(steps: dict[str, Callable[[dict], dict]], name: str, args_json: str) -> None:
    """Run one step in this (child) process and print its result as the last line of JSON."""
    print(json.dumps(steps[name](json.loads(args_json))), flush=True)


#: What mapds imports at first use and gammapy with itself (``import gammapy.datasets`` loads them).
DEFERRED_MODULES = (
    "astropy.nddata",
    "scipy.integrate",
    "scipy.interpolate",
    "scipy.ndimage",
    "scipy.optimize",
    "scipy.signal",
    "scipy.spatial",
    "scipy.stats",
)


def import_deferred_modules() -> None:
    """Import :data:`DEFERRED_MODULES`, before any timing: a step's time is then its work in
    both libraries, not ~1.3 s of scipy imports in mapds' first computation (measured on its own
    by ``bench_import.py``)."""
    for name in DEFERRED_MODULES:
        importlib.import_module(name)


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    """``(seconds, result)`` of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def io_counters() -> tuple[int, int]:
    """``(rchar, read_bytes)`` of this process (zeros where ``/proc/self/io`` is missing)."""
    try:
        with open("/proc/self/io") as f:
            fields = dict(line.split(":") for line in f if ":" in line)
    except OSError:
        return 0, 0
    return int(fields.get("rchar", 0)), int(fields.get("read_bytes", 0))


def timed_io(function: Callable, *args, **kwargs) -> tuple[dict, object]:
    """``({"seconds", "bytes_read", "disk_bytes_read"}, result)`` of one call."""
    before = io_counters()
    seconds, result = timed(function, *args, **kwargs)
    after = io_counters()
    read = {"bytes_read": after[0] - before[0], "disk_bytes_read": after[1] - before[1]}
    return {"seconds": seconds, **read}, result


def format_ratio(numerator: float, denominator: float) -> str:
    """``numerator / denominator`` with one decimal, two significant digits below 1."""
    ratio = numerator / denominator
    return f"{ratio:.1f}" if ratio >= 1 else f"{ratio:.2g}"


def files_of(path: str) -> list[str]:
    """The file itself, or every file under a directory (a zarr store)."""
    if os.path.isdir(path):
        return sorted(str(p) for p in Path(path).rglob("*") if p.is_file())
    return [path]


def drop_cache(path: str) -> bool:
    """Evict the files of ``path`` from the page cache (only ours); whether the kernel allowed it."""
    try:
        for name in files_of(path):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    except (OSError, AttributeError):
        return False
    return True


def size_on_disk(path: str) -> int:
    """Bytes of a file, or of every file under a directory (a zarr store)."""
    return sum(os.path.getsize(p) for p in files_of(path))
