"""Draw a simulated survey with mapds' plots: the counts image, source spectra and the IRFs.

    python examples/plot_survey.py --output survey.png

Builds the synthetic survey of the benchmarks (lazy; counts drawn from the sources' npred), then
draws in one figure: the counts summed over energy and smoothed (computed at the resolution of the
figure, in one pass over the cube), the spectral models of the sources, the PSF containment radii
and the energy dispersion matrix at the centre.  The figure of the README is made by this script
(``python examples/plot_survey.py --output examples/plot_survey.png``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import astropy.units as u

from mapds.simulate import make_survey_case, survey_dataset


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("survey.png"), help="the figure file")
    parser.add_argument("--width", type=float, default=60.0, help="survey width (deg)")
    parser.add_argument("--height", type=float, default=6.0, help="survey height (deg)")
    parser.add_argument("--sources", type=int, default=16, help="number of sources")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = make_survey_case(args.width, args.height, 0.02, n_models=args.sources, seed=1)
    dataset = survey_dataset(case)  # lazy: nothing is computed yet
    counts = dataset.counts.sum_over_axes(keepdims=False).smooth(width="0.1 deg")  # still lazy

    start = time.perf_counter()
    figure = plt.figure(figsize=(12, 6.5))
    grid = figure.add_gridspec(
        2, 3, height_ratios=(1, 1.6), hspace=0.15, wspace=0.35, left=0.06, right=0.95, top=0.95, bottom=0.08
    )
    ax_counts = figure.add_subplot(grid[0, :], projection=counts.geom.wcs)
    counts.plot(ax=ax_counts, add_cbar=True, stretch="sqrt", cmap="magma")
    ny, nx = counts.geom.data_shape
    ax_counts.set_title(f"Counts ({nx} × {ny} pixels, smoothed by a 0.1° Gaussian) and sources")
    for model in dataset.models:
        if model.spatial_model is not None:
            model.spatial_model.plot_position_error(ax=ax_counts, color="cyan", s=12, label=None)

    ax_spectra = figure.add_subplot(grid[1, 0])
    for model in dataset.models:
        if model.spatial_model is not None:
            model.spectral_model.plot([0.1, 100] * u.TeV, ax=ax_spectra, sed_type="e2dnde", lw=1)
    ax_spectra.set_title("Source spectra")
    ax_psf = figure.add_subplot(grid[1, 1])
    dataset.psf.plot_containment_radius_vs_energy(ax=ax_psf)
    ax_psf.set_title("PSF containment at the centre")
    ax_edisp = figure.add_subplot(grid[1, 2])
    dataset.edisp.get_edisp_kernel().plot_matrix(ax=ax_edisp, add_cbar=True)
    ax_edisp.set_title("Energy dispersion at the centre")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=100)
    seconds = time.perf_counter() - start
    drawn = ax_counts.images[0].get_array().shape
    print(f"{args.output}: counts drawn as {drawn[1]} × {drawn[0]} blocks, figure made in {seconds:.1f} s")
    return {"figure": args.output, "drawn_shape": drawn, "counts_shape": counts.geom.data_shape}


if __name__ == "__main__":
    main()
