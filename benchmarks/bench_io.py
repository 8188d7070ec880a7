"""I/O benchmark: write and read a survey-sized cube as FITS and zarr, beside astropy and gammapy.

For one case of ``cases/survey-benchmark-cases.json`` (picked by label or ``WIDTHxHEIGHT`` in
pixels) a float32 counts-like cube (reco-energy bins x height x width) is generated chunk by chunk
and written by mapds to FITS and to zarr.  Then every measured step runs in a fresh Python process
(so imports, caches and peak memory do not leak between steps), the files' pages evicted from the
page cache first, and reports its wall time, the bytes it read and its peak RSS:

- ``generate``: computing the synthetic cube without any I/O (the non-storage part of a write);
- ``write``: mapds streaming the cube to FITS and to zarr;
- ``raw read``: sequential 16 MiB reads of the file(s), the disk-speed reference;
- ``open``: opening the map without reading pixels: mapds ``Map.read``; astropy
  ``fits.open(path, use_fsspec=True, lazy_load_hdus=True)`` and the ``COUNTS`` HDU's header and
  ``.section`` (the library alternative to mapds' ranged FITS reader).  Bytes read, no ratio;
- ``sum``: opening and summing the whole cube (float64): mapds with the default chunks (the
  storage layout: whole-row slabs for FITS, the zarr chunks) and with dask's square ``"auto"``
  tiles; astropy through fsspec, ``hdu.section[i]`` plane by plane; astropy
  ``fits.open(memmap=True)``; gammapy ``Map.read(...).data.sum()``;
- ``cutout``: opening and summing a ``--cutout`` x ``--cutout`` pixel box at the map centre over
  all energy bins: mapds ``Map.read(...).data[:, y0:y1, x0:x1]``, astropy
  ``hdu.section[:, y0:y1, x0:x1]`` through fsspec, gammapy ``Map.read`` then slicing (it loads the
  whole map).

Ratios (other library / mapds) are given only between entries of the same step (same file, same
result).  Throughputs (GB/s) count the float32 values delivered or written, except for raw reads,
which count file bytes (zarr chunks are compressed); "vs raw" is the raw read time of the same
file divided by the step's time.  Reads are cold when the page cache can be dropped for the files
involved (``posix_fadvise(DONTNEED)`` after ``fsync``: only our files are evicted, other
processes' caches are untouched); the results say whether it worked.  Before each timed read the
step opens the file once (imports, lazily loaded modules) and evicts it again.

Usage::

    python benchmarks/bench_io.py --case w5_h2_b0.02_e10_t15_kernel
    python benchmarks/bench_io.py --case 8000x500 --no-gammapy
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import Report, add_common_arguments, default_workdir
from step_runner import StepRunner, drop_cache, files_of, parse_or_serve, size_on_disk, timed_io
from survey_case import CASES_FILE, case_info, load_case

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


def step_write(args: dict) -> dict:
    cube = _cube(args["case"])
    fmt, path = args["format"], args["path"]
    start = time.perf_counter()
    cube.write(path, hdu="COUNTS" if fmt == "fits" else "counts", overwrite=True)
    return {"seconds": time.perf_counter() - start, "file_bytes": size_on_disk(path)}


def step_generate(args: dict) -> dict:
    """The cube computed without any I/O: the part of a write that is not storage."""
    cube = _cube(args["case"])
    start = time.perf_counter()
    cube.data.sum(dtype="f8").compute()
    return {"seconds": time.perf_counter() - start}


def step_raw_read(args: dict) -> dict:
    def read_all():
        buf = bytearray(READ_BLOCK)
        for name in files_of(args["path"]):
            with open(name, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass

    measured, _ = timed_io(read_all)
    return measured


def _box(args: dict) -> tuple[slice, slice]:
    """The cutout's (y, x) slices: ``args["cutout"]`` pixels square at the map centre."""
    width, height = args["npix"]
    size_x, size_y = min(args["cutout"], width), min(args["cutout"], height)
    x0, y0 = (width - size_x) // 2, (height - size_y) // 2
    return slice(y0, y0 + size_y), slice(x0, x0 + size_x)


# mapds: its own readers (ranged preads of the FITS data, zarr chunks)


def _mapds_open(args: dict):
    from mapds.maps import Map

    return Map.read(args["path"], chunks=args.get("chunks"))


