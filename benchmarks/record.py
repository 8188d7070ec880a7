"""Benchmark results as JSON: one file per script and case, ``results/<script>-<case>.json``.

Every benchmark script builds its report with :class:`Report` and writes it with
:meth:`Report.write`; ``report.py`` renders the README tables from these files only.  Standard
library only (``report.py`` and the tests import it without mapds, dask or gammapy).

Schema ``mapds-benchmark/1``::

    {
      "schema": "mapds-benchmark/1",
      "script": "bench_dataset",              # the script's file name without .py
      "case": "w5_h2_b0.02_e10_t15_kernel",   # the results file is <script>-<case>.json
      "case_info": {...},                      # sizes: npix, nbin, voxels, n_models, ...
      "date": "2025-01-01T12:00:00+00:00",     # UTC, when the run started
      "seconds_total": 12.3,                   # wall time of the whole run
      "command": "python benchmarks/bench_dataset.py ...",   # paths relative to the repository
      "machine": {...}, "versions": {...}, "git": {...},
      "conditions": {"fresh_processes": true, "cold_cache": true,
                     "load_average_start": [...], "load_average_end": [...]},
      "steps": [                               # one entry per (library, step)
        {"id": "mapds:open fits", "library": "mapds", "step": "open fits", "what": "...",
         "seconds": 0.07, "peak_rss_mib": 216.0, "bytes_read": 138345, ...}
      ],
      "comparisons": [                         # ratios, only between entries of the same step
        {"step": "npred cold (fits)", "numerator": "gammapy:npred cold (fits)",
         "denominator": "mapds:npred cold (fits)", "ratio": 11.0}
      ],
      "notes": [...], "extra": {...}           # script-specific
    }

A step that failed has ``"seconds": null`` and ``"error"``.  ``peak_rss_mib`` is the peak RSS of
the process the step ran in (a fresh one per step unless ``conditions.fresh_processes`` is false,
as in the smoke tests, where it is the peak of the whole run so far).  ``bytes_read`` counts the
bytes the process asked for through ``read``/``pread`` during the timed part (``rchar`` of
``/proc/self/io``); ``disk_bytes_read`` the bytes the kernel fetched from storage meanwhile
(``read_bytes``, which also counts memory-mapped pages).

A comparison is a *like* step by construction: both entries carry the same ``step`` label, so
they do the same work to the same result (the ``what`` of each entry says how); steps that
differ in kind (a lazy open against a full load) share no label and get no ratio.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

__all__ = [
    "BENCH_DIR",
    "REPO",
    "RESULTS_DIR",
    "SCHEMA",
    "Report",
    "SchemaError",
    "add_common_arguments",
    "command_line",
    "default_workdir",
    "load_results",
    "result_path",
    "validate",
]

SCHEMA = "mapds-benchmark/1"
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGES = ("mapds", "gammapy", "numpy", "dask", "xarray", "zarr", "astropy", "fsspec", "distributed")


class SchemaError(ValueError):
    """A results file does not follow ``mapds-benchmark/1``."""


# -- run metadata --------------------------------------------------------------------------------------


def _relative(arg: str) -> str:
    """``arg`` with any path inside the repository written relative to it."""
    prefix, sep, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    path = Path(value)
    if path.is_absolute():
        try:
            value = str(path.resolve().relative_to(REPO))
        except ValueError:
            pass
    return f"{prefix}{sep}{value}"


def command_line(script: str, argv: list[str]) -> str:
    """The command that reproduces a run, from the repository's top directory."""
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *(_relative(a) for a in argv)])


def machine() -> dict:
    """CPU, memory and OS of this machine (no host name, no paths)."""
    info = {
        "system": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": None,
        "memory_gib": None,
    }
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                                     None)
        with open("/proc/meminfo") as f:
            kib = next(int(ln.split()[1]) for ln in f if ln.startswith("MemTotal"))
        info["memory_gib"] = round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return info


