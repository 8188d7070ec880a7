"""Model set-up benchmark: IRF lookups and first evaluation per source, mapds beside gammapy.

With many sources, gammapy's predicted counts are dominated by setting each model up (about a
second per source at 360° x 10°): looking the PSF kernel up at the model position, the energy
dispersion kernel, and the first evaluation on the model's cutout.  On one survey case of
``survey-benchmark-cases.json`` (a label or ``WIDTHxHEIGHT`` in pixels, with 5 and/or 50 sources)
this script measures, for mapds and gammapy in the same run, each in a fresh process:

- ``lookups``: a first PSF and EDisp lookup at the map centre (one-time costs: imports,
  interpolators), then per model ``PSFMap.get_psf_kernel`` at the model position on the counts grid
  with the true-energy axis (the exposure geometry, as the evaluator uses it; containment 0.999),
  ``get_edisp_kernel`` at the model position on the reco axis, then the dataset's
  ``MapEvaluator.update(exposure, psf, edisp, geom, mask_image)`` (which repeats both lookups and
  decides whether the model contributes) and ``compute_npred()`` on the model's cutout;
- ``npred``: the whole set-up as the dataset does it, the sum of a cold ``npred()`` with all the
  sources, and with the FoV background model alone (the difference is the models' share).

Both datasets are built in memory from the same inputs (``survey_case.gammapy_dataset`` and
``mapds.simulate.survey_dataset``, no counts); the per-model npred sums are compared.  It prints
a per-model table and a summary (times, gammapy/mapds ratios, peak RSS per process) and writes
the same as JSON.

Usage::

    python benchmarks/bench_models.py --case 1000x250 --n-models 5 50
    python benchmarks/bench_models.py --case w360_h10_b0.02_e10_t15_kernel --out results/models.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_runner import StepFailed, format_ratio, run_step, serve_step, timed
from survey_case import CASES_FILE, load_case

LIBRARIES = ("mapds", "gammapy")
PSF_CONTAINMENT = 0.999
#: Per-model measurements: (column label, result key).
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


def measure(case: dict, libraries: tuple[str, ...]) -> dict:
    """Every step of one case (one number of sources) for each library, in fresh processes."""
    results = {}
    for library in libraries:
        print(f"  {library}: {len(case['models_params'])} sources", file=sys.stderr)
        try:
            results[library] = {
                "lookups": run_step(__file__, "lookups", {"library": library, "case": case}),
                "npred": run_step(__file__, "npred", {"library": library, "case": case, "with_sources": 1}),
                "npred_background": run_step(
                    __file__, "npred", {"library": library, "case": case, "with_sources": 0}
                ),
            }
        except StepFailed as exc:
            results[library] = {"error": str(exc)}
    return results


def _ratio(gammapy: float | None, mapds: float | None) -> str:
    return format_ratio(gammapy, mapds) if gammapy is not None and mapds else ""


def _seconds(value: float | None, scale: float = 1.0, fmt: str = ".3f") -> str:
    return "" if value is None else format(value * scale, fmt)


def print_models_table(results: dict) -> None:
    """One row per model: lookup and first-evaluation times of both libraries (ms)."""
    m_rows = results["mapds"]["lookups"]["models"] if "lookups" in results.get("mapds", {}) else []
    g_rows = results["gammapy"]["lookups"]["models"] if "lookups" in results.get("gammapy", {}) else []
    g_by_name = {row["model"]: row for row in g_rows}
    header = ["model", "kind"]
    for label, _ in FIELDS:
        header += [f"{label} mapds ms", "gammapy ms", "×"]
    header += ["npred rel. diff"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in m_rows:
        other = g_by_name.get(row["model"], {})
        cells = [row["model"], row["spatial"]]
        for _, key in FIELDS:
            cells += [
                _seconds(row[key], 1e3, ".1f"),
                _seconds(other.get(key), 1e3, ".1f"),
                _ratio(other.get(key), row[key]),
            ]
        diff = ""
        if other:
            diff = f"{abs(row['npred_sum'] - other['npred_sum']) / abs(other['npred_sum']):.1e}"
        cells.append(diff)
        print("| " + " | ".join(cells) + " |")


def print_medians(results: dict) -> None:
    """Median per-model times (ms) by spatial kind, both libraries side by side."""
    models = {lib: r["lookups"]["models"] for lib, r in results.items() if "error" not in r}
    print("| kind | step | mapds ms | gammapy ms | gammapy / mapds |")
    print("|---|---|---|---|---|")
    for kind in ("point", "gauss"):
        for label, key in FIELDS:
            medians = {
                lib: statistics.median(m[key] for m in rows if m["spatial"] == kind)
                for lib, rows in models.items()
            }
            m_ms, g_ms = medians.get("mapds"), medians.get("gammapy")
            print(f"| {kind} | {label} | {_seconds(m_ms, 1e3, '.1f')} | {_seconds(g_ms, 1e3, '.1f')} | "
                  f"{_ratio(g_ms, m_ms)} |")


def _summary(result: dict) -> dict[str, tuple[float, float | None]]:
    """One library's summary: ``{label: (seconds, peak RSS MiB of the process or None)}``."""
    lookups, models = result["lookups"], result["lookups"]["models"]
    npred, background = result["npred"], result["npred_background"]
    per_model = [m["update_s"] + m["compute_npred_s"] for m in models]

    def total(key):
        return sum(m[key] for m in models), lookups["peak_rss_mib"]

    return {
        "build dataset (no counts)": (lookups["build_s"], None),
        "first PSF + EDisp lookup (centre, warm-up)": (lookups["warm_up_s"], None),
        "Σ PSF kernel lookups": total("psf_kernel_s"),
        "Σ EDisp kernel lookups": total("edisp_kernel_s"),
        "Σ evaluator update": total("update_s"),
        "Σ compute_npred (first, cutout)": total("compute_npred_s"),
        "median update + compute_npred per model": (statistics.median(per_model), None),
        "npred() cold, all sources": (npred["npred_s"], npred["peak_rss_mib"]),
        "npred() cold, FoV background only": (background["npred_s"], background["peak_rss_mib"]),
        "model set-up in npred() (difference)": (npred["npred_s"] - background["npred_s"], None),
    }


