"""Dataset benchmark: build, write, read, npred and the likelihood of the survey, mapds beside gammapy.

For survey cases of ``cases/survey-benchmark-cases.json`` (labels or ``WIDTHxHEIGHT`` in pixels)
every step runs in a fresh Python process, which reports its wall time, the bytes it read and its
peak RSS.  A ratio (gammapy / mapds) is given only where both libraries do the same work to the
same result; the step names say what that is:

- ``build + fake, counts sum``: build the survey dataset, draw the counts (Poisson of npred) and
  sum them in float64.  mapds builds lazily and draws chunk by chunk (``MapDataset.fake``),
  keeping nothing; gammapy builds every map in memory (``survey_case.gammapy_dataset``) and
  calls its ``fake``.  Different random numbers (mapds draws per chunk), same distribution.
- ``build + fake + write fits``: the same, then the whole dataset written to FITS (mapds streams
  chunk by chunk); mapds also writes zarr (no gammapy twin);
- ``open fits``: opening mapds' FITS file without loading maps: mapds ``MapDataset.read`` (headers,
  small tables), gammapy ``MapDataset.read(lazy=True)``.  Seconds and bytes read, no ratio;
- ``read every map (fits)``: every map of the file in memory: mapds ``dask.compute`` of the read
  dataset, gammapy ``MapDataset.read``;
- ``open + counts sum (fits)``: the counts' float64 sum from the file: mapds reads the counts HDU
  chunk by chunk, gammapy ``read(lazy=True)`` loads the counts HDU on first access;
- ``npred cold (fits)``: open mapds' FITS file, set the case's models, sum ``npred()``; both
  libraries read the same file (the file pages are evicted first);
- ``stat_sum cold (fits)``: the same with ``stat_sum()``, then, in that process (they need its
  state), ``stat_sum`` after one amplitude change (×1.5) and after one position change (0.2° in
  l) of ``src000``.

Both libraries read the same file for npred and stat_sum, so their values must agree: the
results give the relative difference.  gammapy keeps every map in memory: it is skipped above
``--gammapy-max-voxels`` (default 2e8 reco voxels, ≈9 GiB at 360° x 18°).

``--target`` measures the 1e9-voxel survey of the targets (360° x 28° at 0.01°, 10 reco and 15 true
energy bins) and a smaller one with mapds only, to show that peak RSS stays constant in cube size;
it writes zarr only (a FITS copy is ≈19 GB), or nothing with ``--no-io`` (then npred and
stat_sum are computed from the lazy dataset built from the formulas).

Every case's results go to ``results/bench_dataset-<case>.json`` (see ``record.py``).

Usage::

    python benchmarks/bench_dataset.py 1000x250 4000x500 18000x500
    python benchmarks/bench_dataset.py 18000x900 --gammapy-max-voxels 2e8
    python benchmarks/bench_dataset.py --target --target-sizes 360x7 360x28
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import Report, add_common_arguments, default_workdir
from step_runner import (
    StepRunner,
    drop_cache,
    import_deferred_modules,
    parse_or_serve,
    size_on_disk,
    timed,
    timed_io,
)
from survey_case import CASES_FILE, case_info, load_case, target_case, with_sources

FORMATS = ("fits", "zarr")
#: Steps that are reported side by side without a ratio: lazy opens (what they read is the point).
NO_RATIO = {f"open {fmt}" for fmt in FORMATS}
CHANGED_MODEL = "src000"
POSITION_SHIFT_DEG = 0.2
AMPLITUDE_FACTOR = 1.5
CHANGES = (
    ("cold", "stat_sum cold ({})"),
    ("amplitude", "stat_sum after an amplitude change ({})"),
    ("position", "stat_sum after a position change ({})"),
)


# -- what both libraries do --------------------------------------------------------------------------


def change_amplitude(models) -> None:
    """Scale the first source's amplitude (both libraries share the parameter API)."""
    models[CHANGED_MODEL].spectral_model.amplitude.value *= AMPLITUDE_FACTOR


def change_position(models) -> None:
    """Move the first source towards the map centre in longitude."""
    lon_0 = models[CHANGED_MODEL].spatial_model.lon_0
    lon_0.value -= math.copysign(POSITION_SHIFT_DEG, lon_0.value)


