"""The ``mapds`` command.

``mapds demo`` runs the main job on a built-in example: it simulates a small survey cube, writes it to
FITS and zarr, reopens it lazily, computes npred and the likelihood, and writes results and a
picture, printing what each step read and how long it took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["main"]


def _process_bytes_read() -> int | None:
    """Bytes this process has read through system calls (Linux ``/proc/self/io``), if known."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def _step(title: str):
    """Print a step's title, then its duration and the bytes the process read meanwhile."""
    print(f"- {title} ...", end="", flush=True)
    before, start = _process_bytes_read(), time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    after = _process_bytes_read()
    read = f", read {_size(after - before)}" if before is not None and after is not None else ""
    print(f" {seconds:.2f} s{read}")


def _size(n_bytes: float) -> str:
    if n_bytes < 1000:
        return f"{n_bytes:.0f} B"
    for unit in ("kB", "MB", "GB"):
        n_bytes /= 1000
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.1f} {unit}"


def _jsonable(value):
    if hasattr(value, "unit"):
        return {"value": float(value.value), "unit": value.unit.to_string()}
    if hasattr(value, "item"):
        return value.item()
    return value


def _picture(dataset, plt):
    """Counts and npred images (summed over energy, smoothed 0.1°) and the spectral residuals."""
    wcs = dataset.counts.geom.wcs
    figure = plt.figure(figsize=(15, 3.6))
    images = {
        "counts": dataset.counts.sum_over_axes(keepdims=False),
        "npred": dataset.npred().sum_over_axes(keepdims=False),
    }
    vmax = None
    for idx, (title, image) in enumerate(images.items()):
        ax = figure.add_subplot(1, 3, idx + 1, projection=wcs)
        smoothed = image.smooth("0.1 deg").compute().data
        vmax = vmax or float(smoothed.max())
        ax.imshow(smoothed, origin="lower", cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{title} (summed over energy, smoothed 0.1°)")
        ax.coords[0].set_axislabel("l")
        ax.coords[1].set_axislabel("b")
    dataset.plot_residuals_spectral(ax=figure.add_subplot(1, 3, 3))
    figure.tight_layout()
    return figure


def run_demo(out: Path, width: float, height: float, binsz: float, n_sources: int, seed: int) -> dict:
    """Simulate a survey, store it, reopen it lazily, evaluate it; return the summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .datasets import MapDataset
    from .simulate import make_survey_case, survey_dataset, survey_models

    out.mkdir(parents=True, exist_ok=True)
    case = make_survey_case(width, height, binsz, n_models=n_sources, seed=seed)
    nx, ny = case["npix"]
    print(
        f"mapds demo: a {width:g}° × {height:g}° survey at {binsz:g}° ({nx} × {ny} pixels, 10 energy bins, "
        f"{n_sources} sources), results in {out}/"
    )
    with _step("build the dataset (a lazy graph: nothing computed)"):
        dataset = survey_dataset(case, name="survey")
    fits_path, zarr_path = out / "survey.fits", out / "survey.zarr"
    with _step(f"simulate counts and stream the dataset to {fits_path.name}"):
        dataset.write(fits_path, overwrite=True)
    with _step(f"copy it to {zarr_path.name}"):
        MapDataset.read(fits_path).write(zarr_path, overwrite=True)
    with _step("reopen the FITS file lazily (headers and small tables only)"):
        reopened = MapDataset.read(fits_path, name="survey")
    counts = reopened.counts.dask_data
    print(f"  counts: {counts.npartitions} chunk(s) of {counts.chunksize}")
    reopened.models = survey_models(case, dataset_name="survey")
    with _step("npred and the Cash statistic, streamed chunk by chunk"):
        info = reopened.info_dict()
    print(f"  counts {info['counts']}, npred {info['npred']:.1f}, stat_sum {info['stat_sum']:.2f}")
    source = reopened.models[0]
    source.spectral_model.amplitude.value *= 1.1
    with _step(f"stat_sum after changing the amplitude of {source.name} (only its footprint)"):
        changed = reopened.stat_sum()
    print(f"  stat_sum {changed:.2f} (Δ = {changed - info['stat_sum']:+.3f})")
    source.spectral_model.amplitude.value /= 1.1

    with _step("write results: npred map, models, summary and a picture"):
        reopened.npred().write(out / "npred.fits", overwrite=True)
        reopened.models.write(out / "models.yaml", overwrite=True)
        summary = {key: _jsonable(value) for key, value in info.items()}
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        figure = _picture(reopened, plt)
        figure.savefig(out / "survey.png", dpi=100)
        plt.close(figure)
    print(f"done: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mapds`` command."""
    parser = argparse.ArgumentParser(prog="mapds", description=__doc__.split("\n\n")[1])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="simulate, store, reopen and evaluate a small survey")
    demo.add_argument("--out", type=Path, default=Path("mapds-demo"), help="output folder (mapds-demo)")
    demo.add_argument("--width", type=float, default=6.0, help="survey width in deg (6)")
    demo.add_argument("--height", type=float, default=3.0, help="survey height in deg (3)")
    demo.add_argument("--binsz", type=float, default=0.02, help="pixel size in deg (0.02)")
    demo.add_argument("--sources", type=int, default=5, help="number of sources (5)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of sources and counts (0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo(args.out, args.width, args.height, args.binsz, args.sources, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
