"""Pure spectral shapes and integrals: gammapy's numbers, numpy and dask inputs."""

from __future__ import annotations

import astropy.units as u
import dask.array as da
import numpy as np
import pytest
import scipy.integrate
from gammapy.modeling.models import PowerLawSpectralModel as GammapyPowerLaw
from gammapy.modeling.models.spectral import integrate_spectrum as gammapy_integrate_spectrum
from gammapy.utils.integrate import trapz_loglog as gammapy_trapz_loglog
from numpy.testing import assert_allclose

from mapds.modeling import spectral_integrals as integrals
from mapds.modeling import spectral_shapes as shapes

EDGES = np.geomspace(0.1, 100, 13)


@pytest.mark.parametrize("index", [2.3, 1.0, 1.0 + 1e-9, 1.0 + 1e-6, 0.5, -1.2])
def test_power_law_integral_matches_gammapy_including_index_one(index):
    args = (EDGES[:-1] * u.TeV, EDGES[1:] * u.TeV, index * u.one, 3e-12 * u.Unit("cm-2 s-1 TeV-1"), 1 * u.TeV)
    expected = GammapyPowerLaw.evaluate_integral(*args)
    result = integrals.power_law_integral(*args)
    assert result.unit.is_equivalent("cm-2 s-1")
    assert_allclose(result.to_value(expected.unit), expected.value, rtol=1e-12)
    assert np.all(np.isfinite(result))


@pytest.mark.parametrize("index", [2.0, 2.0 + 1e-10, 2.7])
def test_power_law_energy_flux_matches_gammapy(index):
    args = (EDGES[:-1] * u.TeV, EDGES[1:] * u.TeV, index * u.one, 3e-12 * u.Unit("cm-2 s-1 TeV-1"), 1 * u.TeV)
    expected = GammapyPowerLaw.evaluate_energy_flux(*args)
    assert_allclose(
        integrals.power_law_energy_flux(*args).to_value(expected.unit), expected.value, rtol=1e-12
    )


def test_power_law_integral_at_index_one_is_the_logarithm():
    value = integrals.power_law_integral(1.0, np.e**2, 1.0, 2.0, 1.0)
    assert_allclose(value, 4.0)


def test_trapz_loglog_matches_gammapy():
    rng = np.random.default_rng(0)
    energy = np.sort(rng.uniform(0.1, 10, (3, 40)), axis=-1) * u.TeV
    values = rng.uniform(0.5, 2, (3, 40)) * energy.value**-2.5 * u.Unit("cm-2 s-1 TeV-1")
    values[1, 5:8] = 0  # zero values: undefined or infinite local index
    expected = gammapy_trapz_loglog(values, energy, axis=-1)
    result = integrals.trapz_loglog(values, energy, axis=-1)
    assert_allclose(result.to_value(expected.unit), expected.value, rtol=1e-12, equal_nan=True)


def test_trapz_loglog_is_exact_for_a_power_law():
    energy = np.geomspace(1, 10, 4)
    values = 5 * energy**-2.2
    total = integrals.trapz_loglog(values, energy).sum()
    assert_allclose(total, integrals.power_law_integral(1, 10, 2.2, 5, 1), rtol=1e-12)


def test_trapz_loglog_on_dask_arrays_stays_lazy_and_equal():
    energy = np.geomspace(1, 100, 50)
    values = shapes.exp_cutoff_power_law(energy, 1.8, 1.0, 1.0, 0.05, 1.0)
    lazy = integrals.trapz_loglog(da.from_array(values, chunks=10), da.from_array(energy, chunks=10))
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), integrals.trapz_loglog(values, energy), rtol=1e-14)


def test_power_law_integral_on_dask_arrays():
    emin, emax = da.from_array(EDGES[:-1], chunks=4), da.from_array(EDGES[1:], chunks=4)
    index = da.from_array(np.linspace(0.5, 1.5, 12), chunks=4)
    lazy = integrals.power_law_integral(emin, emax, index, 1.0, 1.0)
    assert isinstance(lazy, da.Array)
    expected = integrals.power_law_integral(EDGES[:-1], EDGES[1:], np.linspace(0.5, 1.5, 12), 1.0, 1.0)
    assert_allclose(lazy.compute(), expected, rtol=1e-14)


