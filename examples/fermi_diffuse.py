"""A Fermi-LAT-style analysis from YAML: a point source, the Galactic diffuse map cube and an
isotropic spectrum, fitted on the Crab dataset written by gammapy with its background map left out.

    python examples/fermi_diffuse.py path/to/fermi-3fhl-crab --output crab-diffuse

The models file is written the way gammapy users write them: files named through an environment
variable (``$FERMI_CRAB``) and relative to the YAML file.  The Galactic diffuse model is the
map cube shipped with the dataset (``Fermi-LAT-3FHL_iem.fits``, in ``cm-2 s-1 MeV-1 sr-1`` with a
true-energy axis) times a free norm; the isotropic spectrum is a stand-in table written by this
script (Fermi's ``iso_*.txt`` is not part of the test data), read by
``create_fermi_isotropic_diffuse_model``.  As in gammapy's Fermi-LAT tutorial the diffuse models
replace the background map (the dataset's is dropped).  The fit frees the Crab's spectrum and the
two diffuse norms (bounded at 0), writes the fit result (gammapy's format) and a residuals figure.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import astropy.units as u
import numpy as np

from mapds.datasets import Datasets
from mapds.modeling import Fit
from mapds.modeling.models import Models, create_fermi_isotropic_diffuse_model

DATASETS_YAML = """datasets:
- name: Fermi-LAT
  type: MapDataset
  filename: $FERMI_CRAB/Fermi-LAT-3FHL_data_Fermi-LAT.fits
"""

DIFFUSE_YAML = """-   name: galactic-diffuse
    type: SkyModel
    spectral:
        type: PowerLawNormSpectralModel
        parameters:
        -   name: norm
            value: 1.0
        -   name: tilt
            value: 0.0
            frozen: true
    spatial:
        type: TemplateSpatialModel
        frame: galactic
        filename: $FERMI_CRAB/Fermi-LAT-3FHL_iem.fits
        normalize: false
        unit: 1 / (cm2 MeV s sr)
"""


def write_isotropic_table(path: Path) -> None:
    """A stand-in for Fermi's isotropic spectrum: 1e-9 (E / 1 GeV)^-2.3 MeV⁻¹ s⁻¹ cm⁻² sr⁻¹, about
    Fermi-LAT's level at 1 GeV (Fermi's columns: energy in MeV, dN/dE, its uncertainty)."""
    energy = np.geomspace(30, 1e6, 40)
    flux = 1e-9 * (energy / 1e3) ** -2.3
    np.savetxt(path, np.column_stack([energy, flux, 0.05 * flux]), header="E [MeV]  dN/dE  error")


def write_analysis_files(directory: Path, output: Path) -> tuple[Path, Path]:
    """The datasets and models YAML of the analysis (models relative to their file)."""
    os.environ["FERMI_CRAB"] = str(directory.resolve())
    output.mkdir(parents=True, exist_ok=True)
    write_isotropic_table(output / "iso_stand_in.txt")
    crab = Models.read(directory / "Fermi-LAT-3FHL_models.yaml")
    iso = create_fermi_isotropic_diffuse_model(output / "iso_stand_in.txt", datasets_names=["Fermi-LAT"])
    models = Models([crab["Crab Nebula"], iso])
    text = models.to_yaml().replace("components:\n", "components:\n" + DIFFUSE_YAML, 1)
    (output / "models.yaml").write_text(text)
    (output / "datasets.yaml").write_text(DATASETS_YAML)
    return output / "datasets.yaml", output / "models.yaml"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="the fermi-3fhl-crab directory (gammapy's files)")
    parser.add_argument("--output", type=Path, default=Path("crab-diffuse"), help="where results go")
    args = parser.parse_args(argv)

    datasets_yaml, models_yaml = write_analysis_files(args.directory, args.output)
    datasets = Datasets.read(datasets_yaml, filename_models=models_yaml, checksum=False)
    datasets[0].background = None  # the diffuse models are the background
    models = datasets.models
    crab = models["Crab Nebula"].spectral_model
    # reference at 50 GeV, inside the data (see examples/fit_crab.py), the amplitude its value there
    crab.amplitude.quantity = crab(50 * u.GeV)
    crab.reference.quantity = 50 * u.GeV
    for name in ("galactic-diffuse", "isotropic_Fermi-LAT"):
        models[name].spectral_model.parameters["norm"].min = 0
    print(f"{len(models)} models: {models.names}")

    stat_before = datasets.stat_sum()
    start = time.perf_counter()
    result = Fit().run(datasets)
    seconds = time.perf_counter() - start
    print(result)
    print(models.to_parameters_table()["model", "name", "value", "error", "unit"])
    print(f"{result.nfev} evaluations in {seconds:.2f} s")
    print(f"statistic {stat_before:.1f} at the start, {result.total_stat:.1f} at the best fit")
    result.write(args.output / "fit-result.yaml", overwrite=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    residuals = {"method": "diff/sqrt(model)", "vmin": -3, "vmax": 3}
    ax_spatial, _ = datasets[0].plot_residuals(kwargs_spatial=residuals)
    ax_spatial.figure.tight_layout()
    ax_spatial.figure.savefig(args.output / "residuals.png", dpi=100)
    plt.close(ax_spatial.figure)
    return {
        "success": result.success,
        "nfev": result.nfev,
        "total_stat": result.total_stat,
        "stat_before": stat_before,
        "models": models.names,
        "parameters": {
            f"{m.name}.{p.name}": (p.value, p.error) for m in models for p in m.parameters.free_parameters
        },
        "figure": args.output / "residuals.png",
    }


if __name__ == "__main__":
    main()
