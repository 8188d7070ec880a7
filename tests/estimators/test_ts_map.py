"""TSMapEstimator against gammapy 2.1 on the twin datasets, the vectorised fit, and the graph."""

from __future__ import annotations

import warnings

import astropy.units as u
import numpy as np
import pytest

from mapds.estimators import FluxMaps, TSMapEstimator
from mapds.estimators.ts_fit import fit_amplitude
from mapds.testing import build_dataset, raise_if_dask_computes

gammapy_estimators = pytest.importorskip("gammapy.estimators")

NPIX = (40, 36)
QUANTITIES = ["ts", "norm", "niter", "norm_err", "npred", "npred_excess", "stat", "stat_null", "success"]
#: Quantities compared (niter: gammapy counts Brent iterations, mapds Newton steps).
COMPARED = [*(name for name in QUANTITIES if name != "niter"), "sqrt_ts", "flux", "flux_err", "dnde"]


def _pair():
    return build_dataset("gammapy", 0, npix=NPIX), build_dataset("mapds", 0, npix=NPIX)


def _assert_map_close(md_map, gp_map, rtol, what):
    expected, actual = np.asarray(gp_map.data), np.asarray(md_map.data)
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    assert md_map.unit == gp_map.unit, what
    np.testing.assert_allclose(md_map.geom.axes["energy"].edges, gp_map.geom.axes["energy"].edges, rtol=1e-12)
    if actual.dtype == bool:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=rtol, err_msg=what)


CASES = {
    "default": {},
    "energy-edges": {"energy_edges": [1, 3, 10] * u.TeV},
    "cube-fit": {"sum_over_energy_groups": False},
    "kernel-width-sigma": {"kernel_width": "0.7 deg", "n_sigma": 2},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ts_map_matches_gammapy_converged(case):
    """With a tight rtol gammapy's Brent root is converged: every quantity agrees closely."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, **CASES[case]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    result = TSMapEstimator(**kwargs).run(md).compute()
    assert result.available_quantities == expected.available_quantities == QUANTITIES
    for name in COMPARED:
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


def test_ts_map_gaussian_kernel_matches_gammapy():
    """A Gaussian source's kernel (the model convolved with the PSF) and its fit, as gammapy's."""
    import gammapy.modeling.models as gp_models

    from mapds.modeling import models as md_models

    def kernel_model(library):
        return library.SkyModel(
            spatial_model=library.GaussianSpatialModel(sigma="0.1 deg"),
            spectral_model=library.PowerLawSpectralModel(index=2.5),
        )

    gp, md = _pair()
    kwargs = {"rtol": 1e-6, "kernel_width": "0.6 deg", "selection_optional": ["ul"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = gammapy_estimators.TSMapEstimator(kernel_model=kernel_model(gp_models), **kwargs)
        expected_kernel = estimator.estimate_kernel(gp)
        expected = estimator.run(gp)
    ours = TSMapEstimator(kernel_model=kernel_model(md_models), **kwargs)
    np.testing.assert_allclose(ours.estimate_kernel(md).data, expected_kernel.data, rtol=1e-5, atol=1e-12)
    result = ours.run(md).compute()
    for name in [*COMPARED, "norm_ul"]:
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


@pytest.mark.parametrize("options", [{"energy_edges": [1, 3, 10] * u.TeV}, {"downsampling_factor": 2}])
def test_ts_map_reshaped_datasets_keep_the_models(options):
    """Energy slices and downsampled datasets are fitted over the npred of the dataset's models
    (here a FoV background norm of 1.3), as gammapy does: the slices once lost them."""
    from gammapy.modeling.models import FoVBackgroundModel as GammapyFoVBackgroundModel

    from mapds.modeling.models import FoVBackgroundModel

    gp, md = _pair()
    for dataset, cls in ((gp, GammapyFoVBackgroundModel), (md, FoVBackgroundModel)):
        model = cls(dataset_name=dataset.name)
        model.spectral_model.norm.value = 1.3
        dataset.models = [model]
    kwargs = {"rtol": 1e-6, **options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    result = TSMapEstimator(**kwargs).run(md).compute()
    for name in ("ts", "norm", "npred", "stat_null"):
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


@pytest.mark.parametrize("kwargs", [{}, {"n_sigma_sensitivity": 3, "sum_over_energy_groups": False}])
def test_ts_map_sensitivity_matches_gammapy(kwargs):
    """``selection_optional=["sensitivity"]``: the norm whose Asimov dataset reaches
    ``n_sigma_sensitivity``, NaN where gammapy's bracket has no root."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, "selection_optional": ["sensitivity", "ul"], **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = gammapy_estimators.TSMapEstimator(**kwargs)
        # gammapy 2.1 does not hand n_sigma_sensitivity to its per-pixel estimator (always 5)
        reference._flux_estimator.n_sigma_sensitivity = reference.n_sigma_sensitivity
        expected = reference.run(gp)
    estimator = TSMapEstimator(**kwargs)
    result = estimator.run(md).compute()
    assert result.available_quantities == expected.available_quantities == estimator.selection_all
    assert estimator.selection_all[-2:] == ["norm_ul", "norm_sensitivity"]
    for name in ("norm_sensitivity", "flux_sensitivity", "dnde_sensitivity", "norm_ul", "norm"):
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)
    sensitivity, norm = np.asarray(result["norm_sensitivity"].data), np.asarray(result["norm"].data)
    assert (sensitivity[norm > 0.01] > 0).all()


