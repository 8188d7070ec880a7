"""Observation metadata that travels with datasets: good time intervals."""

from .gti import GTI

__all__ = ["GTI"]
