"""Progress bars for long computations: dask's on local schedulers, a scheduler plugin's on a cluster."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TextIO

__all__ = ["active_client", "progress"]


def active_client():
    """The default ``dask.distributed`` client, if distributed is imported and a client is active."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


@contextmanager
def progress(enabled: bool, stream: TextIO | None = None, *, minimum: float = 1.0):
    """Show a progress bar of the dask computations run inside the block.

    Parameters
    ----------
    enabled : bool
        Show nothing when false (``-q``, or standard error not a terminal).
    stream : file, optional
        Where the bar is drawn (standard error).
    minimum : float
        Computations shorter than this many seconds draw no bar (local schedulers).
    """
    stream = stream or sys.stderr
    if not enabled:
        yield
        return
    client = active_client()
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(minimum=minimum, out=stream):
            yield
        return
    from .cluster_progress import ClusterProgressBar

    with ClusterProgressBar(client, stream):
        yield
