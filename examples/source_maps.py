"""Find the sources of a simulated survey: excess and TS maps as chunked graphs, written and plotted.

    python examples/source_maps.py --size medium --output source-maps

Simulates a survey cube (:mod:`mapds.simulate`: point and Gaussian power-law sources on a smooth
background, counts drawn from the npred), writes it to a zarr store and reopens it lazily with only
its FoV background model, as a search for unknown sources starts.  Then, timing each step and
printing the peak memory of the process after it:

1. ``ExcessMapEstimator`` (0.1° correlation radius): Li & Ma significance (``sqrt_ts``) of the
   counts above the background, fluxes and errors, one task per tile and its halo, computed once;
2. ``TSMapEstimator`` (a point source convolved with the PSF, 0.6° kernel): the amplitude fitted
   at every pixel, ``ts``, ``sqrt_ts``, ``norm`` and its error, computed once;
3. writes both results in gammapy's ``FluxMaps`` format (FITS);
4. draws the counts and the two significance maps with the simulated sources marked, and prints
   each source's significance in both maps.

``--size``: ``small`` is 8° × 3° at 0.04° (200 × 75 pixels × 10 energies, 4 sources: seconds);
``medium`` is the benchmark case of 20° × 5° at 0.02° (1000 × 250 pixels, 5 sources).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mapds.datasets import MapDataset
from mapds.estimators import ExcessMapEstimator, TSMapEstimator
from mapds.modeling.models import Models
from mapds.simulate import survey_dataset, survey_models

# the step timing and the survey cases of the survey example beside this script
sys.path.insert(0, str(Path(__file__).resolve().parent))
from survey_on_a_laptop import peak_rss_mib, run_step, survey_case

#: ``--size``: a case made here (width, height, pixel size in degrees, sources) or a benchmark case.
SIZES = {"small": (8.0, 3.0, 0.04, 4), "medium": "w20_h5_b0.02_e10_t15_kernel"}


def source_significance(case: dict, maps: dict[str, np.ndarray], geom) -> list[dict]:
    """Each simulated source with the significance of every map at its pixel."""
    rows = []
    for params in case["models_params"]:
        x, y = geom.to_image().coord_to_pix((params["lon_0_deg"], params["lat_0_deg"]))
        ix, iy = int(np.round(np.asarray(x).item())), int(np.round(np.asarray(y).item()))
        row = {"name": params["name"], "kind": "point" if params["spatial"] == "point" else "gaussian"}
        row.update({label: float(image[iy, ix]) for label, image in maps.items()})
        rows.append(row)
    return rows


def draw(counts, maps: dict[str, np.ndarray], case: dict, path: Path) -> None:
    """Counts summed over energy and the significance maps, the simulated sources circled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wcs = counts.geom.wcs
    figure = plt.figure(figsize=(12, 3 + 2.2 * len(maps)))
    panels = {"counts (summed over energy, smoothed 0.1°)": None, **maps}
    for idx, (title, image) in enumerate(panels.items()):
        ax = figure.add_subplot(len(panels), 1, idx + 1, projection=wcs)
        if image is None:
            shown = ax.imshow(counts.smooth("0.1 deg").data.compute(), origin="lower", cmap="magma")
            figure.colorbar(shown, ax=ax, label="counts")
        else:
            shown = ax.imshow(image, origin="lower", cmap="RdBu_r", vmin=-8, vmax=8)
            figure.colorbar(shown, ax=ax, label="σ")
        for params in case["models_params"]:
            ax.scatter(
                params["lon_0_deg"],
                params["lat_0_deg"],
                s=150,
                facecolor="none",
                edgecolor="lime",
                transform=ax.get_transform(case["frame"]),
            )
        ax.set_title(title)
        ax.coords[0].set_axislabel("l")
        ax.coords[1].set_axislabel("b")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="small", help="survey size (see above)")
    parser.add_argument("--output", type=Path, default=Path("source-maps"), help="where the files go")
    parser.add_argument("--seed", type=int, default=3, help="seed of the sources (small size only)")
    args = parser.parse_args(argv)

    case = survey_case(args.size, args.seed, SIZES)
    args.output.mkdir(parents=True, exist_ok=True)
    steps: list[dict] = []
    path = args.output / "survey.zarr"
    run_step(steps, "simulate + write zarr", survey_dataset(case).write, path, True)
    dataset = MapDataset.read(path)
    # a search starts from the background alone: only the FoV background model
    background = [m for m in survey_models(case, dataset_name=dataset.name) if m.spatial_model is None]
    dataset.models = Models(background)
    print(f"{path}: counts {dataset.counts.data.shape} in {dataset.counts.data.npartitions} chunks")

    excess = ExcessMapEstimator(correlation_radius="0.1 deg", selection_optional=[]).run(dataset)
    ts = TSMapEstimator(kernel_width="0.6 deg", selection_optional=[]).run(dataset)

    # every output map of each estimator computed once and kept in memory (they are images)
    excess = run_step(steps, "excess map (every output)", excess.compute)
    ts = run_step(steps, "TS map (every output)", ts.compute)
    results = zip(LABELS, (excess, ts), strict=True)
    maps = {label: np.asarray(result["sqrt_ts"].data)[0] for label, result in results}
    files = {"excess": args.output / "excess-maps.fits", "ts": args.output / "ts-maps.fits"}

    def write():
        for key, result in (("excess", excess), ("ts", ts)):
            result.write(files[key], overwrite=True)

    run_step(steps, "write both FluxMaps (FITS)", write)
    counts = dataset.counts.sum_over_axes(keepdims=False)
    picture = args.output / "source-maps.png"
    run_step(steps, "draw", draw, counts, maps, case, picture)
    sources = source_significance(case, maps, dataset.counts.geom)
    for row in sources:
        values = ", ".join(f"{label} {row[label]:5.1f} σ" for label in LABELS)
        print(f"  {row['name']:<10s} {row['kind']:<9s} {values}")
    return {
        "case": case,
        "maps": maps,
        "sources": sources,
        "steps": steps,
        "peak_rss_mib": peak_rss_mib(),
        "paths": {"dataset": path, "picture": picture, **files},
    }


#: Titles of the two significance maps.
LABELS = ("excess map sqrt_ts (Li & Ma, 0.1° disk)", "TS map sqrt_ts (point source, PSF-convolved)")


if __name__ == "__main__":
    main()
