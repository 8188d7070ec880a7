"""Stack many observations on a ``dask.distributed`` cluster of worker processes, into zarr.

    python examples/stack_on_a_cluster.py --size medium --workers 4 --output stack-run
    python examples/stack_on_a_cluster.py --address tcp://scheduler:8786   # an existing cluster

Simulates ``N`` observations of one sky (the synthetic survey of :mod:`mapds.simulate` on a small
grid: the same sources, counts drawn with a seed per observation, the GTI of observation ``i``
starting ``i`` hours later) and writes each as a gadf FITS file gammapy reads.  Then stacks the
files with :func:`mapds.datasets.stack_to_zarr`: the workers open the files, each output chunk is a
small tree of sums over the input chunks (``--batch-size`` files per graph), and the stacked
dataset is written to a zarr store chunk by chunk.  Every computation, the simulation included, runs
on the cluster because a ``Client`` is active.  Finally the counts, background and exposure of the
stacked dataset are compared with the sums over the input files (every ``mask_safe`` is all True,
so nothing is masked out).

``--size``: ``small`` 4 observations of 2° × 1° at 0.05° (40 × 20 pixels); ``medium`` 16 of
10° × 5° at 0.02° (500 × 250 pixels); ``large`` 64 of 20° × 5° at 0.02°.  Without ``--address`` a
``LocalCluster`` of ``--workers`` single-threaded processes is started; the dashboard link is
printed (served only when ``bokeh`` is installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import astropy.units as u
import dask
from distributed import Client

from mapds.data import GTI
from mapds.datasets import MapDataset, stack_to_zarr
from mapds.simulate import make_survey_case, survey_dataset

#: ``--size``: number of observations, then width and height (deg), pixel size (deg), sources.
SIZES = {
    "small": (4, 2.0, 1.0, 0.05, 2),
    "medium": (16, 10.0, 5.0, 0.02, 5),
    "large": (64, 20.0, 5.0, 0.02, 5),
}
#: The maps compared, and the unit of each sum.
MAPS = {"counts": "", "background": "", "exposure": "m2 s"}


def write_observations(directory: Path, size: str) -> list[Path]:
    """The observations of ``size`` as FITS files in ``directory`` (computed on the active client)."""
    n_obs, width, height, binsz, n_sources = SIZES[size]
    case = make_survey_case(width, height, binsz, n_models=n_sources, seed=0)
    paths = []
    for i in range(n_obs):
        dataset = survey_dataset({**case, "fake_random_state": i}, name=f"obs{i}")
        start = i * 3600.0  # one 1800 s interval per hour
        dataset.gti = GTI.create([start] * u.s, [start + 1800.0] * u.s, reference_time=dataset.gti.time_ref)
        path = directory / f"obs{i:04d}.fits"
        dataset.write(path, overwrite=True)
        paths.append(path)
    return paths


def map_sums(dataset) -> dict:
    """Lazy float64 sums of the maps of ``MAPS``, each in its unit."""
    sums = {}
    for name, unit in MAPS.items():
        m = getattr(dataset, name)
        sums[name] = m.data.sum(dtype="f8") * m.unit.to(unit)
    return sums


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small", help="observations and their size")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    parser.add_argument("--address", help="scheduler address of an existing cluster (no local cluster)")
    parser.add_argument("--batch-size", type=int, default=64, help="files per stacking graph")
    parser.add_argument("--output", type=Path, default=Path("stack-run"), help="where the files go")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.address:
        client = Client(args.address)
    else:  # a LocalCluster of processes, closed with the client
        client = Client(n_workers=args.workers, threads_per_worker=1, processes=True)
    with client:
        workers = len(client.scheduler_info()["workers"])
        served = args.address or importlib.util.find_spec("bokeh")
        dashboard = client.dashboard_link + ("" if served else " (not served: bokeh is not installed)")
        print(f"{workers} workers ready in {time.perf_counter() - start:.1f} s, dashboard {dashboard}")

        args.output.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        paths = write_observations(args.output, args.size)
        written = time.perf_counter() - start
        print(f"simulated and wrote {len(paths)} FITS files in {written:.1f} s")

        start = time.perf_counter()
        out = args.output / "stacked.zarr"
        stacked = stack_to_zarr(paths, out, name="stacked", batch_size=args.batch_size, overwrite=True)
        seconds = time.perf_counter() - start
        print(f"stacked {len(paths)} observations into {out} in {seconds:.1f} s")
        inputs, result = dask.compute([map_sums(MapDataset.read(p)) for p in paths], map_sums(stacked))
    totals = {name: sum(float(s[name]) for s in inputs) for name in MAPS}
    for name, unit in MAPS.items():
        line = f"  {name:<10s} stacked {float(result[name]):.6g}, sum of the inputs {totals[name]:.6g} {unit}"
        print(line.rstrip())
    return {
        "n_observations": len(paths),
        "stacked": {name: float(value) for name, value in result.items()},
        "inputs": totals,
        "write_seconds": written,
        "stack_seconds": seconds,
        "dashboard": dashboard,
        "paths": {"inputs": paths, "stacked": out},
    }


if __name__ == "__main__":
    main()
