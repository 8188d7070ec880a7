"""Excess and TS maps of the survey beside gammapy: seconds, peak memory and agreement.

For each ``--sizes`` case (default ``1000x250 4000x500``: 20° × 5° and 80° × 10° at 0.02°; add
``18000x500`` for 360° × 10°), each step in a fresh process:

- ``simulate + write zarr`` (mapds, not compared): the survey of ``cases/survey-benchmark-cases.json``
  with its counts drawn by ``MapDataset.fake``, written to a zarr store in the work directory;
- ``excess map``: ``ExcessMapEstimator(correlation_radius="0.1 deg")`` run and every output map
  computed (``sqrt_ts``, ``npred_excess``, ``flux``, ``flux_err``...): mapds opens the store lazily and
  computes the maps as one graph; gammapy builds the same dataset in memory from the formulas with
  mapds' counts (not timed) and runs its estimator;
- ``TS map``: ``TSMapEstimator(kernel_width="0.6 deg", selection_optional=[])``, a point source
  convolved with the PSF, fitted at every pixel (gammapy with ``n_jobs=2``, the machine's cores);
- ``... to FITS`` (mapds): the same maps written with ``FluxMaps.write``, streamed chunk by chunk
  (the peak memory that does not grow with the map); on cases above ``--in-memory-max-voxels``
  (default 2e8) only these run.

Both libraries search with only the FoV background model, as a source search starts.  The values
are compared: the largest absolute difference of ``sqrt_ts`` and of ``norm`` (relative, where
``ts > 25``), and the step's seconds as a ratio (gammapy / mapds).  gammapy holds the dataset in
memory; ``--gammapy-max-voxels`` (default 2.5e7) skips it on larger cases.

Usage::

    python benchmarks/bench_estimators.py --sizes 1000x250 4000x500 18000x500
    python benchmarks/bench_estimators.py --sizes --target-sizes 360x28  # 1e9 voxels: streamed only
    python benchmarks/bench_estimators.py --sizes w5_h2_b0.02_e10_t15_kernel --no-gammapy
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from record import Report, add_common_arguments, default_workdir
from step_runner import StepRunner, import_deferred_modules, parse_or_serve, timed
from survey_case import CASES_FILE, case_info, load_case, target_case, with_sources

#: The two estimators, as each library builds them (same parameters).
CORRELATION_RADIUS = "0.1 deg"
KERNEL_WIDTH = "0.6 deg"
STEPS_MEASURED = {
    "excess": "excess map (0.1° correlation radius)",
    "ts": "TS map (point source, 0.6° kernel)",
}


def _estimator(library: str, kind: str):
    if library == "mapds":
        from mapds.estimators import ExcessMapEstimator, TSMapEstimator

        extra = {}
    else:
        from gammapy.estimators import ExcessMapEstimator, TSMapEstimator

        extra = {"n_jobs": 2} if kind == "ts" else {}
    if kind == "excess":
        return ExcessMapEstimator(correlation_radius=CORRELATION_RADIUS)
    return TSMapEstimator(kernel_width=KERNEL_WIDTH, selection_optional=[], **extra)


def _background_only(library: str, dataset):
    """Only the FoV background model on ``dataset`` (the case's norm and tilt)."""
    if library == "mapds":
        from mapds.modeling.models import FoVBackgroundModel
    else:
        from gammapy.modeling.models import FoVBackgroundModel
    dataset.models = [FoVBackgroundModel(dataset_name=dataset.name)]
    return dataset


def simulate(args: dict) -> dict:
    """The survey with its counts drawn, written to zarr (and the counts to .npy when gammapy runs)."""
    from mapds.simulate import survey_dataset

    seconds, _ = timed(survey_dataset(args["case"]).write, args["path"], overwrite=True)
    from mapds.datasets import MapDataset

    if args["counts"] is not None:  # gammapy's dataset is built with them (the whole cube in memory)
        np.save(args["counts"], np.asarray(MapDataset.read(args["path"]).counts.data))
    return {"seconds": seconds}


def estimate(args: dict) -> dict:
    """One estimator of one library: open (mapds) or build in memory (gammapy), then run it and
    compute every output map (timed); ``sqrt_ts`` and ``norm`` saved for the comparison."""
    import_deferred_modules()
    library, kind = args["library"], args["kind"]
    if library == "mapds":
        from mapds.datasets import MapDataset

        dataset = _background_only(library, MapDataset.read(args["path"]))
    else:
        from survey_case import gammapy_dataset

        dataset = _background_only(library, gammapy_dataset(args["case"], counts=np.load(args["counts"])))

    if args.get("written"):  # mapds: the maps streamed into a FITS file, not held in memory

        def write():
            _estimator(library, kind).run(dataset).write(args["written"], overwrite=True)
            return {}

        seconds, _ = timed(write)
        return {"seconds": seconds, "quantities": [], "saved": {}}

    def run():
        result = _estimator(library, kind).run(dataset)
        if library == "mapds":
            result = result.compute()  # every map, one graph
        return {name: np.asarray(result[name].data) for name in {*result.available_quantities, "sqrt_ts"}}

    seconds, maps = timed(run)
    saved = {}
    for name in ("sqrt_ts", "norm"):
        if name in maps:
            path = f"{args['out']}-{name}.npy"
            np.save(path, maps[name].astype(np.float64))
            saved[name] = path
    return {"seconds": seconds, "quantities": sorted(maps), "saved": saved}


STEPS = {"simulate": simulate, "estimate": estimate}


def agreement(mapds_saved: dict, gammapy_saved: dict) -> dict:
    """Largest |Δ sqrt_ts| (finite pixels of both) and largest relative Δ norm where ts > 25."""
    out = {}
    ours, theirs = np.load(mapds_saved["sqrt_ts"]), np.load(gammapy_saved["sqrt_ts"])
    both = np.isfinite(ours) & np.isfinite(theirs)
    out["sqrt_ts_max_abs_diff"] = float(np.max(np.abs(ours - theirs)[both])) if both.any() else None
    if "norm" in mapds_saved and "norm" in gammapy_saved:
        strong = both & (theirs > 5)
        norm_ours, norm_theirs = np.load(mapds_saved["norm"]), np.load(gammapy_saved["norm"])
        rel = np.abs(norm_ours - norm_theirs)[strong] / np.abs(norm_theirs[strong])
        out["norm_max_rel_diff_ts_above_25"] = float(rel.max()) if rel.size else None
    return out


def run_case(
    case: dict, runner: StepRunner, workdir: Path, argv, with_gammapy: bool, in_memory: bool, skipped: str
) -> Report:
    info = case_info(case)
    report = Report(__file__, case["label"], info, argv, fresh_processes=runner.fresh)
    workdir.mkdir(parents=True, exist_ok=True)
    counts = str(workdir / "counts.npy") if with_gammapy else None
    paths = {"path": str(workdir / "survey.zarr"), "counts": counts}
    written = runner.run("simulate", {"case": case, **paths})
    report.step(
        "mapds", "simulate + write zarr", "survey_dataset(case) (counts faked) written to zarr", written
    )
    what = {
        "mapds": "MapDataset.read (lazy) + FoV background model; run + every output map computed (one graph)",
        "gammapy": "the dataset built in memory with mapds' counts (not timed) + FoV background model; run",
        "written": "MapDataset.read (lazy) + FoV background model; run + FluxMaps.write (every map streamed)",
    }
    for kind, step in STEPS_MEASURED.items():
        if not in_memory:
            continue
        saved = {}
        for library in ["mapds"] + ["gammapy"] * with_gammapy:
            args = {
                "case": case,
                **paths,
                "library": library,
                "kind": kind,
                "out": str(workdir / f"{library}-{kind}"),
            }
            try:
                result = runner.run("estimate", args)
            except Exception as exc:  # reported; the other library and steps still run
                report.step(library, step, what[library], {"error": f"{type(exc).__name__}: {exc}"})
                continue
            saved[library] = result["saved"]
            entry = report.step(library, step, what[library], result, quantities=result["quantities"])
            peak = entry["peak_rss_mib"]
            print(
                f"  {library:<8s} {step:<40s} {entry['seconds']:8.2f} s, peak {peak:.0f} MiB", file=sys.stderr
            )
        if len(saved) == 2:
            report.compare(step)
            report.data["extra"].setdefault("agreement", {})[step] = agreement(
                saved["mapds"], saved["gammapy"]
            )
    for kind, step in STEPS_MEASURED.items():  # the same maps streamed to FITS: memory flat in map size
        args = {
            "case": case,
            **paths,
            "library": "mapds",
            "kind": kind,
            "written": str(workdir / f"{kind}.fits"),
        }
        result = runner.run("estimate", args)
        entry = report.step("mapds", f"{step} to FITS", what["written"], result)
        name, peak = f"{step} to FITS", entry["peak_rss_mib"]
        print(f"  mapds    {name:<40s} {entry['seconds']:8.2f} s, peak {peak:.0f} MiB", file=sys.stderr)
    report.data["extra"]["gammapy"] = "ran" if with_gammapy else "skipped"
    if skipped:
        report.note(skipped)
    report.finish()
    return report


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="*", default=["1000x250", "4000x500"], help="labels or WIDTHxHEIGHT")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument(
        "--gammapy-max-voxels",
        type=float,
        default=2.5e7,
        help="skip gammapy on cases with more reco voxels (it holds the dataset in memory)",
    )
    parser.add_argument(
        "--in-memory-max-voxels",
        type=float,
        default=2e8,
        help="on larger cases mapds only streams the maps to FITS (they would not fit in memory)",
    )
    parser.add_argument(
        "--target-sizes",
        nargs="*",
        default=[],
        help="also surveys of WIDTHxHEIGHT degrees at 0.01° (360x28: 1e9 voxels)",
    )
    parser.add_argument("--sources", type=int, help="keep only the first N sources (smoke tests)")
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    runner = StepRunner(__file__, STEPS, fresh=not args.in_process)
    cases = [load_case(size, 5, args.cases_file) for size in args.sizes]
    cases += [target_case(size, 0.01, 5) for size in args.target_sizes]
    for case in cases:
        case = with_sources(case, args.sources)
        voxels = case_info(case)["voxels"]
        in_memory = voxels <= args.in_memory_max_voxels
        with_gammapy = not args.no_gammapy and voxels <= args.gammapy_max_voxels and in_memory
        limit = f"{voxels:.3g} reco voxels > --gammapy-max-voxels {args.gammapy_max_voxels:.3g}"
        skipped = f"gammapy skipped: {limit}" if not with_gammapy and not args.no_gammapy else ""
        if not in_memory:
            skipped += f"; maps only streamed to FITS: {voxels:.3g} reco voxels > --in-memory-max-voxels"
        print(f"{case['label']}: {voxels / 1e6:.1f} M reco voxels", file=sys.stderr)
        workdir = args.dir / case["label"]
        try:
            command = sys.argv[1:] if argv is None else argv
            report = run_case(case, runner, workdir, command, with_gammapy, in_memory, skipped)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        for entry in report.steps:
            print(
                f"{entry['library']:<8s} {entry['step']:<40s} {entry['seconds'] or 0:8.2f} s "
                f"{entry['peak_rss_mib'] or 0:8.0f} MiB"
            )
        for comparison in report.data["comparisons"]:
            print(f"gammapy / mapds, {comparison['step']}: {comparison['ratio']:.2f}")
        for step, values in report.data["extra"].get("agreement", {}).items():
            print(f"agreement, {step}: {values}")
        print(f"written: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
