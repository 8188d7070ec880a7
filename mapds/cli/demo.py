"""``mapds demo``: simulate a small survey, store it, reopen it lazily, evaluate and fit it."""

from __future__ import annotations

import json
from pathlib import Path

from .arguments import add_command, positive_float, positive_int
from .progress import progress
from .steps import Steps

__all__ = ["add_parser", "run", "run_demo"]

DESCRIPTION = """
Simulate a small survey cube (point and Gaussian sources on a background, Poisson counts), stream it
to FITS and to zarr, reopen the FITS file lazily, compute npred and the Cash statistic chunk by chunk,
fit the sources' amplitudes and the background norm, and write the fit result, the npred and
residual-significance maps, a summary and a picture to the output folder. Each step prints its
duration and the bytes the process read.
"""


def add_parser(commands) -> None:
    """Register ``mapds demo``."""
    parser = add_command(
        commands,
        "demo",
        "simulate, store, reopen, evaluate and fit a small survey",
        DESCRIPTION,
        """
        mapds demo
        mapds demo --out big-demo --width 20 --height 5 --sources 20
        """,
    )
    parser.add_argument("--out", type=Path, default=Path("mapds-demo"), help="output folder (mapds-demo)")
    parser.add_argument("--width", type=positive_float, default=6.0, help="survey width in deg (6)")
    parser.add_argument("--height", type=positive_float, default=3.0, help="survey height in deg (3)")
    parser.add_argument("--binsz", type=positive_float, default=0.02, help="pixel size in deg (0.02)")
    parser.add_argument("--sources", type=positive_int, default=5, help="number of sources (5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of sources and counts (0)")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the demo with the parsed arguments."""
    run_demo(
        args.out,
        args.width,
        args.height,
        args.binsz,
        args.sources,
        args.seed,
        steps=Steps(args.quiet),
        show_progress=args.show_progress,
    )
    return 0


def _jsonable(value):
    if hasattr(value, "unit"):
        return {"value": float(value.value), "unit": value.unit.to_string()}
    if hasattr(value, "item"):
        return value.item()
    return value


def _picture(dataset, significance, plt):
    """Counts and npred images (summed over energy, smoothed 0.1°), the residual significance and
    the spectral residuals."""
    wcs = dataset.counts.geom.wcs
    figure = plt.figure(figsize=(12, 7))
    images = {
        "counts": dataset.counts.sum_over_axes(keepdims=False),
        "npred": dataset.npred().sum_over_axes(keepdims=False),
    }
    vmax = None
    for idx, (title, image) in enumerate(images.items()):
        ax = figure.add_subplot(2, 2, idx + 1, projection=wcs)
        smoothed = image.smooth("0.1 deg").compute().data
        vmax = vmax or float(smoothed.max())
        ax.imshow(smoothed, origin="lower", cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{title} (summed over energy, smoothed 0.1°)")
    ax = figure.add_subplot(2, 2, 3, projection=wcs)
    shown = ax.imshow(significance.data[0], origin="lower", cmap="RdBu_r", vmin=-5, vmax=5)
    ax.set_title("residual significance after the fit (0.1° disk)")
    figure.colorbar(shown, ax=ax, label="σ")
    for ax in figure.axes[:3]:
        ax.coords[0].set_axislabel("l")
        ax.coords[1].set_axislabel("b")
    dataset.plot_residuals_spectral(ax=figure.add_subplot(2, 2, 4))
    figure.tight_layout()
    return figure


def _fit_amplitudes(dataset):
    """Fit each source's amplitude and the background norm, the other parameters frozen."""
    from ..modeling import Fit

    for parameter in dataset.models.parameters:
        parameter.frozen = parameter.name not in ("amplitude", "norm")
    return Fit().run([dataset])