def test_kernel_model_is_gammapy_21s_name():
    from astropy.utils.exceptions import AstropyDeprecationWarning

    from mapds.modeling.models import GaussianSpatialModel, PowerLawSpectralModel, SkyModel

    model = SkyModel(
        spatial_model=GaussianSpatialModel(sigma="0.1 deg"), spectral_model=PowerLawSpectralModel()
    )
    assert TSMapEstimator(model).kernel_model is model
    with pytest.warns(AstropyDeprecationWarning, match="kernel_model"):
        assert TSMapEstimator(model=model).kernel_model is model
    with pytest.raises(TypeError, match="kernel"):
        TSMapEstimator(kernel=model)


@pytest.mark.parametrize("kwargs", [{}, {"n_sigma_ul": 3, "sum_over_energy_groups": False}])
def test_ts_map_upper_limits_match_gammapy(kwargs):
    """``selection_optional=["ul"]``: gammapy's profile-likelihood root above the norm."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, "selection_optional": ["ul"], **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    estimator = TSMapEstimator(**kwargs)
    result = estimator.run(md).compute()
    assert estimator.selection_all == [*QUANTITIES, "norm_ul"]
    assert result.available_quantities == expected.available_quantities == [*QUANTITIES, "norm_ul"]
    for name in ("norm_ul", "flux_ul", "dnde_ul", "ts", "norm"):
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)
    ul, norm = np.asarray(result["norm_ul"].data), np.asarray(result["norm"].data)
    assert np.isfinite(ul).sum() > 0.9 * ul.size
    assert (ul[np.isfinite(ul)] > norm[np.isfinite(ul)]).all()


@pytest.mark.parametrize("kwargs", [{}, {"n_sigma": 2, "sum_over_energy_groups": False}])
def test_ts_map_errn_errp_match_gammapy(kwargs):
    """``selection_optional=["errn-errp"]``: gammapy's profile-likelihood roots on both sides."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, "selection_optional": ["errn-errp", "ul"], **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    estimator = TSMapEstimator(**kwargs)
    result = estimator.run(md).compute()
    names = [*QUANTITIES, "norm_errp", "norm_errn", "norm_ul"]
    assert estimator.selection_all == result.available_quantities == expected.available_quantities == names
    for name in ("norm_errp", "norm_errn", "flux_errp", "flux_errn", "norm_ul", "norm"):
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


