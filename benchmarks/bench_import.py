"""Import cost: ``import mapds`` beside ``import gammapy.datasets``, each in a fresh interpreter.

The target (issue 13): ``import mapds`` is no slower than ``import gammapy.datasets`` on the same
machine.  ``--repeat`` times, alternating (so that a change of the machine's load hits both
alike), this script starts a fresh interpreter that runs ``python -c "import mapds"``, then one
that runs ``python -c "import gammapy.datasets"``, and one that runs ``python -c pass`` (the
interpreter's own start-up, library ``raw``: the floor under both).  Each child's wall time and
CPU time (user + system, from ``os.wait4``) are recorded; the step's seconds are the median wall
time of the repeats, and ``gammapy / mapds`` is the ratio of those medians (≥ 1: the target is
met).  On a shared machine the CPU seconds are the steadier figure: they are reported beside.

Bytecode: by default the children read and write their compiled bytecode under a temporary
``PYTHONPYCACHEPREFIX`` that one untimed import of each package fills first (case
``cached_bytecode``: an installed package, whose ``.pyc`` files pip wrote).  ``--from-source``
makes them compile every module at every import instead (``PYTHONDONTWRITEBYTECODE``, an empty
prefix: case ``from_source``, what an environment without bytecode caches pays).

Each child also reports how many modules the import loaded and which of the heavy optional
modules (scipy.signal, matplotlib, distributed, s3fs, zarr...) it loaded
(``tests/test_import_cost.py`` asserts that ``import mapds`` loads none of the test-only and
plotting ones).

``--in-process`` (smoke tests) imports each package in this process instead: no fresh
interpreters, so the figures mean nothing (a package already imported costs nothing).

Usage::

    python benchmarks/bench_import.py --repeat 7
    python benchmarks/bench_import.py --repeat 7 --from-source
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import Report, add_common_arguments

#: library -> the statement its step runs
STATEMENTS = {"mapds": "import mapds", "gammapy": "import gammapy.datasets", "raw": "pass"}
STEPS = {"mapds": "import", "gammapy": "import", "raw": "start python"}
#: Modules worth knowing whether an import loaded them.
HEAVY = ("scipy.signal", "scipy.stats", "scipy.optimize", "scipy.ndimage", "matplotlib", "regions",
         "pandas", "zarr", "fsspec", "astropy.table", "astropy.convolution", "distributed", "s3fs",
         "gammapy", "moto", "iminuit")
#: Printed by each child after its statement: the modules it loaded.
REPORT_MODULES = (
    "import json, sys; print(json.dumps({'modules': len(sys.modules), "
    f"'heavy': [m for m in {list(HEAVY)!r} if m in sys.modules]}}))"
)


def child_environment(prefix: str, from_source: bool) -> dict[str, str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=prefix)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if from_source:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_fresh(statement: str, env: dict[str, str]) -> dict:
    """One fresh interpreter running ``statement``: wall and CPU seconds, peak RSS, modules loaded."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", f"{statement}\n{REPORT_MODULES}"], stdout=subprocess.PIPE,
                            text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{statement!r} failed in a fresh interpreter")
    return {"seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024, **json.loads(out.strip().splitlines()[-1])}


def run_in_process(library: str) -> dict:
    """Smoke-test mode: the import in this process (nothing if the package is already loaded)."""
    start, cpu = time.perf_counter(), time.process_time()
    if library != "raw":
        importlib.import_module(STATEMENTS[library].removeprefix("import "))
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "peak_rss_mib": None, "modules": len(sys.modules),
            "heavy": [m for m in HEAVY if m in sys.modules]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per library (default 7)")
    parser.add_argument("--from-source", action="store_true",
                        help="no bytecode caches: every import compiles its modules")
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    libraries = ["mapds"] + ([] if args.no_gammapy else ["gammapy"]) + ["raw"]
    case = "from_source" if args.from_source else "cached_bytecode"
    info = {"bytecode": "none (compiled at every import)" if args.from_source else "cached",
            "repeat": args.repeat, "statements": {lib: STATEMENTS[lib] for lib in libraries}}
    report = Report(__file__, case, info, sys.argv[1:] if argv is None else argv,
                    fresh_processes=not args.in_process)
    report.data["extra"]["environment_dont_write_bytecode"] = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))

    runs: dict[str, list[dict]] = {lib: [] for lib in libraries}
    with tempfile.TemporaryDirectory(prefix="mapds-bench-import-") as prefix:
        env = child_environment(prefix, args.from_source)
        if not args.in_process:
            for library in libraries:  # untimed: fills the bytecode cache and the page cache
                run_fresh(STATEMENTS[library], env)
        for i in range(args.repeat):
            for library in libraries:  # alternating: load changes hit every library alike
                result = run_in_process(library) if args.in_process else run_fresh(STATEMENTS[library], env)
                runs[library].append(result)
            shown = ", ".join(f"{lib} {runs[lib][-1]['seconds']:.2f} s" for lib in libraries)
            print(f"  {i + 1}/{args.repeat}: {shown}", file=sys.stderr)

    for library in libraries:
        times = [r["seconds"] for r in runs[library]]
        cpu = [r["cpu_seconds"] for r in runs[library]]
        peaks = [r["peak_rss_mib"] for r in runs[library] if r["peak_rss_mib"] is not None]
        last = runs[library][-1]
        what = f"python -c {STATEMENTS[library]!r} in a fresh interpreter; median of {args.repeat}"
        report.step(library, STEPS[library], what, {"seconds": statistics.median(times)},
                    peak_rss_mib=statistics.median(peaks) if peaks else None,
                    cpu_seconds=statistics.median(cpu), min_seconds=min(times), repeats=times,
                    cpu_repeats=cpu, modules=last["modules"], heavy_modules=last["heavy"])
    ratio = report.compare("import")
    if ratio is not None:
        mapds_cpu = report.get("mapds", "import")["cpu_seconds"]
        gammapy_cpu = report.get("gammapy", "import")["cpu_seconds"]
        report.data["extra"]["cpu_ratio_gammapy_over_mapds"] = gammapy_cpu / mapds_cpu if mapds_cpu else None
    report.finish()

    print(f"\nimport cost, {info['bytecode']} bytecode, median of {args.repeat} fresh interpreters")
    header = f"{'library':8} {'statement':26} {'wall s':>7} {'cpu s':>7} {'min s':>7} {'modules':>8}"
    print(f"{header}  heavy modules")
    for entry in report.steps:
        print(f"{entry['library']:8} {STATEMENTS[entry['library']]:26} {entry['seconds']:7.3f} "
              f"{entry['cpu_seconds']:7.3f} {entry['min_seconds']:7.3f} {entry['modules']:8d}  "
              f"{', '.join(entry['heavy_modules']) or '-'}")
    if ratio is not None:
        cpu_ratio = report.data["extra"]["cpu_ratio_gammapy_over_mapds"]
        print(f"gammapy / mapds: {ratio:.2f} (wall), {cpu_ratio:.2f} (cpu); ≥ 1 meets the target")
    path = report.write(args.results_dir)
    print(f"written: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
