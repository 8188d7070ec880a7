"""Diffuse emission as Fermi-LAT and IACT analyses model it: map-cube templates in flux-density
units with a true-energy axis, and isotropic table spectra, against gammapy on identical inputs."""

from __future__ import annotations

import warnings

import astropy.units as u
import gammapy.datasets
import gammapy.maps
import gammapy.modeling.models as gp_models
import numpy as np
import pytest

import mapds.maps
import mapds.modeling.models as md_models
from mapds.datasets import MapDataset
from mapds.errors import CorruptFileError, GeometryMismatchError, ModelError
from mapds.testing import GAMMAPY, MAPDS, assert_close, build_dataset, image_bytes_read

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LIBRARIES = {"gammapy": (gammapy.maps, gp_models), "mapds": (mapds.maps, md_models)}


def _template_values() -> tuple[np.ndarray, np.ndarray]:
    """A smooth positive cube ``(energy, lat, lon)`` falling as E^-2.7, and its energy nodes (TeV)."""
    energy = np.geomspace(0.3, 30, 7)
    lon = np.linspace(-1.5, 1.5, 16)
    lat = np.linspace(-1.2, 1.2, 13)
    spatial = np.exp(-0.5 * (lat[:, None] / 0.8) ** 2) * (1.2 + np.cos(lon[None, :]))
    return 1e-9 * energy[:, None, None] ** -2.7 * spatial, energy


def _template_map(library: str, unit: str):
    maps, _ = LIBRARIES[library]
    values, energy = _template_values()
    axis = maps.MapAxis.from_nodes(energy, unit="TeV", name="energy_true", interp="log")
    geom = maps.WcsGeom.create(skydir=(0, 0), binsz=0.2, npix=(16, 13), frame="galactic", axes=[axis])
    return maps.Map.from_geom(geom, data=values.astype(np.float32), unit=unit)


def _diffuse_model(library: str, normalize: bool, unit: str):
    _, models = LIBRARIES[library]
    template_map = _template_map(library, unit)
    template = models.TemplateSpatialModel(template_map, normalize=normalize, filename="t.fits")
    if normalize:
        spectral = models.PowerLawSpectralModel(index=2.4, amplitude="3e-11 cm-2 s-1 TeV-1")
    else:
        spectral = models.PowerLawNormSpectralModel(norm=1.3, tilt=0.1)
    return models.SkyModel(spectral, template, name="diffuse")


