"""Fit benchmark: the survey's 3-source / 7-parameter fit and the Fermi-LAT Crab fit, mapds beside gammapy.

**The survey fit.**  For survey cases of ``cases/survey-benchmark-cases.json`` (``--sizes``: width x
height in degrees, or labels, or ``WIDTHxHEIGHT`` in pixels) the fit has the case's first three
sources (``src000`` a point source, ``src001`` a Gaussian, ``src002`` a point source) and its FoV
background model; 7 parameters are free: the amplitude and index of each source's power law and
the background norm (positions, widths, references and the background tilt frozen).  The script

- simulates the dataset in a fresh process (``simulate + write fits``, mapds only): the survey
  built lazily with these three sources at their true values, the counts drawn from it
  (``MapDataset.fake`` with the case's seed), the whole dataset written to FITS in the work
  directory (``--dir``);
- then, for each library in a fresh process of its own (so that its peak RSS is its own), reads
  that file (mapds ``MapDataset.read``: lazy; gammapy ``MapDataset.read``: every map in memory),
  sets the models, moves the start values away from the truth by the same fixed factors in both
  libraries (amplitudes x1.3, x0.75, x1.2; indices +0.2, -0.15, +0.1; background norm 1.05) and
  runs ``Fit().run(datasets)`` (both libraries' defaults: MIGRAD, the covariance from MIGRAD's Minuit).

The step compared is ``Fit().run`` alone (``fit, 7 free parameters``): the read is timed apart.
mapds reads lazily, so its fit also pays for reading the data (in its first evaluation), which
gammapy's read did beforehand.  Every call of the datasets' ``stat_sum`` during the fit is counted
and timed (the counting wrapper is set on the ``Datasets`` instance the fit is given):
*evaluations* are those calls (MIGRAD's ``nfev`` plus the fit's own final evaluation), *s /
evaluation* the fit's seconds over them (minimiser overhead included, as in the performance
baseline's 0.28 s per evaluation of gammapy at 80° x 10°), and the median and first call are
given too (the first is cold: model set-up, and in mapds the read).  Both libraries fit the same
counts from the same file, so their statistic at the best fit and their best-fit values must
agree: the results give the difference of ``total_stat`` and the largest difference of a best-fit
value in units of gammapy's error.

gammapy keeps every map in memory (≈55 B per reco voxel): it is skipped above
``--gammapy-max-voxels`` (reported as skipped), and reported as out of memory without being run
when its estimate exceeds 80 % of the available memory, or when its process dies of a
``MemoryError`` or is killed (SIGKILL: the kernel's OOM killer).

**The Crab fit.**  The Fermi-LAT 3FHL Crab dataset (``--crab-dir``; by default
``../shared/data/fermi-3fhl-crab`` beside the repository, or ``$MAPDS_TEST_DATA/fermi-3fhl-crab``;
the Crab part is skipped with a message when it is absent) is read with its models
(``Datasets.read(datasets yaml, filename_models=models yaml)``: a LogParabola point source and a
FoV background, 4 free parameters) and fitted in both libraries, twice:

- ``shipped models``: as the files give them.  Their LogParabola reference energy is 5e-5 TeV
  (50 MeV, below the data), which makes the amplitude and alpha nearly degenerate: MIGRAD stops at
  its call limit in both libraries (no convergence);
- ``reference at 0.05 TeV``: the same spectrum with its reference moved to 0.05 TeV (the amplitude
  set to the model's value there, alpha to alpha + 2 beta ln(0.05 TeV / reference)), which both
  libraries fit to convergence.

Results go to ``results/bench_fit-<case>.json`` per survey case and
``results/bench_fit-fermi_3fhl_crab.json`` (see ``record.py``).

Usage::

    python benchmarks/bench_fit.py --sizes 20x5 40x8 80x10 360x10 --gammapy-max-voxels 2e8
    python benchmarks/bench_fit.py --sizes 20x5 --crab none
    python benchmarks/bench_fit.py --sizes --crab both          # the Crab fits only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stat_memory import BYTES_PER_VOXEL, available_bytes
from record import REPO, Report, add_common_arguments, default_workdir
from step_runner import (
    StepFailed,
    StepRunner,
    drop_cache,
    import_deferred_modules,
    parse_or_serve,
    size_on_disk,
    timed,
)
from survey_case import CASES_FILE, case_info, load_case, with_sources

LIBRARIES = ("mapds", "gammapy")
#: Sources of the survey fit: the case's first three.
FIT_SOURCES = 3
#: Start values: per source (cycling), the amplitude factor and the index shift; the background norm.
AMPLITUDE_FACTORS = (1.3, 0.75, 1.2)
INDEX_SHIFTS = (0.2, -0.15, 0.1)
BACKGROUND_NORM_START = 1.05
SIZES = ("20x5", "40x8", "80x10", "360x10")

CRAB_CASE = "fermi_3fhl_crab"
CRAB_DATASETS = "Fermi-LAT-3FHL_datasets.yaml"
CRAB_MODELS = "Fermi-LAT-3FHL_models.yaml"
CRAB_FILE = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"
CRAB_SOURCE = "Crab Nebula"
CRAB_REFERENCE_TEV = 0.05
CRAB_VARIANTS = {
    "shipped": "fit, shipped models (reference 5e-5 TeV)",
    "moved": f"fit, LogParabola reference at {CRAB_REFERENCE_TEV:g} TeV",
}


def default_crab_dir() -> Path:
    """``$MAPDS_TEST_DATA/fermi-3fhl-crab``, else ``../shared/data/fermi-3fhl-crab`` beside the repository."""
    env = os.environ.get("MAPDS_TEST_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "fermi-3fhl-crab"


# -- what both libraries do --------------------------------------------------------------------------


def _imports(library: str):
    """``(MapDataset, Datasets, Fit)`` of ``library``, with the minimiser imported (not timed)."""
    import iminuit  # noqa: F401  (imported before any timing, in both libraries)

    import_deferred_modules()
    if library == "mapds":
        from mapds.datasets import Datasets, MapDataset
        from mapds.modeling import Fit
    else:
        from gammapy.datasets import Datasets, MapDataset
        from gammapy.modeling import Fit
    return MapDataset, Datasets, Fit


def free_parameters(models) -> dict[str, dict]:
    """``{"model.parameter": {"value", "error"}}`` of the free parameters (same API in both)."""
    found = {}
    for model in models:
        for par in model.parameters.free_parameters:
            found[f"{model.name}.{par.name}"] = {"value": float(par.value), "error": float(par.error)}
    return found


def set_up_survey_fit(models, case: dict) -> dict[str, float]:
    """Freeze all but the amplitudes, indices and background norm, move the start values; the
    true values of the free parameters."""
    truth = {}
    for i, params in enumerate(case["models_params"]):
        model = models[params["name"]]
        model.spatial_model.freeze()
        spectral = model.spectral_model
        truth[f"{model.name}.amplitude"] = spectral.amplitude.value
        truth[f"{model.name}.index"] = spectral.index.value
        spectral.amplitude.value *= AMPLITUDE_FACTORS[i % len(AMPLITUDE_FACTORS)]
        spectral.index.value += INDEX_SHIFTS[i % len(INDEX_SHIFTS)]
    (background,) = [m for m in models if type(m).__name__ == "FoVBackgroundModel"]
    truth[f"{background.name}.norm"] = background.spectral_model.norm.value
    background.spectral_model.norm.value = BACKGROUND_NORM_START
    return truth


def move_reference(spectral, energy_tev: float) -> None:
    """The same LogParabola with its reference energy at ``energy_tev``: amplitude = the model's
    value there, alpha + 2 beta ln(E / reference)."""
    import astropy.units as u

    energy = energy_tev * u.TeV
    amplitude = spectral(energy)
    log_ratio = math.log((energy / spectral.reference.quantity).to_value(""))
    spectral.alpha.value = spectral.alpha.value + 2 * spectral.beta.value * log_ratio
    spectral.amplitude.quantity = amplitude
    spectral.reference.quantity = energy


def run_fit(fit_class, datasets) -> dict:
    """``Fit().run(datasets)``, timed, with every ``stat_sum`` call counted and timed."""
    calls = []
    stat_sum = datasets.stat_sum

    def counted(*args, **kwargs):
        seconds, value = timed(stat_sum, *args, **kwargs)
        calls.append(seconds)
        return value

    datasets.stat_sum = counted  # the fit takes the bound method from the instance it is given
    try:
        seconds, result = timed(fit_class().run, datasets)
    finally:
        del datasets.stat_sum
    return {
        "seconds": seconds,
        "evaluations": len(calls),
        "nfev": int(result.nfev),
        "success": bool(result.success),
        "message": str(result.message),
        "total_stat": float(result.total_stat),
        "seconds_per_evaluation": seconds / len(calls),
        "median_evaluation_seconds": statistics.median(calls),
        "first_evaluation_seconds": calls[0],
        "evaluation_seconds": sum(calls),
        "parameters": free_parameters(datasets.models),
    }


def _out_of_memory(function, *args) -> dict:
    """``function(*args)``, or an error result when the process runs out of memory."""
    try:
        return function(*args)
    except MemoryError as exc:
        return {"error": f"out of memory: MemoryError {exc}".rstrip(), "out_of_memory": True}


# -- steps (each runs in its own process) ------------------------------------------------------------


def step_simulate(args: dict) -> dict:
    """The survey with the fit's sources, counts drawn from the true models, written to FITS."""
    from mapds.simulate import survey_dataset

    seconds, _ = timed(lambda: survey_dataset(args["case"]).write(args["path"], overwrite=True))
    return {"seconds": seconds, "file_bytes": size_on_disk(args["path"])}