def _open_with_models(library: str, args: dict):
    """The dataset of ``args["path"]`` with the case's models (or, mapds without a path, the lazy
    survey built from the formulas)."""
    case = args["case"]
    if library == "mapds":
        from mapds.datasets import MapDataset
        from mapds.simulate import survey_dataset, survey_models

        if args.get("path") is None:
            return survey_dataset(case)
        dataset = MapDataset.read(args["path"])
        dataset.models = survey_models(case, dataset_name=dataset.name)
        return dataset
    from gammapy.datasets import MapDataset
    from survey_case import gammapy_models

    dataset = MapDataset.read(args["path"])
    dataset.models = gammapy_models(case, dataset_name=dataset.name)
    return dataset


def _warm_up(library: str, path: str | None, counts: bool = False) -> None:
    """Open the file once (imports, lazily loaded modules; with ``counts``, the modules of reading
    the counts too), then evict it again, so that the step's time and bytes are the file's.
    Both libraries import the modules mapds defers to first use (see ``import_deferred_modules``)."""
    import_deferred_modules()
    if path is None:
        return
    if library == "mapds":
        from mapds.datasets import MapDataset

        dataset = MapDataset.read(path)
        if counts:
            dataset.counts.data[..., :1, :1].sum().compute()
    else:
        from gammapy.datasets import MapDataset

        dataset = MapDataset.read(path, lazy=True)
        if counts:
            _ = dataset.counts  # gammapy loads the whole counts HDU on first access
    drop_cache(path)


def _float(value) -> float:
    return float(value.compute() if hasattr(value, "compute") else value)


def step_npred(args: dict) -> dict:
    library = args["library"]
    _warm_up(library, args.get("path"))

    def npred() -> float:
        dataset = _open_with_models(library, args)
        return _float(dataset.npred().data.sum(dtype="f8"))

    measured, total = timed_io(npred)
    return {**measured, "value": total}


def step_stat(args: dict) -> dict:
    """Open + models + cold ``stat_sum``, then after an amplitude and after a position change."""
    library = args["library"]
    _warm_up(library, args.get("path"))
    holder = {}

    def cold() -> float:
        holder["dataset"] = _open_with_models(library, args)
        return float(holder["dataset"].stat_sum())

    measured, value = timed_io(cold)
    result = {"cold": {**measured, "value": value}}
    models = holder["dataset"].models
    for label, change in (("amplitude", change_amplitude), ("position", change_position)):
        change(models)
        measured, value = timed_io(holder["dataset"].stat_sum)
        result[label] = {**measured, "value": float(value)}
    return {"seconds": result["cold"]["seconds"], "changes": result}


# -- mapds steps (each runs in its own process) -------------------------------------------------------


def mapds_build(args: dict) -> dict:
    from mapds.simulate import survey_dataset

    seconds, total = timed(lambda: float(survey_dataset(args["case"]).counts.data.sum(dtype="f8").compute()))
    return {"seconds": seconds, "value": total}


def mapds_write(args: dict) -> dict:
    from mapds.simulate import survey_dataset

    def write():
        survey_dataset(args["case"]).write(args["path"], overwrite=True)

    seconds, _ = timed(write)
    return {"seconds": seconds, "file_bytes": size_on_disk(args["path"])}


def mapds_open(args: dict) -> dict:
    from mapds.datasets import MapDataset

    _warm_up("mapds", args["path"])
    measured, _ = timed_io(MapDataset.read, args["path"])
    return measured


def mapds_load(args: dict) -> dict:
    import dask

    from mapds.datasets import MapDataset

    _warm_up("mapds", args["path"])
    measured, _ = timed_io(lambda: dask.compute(MapDataset.read(args["path"])))
    return measured


def mapds_counts_sum(args: dict) -> dict:
    from mapds.datasets import MapDataset

    _warm_up("mapds", args["path"], counts=True)
    counts = lambda: MapDataset.read(args["path"]).counts.data  # noqa: E731
    measured, total = timed_io(lambda: float(counts().sum(dtype="f8").compute()))
    return {**measured, "value": total}


