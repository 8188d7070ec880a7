"""Catalogue-fit benchmark: sources fitted in groups (`CatalogueFit`) beside one joint `Fit`.

The case is :func:`mapds.simulate.make_clustered_case`: ``--clusters`` clusters of point sources
(``--offsets`` per cluster: 3 by default, whose footprints overlap) spread evenly along the survey's
longitude, 3° apart, counts drawn from the true models.  Each source's position and amplitude and the
FoV background norm are free, started away from the truth
(:func:`mapds.simulate.fit_start_models`).  Each fit runs in a fresh process of its own (its peak
RSS its own) on the dataset simulated there and held in memory (not timed):

- ``catalogue fit``: ``CatalogueFit().run`` on the threaded scheduler (rounds of group fits, then
  the errors);
- ``joint fit``: ``Fit().run`` of every free parameter at once (skipped with ``--no-joint`` or
  above ``--joint-max-sources``).

Both report seconds, statistic evaluations, the statistic at the result, and the catalogue fit its
groups and rounds; the results give the largest difference of a best-fit value in units of the
joint fit's error.  mapds only: gammapy has no grouped fit.

Usage::

    python benchmarks/bench_catalogue.py                   # 12 sources in 4 clusters, 12° x 2.4°
    python benchmarks/bench_catalogue.py --clusters 33 --no-joint   # 99 sources along 100°
    python benchmarks/bench_catalogue.py --clusters 34 --width 360 --height 10 --no-joint  # 102 sources
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import Report, add_common_arguments
from step_runner import StepRunner, import_deferred_modules, parse_or_serve, timed

#: Offsets (deg) of the sources of a cluster from its centre.
OFFSETS = ((0.0, 0.0), (0.5, 0.2), (-0.3, -0.4))
#: Longitude between cluster centres (deg), and the survey's height (deg).
SPACING, HEIGHT = 3.0, 2.4


def case_for(clusters: int, binsz: float, width: float | None = None, height: float = HEIGHT) -> dict:
    """``clusters`` clusters evenly spread along a survey of ``width`` × ``height`` degrees (by
    default ``SPACING`` degrees apart)."""
    from mapds.simulate import make_clustered_case

    width = clusters * SPACING if width is None else width
    spacing = width / clusters
    centres = [-width / 2 + spacing * (k + 0.5) for k in range(clusters)]
    return make_clustered_case(centres, OFFSETS, width_deg=width, height_deg=height, binsz_deg=binsz)


def _fit(args: dict) -> dict:
    import_deferred_modules()
    from mapds.datasets import Datasets
    from mapds.modeling import CatalogueFit, Fit
    from mapds.simulate import fit_start_models, survey_dataset

    case = case_for(args["clusters"], args["binsz"], args["width"], args["height"])
    dataset = survey_dataset(case, name="survey").persist()
    dataset.models = fit_start_models(case, "survey")
    datasets = Datasets([dataset])
    datasets.stat_sum()  # the models' set-up and first evaluation are not timed in either fit
    if args["kind"] == "catalogue":
        seconds, result = timed(CatalogueFit().run, datasets)
        extra = {"rounds": result.rounds, "groups": len(result.groups), "message": result.message}
    else:
        seconds, result = timed(Fit().run, datasets)
        extra = {"message": result.message}
    values = {
        f"{model.name}.{par.name}": [par.value, par.error]
        for model in datasets.models
        for par in model.parameters
        if not par.frozen
    }
    return {
        "seconds": seconds,
        "evaluations": int(result.nfev),
        "total_stat": float(result.total_stat),
        "success": bool(result.success),
        "values": values,
        **extra,
    }


STEPS = {"fit": _fit}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=4, help="clusters of 3 sources, 3° apart")
    parser.add_argument("--binsz", type=float, default=0.02, help="pixel size (deg)")
    parser.add_argument("--width", type=float, help="survey width (deg); default 3° per cluster")
    parser.add_argument("--height", type=float, default=HEIGHT, help="survey height (deg)")
    parser.add_argument("--no-joint", action="store_true", help="skip the joint fit")
    parser.add_argument("--joint-max-sources", type=int, default=30, help="skip the joint fit above this")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    argv = sys.argv[1:] if argv is None else argv
    case = case_for(args.clusters, args.binsz, args.width, args.height)
    n_sources = len(case["models_params"])
    width = args.clusters * SPACING if args.width is None else args.width
    label = f"{n_sources}src_{width:g}x{args.height:g}_b{args.binsz:g}"
    info = {"label": label, "sources": n_sources, "npix": case["npix"], "binsz_deg": args.binsz}
    report = Report(__file__, label, info, argv, fresh_processes=not args.in_process)
    runner = StepRunner(__file__, STEPS, fresh=not args.in_process)
    common = {"clusters": args.clusters, "binsz": args.binsz, "width": args.width, "height": args.height}
    results = {}
    kinds = ["catalogue"] + ["joint"] * (not args.no_joint and n_sources <= args.joint_max_sources)
    what = {
        "catalogue": "CatalogueFit().run: groups of overlapping sources fitted in parallel, rounds, errors",
        "joint": "Fit().run of every free parameter at once",
    }
    for kind in kinds:
        results[kind] = runner.run("fit", {**common, "kind": kind})
        entry = report.step("mapds", f"{kind} fit, {n_sources} sources", what[kind], results[kind])
        print(f"  {entry['step']:<32s} {entry['seconds']:8.2f} s  {entry['evaluations']:6d} evaluations  "
              f"stat {entry['total_stat']:.3f}  peak {entry['peak_rss_mib']:.0f} MiB", file=sys.stderr)
    if "joint" in results:
        joint, grouped = results["joint"]["values"], results["catalogue"]["values"]
        deviation = max(abs(grouped[k][0] - v[0]) / v[1] for k, v in joint.items())
        report.data["extra"]["largest_deviation_sigma"] = deviation
        difference = results["catalogue"]["total_stat"] - results["joint"]["total_stat"]
        report.data["extra"]["stat_difference"] = difference
        print(f"largest deviation from the joint fit: {deviation:.3f} sigma", file=sys.stderr)
    report.finish()
    print(f"written: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