def _mapds_warm_up(args: dict) -> None:
    """Import everything a read needs (by opening once), then evict the file again, so the
    measured step times storage and decoding, not module imports."""
    _mapds_open(args).data[..., :1, :1].sum().compute()
    drop_cache(args["path"])


def mapds_open(args: dict) -> dict:
    _mapds_warm_up(args)
    measured, m = timed_io(_mapds_open, args)
    return {**measured, "chunks": str(m.data.chunksize)}


def mapds_sum(args: dict) -> dict:
    _mapds_warm_up(args)
    measured, total = timed_io(lambda: float(_mapds_open(args).data.sum(dtype="f8").compute()))
    return {**measured, "sum": total}


def mapds_cutout(args: dict) -> dict:
    _mapds_warm_up(args)
    y, x = _box(args)
    measured, total = timed_io(lambda: float(_mapds_open(args).data[:, y, x].sum(dtype="f8").compute()))
    return {**measured, "sum": total}


# astropy through fsspec: fits.open(use_fsspec=True, lazy_load_hdus=True) and hdu.section


def _astropy_open(path: str):
    from astropy.io import fits

    hdulist = fits.open(path, use_fsspec=True, lazy_load_hdus=True)
    hdu = hdulist["COUNTS"]
    return hdulist, hdu, hdu.section


def _astropy_warm_up(path: str) -> None:
    hdulist, _, section = _astropy_open(path)
    section[0, :1, :1]
    hdulist.close()
    drop_cache(path)


def astropy_open(args: dict) -> dict:
    _astropy_warm_up(args["path"])
    measured, (hdulist, hdu, _) = timed_io(_astropy_open, args["path"])
    shape = [hdu.header[f"NAXIS{i}"] for i in range(hdu.header["NAXIS"], 0, -1)]
    hdulist.close()
    return {**measured, "shape": shape}


def astropy_sum(args: dict) -> dict:
    import numpy as np

    _astropy_warm_up(args["path"])

    def total() -> float:
        hdulist, hdu, section = _astropy_open(args["path"])
        with hdulist:
            # Plane by plane: one energy bin in memory at a time.
            return float(sum(section[i].sum(dtype=np.float64) for i in range(hdu.header["NAXIS3"])))

    measured, value = timed_io(total)
    return {**measured, "sum": value}


def astropy_cutout(args: dict) -> dict:
    import numpy as np

    _astropy_warm_up(args["path"])
    y, x = _box(args)

    def total() -> float:
        hdulist, _, section = _astropy_open(args["path"])
        with hdulist:
            return float(section[:, y, x].sum(dtype=np.float64))

    measured, value = timed_io(total)
    return {**measured, "sum": value}


# astropy memory-mapped, and gammapy (which loads the whole map)


def astropy_memmap_sum(args: dict) -> dict:
    import numpy as np
    from astropy.io import fits

    with fits.open(args["path"], memmap=True) as hdulist:
        _ = hdulist["COUNTS"].header
    drop_cache(args["path"])

    def total() -> float:
        with fits.open(args["path"], memmap=True) as hdulist:
            return float(hdulist["COUNTS"].data.sum(dtype=np.float64))

    measured, value = timed_io(total)
    return {**measured, "sum": value}


def _gammapy_warm_up(path: str) -> None:
    from gammapy.maps import Map

    Map.read(path, hdu="COUNTS")
    drop_cache(path)


def gammapy_sum(args: dict) -> dict:
    import numpy as np
    from gammapy.maps import Map

    _gammapy_warm_up(args["path"])
    measured, value = timed_io(lambda: float(Map.read(args["path"], hdu="COUNTS").data.sum(dtype=np.float64)))
    return {**measured, "sum": value}


def gammapy_cutout(args: dict) -> dict:
    import numpy as np
    from gammapy.maps import Map

    _gammapy_warm_up(args["path"])
    y, x = _box(args)
    measured, value = timed_io(
        lambda: float(Map.read(args["path"], hdu="COUNTS").data[:, y, x].sum(dtype=np.float64))
    )
    return {**measured, "sum": value}


