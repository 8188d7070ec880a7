"""The fit statistic as a function of the numbers an optimiser varies.

Optimisers see each free parameter as a *factor* (its value over its scale, or a transformed
value; see `~mapds.modeling.Parameter`).  :class:`Likelihood` sets the factors, evaluates the
statistic and keeps the trace of the evaluations.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from astropy.table import Table

from .parameter import Parameters

__all__ = ["Likelihood", "factor_bounds"]


def factor_bounds(parameter) -> tuple[float | None, float | None]:
    """The bounds of ``parameter``'s factor as optimisers take them (None: unbounded)."""
    low, high = parameter.factor_min, parameter.factor_max
    return (None if np.isnan(low) else low, None if np.isnan(high) else high)


class Likelihood:
    """The statistic ``function()`` at given factors of the free ``parameters``.

    Parameters
    ----------
    function : callable
        Returns the total statistic for the parameters' current values.
    parameters : `~mapds.modeling.Parameters`
        The parameters whose free ones the optimiser varies (their values are set in place).
    store_trace : bool
        Record every evaluation (statistic and free parameter values).
    """

    def __init__(self, function: Callable[[], float], parameters: Parameters, store_trace: bool = False):
        self.function = function
        self.parameters = parameters
        self.store_trace = store_trace
        self.nfev = 0
        self.rows: list[dict] = []

    def fcn(self, factors) -> float:
        """The statistic at ``factors`` (one per free parameter, in their order)."""
        self.parameters.set_parameter_factors(factors)
        stat = float(self.function())
        self.nfev += 1
        if self.store_trace:
            row = {"total_stat": stat}
            values = self.parameters.free_parameters.value
            row.update({f"par-{i}": value for i, value in enumerate(values)})
            self.rows.append(row)
        return stat

    def __call__(self, *factors) -> float:
        """The statistic at factors given one by one (iminuit calls a function this way)."""
        return self.fcn(np.asarray(factors, dtype=float))

    @property
    def trace(self) -> Table:
        """The recorded evaluations (empty without ``store_trace``)."""
        return Table(rows=self.rows) if self.rows else Table()
