"""The same sky models in gammapy and mapds: moved to :mod:`mapds.testing.twins`.

Kept, as a re-export, only for the test modules that still import them from here.
"""

from mapds.testing.twins import SOURCES, sky_model, spatial_model, spectral_model
from mapds.testing.twins import sky_models as models

__all__ = ["SOURCES", "models", "sky_model", "spatial_model", "spectral_model"]
