"""Errors of spectral models from their covariance (``evaluate_error``, ``integral_error``,
``energy_flux_error``) against gammapy's, which samples the same way."""

from __future__ import annotations

import astropy.units as u
import gammapy.modeling.models as gp_models
import numpy as np
import pytest

import mapds.modeling.models as md_models
from mapds.errors import ModelError

COVARIANCE = np.zeros((4, 4))
COVARIANCE[0, 0], COVARIANCE[2, 2], COVARIANCE[3, 3] = (2e-12) ** 2, 0.05**2, 0.02**2
COVARIANCE[0, 2] = COVARIANCE[2, 0] = 0.3 * 2e-12 * 0.05


def _model(models):
    model = models.LogParabolaSpectralModel(
        amplitude="1e-11 cm-2 s-1 TeV-1", alpha=2.3, beta=0.1, reference="1 TeV"
    )
    model.covariance = COVARIANCE
    return model


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("evaluate_error", ([1, 3, 10] * u.TeV,)),
        ("integral_error", (1 * u.TeV, 10 * u.TeV)),
        ("integral_error", ([1, 2] * u.TeV, [2, 10] * u.TeV)),
        ("energy_flux_error", ([1, 2] * u.TeV, [2, 10] * u.TeV)),
    ],
)
def test_errors_match_gammapy(method, args):
    ours = getattr(_model(md_models), method)(*args, n_samples=500)
    theirs = getattr(_model(gp_models), method)(*args, n_samples=500)
    assert ours.unit.is_equivalent(theirs.unit)
    np.testing.assert_allclose(ours.to_value(theirs.unit), theirs.value, rtol=1e-10)


def test_given_samples_and_a_model_without_parameters():
    model = _model(md_models)
    samples = [np.full(3, par.value) * par.unit for par in model.parameters]
    median, errn, errp = model.integral_error(1 * u.TeV, 10 * u.TeV, samples=samples)
    # every vector is the best fit: the trapezoid integral of the model, no spread
    exact = model.integral(1 * u.TeV, 10 * u.TeV).to_value(median.unit)
    assert median.value == pytest.approx(exact, rel=1e-4)
    assert errn.value == errp.value == 0
    template = md_models.TemplateSpectralModel([1, 10] * u.TeV, [1e-12, 1e-14] * u.Unit("cm-2 s-1 TeV-1"))
    with pytest.raises(ModelError, match="no parameters"):
        template.evaluate_error(1 * u.TeV)