# -- gammapy steps -----------------------------------------------------------------------------------


def gammapy_build(args: dict) -> dict:
    from survey_case import gammapy_dataset

    def build_and_fake() -> float:
        dataset = gammapy_dataset(args["case"])
        dataset.fake(random_state=args["case"]["fake_random_state"])
        return float(dataset.counts.data.sum(dtype="f8"))

    seconds, total = timed(build_and_fake)
    return {"seconds": seconds, "value": total}


def gammapy_write(args: dict) -> dict:
    from survey_case import gammapy_dataset

    def write():
        dataset = gammapy_dataset(args["case"])
        dataset.fake(random_state=args["case"]["fake_random_state"])
        dataset.write(args["path"], overwrite=True)

    seconds, _ = timed(write)
    return {"seconds": seconds, "file_bytes": size_on_disk(args["path"])}


def gammapy_open(args: dict) -> dict:
    from gammapy.datasets import MapDataset

    _warm_up("gammapy", args["path"])
    measured, _ = timed_io(MapDataset.read, args["path"], lazy=True)
    return measured


def gammapy_load(args: dict) -> dict:
    from gammapy.datasets import MapDataset

    _warm_up("gammapy", args["path"])
    measured, _ = timed_io(MapDataset.read, args["path"])
    return measured


def gammapy_counts_sum(args: dict) -> dict:
    from gammapy.datasets import MapDataset

    _warm_up("gammapy", args["path"], counts=True)
    measured, total = timed_io(
        lambda: float(MapDataset.read(args["path"], lazy=True).counts.data.sum(dtype="f8"))
    )
    return {**measured, "value": total}


STEPS = {
    "mapds_build": mapds_build,
    "mapds_write": mapds_write,
    "mapds_open": mapds_open,
    "mapds_load": mapds_load,
    "mapds_counts_sum": mapds_counts_sum,
    "gammapy_build": gammapy_build,
    "gammapy_write": gammapy_write,
    "gammapy_open": gammapy_open,
    "gammapy_load": gammapy_load,
    "gammapy_counts_sum": gammapy_counts_sum,
    "npred": step_npred,
    "stat": step_stat,
}

WHAT = {
    ("mapds", "build"): "lazy build; counts drawn chunk by chunk (fake) and summed; nothing kept",
    ("gammapy", "build"): "every map built in memory; fake; counts summed",
    ("mapds", "write"): "lazy build + fake, streamed to the file chunk by chunk",
    ("gammapy", "write"): "build in memory + fake + write",
    ("mapds", "open"): "MapDataset.read: headers and small tables, no map read",
    ("gammapy", "open"): "MapDataset.read(lazy=True): HDU locations (and GTI), no map read",
    ("mapds", "load"): "MapDataset.read, then dask.compute: every map in memory",
    ("gammapy", "load"): "MapDataset.read: every map in memory",
    ("mapds", "counts sum"): "MapDataset.read + counts float64 sum (the counts read chunk by chunk)",
    ("gammapy", "counts sum"): "MapDataset.read(lazy=True) + counts float64 sum (the counts HDU loaded)",
    ("mapds", "npred"): "MapDataset.read + models + npred() float64 sum (maps read chunk by chunk)",
    ("gammapy", "npred"): "MapDataset.read (every map) + models + npred() float64 sum",
    ("mapds", "npred formulas"): "npred() float64 sum of the lazy survey built from the formulas",
    ("mapds", "stat"): "MapDataset.read + models + stat_sum()",
    ("gammapy", "stat"): "MapDataset.read (every map) + models + stat_sum()",
    ("mapds", "stat formulas"): "stat_sum() of the lazy survey built from the formulas (counts faked)",
    ("mapds", "stat change"): "stat_sum() again in the same process: only tiles under the changed footprint",
    ("gammapy", "stat change"): "stat_sum() again in the same process",
}


# -- orchestration -----------------------------------------------------------------------------------


def _paths(workdir: Path, case: dict) -> dict[str, str]:
    stem = case["label"]
    return {
        "mapds fits": str(workdir / f"{stem}.mapds.fits"),
        "mapds zarr": str(workdir / f"{stem}.mapds.zarr"),
        "gammapy fits": str(workdir / f"{stem}.gammapy.fits"),
    }


