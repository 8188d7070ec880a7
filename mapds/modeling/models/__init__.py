"""Model classes: spectral, spatial, sky models and model collections (gammapy's names)."""

from ..priors import GaussianPrior, GeneralizedGaussianPrior, LogUniformPrior, Prior, UniformPrior
from .collection import DatasetModels, Models
from .core import ModelBase
from .cube import FoVBackgroundModel, SkyModel
from .fermi import create_fermi_isotropic_diffuse_model
from .registry import MODEL_REGISTRY, SPATIAL_MODEL_REGISTRY, SPECTRAL_MODEL_REGISTRY
from .spatial import (
    ConstantSpatialModel,
    DiskSpatialModel,
    GaussianSpatialModel,
    GeneralizedGaussianSpatialModel,
    PointSpatialModel,
    Shell2SpatialModel,
    ShellSpatialModel,
    SpatialModel,
    TemplateSpatialModel,
)
from .spectral import (
    CompoundSpectralModel,
    ConstantSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLaw2SpectralModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    SpectralModel,
    TemplateSpectralModel,
)

__all__ = [
    "MODEL_REGISTRY",
    "SPATIAL_MODEL_REGISTRY",
    "SPECTRAL_MODEL_REGISTRY",
    "CompoundSpectralModel",
    "ConstantSpatialModel",
    "ConstantSpectralModel",
    "DatasetModels",
    "DiskSpatialModel",
    "ExpCutoffPowerLawSpectralModel",
    "FoVBackgroundModel",
    "GaussianPrior",
    "GaussianSpatialModel",
    "GeneralizedGaussianPrior",
    "GeneralizedGaussianSpatialModel",
    "LogParabolaSpectralModel",
    "LogUniformPrior",
    "ModelBase",
    "Models",
    "PointSpatialModel",
    "PowerLaw2SpectralModel",
    "PowerLawNormSpectralModel",
    "PowerLawSpectralModel",
    "Prior",
    "Shell2SpatialModel",
    "ShellSpatialModel",
    "SkyModel",
    "SpatialModel",
    "SpectralModel",
    "TemplateSpatialModel",
    "TemplateSpectralModel",
    "UniformPrior",
    "create_fermi_isotropic_diffuse_model",
]
