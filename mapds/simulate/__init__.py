"""Simulated datasets: the synthetic survey of the performance baseline, built lazily."""

from .survey import fit_start_models, make_clustered_case, make_survey_case, survey_dataset, survey_models

__all__ = ["fit_start_models", "make_clustered_case", "make_survey_case", "survey_dataset", "survey_models"]