STEPS = {
    "generate": step_generate,
    "write": step_write,
    "raw": step_raw_read,
    "mapds_open": mapds_open,
    "mapds_sum": mapds_sum,
    "mapds_cutout": mapds_cutout,
    "astropy_open": astropy_open,
    "astropy_sum": astropy_sum,
    "astropy_cutout": astropy_cutout,
    "astropy_memmap_sum": astropy_memmap_sum,
    "gammapy_sum": gammapy_sum,
    "gammapy_cutout": gammapy_cutout,
}

#: What each library does in each kind of step (the "what" of the results).
WHAT = {
    ("mapds", "generate"): "compute the synthetic cube chunk by chunk, no I/O",
    ("mapds", "write"): "generate and stream the cube to the file",
    ("raw", "read"): "sequential 16 MiB reads of the file(s): disk reference",
    ("mapds", "open"): "Map.read: headers only",
    ("astropy", "open"): "fits.open(use_fsspec=True, lazy_load_hdus=True), COUNTS header, .section",
    ("mapds", "sum"): "Map.read + float64 sum, default chunks (storage layout)",
    ("mapds", "sum auto"): "Map.read(chunks='auto') + float64 sum (square tiles)",
    ("astropy", "sum"): "fits.open(use_fsspec=True, lazy_load_hdus=True), section[i] per energy plane",
    ("astropy-memmap", "sum"): "fits.open(memmap=True), data.sum",
    ("gammapy", "sum"): "Map.read (loads the map) + data.sum",
    ("mapds", "cutout"): "Map.read + data[:, y, x].sum: reads the rows or chunks of the box",
    ("astropy", "cutout"): "fits.open(use_fsspec=True, lazy_load_hdus=True), section[:, y, x].sum",
    ("gammapy", "cutout"): "Map.read (loads the whole map) + data[:, y, x].sum",
}


# -- orchestration -----------------------------------------------------------------------------------


def _gammapy_available() -> bool:
    try:
        import gammapy  # noqa: F401
    except ImportError:
        return False
    return True


def benchmark(case: dict, workdir: Path, argv, *, cutout: int, with_gammapy: bool, fresh: bool) -> Report:
    workdir.mkdir(parents=True, exist_ok=True)
    size = "x".join(map(str, case["npix"]))
    paths = {"FITS": str(workdir / f"bench_{size}.fits"), "zarr": str(workdir / f"bench_{size}.zarr")}
    info = case_info(case)
    report = Report(__file__, case["label"], info, argv, fresh_processes=fresh)
    runner = StepRunner(__file__, STEPS, fresh=fresh)
    data_bytes = 4 * info["voxels"]
    y, x = _box({"npix": case["npix"], "cutout": cutout})
    cutout_bytes = 4 * info["nbin_reco"] * (y.stop - y.start) * (x.stop - x.start)
    report.data["extra"].update({
        "data_bytes": data_bytes,
        "cutout_px": [x.stop - x.start, y.stop - y.start],
        "cutout_bytes": cutout_bytes,
    })
    cold = True

    def add(library, kind, step, name, args, path=None, moved=None):
        nonlocal cold
        if path is not None:
            cold &= drop_cache(path)
        try:
            result = runner.run(name, args)
        except Exception as exc:  # a failed step is reported, the others still run
            result = {"error": f"{type(exc).__name__}: {exc}"}
        entry = report.step(library, step, WHAT[(library, kind)], result)
        if moved is not None and entry["seconds"]:
            entry["gb_per_s"] = moved / entry["seconds"] / 1e9
        shown = "failed" if entry["seconds"] is None else f"{entry['seconds']:8.3f} s"
        print(f"  {library:<15s} {step:<24s} {shown}", file=sys.stderr)
        return entry

    add("mapds", "generate", "generate cube (no I/O)", "generate", {"case": case}, moved=data_bytes)
    for fmt, path in paths.items():
        add("mapds", "write", f"write {fmt}", "write",
            {"case": case, "path": path, "format": fmt.lower()}, moved=data_bytes)
    box = {"npix": case["npix"], "cutout": cutout}
    for fmt, path in paths.items():
        raw = add("raw", "read", f"read {fmt}", "raw", {"path": path}, path, moved=size_on_disk(path))
        add("mapds", "open", f"open {fmt}", "mapds_open", {"path": path}, path)
        if fmt == "FITS":
            add("astropy", "open", f"open {fmt}", "astropy_open", {"path": path}, path)
        sums = [("mapds", "sum", "mapds_sum", {"path": path}), ("mapds", "sum auto", "mapds_sum",
                                                                {"path": path, "chunks": "auto"})]
        if fmt == "FITS":
            sums += [("astropy", "sum", "astropy_sum", {"path": path}),
                     ("astropy-memmap", "sum", "astropy_memmap_sum", {"path": path})]
            if with_gammapy:
                sums.append(("gammapy", "sum", "gammapy_sum", {"path": path}))
        for library, kind, name, args in sums:
            step = f"sum {fmt}" + (", chunks='auto'" if kind == "sum auto" else "")
            entry = add(library, kind, step, name, args, path, moved=data_bytes)
            if entry["seconds"] and raw["seconds"]:
                entry["vs_raw_read"] = raw["seconds"] / entry["seconds"]
        cutouts = [("mapds", "mapds_cutout")]
        if fmt == "FITS":
            cutouts.append(("astropy", "astropy_cutout"))
            if with_gammapy:
                cutouts.append(("gammapy", "gammapy_cutout"))
        for library, name in cutouts:
            args = {"path": path, **box}
            entry = add(library, "cutout", f"cutout {fmt}", name, args, path, moved=cutout_bytes)
            if entry.get("disk_bytes_read") is not None:
                # Storage bytes: they include memory-mapped reads (astropy) and readahead.
                entry["disk_over_needed"] = entry["disk_bytes_read"] / cutout_bytes
        for step in (f"sum {fmt}", f"cutout {fmt}"):
            for other in ("astropy", "astropy-memmap", "gammapy"):
                report.compare(step, numerator=other, denominator="mapds")
    report.data["extra"]["file_bytes"] = {fmt: size_on_disk(path) for fmt, path in paths.items()}
    # Every reader must find the same sum (of the whole cube, and of the cutout).
    for kind in ("sum", "cutout"):
        found = {s["id"]: s["sum"] for s in report.steps if "sum" in s and s["step"].startswith(kind)}
        if len(set(found.values())) > 1:
            report.note(f"WARNING: the readers' {kind}s differ: {found}")
    report.finish(cold_cache=cold)
    return report