def _survey_fit(args: dict) -> dict:
    library, case, path = args["library"], args["case"], args["path"]
    MapDataset, Datasets, Fit = _imports(library)
    if library == "mapds":
        from mapds.simulate import survey_models as models_of
    else:
        from survey_case import gammapy_models as models_of
    # Open the file once (lazily loaded modules), then evict it again: the timed read is cold.
    MapDataset.read(path) if library == "mapds" else MapDataset.read(path, lazy=True)
    drop_cache(path)
    holder = {}

    def read():
        dataset = MapDataset.read(path)
        dataset.models = models_of(case, dataset_name=dataset.name)
        holder["truth"] = set_up_survey_fit(dataset.models, case)
        return Datasets([dataset])

    read_seconds, datasets = timed(read)
    start = {name: p["value"] for name, p in free_parameters(datasets.models).items()}
    if len(start) != args["n_free"]:
        raise RuntimeError(
            f"{library}: {len(start)} free parameters, expected {args['n_free']}: {list(start)}"
        )
    result = run_fit(Fit, datasets)
    return {**result, "read_seconds": read_seconds, "start": start, "truth": holder["truth"]}


def step_survey_fit(args: dict) -> dict:
    return _out_of_memory(_survey_fit, args)


def step_crab_fit(args: dict) -> dict:
    library, directory = args["library"], Path(args["crab_dir"])
    _, Datasets, Fit = _imports(library)
    files = (directory / CRAB_DATASETS, directory / CRAB_MODELS)
    Datasets.read(files[0], filename_models=files[1], checksum=False)  # lazily loaded modules (not timed)

    def read():
        datasets = Datasets.read(files[0], filename_models=files[1], checksum=False)
        if args["variant"] == "moved":
            move_reference(datasets.models[CRAB_SOURCE].spectral_model, CRAB_REFERENCE_TEV)
        return datasets

    read_seconds, datasets = timed(read)
    start = {name: p["value"] for name, p in free_parameters(datasets.models).items()}
    return {**run_fit(Fit, datasets), "read_seconds": read_seconds, "start": start}