def _with_models(dataset, *models):
    _, module = LIBRARIES["gammapy" if dataset.__module__.startswith("gammapy") else "mapds"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.models = module.Models([*models, module.FoVBackgroundModel(dataset_name=dataset.name)])
    return dataset


@pytest.mark.parametrize(
    ("normalize", "unit"),
    [
        (False, "cm-2 s-1 TeV-1 sr-1"),
        (False, "cm-2 s-1 MeV-1 sr-1"),
        (True, "cm-2 s-1 TeV-1 sr-1"),
        (True, ""),
    ],
    ids=["flux-TeV", "flux-MeV", "normalized", "normalized-unitless"],
)
def test_map_cube_template_matches_gammapy(normalize, unit):
    gp = _with_models(build_dataset(GAMMAPY, 0), _diffuse_model("gammapy", normalize, unit))
    md = _with_models(build_dataset(MAPDS, 0), _diffuse_model("mapds", normalize, unit))
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_template_interp_kwargs_match_gammapy():
    """Nearest-neighbour interpolation and extrapolation instead of zeros outside the template."""
    interp = {"method": "nearest", "fill_value": None}
    models = []
    for library in ("gammapy", "mapds"):
        model = _diffuse_model(library, False, "cm-2 s-1 TeV-1 sr-1")
        _, module = LIBRARIES[library]
        template = module.TemplateSpatialModel(model.spatial_model.map, normalize=False, interp_kwargs=interp)
        models.append(module.SkyModel(model.spectral_model, template, name="diffuse"))
    gp = _with_models(build_dataset(GAMMAPY, 0), models[0])
    md = _with_models(build_dataset(MAPDS, 0), models[1])
    assert_close(md.npred_signal(), gp.npred_signal())


def _write_isotropic(path) -> None:
    energy = np.geomspace(50, 8e5, 25)  # MeV, as Fermi's iso_*.txt
    flux = 1e-6 * energy**-2.2
    np.savetxt(path, np.column_stack([energy, flux, 0.1 * flux]))


def test_isotropic_table_spectrum_matches_gammapy(tmp_path):
    filename = tmp_path / "iso_test.txt"
    _write_isotropic(filename)
    gp_iso = gp_models.create_fermi_isotropic_diffuse_model(filename, datasets_names=["ds"])
    md_iso = md_models.create_fermi_isotropic_diffuse_model(filename, datasets_names=["ds"])
    assert md_iso.name == gp_iso.name == "isotropic_ds"
    energy = u.Quantity([0.01, 1, 7, 5e3], "TeV")  # below, inside and beyond the table
    np.testing.assert_allclose(md_iso.spectral_model(energy), gp_iso.spectral_model(energy), rtol=1e-10)
    flux = "cm-2 s-1 TeV-1 sr-1"
    gp = _with_models(build_dataset(GAMMAPY, 0), gp_iso, _diffuse_model("gammapy", False, flux))
    md = _with_models(build_dataset(MAPDS, 0), md_iso, _diffuse_model("mapds", False, flux))
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_spectrum_tables_from_fits_and_bad_files(tmp_path):
    from astropy.table import Table

    energy = u.Quantity([0.1, 1.0, 10.0], "TeV")
    values = u.Quantity([1e-10, 1e-12, 1e-14], "cm-2 s-1 TeV-1")
    Table([energy, values], names=["ENERGY", "FLUX"]).write(tmp_path / "spec.fits")
    model = md_models.TemplateSpectralModel.read_table(tmp_path / "spec.fits")
    assert model(1 * u.TeV).to_value("cm-2 s-1 TeV-1") == pytest.approx(1e-12)
    (tmp_path / "bad.txt").write_text("energy flux\n1 2\n")
    with pytest.raises(CorruptFileError, match=r"bad\.txt"):
        md_models.TemplateSpectralModel.read_table(tmp_path / "bad.txt")


def test_models_yaml_with_a_template_and_an_isotropic_spectrum_both_ways(tmp_path, monkeypatch):
    """mapds writes the models (templates to FITS beside them); gammapy reads them, and back."""
    monkeypatch.chdir(tmp_path)  # gammapy writes templates named relatively into the working directory
    _write_isotropic(tmp_path / "iso.txt")
    template = _template_map("mapds", "cm-2 s-1 TeV-1 sr-1")
    template.write(tmp_path / "diffuse.fits.gz")  # gzip: read back through the zarr cache
    diffuse = md_models.SkyModel(
        md_models.PowerLawNormSpectralModel(norm=0.9),
        md_models.TemplateSpatialModel.read(tmp_path / "diffuse.fits.gz", normalize=False),
        name="diffuse",
    )
    iso = md_models.create_fermi_isotropic_diffuse_model(tmp_path / "iso.txt", datasets_names=["ds"])
    md_models.Models([diffuse, iso]).write(tmp_path / "models.yaml")
    gp = _with_models(build_dataset(GAMMAPY, 0), *gp_models.Models.read(tmp_path / "models.yaml"))
    md = _with_models(build_dataset(MAPDS, 0), *md_models.Models.read(tmp_path / "models.yaml"))
    assert_close(md.npred_signal(), gp.npred_signal())
    gp_models.Models([gp.models["diffuse"], gp.models["isotropic_ds"]]).write(tmp_path / "gammapy.yaml")
    again = _with_models(build_dataset(MAPDS, 0), *md_models.Models.read(tmp_path / "gammapy.yaml"))
    assert_close(again.npred_signal(), gp.npred_signal())


def test_fermi_galactic_diffuse_cube_on_the_crab_dataset(crab_dir):
    """The Fermi-LAT Galactic diffuse cube shipped with the Crab dataset (1 / (cm2 MeV s sr))."""
    data, iem = crab_dir / "Fermi-LAT-3FHL_data_Fermi-LAT.fits", crab_dir / "Fermi-LAT-3FHL_iem.fits"
    datasets = []
    for library, dataset_class in (("gammapy", gammapy.datasets.MapDataset), ("mapds", MapDataset)):
        maps, models = LIBRARIES[library]
        template = models.TemplateSpatialModel(maps.Map.read(iem), normalize=False, filename=str(iem))
        dataset = dataset_class.read(data, name="Fermi-LAT")
        datasets.append(_with_models(dataset, models.SkyModel(models.PowerLawNormSpectralModel(), template)))
    gp, md = datasets
    assert md.models[0].spatial_model.map.unit == u.Unit("cm-2 s-1 MeV-1 sr-1")
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)