def print_summary(results: dict) -> None:
    """Totals per step: both libraries' seconds, the ratio and the peak RSS of the processes."""
    print("| step | mapds s | gammapy s | gammapy / mapds | mapds peak MiB | gammapy peak MiB |")
    print("|---|---|---|---|---|---|")
    summaries = {library: _summary(result) for library, result in results.items() if "error" not in result}
    labels = next(iter(summaries.values()), {})
    for label in labels:
        m_s, m_peak = summaries.get("mapds", {}).get(label, (None, None))
        g_s, g_peak = summaries.get("gammapy", {}).get(label, (None, None))
        peaks = [_seconds(m_peak, fmt=".0f"), _seconds(g_peak, fmt=".0f")]
        print(f"| {label} | {_seconds(m_s)} | {_seconds(g_s)} | {_ratio(g_s, m_s)} | {' | '.join(peaks)} |")
    m, g = results.get("mapds", {}), results.get("gammapy", {})
    if "npred" in m and "npred" in g:
        diff = abs(m["npred"]["npred_sum"] - g["npred"]["npred_sum"]) / abs(g["npred"]["npred_sum"])
        print(f"\nnpred() sums: mapds {m['npred']['npred_sum']:.6e}, gammapy {g['npred']['npred_sum']:.6e}, "
              f"relative difference {diff:.1e}")
    for library, result in results.items():
        if "error" in result:
            print(f"{library}: {result['error']}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="1000x250", help="case label or WIDTHxHEIGHT in pixels")
    parser.add_argument("--n-models", type=int, nargs="+", default=[5, 50], help="numbers of sources")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument("--out", type=Path, help="JSON report path")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        serve_step(STEPS, args.step, args.step_args)
        return
    libraries = ("mapds",) if args.no_gammapy else LIBRARIES
    report = []
    for n_models in args.n_models:
        case = load_case(args.case, n_models, args.cases_file)
        results = measure(case, libraries)
        report.append({"case": case["label"], "npix": case["npix"], "n_models": n_models, "results": results})
        voxels = case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"]
        print(
            f"\nCase {case['label']} ({case['npix'][0]} x {case['npix'][1]} px, {voxels / 1e6:.1f} M reco "
            f"voxels), {n_models} sources — per model (ms; × = gammapy / mapds):\n"
        )
        print_models_table(results)
        print(f"\nMedians per model, {n_models} sources:\n")
        print_medians(results)
        print(f"\nSummary, {n_models} sources (s):\n")
        print_summary(results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