def run_demo(
    out: Path,
    width: float,
    height: float,
    binsz: float,
    n_sources: int,
    seed: int,
    *,
    steps: Steps | None = None,
    show_progress: bool = False,
) -> dict:
    """Simulate a survey, store it, reopen it lazily, evaluate and fit it; return the summary.

    Parameters
    ----------
    out : Path
        Output folder (created).
    width, height, binsz : float
        Survey size and pixel size in degrees.
    n_sources : int
        Number of simulated sources.
    seed : int
        Random seed of the sources and the counts.
    steps : Steps, optional
        Where steps are reported (standard output).
    show_progress : bool
        Draw progress bars on standard error.

    Returns
    -------
    dict
        ``counts``, ``npred``, ``stat_sum`` (and the rest of ``info_dict``) before the fit, and
        ``fit``: ``success``, ``total_stat``, ``nfev`` and the fitted amplitudes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..datasets import MapDataset
    from ..estimators import ExcessMapEstimator
    from ..simulate import make_survey_case, survey_dataset, survey_models

    steps = steps or Steps()
    out.mkdir(parents=True, exist_ok=True)
    case = make_survey_case(width, height, binsz, n_models=n_sources, seed=seed)
    nx, ny = case["npix"]
    steps.say(
        f"mapds demo: a {width:g}° × {height:g}° survey at {binsz:g}° ({nx} × {ny} pixels, 10 energy bins, "
        f"{n_sources} sources), results in {out}/"
    )
    with steps.step("build the dataset (a lazy graph: nothing computed)"):
        dataset = survey_dataset(case, name="survey")
    fits_path, zarr_path = out / "survey.fits", out / "survey.zarr"
    with steps.step(f"simulate counts and stream the dataset to {fits_path.name}"), progress(show_progress):
        dataset.write(fits_path, overwrite=True)
    with steps.step(f"copy it to {zarr_path.name}"), progress(show_progress):
        MapDataset.read(fits_path).write(zarr_path, overwrite=True)
    with steps.step("reopen the FITS file lazily (headers and small tables only)"):
        reopened = MapDataset.read(fits_path, name="survey")
    counts = reopened.counts.dask_data
    steps.say(f"  counts: {counts.npartitions} chunk(s) of {counts.chunksize}")
    reopened.models = survey_models(case, dataset_name="survey")
    with steps.step("npred and the Cash statistic, streamed chunk by chunk"), progress(show_progress):
        info = reopened.info_dict()
    steps.say(f"  counts {info['counts']}, npred {info['npred']:.1f}, stat_sum {info['stat_sum']:.2f}")
    summary = {key: _jsonable(value) for key, value in info.items()}

    sources = [reopened.models[params["name"]] for params in case["models_params"]]
    true_amplitudes = {source.name: source.spectral_model.amplitude.value for source in sources}
    for source in sources:  # start the fit away from the truth
        source.spectral_model.amplitude.value *= 1.3
    with steps.step("fit the amplitudes and the background norm (only changed footprints recomputed)"):
        result = _fit_amplitudes(reopened)
    steps.say(
        f"  {'converged' if result.success else 'did NOT converge'}: {result.nfev} evaluations, "
        f"stat_sum {result.total_stat:.2f}"
    )
    fitted = {}
    for name, truth in true_amplitudes.items():
        amplitude = reopened.models[name].spectral_model.amplitude
        fitted[name] = {"value": amplitude.value, "error": amplitude.error, "true": truth}
        steps.say(
            f"  {name}: amplitude {amplitude.value:.3e} ± {amplitude.error:.1e} (simulated {truth:.3e})"
        )
    summary["fit"] = {
        "success": result.success,
        "total_stat": result.total_stat,
        "nfev": result.nfev,
        "amplitudes": fitted,
        "npred": float(reopened.npred().data.sum().compute()),
    }

    with (
        steps.step("write results: fit result, npred and significance maps, summary, picture"),
        progress(show_progress),
    ):
        result.write(out / "fit-result.yaml", overwrite=True)
        reopened.npred().write(out / "npred.fits", overwrite=True)
        excess = ExcessMapEstimator(correlation_radius="0.1 deg").run(reopened)
        significance = excess["sqrt_ts"].compute()
        significance.write(out / "residual-significance.fits", overwrite=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        figure = _picture(reopened, significance, plt)
        figure.savefig(out / "survey.png", dpi=100)
        plt.close(figure)
    steps.say(f"done: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return summary
