"""``mapds stack``: many datasets into one, on threads or a dask.distributed cluster.

Also :func:`dask_client`, the cluster a command's computations run on.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from ..errors import InvalidArgumentError, MissingDependencyError
from .arguments import add_command, chunks_spec, positive_int
from .locations import (
    add_storage_options,
    check_output,
    dataset_chunks,
    output_format,
    read_list,
    require_files,
    storage_options,
)
from .progress import progress
from .steps import Steps

__all__ = ["add_parser", "dask_client", "run"]

DESCRIPTION = """
Stack many datasets into one, as gammapy's Datasets.stack_reduce does: every dataset is masked
by its safe mask onto the first one's geometry and the counts, exposure, background and IRFs are
summed (the IRFs weighted by exposure); GTIs, meta tables and livetimes are combined in order.

Inputs are FITS files or zarr stores, local paths or URLs (s3://, gs://, https://...), given
on the command line or listed in a file. Every input is opened by a dask task and only a few
chunks of each are in memory at a time.

A zarr OUT is written in batches of --batch-size datasets, each batch added to the partial stack
of the previous ones, so the dask graph stays small however many inputs there are. A FITS OUT
(.fits) is stacked in one graph and streamed chunk by chunk; for thousands of inputs, stack to
zarr first.

Work runs on local threads, on a running dask.distributed scheduler (--scheduler) or on a local
cluster of worker processes started for the run (--workers); the last two need the distributed
package (pip install 'mapds[distributed]').
"""

EXAMPLES = """
mapds stack stacked.zarr obs-*.fits
mapds stack --workers 2 out.zarr --from-list runs.txt
mapds stack --scheduler tcp://10.0.0.5:8786 s3://bucket/stacked.zarr --from-list runs.txt
mapds stack --name crab --overwrite stacked.fits obs1.fits obs2.zarr
"""

#: The dataset name when --name is not given: a fixed one, so reruns write identical files.
DEFAULT_NAME = "stacked"


def add_parser(commands) -> None:
    """Register ``mapds stack``."""
    parser = add_command(
        commands, "stack", "stack many datasets into one (zarr or FITS)", DESCRIPTION, EXAMPLES
    )
    parser.add_argument(
        "output",
        metavar="OUT",
        help="the stacked dataset: a zarr store (.zarr) or a FITS file (.fits)",
    )
    parser.add_argument(
        "inputs", metavar="IN", nargs="*", help="datasets to stack: FITS files or zarr stores, paths or URLs"
    )
    parser.add_argument(
        "--from-list",
        metavar="FILE",
        help="also stack the datasets FILE lists, one path or URL a line, relative paths from the working "
        "directory (blank lines and '#' comments ignored; '-' reads standard input)",
    )
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"name of the stacked dataset (default: {DEFAULT_NAME})"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=64,
        metavar="N",
        help="datasets per dask graph when OUT is zarr (default: 64)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--chunks",
        type=chunks_spec,
        metavar="SPEC",
        help="dask chunks of the inputs' maps: 'auto', one size (256) or sizes by axis "
        "(lon=512,lat=512,energy=-1); default: each file's own",
    )
    add_storage_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the dask.distributed scheduler at ADDRESS (tcp://host:8786)",
    )
    where.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="start a local cluster of N worker processes for the run",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Stack the datasets of ``args`` into ``args.output``; print what was stacked unless quiet."""
    steps = Steps(args.quiet)
    options = storage_options(args.storage_option)
    inputs = _inputs(args)
    check_output(args.output, args.overwrite, options, inputs)
    fmt = output_format(args.output)
    if args.scheduler is None:  # a remote cluster's workers may see paths this machine does not
        require_files(inputs, options, "input dataset", local_only=True)
    title = f"stack {len(inputs)} datasets into {args.output}"
    title += f" (batches of {args.batch_size})" if fmt == "zarr" else ""
    with dask_client(args.scheduler, args.workers, steps, args.verbose):
        with steps.step(title), progress(args.show_progress):
            stacked = _stack(inputs, args, fmt, options)
        counts = float(stacked.counts.data.sum().compute())
    livetime = stacked.exposure.meta.get("livetime") if stacked.exposure is not None else None
    livetime_text = f", livetime {livetime:.6g}" if livetime is not None else ""
    steps.say(f"stacked {len(inputs)} datasets into {args.output}: counts {counts:.10g}{livetime_text}")
    return 0


def _inputs(args: argparse.Namespace) -> list[str]:
    """The inputs on the command line, then those of ``--from-list``; at least one."""
    inputs = [*args.inputs, *(read_list(args.from_list) if args.from_list else [])]
    if not inputs:
        where = f"{args.from_list} lists no dataset" if args.from_list else "no input dataset given"
        raise InvalidArgumentError(
            f"nothing to stack: {where}; give input paths or --from-list FILE (one path a line)"
        )
    return inputs


def _stack(inputs: Sequence[str], args: argparse.Namespace, fmt: str, options: dict | None):
    """Stack and write; return the written dataset, opened lazily."""
    from ..datasets import MapDataset
    from ..datasets.core import open_datasets, stack_to_zarr
    from ..datasets.stacking import stack_reduce

    chunks = dataset_chunks(args.chunks)
    if fmt == "zarr":
        return stack_to_zarr(
            inputs,
            args.output,
            name=args.name,
            batch_size=args.batch_size,
            overwrite=args.overwrite,
            chunks=chunks,
            storage_options=options,
        )
    datasets = open_datasets(inputs, chunks=chunks, storage_options=options)
    stacked = stack_reduce(datasets, name=args.name)
    stacked.write(args.output, overwrite=args.overwrite, storage_options=options)
    return MapDataset.read(args.output, storage_options=options)


@contextmanager
def dask_client(
    scheduler: str | None, workers: int | None, steps: Steps, verbose: int = 0
) -> Iterator[object]:
    """The ``distributed.Client`` the block's computations run on (None: local threads).

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler to connect to.
    workers : int, optional
        Start a local cluster of this many worker processes instead, closed with the block.
    steps : Steps
        Where the connection or start-up step is reported.
    verbose : int
        ``-v`` count: distributed's own log messages show only when positive.
    """
    if scheduler is None and workers is None:
        yield None
        return
    distributed = _import_distributed("--scheduler" if scheduler else "--workers")
    with _distributed_logs(verbose), ExitStack() as stack:  # closes the client, then the cluster
        if scheduler is not None:
            with steps.step(f"connect to the dask scheduler at {scheduler}"):
                client = stack.enter_context(_connect(distributed, scheduler))
        else:
            with steps.step(f"start a local cluster of {workers} worker processes"):
                # Port 0: a free port (a busy default one would warn); logs below errors are the
                # workers' business, not the command's output.
                cluster = distributed.LocalCluster(
                    n_workers=workers, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
                )
                stack.enter_context(cluster)
                client = stack.enter_context(distributed.Client(cluster))
        yield client


@contextmanager
def _distributed_logs(verbose: int) -> Iterator[None]:
    """Keep distributed's messages out of the command's output unless ``-v`` is given.

    Once ``main`` has configured the root logger, distributed adds no handler of its own: its
    INFO messages (every step of a cluster's start and shutdown) would reach the root handler.
    """
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.getLogger().getEffectiveLevel() if verbose else logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _import_distributed(option: str):
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(
            f"{option} needs the 'distributed' package: pip install 'mapds[distributed]' "
            f"(or run without {option}, on threads)"
        ) from None
    return distributed


def _connect(distributed, address: str):
    try:
        return distributed.Client(address)
    except (OSError, ValueError, TypeError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InvalidArgumentError(
            f"cannot connect to the dask scheduler at {address} ({detail}): check the address "
            "(tcp://host:8786) and that the scheduler runs"
        ) from error
