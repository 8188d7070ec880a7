"""Poisson counts drawn chunk by chunk, reproducibly (``MapDataset.fake``).

Each chunk gets its own generator, derived from one seed and the chunk's index with
`numpy.random.SeedSequence`: the draws depend on the seed and the chunking only, never on which
worker, thread or scheduler computes which chunk, or in which order.
"""

from __future__ import annotations

import numbers

import dask.array as da
import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["poisson_counts", "random_entropy"]

#: Upper bound of the seeds drawn from a user's generator.
_SEED_BOUND = 2**63 - 1


def random_entropy(random_state="random-seed") -> int:
    """The seed (``SeedSequence`` entropy) of a simulation, from gammapy's ``random_state``.

    Parameters
    ----------
    random_state : int, "random-seed", "global-rng", `~numpy.random.RandomState`, `~numpy.random.Generator` or `~numpy.random.SeedSequence`
        An int is used as the seed (the same int gives the same counts); ``"random-seed"``
        takes fresh OS entropy; ``"global-rng"`` draws a seed from numpy's global generator;
        generators give a seed drawn from them.
    """  # noqa: E501 (type list)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidArgumentError(f"random_state must be a non-negative int, got {random_state}")
        return int(random_state)
    if isinstance(random_state, str):
        if random_state == "random-seed":
            return int(np.random.SeedSequence().entropy)
        if random_state == "global-rng":
            return int(np.random.randint(_SEED_BOUND, dtype=np.int64))  # noqa: NPY002 (gammapy's global RNG)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(_SEED_BOUND, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(_SEED_BOUND))
    if isinstance(random_state, np.random.SeedSequence):
        return int(random_state.generate_state(1, dtype=np.uint64)[0])
    raise InvalidArgumentError(
        f"Invalid random_state {random_state!r}: use an int, 'random-seed', 'global-rng', a "
        "numpy RandomState, Generator or SeedSequence"
    )


def _poisson_block(expected: np.ndarray, entropy: int, stream=None, block_info=None) -> np.ndarray:
    location = block_info[0]["chunk-location"]
    n_chunks = block_info[0]["num-chunks"]
    index = int(np.ravel_multi_index(location, n_chunks)) if n_chunks else 0
    spawn_key = (index,) if stream is None else (index, stream)
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=spawn_key))
    rates = np.where(np.isfinite(expected), expected, 0.0)
    return rng.poisson(rates).astype(np.float64)


def poisson_counts(expected: da.Array, entropy: int, stream: int | None = None) -> da.Array:
    """Poisson draws with the given means (non-finite means give 0), as float64, lazily.

    Parameters
    ----------
    expected : dask.array.Array
        Expected counts (non-negative where finite).
    entropy : int
        Seed (see :func:`random_entropy`); chunk ``i`` (in C order of the chunk grid) uses
        ``SeedSequence(entropy, spawn_key=(i,))``.
    stream : int, optional
        Independent draws from the same seed: chunk ``i`` then uses ``spawn_key=(i, stream)``
        (an on-off dataset draws its signal, background and off counts from one seed).
    """
    return da.map_blocks(_poisson_block, expected, entropy, stream, dtype=np.float64)
