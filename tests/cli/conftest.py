"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest

from mapds.simulate import survey_models


@pytest.fixture(scope="session")
def amplitude_models():
    """``build(case)``: the survey case's models with only the amplitudes and the background norm
    free, for the dataset named "survey" (quick, well-conditioned fits)."""

    def build(case):
        models = survey_models(case, dataset_name="survey")
        for parameter in models.parameters:
            parameter.frozen = parameter.name not in ("amplitude", "norm")
        return models

    return build