def versions() -> dict:
    """Installed versions of the packages the benchmarks use (None when absent)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_state() -> dict:
    """Commit of the repository and whether tracked files differ from it."""

    def git(*args):
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    spec = importlib.util.find_spec("mapds")
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    if origin is None:
        source = None
    elif origin.is_relative_to(REPO):
        source = "repository"
    else:  # e.g. PYTHONPATH pointing at a snapshot of a commit while the working tree is being edited
        source = "outside the repository"
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "mapds_imported_from": source,
    }


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def add_common_arguments(parser, in_process: bool = True) -> None:
    """``--results-dir`` and (for scripts with fresh-process steps) ``--in-process``."""
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                        help="where <script>-<case>.json is written (default: benchmarks/results)")
    if in_process:
        parser.add_argument("--in-process", action="store_true",
                            help="run every step in this process (smoke tests; peak RSS is then the run's)")


def default_workdir(script: str) -> Path:
    """Scratch directory for a script's files: under the system's temporary directory."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"mapds-{Path(script).stem}"


# -- the report ----------------------------------------------------------------------------------------


def result_path(results_dir: Path, script: str, case: str) -> Path:
    return Path(results_dir) / f"{script}-{case}.json"


class Report:
    """Collects the steps and like-step ratios of one run of one script on one case."""

    def __init__(self, script: str, case: str, case_info: dict, argv: list[str], *, fresh_processes=True):
        self.script = Path(script).stem
        self.case = case
        self._start = time.perf_counter()
        self.data = {
            "schema": SCHEMA,
            "script": self.script,
            "case": case,
            "case_info": case_info,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "seconds_total": None,
            "command": command_line(script, argv),
            "machine": machine(),
            "versions": versions(),
            "git": git_state(),
            "conditions": {"fresh_processes": fresh_processes, "cold_cache": None,
                           "load_average_start": load_average(), "load_average_end": None},
            "steps": [],
            "comparisons": [],
            "notes": [],
            "extra": {},
        }

    @property
    def steps(self) -> list[dict]:
        return self.data["steps"]

    def step(self, library: str, step: str, what: str, result: dict | None, **fields) -> dict:
        """Add one measured step: ``result`` is what the step returned (``seconds``,
        ``peak_rss_mib``, ``bytes_read``... or ``error``); ``fields`` override or add keys."""
        result = dict(result or {})
        entry = {"id": f"{library}:{step}", "library": library, "step": step, "what": what,
                 "seconds": None, "peak_rss_mib": None}
        entry.update({k: v for k, v in result.items() if not isinstance(v, (dict, list)) or k == "error"})
        entry.update(fields)
        if any(s["id"] == entry["id"] for s in self.steps):
            raise ValueError(f"duplicate step {entry['id']!r}")
        self.steps.append(entry)
        return entry

    def get(self, library: str, step: str) -> dict | None:
        return next((s for s in self.steps if s["id"] == f"{library}:{step}"), None)

    def compare(self, step: str, numerator: str = "gammapy", denominator: str = "mapds") -> float | None:
        """Ratio of the seconds of two libraries' entries of the same ``step`` (when both ran)."""
        top, bottom = self.get(numerator, step), self.get(denominator, step)
        if top is None or bottom is None or not top.get("seconds") or not bottom.get("seconds"):
            return None
        ratio = top["seconds"] / bottom["seconds"]
        self.data["comparisons"].append(
            {"step": step, "numerator": top["id"], "denominator": bottom["id"], "ratio": ratio}
        )
        return ratio

    def note(self, text: str) -> None:
        self.data["notes"].append(text)

    def finish(self, cold_cache: bool | None = None) -> dict:
        self.data["conditions"]["cold_cache"] = cold_cache
        self.data["conditions"]["load_average_end"] = load_average()
        self.data["seconds_total"] = round(time.perf_counter() - self._start, 3)
        validate(self.data)
        return self.data

    def write(self, results_dir: Path) -> Path:
        path = result_path(results_dir, self.script, self.case)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.data, indent=1, sort_keys=False) + "\n")
        return path


