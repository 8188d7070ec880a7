"""Dataset benchmark: build, write, read, npred and the likelihood of the survey, mapds beside gammapy.

For survey cases of ``survey-benchmark-cases.json`` (labels or ``WIDTHxHEIGHT`` in pixels) every
step runs in a fresh Python process, which reports its wall time and its peak RSS:

- ``build + fake``: mapds builds the lazy dataset (:func:`mapds.simulate.survey_dataset`) and
  draws the counts chunk by chunk (``MapDataset.fake``; their sum is computed, nothing is kept);
  gammapy builds the same dataset in memory (``survey_case.gammapy_dataset``) and calls its
  ``fake``;
- ``write``: mapds streams build + fake + write to FITS and to zarr; gammapy writes FITS (its
  dataset built beforehand, untimed, with mapds' counts read from mapds' FITS file, so that both
  files hold the same numbers);
- ``read``: mapds opens the file lazily (headers and small tables only); gammapy reads it whole;
- ``npred``: the sum of a cold ``npred()`` — mapds from each file (nothing in memory; the file
  pages are evicted first), gammapy on its dataset built in memory (untimed) with mapds' counts;
- ``stat_sum``: cold, then after one amplitude change and after one position change (of the
  first source), in the same process as the cold one, whose state they need.

The agreement column gives the relative difference of each npred sum and statistic from
gammapy's.  gammapy keeps every map in memory: it is skipped above ``--gammapy-max-voxels``.

``--target`` measures the 1e9-voxel survey of the targets (360° x 28° at 0.01°, 10 reco and 15 true
energy bins) and a smaller one with mapds only, to show that peak RSS stays constant in cube size;
it writes zarr only (a FITS copy is ≈15 GB), or nothing with ``--no-io`` (then npred and
stat_sum are computed from the lazy dataset built from the formulas).

Usage::

    python benchmarks/bench_dataset.py 1000x250 4000x500 18000x500 --dir /tmp/bench-dataset
    python benchmarks/bench_dataset.py 18000x900 --no-gammapy
    python benchmarks/bench_dataset.py --target --target-sizes 360x7 360x28 --dir /tmp/bench-target
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_runner import StepFailed, drop_cache, format_ratio, run_step, serve_step, size_on_disk, timed
from survey_case import CASES_FILE, load_case

FORMATS = ("fits", "zarr")
CHANGED_MODEL = "src000"
POSITION_SHIFT_DEG = 0.2
AMPLITUDE_FACTOR = 1.5


# -- what both libraries do --------------------------------------------------------------------------


def change_amplitude(models) -> None:
    """Scale the first source's amplitude (both libraries share the parameter API)."""
    models[CHANGED_MODEL].spectral_model.amplitude.value *= AMPLITUDE_FACTOR


def change_position(models) -> None:
    """Move the first source towards the map centre in longitude."""
    lon_0 = models[CHANGED_MODEL].spatial_model.lon_0
    lon_0.value -= math.copysign(POSITION_SHIFT_DEG, lon_0.value)


def statistics_with_changes(dataset) -> dict:
    """Cold ``stat_sum``, then after an amplitude and after a position change (seconds, values)."""
    result = {}
    for label, change in (("cold", None), ("amplitude", change_amplitude), ("position", change_position)):
        if change is not None:
            change(dataset.models)
        seconds, value = timed(dataset.stat_sum)
        result[f"stat_{label}_s"], result[f"stat_{label}"] = seconds, float(value)
    return result


# -- mapds steps (each runs in its own process) -------------------------------------------------------


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def _mapds_dataset(args: dict):
    """The dataset read lazily from ``args["path"]``, with the case's models; or, without a path,
    built lazily from the formulas (counts drawn chunk by chunk)."""
    from mapds.datasets import MapDataset
    from mapds.simulate import survey_dataset, survey_models

    if args.get("path") is None:
        return survey_dataset(args["case"])
    dataset = MapDataset.read(args["path"])
    dataset.models = survey_models(args["case"], dataset_name=dataset.name)
    return dataset


def mapds_build(args: dict) -> dict:
    from mapds.simulate import survey_dataset

    seconds, total = timed(lambda: float(survey_dataset(args["case"]).counts.data.sum().compute()))
    return {"seconds": seconds, "counts_sum": total}


