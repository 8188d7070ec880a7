"""Predicted counts of sky models with a temporal model, over several GTIs, against gammapy.

gammapy multiplies a model's flux by the sum over the dataset's GTIs of its temporal model's
``integral`` (the mean of the model over the observation); so does mapds' model task.
"""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest
import scipy.integrate
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from gammapy.modeling import models as gammapy_models
from regions import CircleSkyRegion

from mapds.datasets.engine import tasks as tasks_module
from mapds.datasets.evaluator import MapEvaluator
from mapds.errors import InvalidArgumentError, ModelError
from mapds.modeling import models
from mapds.modeling.models.temporal import temporal_norm

from .conftest import GAMMAPY, MAPDS, build_dataset
from .test_evaluator import Calls
from .test_npred import assert_close

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T0 = 55555.0
#: Three GTIs of 0.2 to 0.6 d within two days (start offsets and lengths in days).
GTI_START, GTI_LENGTH = np.array([0.0, 0.4, 1.3]), np.array([0.2, 0.3, 0.6])
NODES, NORMS = np.array([-0.5, 0.3, 1.0, 2.2]), np.array([0.4, 1.5, 0.7, 0.2])
PHASE_TABLE = {"PHASE": [0.0, 0.3, 0.6, 1.0], "NORM": [1.0, 2.5, 0.5, 1.0]}
TEMPORAL = {
    "ConstantTemporalModel": {},
    "LinearTemporalModel": {"alpha": 0.8, "beta": "0.4 d-1", "t_ref": T0 * u.d},
    "ExpDecayTemporalModel": {"t0": "0.7 d", "t_ref": T0 * u.d},
    "GaussianTemporalModel": {"t_ref": (T0 + 0.5) * u.d, "sigma": "0.4 d"},
    "GeneralizedGaussianTemporalModel": {"t_ref": (T0 + 0.5) * u.d, "t_rise": "0.2 d", "t_decay": "0.6 d"},
    "PowerLawTemporalModel": {"alpha": -0.8, "t_ref": (T0 - 0.5) * u.d},
    "SineTemporalModel": {"amp": 0.6, "omega": "5 rad/d", "t_ref": T0 * u.d},
    "LightCurveTemplateTemporalModel": {},
    "TemplatePhaseCurveTemporalModel": {"t_ref": T0 * u.d, "f0": "3.3 d-1"},
}
#: gammapy 2.1's integral is wrong (sine) or fails on several intervals (phase curve): these are
#: checked against gammapy's steady prediction times the exact mean of gammapy's model.
EXACT_MEAN = ("SineTemporalModel", "TemplatePhaseCurveTemporalModel")


def _gti(ns, scale: str):
    start = Time(Time(T0 + GTI_START, format="mjd", scale="utc"), scale=scale)
    return ns.GTI.create(start, start + GTI_LENGTH * u.d)


def temporal_model(module, name: str):
    """The temporal model ``name`` of :data:`TEMPORAL` in ``module`` (mapds or gammapy's)."""
    if name == "LightCurveTemplateTemporalModel":
        ns = MAPDS if module is models else GAMMAPY
        axis = ns.MapAxis.from_nodes(NODES * u.d, name="time")
        curve = ns.RegionNDMap.create(region=None, axes=[axis], data=NORMS)
        return module.LightCurveTemplateTemporalModel(curve, t_ref=Time(T0, format="mjd"))
    if name == "TemplatePhaseCurveTemporalModel":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return module.TemplatePhaseCurveTemporalModel(Table(PHASE_TABLE), **TEMPORAL[name])
    return getattr(module, name)(**TEMPORAL[name])


def sky_model(module, temporal, spatial: bool = True):
    spatial_model = None
    if spatial:
        spatial_model = module.GaussianSpatialModel(
            lon_0="0.2 deg", lat_0="-0.1 deg", sigma="0.15 deg", frame="galactic"
        )
    amplitude = "2e-11 cm-2 s-1 TeV-1" if spatial else "1e-18 cm-2 s-1 TeV-1"
    spectral = module.PowerLawSpectralModel(index=2.4, amplitude=amplitude)
    return module.SkyModel(spectral, spatial_model, temporal, name="src")


def datasets(name: str | None, scale: str = "tt", spatial: bool = True):
    """gammapy's and mapds' dataset with the same GTIs (in ``scale``) and model."""
    out = []
    for ns, module in ((GAMMAPY, gammapy_models), (MAPDS, models)):
        dataset = build_dataset(ns, 0)
        dataset.gti = _gti(ns, scale)
        temporal = None if name is None else temporal_model(module, name)
        dataset.models = [sky_model(module, temporal, spatial)]
        out.append(dataset)
    return tuple(out)