# -- validation and loading ------------------------------------------------------------------------


_TOP = {
    "schema": str, "script": str, "case": str, "case_info": dict, "date": str, "command": str,
    "machine": dict, "versions": dict, "git": dict, "conditions": dict, "steps": list,
    "comparisons": list, "notes": list, "extra": dict,
}
_STEP = {"id": str, "library": str, "step": str, "what": str}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate(data: dict) -> None:
    """Raise :class:`SchemaError` unless ``data`` is a ``mapds-benchmark/1`` report whose ratios
    compare like steps (same ``step`` label, different entries) and match their seconds."""

    def fail(message):
        raise SchemaError(f"{data.get('script')}-{data.get('case')}: {message}")

    for key, kind in _TOP.items():
        if not isinstance(data.get(key), kind):
            fail(f"{key!r} missing or not a {kind.__name__}")
    if data["schema"] != SCHEMA:
        fail(f"schema {data['schema']!r}, expected {SCHEMA!r}")
    if not data["command"].startswith(f"python benchmarks/{data['script']}.py"):
        fail(f"command {data['command']!r} does not run benchmarks/{data['script']}.py")
    for key in ("fresh_processes", "cold_cache", "load_average_start"):
        if key not in data["conditions"]:
            fail(f"conditions lack {key!r}")
    ids = {}
    for step in data["steps"]:
        for key, kind in _STEP.items():
            if not isinstance(step.get(key), kind):
                fail(f"step {step.get('id')!r}: {key!r} missing or not a {kind.__name__}")
        if step["id"] != f"{step['library']}:{step['step']}":
            fail(f"step id {step['id']!r} is not 'library:step'")
        if step["id"] in ids:
            fail(f"duplicate step {step['id']!r}")
        ids[step["id"]] = step
        if step.get("seconds") is None:
            if "error" not in step:
                fail(f"step {step['id']!r} has no seconds and no error")
        elif not _number(step["seconds"]) or step["seconds"] < 0:
            fail(f"step {step['id']!r}: seconds {step['seconds']!r}")
        for key in ("peak_rss_mib", "bytes_read", "disk_bytes_read"):
            if step.get(key) is not None and not _number(step[key]):
                fail(f"step {step['id']!r}: {key} {step[key]!r}")
    for comp in data["comparisons"]:
        top, bottom = ids.get(comp.get("numerator")), ids.get(comp.get("denominator"))
        if top is None or bottom is None:
            fail(f"comparison {comp!r} refers to unknown steps")
        if not (top["step"] == bottom["step"] == comp.get("step")) or top["library"] == bottom["library"]:
            fail(f"comparison {comp!r} is not between two libraries' entries of one step")
        expected = top["seconds"] / bottom["seconds"]
        if not _number(comp.get("ratio")) or abs(comp["ratio"] - expected) > 1e-9 * expected:
            fail(f"comparison {comp!r}: ratio is not {expected}")
    text = json.dumps(data)
    if str(REPO.parent) + os.sep in text:
        fail("holds an absolute path of this machine")


def load_results(results_dir: Path = RESULTS_DIR) -> list[dict]:
    """Every results file under ``results_dir`` (validated), sorted by script and size."""
    reports = []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text())
        validate(data)
        if path.name != f"{data['script']}-{data['case']}.json":
            raise SchemaError(f"{path.name}: should be named {data['script']}-{data['case']}.json")
        reports.append(data)
    return sorted(reports, key=lambda r: (r["script"], r["case_info"].get("voxels", 0), r["case"]))


if __name__ == "__main__":  # validate files given on the command line
    for name in sys.argv[1:]:
        validate(json.loads(Path(name).read_text()))
        print(f"{name}: ok")
