"""Fermi-LAT's isotropic diffuse model, as gammapy builds it from Fermi's text files."""

from __future__ import annotations

from .cube import SkyModel
from .spatial import ConstantSpatialModel
from .spectral import PowerLawNormSpectralModel, TemplateSpectralModel

__all__ = ["create_fermi_isotropic_diffuse_model"]


def create_fermi_isotropic_diffuse_model(filename, datasets_names=None, **kwargs) -> SkyModel:
    """The isotropic diffuse emission of a Fermi-LAT ``iso_*.txt`` file as a `SkyModel`.

    The tabulated spectrum (MeV, MeV⁻¹ s⁻¹ cm⁻² per steradian of the constant spatial model)
    times a free `PowerLawNormSpectralModel`, extrapolated beyond the table, with neither PSF
    nor energy dispersion applied: gammapy's model.

    Parameters
    ----------
    filename : str or os.PathLike
        The text (or FITS) table; see `TemplateSpectralModel.read_table`.
    datasets_names : list of str, optional
        Datasets the model belongs to; with one name the model is ``isotropic_<name>``, else
        ``fermi-diffuse-iso``.
    **kwargs
        Passed to `TemplateSpectralModel` (default ``interp_kwargs``:
        ``{"fill_value": None, "extrapolate": True}``).
    """
    kwargs.setdefault("interp_kwargs", {"fill_value": None, "extrapolate": True})
    spectral = TemplateSpectralModel.read_table(filename, **kwargs) * PowerLawNormSpectralModel()
    if datasets_names and len(datasets_names) == 1:
        name = f"isotropic_{datasets_names[0]}"
    else:
        name = "fermi-diffuse-iso"
    return SkyModel(
        spectral_model=spectral,
        spatial_model=ConstantSpatialModel(),
        name=name,
        datasets_names=datasets_names,
        apply_irf={"psf": False, "exposure": True, "edisp": False},
    )
