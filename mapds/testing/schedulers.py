"""Dask schedulers for tests: count (or forbid) computations.

``with raise_if_dask_computes(): ...`` fails on any ``compute`` inside the block, the check that
a library function built a graph instead of computing; ``max_computes`` allows a few.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask

__all__ = ["ComputeCounter", "raise_if_dask_computes"]


class ComputeCounter:
    """A synchronous dask scheduler that counts computations and fails after ``max_computes``.

    Parameters
    ----------
    max_computes : int
        Computations allowed; one more raises ``RuntimeError``.
    """

    def __init__(self, max_computes: int = 0):
        self.max_computes = max_computes
        self.count = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.count += 1
        if self.count > self.max_computes:
            raise RuntimeError(f"Too many dask computations: {self.count} > {self.max_computes}")
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[ComputeCounter]:
    """Run every dask computation of the block on a :class:`ComputeCounter`.

    Parameters
    ----------
    max_computes : int
        Computations allowed in the block.

    Yields
    ------
    ComputeCounter
        The scheduler (its ``count`` says how many computations ran).
    """
    counter = ComputeCounter(max_computes)
    with dask.config.set(scheduler=counter):
        yield counter
