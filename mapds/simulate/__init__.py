"""Simulated datasets: the synthetic survey of the performance baseline, built lazily."""

from .survey import make_survey_case, survey_dataset, survey_models

__all__ = ["make_survey_case", "survey_dataset", "survey_models"]
