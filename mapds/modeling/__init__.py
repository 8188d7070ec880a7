"""Models, parameters and their gammapy YAML serialisation.

The classes keep gammapy's names, parameters, defaults, tags and formulas; models files read and
written by :class:`~mapds.modeling.models.Models` are gammapy 2.1's (``Models.read`` /
``Models.write``, covariance in ``<stem>_covariance.dat``).  Formulas live in pure functions
(:mod:`~mapds.modeling.spectral_shapes`, :mod:`~mapds.modeling.spectral_integrals`,
:mod:`~mapds.modeling.spatial_profiles`) that work on numpy or dask arrays.

Supported models (a YAML ``type`` may be the class name or the short tag).  Parameters are
listed as ``name=default unit`` in their order; ``(f)`` marks parameters frozen by default; a
temporal ``t_ref`` is an MJD in the model's time ``scale`` (UTC by default):

| class | tag | parameters |
|---|---|---|
| `PowerLawSpectralModel` | `pl` | index=2, amplitude=1e-12 cm-2 s-1 TeV-1, reference=1 TeV (f) |
| `PowerLaw2SpectralModel` | `pl-2` | amplitude=1e-12 cm-2 s-1, index=2, emin=0.1 TeV (f), emax=100 TeV (f) |
| `PowerLawNormSpectralModel` | `pl-norm` | tilt=0 (f), norm=1, reference=1 TeV (f) |
| `ExpCutoffPowerLawSpectralModel` | `ecpl` | index=1.5, amplitude=1e-12 cm-2 s-1 TeV-1, reference=1 TeV (f), lambda_=0.1 TeV-1, alpha=1 (f) |
| `LogParabolaSpectralModel` | `lp` | amplitude=1e-12 cm-2 s-1 TeV-1, reference=10 TeV (f), alpha=2, beta=1 |
| `ConstantSpectralModel` | `const` | const=1e-12 cm-2 s-1 TeV-1 |
| `TemplateSpectralModel` | `template` | none; `energy` and `values` tables, log-log interpolation |
| `CompoundSpectralModel` | `compound` | those of `model1` and `model2`; `operator` add, sub, mul or truediv |
| `ScaleSpectralModel` | `scale` | norm=1; a wrapped `model` (its parameters not exposed) |
| `PointSpatialModel` | `point` | lon_0=0 deg, lat_0=0 deg (in every spatial model but Constant; `frame`) |
| `GaussianSpatialModel` | `gauss` | sigma=1 deg, e=0 (f), phi=0 deg (f) |
| `GeneralizedGaussianSpatialModel` | `gauss-general` | r_0=1 deg, eta=0.5, e=0 (f), phi=0 deg (f) |
| `DiskSpatialModel` | `disk` | r_0=1 deg, e=0 (f), phi=0 deg (f), edge_width=0.01 (f) |
| `ShellSpatialModel` | `shell` | radius=1 deg, width=0.2 deg |
| `Shell2SpatialModel` | `shell2` | r_0=1 deg, eta=0.2 |
| `ConstantSpatialModel` | `const` | value=1 sr-1 (f) |
| `TemplateSpatialModel` | `template` | lon_0, lat_0 = map centre (f); a lazy map from `filename` |
| `ConstantTemporalModel` | `const` | none; ψ(t) = 1 |
| `LinearTemporalModel` | `linear` | alpha=1, beta=0 d-1, t_ref=51544 d (f) |
| `ExpDecayTemporalModel` | `exp-decay` | t0=1 d, t_ref=51544 d (f) |
| `GaussianTemporalModel` | `gauss` | t_ref=51544 d, sigma=1 d |
| `GeneralizedGaussianTemporalModel` | `gengauss` | t_ref=51544 d, t_rise=1 d, t_decay=1 d, eta=0.5 |
| `PowerLawTemporalModel` | `powerlaw` | alpha=1, t_ref=51544 d (f), t0=1 d (f) |
| `SineTemporalModel` | `sinus` | amp=1, omega=1 rad d-1, t_ref=51544 d |
| `LightCurveTemplateTemporalModel` | `template` | t_ref=51544 d (f; the file's); a light curve from `filename` (`format` table or map) |
| `TemplatePhaseCurveTemporalModel` | `template-phase` | t_ref=48442.5 d (f), phi_ref=0 (f), f0=29.946923 s-1 (f), f1=0 s-2 (f), f2=0 s-3 (f); a `PHASE`/`NORM` table from `filename` |
| `SkyModel` | `sky-model` | spectral × spatial (× temporal) model; npred scales the flux by the temporal model's mean over the dataset's GTIs |
| `FoVBackgroundModel` | `fov-bkg` | a norm spectral model (default `PowerLawNormSpectralModel`) |
| `TemplateNPredModel` | `TemplateNPredModel` | a norm spectral model (default `PowerLawNormSpectralModel`, tilt (f)) scaling a predicted-counts map |
"""  # noqa: E501 (the table is meant to be copied as is)

from .catalogue_fit import CatalogueFit, CatalogueFitResult
from .covariance import Covariance
from .fit import CovarianceResult, Fit, FitResult, OptimizeResult
from .parameter import Parameter, Parameters
from .priors import PriorParameter

__all__ = [
    "CatalogueFit",
    "CatalogueFitResult",
    "Covariance",
    "CovarianceResult",
    "Fit",
    "FitResult",
    "OptimizeResult",
    "Parameter",
    "Parameters",
    "PriorParameter",
]