STEPS = {"simulate": step_simulate, "survey_fit": step_survey_fit, "crab_fit": step_crab_fit}

WHAT = {
    "simulate": "survey_dataset(case) with the fit's sources: counts drawn (fake, the case's seed), "
    "the whole dataset streamed to FITS",
    ("mapds", "survey"): "MapDataset.read (lazy) + models + start values, then Fit().run timed: "
    "MIGRAD, covariance; the data are read during the first evaluation",
    ("gammapy", "survey"): "MapDataset.read (every map in memory) + models + start values, then "
    "Fit().run timed: MIGRAD, covariance",
    ("mapds", "crab"): "Datasets.read(datasets yaml, models yaml) (lazy), then Fit().run timed",
    ("gammapy", "crab"): "Datasets.read(datasets yaml, models yaml), then Fit().run timed",
}


# -- orchestration -----------------------------------------------------------------------------------


def resolve_case(spec: str, cases_file: Path = CASES_FILE) -> dict:
    """The 5-source case of ``spec``: width x height in degrees (``20x5``), a label, or pixels."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)", spec)
    if match:
        width, height = (float(v) for v in match.groups())
        for case in json.loads(Path(cases_file).read_text()):
            if (case["width_deg"], case["height_deg"], case["n_models"]) == (width, height, 5):
                return case
    return load_case(spec, 5, cases_file)


def fit_case(spec: str, n_sources: int, cases_file: Path = CASES_FILE) -> dict:
    """The case of ``spec`` with its first ``n_sources`` sources (label ``..._3src``)."""
    return with_sources(resolve_case(spec, cases_file), n_sources)


class Measure:
    """Runs the steps of one report, records them, and says on stderr what each took."""

    def __init__(self, report: Report, runner: StepRunner):
        self.report, self.runner = report, runner

    def __call__(self, library: str, name: str, step: str, what: str, args: dict) -> dict:
        try:
            result = self.runner.run(name, {"library": library, **args})
        except StepFailed as exc:  # reported, the other steps still run
            killed = f"exit code {-signal.SIGKILL}" in str(exc)
            reason = "out of memory: killed (SIGKILL, the OOM killer)" if killed else str(exc)
            result = {"error": reason, "out_of_memory": killed}
        except Exception as exc:  # in-process mode
            result = {"error": f"{type(exc).__name__}: {exc}"}
        extra = {k: result[k] for k in ("parameters", "start", "truth") if k in result}
        entry = self.report.step(library, step, what, result, **extra)
        if entry["seconds"] is None:
            shown = entry["error"]
        else:
            shown = f"{entry['seconds']:.3f} s"
            if "evaluations" in entry:
                shown += f", {entry['evaluations']} evaluations, {entry['seconds_per_evaluation']:.4f} s each"
        print(
            f"  {library:<8s} {step:<44s} {shown}, peak {entry['peak_rss_mib'] or 0:.0f} MiB", file=sys.stderr
        )
        return entry


def gammapy_status(voxels: int, max_voxels: float) -> str | None:
    """Why gammapy is not run on a case of ``voxels`` reco voxels (None: it is run)."""
    if voxels > max_voxels:
        return f"skipped: {voxels / 1e6:.0f} M reco voxels > --gammapy-max-voxels {max_voxels:.3g}"
    estimate, available = BYTES_PER_VOXEL["gammapy"] * voxels, available_bytes()
    if available and estimate > 0.8 * available:
        return (
            f"out of memory: it holds every map, ≈{estimate / 2**30:.1f} GiB predicted, "
            f"{available / 2**30:.1f} GiB available (not run)"
        )
    return None


def agreement(report: Report, step: str) -> dict | None:
    """How the two libraries' fits agree: total_stat, and best-fit values in units of the error."""
    m, g = report.get("mapds", step), report.get("gammapy", step)
    if not m or not g or m["seconds"] is None or g["seconds"] is None:
        return None
    pars_m, pars_g = m["parameters"], g["parameters"]
    pulls = {
        name: abs(pars_m[name]["value"] - pars_g[name]["value"]) / pars_g[name]["error"]
        for name in pars_g
        if name in pars_m and pars_g[name]["error"] > 0
    }
    return {
        "total_stat_diff": m["total_stat"] - g["total_stat"],
        "total_stat_rel_diff": abs(m["total_stat"] - g["total_stat"]) / abs(g["total_stat"]),
        "max_value_diff_in_errors": max(pulls.values()) if pulls else None,
        "value_diff_in_errors": pulls,
    }


