"""Stacking benchmark: many observations stacked on a ``dask.distributed`` cluster, streamed to zarr.

``N`` synthetic datasets (counts, background, exposure, PSF, EDisp kernel map, safe mask, GTI,
meta table) on one ``NPIX x NPIX`` grid are written as zarr stores, then stacked with
:func:`mapds.datasets.stack_to_zarr` (files opened by tasks, batches of tree-reduced
graphs, result written chunk by chunk) on a ``LocalCluster`` (processes; threads in this process
with ``--in-process``, for the smoke tests).  The cluster's managed
memory (bytes of task results held by the workers) is sampled while it runs; the report gives
its peak per worker, in counts-chunk sizes and as a fraction of the input, plus the wall time.
mapds only: gammapy has no distributed stacking to compare with.  Results go to
``results/bench_stack-<case>.json`` (the case names the sizes; see ``record.py``).

Usage::

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=32, help="number of datasets")
    parser.add_argument("--npix", type=int, default=512, help="image width and height (pixels)")
    parser.add_argument("--nbin", type=int, default=4, help="reco-energy bins")
    parser.add_argument("--chunk", type=int, default=128, help="spatial chunk size (pixels)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    add_common_arguments(parser)
    args = parser.parse_args(argv)

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
        "files opened by tasks, tree-reduced batches, streamed to zarr; peak = managed memory per worker",
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
