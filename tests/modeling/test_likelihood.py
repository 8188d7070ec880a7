"""MINUIT's errors must not depend on the size of the statistic.

MINUIT sizes its finite-difference steps from the magnitude of the function: handed a survey's
Cash statistic (~1e7) as it is, HESSE took steps of a sigma or more, its matrix was forced
positive definite, and repeated covariances at the same best fit alternated (the errors of one
being the starting steps of the next).  The iminuit backend shifts large statistics by a constant
(`mapds.modeling.likelihood.Likelihood` with ``offset``).
"""

from __future__ import annotations

import numpy as np
import pytest

from mapds.modeling.backend_iminuit import covariance_iminuit, optimize_iminuit
from mapds.modeling.likelihood import OFFSET_LEVEL, Likelihood
from mapds.modeling.parameter import Parameter, Parameters

pytest.importorskip("iminuit")

ENERGY = np.geomspace(0.1, 100, 20)
BACKGROUND = 50.0 * ENERGY**-1.5
TRUTH = (2.0, 2.5)


def predicted(amplitude, index):
    """A power-law source over a background, per energy bin."""
    return BACKGROUND + 1e3 * amplitude * ENERGY**-index


COUNTS = predicted(*TRUTH)  # the expected counts: the minimum is at the truth


def fisher_errors() -> np.ndarray:
    """Errors of amplitude and index from the Fisher information at the truth."""
    mu = predicted(*TRUTH)
    d_amplitude = 1e3 * ENERGY ** -TRUTH[1]
    d_index = -np.log(ENERGY) * 1e3 * TRUTH[0] * ENERGY ** -TRUTH[1]
    derivatives = (d_amplitude, d_index)
    information = np.array([[np.sum(a * b / mu) for b in derivatives] for a in derivatives])
    return np.sqrt(np.diag(np.linalg.inv(information)))


@pytest.mark.parametrize("constant", [0.0, 2.5e7, -7e7])
def test_hesse_errors_do_not_depend_on_the_size_of_the_statistic(constant):
    """The Cash statistic of 20 bins plus ``constant`` (a survey's background-only bins): MIGRAD,
    then HESSE three times at the best fit, each starting from the errors of the previous one as
    `Fit.covariance` does.  Before the shift, at 2.5e7 the errors were 1.6, 2.4 and 5.0 times
    the true ones."""
    amplitude, index = Parameter("amplitude", 2.6), Parameter("index", 2.7)
    parameters = Parameters([amplitude, index])

    def stat():
        mu = predicted(amplitude.value, index.value)
        return constant + np.sum(2 * (mu - COUNTS + COUNTS * np.log(COUNTS / mu)))

    parameters.autoscale()
    factors, info, _ = optimize_iminuit(parameters, stat)
    assert info["success"], info["message"]
    parameters.set_parameter_factors(factors)
    expected = fisher_errors()
    found = []
    for _ in range(3):
        matrix, info = covariance_iminuit(parameters, stat)
        assert info["success"]
        errors = np.sqrt(np.diag(matrix)) * [par.scale for par in parameters]
        for par, error in zip(parameters, errors, strict=True):
            par.error = error
        found.append(errors)
    np.testing.assert_allclose(found, [expected] * 3, rtol=0.05)
    np.testing.assert_allclose(found[1:], [found[0]] * 2, rtol=0.02)


def test_offset_shifts_large_statistics_only():
    """The shift brings the start value within ±OFFSET_LEVEL; the trace keeps the statistic."""
    par = Parameter("x", 0.0)
    parameters = Parameters([par])
    for constant, zero in [(2.5e7, 2.5e7 - OFFSET_LEVEL), (-7e7, -7e7 + OFFSET_LEVEL), (100.0, 0.0)]:
        function = lambda c=constant: c + par.value**2  # noqa: E731
        likelihood = Likelihood(function, parameters, store_trace=True, offset=True)
        assert likelihood.zero == zero
        assert likelihood(3.0) == constant + 9.0 - zero
        assert likelihood.trace["total_stat"][0] == constant + 9.0
        par.value = 0.0
    assert Likelihood(lambda: np.nan, parameters, offset=True).zero == 0.0
    assert Likelihood(lambda: 2.5e7, parameters).zero == 0.0
