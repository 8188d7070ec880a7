"""Estimators: maps of excess, significance, flux and their errors from a dataset (gammapy's
``gammapy.estimators`` names and numbers), as lazy dask graphs."""

from .excess_map import ExcessMapEstimator
from .flux_maps import FluxMaps
from .flux_points import FluxPointsEstimator
from .points import FluxPoints
from .reco_exposure import estimate_exposure_reco_energy
from .ts_map import TSMapEstimator

__all__ = [
    "ExcessMapEstimator",
    "FluxMaps",
    "FluxPoints",
    "FluxPointsEstimator",
    "TSMapEstimator",
    "estimate_exposure_reco_energy",
]
