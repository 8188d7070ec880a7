"""Object-storage benchmark: requests, bytes and seconds of the survey dataset read from S3 with latency.

The survey dataset of one size (``--width`` x ``--height`` degrees at ``--binsz``: the case of
``cases/survey-benchmark-cases.json`` of that size, else one made by
:func:`mapds.simulate.make_survey_case`) is written by mapds to FITS and to zarr in the work
directory.  Then, for each format and each ``--latency`` (ms), a fresh Python process

- runs moto's S3 server on 127.0.0.1 (:func:`mapds.testing.moto_s3_server`, which records every
  request it answers and the body bytes it sends) and, in front of it, the proxy of
  :func:`mapds.testing.fault_proxy`, which holds *every* request for the latency before
  forwarding it (``delay:S`` as a persistent fault, ``ranged_only=False``): the round trip of a
  distant object store, without its bandwidth limit;
- uploads two copies of the file (``s3fs`` ``put``, not timed); opens the counts of the first
  once without latency and reads a pixel (imports and the first set-up of the reading code), so
  that the steps below read an object nothing in the process has read before;
- then, with the latency on, measures one after the other on the second copy:

  - ``open``: ``MapDataset.read(s3 url)``: headers and small tables, every map lazy;
  - ``cutout``: the counts of a ``--cutout-deg`` square at the map centre (``Map.cutout``, trimmed
    to the map), computed; *bytes needed* are its pixels at the stored item size;
  - ``stat_sum cold``: the case's models assigned to that dataset (built beforehand: no I/O) and
    ``stat_sum()``: every map read through the object store;
  - ``stat_sum after an amplitude change`` and ``after a position change`` of ``src000``: the
    statistic again in that process (what a fit's next evaluation reads).

Each step reports the requests the server received (GET of objects, HEAD, LIST, PUT, other),
the bytes it sent (object bodies and listings) and the wall time.  The server and the proxy run in
threads of the measured process (so its ``ByteCounter`` can be read between steps): moto's own time
per request (10-20 ms on a loaded 2-core machine; ``--latency 0`` shows it) adds to the latency in
the seconds, not in the counts, which depend on mapds and its storage clients only.  zarr chunks
are compressed (≈30× for the synthetic survey), so a zarr cutout can fetch fewer bytes than it
needs.  moto holds the uploaded objects in memory: keep to small and medium sizes.

Usage::

    python benchmarks/bench_cloud.py                                  # 5° x 2°, 20 ms
    python benchmarks/bench_cloud.py --width 20 --height 5 --latency 0 20 100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dataset import change_amplitude, change_position
from record import Report, add_common_arguments, default_workdir
from step_runner import StepRunner, parse_or_serve, size_on_disk, timed
from survey_case import CASES_FILE, case_info, with_sources

if TYPE_CHECKING:
    from mapds.testing import ByteCounter

FORMATS = ("fits", "zarr")
SUFFIXES = {"fits": ".fits", "zarr": ".zarr"}
COUNTS_HDU = {"fits": "COUNTS", "zarr": "counts"}
#: Request kinds, in the order of the tables.
KINDS = ("GET", "HEAD", "LIST", "PUT", "other")
#: The measured steps of one process, in order: (key, step label, what mapds does).
CLOUD_STEPS = (
    ("open", "open", "MapDataset.read(s3 url): headers and small tables, maps lazy"),
    ("cutout", "cutout", "counts.cutout(map centre, {cutout_deg:g}° square, trimmed to the map), computed"),
    ("cold", "stat_sum cold", "the case's models (built beforehand) assigned to the opened dataset, "
     "stat_sum(): every map read"),
    ("amplitude", "stat_sum after an amplitude change", "src000 amplitude x1.5, stat_sum() again"),
    ("position", "stat_sum after a position change", "src000 moved 0.2° in l, stat_sum() again"),
)


# -- what the server saw -------------------------------------------------------------------------------


def request_kind(method: str, path: str) -> str:
    """GET (of an object), HEAD, LIST, PUT or other, from a request's method and URL path.

    A LIST is a GET of the bucket itself (``/bucket?list-type=2&prefix=...``): with path-style
    addressing the key is empty.
    """
    if method == "GET":
        key = path.split("?", 1)[0].strip("/").partition("/")[2]
        return "GET" if key else "LIST"
    return method if method in KINDS else "other"


def request_counts(counter: ByteCounter) -> dict:
    """Requests by kind and body bytes a :class:`mapds.testing.ByteCounter` recorded."""
    kinds = Counter(request_kind(method, path) for method, path, _ in counter.requests)
    ranged = sum(1 for method, path, rng in counter.requests
                 if rng is not None and request_kind(method, path) == "GET")
    return {
        "requests": len(counter.requests),
        **{kind.lower(): kinds[kind] for kind in KINDS},
        "ranged_gets": ranged,
        "bytes_fetched": counter.bytes_read,
    }


# -- the files, and the measured step (a fresh process per format and latency) -------------------------


def step_write(args: dict) -> dict:
    """The survey (counts faked) written to each of ``args["paths"]`` (format from the suffix)."""
    from mapds.simulate import survey_dataset

    written = {}
    for fmt, path in args["paths"].items():
        seconds, _ = timed(survey_dataset(args["case"]).write, path, overwrite=True)
        written[fmt] = {"seconds": seconds, "file_bytes": size_on_disk(path)}
    return {"seconds": sum(w["seconds"] for w in written.values()), "formats": written}


def _upload(fs: Any, path: str, url: str) -> None:
    """Copy a local file or zarr directory to ``url`` (bucket/key, no scheme)."""
    if os.path.isdir(path):
        fs.put(path.rstrip("/") + "/", url, recursive=True)
    else:
        fs.put(path, url)


def step_cloud(args: dict) -> dict:
    """Open, cutout and stat_sum of the file ``args["path"]`` through S3 with a latency."""
    import logging

    import astropy.units as u
    import numpy as np
    from astropy.coordinates import SkyCoord

    from mapds.datasets import MapDataset
    from mapds.maps import Map
    from mapds.simulate import survey_models
    from mapds.testing import fault_proxy, moto_s3_server

    # moto's server (werkzeug) logs every request on stderr otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    case, path, latency_ms = args["case"], args["path"], args["latency_ms"]
    name = Path(path).name
    results = {}
    with (
        moto_s3_server() as s3,
        s3.bucket() as bucket,
        fault_proxy(s3.endpoint_url, ranged_only=False) as proxy,
    ):
        fs = s3.filesystem()
        warm_up_url, url = f"{bucket}/warm-up/{name}", f"{bucket}/data/{name}"
        for target in (warm_up_url, url):
            _upload(fs, path, target[len("s3://"):])
        options = {**s3.storage_options, "client_kwargs": {"endpoint_url": proxy.url}}

        # Imports and first set-up of the reading code, on another object than the one measured
        # (its counts only: a whole zarr dataset takes hundreds of requests to open).
        warm = Map.read(warm_up_url, hdu=COUNTS_HDU[args["format"]], storage_options=options)
        warm.data[..., :1, :1].compute()
        centre = SkyCoord(*case["skydir_deg"], unit="deg", frame=case["frame"])
        width = args["cutout_deg"] * u.deg

        def measure(key: str, function: Callable[[], Any]) -> Any:
            s3.counter.reset()
            start = time.perf_counter()
            value = function()
            results[key] = {"seconds": time.perf_counter() - start, **request_counts(s3.counter)}
            return value

        if latency_ms > 0:
            proxy.always(f"delay:{latency_ms / 1000}")
        dataset = measure("open", lambda: MapDataset.read(url, storage_options=options))
        pixels = measure("cutout", lambda: np.asarray(dataset.counts.cutout(centre, width).data.compute()))
        results["cutout"].update({
            "value": float(pixels.sum(dtype="f8")),
            "cutout_shape": " × ".join(map(str, pixels.shape)),
            # Its pixels at the item size they are stored with (zarr: before compression).
            "bytes_needed": pixels.size * np.dtype(dataset.counts.data.dtype).itemsize,
        })
        # Building the models reads nothing (their FoV background names the dataset): not timed.
        models = survey_models(case, dataset_name=dataset.name)

        def cold() -> float:
            dataset.models = models
            return float(dataset.stat_sum())

        results["cold"]["value"] = measure("cold", cold)  # the right side runs first
        for key, change in (("amplitude", change_amplitude), ("position", change_position)):
            change(dataset.models)
            results[key]["value"] = measure(key, lambda: float(dataset.stat_sum()))
        proxy.always(None)
    return {"seconds": sum(results[key]["seconds"] for key, _, _ in CLOUD_STEPS), "steps": results}


STEPS = {"cloud": step_cloud}
STEP_NAMES = {key: step for key, step, _ in CLOUD_STEPS}


# -- orchestration -----------------------------------------------------------------------------------


def survey_case(width: float, height: float, binsz: float, n_models: int = 5,
                cases_file: Path = CASES_FILE) -> dict:
    """The case of ``cases_file`` of this size, else one made by ``make_survey_case``.

    Parameters
    ----------
    width, height, binsz : float
        Survey size and pixel size, degrees.
    n_models : int
        Number of sources (5 or 50 in the cases file).
    cases_file : Path
        The survey cases.

    Returns
    -------
    dict
        The case; a made one is labelled ``w<width>_h<height>_b<binsz>_made`` (its sources are
        drawn by ``make_survey_case``, not those of the file).
    """
    for case in json.loads(Path(cases_file).read_text()):
        size = (case["width_deg"], case["height_deg"], case["binsz_deg"], case["n_models"])
        if size == (width, height, binsz, n_models):
            return case
    from mapds.simulate import make_survey_case

    case = make_survey_case(width, height, binsz, n_models=n_models)
    return {**case, "label": f"w{width:g}_h{height:g}_b{binsz:g}_made"}


def step_label(step: str, fmt: str, latency_ms: float) -> str:
    return f"{step} ({fmt}, {latency_ms:g} ms)"


def benchmark(case: dict, workdir: Path, argv: list[str], *, formats: list[str], latencies: list[float],
              cutout_deg: float, fresh: bool) -> Report:
    """Write the case's files, then measure every format at every latency; the report."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {fmt: str(workdir / f"{case['label']}{SUFFIXES[fmt]}") for fmt in formats}
    report = Report(__file__, case["label"], case_info(case), argv, fresh_processes=fresh)
    runner = StepRunner(__file__, STEPS, fresh=fresh)

    # The files are set-up, not measured: written in this process (a fresh one would cost seconds
    # of imports for nothing), hence no peak RSS of their own.
    try:
        written = step_write({"case": case, "paths": paths})
    except Exception as exc:
        written = {"error": f"{type(exc).__name__}: {exc}"}
    for fmt in paths:
        result = written["formats"][fmt] if "formats" in written else written
        entry = report.step("mapds", f"write {fmt} (local)", "survey_dataset(case) with counts faked, "
                            "written to a local file (the copy uploaded)", result, format=fmt)
        shown = "failed" if entry["seconds"] is None else f"{entry['seconds']:.3f} s"
        print(f"  write {fmt:<5s} {shown}", file=sys.stderr)
    for fmt, path in paths.items():
        for latency in latencies:
            args = {"case": case, "path": path, "format": fmt, "latency_ms": latency}
            try:
                result = runner.run("cloud", {**args, "cutout_deg": cutout_deg})
            except Exception as exc:  # a failed process is reported, the others still run
                result = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"  {fmt}, {latency:g} ms: failed: {result['error']}", file=sys.stderr)
            first = None
            for key, step, what in CLOUD_STEPS:
                label, what = step_label(step, fmt, latency), what.format(cutout_deg=cutout_deg)
                fields = {"format": fmt, "latency_ms": latency, "kind": key}
                if "error" in result:
                    report.step("mapds", label, what, result, **fields)
                    continue
                measured = result["steps"][key]
                if first is None:  # one process for all steps: its peak RSS is given once
                    first = report.step("mapds", label, what, measured, **fields,
                                        peak_rss_mib=result.get("peak_rss_mib"))
                else:
                    report.step("mapds", label, what, measured, **fields, same_process_as=first["id"])
                print(f"  {label:<48s} {measured['seconds']:8.3f} s {measured['requests']:5d} requests "
                      f"{measured['bytes_fetched']:>12,} B", file=sys.stderr)
    # Both formats hold the same counts: their cutouts and statistics must agree.
    for latency in latencies:
        for _, step, _ in CLOUD_STEPS:
            found = {fmt: (report.get("mapds", step_label(step, fmt, latency)) or {}).get("value")
                     for fmt in formats}
            values = [v for v in found.values() if v is not None]
            if len(values) > 1 and max(values) - min(values) > 1e-9 * max(abs(v) for v in values):
                report.note(f"WARNING: {step} at {latency:g} ms differs between formats: {found}")
    report.data["extra"].update({
        "formats": list(formats),
        "latencies_ms": list(latencies),
        "cutout_deg": cutout_deg,
        "file_bytes": {fmt: size_on_disk(path) for fmt, path in paths.items() if os.path.exists(path)},
    })
    report.finish(cold_cache=None)  # objects are read from the server's memory, never from disk
    return report