def benchmark_survey(
    case: dict, workdir: Path, argv, *, with_gammapy: bool, max_voxels: float, fresh: bool
) -> Report:
    """Simulate the case's file, then fit it in each library (each in a fresh process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = str(workdir / f"{case['label']}.fits")
    info = case_info(case)
    n_free = 2 * info["n_models"] + 1
    info["free_parameters"] = n_free
    report = Report(__file__, case["label"], info, argv, fresh_processes=fresh)
    measure = Measure(report, StepRunner(__file__, STEPS, fresh=fresh))
    step = f"fit, {n_free} free parameters"
    simulated = measure(
        "mapds", "simulate", "simulate + write fits", WHAT["simulate"], {"case": case, "path": path}
    )
    libraries = LIBRARIES if with_gammapy else ("mapds",)
    status = gammapy_status(info["voxels"], max_voxels) if with_gammapy else None
    cold = None
    if simulated["seconds"] is not None:
        cold = True
        for library in libraries:
            if library == "gammapy" and status:
                print(f"  {library:<8s} {step:<44s} gammapy: {status}", file=sys.stderr)
                report.note(f"gammapy: {status}")
                continue
            cold &= drop_cache(path)
            entry = measure(
                library,
                "survey_fit",
                step,
                WHAT[(library, "survey")],
                {"case": case, "path": path, "n_free": n_free},
            )
            if library == "gammapy" and entry.get("out_of_memory"):
                status = entry["error"]
        report.data["extra"]["file_bytes"] = size_on_disk(path)
    report.compare(step)
    report.data["extra"].update(
        {
            "fit_step": step,
            "gammapy_status": status,
            "agreement": agreement(report, step),
            "start_factors": {
                "amplitude": AMPLITUDE_FACTORS,
                "index_shift": INDEX_SHIFTS,
                "background_norm": BACKGROUND_NORM_START,
            },
        }
    )
    report.finish(cold_cache=cold)
    return report


def crab_info(crab_dir: Path) -> dict:
    """The sizes of the Crab dataset (from its counts header)."""
    from astropy.io import fits

    with fits.open(crab_dir / CRAB_FILE) as hdus:
        header = hdus["COUNTS"].header
    nx, ny, ne = header["NAXIS1"], header["NAXIS2"], header["NAXIS3"]
    binsz = abs(header["CDELT1"])
    return {
        "label": CRAB_CASE,
        "npix": [nx, ny],
        "width_deg": round(nx * binsz, 6),
        "height_deg": round(ny * binsz, 6),
        "binsz_deg": binsz,
        "nbin_reco": ne,
        "voxels": nx * ny * ne,
        "n_models": 1,
        "dataset": "Fermi-LAT 3FHL Crab (gammapy-data)",
    }


def benchmark_crab(crab_dir: Path, variants, argv, *, with_gammapy: bool, fresh: bool) -> Report:
    """The Crab fits (``variants`` of the models) in each library, each in a fresh process."""
    report = Report(__file__, CRAB_CASE, crab_info(crab_dir), argv, fresh_processes=fresh)
    measure = Measure(report, StepRunner(__file__, STEPS, fresh=fresh))
    libraries = LIBRARIES if with_gammapy else ("mapds",)
    agreements = {}
    for variant in variants:
        step = CRAB_VARIANTS[variant]
        for library in libraries:
            measure(
                library,
                "crab_fit",
                step,
                WHAT[(library, "crab")],
                {"crab_dir": str(crab_dir), "variant": variant},
            )
        report.compare(step)
        agreements[step] = agreement(report, step)
    report.data["extra"].update({"agreement": agreements, "reference_moved_to_tev": CRAB_REFERENCE_TEV})
    report.finish()
    return report


# -- tables ------------------------------------------------------------------------------------------


def _row(entry: dict | None, status: str | None = None) -> list[str]:
    if entry is None or entry["seconds"] is None:
        reason = status or (entry or {}).get("error", "")
        return [reason, "", "", "", "", "", "", "", ""]
    return [
        f"{entry['seconds']:.2f}",
        f"{entry['evaluations']} ({entry['nfev']})",
        f"{entry['seconds_per_evaluation']:.4f}",
        f"{entry['median_evaluation_seconds']:.4f}",
        f"{entry['first_evaluation_seconds']:.3f}",
        f"{entry['read_seconds']:.3f}",
        f"{entry['peak_rss_mib']:.0f}",
        "yes" if entry["success"] else "no",
        f"{entry['total_stat']:.3f}",
    ]


def print_table(data: dict) -> None:
    """Per fit: each library's seconds, evaluations, per evaluation, peak RSS; the ratio; agreement."""
    info = data["case_info"]
    print(
        f"\n{data['case']}: {info['npix'][0]} x {info['npix'][1]} px x {info['nbin_reco']} reco bins "
        f"({info['voxels'] / 1e6:.3g} M reco voxels)"
    )
    by_id = {s["id"]: s for s in data["steps"]}
    ratios = {c["step"]: c["ratio"] for c in data["comparisons"]}
    print(
        "| step | library | fit s | evaluations (nfev) | s / evaluation | median evaluation s | "
        "first evaluation s | read s | peak MiB | converged | total_stat | gammapy / mapds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for step in dict.fromkeys(s["step"] for s in data["steps"]):
        if step.startswith("simulate"):
            entry = by_id[f"mapds:{step}"]
            shown = entry["error"] if entry["seconds"] is None else f"{entry['seconds']:.2f}"
            print(f"| {step} | mapds | {shown} | | | | | | {entry['peak_rss_mib'] or 0:.0f} | | | |")
            continue
        for library in LIBRARIES:
            entry = by_id.get(f"{library}:{step}")
            status = data["extra"].get("gammapy_status") if library == "gammapy" else None
            if entry is None and status is None:
                continue
            if entry is None:
                status = f"gammapy: {status}"
            ratio = f"{ratios[step]:.3g}" if library == "gammapy" and step in ratios else ""
            print("| " + " | ".join([step, library, *_row(entry, status), ratio]) + " |")
    agreements = data["extra"].get("agreement")
    if agreements and "total_stat_diff" in agreements:
        agreements = {data["extra"]["fit_step"]: agreements}
    for step, a in (agreements or {}).items():
        if a:
            worst = a["max_value_diff_in_errors"]
            print(
                f"{step}: total_stat mapds - gammapy = {a['total_stat_diff']:.3g} "
                f"(relative {a['total_stat_rel_diff']:.1e}); best-fit values differ by at most "
                f"{'' if worst is None else f'{worst:.2g}'} x gammapy's error"
            )


# -- main --------------------------------------------------------------------------------------------


def _portable(argv: list[str]) -> list[str]:
    """``argv`` with ``--crab-dir`` written relative to the repository (results hold no absolute
    path of the machine)."""
    out, after = [], False
    for arg in argv:
        if after:
            arg, after = os.path.relpath(Path(arg).resolve(), REPO), False
        elif arg == "--crab-dir":
            after = True
        elif arg.startswith("--crab-dir="):
            arg = "--crab-dir=" + os.path.relpath(Path(arg.split("=", 1)[1]).resolve(), REPO)
        out.append(arg)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="*",
        default=list(SIZES),
        help="survey cases: WIDTHxHEIGHT in degrees (default 20x5 40x8 80x10 360x10), "
        "labels, or WIDTHxHEIGHT in pixels; none for the Crab fits only",
    )
    parser.add_argument(
        "--sources",
        type=int,
        default=FIT_SOURCES,
        help="sources fitted (the case's first N; default 3: 7 free parameters)",
    )
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    parser.add_argument("--no-gammapy", action="store_true", help="measure mapds only")
    parser.add_argument(
        "--gammapy-max-voxels",
        type=float,
        default=200e6,
        help="skip gammapy above this many reco voxels (default 2e8)",
    )
    parser.add_argument(
        "--crab",
        choices=("both", "shipped", "moved", "none"),
        default="both",
        help="Crab fits: with the shipped models, with the reference moved, both, none",
    )
    parser.add_argument(
        "--crab-dir",
        type=Path,
        default=default_crab_dir(),
        help="the Fermi-LAT 3FHL Crab dataset (default ../shared/data/fermi-3fhl-crab)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the simulated FITS files")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    argv = _portable(sys.argv[1:] if argv is None else argv)
    fresh = not args.in_process
    for spec in args.sizes:
        case = fit_case(spec, args.sources, args.cases_file)
        voxels = case_info(case)["voxels"]
        print(
            f"{case['label']}: {voxels / 1e6:.1f} M reco voxels, {len(case['models_params'])} sources",
            file=sys.stderr,
        )
        report = benchmark_survey(
            case,
            args.dir,
            argv,
            with_gammapy=not args.no_gammapy,
            max_voxels=args.gammapy_max_voxels,
            fresh=fresh,
        )
        if not args.keep:
            Path(args.dir, f"{case['label']}.fits").unlink(missing_ok=True)
        print_table(report.data)
        print(f"written: {report.write(args.results_dir)}", file=sys.stderr)
    if args.crab != "none":
        if (args.crab_dir / CRAB_DATASETS).exists() and (args.crab_dir / CRAB_FILE).exists():
            variants = ("shipped", "moved") if args.crab == "both" else (args.crab,)
            print(f"{CRAB_CASE}: {', '.join(variants)}", file=sys.stderr)
            report = benchmark_crab(
                args.crab_dir, variants, argv, with_gammapy=not args.no_gammapy, fresh=fresh
            )
            print_table(report.data)
            print(f"written: {report.write(args.results_dir)}", file=sys.stderr)
        else:
            print(
                f"\nCrab fit skipped: the Fermi-LAT 3FHL dataset is not in {args.crab_dir} "
                "(--crab-dir, or $MAPDS_TEST_DATA/fermi-3fhl-crab)",
                file=sys.stderr,
            )


if __name__ == "__main__":
    main()
