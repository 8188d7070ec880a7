"""I/O benchmark: write and read a survey-sized cube as FITS and zarr, beside gammapy and astropy.

For one case of ``survey-benchmark-cases.json`` (picked by label or ``WIDTHxHEIGHT`` in pixels)
a float32 counts-like cube (reco-energy bins x height x width) is generated chunk by chunk and
written by mapds to FITS and to zarr.  Then every measured step runs in a fresh Python process
(so imports, caches and peak memory do not leak between steps), and reports its wall time and
its peak RSS (``os.wait4`` gives the child's own ``ru_maxrss``):

- ``generate``: computing the synthetic cube without any I/O (the non-storage part of a write);
- ``raw read``: sequential 16 MiB reads of the file(s), the disk-speed reference;
- ``open``: opening the map (and the bytes the process read meanwhile, from ``/proc/self/io``);
- ``sum``: opening and summing the whole map (float64 accumulation), with the default chunks
  (the storage layout: whole-row slabs for FITS, the zarr chunks) and with dask's square
  ``"auto"`` tiles for comparison;
- the same sum with gammapy's ``Map.read(...).data.sum()`` and astropy's
  ``fits.open(memmap=True)`` on the same FITS file.

Throughputs (GB/s) count the float32 values delivered or written, except for raw reads, which
count file bytes (zarr chunks are compressed); "vs raw" is the raw read time of the same file
divided by the step's time.  Reads are cold when the page cache can be dropped for the files involved
(``posix_fadvise(DONTNEED)`` after ``fsync``: only our files are evicted, other processes'
caches are untouched); the output says whether it worked.

Usage::

    python benchmarks/bench_io.py --case w5_h2_b0.02_e10_t15_kernel --dir /tmp/bench --out io.json
    python benchmarks/bench_io.py --case 4000x500
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from step_runner import drop_cache, files_of, run_step, serve_step, size_on_disk
from survey_case import CASES_FILE, load_case

READ_BLOCK = 16 * 2**20


# -- steps (each runs in its own process) ------------------------------------------------------------


def _cube(case: dict):
    """The lazy counts-like cube of a case, generated block by block (deterministic)."""
    import dask.array as da
    import numpy as np

    from mapds.geom import MapAxis, WcsGeom
    from mapds.maps import Map

    reco = case["energy_reco"]
    axis = MapAxis.from_energy_bounds(f"{reco['lo_TeV']} TeV", f"{reco['hi_TeV']} TeV", reco["nbin"])
    geom = WcsGeom.create(
        npix=tuple(case["npix"]),
        binsz=case["binsz_deg"],
        frame=case["frame"],
        proj=case["proj"],
        skydir=tuple(case["skydir_deg"]),
        axes=[axis],
    )
    template = Map.from_geom(geom)

    def counts(block_info=None):
        info = block_info[None]
        seed = [case["seed"], *info["chunk-location"]]
        # Small integer counts: cheap to draw, so the write is timed rather than the generator.
        rng = np.random.default_rng(seed)
        return rng.integers(0, 4, size=info["chunk-shape"], dtype=np.uint8).astype("f4")

    data = da.map_blocks(counts, chunks=template.data.chunks, dtype="f4")
    return template.copy(data=data)


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def step_write(case: dict, path: str, fmt: str) -> dict:
    cube = _cube(case)
    start = time.perf_counter()
    cube.write(path, hdu="COUNTS" if fmt == "fits" else "counts", overwrite=True)
    return {"seconds": time.perf_counter() - start, "bytes": size_on_disk(path)}


def step_generate(case: dict) -> dict:
    """The cube computed without any I/O: the part of a write that is not storage."""
    cube = _cube(case)
    start = time.perf_counter()
    cube.data.sum(dtype="f8").compute()
    return {"seconds": time.perf_counter() - start}


def step_raw_read(path: str) -> dict:
    files = files_of(path)
    start = time.perf_counter()
    total = 0
    buf = bytearray(READ_BLOCK)
    for name in files:
        with open(name, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
    return {"seconds": time.perf_counter() - start, "bytes": total}


def _warm_up(path: str, chunks) -> None:
    """Import everything a read needs (by opening once), then evict the file again, so the
    measured step times storage and decoding, not module imports."""
    from mapds.maps import Map

    Map.read(path, chunks=chunks).data[..., :1, :1].sum().compute()
    drop_cache(path)


def step_open(path: str, chunks) -> dict:
    from mapds.maps import Map

    _warm_up(path, chunks)
    before = _rchar()
    start = time.perf_counter()
    m = Map.read(path, chunks=chunks)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes_read_on_open": _rchar() - before, "chunks": str(m.data.chunksize)}


def step_sum(path: str, chunks) -> dict:
    from mapds.maps import Map

    _warm_up(path, chunks)
    start = time.perf_counter()
    total = float(Map.read(path, chunks=chunks).data.sum(dtype="f8").compute())
    return {"seconds": time.perf_counter() - start, "sum": total}


def step_gammapy_sum(path: str) -> dict:
    import numpy as np
    from gammapy.maps import Map

    start = time.perf_counter()
    total = float(Map.read(path, hdu="COUNTS").data.sum(dtype=np.float64))
    return {"seconds": time.perf_counter() - start, "sum": total}


def step_astropy_sum(path: str) -> dict:
    import numpy as np
    from astropy.io import fits

    start = time.perf_counter()
    with fits.open(path, memmap=True) as hdulist:
        total = float(hdulist["COUNTS"].data.sum(dtype=np.float64))
    return {"seconds": time.perf_counter() - start, "sum": total}


STEPS = {
    "generate": lambda a: step_generate(a["case"]),
    "write": lambda a: step_write(a["case"], a["path"], a["format"]),
    "raw": lambda a: step_raw_read(a["path"]),
    "open": lambda a: step_open(a["path"], a.get("chunks")),
    "sum": lambda a: step_sum(a["path"], a.get("chunks")),
    "gammapy": lambda a: step_gammapy_sum(a["path"]),
    "astropy": lambda a: step_astropy_sum(a["path"]),
}


# -- orchestration -----------------------------------------------------------------------------------


def run_cold_step(name: str, args: dict, cold_path: str | None = None) -> dict:
    """Run one step in a fresh interpreter (see :func:`step_runner.run_step`), the files of
    ``cold_path`` evicted from the page cache first; ``cold`` says whether that worked."""
    cold = drop_cache(cold_path) if cold_path else None
    return {**run_step(__file__, name, args), "cold": cold}


def _gammapy_available() -> bool:
    try:
        import gammapy  # noqa: F401
    except ImportError:
        return False
    return True


def benchmark(case: dict, workdir: Path) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    fits_path = str(workdir / f"bench_{'x'.join(map(str, case['npix']))}.fits")
    zarr_path = str(workdir / f"bench_{'x'.join(map(str, case['npix']))}.zarr")
    rows = []

    data_bytes = 4 * case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"]

    def add(label, name, args, cold_path=None, data_path=None):
        result = run_cold_step(name, args, cold_path)
        if data_path is not None:
            # Raw reads move file bytes; map steps deliver the (uncompressed) float32 values.
            moved = size_on_disk(data_path) if name == "raw" else data_bytes
            result["gb_per_s"] = moved / result["seconds"] / 1e9
        rows.append({"step": label, **result})
        print(f"  {label:<38s} {result['seconds']:8.3f} s", file=sys.stderr)

    add("generate cube (no I/O)", "generate", {"case": case})
    add("write FITS (mapds, streamed)", "write", {"case": case, "path": fits_path, "format": "fits"})
    rows[-1]["gb_per_s"] = data_bytes / rows[-1]["seconds"] / 1e9
    add("write zarr (mapds, streamed)", "write", {"case": case, "path": zarr_path, "format": "zarr"})
    rows[-1]["gb_per_s"] = data_bytes / rows[-1]["seconds"] / 1e9
    for fmt, path in (("FITS", fits_path), ("zarr", zarr_path)):
        add(f"raw read {fmt} (16 MiB blocks)", "raw", {"path": path}, path, path)
        add(f"open {fmt} (mapds)", "open", {"path": path}, path)
        add(f"open+sum {fmt} (mapds, default chunks)", "sum", {"path": path}, path, path)
        add(f"open+sum {fmt} (mapds, chunks='auto')", "sum", {"path": path, "chunks": "auto"}, path, path)
    if _gammapy_available():
        add("Map.read+sum FITS (gammapy)", "gammapy", {"path": fits_path}, fits_path, fits_path)
    add("fits.open(memmap)+sum FITS (astropy)", "astropy", {"path": fits_path}, fits_path, fits_path)
    raw = {row["step"].split()[2]: row["seconds"] for row in rows if row["step"].startswith("raw read")}
    for row in rows:
        fmt = "FITS" if "FITS" in row["step"] else "zarr"
        if "sum" in row["step"]:
            row["vs_raw_read"] = raw[fmt] / row["seconds"]
    return {
        "case": case["label"],
        "npix": case["npix"],
        "nbin": case["energy_reco"]["nbin"],
        "voxels": case["npix"][0] * case["npix"][1] * case["energy_reco"]["nbin"],
        "fits_bytes": size_on_disk(fits_path),
        "zarr_bytes": size_on_disk(zarr_path),
        "cpus": os.cpu_count(),
        "cold_cache": all(row["cold"] for row in rows if row["cold"] is not None),
        "rows": rows,
    }


def print_table(report: dict) -> None:
    cold = "yes (posix_fadvise DONTNEED on our files)" if report["cold_cache"] else "NO: warm page cache"
    print(
        f"\nCase {report['case']}: {report['npix'][0]} x {report['npix'][1]} x {report['nbin']} float32 "
        f"({report['voxels'] / 1e6:.1f} M voxels), FITS {report['fits_bytes'] / 2**20:.1f} MiB, "
        f"zarr {report['zarr_bytes'] / 2**20:.1f} MiB, {report['cpus']} CPUs, cold reads: {cold}"
    )
    columns = (
        f"{'step':<40s}",
        f"{'time s':>8s}",
        f"{'GB/s':>6s}",
        f"{'vs raw':>6s}",
        f"{'open bytes':>10s}",
    )
    header = "| " + " | ".join((*columns, "peak RSS MiB")) + " |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for row in report["rows"]:
        gbs = f"{row['gb_per_s']:.2f}" if "gb_per_s" in row else ""
        ratio = f"{row['vs_raw_read']:.2f}" if "vs_raw_read" in row else ""
        opened = str(row["bytes_read_on_open"]) if "bytes_read_on_open" in row else ""
        print(
            f"| {row['step']:<40s} | {row['seconds']:8.3f} | {gbs:>6s} | {ratio:>6s} | {opened:>10s} "
            f"| {row['peak_rss_mib']:12.0f} |"
        )
    sums = {row["step"]: row["sum"] for row in report["rows"] if "sum" in row}
    if len(set(sums.values())) > 1:
        print(f"WARNING: sums differ: {sums}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="w5_h2_b0.02_e10_t15_kernel", help="label or WIDTHxHEIGHT")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--dir", type=Path, default=Path("bench-io-work"), help="work directory")
    parser.add_argument("--out", type=Path, help="JSON report path")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--step-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        serve_step(STEPS, args.step, args.step_args)
        return
    case = load_case(args.case, n_models=5, cases_file=args.cases_file)
    report = benchmark(case, args.dir)
    print_table(report)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    if not args.keep:
        import shutil

        for path in args.dir.glob("bench_*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


if __name__ == "__main__":
    main()
