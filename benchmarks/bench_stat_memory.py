"""Likelihood throughput with the inputs in memory: cold ``stat_sum`` of the survey, voxels per second.

Target 3 of the performance baseline asks for ≥ 700 M voxels/s when the inputs are in memory.  For
one case of ``cases/survey-benchmark-cases.json`` (default 360° x 18°, 162 M reco voxels) this
script, in a fresh process per library:

- mapds: builds the survey lazily (counts drawn by ``MapDataset.fake``) and ``persist()``s it:
  every map (counts, background, exposure, mask, PSF, EDisp) computed and held in memory as dask
  chunks (``persist inputs``, timed, no gammapy twin);
- gammapy: builds the same dataset in memory (``survey_case.gammapy_dataset``) with mapds' counts
  (``build inputs in memory``, timed, no ratio: gammapy computes every map, mapds also draws the
  counts);
- then ``--repeat`` times: assigns the case's models afresh (new evaluators, no cached npred or
  statistic tiles) and times one ``stat_sum()``: a cold statistic (model set-up, npred and the Cash
  sum over the whole cube) on inputs that are already in memory.

The ``stat_sum cold, inputs in memory`` step is the median of the repeats (each repeat is listed;
the first can include one-time costs of the process), and is compared between the libraries:
both compute the same statistic from the same inputs in memory; the values must agree.  Voxels
per second count reco voxels.  Memory: mapds holds ≈19 B per reco voxel (float64 counts, float32
background and exposure, bool mask: ≈3 GiB at 360° x 18°), gammapy ≈55 B (≈9 GiB); the script
refuses a case whose estimate exceeds 80 % of the available memory.

Usage::

    python benchmarks/bench_stat_memory.py --case w360_h18_b0.02_e10_t15_kernel --repeat 5
    python benchmarks/bench_stat_memory.py --case w5_h2_b0.02_e10_t15_kernel --repeat 2 --no-gammapy
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import Report, add_common_arguments
from step_runner import StepRunner, parse_or_serve, timed
from survey_case import CASES_FILE, case_info, load_case, with_sources

#: Resident bytes per reco voxel with the inputs in memory (estimate, see the docstring).
BYTES_PER_VOXEL = {"mapds": 19, "gammapy": 55}


def _repeat_cold(dataset, models_of, repeat: int) -> list[dict]:
    """``repeat`` cold statistics: fresh models (evaluators, caches) before each."""
    runs = []
    for _ in range(repeat):
        dataset.models = models_of(dataset.name)
        seconds, value = timed(dataset.stat_sum)
        runs.append({"seconds": seconds, "value": float(value)})
    return runs


def _repeat_whole_cube(dataset, repeat: int, forget_tiles) -> list[dict]:
    """``repeat`` statistics over every voxel with the models already evaluated (their cutouts
    cached: gammapy's evaluators and mapds' keep them while no parameter changes)."""
    runs = []
    for _ in range(repeat):
        forget_tiles(dataset)
        seconds, value = timed(dataset.stat_sum)
        runs.append({"seconds": seconds, "value": float(value)})
    return runs


def mapds_step(args: dict) -> dict:
    from mapds.simulate import survey_dataset, survey_models

    case = args["case"]
    persist_seconds, dataset = timed(lambda: survey_dataset(case).persist())
    runs = _repeat_cold(dataset, lambda name: survey_models(case, dataset_name=name), args["repeat"])
    # mapds keeps the statistic of every tile: dropping them makes it sum the whole cube again
    whole = _repeat_whole_cube(dataset, args["repeat"], lambda d: d.reset_data_cache())
    return {"inputs_seconds": persist_seconds, "runs": runs, "whole_cube_runs": whole}


def gammapy_step(args: dict) -> dict:
    import numpy as np
    from survey_case import gammapy_dataset, gammapy_models

    from mapds.simulate import survey_dataset

    case = args["case"]
    counts = np.asarray(survey_dataset(case).counts.data)  # mapds' draw: the same inputs as mapds
    build_seconds, dataset = timed(gammapy_dataset, case, counts=counts)
    del counts
    runs = _repeat_cold(dataset, lambda name: gammapy_models(case, dataset_name=name), args["repeat"])
    whole = _repeat_whole_cube(dataset, args["repeat"], lambda d: None)  # gammapy keeps no sums
    return {"inputs_seconds": build_seconds, "runs": runs, "whole_cube_runs": whole}


STEPS = {"mapds": mapds_step, "gammapy": gammapy_step}

WHAT = {
    ("mapds", "inputs"): "survey_dataset(case) (counts faked) + persist(): every map computed into memory",
    ("gammapy", "inputs"): "gammapy_dataset(case, counts=mapds' counts): every map computed in memory",
    ("mapds", "stat"): "fresh models + stat_sum() on the persisted dataset; median of the repeats",
    ("gammapy", "stat"): "fresh models + stat_sum() on the in-memory dataset; median of the repeats",
}
WHAT[("mapds", "whole")] = (
    "reset_data_cache() (drops the statistic's tile sums, keeps the models' cutouts) + stat_sum(); "
    "median of the repeats"
)
WHAT[("gammapy", "whole")] = (
    "stat_sum() again, no parameter changed (evaluators cached); median of the repeats"
)
INPUTS = {"mapds": "persist inputs", "gammapy": "build inputs in memory"}
STAT = "stat_sum cold, inputs in memory"
WHOLE = "stat_sum over every voxel, models evaluated, inputs in memory"


def available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return None


def _report_repeats(report, library: str, step: str, what: str, runs: list[dict], voxels: int, peak) -> None:
    """One step from its repeats: the median, with every repeat, the rate and the values."""
    times = [run["seconds"] for run in runs]
    values = [run["value"] for run in runs]
    median = statistics.median(times)
    report.step(library, step, what, {"seconds": median}, peak_rss_mib=peak,
                repeats=times, first_seconds=times[0], min_seconds=min(times),
                voxels_per_s=voxels / median, best_voxels_per_s=voxels / min(times),
                value=values[0], values_spread=max(values) - min(values))
    shown = ", ".join(f"{t:.3f}" for t in times)
    rate = voxels / median / 1e6
    print(f"    {library}, {step}: {shown} s; {rate:.0f} M voxels/s (median)", file=sys.stderr)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="w360_h18_b0.02_e10_t15_kernel", help="label or WIDTHxHEIGHT")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--repeat", type=int, default=5, help="cold statistics per library (default 5)")
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument("--sources", type=int, help="keep only the first N sources (smoke tests)")
    parser.add_argument("--force", action="store_true", help="run even if the memory estimate is too large")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    case = with_sources(load_case(args.case, 5, args.cases_file), args.sources)
    info = case_info(case)
    libraries = ["mapds"] + ([] if args.no_gammapy else ["gammapy"])
    available = available_bytes()
    estimates = {lib: BYTES_PER_VOXEL[lib] * info["voxels"] for lib in libraries}
    for library, estimate in estimates.items():
        if available and estimate > 0.8 * available and not args.force:
            sys.exit(f"{library} needs ≈{estimate / 2**30:.1f} GiB for {case['label']}, "
                     f"{available / 2**30:.1f} GiB available: pick a smaller --case (or --force)")
    report = Report(__file__, case["label"], info, sys.argv[1:] if argv is None else argv,
                    fresh_processes=not args.in_process)
    report.data["extra"]["memory_estimate_bytes"] = estimates
    runner = StepRunner(__file__, STEPS, fresh=not args.in_process)
    for library in libraries:
        size = f"{info['voxels'] / 1e6:.1f} M reco voxels"
        print(f"  {library}: {size}, {args.repeat} cold stat_sum", file=sys.stderr)
        try:
            result = runner.run(library, {"case": case, "repeat": args.repeat})
        except Exception as exc:  # reported, the other library still runs
            report.step(library, STAT, WHAT[(library, "stat")], {"error": f"{type(exc).__name__}: {exc}"})
            continue
        peak = result["peak_rss_mib"]
        report.step(library, INPUTS[library], WHAT[(library, "inputs")],
                    {"seconds": result["inputs_seconds"]}, peak_rss_mib=None)
        for step, what, runs in ((STAT, "stat", result["runs"]), (WHOLE, "whole", result["whole_cube_runs"])):
            _report_repeats(report, library, step, WHAT[(library, what)], runs, info["voxels"], peak)
    agreement = {}
    for step in (STAT, WHOLE):
        if report.compare(step) is not None:
            m, g = report.get("mapds", step)["value"], report.get("gammapy", step)["value"]
            agreement[step] = abs(m - g) / abs(g)
    if agreement:
        report.data["extra"]["agreement_rel_diff"] = agreement
    report.finish()
    print(f"\nCase {case['label']}: {info['voxels'] / 1e6:.1f} M reco voxels")
    print("| library | step | median s | M voxels/s | repeats s | peak MiB |")
    print("|---|---|---|---|---|---|")
    for s in report.steps:
        rate = f"{s['voxels_per_s'] / 1e6:.0f}" if "voxels_per_s" in s else ""
        repeats = ", ".join(f"{t:.3f}" for t in s.get("repeats", []))
        peak = "" if s["peak_rss_mib"] is None else f"{s['peak_rss_mib']:.0f}"
        seconds = "failed" if s["seconds"] is None else f"{s['seconds']:.3f}"
        print(f"| {s['library']} | {s['step']} | {seconds} | {rate} | {repeats} | {peak} |")
    for comp in report.data["comparisons"]:
        print(f"gammapy / mapds ({comp['step']}): {comp['ratio']:.3g}")
    print(f"\nwritten: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
