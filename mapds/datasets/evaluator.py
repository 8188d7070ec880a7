"""gammapy's import path of `MapEvaluator` (``gammapy.datasets.evaluator``); the evaluator lives
in :mod:`mapds.datasets.engine.evaluator`, with the rest of the npred and statistic engine."""

from .engine.evaluator import MapEvaluator

__all__ = ["MapEvaluator"]