def test_a_large_template_is_read_only_around_the_dataset(tmp_path, counting_fs, raise_if_dask_computes):
    """A 3-D template much larger than the dataset: building npred reads no template pixel, and
    computing it reads a small part of the file."""
    values, energy = _template_values()
    axis = mapds.maps.MapAxis.from_nodes(energy, unit="TeV", name="energy_true", interp="log")
    geom = mapds.maps.WcsGeom.create(
        skydir=(0, 0), binsz=0.05, npix=(1200, 400), frame="galactic", axes=[axis]
    )
    lon = np.linspace(-30, 30, 1200)
    cube = values[:, :1, :1] * (1.5 + np.cos(lon / 3))[None, None, :] * np.ones((1, 400, 1))
    mapds.maps.Map.from_geom(geom, data=cube.astype(np.float32), unit="cm-2 s-1 TeV-1 sr-1").write(
        tmp_path / "large.fits"
    )
    counting_fs.reset()
    template = md_models.TemplateSpatialModel.read(f"countfile://{tmp_path / 'large.fits'}", normalize=False)
    dataset = _with_models(
        build_dataset(MAPDS, 0), md_models.SkyModel(md_models.PowerLawNormSpectralModel(), template)
    )
    with raise_if_dask_computes():
        npred = dataset.npred_signal()
    assert image_bytes_read(counting_fs, tmp_path / "large.fits") == 0
    assert float(npred.data.sum().compute()) > 0
    read = image_bytes_read(counting_fs, tmp_path / "large.fits")
    assert 0 < read < cube.nbytes / 2 // 10  # float32 on disk: a tenth of the file at most


def _npred_template(library: str, dataset, with_spatial: bool = False):
    _, module = LIBRARIES[library]
    template = dataset.background.copy(data=0.3 * np.asarray(dataset.background.data, dtype=float))
    spatial = module.ConstantSpatialModel() if with_spatial else None
    spectral = module.PowerLawNormSpectralModel(norm=1.2, tilt=0.1)
    return module.TemplateNPredModel(
        template, spectral_model=spectral, spatial_model=spatial, name="tpl", datasets_names=[dataset.name]
    )


@pytest.mark.parametrize("with_spatial", [False, True], ids=["spectral", "spatial-norm"])
def test_template_npred_model_matches_gammapy(with_spatial, tmp_path):
    gp, md = build_dataset(GAMMAPY, 0), build_dataset(MAPDS, 0)
    flux = "cm-2 s-1 TeV-1 sr-1"
    gp_template = _npred_template("gammapy", gp, with_spatial)
    gp = _with_models(gp, gp_template, _diffuse_model("gammapy", False, flux))
    md = _with_models(md, _npred_template("mapds", md, with_spatial), _diffuse_model("mapds", False, flux))
    assert md.models["tpl"].parameters.names == gp.models["tpl"].parameters.names
    assert_close(md.npred_signal(), gp.npred_signal())
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)
    for dataset in (gp, md):
        dataset.models["tpl"].spectral_model.norm.value = 0.7  # the statistic follows the norm
    assert md.stat_sum() == pytest.approx(gp.stat_sum(), rel=1e-6)
    # YAML both ways: mapds writes the model and its map; gammapy reads them
    md.models["tpl"].filename = str(tmp_path / "tpl.fits")
    md_models.Models([md.models["tpl"]]).write(tmp_path / "models.yaml")
    read = gp_models.Models.read(tmp_path / "models.yaml")["tpl"]
    assert read.spectral_model.norm.value == 0.7
    np.testing.assert_allclose(read.evaluate().data, np.asarray(md.models["tpl"].evaluate().data), rtol=1e-6)
    again = md_models.Models.read(tmp_path / "models.yaml")["tpl"]
    assert again.datasets_names == ["ds"] and again.spectral_model.tilt.value == pytest.approx(0.1)


def test_template_npred_model_needs_the_counts_grid():
    md = build_dataset(MAPDS, 0)
    small = md.background.slice_by_idx({"x": slice(0, 5)})
    with pytest.raises(GeometryMismatchError, match="not on the dataset's counts grid"):
        _with_models(md, md_models.TemplateNPredModel(small, name="tpl")).npred()
    with pytest.raises(ModelError, match="energy"):
        md_models.TemplateNPredModel(md.exposure, name="tpl")
