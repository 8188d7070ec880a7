"""info_dict and __str__ against gammapy; one dask computation; lazy values."""

from __future__ import annotations

import dask
import gammapy.datasets
import gammapy.modeling.models as gp_models
import numpy as np
import pytest
from dask.delayed import Delayed

import mapds.modeling.models as md_models
from mapds.datasets import Datasets
from mapds.datasets.summary import INFO_KEYS
from mapds.testing import GAMMAPY, MAPDS, assert_info_same

CRAB = "Fermi-LAT-3FHL_data_Fermi-LAT.fits"


def _models(lib, dataset_name, signal=True, background=True):
    models = []
    if signal:
        models.append(
            lib.SkyModel(
                spectral_model=lib.PowerLawSpectralModel(index=2.2, amplitude="3e-11 cm-2 s-1 TeV-1"),
                spatial_model=lib.GaussianSpatialModel(
                    lon_0="0.2 deg", lat_0="-0.1 deg", sigma="0.2 deg", frame="galactic"
                ),
                name="src",
            )
        )
    if background:
        bkg = lib.FoVBackgroundModel(dataset_name=dataset_name)
        bkg.spectral_model.norm.value = 1.1
        bkg.spectral_model.tilt.value = 0.1
        models.append(bkg)
    return models


CASES = {
    "all members": {},
    "no livetime": {"livetime": False},
    "background only": {"models": "background"},
    "no models": {"models": None},
    "no background": {"drop": ["background"], "models": "signal"},
    "no masks": {"drop": ["mask_safe", "mask_fit"]},
    "no exposure": {"drop": ["exposure"], "models": None},
}


def _pair(dataset_pair, case):
    options = dict(CASES[case])
    drop = options.pop("drop", [])
    models = options.pop("models", "both")
    gp, md = dataset_pair(seed=3, **options)
    for dataset, lib in ((gp, gp_models), (md, md_models)):
        for member in drop:
            setattr(dataset, member, None)
        if models is not None:
            signal, background = models in ("both", "signal"), models in ("both", "background")
            dataset.models = _models(lib, dataset.name, signal=signal, background=background)
    return gp, md


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("in_safe_data_range", [True, False])
def test_info_dict_matches_gammapy(dataset_pair, case, in_safe_data_range):
    gp, md = _pair(dataset_pair, case)
    assert_info_same(md.info_dict(in_safe_data_range), gp.info_dict(in_safe_data_range))


def test_info_dict_of_created_dataset_matches_gammapy():
    def create(ns):
        energy = ns.MapAxis.from_energy_bounds(1, 10, 3, unit="TeV")
        geom = ns.WcsGeom.create(npix=(20, 15), binsz=0.1, skydir=(0, 0), frame="galactic", axes=[energy])
        return ns.MapDataset.create(geom, name="e")

    gp, md = create(GAMMAPY), create(MAPDS)
    assert_info_same(md.info_dict(), gp.info_dict())


def test_crab_info_dict_and_str_match_gammapy(crab_dir):
    models = crab_dir / "Fermi-LAT-3FHL_models.yaml"
    with pytest.warns(UserWarning, match="Checksum"):
        gp = gammapy.datasets.Datasets.read(crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=models)
    with pytest.warns(UserWarning, match="Checksum"):
        md = Datasets.read(crab_dir / "Fermi-LAT-3FHL_datasets.yaml", filename_models=models)
    assert_info_same(md[0].info_dict(), gp[0].info_dict())
    # the text up to the model listing is gammapy's, character for character
    head = "Number of free parameters"
    md_text, gp_text = str(md[0]), str(gp[0])
    assert md_text[: md_text.index(head) + 40] == gp_text[: gp_text.index(head) + 40]


def test_info_dict_is_one_computation(dataset_pair, raise_if_dask_computes):
    _, md = _pair(dataset_pair, "all members")
    md.info_dict()  # IRF lookups of the evaluators happen once, at the first evaluation
    with raise_if_dask_computes(max_computes=1):
        md.info_dict()


def test_info_dict_compute_false_is_lazy(dataset_pair, raise_if_dask_computes):
    gp, md = _pair(dataset_pair, "all members")
    with raise_if_dask_computes():
        info = md.info_dict(compute=False)
    assert list(info) == list(INFO_KEYS)
    assert isinstance(info["counts"], Delayed) and isinstance(info["stat_sum"], Delayed)
    assert info["name"] == "ds" and info["stat_type"] == "cash"
    with raise_if_dask_computes(max_computes=1):
        (computed,) = dask.compute(info)
    assert_info_same(computed, gp.info_dict())


def test_info_table(dataset_pair):
    pairs = [dataset_pair(seed=seed, name=f"ds{seed}") for seed in range(3)]
    gp = gammapy.datasets.Datasets([p[0] for p in pairs])
    md = Datasets([p[1] for p in pairs])
    gp_table, md_table = gp.info_table(), md.info_table()
    assert md_table.colnames == gp_table.colnames == list(INFO_KEYS)
    for name in gp_table.colnames:
        expected, values = gp_table[name], md_table[name]
        assert getattr(values, "unit", None) == getattr(expected, "unit", None), name
        if expected.dtype.kind in "US":
            assert list(values) == list(expected), name
        else:
            np.testing.assert_allclose(np.asarray(values), np.asarray(expected), rtol=1e-6, err_msg=name)