def test_log_energy_grid_uses_one_point_count_for_all_bins():
    grid = integrals.log_energy_grid(np.array([1.0, 10.0]), np.array([1.5, 1000.0]))
    assert grid.shape == (2, 200)  # max over bins of 100 points per decade
    assert_allclose(grid[:, 0], [1, 10]) and assert_allclose(grid[:, -1], [1.5, 1000])
    assert integrals.log_energy_grid(np.array([1.0]), np.array([1.001])).shape == (1, 2)


@pytest.mark.parametrize("edges", [EDGES, np.array([1.0, 1.78, 3.16]), np.array([1.0, 1.0001])])
def test_integrate_spectrum_matches_gammapy(edges):
    def ecpl(energy):
        return shapes.exp_cutoff_power_law(
            energy, 1.7, 2e-12 * u.Unit("cm-2 s-1 TeV-1"), 1 * u.TeV, 0.3 / u.TeV, 1.2
        )

    emin, emax = edges[:-1] * u.TeV, edges[1:] * u.TeV
    expected = gammapy_integrate_spectrum(ecpl, emin, emax)
    assert_allclose(
        integrals.integrate_spectrum(ecpl, emin, emax).to_value(expected.unit), expected.value, rtol=1e-13
    )
    expected_flux = gammapy_integrate_spectrum(ecpl, emin, emax, energy_flux=True)
    result_flux = integrals.integrate_spectrum(ecpl, emin, emax, energy_flux=True)
    assert_allclose(result_flux.to_value(expected_flux.unit), expected_flux.value, rtol=1e-13)


def test_integrate_spectrum_accuracy_against_quad():
    def ecpl(energy):
        return shapes.exp_cutoff_power_law(energy, 1.5, 1.0, 1.0, 0.1, 1.0)

    exact = scipy.integrate.quad(ecpl, 1.0, 1.78)[0]
    assert_allclose(integrals.integrate_spectrum(ecpl, np.array([1.0]), np.array([1.78])), exact, rtol=2e-5)


def test_log_parabola_and_power_law2_shapes():
    energy = np.array([0.5, 1.0, 4.0])
    assert_allclose(shapes.log_parabola(energy, 2.0, 1.0, 2.0, 0.0), 2.0 * energy**-2.0)
    x = energy / 2.0
    assert_allclose(shapes.log_parabola(energy, 1.0, 2.0, 1.5, 0.3), x ** (-1.5 - 0.3 * np.log(x)))
    # power_law2 integrates to amplitude between emin and emax
    total = integrals.power_law2_integral(0.1, 100.0, 3.0, 2.2, 0.1, 100.0)
    assert_allclose(total, 3.0)
    grid = np.geomspace(0.1, 100.0, 20001)
    assert_allclose(np.trapezoid(shapes.power_law2(grid, 3.0, 2.2, 0.1, 100.0), grid), 3.0, rtol=1e-4)


def test_template_spectrum_interpolates_log_log_and_extrapolates():
    nodes, values = np.array([1.0, 10.0]), np.array([1.0, 0.01])  # a power law of index 2
    energy = np.array([0.1, 3.0, 100.0])
    assert_allclose(shapes.template_spectrum(energy, nodes, values), energy**-2.0, rtol=1e-12)
    outside = shapes.template_spectrum(energy, nodes, values, extrapolate=False)
    assert np.isnan(outside[0]) and np.isnan(outside[2]) and np.isfinite(outside[1])
    assert_allclose(shapes.template_spectrum(energy, nodes[:1], values[:1]), 1.0)
    with pytest.raises(ValueError, match="method"):
        shapes.template_spectrum(energy, nodes, values, method="cubic")