def mapds_write(args: dict) -> dict:
    from mapds.simulate import survey_dataset

    dataset = survey_dataset(args["case"])
    seconds, _ = timed(dataset.write, args["path"], overwrite=True)
    return {"seconds": seconds, "bytes": size_on_disk(args["path"])}


def mapds_read(args: dict) -> dict:
    from mapds.datasets import MapDataset

    # Open once so that lazily imported modules are loaded, then evict the file again.
    MapDataset.read(args["path"])
    drop_cache(args["path"])
    before = _rchar()
    seconds, _ = timed(MapDataset.read, args["path"])
    return {"seconds": seconds, "bytes_read": _rchar() - before}


def mapds_npred(args: dict) -> dict:
    dataset = _mapds_dataset(args)
    seconds, total = timed(lambda: float(dataset.npred().data.sum(dtype="f8").compute()))
    return {"seconds": seconds, "npred_sum": total}


def mapds_stat(args: dict) -> dict:
    return statistics_with_changes(_mapds_dataset(args))


# -- gammapy steps -----------------------------------------------------------------------------------


def _gammapy_with_mapds_counts(args: dict):
    """gammapy's dataset in memory, with the counts mapds drew (read from mapds' FITS file)."""
    from gammapy.maps import Map
    from survey_case import gammapy_dataset

    counts = Map.read(args["mapds_fits"], hdu="COUNTS").data
    return gammapy_dataset(args["case"], counts=counts)


def gammapy_build(args: dict) -> dict:
    from survey_case import gammapy_dataset

    def build_and_fake() -> float:
        dataset = gammapy_dataset(args["case"])
        dataset.fake(random_state=args["case"]["fake_random_state"])
        return float(dataset.counts.data.sum())

    seconds, total = timed(build_and_fake)
    return {"seconds": seconds, "counts_sum": total}


def gammapy_write(args: dict) -> dict:
    dataset = _gammapy_with_mapds_counts(args)
    seconds, _ = timed(dataset.write, args["path"], overwrite=True)
    return {"seconds": seconds, "bytes": size_on_disk(args["path"])}


def gammapy_read(args: dict) -> dict:
    from gammapy.datasets import MapDataset

    seconds, _ = timed(MapDataset.read, args["path"])
    return {"seconds": seconds}


def gammapy_npred(args: dict) -> dict:
    dataset = _gammapy_with_mapds_counts(args)
    seconds, total = timed(lambda: float(dataset.npred().data.sum(dtype="f8")))
    return {"seconds": seconds, "npred_sum": total}


def gammapy_stat(args: dict) -> dict:
    return statistics_with_changes(_gammapy_with_mapds_counts(args))


STEPS = {
    "mapds_build": mapds_build,
    "mapds_write": mapds_write,
    "mapds_read": mapds_read,
    "mapds_npred": mapds_npred,
    "mapds_stat": mapds_stat,
    "gammapy_build": gammapy_build,
    "gammapy_write": gammapy_write,
    "gammapy_read": gammapy_read,
    "gammapy_npred": gammapy_npred,
    "gammapy_stat": gammapy_stat,
}


# -- orchestration -----------------------------------------------------------------------------------


class Recorder:
    """Runs steps in fresh processes and keeps their results as ``{"library:label": result}``."""

    def __init__(self):
        self.results: dict[str, dict] = {}
        self.cold = True

    def run(self, library: str, step: str, label: str, args: dict, cold_path: str | None = None) -> dict:
        if cold_path is not None:
            self.cold &= drop_cache(cold_path)
        try:
            result = run_step(__file__, f"{library}_{step}", args)
        except StepFailed as exc:
            result = {"error": str(exc)}
        self.results[f"{library}:{label}"] = result
        seconds = result.get("seconds", result.get("stat_cold_s"))
        shown = "failed" if seconds is None else f"{seconds:.3f} s, peak {result['peak_rss_mib']:.0f} MiB"
        print(f"  {library:<8s} {label:<24s} {shown}", file=sys.stderr)
        return result


def _paths(workdir: Path, case: dict) -> dict[str, str]:
    stem = case["label"]
    return {
        "mapds fits": str(workdir / f"{stem}.mapds.fits"),
        "mapds zarr": str(workdir / f"{stem}.mapds.zarr"),
        "gammapy fits": str(workdir / f"{stem}.gammapy.fits"),
    }