THRESHOLD_CASES = {
    "summed": {"threshold": 60, "selection_optional": ["ul", "errn-errp"]},
    "cube-edges": {"threshold": 20, "energy_edges": [1, 3, 10] * u.TeV, "sum_over_energy_groups": False},
}


@pytest.mark.parametrize("case", sorted(THRESHOLD_CASES))
def test_ts_map_threshold_matches_gammapy(case):
    """``threshold``: gammapy keeps its initial norm (``niter`` 0) where its TS is not above."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, **THRESHOLD_CASES[case]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    result = TSMapEstimator(**kwargs).run(md).compute()
    assert result.available_quantities == expected.available_quantities
    skipped = np.asarray(expected["niter"].data) == 0
    assert 0.2 * skipped.size < skipped.sum() < 0.9 * skipped.size
    np.testing.assert_array_equal(np.asarray(result["niter"].data) == 0, skipped)
    for name in [*COMPARED, *expected.available_quantities[len(QUANTITIES) :]]:
        _assert_map_close(result[name], expected[name], rtol=1e-5, what=name)


DOWNSAMPLING_CASES = {
    "factor-2": {"downsampling_factor": 2, "kernel_width": "0.7 deg", "selection_optional": ["ul"]},
    "factor-4-edges-threshold": {
        "downsampling_factor": 4,
        "energy_edges": [1, 3, 10] * u.TeV,
        "selection_optional": ["errn-errp"],
        "threshold": 30,
    },
}


@pytest.mark.parametrize("case", sorted(DOWNSAMPLING_CASES))
def test_ts_map_downsampling_matches_gammapy(case):
    """``downsampling_factor``: padded, downsampled, fitted, upsampled and cropped as gammapy."""
    gp, md = _pair()
    kwargs = {"rtol": 1e-6, **DOWNSAMPLING_CASES[case]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator(**kwargs).run(gp)
    with raise_if_dask_computes(max_computes=16):  # the kernels only
        result = TSMapEstimator(**kwargs).run(md)
    result = result.compute()
    assert result.available_quantities == expected.available_quantities
    for name in [*COMPARED, "niter", *expected.available_quantities[len(QUANTITIES) :]]:
        rtol = 0 if name == "niter" else 1e-5
        if name == "niter":  # Newton steps against Brent's iterations: only where fitted
            np.testing.assert_array_equal(np.isnan(result[name].data), np.isnan(expected[name].data))
            continue
        _assert_map_close(result[name], expected[name], rtol=rtol, what=name)


def test_ts_map_default_rtol():
    """gammapy stops at rtol=0.01 (its norm is off by up to ~0.5 %); ts is flat at the optimum."""
    gp, md = _pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = gammapy_estimators.TSMapEstimator().run(gp)
    result = TSMapEstimator().run(md).compute()
    for name in ("ts", "sqrt_ts", "stat", "stat_null", "success"):
        _assert_map_close(result[name], expected[name], rtol=1e-4, what=name)
    for name in ("norm", "norm_err", "flux", "npred"):
        _assert_map_close(result[name], expected[name], rtol=1e-2, what=name)
    assert result.meta == {**expected.meta, "sed_type_init": "likelihood"}


def test_kernel_matches_gammapy():
    gp, md = _pair()
    for width in (None, "0.7 deg"):
        expected = gammapy_estimators.TSMapEstimator(kernel_width=width).estimate_kernel(gp)
        result = TSMapEstimator(kernel_width=width).estimate_kernel(md)
        np.testing.assert_allclose(np.asarray(result.data), expected.data, rtol=1e-6, atol=1e-12)


def test_kernel_exposure_nearest_valid_pixel():
    """Without exposure at the map centre, the kernel takes the nearest pixel's with some."""
    gp, md = _pair()
    data = np.array(gp.exposure.data)
    centre = tuple(n // 2 for n in data.shape[1:])
    data[:, centre[0] - 2 : centre[0] + 3, centre[1] - 2 : centre[1] + 3] = 0
    gp.exposure.data = data
    md.exposure = md.exposure.copy(data=data)
    expected = gammapy_estimators.TSMapEstimator(kernel_width="0.7 deg").estimate_kernel(gp)
    result = TSMapEstimator(kernel_width="0.7 deg").estimate_kernel(md)
    np.testing.assert_allclose(np.asarray(result.data), expected.data, rtol=1e-6, atol=1e-12)


def test_chunked_equals_unchunked(monkeypatch):
    """Fit tiles (whatever the data's chunks) with their halos give the values of one tile over
    the whole map."""
    from mapds.estimators import ts_map

    md = build_dataset("mapds", 0, npix=NPIX)
    estimator = TSMapEstimator(kernel_width="1 deg")
    monkeypatch.setattr(ts_map, "FIT_TILE_PIXELS", 300)
    tiled = estimator.run(md.rechunk({"x": -1, "y": -1}))
    assert tiled["ts"].dask_data.npartitions > 1
    tiled = tiled.compute()
    monkeypatch.setattr(ts_map, "FIT_TILE_PIXELS", 10**12)
    whole = estimator.run(md.rechunk({"x": 16, "y": 12}))
    assert whole["ts"].dask_data.npartitions == 1
    whole = whole.compute()
    for name in QUANTITIES:
        np.testing.assert_allclose(np.asarray(tiled[name].data), np.asarray(whole[name].data), rtol=1e-12)


def test_graph_computes_only_the_kernel():
    """Only the kernel is computed by ``run`` (the exposure's column at the centre and the model
    evaluation: small computations); the maps themselves are a lazy graph."""
    md = build_dataset("mapds", 0, npix=NPIX)
    with raise_if_dask_computes(max_computes=4) as counter:
        result = TSMapEstimator(kernel_width="1 deg").run(md)
    assert 0 < counter.count <= 4
    with raise_if_dask_computes():
        flux = result["flux_err"]
        result["sqrt_ts"]  # derived from ts and norm (not stored), lazily
    assert isinstance(result, FluxMaps)
    assert flux.unit == u.Unit("cm-2 s-1")


def test_fit_amplitude_matches_brentq_estimator():
    from gammapy.estimators.map.ts import BrentqFluxEstimator, SimpleMapDataset

    rng = np.random.default_rng(1)
    n, npix = 50, 20
    background = rng.uniform(0.1, 3, (n, npix))
    model = rng.uniform(0, 2, (n, npix))
    counts = rng.poisson(background + rng.uniform(0, 2, npix) * model).astype(float)
    counts[:, 0] = 0  # no counts: norm at its lower bound
    counts[:, 1] = rng.poisson(0.5 * background[:, 1])  # deficit: negative norm
    counts[:, 2] = 0
    counts[3, 2] = 1  # a single count: the lower bracket reaches far below norm_min_total
    result = fit_amplitude(counts, background, model, n_sigma=1, n_sigma_ul=2, errn_errp=True)
    options = ["ul", "errn-errp"]
    estimator = BrentqFluxEstimator(rtol=1e-8, n_sigma=1, n_sigma_ul=2, selection_optional=options)
    for i in range(npix):
        expected = estimator.run(SimpleMapDataset(model[:, i], counts[:, i], background[:, i], 1.0))
        for name in (
            "norm",
            "norm_err",
            "ts",
            "stat",
            "npred",
            "npred_excess",
            "norm_ul",
            "norm_errp",
            "norm_errn",
        ):
            np.testing.assert_allclose(result[name][i], expected[name], rtol=1e-6, err_msg=name)
        assert result["success"][i] == expected["success"]


def test_unsupported_options():
    for option in ("stat_scan", "all"):
        with pytest.raises(NotImplementedError, match="gammapy"):
            TSMapEstimator(selection_optional=[option])
    with pytest.raises(ValueError, match="not a valid method"):
        TSMapEstimator(selection_optional=["bogus"])
