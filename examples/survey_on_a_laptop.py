"""A survey-scale cube on a laptop: simulate, write to zarr, reopen lazily, predict, evaluate, fit.

    python examples/survey_on_a_laptop.py --size survey --output survey-run

Builds the synthetic Galactic-plane survey of the benchmarks (:mod:`mapds.simulate`: exposure,
background, PSF and energy dispersion from formulas, point and Gaussian power-law sources, a FoV
background model, counts drawn from the npred), lazily: the cube never exists in memory.  Then,
timing each step and printing the peak memory of the process after it:

1. writes the dataset to a zarr store, chunk by chunk (``--chunk`` pixels per spatial tile);
2. reopens it lazily (only metadata is read) and attaches the survey's models;
3. sums the predicted and observed counts (one computation), then evaluates the Cash statistic;
4. fits the amplitude and index of the ``--fit-sources`` brightest sources and the background norm
   (every other parameter frozen), started away from the simulated values (MIGRAD, then HESSE).

``--size``: ``small`` is 4° × 2° at 0.05° (80 × 40 pixels × 10 energies, 3 sources: seconds);
``medium`` (40° × 8°) and ``survey`` (360° × 10°, 18000 × 500 pixels × 10 energies, 9·10⁷ voxels)
are the cases of ``benchmarks/cases/survey-benchmark-cases.json`` at 0.02° with 5 sources.
The peak memory is ``getrusage``'s maximum resident set size of this process since it started.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import dask

from mapds.datasets import Datasets, MapDataset
from mapds.modeling import Fit
from mapds.simulate import make_survey_case, survey_dataset, survey_models

#: The benchmark cases (in the repository beside this script).
CASES_FILE = Path(__file__).resolve().parents[1] / "benchmarks" / "cases" / "survey-benchmark-cases.json"
#: ``--size``: a case made here (width, height, pixel size in degrees, sources) or a benchmark case.
SIZES = {
    "small": (4.0, 2.0, 0.05, 3),
    "medium": "w40_h8_b0.02_e10_t15_kernel",
    "survey": "w360_h10_b0.02_e10_t15_kernel",
}
#: Start values of the fit: amplitudes times this factor, indices plus this shift, background norm.
AMPLITUDE_FACTOR, INDEX_SHIFT, NORM_START = 1.3, 0.1, 1.05


def survey_case(size: str, seed: int, sizes: dict = SIZES) -> dict:
    """The case of ``size`` in ``sizes``: built by `make_survey_case`, or read from the
    benchmark cases."""
    spec = sizes[size]
    if isinstance(spec, tuple):
        width, height, binsz, n_sources = spec
        return make_survey_case(width, height, binsz, n_models=n_sources, seed=seed)
    cases = [c for c in json.loads(CASES_FILE.read_text()) if c["label"] == spec]
    return min(cases, key=lambda case: case["n_models"])  # the 5-source variant


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_step(steps: list, name: str, function, *args):
    """``function(*args)``, its time and the peak memory after it appended to ``steps`` and printed."""
    start = time.perf_counter()
    value = function(*args)
    row = {"step": name, "seconds": time.perf_counter() - start, "peak_rss_mib": peak_rss_mib()}
    steps.append(row)
    print(f"{name:<34s} {row['seconds']:8.2f} s   peak RSS {row['peak_rss_mib']:7.0f} MiB")
    return value


def set_up_fit(models, names: list[str]) -> dict[str, float]:
    """Free the amplitude and index of the sources ``names`` and the background norm, freeze every
    other parameter, move the start values away from the truth; the true values."""
    truth = {}
    for model in models:
        if model.spatial_model is None:  # the FoV background model
            truth[f"{model.name}.norm"] = model.spectral_model.norm.value
            model.spectral_model.norm.value = NORM_START
            continue
        model.freeze()
        if model.name in names:
            spectral = model.spectral_model
            spectral.amplitude.frozen = spectral.index.frozen = False
            truth[f"{model.name}.amplitude"] = spectral.amplitude.value
            truth[f"{model.name}.index"] = spectral.index.value
            spectral.amplitude.value *= AMPLITUDE_FACTOR
            spectral.index.value += INDEX_SHIFT
    return truth


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small", help="survey size (see above)")
    parser.add_argument("--output", type=Path, default=Path("survey-run"), help="where the zarr store goes")
    parser.add_argument("--chunk", type=int, help="spatial tile (pixels) of the zarr store; default ~64 MiB")
    parser.add_argument("--fit-sources", type=int, default=3, help="number of sources fitted (brightest)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sources (small size only)")
    args = parser.parse_args(argv)

    case = survey_case(args.size, args.seed)
    chunks = None if args.chunk is None else {"x": args.chunk, "y": args.chunk}
    dataset = survey_dataset(case, chunks=chunks)  # lazy: exposure, background, IRFs, fake counts
    nx, ny = case["npix"]
    width, height = nx * case["binsz_deg"], ny * case["binsz_deg"]
    print(f"survey {width:g}° × {height:g}° at {case['binsz_deg']:g}°: counts {dataset.counts.data.shape}")

    steps: list[dict] = []
    path = args.output / "survey.zarr"
    run_step(steps, "simulate + write zarr", dataset.write, path, True)
    dataset = run_step(steps, "reopen lazily", MapDataset.read, path)
    dataset.models = survey_models(case, dataset_name=dataset.name)
    print(f"{path}: {dataset.counts.data.npartitions} counts chunks of {dataset.counts.data.chunksize}")

    def predict():
        npred, counts = dask.compute(dataset.npred().data.sum(), dataset.counts.data.sum(dtype="f8"))
        return float(npred), float(counts)

    npred, counts = run_step(steps, "npred + counts sums", predict)
    stat_sum = run_step(steps, "stat_sum", dataset.stat_sum)
    print(f"npred {npred:.1f}, counts {counts:.0f}, stat_sum {stat_sum:.3f}")

    brightest = sorted(case["models_params"], key=lambda params: -params["amplitude_cm-2s-1TeV-1"])
    names = [params["name"] for params in brightest[: args.fit_sources]]
    truth = set_up_fit(dataset.models, names)
    result = run_step(steps, f"fit ({len(truth)} free parameters)", Fit().run, Datasets([dataset]))
    parameters = {}
    for key in truth:
        model, name = key.rsplit(".", 1)
        par = dataset.models[model].parameters[name]
        parameters[key] = (par.value, par.error)
        pull = (par.value - truth[key]) / par.error if par.error else float("nan")
        print(f"  {key:<18s} {par.value:10.4g} ± {par.error:8.3g} (true {truth[key]:.4g}, {pull:+.1f} σ)")
    print(f"fit: {result.message} in {result.nfev} evaluations, total stat {result.total_stat:.3f}")
    return {
        "case": case,
        "stat_sum": stat_sum,
        "npred": npred,
        "counts": counts,
        "success": result.success,
        "parameters": parameters,
        "truth": truth,
        "steps": steps,
        "peak_rss_mib": peak_rss_mib(),
        "paths": {"dataset": path},
    }


if __name__ == "__main__":
    main()
