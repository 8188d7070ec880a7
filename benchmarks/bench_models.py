"""Model set-up benchmark: IRF lookups and first evaluation per source, mapds beside gammapy.

With many sources, gammapy's predicted counts are dominated by setting each model up (about a
second per source at 360° x 10°): looking the PSF kernel up at the model position, the energy
dispersion kernel, and the first evaluation on the model's cutout.  On one survey case of
``cases/survey-benchmark-cases.json`` (a label or ``WIDTHxHEIGHT`` in pixels, with 5 and/or 50
sources) this script measures, for mapds and gammapy in the same run, each in a fresh process:

- ``lookups``: the dataset is built (mapds: lazily, every map a dask graph of the formulas;
  gammapy: every map in memory), then a first PSF and EDisp lookup at the map centre (one-time
  costs: imports, interpolators), then per model ``PSFMap.get_psf_kernel`` at the model position
  on the counts grid with the true-energy axis (the exposure geometry, as the evaluator uses it;
  containment 0.999), ``get_edisp_kernel`` at the model position on the reco axis, the dataset's
  ``MapEvaluator.update(exposure, psf, edisp, geom, mask_image)`` (which repeats both lookups and
  decides whether the model contributes) and ``compute_npred()`` on the model's cutout.  Each call
  is the same in both libraries, with the same result; mapds' maps are lazy, so its calls also
  evaluate the formulas of the few IRF pixels or the exposure chunk they touch, which gammapy's
  build did beforehand: the results also give build + every source's set-up as one like step;
- ``npred``: build + the sum of a cold ``npred()`` with all the sources, and with the FoV
  background model alone (the difference is the models' share).

The per-model npred sums are compared.  Results go to ``results/bench_models-<case>.json``
(every number of sources in one file; see ``record.py``).

Usage::

    python benchmarks/bench_models.py --case 1000x250 --n-models 5 50
    python benchmarks/bench_models.py --case w360_h10_b0.02_e10_t15_kernel --n-models 5 50
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

LIBRARIES = ("mapds", "gammapy")
PSF_CONTAINMENT = 0.999
#: Per-model measurements: (label, result key).
FIELDS = (
    ("PSF kernel", "psf_kernel_s"),
    ("EDisp kernel", "edisp_kernel_s"),
    ("update", "update_s"),
    ("compute_npred", "compute_npred_s"),
)


# -- steps (each runs in its own process) ------------------------------------------------------------


def build_dataset(library: str, case: dict):
    """The survey dataset without counts, in ``library``."""
    if library == "mapds":
        from mapds.simulate import survey_dataset

        return survey_dataset(case, with_counts=False)
    from survey_case import gammapy_dataset

    return gammapy_dataset(case)


def _npred_sum(library: str, npred_map) -> float:
    data = npred_map.data
    return float(data.sum(dtype="f8").compute() if library == "mapds" else data.sum(dtype="f8"))


def step_lookups(args: dict) -> dict:
    """Per model: PSF and EDisp kernel lookups, evaluator update, first cutout npred."""
    library, case = args["library"], args["case"]
    build_seconds, dataset = timed(build_dataset, library, case)
    geom, exposure, psf, edisp = dataset.background.geom, dataset.exposure, dataset.psf, dataset.edisp
    mask = dataset.mask_image
    # First calls pay one-time costs (imports, interpolator set-up): measured apart, at the centre.
    centre = geom.center_skydir
    warm_up_seconds, _ = timed(
        lambda: (
            psf.get_psf_kernel(geom=exposure.geom, position=centre, containment=PSF_CONTAINMENT),
            edisp.get_edisp_kernel(position=centre, energy_axis=geom.axes["energy"]),
        )
    )
    rows = []
    for params in case["models_params"]:
        name = params["name"]
        position = dataset.models[name].position
        psf_seconds, kernel = timed(
            psf.get_psf_kernel, geom=exposure.geom, position=position, containment=PSF_CONTAINMENT
        )
        edisp_seconds, _ = timed(edisp.get_edisp_kernel, position=position, energy_axis=geom.axes["energy"])
        evaluator = dataset.evaluators[name]
        update_seconds, _ = timed(evaluator.update, exposure, psf, edisp, geom, mask)
        npred_seconds, npred = timed(evaluator.compute_npred)
        rows.append(
            {
                "model": name,
                "spatial": params["spatial"],
                "psf_kernel_s": psf_seconds,
                "edisp_kernel_s": edisp_seconds,
                "update_s": update_seconds,
                "compute_npred_s": npred_seconds,
                "kernel_shape": list(kernel.psf_kernel_map.data.shape),
                "cutout_shape": list(npred.data.shape),
                "npred_sum": float(npred.data.sum(dtype="f8")),
            }
        )
        print(f"    {library} {name}: {update_seconds + npred_seconds:.3f} s", file=sys.stderr)
    return {"build_s": build_seconds, "warm_up_s": warm_up_seconds, "models": rows}


def step_npred(args: dict) -> dict:
    """Sum of a cold ``npred()`` of the dataset (all the case's sources, or none)."""
    library, case = args["library"], args["case"]
    if not args["with_sources"]:
        case = {**case, "models_params": []}
    build_seconds, dataset = timed(build_dataset, library, case)
    seconds, total = timed(lambda: _npred_sum(library, dataset.npred()))
    return {"build_s": build_seconds, "npred_s": seconds, "npred_sum": total}


STEPS = {"lookups": step_lookups, "npred": step_npred}


# -- orchestration -----------------------------------------------------------------------------------

WHAT = {
    "build": {"mapds": "survey_dataset(case, with_counts=False): every map a lazy graph",
              "gammapy": "survey_case.gammapy_dataset(case): every map computed in memory"},
    "warm-up": "first get_psf_kernel + get_edisp_kernel at the map centre (imports, interpolators)",
    "psf_kernel_s": "Σ over sources of PSFMap.get_psf_kernel(exposure geom, position, containment=0.999)",
    "edisp_kernel_s": "Σ over sources of EDispKernelMap.get_edisp_kernel(position, energy_axis)",
    "update_s": "Σ over sources of MapEvaluator.update(exposure, psf, edisp, geom, mask_image)",
    "compute_npred_s": "Σ over sources of the first MapEvaluator.compute_npred() (cutout)",
    "set-up": "build + warm-up + every source's PSF, EDisp, update and first compute_npred",
    "npred": "build + npred() float64 sum, all sources and the FoV background",
    "npred_background": "build + npred() float64 sum, FoV background model only",
    "difference": "difference of the two: the sources' share of npred()",
}


def measure(case: dict, libraries: tuple[str, ...], runner: StepRunner) -> dict:
    """Every step of one case (one number of sources) for each library."""
    results = {}
    for library in libraries:
        print(f"  {library}: {len(case['models_params'])} sources", file=sys.stderr)
        try:
            results[library] = {
                "lookups": runner.run("lookups", {"library": library, "case": case}),
                "npred": runner.run("npred", {"library": library, "case": case, "with_sources": 1}),
                "npred_background": runner.run(
                    "npred", {"library": library, "case": case, "with_sources": 0}
                ),
            }
        except Exception as exc:  # reported, the other library still runs
            results[library] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def add_to_report(report: Report, results: dict, n_models: int) -> None:
    """The steps of one number of sources; ratios between the libraries' entries of each step."""
    tag = f"({n_models} source{'' if n_models == 1 else 's'})"
    labels = []
    for library, result in results.items():
        if "error" in result:
            report.step(library, f"set-up {tag}", WHAT["set-up"], result)
            continue
        lookups, models = result["lookups"], result["lookups"]["models"]
        peak = lookups["peak_rss_mib"]
        report.step(library, f"build, no counts {tag}", WHAT["build"][library],
                    {"seconds": lookups["build_s"]}, peak_rss_mib=None)
        report.step(library, f"first lookups at the centre {tag}", WHAT["warm-up"],
                    {"seconds": lookups["warm_up_s"]}, peak_rss_mib=None)
        for label, key in FIELDS:
            report.step(library, f"Σ {label} {tag}", WHAT[key],
                        {"seconds": sum(m[key] for m in models)}, peak_rss_mib=peak)
        setup = lookups["build_s"] + lookups["warm_up_s"] + sum(
            m[key] for m in models for _, key in FIELDS
        )
        report.step(library, f"build + set-up of every source {tag}", WHAT["set-up"], {"seconds": setup},
                    peak_rss_mib=peak)
        full, background = result["npred"], result["npred_background"]
        report.step(library, f"build + npred(), all sources {tag}", WHAT["npred"],
                    {"seconds": full["build_s"] + full["npred_s"], "value": full["npred_sum"]},
                    peak_rss_mib=full["peak_rss_mib"])
        report.step(library, f"build + npred(), FoV background only {tag}", WHAT["npred_background"],
                    {"seconds": background["build_s"] + background["npred_s"]},
                    value=background["npred_sum"], peak_rss_mib=background["peak_rss_mib"])
        difference = (full["build_s"] + full["npred_s"]) - (background["build_s"] + background["npred_s"])
        report.step(library, f"sources' share of npred() {tag}", WHAT["difference"],
                    {"seconds": max(difference, 0.0)}, peak_rss_mib=None, derived=True)
        labels = [s["step"] for s in report.steps if s["library"] == library and s["step"].endswith(tag)]
    for step in labels:
        if not step.startswith("build, no counts"):  # a lazy build against a computed one: no ratio
            report.compare(step)
    per_model = {lib: r["lookups"]["models"] for lib, r in results.items() if "error" not in r}
    report.data["extra"].setdefault("per_model", {})[str(n_models)] = per_model
    if len(per_model) == 2:
        g_by_name = {m["model"]: m for m in per_model["gammapy"]}
        diffs = []
        for m in per_model["mapds"]:
            other = g_by_name.get(m["model"], {}).get("npred_sum")
            if other:
                diffs.append(abs(m["npred_sum"] - other) / abs(other))
        full = {lib: report.get(lib, f"build + npred(), all sources {tag}") for lib in LIBRARIES}
        report.data["extra"].setdefault("agreement_rel_diff", {})[str(n_models)] = {
            "per_model_npred_max": max(diffs) if diffs else None,
            "npred": abs(full["mapds"]["value"] - full["gammapy"]["value"]) / abs(full["gammapy"]["value"]),
        }


def medians(per_model: dict) -> dict:
    """``{kind: {field key: {library: median seconds}}}`` of the per-model rows."""
    out = {}
    for kind in ("point", "gauss"):
        for _, key in FIELDS:
            for library, rows in per_model.items():
                values = [m[key] for m in rows if m["spatial"] == kind]
                if values:
                    out.setdefault(kind, {}).setdefault(key, {})[library] = statistics.median(values)
    return out


def print_report(data: dict) -> None:
    info = data["case_info"]
    size = f"{info['npix'][0]} x {info['npix'][1]} px, {info['voxels'] / 1e6:.1f} M reco voxels"
    print(f"\nCase {data['case']} ({size}); ratios gammapy / mapds of like steps:\n")
    ratios = {c["step"]: c["ratio"] for c in data["comparisons"]}
    print("| step | mapds s | gammapy s | gammapy / mapds | mapds peak MiB | gammapy peak MiB |")
    print("|---|---|---|---|---|---|")
    names = list(dict.fromkeys(s["step"] for s in data["steps"]))
    by_id = {s["id"]: s for s in data["steps"]}
    for step in names:
        cells = []
        for library in LIBRARIES:
            entry = by_id.get(f"{library}:{step}", {})
            cells.append("" if entry.get("seconds") is None else f"{entry['seconds']:.3f}")
        peaks = []
        for library in LIBRARIES:
            entry = by_id.get(f"{library}:{step}", {})
            peaks.append("" if entry.get("peak_rss_mib") is None else f"{entry['peak_rss_mib']:.0f}")
        ratio = f"{ratios[step]:.3g}" if step in ratios else ""
        print(f"| {step} | {cells[0]} | {cells[1]} | {ratio} | {peaks[0]} | {peaks[1]} |")
    for n, per_model in data["extra"].get("per_model", {}).items():
        print(f"\nMedians per model, {n} sources (ms):\n")
        print("| kind | step | mapds ms | gammapy ms |")
        print("|---|---|---|---|")
        for kind, fields in medians(per_model).items():
            for label, key in FIELDS:
                values = fields.get(key, {})
                shown = [f"{values[lib] * 1e3:.1f}" if lib in values else "" for lib in LIBRARIES]
                print(f"| {kind} | {label} | {shown[0]} | {shown[1]} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="1000x250", help="case label or WIDTHxHEIGHT in pixels")
    parser.add_argument("--n-models", type=int, nargs="+", default=[5, 50], help="numbers of sources")
    parser.add_argument("--sources", type=int, help="keep only the first N sources (smoke tests)")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    libraries = ("mapds",) if args.no_gammapy else LIBRARIES
    runner = StepRunner(__file__, STEPS, fresh=not args.in_process)
    cases = [with_sources(load_case(args.case, n, args.cases_file), args.sources) for n in args.n_models]
    counts = [len(case["models_params"]) for case in cases]
    info = {**case_info(cases[0]), "n_models": counts}
    report = Report(__file__, cases[0]["label"], info, sys.argv[1:] if argv is None else argv,
                    fresh_processes=not args.in_process)
    for n_models, case in zip(counts, cases, strict=True):
        add_to_report(report, measure(case, libraries, runner), n_models)
    report.finish()
    print_report(report.data)
    print(f"\nwritten: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
