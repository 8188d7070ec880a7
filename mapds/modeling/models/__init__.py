"""Model classes: spectral, spatial, temporal, sky models and model collections (gammapy's names)."""

from ..priors import GaussianPrior, GeneralizedGaussianPrior, LogUniformPrior, Prior, UniformPrior
from .collection import DatasetModels, Models
from .core import ModelBase
from .cube import FoVBackgroundModel, SkyModel, TemplateNPredModel
from .fermi import create_fermi_isotropic_diffuse_model
from .registry import (
    MODEL_REGISTRY,
    SPATIAL_MODEL_REGISTRY,
    SPECTRAL_MODEL_REGISTRY,
    TEMPORAL_MODEL_REGISTRY,
)
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
from .temporal import (
    ConstantTemporalModel,
    ExpDecayTemporalModel,
    GaussianTemporalModel,
    GeneralizedGaussianTemporalModel,
    LightCurveTemplateTemporalModel,
    LinearTemporalModel,
    PowerLawTemporalModel,
    SineTemporalModel,
    TemplatePhaseCurveTemporalModel,
    TemporalModel,
)

__all__ = [
    "MODEL_REGISTRY",
    "SPATIAL_MODEL_REGISTRY",
    "SPECTRAL_MODEL_REGISTRY",
    "TEMPORAL_MODEL_REGISTRY",
    "CompoundSpectralModel",
    "ConstantSpatialModel",
    "ConstantSpectralModel",
    "ConstantTemporalModel",
    "DatasetModels",
    "DiskSpatialModel",
    "ExpCutoffPowerLawSpectralModel",
    "ExpDecayTemporalModel",
    "FoVBackgroundModel",
    "GaussianPrior",
    "GaussianSpatialModel",
    "GaussianTemporalModel",
    "GeneralizedGaussianPrior",
    "GeneralizedGaussianSpatialModel",
    "GeneralizedGaussianTemporalModel",
    "LightCurveTemplateTemporalModel",
    "LinearTemporalModel",
    "LogParabolaSpectralModel",
    "LogUniformPrior",
    "ModelBase",
    "Models",
    "PointSpatialModel",
    "PowerLaw2SpectralModel",
    "PowerLawNormSpectralModel",
    "PowerLawSpectralModel",
    "PowerLawTemporalModel",
    "Prior",
    "Shell2SpatialModel",
    "ShellSpatialModel",
    "SineTemporalModel",
    "SkyModel",
    "SpatialModel",
    "SpectralModel",
    "TemplateNPredModel",
    "TemplatePhaseCurveTemporalModel",
    "TemplateSpatialModel",
    "TemplateSpectralModel",
    "TemporalModel",
    "UniformPrior",
    "create_fermi_isotropic_diffuse_model",
]