def remove_files(workdir: Path, case: dict) -> None:
    for suffix in SUFFIXES.values():
        path = workdir / f"{case['label']}{suffix}"
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# -- table ---------------------------------------------------------------------------------------


def print_table(data: dict) -> None:
    """Requests, bytes and seconds of every measured step."""
    info = data["case_info"]
    extra = data["extra"]
    files = ", ".join(f"{fmt} {n:,} B" for fmt, n in extra["file_bytes"].items())
    print(f"\nCase {data['case']}: {info['npix'][0]} x {info['npix'][1]} px x {info['nbin_reco']} reco bins "
          f"({info['voxels'] / 1e6:.2f} M reco voxels), {info['n_models']} sources; {files}; "
          f"cutout {extra['cutout_deg']:g}° square")
    print("| format | latency ms | step | requests | GET | HEAD | LIST | PUT | other | bytes fetched "
          "| bytes needed | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in data["steps"]:
        if "latency_ms" not in s:
            continue
        if s["seconds"] is None:
            print(f"| {s['format']} | {s['latency_ms']:g} | {s['step']} | failed: {s['error']} |")
            continue
        counts = " | ".join(str(s[kind.lower()]) for kind in KINDS)
        needed = "" if s.get("bytes_needed") is None else f"{s['bytes_needed']:,}"
        print(f"| {s['format']} | {s['latency_ms']:g} | {STEP_NAMES[s['kind']]} "
              f"| {s['requests']} | {counts} | {s['bytes_fetched']:,} | {needed} | {s['seconds']:.3f} |")
    for note in data["notes"]:
        print(note)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=5.0, help="survey width, degrees (default 5)")
    parser.add_argument("--height", type=float, default=2.0, help="survey height, degrees (default 2)")
    parser.add_argument("--binsz", type=float, default=0.02, help="pixel size, degrees (default 0.02)")
    parser.add_argument("--latency", type=float, nargs="+", default=[20.0],
                        help="latency added to every request, ms; several values allowed (default 20)")
    parser.add_argument("--cutout-deg", type=float, default=2.0,
                        help="side of the cutout square, degrees (default 2)")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS),
                        help="file formats (default: fits zarr)")
    parser.add_argument("--n-models", type=int, default=5, help="sources (5 or 50, from the JSON)")
    parser.add_argument("--sources", type=int, help="keep only the first N sources (smoke tests)")
    parser.add_argument("--cases-file", type=Path, default=CASES_FILE)
    parser.add_argument("--dir", type=Path, default=default_workdir(__file__), help="work directory")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    add_common_arguments(parser)
    args = parse_or_serve(parser, argv, STEPS)
    if args is None:
        return
    case = survey_case(args.width, args.height, args.binsz, args.n_models, args.cases_file)
    case = with_sources(case, args.sources)
    print(f"{case['label']}: latencies {', '.join(f'{v:g}' for v in args.latency)} ms", file=sys.stderr)
    report = benchmark(case, args.dir, sys.argv[1:] if argv is None else argv, formats=args.formats,
                       latencies=args.latency, cutout_deg=args.cutout_deg, fresh=not args.in_process)
    if not args.keep:
        remove_files(args.dir, case)
    print_table(report.data)
    print(f"\nwritten: {report.write(args.results_dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
