"""Fit the Fermi-LAT Crab dataset written by gammapy, and plot its residuals.

    python examples/fit_crab.py path/to/fermi-3fhl-crab --output crab-fit

Reads gammapy's datasets and models YAML files, moves the log-parabola's reference energy from the
file's 50 MeV (far below the data, where amplitude, alpha and beta are so correlated that MIGRAD
stops at its call limit, in gammapy as in mapds) to 50 GeV, fits with MIGRAD and HESSE, writes the
fit result (gammapy's format) and a residuals figure.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import astropy.units as u
import numpy as np

from mapds.datasets import Datasets
from mapds.modeling import Fit


def move_reference(spectral, energy) -> None:
    """The same log-parabola, with its reference at ``energy``."""
    amplitude = spectral(energy)
    log_ratio = np.log(energy / spectral.reference.quantity).to_value("")
    spectral.alpha.value += 2 * spectral.beta.value * log_ratio
    spectral.reference.quantity = energy
    spectral.amplitude.quantity = amplitude


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="the fermi-3fhl-crab directory (gammapy's files)")
    parser.add_argument("--output", type=Path, default=Path("crab-fit"), help="where results go")
    args = parser.parse_args(argv)

    datasets = Datasets.read(
        args.directory / "Fermi-LAT-3FHL_datasets.yaml",
        filename_models=args.directory / "Fermi-LAT-3FHL_models.yaml",
    )
    move_reference(datasets.models["Crab Nebula"].spectral_model, 50 * u.GeV)

    start = time.perf_counter()
    result = Fit().run(datasets)  # MIGRAD, then HESSE; errors and covariance go into the models
    seconds = time.perf_counter() - start
    print(result)
    print(datasets.models.to_parameters_table()["model", "name", "value", "error", "unit"])
    print(f"{result.nfev} evaluations in {seconds:.2f} s")

    args.output.mkdir(parents=True, exist_ok=True)
    result.write(args.output / "fit-result.yaml", overwrite=True)  # + fit-result_covariance.dat

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
        "seconds": seconds,
        "parameters": {p.name: (p.value, p.error) for p in datasets.models.parameters.free_parameters},
        "figure": args.output / "residuals.png",
    }


if __name__ == "__main__":
    main()
