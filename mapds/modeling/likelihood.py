"""The fit statistic as a function of the numbers an optimiser varies.

Optimisers see each free parameter as a *factor* (its value over its scale, or a transformed
value; see `~mapds.modeling.Parameter`).  :class:`Likelihood` sets the factors, evaluates the
statistic and keeps the trace of the evaluations.

With ``offset`` it hands the optimiser the statistic shifted by a constant, so that its value at
the start lies within ``±OFFSET_LEVEL`` (RooFit's "offsetting"; a statistic already there, such
as those of the small datasets compared with gammapy in the tests, is left as it is, and MINUIT
then takes gammapy's steps).  MINUIT needs this: it sizes its
finite-difference steps from the magnitude of the function, as if the function were known to a
relative precision only (MIGRAD's gradient steps are sized for a change of
``~2.4e-7 (|f| + up)``, HESSE aims at ``~2.4e-4 (|f| + up)``).  For a survey's Cash statistic of
~1e7, which changes by 1 over one sigma, the steps are one sigma wide or more.  HESSE's
off-diagonal terms, one-sided differences over those steps, are then wrong wherever the
statistic is not quadratic, the matrix is not positive definite, MINUIT makes it so (errors then
depend on the starting steps, that is on the errors the parameters had: repeated covariances
alternate), and MIGRAD stalls above its EDM goal.  A constant changes neither the minimum nor the
curvature.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from astropy.table import Table

from .parameter import Parameters

__all__ = ["Likelihood", "factor_bounds"]

#: With ``offset``, the statistic is shifted so that its value at the start lies within
#: ``±OFFSET_LEVEL`` (a statistic already there is not shifted).
OFFSET_LEVEL = 1e4


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
    offset : bool
        Return the statistic minus :attr:`zero`: evaluated here, at the parameters' values now,
        the constant bringing it within ``±OFFSET_LEVEL`` (0 if it is there already or not
        finite).  The trace keeps the statistic itself.
    """

    def __init__(
        self,
        function: Callable[[], float],
        parameters: Parameters,
        store_trace: bool = False,
        offset: bool = False,
    ):
        self.function = function
        self.parameters = parameters
        self.store_trace = store_trace
        #: What is subtracted from the statistic (see ``offset``).
        self.zero = 0.0
        if offset:
            start = float(function())
            if np.isfinite(start):
                self.zero = start - float(np.clip(start, -OFFSET_LEVEL, OFFSET_LEVEL))
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
        return stat - self.zero

    def __call__(self, *factors) -> float:
        """The statistic at factors given one by one (iminuit calls a function this way)."""
        return self.fcn(np.asarray(factors, dtype=float))

    @property
    def trace(self) -> Table:
        """The recorded evaluations (empty without ``store_trace``)."""
        return Table(rows=self.rows) if self.rows else Table()