def benchmark_case(case: dict, workdir: Path, formats, with_gammapy: bool, io: bool) -> dict:
    """Every step of one case; files are written under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = _paths(workdir, case)
    rec = Recorder()
    rec.run("mapds", "build", "build", {"case": case})
    sources = {fmt: paths[f"mapds {fmt}"] for fmt in formats} if io else {"memory": None}
    for fmt, path in sources.items():
        if path is not None:
            rec.run("mapds", "write", f"write {fmt}", {"case": case, "path": path})
            rec.run("mapds", "read", f"read {fmt}", {"path": path}, path)
    for fmt, path in sources.items():
        rec.run("mapds", "npred", f"npred {fmt}", {"case": case, "path": path}, path)
        rec.run("mapds", "stat", f"stat {fmt}", {"case": case, "path": path}, path)
    if with_gammapy:
        path, mapds_fits = paths["gammapy fits"], paths["mapds fits"]
        shared = {"case": case, "mapds_fits": mapds_fits}
        rec.run("gammapy", "build", "build", {"case": case})
        rec.run("gammapy", "write", "write fits", {**shared, "path": path})
        rec.run("gammapy", "read", "read fits", {"path": path}, path)
        rec.run("gammapy", "npred", "npred", shared)
        rec.run("gammapy", "stat", "stat", shared)
    files = {name: size_on_disk(p) for name, p in paths.items() if os.path.exists(p)}
    return {
        "case": case["label"],
        "npix": case["npix"],
        "voxels": case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"],
        "n_models": len(case["models_params"]),
        "formats": list(sources),
        "file_bytes": files,
        "cold_cache": rec.cold,
        "results": rec.results,
    }


def remove_files(workdir: Path, case: dict) -> None:
    for path in _paths(workdir, case).values():
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


# -- table ---------------------------------------------------------------------------------------


def _rows(report: dict) -> list[tuple]:
    """``(label, mapds result, gammapy result, seconds key, value key)`` per table row."""
    results = report["results"]

    def row(label, mapds_key, gammapy_key=None, seconds="seconds", value=None):
        return label, results.get(mapds_key), results.get(gammapy_key), seconds, value

    rows = [row("build + fake", "mapds:build", "gammapy:build")]
    for fmt in (f for f in report["formats"] if f != "memory"):
        for step in ("write", "read"):
            rows.append(row(f"{step} {fmt}", f"mapds:{step} {fmt}", f"gammapy:{step} {fmt}"))
    for fmt in report["formats"]:
        source = "in memory" if fmt == "memory" else f"from {fmt}"
        rows.append(row(f"npred cold ({source})", f"mapds:npred {fmt}", "gammapy:npred", value="npred_sum"))
        for change, label in (
            ("cold", f"stat_sum cold ({source})"),
            ("amplitude", "  after an amplitude change"),
            ("position", "  after a position change"),
        ):
            rows.append(row(label, f"mapds:stat {fmt}", "gammapy:stat", f"stat_{change}_s", f"stat_{change}"))
    return rows


def _cell(result: dict | None, key: str, fmt: str) -> str:
    if result is None:
        return ""
    if "error" in result:
        return "failed"
    return format(result[key], fmt) if key in result else ""


def print_table(report: dict) -> None:
    """Times, peak RSS, the gammapy / mapds ratio and the agreement of each step."""
    files = "no files (lazy dataset from the formulas)"
    if report["file_bytes"]:
        sizes = ", ".join(f"{name} {size / 2**30:.2f} GiB" for name, size in report["file_bytes"].items())
        cold = "cold (our file pages evicted)" if report["cold_cache"] else "NOT cold (page cache kept)"
        files = f"files: {sizes}; reads {cold}"
    print(
        f"\nCase {report['case']}: {report['npix'][0]} x {report['npix'][1]} px x 10 reco bins "
        f"({report['voxels'] / 1e6:.1f} M reco voxels), {report['n_models']} sources; {files}\n"
    )
    with_gammapy = any(key.startswith("gammapy:") for key in report["results"])
    header = ["step", "mapds s", "mapds M voxels/s", "mapds peak MiB"]
    if with_gammapy:
        header += ["gammapy s", "gammapy peak MiB", "gammapy / mapds", "rel. diff"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, mapds, gammapy, seconds_key, value_key in _rows(report):
        # The statistic after a change shares its process (and peak) with the cold one.
        whole_cube = seconds_key in ("seconds", "stat_cold_s")
        rate = ""
        if whole_cube and not label.startswith("read") and mapds and seconds_key in mapds:
            rate = f"{report['voxels'] / mapds[seconds_key] / 1e6:.0f}"
        cells = [label, _cell(mapds, seconds_key, ".3f"), rate]
        cells.append(_cell(mapds, "peak_rss_mib", ".0f") if whole_cube else "″")
        if with_gammapy:
            ratio = diff = ""
            if mapds and gammapy and "error" not in mapds and "error" not in gammapy:
                ratio = format_ratio(gammapy[seconds_key], mapds[seconds_key])
                if value_key is not None:
                    diff = f"{abs(mapds[value_key] - gammapy[value_key]) / abs(gammapy[value_key]):.1e}"
            g_peak = _cell(gammapy, "peak_rss_mib", ".0f") if whole_cube else ""
            cells += [_cell(gammapy, seconds_key, ".3f"), g_peak, ratio, diff]
        print("| " + " | ".join(cells) + " |")
    reads = {k: v["bytes_read"] for k, v in report["results"].items() if "bytes_read" in v}
    if reads:
        opened = ", ".join(f"{key.split(':')[1]} {value:,}" for key, value in reads.items())
        print(f"\nBytes read while opening (mapds): {opened}")


def print_target_summary(reports: list[dict]) -> None:
    """Peak RSS per step and case side by side: constant in cube size or not."""
    labels = [k for k in reports[0]["results"]]
    header = " | ".join(f"{r['voxels'] / 1e9:.2f} G voxels: s / peak MiB" for r in reports)
    print(f"\nPeak RSS against cube size (mapds):\n\n| step | {header} |")
    print("|---|" + "---|" * len(reports))
    for label in labels:
        cells = []
        for report in reports:
            result = report["results"].get(label, {})
            seconds = result.get("seconds", result.get("stat_cold_s"))
            cells.append("failed" if seconds is None else f"{seconds:.1f} / {result['peak_rss_mib']:.0f}")
        print(f"| {label.split(':')[1]} | " + " | ".join(cells) + " |")


# -- cases -------------------------------------------------------------------------------------------


def target_case(size: str, binsz: float, n_models: int) -> dict:
    """A survey of ``WIDTHxHEIGHT`` degrees at ``binsz`` (the 1e9-voxel target is 360x28 at 0.01)."""
    from mapds.simulate import make_survey_case

    width, height = (float(v) for v in size.split("x"))
    case = make_survey_case(width, height, binsz, n_models=n_models)
    return {**case, "label": f"w{width:g}_h{height:g}_b{binsz:g}_target"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", default=["1000x250"], help="case labels or WIDTHxHEIGHT (pixels)")
    parser.add_argument("--n-models", type=int, default=5, help="sources (5 or 50, from the JSON)")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-dataset"), help="work directory")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, help="file formats (default: fits zarr)")
    parser.add_argument("--no-io", action="store_true", help="skip writes and reads: npred/stat in memory")
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument("--gammapy-max-voxels", type=float, default=100e6,
                        help="skip gammapy above this many reco voxels (default 1e8, ≈5 GiB)")
    parser.add_argument("--target", action="store_true",
                        help="the 1e9-voxel target and a smaller survey, mapds only, zarr only")
    parser.add_argument("--target-sizes", nargs="+", default=["360x7", "360x28"], help="WIDTHxHEIGHT (deg)")
    parser.add_argument("--target-binsz", type=float, default=0.01)
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--out", type=Path, help="JSON report path")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        serve_step(STEPS, args.step, args.step_args)
        return
    if args.target:
        cases = [target_case(size, args.target_binsz, args.n_models) for size in args.target_sizes]
        formats = args.formats or ["zarr"]
    else:
        cases = [load_case(spec, args.n_models, args.cases_file) for spec in args.cases]
        formats = args.formats or list(FORMATS)
    reports = []
    for case in cases:
        voxels = case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"]
        with_gammapy = not (args.target or args.no_gammapy) and voxels <= args.gammapy_max_voxels
        if with_gammapy and ("fits" not in formats or args.no_io):
            print("  gammapy skipped: it takes mapds' counts from mapds' FITS file", file=sys.stderr)
            with_gammapy = False
        print(f"{case['label']}: {voxels / 1e6:.1f} M reco voxels", file=sys.stderr)
        report = benchmark_case(case, args.dir, formats, with_gammapy, io=not args.no_io)
        if not args.keep:
            remove_files(args.dir, case)
        reports.append(report)
        print_table(report)
    if args.target:
        print_target_summary(reports)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
