"""``mapds npred`` and ``mapds residuals``: a dataset's predicted counts or residual map, written
chunk by chunk to a FITS file or a zarr store."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..errors import InvalidArgumentError, MapdsError
from .arguments import add_command
from .locations import add_storage_options, check_output, require_files, storage_options
from .progress import progress
from .steps import Steps

__all__ = ["add_parser", "load_dataset", "run"]

#: gammapy's residual methods (``MapDataset.residuals(method=...)``).
RESIDUAL_METHODS = ("diff", "diff/model", "diff/sqrt(model)")

DATASET_HELP = """
DATASET is a dataset file (FITS or a zarr store, local path or URL) or a gammapy datasets YAML
file naming one (Datasets.read). The models YAML is read as gammapy's Models.read does; models
whose datasets_names leave this dataset out (a FoVBackgroundModel of another dataset) are not
applied, and a note says so. A dataset file without a stored name gets the one --dataset-name
gives, so that the models meant for it apply.
"""

NPRED_DESCRIPTION = (
    """
Write the predicted counts of a dataset and its models (gammapy's MapDataset.npred): the
background, corrected by the FoVBackgroundModel if the models have one, plus the counts of every
sky model through the dataset's exposure, PSF and energy dispersion. The map is computed and
written chunk by chunk; OUT is a FITS file (.fits) or a zarr store (.zarr).
"""
    + DATASET_HELP
)

RESIDUALS_DESCRIPTION = (
    """
Write the residual map of a dataset against its models (gammapy's MapDataset.residuals): counts
minus predicted counts (diff), divided by them (diff/model) or by their square root
(diff/sqrt(model)), NaN outside the dataset's mask. The map is computed and written chunk by
chunk; OUT is a FITS file (.fits) or a zarr store (.zarr).
"""
    + DATASET_HELP
)

NPRED_EXAMPLES = """
mapds npred Fermi-LAT-3FHL_datasets.yaml --models Fermi-LAT-3FHL_models.yaml -o npred.fits
mapds npred obs.zarr --models models.yaml --dataset-name obs -o npred.zarr
mapds npred s3://bucket/obs.fits --storage-option anon=true --models models.yaml -o npred.fits
"""

RESIDUALS_EXAMPLES = """
mapds residuals Fermi-LAT-3FHL_datasets.yaml --models Fermi-LAT-3FHL_models.yaml -o residuals.fits
mapds residuals obs.fits --models models.yaml --method "diff/sqrt(model)" -o residuals.zarr
"""


def add_parser(commands) -> None:
    """Register ``mapds npred`` and ``mapds residuals``."""
    npred = add_command(
        commands, "npred", "write a dataset's predicted counts map", NPRED_DESCRIPTION, NPRED_EXAMPLES
    )
    _add_common_arguments(npred)
    npred.set_defaults(run=run, result="npred")
    residuals = add_command(
        commands,
        "residuals",
        "write a dataset's residual map (counts against npred)",
        RESIDUALS_DESCRIPTION,
        RESIDUALS_EXAMPLES,
    )
    _add_common_arguments(residuals)
    residuals.add_argument(
        "--method",
        choices=RESIDUAL_METHODS,
        default="diff",
        help="counts minus npred (diff, the default), divided by npred or by its square root",
    )
    residuals.set_defaults(run=run, result="residuals")


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dataset", metavar="DATASET", help="dataset file (FITS or zarr) or datasets YAML file"
    )
    parser.add_argument("--models", required=True, metavar="YAML", help="gammapy models YAML file")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="map to write: a FITS file (.fits) or a zarr store (.zarr)",
    )
    parser.add_argument(
        "--dataset-name",
        metavar="NAME",
        help="name of the dataset (default: the one stored in the file); with a datasets YAML, "
        "the dataset to take",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_storage_options(parser)


def run(args: argparse.Namespace) -> int:
    """Write the npred or residual map of ``args.dataset``; print a summary unless quiet."""
    from ..maps import Map

    steps = Steps(args.quiet)
    options = storage_options(args.storage_option)
    check_output(args.output, args.overwrite, options, [args.dataset])
    with steps.step("read the dataset and the models"):
        dataset, skipped = load_dataset(args.dataset, args.models, args.dataset_name, options)
    if skipped:
        steps.say(
            f"note: not applied, made for other datasets: {', '.join(skipped)} "
            f"(this dataset is {dataset.name!r}; --dataset-name sets it)"
        )
    if args.result == "npred":
        what, result = "npred", dataset.npred()
    else:
        what, result = f"residuals ({args.method})", dataset.residuals(method=args.method)
    with steps.step(f"compute {what} and write {args.output}"), progress(args.show_progress):
        result.write(args.output, overwrite=args.overwrite, storage_options=options or None)
    written = Map.read(args.output, storage_options=options or None)
    models = ", ".join(m.name for m in dataset.models or []) or "none"
    summary = _npred_summary(written) if args.result == "npred" else _residuals_summary(written)
    steps.say(f"{what} of dataset {dataset.name!r} (models: {models}) in {args.output}: {summary}")
    return 0


def load_dataset(path: str, models_path: str, name: str | None, storage_options: dict) -> tuple:
    """The dataset of ``path`` (a data file or a datasets YAML) with the models of ``models_path``.

    Returns
    -------
    dataset : MapDataset
        Lazy dataset, its models set (those whose ``datasets_names`` include it).
    skipped : list of str
        Names of the models left out because they are meant for other datasets.
    """
    require_files([path], storage_options, "dataset")
    require_files([models_path], {}, "models file")
    models = _read_models(models_path)
    if path.lower().endswith((".yaml", ".yml")):
        dataset = _from_datasets_file(path, name)
    else:
        from ..datasets import MapDataset

        dataset = MapDataset.read(path, name=name, storage_options=storage_options or None)
    dataset.models = models
    applied = {m.name for m in dataset.models or []}
    return dataset, [m.name for m in models if m.name not in applied]


def _read_models(path: str):
    from ..modeling.models import Models

    # YAML checksums are gammapy's option, off by default: a failed one would only warn.
    with _one_line_errors(f"cannot read the models of {path}", "--models takes a gammapy models YAML file"):
        return Models.read(path, checksum=False)


def _from_datasets_file(path: str, name: str | None):
    from ..datasets import Datasets

    with _one_line_errors(
        f"cannot read the datasets of {path}", "DATASET takes a gammapy datasets YAML file"
    ):
        datasets = Datasets.read(path, checksum=False)
    names = list(datasets.names)
    if name is not None:
        if name not in names:
            raise InvalidArgumentError(f"{path} has no dataset {name!r}; its datasets: {', '.join(names)}")
        return datasets[name]
    if len(names) != 1:
        raise InvalidArgumentError(
            f"{path} holds {len(names)} datasets ({', '.join(names)}): choose one with --dataset-name"
        )
    return datasets[0]


@contextmanager
def _one_line_errors(context: str, hint: str) -> Iterator[None]:
    """Re-raise a :class:`~mapds.errors.MapdsError` whose message spans lines (a YAML parser's
    report) as the same error on one line, saying what to do."""
    try:
        yield
    except MapdsError as error:
        if "\n" not in str(error):
            raise
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise type(error)(f"{context}: {detail} ({hint})") from error


def _npred_summary(npred) -> str:
    total = float(npred.data.sum().compute())
    return f"{total:.6g} predicted counts"


def _residuals_summary(residuals) -> str:
    """Mean and range over the pixels inside the mask (the others are NaN)."""
    import dask
    import dask.array as da

    finite = da.isfinite(residuals.data)
    values = da.where(finite, residuals.data, np.nan)  # diff/model is infinite where npred is 0
    with warnings.catch_warnings():  # an empty mask: no pixel to reduce over, said below
        warnings.simplefilter("ignore", RuntimeWarning)
        n, mean, low, high = dask.compute(
            finite.sum(), da.nanmean(values), da.nanmin(values), da.nanmax(values)
        )
    if not n:
        return "no pixel inside the mask"
    return (
        f"mean {mean:.4g}, range [{low:.4g}, {high:.4g}] over {int(n)} finite pixels (NaN outside the mask)"
    )