def exact_mean(model) -> float:
    """The mean of gammapy's temporal ``model`` over the GTIs: trapezoids on a fine grid of its
    values (a relative error below 1e-8 for these curves)."""
    parameters = {par.name: par.quantity for par in model.parameters}
    total = 0.0
    for start, length in zip(GTI_START, GTI_LENGTH, strict=True):
        mjd = T0 + start + np.linspace(0, length, 200_001)
        values = model.evaluate(mjd * u.d, **parameters).to_value("")
        total += scipy.integrate.trapezoid(values, mjd)
    return total / GTI_LENGTH.sum()


@pytest.mark.parametrize("name", TEMPORAL)
def test_npred_signal_matches_gammapy(name):
    # UTC GTIs: gammapy's sampled integrals read the GTI's MJD numbers in the model's scale
    gp, md = datasets(name, scale="utc")
    npred = md.npred_signal()
    if name in EXACT_MEAN:
        steady, _ = datasets(None, scale="utc")
        factor = exact_mean(gp.models["src"].temporal_model)
        assert_close(npred, steady.npred_signal() * factor)
    else:
        assert_close(npred, gp.npred_signal())


@pytest.mark.parametrize("name", ["LinearTemporalModel", "GaussianTemporalModel"])
def test_npred_with_tt_gtis_matches_gammapy(name):
    gp, md = datasets(name)
    assert_close(md.npred_signal(), gp.npred_signal())


def test_global_mode_model_matches_gammapy():
    gp, md = datasets("ExpDecayTemporalModel", spatial=False)
    assert_close(md.npred_signal(), gp.npred_signal())


def test_spectrum_dataset_matches_gammapy():
    gp, md = datasets("GaussianTemporalModel")
    region = CircleSkyRegion(SkyCoord(0.2, -0.1, unit="deg", frame="galactic"), 0.3 * u.deg)
    spectra = []
    for dataset in (gp, md):
        dataset.mask_safe = dataset.mask_fit = None  # gammapy needs a mask uniform in the region
        spectrum = dataset.to_spectrum_dataset(region)
        spectrum.models = dataset.models
        spectra.append(spectrum)
    assert_close(spectra[1].npred_signal(), spectra[0].npred_signal())


def test_stat_sum_matches_gammapy():
    gp, md = datasets("GaussianTemporalModel")
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_temporal_parameter_changes_npred_but_keeps_the_spatial_cache(monkeypatch):
    gp, md = datasets("GaussianTemporalModel")
    md.stat_sum()
    spatial = Calls(monkeypatch, tasks_module.model_npred, "spatial_integral")
    for dataset in (gp, md):
        dataset.models["src"].temporal_model.sigma.value = 0.9
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)
    assert spatial.count == 0
    md.models["src"].spatial_model.sigma.value = 0.2
    md.stat_sum()
    assert spatial.count == 1


def test_npred_follows_the_dataset_gtis():
    """mapds reads the dataset's GTIs at each evaluation; gammapy's evaluators keep those the
    dataset had when its models were set (so they are set again here)."""
    gp, md = datasets("GaussianTemporalModel")
    md.stat_sum()
    start = Time(T0 + np.array([0.4, 0.9]), format="mjd", scale="tt")
    for dataset, ns in ((gp, GAMMAPY), (md, MAPDS)):
        dataset.gti = ns.GTI.create(start, start + [0.2, 0.1] * u.d)
    gp.models = gp.models
    assert_close(md.npred_signal(), gp.npred_signal())


def test_standalone_evaluator_scales_by_its_gtis():
    _, md = datasets(None)
    variable = sky_model(models, temporal_model(models, "GaussianTemporalModel"))
    steady = sky_model(models, None)
    scaled = MapEvaluator(variable, exposure=md.exposure, gti=md.gti).compute_npred()
    reference = MapEvaluator(steady, exposure=md.exposure).compute_npred()
    factor = temporal_norm(variable.temporal_model, md.gti).to_value("")
    np.testing.assert_allclose(np.asarray(scaled.data), np.asarray(reference.data) * factor, rtol=1e-12)


def test_missing_gtis_and_energy_dependent_curves_raise():
    """gammapy fails there too (``AttributeError`` without GTIs or with an empty GTI)."""
    _, md = datasets("GaussianTemporalModel")
    md.gti = None
    with pytest.raises(InvalidArgumentError, match=r"'src' has a temporal model.*no GTI"):
        md.npred()
    md.gti = MAPDS.GTI.create([] * u.s, [] * u.s)
    with pytest.raises(InvalidArgumentError, match="no GTI"):
        md.npred_signal()
    _, md = datasets(None)
    energy = MAPDS.MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=2, name="energy")
    time = MAPDS.MapAxis.from_nodes(NODES * u.d, name="time")
    curve = MAPDS.RegionNDMap.create(region=None, axes=[energy, time], data=np.ones((4, 2)))
    md.models = [sky_model(models, models.LightCurveTemplateTemporalModel(curve))]
    with pytest.raises(ModelError, match="energy-dependent temporal model"):
        md.npred_signal()