def benchmark_case(
    case: dict, workdir: Path, argv, *, formats, with_gammapy: bool, io: bool, fresh: bool
) -> Report:
    """Every step of one case; files are written under ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = _paths(workdir, case)
    report = Report(__file__, case["label"], case_info(case), argv, fresh_processes=fresh)
    runner = StepRunner(__file__, STEPS, fresh=fresh)
    cold = True

    def run(library, name, step, what, args, cold_path=None):
        nonlocal cold
        if cold_path is not None:
            cold &= drop_cache(cold_path)
        try:
            result = runner.run(name, {"library": library, **args})
        except Exception as exc:  # a failed step is reported, the others still run
            result = {"error": f"{type(exc).__name__}: {exc}"}
        entry = report.step(library, step, WHAT[what], result)
        shown = "failed" if entry["seconds"] is None else f"{entry['seconds']:.3f} s"
        peak = entry["peak_rss_mib"] or 0
        print(f"  {library:<8s} {step:<44s} {shown}, peak {peak:.0f} MiB", file=sys.stderr)
        return entry, result

    def stat(library, fmt, path, what, cold_path):
        entry, result = run(
            library, "stat", CHANGES[0][1].format(fmt), what, {"case": case, "path": path}, cold_path
        )
        if "changes" not in result:
            return
        entry.update({k: v for k, v in result["changes"]["cold"].items()})
        for change, label in CHANGES[1:]:
            report.step(
                library,
                label.format(fmt),
                WHAT[(library, "stat change")],
                result["changes"][change],
                peak_rss_mib=None,
                same_process_as=entry["id"],
            )

    libraries = ["mapds", *(["gammapy"] if with_gammapy else [])]
    for library in libraries:
        run(library, f"{library}_build", "build + fake, counts sum", (library, "build"), {"case": case})
    sources = {fmt: paths[f"mapds {fmt}"] for fmt in formats} if io else {}
    for fmt, path in sources.items():
        args = {"case": case, "path": path}
        run("mapds", "mapds_write", f"build + fake + write {fmt}", ("mapds", "write"), args)
    if with_gammapy:
        run(
            "gammapy",
            "gammapy_write",
            "build + fake + write fits",
            ("gammapy", "write"),
            {"case": case, "path": paths["gammapy fits"]},
        )
        os.remove(paths["gammapy fits"])  # its job is done; later steps read mapds' file
    for fmt, path in sources.items():
        for library in libraries if fmt == "fits" else ["mapds"]:
            shared = {"case": case, "path": path}
            run(library, f"{library}_open", f"open {fmt}", (library, "open"), shared, path)
            if with_gammapy and fmt == "fits":  # gammapy's way to read; in mapds only for the comparison
                run(library, f"{library}_load", f"read every map ({fmt})", (library, "load"), shared, path)
            run(
                library,
                f"{library}_counts_sum",
                f"open + counts sum ({fmt})",
                (library, "counts sum"),
                shared,
                path,
            )
            run(library, "npred", f"npred cold ({fmt})", (library, "npred"), shared, path)
            stat(library, fmt, path, (library, "stat"), path)
    if not io:
        run("mapds", "npred", "npred cold (formulas)", ("mapds", "npred formulas"), {"case": case})
        stat("mapds", "formulas", None, ("mapds", "stat formulas"), None)

    if with_gammapy:
        for entry in list(report.steps):
            # A lazy open is reported with its bytes read, never as a speed-up.
            if entry["library"] == "mapds" and entry["step"] not in NO_RATIO:
                report.compare(entry["step"])
        agreement = {}
        for entry in report.steps:
            other = report.get("gammapy", entry["step"])
            if entry["library"] == "mapds" and other and "value" in entry and "value" in other:
                if entry["step"].startswith("build"):
                    continue  # different random draws: the sums are not expected to agree
                agreement[entry["step"]] = abs(entry["value"] - other["value"]) / abs(other["value"])
        report.data["extra"]["agreement_rel_diff"] = agreement
    report.data["extra"]["file_bytes"] = {n: size_on_disk(p) for n, p in paths.items() if os.path.exists(p)}
    report.data["extra"]["formats"] = list(sources) if io else ["formulas"]
    report.finish(cold_cache=cold if io else None)
    return report


def remove_files(workdir: Path, case: dict) -> None:
    for path in _paths(workdir, case).values():
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


# -- table ---------------------------------------------------------------------------------------


def print_table(data: dict) -> None:
    """Times, bytes read, peak RSS, the gammapy / mapds ratio of like steps, the agreement."""
    info = data["case_info"]
    print(
        f"\nCase {data['case']}: {info['npix'][0]} x {info['npix'][1]} px x {info['nbin_reco']} reco bins "
        f"({info['voxels'] / 1e6:.1f} M reco voxels), {info['n_models']} sources"
    )
    ratios = {c["step"]: c["ratio"] for c in data["comparisons"]}
    agreement = data["extra"].get("agreement_rel_diff", {})
    print(
        "| step | mapds s | mapds peak MiB | mapds bytes read | gammapy s | gammapy peak MiB | "
        "gammapy bytes read | gammapy / mapds | rel. diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    steps = []
    for s in data["steps"]:
        if s["step"] not in steps:
            steps.append(s["step"])
    by_id = {s["id"]: s for s in data["steps"]}

    def cells(entry):
        if entry is None:
            return ["", "", ""]
        if entry["seconds"] is None:
            return ["failed", "", ""]
        peak = "″" if entry.get("same_process_as") else f"{entry['peak_rss_mib']:.0f}"
        read = "" if entry.get("bytes_read") is None else f"{entry['bytes_read']:,}"
        return [f"{entry['seconds']:.3f}", peak, read]

    for step in steps:
        ratio = f"{ratios[step]:.3g}" if step in ratios else ""
        diff = f"{agreement[step]:.1e}" if step in agreement else ""
        row = [step, *cells(by_id.get(f"mapds:{step}")), *cells(by_id.get(f"gammapy:{step}")), ratio, diff]
        print("| " + " | ".join(row) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", default=["1000x250"], help="case labels or WIDTHxHEIGHT (pixels)")
    parser.add_argument("--n-models", type=int, default=5, help="sources (5 or 50, from the JSON)")
    parser.add_argument("--sources", type=int, help="keep only the first N sources (smoke tests)")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, help="file formats (default: fits zarr)")
    parser.add_argument("--no-io", action="store_true", help="skip files: npred/stat of the lazy formulas")
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument(
        "--gammapy-max-voxels",
        type=float,
        default=200e6,
        help="skip gammapy above this many reco voxels (default 2e8, ≈9 GiB)",
    )
    parser.add_argument(
        "--target",
        action="store_true",
        help="the 1e9-voxel target and a smaller survey, mapds only, zarr only",
    )
    parser.add_argument("--target-sizes", nargs="+", default=["360x7", "360x28"], help="WIDTHxHEIGHT (deg)")
    parser.add_argument("--target-binsz", type=float, default=0.01)
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    if args.target:
        cases = [target_case(size, args.target_binsz, args.n_models) for size in args.target_sizes]
        formats = args.formats or ["zarr"]
    else:
        cases = [load_case(spec, args.n_models, args.cases_file) for spec in args.cases]
        cases = [with_sources(case, args.sources) for case in cases]
        formats = args.formats or list(FORMATS)
    for case in cases:
        voxels = case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"]
        with_gammapy = not (args.target or args.no_gammapy) and voxels <= args.gammapy_max_voxels
        if with_gammapy and ("fits" not in formats or args.no_io):
            print("  gammapy skipped: it reads mapds' FITS file", file=sys.stderr)
            with_gammapy = False
        print(f"{case['label']}: {voxels / 1e6:.1f} M reco voxels", file=sys.stderr)
        report = benchmark_case(
            case,
            args.dir,
            sys.argv[1:] if argv is None else argv,
            formats=formats,
            with_gammapy=with_gammapy,
            io=not args.no_io,
            fresh=not args.in_process,
        )
        if not args.keep:
            remove_files(args.dir, case)
        print_table(report.data)
        print(f"\nwritten: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