def print_table(data: dict) -> None:
    info, cold = data["case_info"], data["conditions"]["cold_cache"]
    files = data["extra"]["file_bytes"]
    print(
        f"\nCase {data['case']}: {info['npix'][0]} x {info['npix'][1]} x {info['nbin_reco']} float32 "
        f"({info['voxels'] / 1e6:.1f} M voxels), FITS {files['FITS'] / 2**20:.1f} MiB, "
        f"zarr {files['zarr'] / 2**20:.1f} MiB; cold reads: {'yes' if cold else 'NO (warm page cache)'}"
    )
    ratios = {c["numerator"]: c["ratio"] for c in data["comparisons"]}
    print("| library | step | s | GB/s | vs raw | read() bytes | disk bytes | peak MiB | library / mapds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in data["steps"]:
        def cell(key, fmt, s=s):
            return "" if s.get(key) is None else format(s[key], fmt)

        ratio = f"{ratios[s['id']]:.2f}" if s["id"] in ratios else ""
        seconds = "failed" if s["seconds"] is None else f"{s['seconds']:.3f}"
        print(f"| {s['library']} | {s['step']} | {seconds} | {cell('gb_per_s', '.2f')} | "
              f"{cell('vs_raw_read', '.2f')} | {cell('bytes_read', ',')} | {cell('disk_bytes_read', ',')} | "
              f"{cell('peak_rss_mib', '.0f')} | "
              f"{ratio} |")
    for note in data["notes"]:
        print(note)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="w160_h10_b0.02_e10_t15_kernel", help="label or WIDTHxHEIGHT")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--cutout", type=int, default=200, help="cutout box side in pixels (default 200)")
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    parser.add_argument("--no-gammapy", action="store_true", help="skip gammapy's steps")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    case = load_case(args.case, n_models=5, cases_file=args.cases_file)
    with_gammapy = not args.no_gammapy and _gammapy_available()
    report = benchmark(case, args.dir, sys.argv[1:] if argv is None else argv, cutout=args.cutout,
                       with_gammapy=with_gammapy, fresh=not args.in_process)
    print_table(report.data)
    print(f"\nwritten: {report.write(args.results_dir)}", file=sys.stderr)
    if not args.keep:
        for path in args.dir.glob("bench_*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


if __name__ == "__main__":
    main()
