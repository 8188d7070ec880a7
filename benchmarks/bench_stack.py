"""Stacking benchmarks: survey datasets from files beside gammapy, and many observations on a
``dask.distributed`` cluster.

**Survey** (``--survey CASE --copies N``, the baseline's "stack x10 from files"): ``N`` copies of one
survey case (the mapds simulation of ``cases/survey-benchmark-cases.json``, counts drawn once, the
GTI of copy ``i`` shifted by ``i`` hours) are written by mapds as FITS (which gammapy reads) and as
zarr.  Each stack runs in a fresh process with the files evicted from the page cache:

- gammapy: ``MapDataset.read`` of each FITS file in turn, stacked into the first one's
  ``to_masked()`` (``Datasets.stack_reduce`` without holding every dataset at once);
- mapds: :func:`mapds.datasets.stack_to_zarr` of the N files (FITS, then zarr) on the threaded
  scheduler, the stacked dataset written to a zarr store chunk by chunk (mapds also writes the
  result; gammapy's stays in memory).

The step "stack N datasets from files (fits)" is the like step of both libraries (ratio); the zarr
step is mapds reading its own format.  Counts, background and exposure sums of the stacked datasets
are compared.

**Cluster** (default):
``N`` synthetic datasets (counts, background, exposure, PSF, EDisp kernel map, safe mask, GTI,
meta table) on one ``NPIX x NPIX`` grid are written as zarr stores, then stacked with
:func:`mapds.datasets.stack_to_zarr` (files opened by tasks, batches of stacking
graphs, result written chunk by chunk) on a ``LocalCluster`` (processes; threads in this process
with ``--in-process``, for the smoke tests).  The cluster's managed
memory (bytes of task results held by the workers) is sampled while it runs; the report gives
its peak per worker, in counts-chunk sizes and as a fraction of the input, plus the wall time.
mapds only: gammapy has no distributed stacking to compare with.  Results go to
``results/bench_stack-<case>.json`` (the case names the sizes; see ``record.py``).

Usage::

    python benchmarks/bench_stack.py --survey 18000x500 --copies 10
    python benchmarks/bench_stack.py --n 32 --npix 512 --chunk 128 --batch-size 16
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.time import Time
from record import Report, add_common_arguments, default_workdir
from step_runner import StepRunner, drop_cache, parse_or_serve, size_on_disk, timed
from survey_case import CASES_FILE, case_info, load_case


def make_dataset(seed: int, npix: int, nbin: int, chunk: int):
    """A dataset with random values on a fixed grid (lazy: each chunk is generated when written)."""
    import dask.array as da

    from mapds.data import GTI
    from mapds.datasets import MapDataset
    from mapds.geom import MapAxis, WcsGeom

    energy = MapAxis.from_energy_bounds(1, 10, nbin, unit="TeV")
    geom = WcsGeom.create(npix=npix, binsz=0.02, frame="galactic", axes=[energy])
    dataset = MapDataset.create(
        geom, binsz_irf=1.0 * u.deg, name=f"obs-{seed}", chunks={"x": chunk, "y": chunk}
    )
    rng = da.random.RandomState(seed)
    shape, chunks = dataset.counts.data.shape, dataset.counts.chunks
    dataset.counts = dataset.counts.copy(data=rng.poisson(2.0, shape, chunks=chunks).astype("float32"))
    background = rng.uniform(1, 3, shape, chunks=chunks).astype("float32")
    dataset.background = dataset.background.copy(data=background)
    exposure = dataset.exposure
    dataset.exposure = exposure.copy(
        data=rng.uniform(1e9, 2e9, exposure.data.shape, chunks=exposure.chunks).astype("float32"),
        meta={"livetime": 1800.0 * u.s},
    )
    threshold = rng.randint(0, 2, (npix, npix), chunks=chunks[-2:])
    dataset.mask_safe = dataset.mask_safe.copy(data=da.arange(nbin)[:, None, None] >= threshold)
    for irf in (dataset.psf, dataset.edisp):
        irf.exposure_map = irf.exposure_map.copy(data=irf.exposure_map.data + 1e9)
    reference = Time("2020-01-01", scale="tt")
    dataset.gti = GTI.create([3600.0 * seed] * u.s, [3600.0 * seed + 1800] * u.s, reference_time=reference)
    dataset.meta_table = Table({"OBS_ID": [seed]})
    return dataset


# -- survey copies beside gammapy -------------------------------------------------------------------


def survey_paths(workdir: str, copies: int) -> dict[str, list[str]]:
    return {fmt: [f"{workdir}/copy{i}.{fmt}" for i in range(copies)] for fmt in ("fits", "zarr")}


def write_copies(args: dict) -> dict:
    """The survey once, then ``copies`` FITS and zarr files of it with shifted GTIs."""
    from mapds.data import GTI
    from mapds.simulate import survey_dataset

    def write():
        survey = survey_dataset(args["case"]).persist()
        reference = survey.gti.time_ref
        start, stop = ((t - reference).to(u.s) for t in (survey.gti.time_start, survey.gti.time_stop))
        for paths in survey_paths(args["dir"], args["copies"]).values():
            for i, path in enumerate(paths):
                copy = survey.copy(name=f"copy{i}")
                copy.gti = GTI.create(start + i * u.h, stop + i * u.h, reference_time=reference)
                copy.write(path, overwrite=True)

    seconds, _ = timed(write)
    paths = survey_paths(args["dir"], args["copies"])
    return {"seconds": seconds, "file_bytes": {fmt: size_on_disk(p[0]) for fmt, p in paths.items()}}


def _sums(dataset) -> dict[str, float]:
    def total(m) -> float:
        # chunk by chunk for mapds' lazy maps (the check must not raise the step's peak memory)
        return float(m.data.sum(dtype="f8"))

    return {name: total(getattr(dataset, name)) for name in ("counts", "background", "exposure")}


def gammapy_stack(args: dict) -> dict:
    from gammapy.datasets import MapDataset

    paths = args["paths"]
    for path in paths:
        drop_cache(path)

    def stack():
        stacked = None
        for path in paths:
            dataset = MapDataset.read(path)
            if stacked is None:
                stacked = dataset.to_masked(name="stacked")
            else:
                stacked.stack(dataset)
        return stacked

    seconds, stacked = timed(stack)
    return {"seconds": seconds, "sums": _sums(stacked)}


def mapds_stack(args: dict) -> dict:
    from mapds.datasets import stack_to_zarr

    paths = args["paths"]
    for path in paths:
        drop_cache(path)
    out = f"{args['dir']}/stacked.zarr"
    seconds, stacked = timed(stack_to_zarr, paths, out, name="stacked", overwrite=True)
    sums = _sums(stacked)
    shutil.rmtree(out)
    return {"seconds": seconds, "sums": sums}


STEPS = {"write_copies": write_copies, "gammapy_stack": gammapy_stack, "mapds_stack": mapds_stack}


def run_survey(args, argv) -> None:
    """Stack ``--copies`` survey files with both libraries (see the module docstring)."""
    case = load_case(args.survey, 5, CASES_FILE)
    label = f"{case['label']}_x{args.copies}"
    report = Report(__file__, label, {**case_info(case), "label": label, "copies": args.copies}, argv,
                    fresh_processes=not args.in_process)
    workdir = args.dir / "survey"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    runner = StepRunner(__file__, STEPS, fresh=not args.in_process)
    common = {"case": case, "dir": str(workdir), "copies": args.copies}
    written = runner.run("write_copies", common)
    report.step("mapds", "write the input datasets", "build the survey once, write N FITS and N zarr copies",
                written)
    paths = survey_paths(str(workdir), args.copies)
    step = f"stack {args.copies} datasets from files ({{}})"
    what = {
        "gammapy": "MapDataset.read of each file, stacked into the first's to_masked(), in memory",
        "mapds": "stack_to_zarr of the files on the threaded scheduler, written to a zarr store",
    }
    results = {}
    runs = [("gammapy", "fits")] * (not args.no_gammapy) + [("mapds", "fits"), ("mapds", "zarr")]
    for library, fmt in runs:
        results[library, fmt] = runner.run(f"{library}_stack", {**common, "paths": paths[fmt]})
        entry = report.step(library, step.format(fmt), what[library], results[library, fmt])
        print(f"  {library:<8s} {entry['step']:<40s} {entry['seconds']:.2f} s, "
              f"peak {entry['peak_rss_mib']:.0f} MiB", file=sys.stderr)
    if not args.no_gammapy:
        report.compare(step.format("fits"))
        reference = results["gammapy", "fits"]["sums"]
        report.data["extra"]["agreement_rel_diff"] = {
            f"{fmt} {name}": abs(results["mapds", fmt]["sums"][name] - value) / abs(value)
            for fmt in ("fits", "zarr") for name, value in reference.items()
        }
    report.finish(cold_cache=all(drop_cache(p) for p in paths["fits"] + paths["zarr"]))
    shutil.rmtree(workdir, ignore_errors=True)
    for entry in report.steps:
        print(f"{entry['library']:<8s} {entry['step']:<40s} {entry['seconds']:8.2f} s "
              f"{entry['peak_rss_mib'] or 0:8.0f} MiB")
    for comparison in report.data["comparisons"]:
        print(f"gammapy / mapds, {comparison['step']}: {comparison['ratio']:.2f}")
    print(f"written: {report.write(args.results_dir)}", file=sys.stderr)


# -- many observations on a cluster -----------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--survey", help="survey case (label or WIDTHxHEIGHT): stack copies beside gammapy")
    parser.add_argument("--copies", type=int, default=10, help="survey copies to stack (with --survey)")
    parser.add_argument("--no-gammapy", action="store_true", help="with --survey: measure mapds only")
    parser.add_argument("--n", type=int, default=32, help="number of datasets")
    parser.add_argument("--npix", type=int, default=512, help="image width and height (pixels)")
    parser.add_argument("--nbin", type=int, default=4, help="reco-energy bins")
    parser.add_argument("--chunk", type=int, default=128, help="spatial chunk size (pixels)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    if args.survey:
        run_survey(args, sys.argv[1:] if argv is None else argv)
        return

    from distributed import Client, LocalCluster
    from distributed.diagnostics import MemorySampler

    from mapds.datasets import stack_to_zarr

    label = f"n{args.n}_npix{args.npix}_nbin{args.nbin}_chunk{args.chunk}"
    label += f"_batch{args.batch_size}_w{args.workers}"
    info = {"label": label, "n": args.n, "npix": [args.npix, args.npix], "nbin_reco": args.nbin,
            "voxels": args.n * args.nbin * args.npix**2, "chunk": args.chunk, "batch_size": args.batch_size,
            "workers": args.workers}
    report = Report(__file__, label, info, sys.argv[1:] if argv is None else argv,
                    fresh_processes=not args.in_process)
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    t0 = time.perf_counter()
    paths = []
    for seed in range(args.n):
        path = args.dir / f"obs-{seed}.zarr"
        make_dataset(seed, args.npix, args.nbin, args.chunk).write(path, format="zarr")
        paths.append(path)
    report.step("mapds", "write the input datasets (zarr)", "generate and write N synthetic datasets",
                {"seconds": time.perf_counter() - t0})

    chunk_bytes = args.nbin * args.chunk**2 * 4
    input_bytes = args.n * args.nbin * args.npix**2 * 4 * 2  # counts and background alone
    sampler = MemorySampler()
    with (
        LocalCluster(  # --in-process (smoke tests): worker threads in this process, no start-up imports
            n_workers=args.workers,
            threads_per_worker=1,
            processes=not args.in_process,
            dashboard_address=":0",  # any free port: no clash with other clusters
        ) as cluster,
        Client(cluster),
    ):
        t0 = time.perf_counter()
        with sampler.sample("stack", interval=0.05, measure="managed"):
            stacked = stack_to_zarr(paths, args.dir / "stacked.zarr", batch_size=args.batch_size)
        wall = time.perf_counter() - t0
    peak = float(sampler.to_pandas()["stack"].max())
    counts = float(stacked.counts.data.sum().compute())
    report.step(
        "mapds", "stack_to_zarr on a LocalCluster",
        "files opened by tasks, batches stacked in turn, streamed to zarr; peak = managed memory per worker",
        {"seconds": wall},
        peak_managed_per_worker_mib=peak / args.workers / 2**20,
        peak_managed_per_worker_chunks=peak / args.workers / chunk_bytes,
        peak_managed_over_input=peak / input_bytes,
        value=counts,
    )
    report.finish()
    for step in report.steps:
        print(f"{step['step']}: {step['seconds']:.2f} s")
    stack = report.steps[-1]
    print(f"peak managed memory per worker: {stack['peak_managed_per_worker_mib']:.2f} MiB "
          f"({stack['peak_managed_per_worker_chunks']:.1f} chunks, "
          f"{100 * stack['peak_managed_over_input']:.2f} % of the input)")
    print(f"written: {report.write(args.results_dir)}", file=sys.stderr)
    shutil.rmtree(args.dir, ignore_errors=True)
    assert np.isfinite(counts)


if __name__ == "__main__":
    main()
