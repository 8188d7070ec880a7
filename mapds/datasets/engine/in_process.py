"""Computing small graphs in the calling thread.

A fit of a small dataset evaluates the statistic hundreds of times, each a graph of a few tasks on
in-memory chunks.  Handing such a graph to a scheduler (a thread pool, or a ``distributed`` client)
costs more than the tasks themselves; :func:`compute_in_process` runs the same tasks, in
dependency order, in the calling thread with dask's synchronous ``get``: the same pure task
functions, so the same numbers, without scheduling.
"""

from __future__ import annotations

import dask
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

__all__ = ["compute_in_process"]


def compute_in_process(*nodes: Delayed) -> list:
    """The values of ``nodes``, computed in this thread (no graph optimisation, no scheduler)."""
    graph = HighLevelGraph.merge(*(node.__dask_graph__() for node in nodes))
    return list(dask.get(dict(graph), [node.key for node in nodes]))
