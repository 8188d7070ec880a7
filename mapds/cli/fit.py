"""``mapds fit``: fit models to datasets, write the result, its covariance and a residual figure."""

from __future__ import annotations

from pathlib import Path

from .arguments import add_command
from .locations import add_storage_options, storage_options
from .progress import progress
from .steps import Steps

__all__ = ["add_parser", "read_datasets", "run"]

DESCRIPTION = """
Fit the free parameters of the models to one or more datasets (MIGRAD, then HESSE for the errors and
the covariance), as gammapy's Fit does. DATASETS is a gammapy datasets YAML file, or one dataset file
(FITS, gzip FITS or zarr; any fsspec URL). The result is written in gammapy's format: the best-fit
models with their errors and the fit's summary to RESULT (a YAML file), the covariance next to it
(RESULT_covariance.dat), and a figure of the residuals of the first dataset (RESULT_residuals.png,
or --figure). The exit status is 0 when the fit converged, 3 when it did not (the result is still
written, with the optimiser's message), and 1 on an error.
"""


def add_parser(commands) -> None:
    """Register ``mapds fit``."""
    parser = add_command(
        commands,
        "fit",
        "fit models to datasets; write the result, covariance and a residual figure",
        DESCRIPTION,
        """
        mapds fit Fermi-LAT-3FHL_datasets.yaml --models Fermi-LAT-3FHL_models.yaml -o crab-fit.yaml
        mapds fit mapds-demo/survey.zarr --models mapds-demo/fit-result.yaml -o refit.yaml --backend scipy
        """,
    )
    parser.add_argument("datasets", help="datasets YAML file, or one dataset file or URL")
    parser.add_argument("--models", help="models YAML file (required unless the datasets YAML names one)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="result YAML file to write")
    parser.add_argument("--figure", type=Path, help="residual figure (default: RESULT_residuals.png)")
    parser.add_argument("--no-figure", action="store_true", help="do not draw the residual figure")
    parser.add_argument("--backend", choices=("minuit", "scipy"), default="minuit", help="optimiser (minuit)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing result files")
    add_storage_options(parser)
    parser.set_defaults(run=run)


def read_datasets(path: str, models: str | None, options: dict | None = None):
    """``Datasets`` from a datasets YAML file or one dataset file, with the models of ``models``.

    ``options`` (fsspec storage options) reach a dataset file, not the YAML files.
    """
    from ..datasets import Datasets, MapDataset
    from ..errors import InvalidArgumentError
    from ..modeling.models import Models

    if str(path).lower().endswith((".yaml", ".yml")):
        datasets = Datasets.read(path, filename_models=models)
    else:
        datasets = Datasets([MapDataset.read(path, storage_options=options)])
        if models is not None:
            datasets.models = Models.read(models)
    if not datasets.models.parameters.free_parameters:
        raise InvalidArgumentError(
            f"nothing to fit in {path}: no free model parameters (pass a models YAML file with --models)"
        )
    return datasets


def _check_free(paths: list[Path], overwrite: bool) -> None:
    from ..errors import OverwriteError

    for path in paths:
        if path.exists() and not overwrite:
            raise OverwriteError(f"{path} exists; pass --overwrite to replace it")


def _draw_residuals(dataset, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    residuals = {"method": "diff/sqrt(model)", "vmin": -3, "vmax": 3}
    ax_spatial, _ = dataset.plot_residuals(kwargs_spatial=residuals)
    ax_spatial.figure.tight_layout()
    ax_spatial.figure.savefig(path, dpi=100)
    plt.close(ax_spatial.figure)


def run(args) -> int:
    """Fit, print the result and the parameters, write the result files."""
    from ..modeling import Fit

    steps = Steps(args.quiet)
    figure = (
        None if args.no_figure else args.figure or args.output.with_name(f"{args.output.stem}_residuals.png")
    )
    _check_free([args.output, *([figure] if figure else [])], args.overwrite)
    with steps.step(f"read {args.datasets}"):
        datasets = read_datasets(args.datasets, args.models, storage_options(args.storage_option))
    n_free = len(datasets.models.parameters.free_parameters)
    with (
        steps.step(f"fit {n_free} free parameters of {len(datasets.models)} models"),
        progress(args.show_progress),
    ):
        result = Fit(backend=args.backend).run(datasets)
    print(result)
    table = datasets.models.to_parameters_table()
    print(table[~table["frozen"]]["model", "name", "value", "error", "unit"])
    with steps.step(f"write {args.output}"):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        result.write(args.output, overwrite=True)
    if figure is not None:
        with (
            steps.step(f"draw the residuals of {datasets[0].name} to {figure}"),
            progress(args.show_progress),
        ):
            _draw_residuals(datasets[0], figure)
    return 0 if result.success else 3
